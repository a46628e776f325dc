"""The self-contained HTML report (and the print variant the PDF is made from).

One file: inline CSS, figures as data URIs, no external fonts, scripts or
requests; an optional inline script sorts tables (the page is complete without
it). Every value taken from the results is passed through :func:`html.escape`.
"""

from __future__ import annotations

import html as _html
from dataclasses import dataclass, field
from pathlib import Path
from string import Template
from typing import Any

import pandas as pd

from uspec_audit.report import figures as F
from uspec_audit.report.tables import Results, cell_label, fmt, fmt_p, isnum, verdict_rank

TEMPLATES = Path(__file__).with_name("templates")
MAX_TABLE_ROWS = 400


def e(x: Any) -> str:
    """Escape any value for HTML text or attribute."""
    return _html.escape("" if x is None or (isinstance(x, float) and not isnum(x)) else str(x), quote=True)


def _template(name: str) -> Template:
    return Template((TEMPLATES / name).read_text(encoding="utf-8"))


@dataclass
class Page:
    html: str  # the report for screens (prints well too)
    print_html: str  # the same content with a title page and page furniture, for the PDF
    figures: list[F.Figure] = field(default_factory=list)


# --- small building blocks -----------------------------------------------------

def badge(verdict: Any) -> str:
    v = str(verdict) if isnum(verdict) else "unknown"
    return f'<span class="badge v-{e(v)}">{e(v)}</span>'


def status_badge(status: Any) -> str:
    s = str(status).upper()
    mark = {"PASS": "✓ PASS", "FAIL": "✗ FAIL"}.get(s, s)
    return f'<span class="badge s-{e(s)}">{e(mark)}</span>'


def table(headers: list[str], rows: list[list[str]], caption: str = "", num: set[int] | None = None,
          row_class: list[str] | None = None, sortable: bool = True) -> str:
    """An HTML table; ``rows`` hold ready (escaped) cell HTML; ``num`` are right-aligned column indices."""
    num = num or set()
    sort = ' data-sort=""' if sortable and len(rows) > 3 else ""
    head = "".join(f'<th scope="col"{sort}{" class=num" if i in num else ""}>{h}</th>'
                   for i, h in enumerate(headers))
    body = []
    for r, cells in enumerate(rows[:MAX_TABLE_ROWS]):
        cls = f' class="{row_class[r]}"' if row_class and row_class[r] else ""
        tds = "".join(f'<td{" class=num" if i in num else ""}>{c}</td>' for i, c in enumerate(cells))
        body.append(f"<tr{cls}>{tds}</tr>")
    more = ""
    if len(rows) > MAX_TABLE_ROWS:
        more = (f'<p class="muted">Showing {MAX_TABLE_ROWS} of {len(rows)} rows; the full table is in the '
                "results folder.</p>")
    cap = f"<caption>{caption}</caption>" if caption else ""
    return (f'<div class="table-wrap"><table>{cap}<thead><tr>{head}</tr></thead>'
            f'<tbody>{"".join(body)}</tbody></table></div>{more}')


def figure_html(fig: F.Figure | None, figs: list[F.Figure]) -> str:
    if fig is None:
        return ""
    figs.append(fig)
    n = len(figs)
    return (f'<figure id="{e(fig.id)}"><img src="{fig.src}" alt="{e(fig.alt)}" width="{fig.width_px}" '
            f'height="{fig.height_px}" loading="eager">'
            f"<figcaption><b>Figure {n}. {e(fig.title)}.</b> {e(fig.guide)}</figcaption></figure>")


def _ci(lo: Any, hi: Any) -> str:
    return f'<br><span class="ci">[{fmt(lo)}, {fmt(hi)}]</span>' if isnum(lo) and isnum(hi) else ""


def _get(row: pd.Series, col: str) -> Any:
    return row[col] if col in row.index else None


# --- sections --------------------------------------------------------------------

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
        text = (f"{failed} of {len(c)} contracts FAIL" if failed else f"All {len(c)} contracts PASS")
    return f"{text} · {under} underspecified cell{'s' if under != 1 else ''}"


