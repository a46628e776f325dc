"""The terminal report and the HTML report read the same tables and show the same headline numbers."""

from __future__ import annotations

import re

import pandas as pd
from builders import basic_audit
from rich.console import Console
from typer.testing import CliRunner

from uspec_audit.cli.app import app
from uspec_audit.report.tables import summary_formats
from uspec_audit.report.terminal import render_terminal


def test_terminal_and_html_agree_on_headline_numbers(digits_world, tmp_path):
    audit = basic_audit(digits_world, tmp_path)
    result = CliRunner().invoke(app, ["run", str(audit)])
    assert result.exit_code == 0, result.output
    results = tmp_path / "results"
    console = Console(width=200, record=True)
    render_terminal(results, console)
    terminal = console.export_text()
    html = (results / "report.html").read_text()
    summary = pd.read_parquet(results / "summary.parquet")
    headline = summary.query("stratum == 'all' and metric == 'accuracy' and test != 'iid'")
    assert len(headline)
    formats = summary_formats(summary)  # one format per quantity for the whole folder, in every report
    markdown = (results / "report.md").read_text()
    for _, row in headline.iterrows():
        ratio, mean = formats["ratio"](row["sd_ratio"]), formats["mean"](row["mean"])
        assert (
            abs(float(ratio) - row["sd_ratio"]) <= 0.05 * row["sd_ratio"] + 0.01
        )  # shown to 3 significant digits
        assert re.search(rf"\b{re.escape(ratio)}\b", terminal) and f">{ratio}<" in html, (row["test"], ratio)
        assert f"{mean} ± " in terminal and f">{mean}<" in html, (row["test"], mean)
        assert row["verdict"] in terminal and row["verdict"] in html and row["verdict"] in markdown


def test_reports_cite_the_manifest_they_were_rendered_from(digits_world, tmp_path):
    """The final manifest.json is written after the reports; it names the hash the reports cite."""
    import json

    audit = basic_audit(digits_world, tmp_path)
    result = CliRunner().invoke(app, ["run", str(audit)])
    assert result.exit_code == 0, result.output
    results = tmp_path / "results"
    cited = json.loads((results / "manifest.json").read_text())["report_source_sha256"]
    html, markdown = (results / "report.html").read_text(), (results / "report.md").read_text()
    assert f"rendered from manifest sha256</dt><dd>{cited}<" in html
    assert f"rendered from manifest sha256 `{cited[:16]}…`" in markdown
