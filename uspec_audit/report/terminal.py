"""The Rich terminal report, rendered from the result files (``summary``, ``contracts``, ``manifest``)."""

from __future__ import annotations

import json
import math
from pathlib import Path

import numpy as np
import pandas as pd
from rich import box
from rich.console import Console, Group
from rich.markup import escape
from rich.panel import Panel
from rich.table import Table
from rich.text import Text

from uspec_audit.errors import UspecError

VERDICT_STYLES = {"underspecified": "bold red", "degraded": "yellow", "stable": "green", "insufficient": "dim"}


class ResultsError(UspecError):
    """A results folder that is missing or incomplete (exit code 2: a bad argument)."""

    exit_code = 2


def read_results(folder: Path) -> tuple[dict, dict[str, pd.DataFrame]]:
    """The manifest and every table of a finished run; refuses an incomplete folder."""
    folder = Path(folder)
    manifest_path = folder / "manifest.json"
    if not manifest_path.exists():
        raise ResultsError(f"{folder}: no manifest.json — not the results folder of a finished run (a run that "
                           f"failed or was interrupted leaves none).")
    manifest = json.loads(manifest_path.read_text(encoding="utf-8"))
    if manifest.get("status") != "complete":
        raise ResultsError(f"{folder}: the run that wrote this folder did not complete (status "
                           f"{manifest.get('status')!r}).")
    tables = {path.stem: pd.read_parquet(path) for path in sorted(folder.glob("*.parquet"))}
    return manifest, tables


def _fmt(value, digits: int = 3) -> str:
    if value is None or (isinstance(value, float) and math.isnan(value)) or value is pd.NA:
        return "—"
    return f"{value:.{digits}f}"


def _p(value) -> str:
    if value is None or value is pd.NA or (isinstance(value, float) and math.isnan(value)):
        return "—"
    return f"{value:.2g}" if value >= 0.001 else f"{value:.0e}"


def _ci(low, high) -> str:
    if any(v is None or v is pd.NA or (isinstance(v, float) and math.isnan(v)) for v in (low, high)):
        return ""
    return f" [{low:.2f},{high:.2f}]"


def primary_metric(manifest: dict, test: str, available: list[str]) -> str:
    """The metric a test is summarised by: the first one the audit lists, else accuracy/mse."""
    for entry in manifest.get("tests", []):
        if entry["name"] == test and entry.get("metrics"):
            for metric in entry["metrics"]:
                if metric in available:
                    return metric
    for metric in ("accuracy", "auc", "mse"):
        if metric in available:
            return metric
    return available[0]


def _column(row, name):
    return row[name] if name in row.index else None


def _place(test: str, variant: str, stratum: str) -> str:
    parts = [test] + ([variant] if variant != "none" else []) + ([stratum] if stratum != "all" else [])
    return " · ".join(parts)


def ensemble_table(manifest: dict, summary: pd.DataFrame, ensemble: str, threshold: float, all_metrics: bool) -> Table:
    """Per test/variant/stratum: mean ± sd, sd ratio, Spearman with iid [CI], permutation p, disagreement, verdict."""
    table = Table(title=f"Ensemble [bold]{escape(ensemble)}[/]", title_justify="left", expand=False,
                  box=box.SIMPLE_HEAD, pad_edge=False)
    for header, justify in (("test · variant · stratum (n)", "left"), ("metric", "left"),
                            ("mean ± sd", "right"), ("sd ratio", "right"), ("worst member", "right"),
                            ("ρ with iid [95% CI]", "right"), ("perm p", "right"), ("disagr.", "right"),
                            ("verdict", "left")):
        table.add_column(header, justify=justify, no_wrap=not header.startswith("test"),
                         min_width={"verdict": 14}.get(header, 30 if header.startswith("test") else None))
    part = summary[summary["ensemble"] == ensemble]
    order = {entry["name"]: i for i, entry in enumerate(manifest.get("tests", []))}
    for test in sorted(part["test"].unique(), key=lambda t: order.get(t, 99)):
        rows = part[part["test"] == test]
        if not all_metrics:
            rows = rows[rows["metric"] == primary_metric(manifest, test, sorted(rows["metric"].unique()))]
        if test != next(iter(sorted(part["test"].unique(), key=lambda t: order.get(t, 99)))):
            table.add_section()
        for _, row in rows.iterrows():
            ratio = _column(row, "sd_ratio")
            ratio_text = Text(_fmt(ratio, 2))
            if ratio is not None and not pd.isna(ratio) and ratio >= threshold:
                ratio_text.stylize("bold red")
            verdict = _column(row, "verdict") or ""
            worst = _column(row, "worst_member")
            p_adjusted = _column(row, "perm_p_adj")
            table.add_row(
                escape(_place(test, str(row["variant"]), str(row["stratum"])))
                + (f" ({int(row['n_examples'])})" if "n_examples" in row.index and not pd.isna(row["n_examples"]) else ""),
                escape(str(row["metric"])),
                f"{_fmt(row['mean'])} ± {_fmt(row['sd'])}", ratio_text,
                f"{escape(str(worst))} {_fmt(_column(row, 'worst_value'))}" if worst is not None else "—",
                _fmt(_column(row, "spearman_rho"), 2) + _ci(_column(row, "spearman_ci_low"), _column(row, "spearman_ci_high")),
                _p(p_adjusted if p_adjusted is not None and not pd.isna(p_adjusted) else _column(row, "perm_p")),
                _fmt(_column(row, "disagreement"), 3),
                Text(str(verdict), style=VERDICT_STYLES.get(str(verdict), "")),
            )
    return table


