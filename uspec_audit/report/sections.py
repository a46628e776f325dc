"""The HTML report's sections after the executive summary: scope, methodology, results by ensemble and per
test, limitations and reproducibility."""

from __future__ import annotations

from collections.abc import Callable
from string import Template
from typing import Any

import pandas as pd

from uspec_audit.report import figures as F
from uspec_audit.report.blocks import TEMPLATES, e, e_pre, figure_html, formats, get, table
from uspec_audit.report.numbers import fmt_count, fmt_seconds, isnum
from uspec_audit.report.summary import summary_caption, summary_rows
from uspec_audit.report.tables import Results, cell_label, fmt, summary_formats
from uspec_audit.results.catalog import column_names

Advance = Callable[[], None]


def _template(name: str) -> Template:
    return Template((TEMPLATES / name).read_text(encoding="utf-8"))


def section_scope(results: Results, number: int = 2) -> str:
    m = results.manifest
    out = [f'<h2 id="scope">{number}. Scope</h2>']
    tool = m.get("tool") or {}
    out.append(
        f"<p>Audit <b>{e((m.get('audit') or {}).get('name'))}</b>, run with "
        f"{e(tool.get('name', 'uspec-audit'))} {e(tool.get('version', ''))}. Started "
        f"{e(m.get('started_at'))}, finished {e(m.get('finished_at'))}.</p>"
    )
    out.append("<h3>Ensembles and members</h3>")
    rows = [
        [
            e(x.get("name")),
            e(x.get("loader")),
            e(x.get("task")),
            e(x.get("output")),
            e(x.get("reference")),
            e(len(x.get("members") or [])),
        ]
        for x in results.ensembles
    ]
    out.append(table(["ensemble", "loader", "task", "output", "iid reference", "members"], rows, num={5}))
    for ens in results.ensembles:
        rows = [
            [
                e(mb.get("name")),
                e(mb.get("group") or "—"),
                e(", ".join(mb.get("providers") or []) or "—"),
                f'<span class="mono">{e(mb.get("path"))}</span>',
                f'<span class="hash">{e(mb.get("sha256"))}</span>',
            ]
            for mb in ens.get("members") or []
        ]
        out.append(
            table(
                ["member", "group", "providers used", "file", "sha256"],
                rows,
                caption=f"Members of <b>{e(ens.get('name'))}</b> with their file hashes and the "
                "execution providers the runtime really used.",
            )
        )
    out.append("<h3>Datasets</h3>")
    rows = [
        [
            e(d.get("name")),
            e(d.get("source")),
            f'<span class="mono">{e(d.get("path"))}</span>',
            fmt_count(d.get("n_examples")),
            "yes" if d.get("synthetic") else "no",
            f'<span class="hash">{e(d.get("sha256"))}</span>',
        ]
        for d in m.get("datasets") or []
    ]
    out.append(table(["dataset", "source", "path", "examples", "synthetic", "sha256"], rows, num={3}))
    out.append("<h3>Stress tests</h3>")
    rows = []
    for t in results.tests:
        variants = [v for v in t.get("variants") or [] if v != "none"]
        vtext = (
            f"{len(variants)}: " + ", ".join(variants[:6]) + (" …" if len(variants) > 6 else "")
            if variants
            else "—"
        )
        rows.append(
            [
                e(t.get("name")),
                e(t.get("kind")),
                e(t.get("dataset")),
                e(", ".join(t.get("ensembles") or [])),
                e(", ".join(t.get("metrics") or [])),
                e(", ".join(t.get("by") or []) or "—"),
                e(vtext),
            ]
        )
    out.append(table(["test", "kind", "dataset", "ensembles", "metrics", "strata by", "variants"], rows))
    out.append("<h3>Software, hardware and run time</h3>")
    rows = [[e(p.get("plugin")), e(p.get("package")), e(p.get("version"))] for p in m.get("plugins") or []]
    out.append(table(["plugin", "package", "version"], rows, caption="Plugins loaded for this run."))
    host = m.get("host") or {}
    rows = [[e(k), e(v)] for k, v in host.items()] + [[e(label), value] for label, value in timing_rows(m)]
    out.append(table(["host / timing", "value"], rows, sortable=False))
    return "\n".join(out)