def _verdict_matrix(results: Results, ensemble: str) -> str:
    s = results.table("summary", "ensemble", "test", "metric", "verdict")
    if s is None:
        return ""
    s = s[s["ensemble"] == ensemble]
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
            ratio = d["sd_ratio"].max() if "sd_ratio" in d else None
            extra += f"<br><span class='muted'>max sd ratio {fmt(ratio, 2)}</span>" if isnum(ratio) else ""
            cells.append(badge(worst) + extra)
        rows.append(cells)
    return table(["test"] + [e(m) for m in metrics], rows, sortable=False,
                 caption=f"Worst verdict per test and metric for ensemble <b>{e(ensemble)}</b> "
                         "(with the share of cells carrying it when a test has several variants or strata).")


NUMERIC_HEADERS = {"n", "mean [95% CI]", "sd", "sd ratio [95% CI]", "ρ with iid [95% CI]", "perm. p (FDR)"}


def _summary_rows(d: pd.DataFrame, with_test: bool) -> tuple[list[str], list[list[str]], set[int]]:
    """Rows of the ensemble-statistics table.

    ``with_test`` merges ensemble/test/variant/stratum into one cell; otherwise the variant and stratum
    columns are shown only when they vary from 'none' / 'all'.
    """
    variants = d["variant"].fillna("none") if "variant" in d else pd.Series(["none"] * len(d), index=d.index)
    strata = d["stratum"].fillna("all") if "stratum" in d else pd.Series(["all"] * len(d), index=d.index)
    show_v, show_s = (variants != "none").any(), (strata != "all").any()
    if with_test:
        first = ["ensemble · test cell"]
    else:
        first = (["variant"] if show_v else []) + (["stratum"] if show_s else [])
    headers = first + ["metric", "n", "mean [95% CI]", "sd", "sd ratio [95% CI]", "ρ with iid [95% CI]",
                       "perm. p (FDR)", "worst member", "verdict"]
    rows = []
    for idx, r in d.iterrows():
        if with_test:
            lead = [f'<b>{e(r["ensemble"])}</b> · ' + e(cell_label(r["test"], variants[idx], strata[idx]))]
        else:
            lead = ([e(variants[idx])] if show_v else []) + ([e(strata[idx])] if show_s else [])
        p = _get(r, "perm_p_adj") if isnum(_get(r, "perm_p_adj")) else _get(r, "perm_p")
        worst = (f"{e(_get(r, 'worst_member'))}<br><span class='ci'>{fmt(_get(r, 'worst_value'))}</span>"
                 if isnum(_get(r, "worst_member")) else "—")
        rows.append(lead + [
            e(r["metric"]), fmt(_get(r, "n_examples")),
            fmt(_get(r, "mean")) + _ci(_get(r, "mean_ci_low"), _get(r, "mean_ci_high")),
            fmt(_get(r, "sd"), 4),
            f"<b>{fmt(_get(r, 'sd_ratio'), 2)}</b>" + _ci(_get(r, "sd_ratio_ci_low"), _get(r, "sd_ratio_ci_high")),
            fmt(_get(r, "spearman_rho"), 2) + _ci(_get(r, "spearman_ci_low"), _get(r, "spearman_ci_high")),
            fmt_p(p), worst, badge(_get(r, "verdict"))])
    return headers, rows, {i for i, h in enumerate(headers) if h in NUMERIC_HEADERS}


