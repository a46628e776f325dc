"""The terminal report, rendered from the result files (``summary``, ``contracts``, ``flips``, ``manifest``).

It fits the console's width (a terminal's, ``COLUMNS`` when set, else 80 for
a pipe or a CI log): every row keeps its test · variant · stratum label, mean
± sd, sd ratio and verdict whole; secondary columns move to a second line or
are left out with a pointer to the HTML report (:mod:`uspec_audit.report.fit`).
Every string that comes from the results (names, labels, notes, paths) is
printed with its control characters made visible, so a dataset or model name
cannot move the cursor, recolour the terminal or reorder the line.
"""

from __future__ import annotations

import json
from pathlib import Path

import pandas as pd
from rich.console import Console, Group
from rich.panel import Panel
from rich.text import Text

from uspec_audit.errors import UspecError
from uspec_audit.report.fit import Column, FitTable
from uspec_audit.report.numbers import MISSING, clean, column_format, fmt_count, fmt_p, fmt_seconds, isnum
from uspec_audit.report.tables import headline_rows, p_column, reference_tests, summary_formats

VERDICT_STYLES = {
    "underspecified": "bold red",
    "degraded": "yellow",
    "stable": "green",
    "insufficient": "dim",
}


class ResultsError(UspecError):
    """A results folder that is missing or incomplete (exit code 2: a bad argument)."""

    exit_code = 2


def read_results(folder: Path) -> tuple[dict, dict[str, pd.DataFrame]]:
    """The manifest and every table of a finished run; refuses an incomplete folder."""
    folder = Path(folder)
    manifest_path = folder / "manifest.json"
    if not manifest_path.exists():
        raise ResultsError(
            f"{folder}: no manifest.json — not the results folder of a finished run (a run that "
            f"failed or was interrupted leaves none)."
        )
    manifest = json.loads(manifest_path.read_text(encoding="utf-8"))
    if manifest.get("status") != "complete":
        raise ResultsError(
            f"{folder}: the run that wrote this folder did not complete (status {manifest.get('status')!r})."
        )
    tables = {path.stem: pd.read_parquet(path) for path in sorted(folder.glob("*.parquet"))}
    return manifest, tables


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


def _get(row: pd.Series, name: str):
    value = row[name] if name in row.index else None
    return value if isnum(value) or (value is not None and not isinstance(value, float)) else None


def place(test, variant, stratum) -> str:
    """``test · variant · stratum`` (variant 'none' and stratum 'all' left out), control characters shown."""
    parts = (
        [str(test)]
        + ([str(variant)] if str(variant) not in ("none", "nan", "None") else [])
        + ([str(stratum)] if str(stratum) not in ("all", "nan", "None") else [])
    )
    return clean(" · ".join(parts))


def _with_ci(value: str, low, high, fmt) -> str:
    return f"{value} [{fmt(low)}, {fmt(high)}]" if isnum(low) and isnum(high) else value


def _ordered_tests(manifest: dict, part: pd.DataFrame) -> list[str]:
    order = {entry["name"]: i for i, entry in enumerate(manifest.get("tests", []))}
    return sorted(part["test"].unique(), key=lambda t: order.get(t, 99))


