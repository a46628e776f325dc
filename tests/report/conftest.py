"""Fixtures of the report tests: one synthetic results folder, rendered once per session."""

from __future__ import annotations

import sys
from pathlib import Path

import pytest

sys.path.insert(0, str(Path(__file__).resolve().parent))

from report_helpers import load_results_fixture, pdf_engine_reason  # noqa: E402

results_fixture = load_results_fixture()


@pytest.fixture(scope="session")
def build_results():
    return results_fixture.build_results


@pytest.fixture(scope="session")
def results_dir(tmp_path_factory) -> Path:
    return results_fixture.build_results(tmp_path_factory.mktemp("results") / "derm")


@pytest.fixture(scope="session")
def rendered(results_dir, tmp_path_factory) -> dict[str, Path | None]:
    """HTML, Markdown and (when an engine is available) PDF of the fixture, rendered in one call."""
    from uspec_audit.report.render import render_reports

    out = tmp_path_factory.mktemp("report")
    pdf = None if pdf_engine_reason() else out / "report.pdf"
    paths = render_reports(results_dir, html=out / "report.html", pdf=pdf, markdown=out / "report.md")
    return {"html": paths[0], "pdf": pdf, "markdown": paths[-1], "dir": out, "paths": paths}