def section_summary(results: Results) -> str:
    out = ['<h2 id="summary" class="first">1. Executive summary</h2>']
    s = results.table("summary", "ensemble", "verdict")
    c = _contracts(results)
    n_members = sum(len(x.get("members") or []) for x in results.ensembles)
    failed = int((c["status"].astype(str).str.upper() == "FAIL").sum()) if c is not None else 0
    under = int((s["verdict"] == "underspecified").sum()) if s is not None else 0
    degraded = int((s["verdict"] == "degraded").sum()) if s is not None else 0
    cards = [(len(results.ensembles), "ensembles"), (n_members, "members"), (len(results.test_names()), "stress tests"),
             (under, "underspecified cells"), (degraded, "degraded cells"),
             (f"{failed} / {len(c)}" if c is not None else "—", "contracts failed")]
    out.append('<div class="cards">' + "".join(
        f'<div class="card"><div class="num">{e(n)}</div><div class="lab">{e(lab)}</div></div>' for n, lab in cards)
        + "</div>")
    ok = failed == 0 and under == 0
    out.append(f'<div class="callout{" ok" if ok else ""}"><b>{e(overall_status(results))}.</b> '
               + ("No test cell shows a spread across members that is both large relative to iid and systematic."
                  if under == 0 else
                  "Members that are interchangeable on the iid test behave differently on the cells marked "
                  "underspecified below: which member is deployed matters there.") + "</div>")
    for ens in results.ensembles:
        out.append(f"<h3>Ensemble {e(ens.get('name'))}</h3>")
        out.append(_verdict_matrix(results, str(ens.get("name"))))
    if s is not None:
        head = s[s["verdict"].isin(["underspecified", "degraded"])]
        if "sd_ratio" in head:
            head = head.sort_values("sd_ratio", ascending=False, na_position="last")
        if len(head):
            h, rows, num = _summary_rows(head.head(15), with_test=True)
            out.append("<h3>Headline findings</h3>")
            out.append(table(h, rows, num=num, caption="Flagged cells with the largest spread relative to iid "
                                                       "(at most 15; every cell is in section 5)."))
    out.append('<h3 id="contracts">Contracts</h3>')
    if c is None:
        out.append("<p>The audit file states no contracts.</p>")
    else:
        c = c.assign(_o=(c["status"].astype(str).str.upper() != "FAIL"))
        c = c.sort_values("_o", kind="stable")
        cols = [x for x in ("ensemble", "test", "variant", "stratum", "metric", "contract") if x in c.columns]
        rows, cls = [], []
        for _, r in c.iterrows():
            rows.append([status_badge(r["status"])] + [e(r[x]) for x in cols]
                        + [fmt(_get(r, "bound")), fmt(_get(r, "observed")), e(_get(r, "message"))])
            cls.append("fail" if str(r["status"]).upper() == "FAIL" else "")
        out.append(table(["status"] + cols + ["bound", "observed", "message"], rows, row_class=cls,
                         num={len(cols) + 1, len(cols) + 2},
                         caption="Every contract of the audit file, failures first."))
    return "\n".join(out)


def section_scope(results: Results) -> str:
    m = results.manifest
    out = ['<h2 id="scope">2. Scope</h2>']
    tool = m.get("tool") or {}
    out.append(f"<p>Audit <b>{e((m.get('audit') or {}).get('name'))}</b>, run with "
               f"{e(tool.get('name', 'uspec-audit'))} {e(tool.get('version', ''))}. Started "
               f"{e(m.get('started_at'))}, finished {e(m.get('finished_at'))}.</p>")
    out.append("<h3>Ensembles and members</h3>")
    rows = [[e(x.get("name")), e(x.get("loader")), e(x.get("task")), e(x.get("output")), e(x.get("reference")),
             e(len(x.get("members") or []))] for x in results.ensembles]
    out.append(table(["ensemble", "loader", "task", "output", "iid reference", "members"], rows, num={5}))
    for ens in results.ensembles:
        rows = [[e(mb.get("name")), e(mb.get("group") or "—"), e(", ".join(mb.get("providers") or []) or "—"),
                 f'<span class="mono">{e(mb.get("path"))}</span>', f'<span class="hash">{e(mb.get("sha256"))}</span>']
                for mb in ens.get("members") or []]
        out.append(table(["member", "group", "providers used", "file", "sha256"], rows,
                         caption=f"Members of <b>{e(ens.get('name'))}</b> with their file hashes and the "
                                 "execution providers the runtime really used."))
    out.append("<h3>Datasets</h3>")
    rows = [[e(d.get("name")), e(d.get("source")), f'<span class="mono">{e(d.get("path"))}</span>',
             fmt(d.get("n_examples")), "yes" if d.get("synthetic") else "no",
             f'<span class="hash">{e(d.get("sha256"))}</span>'] for d in m.get("datasets") or []]
    out.append(table(["dataset", "source", "path", "examples", "synthetic", "sha256"], rows, num={3}))
    out.append("<h3>Stress tests</h3>")
    rows = []
    for t in results.tests:
        variants = [v for v in t.get("variants") or [] if v != "none"]
        vtext = f"{len(variants)}: " + ", ".join(variants[:6]) + (" …" if len(variants) > 6 else "") if variants else "—"
        rows.append([e(t.get("name")), e(t.get("kind")), e(t.get("dataset")), e(", ".join(t.get("ensembles") or [])),
                     e(", ".join(t.get("metrics") or [])), e(", ".join(t.get("by") or []) or "—"), e(vtext)])
    out.append(table(["test", "kind", "dataset", "ensembles", "metrics", "strata by", "variants"], rows))
    out.append("<h3>Software, hardware and run time</h3>")
    rows = [[e(p.get("plugin")), e(p.get("package")), e(p.get("version"))] for p in m.get("plugins") or []]
    out.append(table(["plugin", "package", "version"], rows, caption="Plugins loaded for this run."))
    host, tim = m.get("host") or {}, m.get("timings") or {}
    rows = [[e(k), e(v)] for k, v in host.items()] + [
        [e(k.replace("_s", "") + " time"), f"{fmt(v, 1)} s"] for k, v in tim.items()]
    out.append(table(["host / timing", "value"], rows, sortable=False))
    return "\n".join(out)


