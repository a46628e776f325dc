"""A Markdown summary of an audit for a pull-request comment or a CI log.

Verdicts per ensemble, test and metric, every contract with PASS/FAIL, and the
headline statistics of the flagged cells. Rendered from the results files alone.
The text reads the same as plain text and rendered: no HTML tags or entities
(``< 0.001``, never ``&lt; 0.001``); characters that Markdown or HTML would
interpret are backslash-escaped only where they would be (``\\<demo>``).
"""

from __future__ import annotations

import re
from typing import Any

import pandas as pd

from uspec_audit.report.blocks import formats, get
from uspec_audit.report.numbers import clean, fmt_count, fmt_p, isnum
from uspec_audit.report.section_registry import markdown_sections
from uspec_audit.report.tables import (
    Results,
    cell_label,
    has_corrected,
    headline_rows,
    p_column,
    summary_formats,
    verdict_rank,
)

ICON = {"PASS": "✅ PASS", "FAIL": "❌ FAIL"}
VERDICT_ICON = {
    "underspecified": "🟥 underspecified",
    "degraded": "🟧 degraded",
    "stable": "🟩 stable",
    "insufficient": "⬜ insufficient",
}
# what would start an HTML tag, comment or entity, or Markdown emphasis/links/code in a cell
_TAG = re.compile(r"<(?=[A-Za-z/!?])")
_ENTITY = re.compile(r"&(?=#?\w+;)")
_MARKUP = re.compile(r"\\(?=[!-/:-@\[-`{-~])|[`*|]|(?<!\w)_|_(?!\w)")  # intraword _ is literal in GFM


def _cell(x: Any) -> str:
    """Text safe inside a Markdown table cell, still readable as plain text."""
    text = "—" if x is None or (isinstance(x, float) and not isnum(x)) else clean(x)
    text = _MARKUP.sub(lambda match: "\\" + match.group(0), text)
    text = _TAG.sub(r"\\<", text)
    text = text.replace("](", "]\\(")  # [text](url) would be a link; a lone bracket is literal
    return _ENTITY.sub(r"\\&", text).replace("\n", " ").replace("\r", " ")


def _table(
    headers: list[str], rows: list[list[Any]], right: set[int] | None = None, raw: set[int] | None = None
) -> list[str]:
    """A Markdown table; cells in ``raw`` columns are already Markdown (icons, formatted numbers)."""
    right, raw = right or set(), raw or set()

    def cell(i: int, value: Any) -> str:
        return str(value) if i in raw else _cell(value)

    out = [
        "| " + " | ".join(_cell(h) for h in headers) + " |",
        "|" + "|".join("---:" if i in right else "---" for i in range(len(headers))) + "|",
    ]
    out += ["| " + " | ".join(cell(i, c) for i, c in enumerate(r)) + " |" for r in rows]
    return out


def _banner(results: Results) -> list[str]:
    names = [d.get("name") for d in results.manifest.get("datasets") or [] if d.get("synthetic")]
    if not names:
        return []
    return [
        f"> **Synthetic data:** {', '.join(_cell(n) for n in names)} {'is' if len(names) == 1 else 'are'} "
        "generated, not collected from the real world (marked `synthetic = true` in the audit file); the "
        "numbers show how the models behave on these generated inputs, not on real ones.",
        "",
    ]


def _contracts(contracts: pd.DataFrame) -> list[str]:
    c = contracts.assign(_o=contracts["status"].astype(str).str.upper() != "FAIL").sort_values(
        "_o", kind="stable"
    )
    cols = [x for x in ("ensemble", "test", "variant", "stratum", "metric", "contract") if x in c.columns]
    f = formats(c, {"bound": (("bound",), 4, 3), "observed": (("observed",), 4, 3)})
    rows = [
        [ICON.get(str(r["status"]).upper(), _cell(r["status"]))]
        + [r[x] for x in cols]
        + [f["bound"](get(r, "bound")), f["observed"](get(r, "observed"))]
        for _, r in c.iterrows()
    ]
    n = len(cols)
    return _table(
        ["status"] + cols + ["bound", "observed"], rows, right={n + 1, n + 2}, raw={0, n + 1, n + 2}
    )


def _verdicts(results: Results, summary: pd.DataFrame) -> list[str]:
    corrected = has_corrected(summary)
    column, label = (
        ("sd_ratio_corrected", "max corrected sd ratio") if corrected else ("sd_ratio", "max sd ratio")
    )
    fmt = summary_formats(summary)["corrected" if corrected else "ratio"]
    metrics = list(dict.fromkeys(summary["metric"]))
    rows = []
    for ens in dict.fromkeys(summary["ensemble"]):
        for test in [t for t in results.test_names() if t in set(summary["test"])]:
            d = summary[(summary["ensemble"] == ens) & (summary["test"] == test)]
            if d.empty:
                continue
            row = [_cell(ens), _cell(test)]
            for metric in metrics:
                dm = d[d["metric"] == metric]
                if dm.empty:
                    row.append("—")
                    continue
                worst = max(dm["verdict"], key=verdict_rank)
                ratio = dm[column].max() if column in dm else None
                row.append(
                    VERDICT_ICON.get(str(worst), _cell(worst))
                    + (f" ({label} {fmt(ratio)})" if isnum(ratio) else "")
                )
            rows.append(row)
    return _table(["ensemble", "test"] + metrics, rows, raw=set(range(len(metrics) + 2))) + [
        "",
        f"_Worst verdict over the variants and strata of each test; {label} = "
        + (
            "the spread beyond sampling noise on the test / the same on iid._"
            if corrected
            else "sd / iid sd._"
        ),
        "",
    ]