def ensemble_table(
    manifest: dict, summary: pd.DataFrame, ensemble: str, all_metrics: bool, f: dict | None = None
) -> FitTable:
    """Per test/variant/stratum: mean ± sd, sd ratio (raw and corrected), p, worst member, ρ with iid, verdict."""
    part = summary[summary["ensemble"] == ensemble]
    chosen = []
    for test in _ordered_tests(manifest, part):
        rows = part[part["test"] == test]
        if not all_metrics:
            rows = rows[rows["metric"] == primary_metric(manifest, test, sorted(rows["metric"].unique()))]
        chosen.append(rows)
    data = pd.concat(chosen) if chosen else part.iloc[0:0]
    p_name, p_header = p_column(data)
    p_header = p_header.replace("perm. p", "perm p")
    corrected = "sd_ratio_corrected" in data.columns and data["sd_ratio_corrected"].notna().any()
    f = f or summary_formats(summary)
    mean_fmt, sd_fmt, ratio_fmt, corr_fmt, rho_fmt = (
        f["mean"],
        f["sd_narrow"],
        f["ratio"],
        f["corrected"],
        f["rho"],
    )
    one_metric = data["metric"].nunique() == 1  # then it goes in the title, not in a column
    columns = [
        Column("test · variant · stratum (n)"),
        Column("metric", priority=0 if all_metrics else 1, detail="metric"),
        Column("mean ± sd", "right"),
        Column("sd ratio", "right"),
    ]
    if corrected:
        columns.append(Column("corrected [95% CI]", "right", priority=2, detail="corrected sd ratio"))
    columns += [
        Column(p_header, "right", priority=3, detail=p_header),
        Column("worst member", "right", priority=4),
        Column("ρ with iid [95% CI]", "right", priority=5),
        Column("disagr.", "right", priority=6),
        Column("verdict"),
    ]
    title = f"Ensemble {clean(ensemble)}"
    if one_metric:
        columns.pop(1)
        title += f" · {clean(data['metric'].iloc[0])}" + (
            "" if all_metrics else " (--all-metrics shows every metric)"
        )
    table = FitTable(title, columns)
    previous = None
    for _, row in data.iterrows():
        n = _get(row, "n_examples")
        label = place(row["test"], row["variant"], row["stratum"]) + (
            f" ({fmt_count(n)})" if isnum(n) else ""
        )
        verdict = clean(_get(row, "verdict") or "")
        worst = _get(row, "worst_member")
        cells = (
            [label]
            + ([] if one_metric else [clean(row["metric"])])
            + [f"{mean_fmt(row['mean'])} ± {sd_fmt(row['sd'])}", ratio_fmt(_get(row, "sd_ratio"))]
        )
        if corrected:
            cells.append(
                _with_ci(
                    corr_fmt(_get(row, "sd_ratio_corrected")),
                    _get(row, "sd_ratio_corrected_ci_low"),
                    _get(row, "sd_ratio_corrected_ci_high"),
                    corr_fmt,
                )
            )
        cells += [
            fmt_p(_get(row, p_name)),
            f"{clean(worst)} {mean_fmt(_get(row, 'worst_value'))}" if worst is not None else MISSING,
            _with_ci(
                rho_fmt(_get(row, "spearman_rho")),
                _get(row, "spearman_ci_low"),
                _get(row, "spearman_ci_high"),
                rho_fmt,
            ),
            f["disagreement"](_get(row, "disagreement")),
            Text(verdict, style=VERDICT_STYLES.get(verdict, "")),
        ]
        table.add_row(*cells, section=row["test"] != previous)
        previous = row["test"]
    table.footnote = (
        "sd ratio = sd across members on the test / sd on iid"
        + (
            "; corrected: the spread beyond sampling noise (CI from a bootstrap over members)"
            if corrected
            else ""
        )
        + f"; {p_header}: "
        + (
            "does the spread exceed what the iid test predicts, Benjamini–Hochberg adjusted."
            if p_name == "excess_p_adj"
            else "do the members differ at all (permutation test)."
        )
    )
    return table


def largest_ratios(
    summary: pd.DataFrame, count: int = 8, f: dict | None = None, references: frozenset[str] = frozenset()
) -> FitTable | None:
    """The biggest sd ratios over every metric, test and stratum (but the ``references`` tests' own rows): where
    the ensemble disagrees most."""
    top = headline_rows(summary, count, references=references)
    if top.empty:
        return None
    corrected = "sd_ratio_corrected_ci_low" in top.columns and top["sd_ratio_corrected_ci_low"].notna().any()
    several = top["ensemble"].nunique() > 1
    f = f or summary_formats(summary)
    ratio_fmt, mean_fmt, sd_fmt, corr_fmt = f["ratio"], f["mean"], f["sd_narrow"], f["corrected"]
    columns = [
        Column("test · variant · stratum"),
        Column("ensemble", priority=0 if several else None),
        Column("metric"),
        Column("sd ratio", "right"),
    ]
    if corrected:
        columns.append(Column("corrected [95% CI]", "right", priority=1, detail="corrected sd ratio"))
    columns += [Column("mean ± sd", "right", priority=2), Column("verdict")]
    title = (
        "Largest sd ratios, every metric: ranked by the lower 95% bound of the corrected ratio"
        if corrected
        else "Largest sd ratios, every metric (sd on the test / sd on iid)"
    )
    table = FitTable(title, columns)
    for _, row in top.iterrows():
        verdict = clean(_get(row, "verdict") or "")
        cells = [
            place(row["test"], row["variant"], row["stratum"]),
            clean(row["ensemble"]),
            clean(row["metric"]),
            ratio_fmt(row["sd_ratio"]),
        ]
        if corrected:
            cells.append(
                _with_ci(
                    corr_fmt(_get(row, "sd_ratio_corrected")),
                    _get(row, "sd_ratio_corrected_ci_low"),
                    _get(row, "sd_ratio_corrected_ci_high"),
                    corr_fmt,
                )
            )
        cells += [
            f"{mean_fmt(row['mean'])} ± {sd_fmt(row['sd'])}",
            Text(verdict, style=VERDICT_STYLES.get(verdict, "")),
        ]
        table.add_row(*cells)
    table.footnote = "Cells of ensembles with too few members for a verdict (insufficient) are left out."
    return table