def section_methods(results: Results) -> str:
    a = results.manifest.get("analysis") or {}

    def pick(*keys: str, default: Any) -> str:
        for k in keys:
            if isnum(a.get(k)):
                return e(a[k])
        return e(default)

    text = _template("methodology.html").safe_substitute(
        seed=e((results.manifest.get("audit") or {}).get("seed", "—")),
        permutations=pick("permutations", "n_permutations", default="10,000"),
        bootstrap=pick("bootstrap", "n_bootstrap", "bootstrap_replicates", default="2,000"),
        alpha=pick("alpha", "fdr_alpha", default="0.05"),
        sd_ratio_threshold=pick("sd_ratio_threshold", "underspecified_sd_ratio", default="2"))
    settings = ""
    if a:
        rows = [[e(k), f'<span class="mono">{e(v)}</span>'] for k, v in a.items()]
        settings = table(["analysis setting", "value"], rows, sortable=False,
                         caption="Analysis settings of this run (from the manifest).")
    return f'<h2 id="methods">3. Methodology</h2>\n{text}\n{settings}'


def section_ensembles(results: Results, figs: list[F.Figure]) -> str:
    out = ['<h2 id="ensembles">4. Results by ensemble</h2>',
           "<p>How the members of each ensemble move together (or not) across all stress tests.</p>"]
    met = results.table("metrics", "ensemble", "metric")
    for ens in results.ensembles:
        name = str(ens.get("name"))
        out.append(f'<h3 id="ens-{e(name)}">Ensemble {e(name)}</h3>')
        metrics = list(dict.fromkeys(met.loc[met["ensemble"] == name, "metric"])) if met is not None else []
        if len(ens.get("members") or []) < 2:
            out.append("<p>This ensemble has a single member: spread statistics and their figures are not "
                       "defined.</p>")
        for metric in metrics:
            out.append(figure_html(F.parallel_axis(results, name, metric), figs))
        for metric in metrics:
            out.append(figure_html(F.correlation_heatmap(results, name, metric), figs))
        for metric in metrics[:3]:
            out.append(figure_html(F.group_strips(results, name, metric), figs))
        out.append(figure_html(F.marginalization(results, name), figs))
        rex = results.table("rex", "ensemble", "member")
        if rex is not None and len(rex[rex["ensemble"] == name]):
            d = rex[rex["ensemble"] == name]
            cols = [c for c in ("member", "domain_set", "risk", "v_rex", "ri", "mm_rex", "selected_by") if c in d]
            rows = [[fmt(r[c], 4) if c in ("v_rex", "ri", "mm_rex") else e(r[c] if isnum(r[c]) else "—")
                     for c in cols] for _, r in d.iterrows()]
            numc = {i for i, c in enumerate(cols) if c in ("v_rex", "ri", "mm_rex")}
            out.append("<h4>Risk across domains (REx)</h4>")
            out.append(table(cols, rows, num=numc, caption="Per-member risk-extrapolation criteria; "
                             "<i>selected_by</i> names the criteria under which that member would be chosen."))
    return "\n".join(out)