def section_methods(results: Results, number: int = 3) -> str:
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
        sd_ratio_threshold=pick("sd_ratio_threshold", "underspecified_sd_ratio", default="2"),
        max_carry_over_slope=pick("max_carry_over_slope", default="3"),
        min_excess_ratio=pick("min_excess_ratio", default="0.5"),
        min_members=pick("min_members", default="5"),
    )
    settings = ""
    if a:
        rows = [[e(k), f'<span class="mono">{e(v)}</span>'] for k, v in a.items()]
        settings = table(
            ["analysis setting", "value"],
            rows,
            sortable=False,
            caption="Analysis settings of this run (from the manifest).",
        )
    return f'<h2 id="methods">{number}. Methodology</h2>\n{text}\n{settings}'


TIMING_LABELS = {
    "total_s": "total time",
    "load_s": "loading the models",
    "inference_s": "inference",
    "analysis_s": "statistics",
    "reports_s": "reports",
    "units_computed": "work units computed",
    "units_reused": "work units reused from the cache",
}


def timing_rows(manifest: dict) -> list[tuple[str, str]]:
    """(label, value) of the run's timings: durations (keys ending in _s) in seconds, everything else a count."""
    rows = []
    for key, value in (manifest.get("timings") or {}).items():
        label = TIMING_LABELS.get(key, key.replace("_", " "))
        if key.endswith("_s"):
            rows.append((label, fmt_seconds(value)))
        else:
            rows.append((label, fmt_count(value) if isnum(value) else e(value)))
    return rows


def section_ensembles(
    results: Results, figs: list[F.Figure], advance: Advance = lambda: None, number: int = 4
) -> str:
    out = [
        f'<h2 id="ensembles">{number}. Results by ensemble</h2>',
        "<p>How the members of each ensemble move together (or not) across all stress tests.</p>",
    ]
    met = results.table("metrics", "ensemble", "metric")
    for ens in results.ensembles:
        name = str(ens.get("name"))
        out.append(f'<h3 id="ens-{e(name)}">Ensemble {e(name)}</h3>')
        metrics = list(dict.fromkeys(met.loc[met["ensemble"] == name, "metric"])) if met is not None else []
        if len(ens.get("members") or []) < 2:
            out.append(
                "<p>This ensemble has a single member: spread statistics and their figures are not "
                "defined.</p>"
            )
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
            cols = [
                c for c in ("member", "domain_set", "risk", "v_rex", "ri", "mm_rex", "selected_by") if c in d
            ]
            f = formats(d, {c: ((c,), 3, 2) for c in ("v_rex", "ri", "mm_rex")})
            rows = [
                [
                    f[c](r[c]) if c in f else e(r[c] if isnum(r[c]) or isinstance(r[c], str) else "—")
                    for c in cols
                ]
                for _, r in d.iterrows()
            ]
            numc = {i for i, c in enumerate(cols) if c in ("v_rex", "ri", "mm_rex")}
            out.append("<h4>Risk across domains (REx)</h4>")
            out.append(
                table(
                    cols,
                    rows,
                    num=numc,
                    caption="Per-member risk-extrapolation criteria; "
                    "<i>selected_by</i> names the criteria under which that member would be chosen.",
                )
            )
        advance()
    return "\n".join(out)


def section_tests(
    results: Results, figs: list[F.Figure], advance: Advance = lambda: None, number: int = 5
) -> str:
    out = [f'<h2 id="tests">{number}. Results per test</h2>']
    s = results.table("summary", "ensemble", "test", "metric")
    formats_all = summary_formats(s) if s is not None else None
    for test in results.test_names():
        info = results.test_info(test)
        out.append(
            f'<h3 id="test-{e(test)}">{e(test)} <span class="muted">({e(info.get("kind"))})</span></h3>'
        )
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
            h, rows, num, keep = summary_rows(d, with_test=False, f=formats_all)
            out.append(
                table(
                    h,
                    rows,
                    num=num,
                    nowrap=keep,
                    caption="Ensemble statistics per cell. " + e(summary_caption(d)),
                )
            )
            out.append(_disagreement(results, name, test))
            out.append(figure_html(F.strip_plot(results, name, test), figs))
            out.append(figure_html(F.reliability(results, name, test), figs))
            out.append(_flips(results, name, test, figs))
            out.append(figure_html(F.pca_structure(results, name, test), figs))
        advance()
    return "\n".join(out)


