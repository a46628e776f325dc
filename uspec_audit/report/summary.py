"""The HTML report's executive summary and its tables of ensemble statistics.

Results of this version carry the corrected sd ratio (the spread beyond
sampling noise, with a bootstrap CI), the BH-adjusted excess p that drives
the verdict and a one-sentence reason; older results folders have only the
raw ratio and the permutation p, and the tables fall back to them.
"""

from __future__ import annotations

import pandas as pd

from uspec_audit.report.blocks import badge, ci, e, formats, get, status_badge, synthetic_banner, table
from uspec_audit.report.numbers import fmt_count, fmt_p
from uspec_audit.report.tables import (
    Results,
    cell_label,
    has_corrected,
    headline_rows,
    p_column,
    summary_formats,
    verdict_rank,
)

HEADLINE_COUNT = 15


def _contracts(results: Results) -> pd.DataFrame | None:
    return results.table("contracts", "status")


def overall_status(results: Results) -> str:
    c = _contracts(results)
    s = results.table("summary", "verdict")
    under = int((s["verdict"] == "underspecified").sum()) if s is not None else 0
    if c is None:
        text = "No contracts in this audit"
    else:
        failed = int((c["status"].astype(str).str.upper() == "FAIL").sum())
        text = f"{failed} of {len(c)} contracts FAIL" if failed else f"All {len(c)} contracts PASS"
    return f"{text} · {under} underspecified cell{'s' if under != 1 else ''}"


def verdict_matrix(results: Results, ensemble: str) -> str:
    """Worst verdict per test and metric, with the largest (corrected) sd ratio of the cells."""
    s = results.table("summary", "ensemble", "test", "metric", "verdict")
    if s is None:
        return ""
    s = s[s["ensemble"] == ensemble]
    corrected = has_corrected(s)
    ratio_column, ratio_label = (
        ("sd_ratio_corrected", "max corrected sd ratio") if corrected else ("sd_ratio", "max sd ratio")
    )
    fmt = summary_formats(results.tables["summary"])["corrected" if corrected else "ratio"]
    metrics = list(dict.fromkeys(s["metric"]))
    rows = []
    for test in [t for t in results.test_names() if t in set(s["test"])]:
        cells = [f"<b>{e(test)}</b> <span class='muted'>{e(results.test_info(test).get('kind', ''))}</span>"]
        for metric in metrics:
            d = s[(s["test"] == test) & (s["metric"] == metric)]
            if d.empty:
                cells.append("—")
                continue
            worst = max(d["verdict"], key=verdict_rank)
            k = int((d["verdict"] == worst).sum())
            extra = f" <span class='muted'>{k}/{len(d)}</span>" if len(d) > 1 else ""
            ratio = d[ratio_column].max() if ratio_column in d else None
            extra += (
                f"<br><span class='muted'>{ratio_label} {fmt(ratio)}</span>"
                if ratio is not None and not pd.isna(ratio)
                else ""
            )
            cells.append(badge(worst) + extra)
        rows.append(cells)
    return table(
        ["test"] + [e(m) for m in metrics],
        rows,
        sortable=False,
        nowrap=set(range(1, len(metrics) + 1)),
        caption=f"Worst verdict per test and metric for ensemble <b>{e(ensemble)}</b> "
        "(with the share of cells carrying it when a test has several variants or strata).",
    )


def summary_rows(
    d: pd.DataFrame, with_test: bool, compact: bool = False, f: dict | None = None
) -> tuple[list[str], list[list[str]], set[int], set[int]]:
    """Headers, rows, numeric and no-wrap column indices of an ensemble-statistics table.

    ``with_test`` merges ensemble/test/variant/stratum into one cell; otherwise the variant and stratum columns
    are shown only when they vary from 'none' / 'all'. ``compact`` (the headline table) leaves out the worst
    member and the rank correlation. ``f`` holds the formats of the whole summary (:func:`summary_formats`), so
    every numeric column has one format and shows a value as the other reports do.
    """
    variants = d["variant"].fillna("none") if "variant" in d else pd.Series(["none"] * len(d), index=d.index)
    strata = d["stratum"].fillna("all") if "stratum" in d else pd.Series(["all"] * len(d), index=d.index)
    show_v, show_s = (variants != "none").any(), (strata != "all").any()
    corrected = has_corrected(d)
    p_name, p_label = p_column(d)
    f = f or summary_formats(d)
    rho = f["rho"]
    first = (
        ["ensemble · test cell"]
        if with_test
        else (["variant"] if show_v else []) + (["stratum"] if show_s else [])
    )
    headers = first + ["metric", "n", "mean [95% CI]", "sd", "sd ratio"]
    if corrected:
        headers.append("corrected sd ratio [95% CI]")
    headers.append(p_label)
    if not compact:
        headers += ["ρ with iid [95% CI]", "worst member"]
    headers.append("verdict")
    rows = []
    for idx, r in d.iterrows():
        if with_test:
            lead = [f"<b>{e(r['ensemble'])}</b> · " + e(cell_label(r["test"], variants[idx], strata[idx]))]
        else:
            lead = ([e(variants[idx])] if show_v else []) + ([e(strata[idx])] if show_s else [])
        cells = lead + [
            e(r["metric"]),
            fmt_count(get(r, "n_examples")),
            f["mean"](get(r, "mean")) + ci(get(r, "mean_ci_low"), get(r, "mean_ci_high"), f["mean"]),
            f["sd"](get(r, "sd")),
            f["ratio"](get(r, "sd_ratio")),
        ]
        if corrected:
            cells.append(
                f"<b>{f['corrected'](get(r, 'sd_ratio_corrected'))}</b>"
                + ci(
                    get(r, "sd_ratio_corrected_ci_low"), get(r, "sd_ratio_corrected_ci_high"), f["corrected"]
                )
            )
        cells.append(fmt_p(get(r, p_name)))
        if not compact:
            cells.append(
                rho(get(r, "spearman_rho")) + ci(get(r, "spearman_ci_low"), get(r, "spearman_ci_high"), rho)
            )
            worst = get(r, "worst_member")
            cells.append(
                f"{e(worst)}<br><span class='ci'>{f['mean'](get(r, 'worst_value'))}</span>"
                if worst is not None and not (isinstance(worst, float) and pd.isna(worst))
                else "—"
            )
        cells.append(badge(get(r, "verdict"), get(r, "verdict_reason")))
        rows.append(cells)
    numeric = {
        "n",
        "mean [95% CI]",
        "sd",
        "sd ratio",
        "corrected sd ratio [95% CI]",
        p_label,
        "ρ with iid [95% CI]",
    }
    return (
        headers,
        rows,
        {i for i, h in enumerate(headers) if h in numeric},
        {i for i, h in enumerate(headers) if h == "verdict"},
    )


