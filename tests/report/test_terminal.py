"""The terminal report fits the terminal: at 80, 100 and 150 columns every label and verdict is whole, no line
is wider than the terminal, and names from the data cannot smuggle control characters into it."""

from __future__ import annotations

import io
import json
import os
import re
import subprocess
import sys

import pandas as pd
import pytest
from rich.console import Console
from typer.testing import CliRunner

from uspec_audit.cli.app import app
from uspec_audit.report.tables import summary_formats
from uspec_audit.report.terminal import place, primary_metric, render_terminal

WIDTHS = (80, 100, 150)


def _render(folder, width: int, **options) -> str:
    buffer = io.StringIO()
    render_terminal(
        folder, Console(width=width, file=buffer, force_terminal=False, color_system=None), **options
    )
    return buffer.getvalue()


def _rows_shown(folder) -> pd.DataFrame:
    """The summary rows the ensemble tables show (each test's primary metric)."""
    manifest = json.loads((folder / "manifest.json").read_text())
    summary = pd.read_parquet(folder / "summary.parquet")
    keep = [
        summary[
            (summary["test"] == t)
            & (
                summary["metric"]
                == primary_metric(manifest, t, sorted(summary.loc[summary["test"] == t, "metric"].unique()))
            )
        ]
        for t in summary["test"].unique()
    ]
    return pd.concat(keep)


@pytest.mark.parametrize("width", WIDTHS)
def test_labels_numbers_and_verdicts_are_whole_at_every_width(results_dir, width):
    text = _render(results_dir, width)
    lines = text.splitlines()
    formats = summary_formats(pd.read_parquet(results_dir / "summary.parquet"))
    rows = _rows_shown(results_dir)
    assert len(rows) > 20
    starts = {
        name: i
        for i, line in enumerate(lines)
        for name in ("cnn", "mlp")
        if line.startswith(f"Ensemble {name}")
    }
    for _, row in rows.iterrows():
        label = place(row["test"], row["variant"], row["stratum"]) + f" ({int(row['n_examples']):,})"
        at = [i for i, line in enumerate(lines) if line.startswith(label) and i > starts[row["ensemble"]]]
        assert at, (width, label)
        # the numbers and the verdict are on the label's line, or on the next one when the label is too long
        block = " ".join(lines[at[0] : at[0] + 2])
        mean_sd = f"{formats['mean'](row['mean'])} ± {formats['sd_narrow'](row['sd'])}"
        assert mean_sd in block and formats["ratio"](row["sd_ratio"]) in block, (width, label, block)
        assert re.search(rf"\b{row['verdict']}\b", block), (width, label, block)
    table_lines = [line for line in lines if not line.startswith(("│", "╭", "╰"))]
    too_wide = [line for line in table_lines if len(line) > width]
    assert too_wide == [], too_wide


@pytest.mark.parametrize("width", WIDTHS)
def test_contracts_largest_ratios_and_flips_are_whole(results_dir, width):
    text = _render(results_dir, width)
    contracts = pd.read_parquet(results_dir / "contracts.parquet")
    section = text[text.index("Contracts\n") :]
    for (_ensemble, test, contract), _ in contracts.groupby(["ensemble", "test", "contract"]):
        assert re.search(rf"(PASS|FAIL) .*{re.escape(test)}\s+{contract}\b", section), (width, test, contract)
    failed = int((contracts["status"] == "FAIL").sum())
    assert f"{failed} of {len(contracts)} contract checks FAILED" in text
    largest = text[text.index("Largest sd ratios") : text.index("Contrastive tests")]
    assert "corruptions · pixelate@5" in largest and "underspecified" in largest
    flips = text[text.index("Contrastive tests") : text.index("Contracts\n")]
    assert "tone-swap" in flips and "mean flip rate" in flips
    if width == 80:
        assert "Not shown at this width" in text and "report.html" in text  # the pointer to the rest
    if width == 150:
        assert "ρ with iid [95% CI]" in text and "worst member" in text


def test_headline_list_never_shows_insufficient_ensembles(build_results, tmp_path):
    """A 2-member ensemble has the largest raw ratios of the folder, and still never leads the report."""
    folder = build_results(tmp_path / "res", members_cnn=8, members_mlp=2, minimal=True)
    summary = pd.read_parquet(folder / "summary.parquet")
    assert (summary.loc[summary["ensemble"] == "mlp", "verdict"] == "insufficient").all()
    text = _render(folder, 150)
    largest = text[text.index("Largest sd ratios") : text.index("Contracts\n")].splitlines()
    rows = largest[
        3 : largest.index(
            "Cells of ensembles with too few members for a verdict (insufficient) are left out."
        )
    ]
    assert len(rows) == 8
    assert not any(" mlp " in row or "insufficient" in row for row in rows), rows
    ranked = summary[(summary["verdict"] != "insufficient") & ~(summary["kind"] == "iid")]
    best = ranked.sort_values("sd_ratio_corrected_ci_low", ascending=False).iloc[0]
    first_row = rows[0]
    assert (
        first_row.startswith(place(best["test"], best["variant"], best["stratum"]))
        and best["metric"] in first_row
    )