DISAGREEMENT = tuple(
    c for c in column_names("disagreement") if c not in ("ensemble", "test", "variant", "stratum")
)


def _disagreement(results: Results, ensemble: str, test: str) -> str:
    d = results.table("disagreement", "ensemble", "test")
    if d is None:
        return ""
    d = d[(d["ensemble"] == ensemble) & (d["test"] == test)]
    cols = [c for c in DISAGREEMENT if c in d.columns and d[c].notna().any()]
    if d.empty or not cols:
        return ""
    lead = [c for c in ("variant", "stratum") if c in d.columns]
    f = formats(d, {c: ((c,), 3, 2) for c in cols})
    rows = [[e(r[c]) for c in lead] + [f[c](r[c]) for c in cols] for _, r in d.iterrows()]
    return table(
        lead + [e(c.replace("_", " ")) for c in cols],
        rows,
        num=set(range(len(lead), len(lead) + len(cols))),
        caption="Disagreement and predictive multiplicity: how often members' labels differ "
        "(sensitivity ratio ≈ 2 means two members' errors are orthogonal).",
    )


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
        f = formats(wide, {k: ((k,), 3, 2) for k in kinds})
        rows = [
            [e(r[c]) for c in idx] + [fmt_count(r.get(k)) if "count" in k else f[k](r.get(k)) for k in kinds]
            for _, r in wide.iterrows()
        ]
        out.append(
            table(
                idx + [e(k) for k in kinds],
                rows,
                num=set(range(len(idx), len(idx) + len(kinds))),
                caption="Decisions that flip under the intervention, per member.",
            )
        )
    if len(shared):
        text = "; ".join(
            f"{e(r['kind'].replace('_', ' '))} = {fmt(r['value'])}"
            + (f" ({e(r['variant'])})" if len(variants) > 1 and "variant" in r else "")
            for _, r in shared.iterrows()
        )
        out.append(
            f"<p>Ensemble-wide: {text} (share of matched sets flipped by all members / by exactly "
            "one member).</p>"
        )
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
            items.append(
                f"Ensemble <b>{name}</b> has one member: no spread, correlation or verdict about "
                "underspecification can be computed for it."
            )
        elif n < 10:
            items.append(
                f"Ensemble <b>{name}</b> has {n} members: confidence intervals of sd, sd ratio and rank "
                "correlations are wide; the paper used 10 to 50 members. Treat moderate sd ratios as "
                "inconclusive rather than as evidence of stability."
            )
        if not any(mb.get("group") for mb in ens.get("members") or []):
            items.append(
                f"Members of <b>{name}</b> carry no group, so the nested-seed analysis (how much of the "
                "spread an earlier training stage fixes) was not run."
            )
    synth = [d for d in results.manifest.get("datasets") or [] if d.get("synthetic")]
    if synth:
        items.append(
            "Synthetic data: "
            + ", ".join(f"<b>{e(d.get('name'))}</b>" for d in synth)
            + " are marked synthetic in the manifest; numbers on them show how the tool works, not how "
            "the models behave on real inputs."
        )
    if not any(_examines_subgroups(t) for t in results.tests):
        items.append("No stratified test: behaviour on subgroups of the population was not examined.")
    if not any(_examines_shift(t, results) for t in results.tests):
        items.append(
            "No shifted, perturbed or contrastive test: the audit says nothing about behaviour under "
            "distribution shift."
        )
    s = results.table("summary", "verdict")
    if s is not None:
        k = int((s["verdict"] == "insufficient").sum())
        if k:
            items.append(
                f"{k} cell{'s' if k > 1 else ''} had too few members or examples for a verdict "
                "(<i>insufficient</i>)."
            )
        if "n_examples" in s and "stratum" in s:
            small = s[(pd.to_numeric(s["n_examples"], errors="coerce") < 100)]
            cells = list(
                dict.fromkeys(
                    cell_label(r["test"], get(r, "variant"), r["stratum"]) for _, r in small.iterrows()
                )
            )
            if cells:
                items.append(
                    "Small cells (fewer than 100 examples): "
                    + ", ".join(e(c) for c in cells[:8])
                    + (" …" if len(cells) > 8 else "")
                    + ". Their metrics are noisy for every member; "
                    "rely on the permutation p-values there rather than on the raw spread."
                )
    absent = {
        "correlations": "rank-correlation heatmaps",
        "calibration": "reliability curves",
        "marginalization": "marginalization curves",
        "pca": "disagreement PCA",
        "rex": "REx criteria",
        "contracts": "contract verdicts",
    }
    missing = [v for k, v in absent.items() if results.table(k) is None]
    if missing:
        items.append("Not in this results folder, so left out of the report: " + ", ".join(missing) + ".")
    items += [e(p) for p in results.problems]
    items += [e(n) for n in results.manifest.get("notes") or []]
    items.append(
        "The audit measures only the variation caused by the choices that differ between members (for "
        "example the random seed); other pipeline choices (architecture, data order, hyper-parameters) can "
        "add more. Stress tests cover the shifts they were built for and no others."
    )
    return items