def section_tests(results: Results, figs: list[F.Figure]) -> str:
    out = ['<h2 id="tests">5. Results per test</h2>']
    s = results.table("summary", "ensemble", "test", "metric")
    for test in results.test_names():
        info = results.test_info(test)
        out.append(f'<h3 id="test-{e(test)}">{e(test)} <span class="muted">({e(info.get("kind"))})</span></h3>')
        desc = [f"dataset <b>{e(info.get('dataset', '—'))}</b>"]
        if info.get("by"):
            desc.append(f"strata by <b>{e(', '.join(info['by']))}</b>")
        variants = [v for v in info.get("variants") or [] if v != "none"]
        if variants:
            desc.append(f"{len(variants)} variants")
        out.append(f"<p>{'; '.join(desc)}.</p>")
        for ens in results.ensembles:
            name = str(ens.get("name"))
            d = s[(s["ensemble"] == name) & (s["test"] == test)] if s is not None else None
            if d is None or d.empty:
                continue
            out.append(f"<h4>{e(test)} · ensemble {e(name)}</h4>")
            h, rows, num = _summary_rows(d, with_test=False)
            out.append(table(h, rows, num=num, caption="Ensemble statistics per cell; sd ratio = sd / iid sd."))
            out.append(_disagreement(results, name, test))
            out.append(figure_html(F.strip_plot(results, name, test), figs))
            out.append(figure_html(F.reliability(results, name, test), figs))
            out.append(_flips(results, name, test, figs))
            out.append(figure_html(F.pca_structure(results, name, test), figs))
    return "\n".join(out)


DISAGREEMENT = ("disagreement", "ambiguity", "discrepancy", "mean_vote_entropy", "sensitivity", "sensitivity_ratio")


def _disagreement(results: Results, ensemble: str, test: str) -> str:
    d = results.table("disagreement", "ensemble", "test")
    if d is None:
        return ""
    d = d[(d["ensemble"] == ensemble) & (d["test"] == test)]
    cols = [c for c in DISAGREEMENT if c in d.columns and d[c].notna().any()]
    if d.empty or not cols:
        return ""
    lead = [c for c in ("variant", "stratum") if c in d.columns]
    rows = [[e(r[c]) for c in lead] + [fmt(r[c]) for c in cols] for _, r in d.iterrows()]
    return table(lead + [e(c.replace("_", " ")) for c in cols], rows,
                 num=set(range(len(lead), len(lead) + len(cols))),
                 caption="Disagreement and predictive multiplicity: how often members' labels differ "
                         "(sensitivity ratio ≈ 2 means two members' errors are orthogonal).")


def _flips(results: Results, ensemble: str, test: str, figs: list[F.Figure]) -> str:
    f = results.table("flips", "ensemble", "test", "member", "kind", "value")
    if f is None:
        return ""
    f = f[(f["ensemble"] == ensemble) & (f["test"] == test)]
    if f.empty:
        return ""
    out = []
    variants = list(dict.fromkeys(f["variant"].fillna("none"))) if "variant" in f else ["none"]
    per = f[f["kind"] != "overlap"] if "other_member" not in f else f[f["other_member"].isna()]
    shared = per[per["member"].isna()]
    per = per[per["member"].notna()]
    kinds = [k for k in dict.fromkeys(per["kind"]) if k not in ("overlap",)]
    if kinds:
        idx = ["member"] + (["variant"] if len(variants) > 1 else [])
        wide = per.pivot_table(index=idx, columns="kind", values="value", aggfunc="first").reset_index()
        rows = [[e(r[c]) for c in idx]
                + [fmt(int(r[k])) if "count" in k and isnum(r.get(k)) else fmt(r.get(k), 3) for k in kinds]
                for _, r in wide.iterrows()]
        out.append(table(idx + [e(k) for k in kinds], rows, num=set(range(len(idx), len(idx) + len(kinds))),
                         caption="Decisions that flip under the intervention, per member."))
    if len(shared):
        text = "; ".join(f"{e(r['kind'].replace('_', ' '))} = {fmt(r['value'])}"
                         + (f" ({e(r['variant'])})" if len(variants) > 1 and "variant" in r else "")
                         for _, r in shared.iterrows())
        out.append(f"<p>Ensemble-wide: {text} (share of matched sets flipped by all members / by exactly "
                   "one member).</p>")
    for v in variants:
        out.append(figure_html(F.flip_overlap(results, ensemble, test, v), figs))
    return "\n".join(out)