def test_old_results_folders_fall_back_to_the_raw_ratio(build_results, tmp_path):
    folder = build_results(tmp_path / "old", minimal=True, old_summary=True)
    text = _render(folder, 150)
    assert "corrected" not in text and "perm p (adj.)" in text
    summary = pd.read_parquet(folder / "summary.parquet")
    top = summary[(summary["verdict"] != "insufficient") & (summary["kind"] != "iid")]
    best = top.sort_values("sd_ratio", ascending=False).iloc[0]
    largest = text[text.index("Largest sd ratios") :]
    assert largest.splitlines()[3].startswith(place(best["test"], best["variant"], best["stratum"]))


def test_control_characters_from_the_data_are_shown_not_obeyed(build_results, tmp_path):
    folder = build_results(
        tmp_path / "evil", members_cnn=6, members_mlp=0, minimal=True, only_tests=("skin-type",)
    )
    summary = pd.read_parquet(folder / "summary.parquet")
    evil = "fitzpatrick=\x1b[2J\x1b[31mI\u202e\x07"
    summary["stratum"] = summary["stratum"].replace("fitzpatrick=I", evil)
    summary.to_parquet(folder / "summary.parquet")
    manifest = json.loads((folder / "manifest.json").read_text())
    manifest["audit"]["title"] = "title\x1b]0;owned\x07"
    manifest["notes"].append("note with \r carriage return")
    (folder / "manifest.json").write_text(json.dumps(manifest))
    text = _render(folder, 100)
    assert "\x1b" not in text and "\x07" not in text and "\u202e" not in text and "\r" not in text
    assert "fitzpatrick=\\x1b[2J\\x1b[31mI\\u202e\\x07" in text
    assert "title\\x1b]0;owned\\x07" in text and "note with \\x0d carriage return" in text


def test_timing_line_counts_the_reports_and_report_dir_says_when(results_dir):
    text = _render(results_dir, 100)
    assert (
        "time: 412.7 s (models 3.1 s, inference 371.9 s, statistics 37.7 s, reports 12.4 s); work units "
        "computed 49, reused from cache 0" in " ".join(text.split("\n")).replace("  ", " ")
    )
    later = _render(results_dir, 100, from_folder=True)
    assert "time:" not in later
    assert (
        "Results produced 2026-11-24T08:06:52Z by `uspec-audit run audits/derm.toml` (the run took 412.7 s)"
        in " ".join(later.split())
    )


def test_report_command_says_when_results_were_produced(results_dir):
    result = CliRunner().invoke(app, ["report", str(results_dir)])
    assert result.exit_code == 0, result.output
    assert "Results produced" in result.output and "nothing was run now" in result.output
    assert "time:" not in result.output


def test_help_shows_no_placeholders_for_flags():
    runner = CliRunner()
    for command in ([], ["run"], ["validate"], ["report"], ["plugins"], ["schema"]):
        result = runner.invoke(app, [*command, "--help"])
        assert result.exit_code == 0, result.output
        assert "<bool>" not in result.output and "{" not in result.output, (command, result.output)
    run_help = runner.invoke(app, ["run", "--help"]).output
    assert "run [OPTIONS] AUDIT" in run_help and "--fresh" in run_help


def test_piped_output_is_80_columns_without_a_terminal(results_dir):
    """Piped (`| cat`, a CI log) with no COLUMNS: a sensible 80-column report, not a truncated table."""
    env = {k: v for k, v in os.environ.items() if k not in ("COLUMNS", "LINES")}
    script = "from uspec_audit.cli.app import app; app()"
    out = subprocess.run(
        [sys.executable, "-c", script, "report", str(results_dir)],
        env=env,
        text=True,
        stdin=subprocess.DEVNULL,
        capture_output=True,
        check=True,
    ).stdout
    lines = out.splitlines()
    assert max(len(line) for line in lines) <= 80
    assert any(line.startswith("skin-type · fitzpatrick=VI (90)") for line in lines)
    assert "…" not in out  # nothing cut
    wide = subprocess.run(
        [sys.executable, "-c", script, "report", str(results_dir)],
        env={**env, "COLUMNS": "150"},
        text=True,
        stdin=subprocess.DEVNULL,
        stdout=subprocess.PIPE,
        check=True,
    ).stdout
    assert max(len(line) for line in wide.splitlines()) > 100 and "ρ with iid" in wide