def flips_table(flips: pd.DataFrame) -> FitTable | None:
    """Contrastive tests: each member's share of matched sets whose predicted label flips."""
    rates = flips[flips["kind"] == "rate"] if "kind" in flips.columns else flips.iloc[0:0]
    if rates.empty:
        return None
    several = rates["ensemble"].nunique() > 1
    fmt = column_format(rates["value"])
    table = FitTable(
        "Contrastive tests: label flip rate per member",
        [
            Column("test · variant"),
            Column("ensemble", priority=0 if several else None),
            Column("mean flip rate", "right"),
            Column("min", "right", priority=1),
            Column("max", "right"),
            Column("sets", "right", priority=2),
        ],
    )
    for (ensemble, test, variant), part in rates.groupby(["ensemble", "test", "variant"], sort=False):
        table.add_row(
            place(test, variant, "all"),
            clean(ensemble),
            fmt(part["value"].mean()),
            fmt(part["value"].min()),
            fmt(part["value"].max()),
            fmt_count(part["n_sets"].max()) if "n_sets" in part else MISSING,
        )
    return table


def contracts_table(contracts: pd.DataFrame) -> FitTable:
    """One row per (ensemble, test, bound, metric): checks failed of checks, and the closest call."""
    several = contracts["ensemble"].nunique() > 1
    contracts = contracts.assign(
        metric_group=contracts["metric"].fillna("").astype(str).str.replace(r"\[.*\]$", "", regex=True)
    )
    table = FitTable(
        "Contracts",
        [
            Column("status"),
            Column("ensemble", priority=0 if several else None),
            Column("test"),
            Column("contract"),
            Column("metric"),
            Column("failed", "right"),
            Column("closest", "right", priority=1, detail="closest observed"),
            Column("bound", "right", priority=1, detail="bound"),
            Column("where", priority=2, detail="at"),
        ],
    )
    observed_fmt = column_format(contracts["observed"], sig=4, min_sig=3)  # next to its bound: no lost digits
    for (ensemble, test, contract, metric), part in contracts.groupby(
        ["ensemble", "test", "contract", "metric_group"], sort=False
    ):
        bound = float(part["bound"].iloc[0])
        failed = part[part["status"] == "FAIL"]
        pool = (
            failed if len(failed) else part
        )  # the closest call: a FAIL if there is one, else nearest the bound
        if pool["observed"].notna().any():
            nearest = pool.loc[(pool["observed"] - bound).abs().idxmin()]
        else:
            nearest = pool.iloc[0]
        where = "; ".join(
            x
            for x in (
                clean(nearest["variant"]) if nearest["variant"] != "none" else "",
                clean(nearest["stratum"]) if nearest["stratum"] != "all" else "",
                clean(nearest["metric"]) if nearest["metric"] != metric else "",
            )
            if x
        )
        if not isnum(nearest["observed"]) and isinstance(nearest.get("message"), str):
            where = clean(nearest["message"])
        status = "FAIL" if len(failed) else "PASS"
        table.add_row(
            Text(status, style="bold green" if status == "PASS" else "bold red"),
            clean(ensemble),
            clean(test),
            clean(contract),
            clean(metric),
            f"{len(failed)}/{len(part)}",
            observed_fmt(nearest["observed"]),
            f"{bound:g}",
            where or "whole test",
        )
    return table