def limitations(results: Results) -> list[str]:
    """Auto-generated caveats, each a sentence of HTML."""
    items: list[str] = []
    for ens in results.ensembles:
        n = len(ens.get("members") or [])
        name = e(ens.get("name"))
        if n == 1:
            items.append(f"Ensemble <b>{name}</b> has one member: no spread, correlation or verdict about "
                         "underspecification can be computed for it.")
        elif n < 10:
            items.append(f"Ensemble <b>{name}</b> has {n} members: confidence intervals of sd, sd ratio and rank "
                         "correlations are wide; the paper used 10 to 50 members. Treat moderate sd ratios as "
                         "inconclusive rather than as evidence of stability.")
        if not any(mb.get("group") for mb in ens.get("members") or []):
            items.append(f"Members of <b>{name}</b> carry no group, so the nested-seed analysis (how much of the "
                         "spread an earlier training stage fixes) was not run.")
    synth = [d for d in results.manifest.get("datasets") or [] if d.get("synthetic")]
    if synth:
        items.append("Synthetic data: " + ", ".join(f"<b>{e(d.get('name'))}</b>" for d in synth)
                     + " are marked synthetic in the manifest; numbers on them show how the tool works, not how "
                     "the models behave on real inputs.")
    kinds = {t.get("kind") for t in results.tests}
    if "stratified" not in kinds:
        items.append("No stratified test: behaviour on subgroups of the population was not examined.")
    if not kinds & {"shifted", "perturbed", "contrastive"}:
        items.append("No shifted, perturbed or contrastive test: the audit says nothing about behaviour under "
                     "distribution shift.")
    s = results.table("summary", "verdict")
    if s is not None:
        k = int((s["verdict"] == "insufficient").sum())
        if k:
            items.append(f"{k} cell{'s' if k > 1 else ''} had too few members or examples for a verdict "
                         "(<i>insufficient</i>).")
        if "n_examples" in s and "stratum" in s:
            small = s[(pd.to_numeric(s["n_examples"], errors="coerce") < 100)]
            cells = list(dict.fromkeys(cell_label(r["test"], _get(r, "variant"), r["stratum"])
                                       for _, r in small.iterrows()))
            if cells:
                items.append("Small cells (fewer than 100 examples): " + ", ".join(e(c) for c in cells[:8])
                             + (" …" if len(cells) > 8 else "") + ". Their metrics are noisy for every member; "
                             "rely on the permutation p-values there rather than on the raw spread.")
    absent = {"correlations": "rank-correlation heatmaps", "calibration": "reliability curves",
              "marginalization": "marginalization curves", "pca": "disagreement PCA", "rex": "REx criteria",
              "contracts": "contract verdicts"}
    missing = [v for k, v in absent.items() if results.table(k) is None]
    if missing:
        items.append("Not in this results folder, so left out of the report: " + ", ".join(missing) + ".")
    items += [e(p) for p in results.problems]
    items += [e(n) for n in results.manifest.get("notes") or []]
    items.append("The audit measures only the variation caused by the choices that differ between members (for "
                 "example the random seed); other pipeline choices (architecture, data order, hyper-parameters) can "
                 "add more. Stress tests cover the shifts they were built for and no others.")
    return items


def section_limitations(results: Results) -> str:
    items = "".join(f"<li>{x}</li>" for x in limitations(results))
    return f'<h2 id="limitations">6. Limitations</h2>\n<ul>{items}</ul>'