def section_limitations(results: Results, number: int = 6) -> str:
    items = "".join(f"<li>{x}</li>" for x in limitations(results))
    return f'<h2 id="limitations">{number}. Limitations</h2>\n<ul>{items}</ul>'


def _examines_subgroups(test: dict) -> bool:
    """A test with strata (a stratified test, or a plugin kind's). Older manifests: by the kind's name."""
    return bool(test.get("strata")) if "strata" in test else test.get("kind") == "stratified"


def _examines_shift(test: dict, results: Results) -> bool:
    """A test that is not a reference and leaves the reference's data: another dataset, perturbed variants,
    or counterfactual pairs (a ``flips`` table). Older manifests: by the kind's name."""
    if "reference" not in test:
        return test.get("kind") in {"shifted", "perturbed", "contrastive"}
    if test.get("reference"):
        return False
    reference_data = {t.get("dataset") for t in results.tests if t.get("reference")}
    return (
        test.get("dataset") not in reference_data
        or any(v != "none" for v in test.get("variants") or [])
        or "flips" in (test.get("produces") or [])
    )


def section_repro(results: Results, number: int = 7) -> str:
    m = results.manifest
    audit = m.get("audit") or {}
    folder = (
        m.get("output") or results.path
    )  # a run renders in its staging folder; "output" is where it lands
    rows = [
        ["command", f'<span class="mono">{e(m.get("command"))}</span>'],
        ["audit file", f'<span class="mono">{e(audit.get("path"))}</span>'],
        ["audit sha256", f'<span class="hash">{e(audit.get("sha256"))}</span>'],
        ["seed", e(audit.get("seed"))],
        ["rendered from manifest sha256", f'<span class="hash">{e(results.manifest_sha256)}</span>'],
        ["results folder", f'<span class="mono">{e(folder)}</span>'],
    ]
    out = [
        f'<h2 id="repro">{number}. Reproducibility</h2>',
        "<p>Re-running the command below on the same files gives the same numbers: every random draw derives "
        "from the seed. A run renders its reports before it writes its final manifest.json, which records the "
        'hash above as <span class="mono">report_source_sha256</span> next to the report files\' own hashes. '
        "This report can be rebuilt from the results folder alone with "
        f'<span class="mono">uspec-audit report {e(folder)} --html report.html</span>.</p>',
        table(["item", "value"], rows, sortable=False),
    ]
    if audit.get("text"):
        out.append("<h3>Audit file</h3>")
        out.append(f"<pre>{e_pre(audit['text'])}</pre>")
    if results.files:
        rows = [
            [f'<span class="mono">{e(n)}</span>', fmt_count(size), f'<span class="hash">{e(h)}</span>']
            for n, size, h in results.files
        ]
        out.append(table(["result file", "bytes", "sha256"], rows, num={1}, sortable=False))
    return "\n".join(out)
