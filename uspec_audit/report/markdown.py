"""A Markdown summary of an audit for a pull-request comment or a CI log.

Verdicts per ensemble, test and metric, every contract with PASS/FAIL, and the
headline statistics of the flagged cells. Rendered from the results files alone.
"""

from __future__ import annotations

from typing import Any

from uspec_audit.report.tables import Results, cell_label, fmt, fmt_p, isnum, verdict_rank

ICON = {"PASS": "✅ PASS", "FAIL": "❌ FAIL"}
VERDICT_ICON = {"underspecified": "🟥 underspecified", "degraded": "🟧 degraded", "stable": "🟩 stable",
                "insufficient": "⬜ insufficient"}


def _cell(x: Any) -> str:
    """Text safe inside a Markdown table cell."""
    text = "—" if x is None or (isinstance(x, float) and not isnum(x)) else str(x)
    text = text.replace("&", "&amp;").replace("<", "&lt;").replace(">", "&gt;")  # no raw HTML in a PR comment
    return text.replace("\\", "\\\\").replace("|", "\\|").replace("\n", " ").replace("\r", " ")


def _table(headers: list[str], rows: list[list[Any]], right: set[int] | None = None) -> list[str]:
    right = right or set()
    out = ["| " + " | ".join(_cell(h) for h in headers) + " |",
           "|" + "|".join("---:" if i in right else "---" for i in range(len(headers))) + "|"]
    out += ["| " + " | ".join(_cell(c) for c in r) + " |" for r in rows]
    return out


def build_markdown(results: Results, max_flagged: int = 20) -> str:
    m = results.manifest
    tool = m.get("tool") or {}
    audit = m.get("audit") or {}
    lines = [f"## uspec-audit: {_cell(results.title)}", ""]
    contracts = results.table("contracts", "status")
    summary = results.table("summary", "ensemble", "test", "metric", "verdict")
    failed = int((contracts["status"].astype(str).str.upper() == "FAIL").sum()) if contracts is not None else 0
    under = int((summary["verdict"] == "underspecified").sum()) if summary is not None else 0
    degraded = int((summary["verdict"] == "degraded").sum()) if summary is not None else 0
    if contracts is None:
        head = "No contracts in this audit."
    elif failed:
        head = f"**{failed} of {len(contracts)} contracts FAIL.**"
    else:
        head = f"**All {len(contracts)} contracts PASS.**"
    lines += [f"{head} {under} underspecified and {degraded} degraded cell(s) out of "
              f"{len(summary) if summary is not None else 0}.", ""]
    n_members = ", ".join(f"{_cell(x.get('name'))} ({len(x.get('members') or [])} members)" for x in results.ensembles)
    lines += [f"Audit `{_cell(audit.get('name'))}` · seed {_cell(audit.get('seed'))} · "
              f"{_cell(tool.get('name', 'uspec-audit'))} {_cell(tool.get('version', ''))} · ensembles: {n_members}", ""]

    lines += ["### Contracts", ""]
    if contracts is None:
        lines += ["The audit file states no contracts.", ""]
    else:
        c = contracts.assign(_o=contracts["status"].astype(str).str.upper() != "FAIL").sort_values("_o", kind="stable")
        cols = [x for x in ("ensemble", "test", "variant", "stratum", "metric", "contract") if x in c.columns]
        rows = [[ICON.get(str(r["status"]).upper(), r["status"])] + [r[x] for x in cols]
                + [fmt(r.get("bound")), fmt(r.get("observed"))] for _, r in c.iterrows()]
        lines += _table(["status"] + cols + ["bound", "observed"], rows, right={len(cols) + 1, len(cols) + 2})
        lines.append("")

    if summary is not None:
        lines += ["### Verdicts", ""]
        metrics = list(dict.fromkeys(summary["metric"]))
        rows = []
        for ens in dict.fromkeys(summary["ensemble"]):
            for test in [t for t in results.test_names() if t in set(summary["test"])]:
                d = summary[(summary["ensemble"] == ens) & (summary["test"] == test)]
                if d.empty:
                    continue
                row = [ens, test]
                for metric in metrics:
                    dm = d[d["metric"] == metric]
                    if dm.empty:
                        row.append("—")
                        continue
                    worst = max(dm["verdict"], key=verdict_rank)
                    ratio = dm["sd_ratio"].max() if "sd_ratio" in dm else None
                    row.append(VERDICT_ICON.get(str(worst), str(worst))
                               + (f" (max sd ratio {fmt(ratio, 2)})" if isnum(ratio) else ""))
                rows.append(row)
        lines += _table(["ensemble", "test"] + metrics, rows)
        lines += ["", "_Worst verdict over the variants and strata of each test; max sd ratio = sd / iid sd._", ""]

        flagged = summary[summary["verdict"].isin(["underspecified", "degraded"])]
        if "sd_ratio" in flagged:
            flagged = flagged.sort_values("sd_ratio", ascending=False, na_position="last")
        if len(flagged):
            lines += ["### Headline statistics", ""]
            rows = []
            for _, r in flagged.head(max_flagged).iterrows():
                p = r.get("perm_p_adj") if isnum(r.get("perm_p_adj")) else r.get("perm_p")
                rows.append([r["ensemble"], cell_label(r["test"], r.get("variant"), r.get("stratum")), r["metric"],
                             fmt(r.get("mean")), fmt(r.get("sd"), 4), fmt(r.get("sd_ratio"), 2),
                             fmt(r.get("spearman_rho"), 2), fmt_p(p), r["verdict"]])
            lines += _table(["ensemble", "cell", "metric", "mean", "sd", "sd ratio", "ρ with iid", "perm. p (FDR)",
                             "verdict"], rows, right={3, 4, 5, 6, 7})
            if len(flagged) > max_flagged:
                lines.append(f"\n_{len(flagged) - max_flagged} more flagged cells in the full report._")
            lines.append("")
    lines += [f"<sub>Command: `{_cell(m.get('command'))}` · manifest sha256 `{results.manifest_sha256[:16]}…` · "
              f"finished {_cell(m.get('finished_at'))}</sub>", ""]
    return "\n".join(lines)