def summary_caption(d: pd.DataFrame) -> str:
    """What the columns of a summary table mean (depends on what the results folder holds)."""
    p_name, p_label = p_column(d)
    text = "sd ratio = sd across members on the test / sd on the iid test"
    if has_corrected(d):
        text += (
            "; corrected sd ratio = the same ratio of the spread left after removing sampling noise, with a "
            "bootstrap CI over members"
        )
    if p_name == "excess_p_adj":
        text += (
            f"; {p_label} = p-value that the spread exceeds what the iid test predicts (member × test "
            "interaction), Benjamini–Hochberg adjusted"
        )
    else:
        text += f"; {p_label} = permutation p-value that the members differ at all"
    return text + "."


def section_summary(results: Results, number: int = 1) -> str:
    out = [
        f'<h2 id="summary" class="first">{number}. Executive summary</h2>',
        synthetic_banner(results.manifest),
    ]
    s = results.table("summary", "ensemble", "verdict")
    c = _contracts(results)
    n_members = sum(len(x.get("members") or []) for x in results.ensembles)
    failed = int((c["status"].astype(str).str.upper() == "FAIL").sum()) if c is not None else 0
    under = int((s["verdict"] == "underspecified").sum()) if s is not None else 0
    degraded = int((s["verdict"] == "degraded").sum()) if s is not None else 0
    cards = [
        (len(results.ensembles), "ensembles"),
        (n_members, "members"),
        (len(results.test_names()), "stress tests"),
        (under, "underspecified cells"),
        (degraded, "degraded cells"),
        (f"{failed} / {len(c)}" if c is not None else "—", "contracts failed"),
    ]
    out.append(
        '<div class="cards">'
        + "".join(
            f'<div class="card"><div class="num">{e(n)}</div><div class="lab">{e(lab)}</div></div>'
            for n, lab in cards
        )
        + "</div>"
    )
    ok = failed == 0 and under == 0
    out.append(
        f'<div class="callout{" ok" if ok else ""}"><b>{e(overall_status(results))}.</b> '
        + (
            "No test cell shows a spread across members that is both large relative to iid and systematic."
            if under == 0
            else "Members that are interchangeable on the iid test behave differently on the cells marked "
            "underspecified below: which member is deployed matters there."
        )
        + "</div>"
    )
    for ens in results.ensembles:
        out.append(f"<h3>Ensemble {e(ens.get('name'))}</h3>")
        out.append(verdict_matrix(results, str(ens.get("name"))))
    if s is not None:
        head = headline_rows(s, HEADLINE_COUNT, flagged_only=True, references=results.reference_tests())
        if len(head):
            h, rows, num, keep = summary_rows(head, with_test=True, compact=True, f=summary_formats(s))
            ranked = (
                "the lower 95% bound of the corrected sd ratio" if has_corrected(head) else "the sd ratio"
            )
            out.append("<h3>Headline findings</h3>")
            out.append(
                table(
                    h,
                    rows,
                    num=num,
                    nowrap=keep,
                    caption=f"Flagged cells ranked by {ranked} (at most {HEADLINE_COUNT}; cells of "
                    "ensembles too small for a verdict are left out; every cell is in section 5). "
                    + e(summary_caption(head)),
                )
            )
    out.append('<h3 id="contracts">Contracts</h3>')
    if c is None:
        out.append("<p>The audit file states no contracts.</p>")
    else:
        c = c.assign(_o=(c["status"].astype(str).str.upper() != "FAIL"))
        c = c.sort_values("_o", kind="stable")
        cols = [x for x in ("ensemble", "test", "variant", "stratum", "metric", "contract") if x in c.columns]
        f = formats(c, {"bound": (("bound",), 4, 3), "observed": (("observed",), 4, 3)})
        rows, cls = [], []
        for _, r in c.iterrows():
            rows.append(
                [status_badge(r["status"])]
                + [e(r[x]) for x in cols]
                + [f["bound"](get(r, "bound")), f["observed"](get(r, "observed")), e(get(r, "message"))]
            )
            cls.append("fail" if str(r["status"]).upper() == "FAIL" else "")
        out.append(
            table(
                ["status"] + cols + ["bound", "observed", "message"],
                rows,
                row_class=cls,
                num={len(cols) + 1, len(cols) + 2},
                nowrap={0},
                caption="Every contract of the audit file, failures first.",
            )
        )
    return "\n".join(out)
