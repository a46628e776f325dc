"""The report's own sections, registered as :class:`uspec_audit.ReportSectionSpec` through the same hook a
plugin's section uses."""

from __future__ import annotations

from uspec_audit.components import ReportSectionSpec
from uspec_audit.report.section_api import SectionRequest


def _summary(request: SectionRequest) -> str:
    from uspec_audit.report.summary import section_summary

    return section_summary(request.results, number=request.number)


def _scope(request: SectionRequest) -> str:
    from uspec_audit.report.sections import section_scope

    return section_scope(request.results, number=request.number)


def _methods(request: SectionRequest) -> str:
    from uspec_audit.report.sections import section_methods

    return section_methods(request.results, number=request.number)


def _ensembles(request: SectionRequest) -> str:
    from uspec_audit.report.sections import section_ensembles

    return section_ensembles(request.results, request.figures, request.advance, number=request.number)


def _tests(request: SectionRequest) -> str:
    from uspec_audit.report.sections import section_tests

    return section_tests(request.results, request.figures, request.advance, number=request.number)


def _limitations(request: SectionRequest) -> str:
    from uspec_audit.report.sections import section_limitations

    return section_limitations(request.results, number=request.number)


def _repro(request: SectionRequest) -> str:
    from uspec_audit.report.sections import section_repro

    return section_repro(request.results, number=request.number)


BUILTIN_SECTIONS = (
    ReportSectionSpec("summary", "Executive summary", _summary, order=10),
    ReportSectionSpec("scope", "Scope", _scope, order=20),
    ReportSectionSpec("methods", "Methodology", _methods, order=30),
    ReportSectionSpec("ensembles", "Results by ensemble", _ensembles, order=40),
    ReportSectionSpec("tests", "Results per test", _tests, order=50),
    ReportSectionSpec("limitations", "Limitations", _limitations, order=70),
    ReportSectionSpec("repro", "Reproducibility", _repro, order=80),
)

# sections that advance the progress themselves: once per ensemble, once per test
ADVANCES_ITSELF = {
    "ensembles": lambda results: len(results.ensembles),
    "tests": lambda results: len(results.test_names()),
}