def timing_line(manifest: dict) -> Text | None:
    """``time: total (models, inference, statistics, reports); units computed, reused`` of the run, and whether
    the statistics and reports came from the cache."""
    timings = manifest.get("timings") or {}
    if not timings:
        return None
    parts = [
        f"models {fmt_seconds(timings.get('load_s'))}",
        f"inference {fmt_seconds(timings.get('inference_s'))}",
        f"statistics {fmt_seconds(timings.get('analysis_s'))}",
    ]
    if isnum(timings.get("reports_s")):
        parts.append(f"reports {fmt_seconds(timings['reports_s'])}")
    reused = [name for name in ("statistics", "reports") if manifest.get(f"{name}_reused") is True]
    return Text(
        f"time: {fmt_seconds(timings.get('total_s'))} ({', '.join(parts)}); work units computed "
        f"{fmt_count(timings.get('units_computed'))}, reused from cache {fmt_count(timings.get('units_reused'))}"
        + (f"; {' and '.join(reused)} reused from cache" if reused else ""),
        style="dim",
    )


def produced_line(manifest: dict) -> Text:
    """When and how the results were produced (for ``uspec-audit report DIR``, which runs nothing)."""
    total = (manifest.get("timings") or {}).get("total_s")
    return Text(
        f"Results produced {clean(manifest.get('finished_at') or 'at an unrecorded time')} by "
        f"`{clean(manifest.get('command') or 'uspec-audit run')}`"
        + (f" (the run took {fmt_seconds(total)})" if isnum(total) else "")
        + "; nothing was run now.",
        style="dim",
    )


def _print(console: Console, table: FitTable | None) -> None:
    if table is None:
        return
    console.print()
    for line in table.render(console.width):
        console.print(line)


def render_terminal(
    folder: Path, console: Console, all_metrics: bool = False, from_folder: bool = False
) -> None:
    """Print the terminal report of a finished run. ``from_folder`` (``uspec-audit report DIR``) says when the
    results were produced instead of printing the run's timing line as if it had just run."""
    manifest, tables = read_results(folder)
    summary = tables.get("summary", pd.DataFrame())
    audit = manifest["audit"]
    synthetic = [clean(d["name"]) for d in manifest.get("datasets", []) if d.get("synthetic")]
    header = [
        Text(clean(audit.get("title") or audit["name"]), style="bold"),
        Text(f"audit {clean(audit['name'])} · seed {clean(audit['seed'])} · results {clean(folder)}"),
    ]
    ensembles = ", ".join(
        f"{clean(e['name'])} ({len(e['members'])} members, {clean(e['loader'])})"
        for e in manifest["ensembles"]
    )
    header.append(Text(f"ensembles: {ensembles}"))
    if synthetic:
        header.append(
            Text(f"synthetic data: {', '.join(synthetic)} — generated, not real patients", style="yellow")
        )
    console.print(Panel(Group(*header), title="uspec-audit", expand=False))
    f = summary_formats(summary) if len(summary) else {}
    for ensemble in summary["ensemble"].unique() if len(summary) else []:
        _print(console, ensemble_table(manifest, summary, ensemble, all_metrics, f))
    if len(summary):
        _print(console, largest_ratios(summary, f=f, references=reference_tests(manifest.get("tests") or [])))
    flips = tables.get("flips")
    if flips is not None and len(flips):
        _print(console, flips_table(flips))
    contracts = tables.get("contracts")
    if contracts is not None and len(contracts):
        _print(console, contracts_table(contracts))
        failed = int((contracts["status"] == "FAIL").sum())
        console.print(
            Text(f"{failed} of {len(contracts)} contract checks FAILED", style="bold red")
            if failed
            else Text(f"all {len(contracts)} contract checks PASS", style="bold green")
        )
    for note in manifest.get("notes", []):
        console.print(Text(f"note: {clean(note)}", style="yellow"))
    line = produced_line(manifest) if from_folder else timing_line(manifest)
    if line is not None:
        console.print(line)
