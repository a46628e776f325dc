"""Fixtures of the report tests: one synthetic results folder, rendered once per session."""

from __future__ import annotations

import importlib.util
import sys
from pathlib import Path

import pytest

HERE = Path(__file__).resolve().parent
sys.path.insert(0, str(HERE))  # report_browser.py


def _load_fixture_module():
    path = HERE.parent / "fixtures" / "results_fixture.py"
    spec = importlib.util.spec_from_file_location("uspec_results_fixture", path)
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


results_fixture = _load_fixture_module()


@pytest.fixture(scope="session")
def build_results():
    return results_fixture.build_results


@pytest.fixture(scope="session")
def results_dir(tmp_path_factory) -> Path:
    return results_fixture.build_results(tmp_path_factory.mktemp("results") / "derm")


@pytest.fixture(scope="session")
def rendered(results_dir, tmp_path_factory) -> dict[str, Path]:
    """HTML and Markdown of the fixture (the PDF is rendered by its own test)."""
    from uspec_audit.report.render import render_reports

    out = tmp_path_factory.mktemp("report")
    html, md = render_reports(results_dir, html=out / "report.html", markdown=out / "report.md")
    return {"html": html, "markdown": md, "dir": out}