def largest_ratios(summary: pd.DataFrame, count: int = 8) -> Table | None:
    """The biggest sd ratios over every metric, test and stratum: where the ensemble disagrees most."""
    if "sd_ratio" not in summary or summary["sd_ratio"].dropna().empty:
        return None
    top = summary.dropna(subset=["sd_ratio"]).sort_values("sd_ratio", ascending=False).head(count)
    table = Table(title="Largest sd ratios, every metric (sd on the test / sd on iid)", title_justify="left")
    for header in ("ensemble", "test · variant · stratum", "metric", "sd ratio", "mean ± sd"):
        table.add_column(header, justify="right" if header in ("sd ratio", "mean ± sd") else "left")
    for _, row in top.iterrows():
        table.add_row(escape(str(row["ensemble"])), escape(_place(str(row["test"]), str(row["variant"]), str(row["stratum"]))),
                      escape(str(row["metric"])), Text(_fmt(row["sd_ratio"], 2), style="bold"),
                      f"{_fmt(row['mean'])} ± {_fmt(row['sd'])}")
    return table


def contracts_table(contracts: pd.DataFrame) -> Table:
    """One row per (ensemble, test, bound, metric): how many checks, how many failed, and the closest call."""
    table = Table(title="Contracts", title_justify="left")
    for header in ("status", "ensemble", "test", "contract", "metric", "checks", "failed", "worst observed", "bound",
                   "where"):
        table.add_column(header)
    contracts = contracts.assign(metric_group=contracts["metric"].str.replace(r"\[.*\]$", "", regex=True))
    for (ensemble, test, contract, metric), part in contracts.groupby(
            ["ensemble", "test", "contract", "metric_group"], sort=False):
        bound = float(part["bound"].iloc[0])
        # the closest call: a FAIL if there is one, else the observed value nearest the bound
        failed = part[part["status"] == "FAIL"]
        pool = failed if len(failed) else part
        nearest = pool.iloc[int(np.nanargmin(np.abs(pool["observed"].to_numpy() - bound)))] if \
            pool["observed"].notna().any() else pool.iloc[0]
        where = "; ".join(x for x in (str(nearest["variant"]) if nearest["variant"] != "none" else "",
                                      str(nearest["stratum"]) if nearest["stratum"] != "all" else "",
                                      str(nearest["metric"]) if nearest["metric"] != metric else "") if x)
        status = "FAIL" if len(failed) else "PASS"
        table.add_row(Text(status, style="bold green" if status == "PASS" else "bold red"), escape(str(ensemble)),
                      escape(str(test)), contract, escape(str(metric)), str(len(part)), str(len(failed)),
                      _fmt(nearest["observed"]), f"{bound:g}", escape(where or "whole test"))
    return table


def render_terminal(folder: Path, console: Console, all_metrics: bool = False) -> None:
    """Print the terminal report of a finished run."""
    manifest, tables = read_results(folder)
    summary = tables.get("summary", pd.DataFrame())
    threshold = manifest.get("analysis", {}).get("sd_ratio_threshold", 2.0)
    audit = manifest["audit"]
    synthetic = [d["name"] for d in manifest.get("datasets", []) if d.get("synthetic")]
    header = [Text(audit.get("title") or audit["name"], style="bold")]
    header.append(Text(f"audit {audit['name']} · seed {audit['seed']} · results {folder}"))
    ensembles = ", ".join(f"{e['name']} ({len(e['members'])} members, {e['loader']})" for e in manifest["ensembles"])
    header.append(Text(f"ensembles: {ensembles}"))
    if synthetic:
        header.append(Text(f"synthetic data: {', '.join(synthetic)} — generated, not real patients", style="yellow"))
    console.print(Panel(Group(*header), title="uspec-audit", expand=False))
    for ensemble in summary["ensemble"].unique() if len(summary) else []:
        console.print(ensemble_table(manifest, summary, ensemble, threshold, all_metrics))
    ratios = largest_ratios(summary)
    if ratios is not None:
        console.print(ratios)
    flips = tables.get("flips")
    if flips is not None and len(flips):
        rates = flips[flips["kind"] == "rate"]
        if len(rates):
            table = Table(title="Contrastive tests: label flip rate per member", title_justify="left")
            for header in ("ensemble", "test", "variant", "mean flip rate", "min", "max", "sets"):
                table.add_column(header)
            for (ensemble, test, variant), part in rates.groupby(["ensemble", "test", "variant"], sort=False):
                table.add_row(escape(str(ensemble)), escape(str(test)), escape(str(variant)), _fmt(part["value"].mean()),
                              _fmt(part["value"].min()), _fmt(part["value"].max()), str(int(part["n_sets"].max())))
            console.print(table)
    contracts = tables.get("contracts")
    if contracts is not None and len(contracts):
        console.print(contracts_table(contracts))
        failed = int((contracts["status"] == "FAIL").sum())
        console.print(Text(f"{failed} of {len(contracts)} contract checks FAILED", style="bold red") if failed
                      else Text(f"all {len(contracts)} contract checks PASS", style="bold green"))
    for note in manifest.get("notes", []):
        console.print(Text(f"note: {note}", style="yellow"))
    timings = manifest.get("timings", {})
    if timings:
        console.print(Text(f"time: {timings.get('total_s', 0):.1f} s (models {timings.get('load_s', 0):.1f} s, "
                           f"inference {timings.get('inference_s', 0):.1f} s, statistics "
                           f"{timings.get('analysis_s', 0):.1f} s); units computed {timings.get('units_computed')}, "
                           f"reused from cache {timings.get('units_reused')}", style="dim"))