def _headline(summary: pd.DataFrame, max_flagged: int, references: frozenset[str]) -> list[str]:
    flagged = headline_rows(summary, flagged_only=True, references=references)
    if not len(flagged):
        return []
    shown = flagged.head(max_flagged)
    corrected = has_corrected(shown)
    p_name, p_label = p_column(shown)
    f = summary_formats(summary)
    headers = (
        ["ensemble", "cell", "metric", "n", "mean", "sd", "sd ratio"]
        + (["corrected sd ratio [95% CI]"] if corrected else [])
        + [p_label, "verdict"]
        + (["why"] if "verdict_reason" in shown.columns else [])
    )
    rows = []
    for _, r in shown.iterrows():
        row = [
            _cell(r["ensemble"]),
            _cell(cell_label(r["test"], r.get("variant"), r.get("stratum"))),
            _cell(r["metric"]),
            fmt_count(get(r, "n_examples")),
            f["mean"](get(r, "mean")),
            f["sd"](get(r, "sd")),
            f["ratio"](get(r, "sd_ratio")),
        ]
        if corrected:
            low, high = get(r, "sd_ratio_corrected_ci_low"), get(r, "sd_ratio_corrected_ci_high")
            row.append(
                f["corrected"](get(r, "sd_ratio_corrected"))
                + (f" [{f['corrected'](low)}, {f['corrected'](high)}]" if isnum(low) and isnum(high) else "")
            )
        row += [fmt_p(get(r, p_name)), _cell(r["verdict"])]
        if "verdict_reason" in shown.columns:
            row.append(_cell(get(r, "verdict_reason")))
        rows.append(row)
    numeric = set(range(3, 8 + int(corrected)))
    ranked = "the lower 95% bound of the corrected sd ratio" if corrected else "the sd ratio"
    out = [
        "### Headline statistics",
        "",
        f"_Flagged cells ranked by {ranked}; cells of ensembles too small for a verdict are left out._",
        "",
    ]
    out += _table(headers, rows, right=numeric, raw=numeric | {0, 1, 2})
    if len(flagged) > max_flagged:
        out.append(f"\n_{len(flagged) - max_flagged} more flagged cells in the full report._")
    return out + [""]


def build_markdown(results: Results, max_flagged: int = 20) -> str:
    m = results.manifest
    tool = m.get("tool") or {}
    audit = m.get("audit") or {}
    lines = [f"## uspec-audit: {_cell(results.title)}", ""] + _banner(results)
    contracts = results.table("contracts", "status")
    summary = results.table("summary", "ensemble", "test", "metric", "verdict")
    failed = (
        int((contracts["status"].astype(str).str.upper() == "FAIL").sum()) if contracts is not None else 0
    )
    under = int((summary["verdict"] == "underspecified").sum()) if summary is not None else 0
    degraded = int((summary["verdict"] == "degraded").sum()) if summary is not None else 0
    if contracts is None:
        head = "No contracts in this audit."
    elif failed:
        head = f"**{failed} of {len(contracts)} contracts FAIL.**"
    else:
        head = f"**All {len(contracts)} contracts PASS.**"
    lines += [
        f"{head} {under} underspecified and {degraded} degraded cell(s) out of "
        f"{len(summary) if summary is not None else 0}.",
        "",
    ]
    n_members = ", ".join(
        f"{_cell(x.get('name'))} ({len(x.get('members') or [])} members)" for x in results.ensembles
    )
    lines += [
        f"Audit `{clean(audit.get('name')).replace('`', '')}` · seed {_cell(audit.get('seed'))} · "
        f"{_cell(tool.get('name', 'uspec-audit'))} {_cell(tool.get('version', ''))} · ensembles: {n_members}",
        "",
    ]
    lines += ["### Contracts", ""]
    if contracts is None:
        lines += ["The audit file states no contracts.", ""]
    else:
        lines += _contracts(contracts) + [""]
    if summary is not None:
        lines += (
            ["### Verdicts", ""]
            + _verdicts(results, summary)
            + _headline(summary, max_flagged, results.reference_tests())
        )
    for section in markdown_sections(results):  # plugins' sections (ReportSectionSpec.markdown)
        lines += [section.rstrip(), ""]
    command = clean(m.get("command")).replace("`", "'")
    lines += [
        f"_Command: `{command}` · rendered from manifest sha256 `{results.manifest_sha256[:16]}…` · finished "
        f"{_cell(m.get('finished_at'))}_",
        "",
    ]
    return "\n".join(lines)