def section_repro(results: Results) -> str:
    m = results.manifest
    audit = m.get("audit") or {}
    rows = [["command", f'<span class="mono">{e(m.get("command"))}</span>'],
            ["audit file", f'<span class="mono">{e(audit.get("path"))}</span>'],
            ["audit sha256", f'<span class="hash">{e(audit.get("sha256"))}</span>'],
            ["seed", e(audit.get("seed"))],
            ["manifest sha256", f'<span class="hash">{e(results.manifest_sha256)}</span>'],
            ["results folder", f'<span class="mono">{e(results.path)}</span>']]
    out = ['<h2 id="repro">7. Reproducibility</h2>',
           "<p>Re-running the command below on the same files gives the same numbers: every random draw derives "
           "from the seed. This report can be rebuilt from the results folder alone with "
           f'<span class="mono">uspec-audit report {e(results.path)} --html report.html</span>.</p>',
           table(["item", "value"], rows, sortable=False)]
    if audit.get("text"):
        out.append("<h3>Audit file</h3>")
        out.append(f"<pre>{e(audit['text'])}</pre>")
    if results.files:
        rows = [[f'<span class="mono">{e(n)}</span>', fmt(size), f'<span class="hash">{e(h)}</span>']
                for n, size, h in results.files]
        out.append(table(["result file", "bytes", "sha256"], rows, num={1}, sortable=False))
    return "\n".join(out)


# --- assembly --------------------------------------------------------------------

TOC = [("summary", "Executive summary"), ("scope", "Scope"), ("methods", "Methodology"),
       ("ensembles", "Results by ensemble"), ("tests", "Results per test"), ("limitations", "Limitations"),
       ("repro", "Reproducibility")]


def _facts(results: Results) -> str:
    m = results.manifest
    audit, tool = m.get("audit") or {}, m.get("tool") or {}
    facts = [("audit", audit.get("name")), ("command", m.get("command")), ("finished", m.get("finished_at")),
             ("tool", f"{tool.get('name', 'uspec-audit')} {tool.get('version', '')}"),
             ("manifest sha256", results.manifest_sha256)]
    return "<dl>" + "".join(f"<dt>{e(k)}</dt><dd>{e(v)}</dd>" for k, v in facts if v) + "</dl>"


def build_html(results: Results) -> Page:
    """Render the report; returns the screen page and the print page (title page, page furniture)."""
    figs: list[F.Figure] = []
    body = "\n".join([
        '<nav class="toc" aria-label="Contents"><b>Contents</b><ol>'
        + "".join(f'<li><a href="#{a}">{e(t)}</a></li>' for a, t in TOC) + "</ol></nav>",
        section_summary(results), section_scope(results), section_methods(results),
        section_ensembles(results, figs), section_tests(results, figs), section_limitations(results),
        section_repro(results)])
    tool = results.manifest.get("tool") or {}
    generator = f"{tool.get('name', 'uspec-audit')} {tool.get('version', '')}".strip()
    status = e(overall_status(results))
    cover = (f'<div class="kicker">Underspecification audit</div><h1>{e(results.title)}</h1>{_facts(results)}'
             f'<div class="status">{status}</div>')
    title_page = (f'<section class="title-page"><div class="kicker">Underspecification audit report</div>'
                  f"<h1>{e(results.title)}</h1>{_facts(results)}<div class=\"status\">{status}</div>"
                  f'<div class="fine">Rendered by {e(generator)} from the results folder alone. Figures use the '
                  "Okabe–Ito colour-blind-safe palette.</div></section>")
    footer = (f"Generated by {e(generator)} from the results folder (manifest sha256 "
              f'<span class="mono">{e(results.manifest_sha256[:16])}…</span>). This page is self-contained: it '
              "loads nothing from the network.")
    css = (TEMPLATES / "report.css").read_text(encoding="utf-8")
    print_css = (TEMPLATES / "print.css").read_text(encoding="utf-8")
    page = _template("page.html")
    common = dict(generator=e(generator), title=e(results.title), cover=cover, body=body, footer=footer)
    screen = page.substitute(common, css=css, body_class="screen", title_page="")
    printed = page.substitute(common, css=css + "\n" + print_css, body_class="print", title_page=title_page)
    return Page(html=screen, print_html=printed, figures=figs)


def write_html(results_dir: Path, path: Path) -> Path:
    """Convenience: load ``results_dir`` and write the HTML report to ``path``."""
    from uspec_audit.report.render import render_reports

    return render_reports(results_dir, html=path)[0]
