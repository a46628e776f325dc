"""The report's sections, in order: every registered :class:`uspec_audit.ReportSectionSpec` (the report's own
and any plugin's), rendered one after the other with running section and figure numbers.

A plugin's section that raises is replaced by a note naming the plugin (the rest of the report is still
written); the report's own sections raise as before.
"""

from __future__ import annotations

from collections.abc import Callable

from uspec_audit.conformance import Blame
from uspec_audit.report.blocks import e
from uspec_audit.report.section_api import SectionRequest


def registered_sections(registry=None) -> list:
    """The registrations of every report section, by ``order`` (then name)."""
    if registry is None:
        from uspec_audit.plugins import get_registry

        registry = get_registry()
    records = [registry.record("report_section", name) for name in registry.names("report_section")]
    return sorted(records, key=lambda record: (record.spec.order, record.name))


def section_steps(results, registry=None) -> int:
    """How many times rendering the sections advances: once per section, and per ensemble and test for the
    results sections that advance themselves."""
    from uspec_audit.report.builtin_sections import ADVANCES_ITSELF

    steps = 0
    for record in registered_sections(registry):
        counts = ADVANCES_ITSELF.get(record.name) if record.builtin else None
        steps += counts(results) if counts is not None else 1
    return steps


def render_sections(
    results, figures: list, advance: Callable[[], None], registry=None
) -> list[tuple[str, str, str]]:
    """``[(name, title, html)]`` of the sections that have something to show, numbered in order."""
    from uspec_audit.report.builtin_sections import ADVANCES_ITSELF

    out: list[tuple[str, str, str]] = []
    for record in registered_sections(registry):
        spec = record.spec
        itself = record.builtin and record.name in ADVANCES_ITSELF
        request = SectionRequest(
            results=results,
            number=len(out) + 1,
            name=spec.name,
            title=spec.title,
            figures=figures,
            advance=advance if itself else (lambda: None),
        )
        html = _render(record, spec.html, request)
        if not itself:
            advance()
        if html:
            out.append((spec.name, spec.title, html))
    return out


def markdown_sections(results, registry=None) -> list[str]:
    """The Markdown of the sections that have one (plugin sections; the report's own Markdown is fixed)."""
    out = []
    for record in registered_sections(registry):
        if record.spec.markdown is None:
            continue
        request = SectionRequest(results=results, number=0, name=record.spec.name, title=record.spec.title)
        text = _render(record, record.spec.markdown, request, markdown=True)
        if text:
            out.append(text)
    return out


def _render(record, fn, request: SectionRequest, markdown: bool = False) -> str | None:
    if record.builtin:
        return fn(request)
    try:
        return fn(request)
    except (KeyboardInterrupt, MemoryError):
        raise
    except Exception as error:  # a plugin's section must not take the whole report down
        message = str(Blame.of(record, "report section").error("failed", error))
        if markdown:
            return f"> {message}\n"
        return f'<h2 id="{e(request.name)}">{request.number}. {e(request.title)}</h2><p class="figure-note">{e(message)}</p>'
