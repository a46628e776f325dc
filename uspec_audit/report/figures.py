"""The report's figures (after D'Amour et al. 2020), drawn with matplotlib's Agg backend.

Every function takes the loaded :class:`~uspec_audit.report.tables.Results` and
returns a :class:`Figure` (an inline image with alt text and a one-sentence
reading guide), a :class:`Note` when the data is there but the figure cannot
be drawn (too few members), or ``None`` when its data is absent. No figure is
an empty frame, and no caption names a colour its marks do not have. Colours are Okabe–Ito
(categorical) and RdBu / cividis (diverging / sequential), which stay distinct
under the common colour-vision deficiencies.
"""

from __future__ import annotations

import matplotlib.pyplot as plt
import numpy as np
import pandas as pd

from uspec_audit.report.figure_base import (  # noqa: F401 - Figure and Note are part of this module's interface
    MAX_AXES,
    MAX_PANELS,
    OKABE_ITO,
    RC,
    WIDTH,
    Figure,
    Note,
    encode,
    member_matrix,
    members_of,
    ordered_cells,
    slug,
    style,
)
from uspec_audit.report.figures_tests import flip_overlap, pca_structure, reliability, strip_plot  # noqa: F401
from uspec_audit.report.tables import Results, cell_label, isnum


def parallel_axis(results: Results, ensemble: str, metric: str) -> Figure | None:
    """Fig. 4 / 6: each member's deviation from the ensemble mean, in units of the iid sd."""
    wide = member_matrix(results, ensemble, metric)
    ref = results.reference(ensemble)
    if wide is None or len(wide) < 2 or (ref, "none", "all") not in wide.columns:
        return None
    ref_sd = wide[(ref, "none", "all")].std(ddof=1)
    if not isnum(ref_sd) or ref_sd <= 0:
        return None
    z = (wide - wide.mean(axis=0)) / ref_sd
    cells = [c for c in ordered_cells(results, z.columns.to_frame(index=False), ref) if z[c].notna().any()]
    if len(cells) < 2:  # the iid axis alone says nothing
        return None
    note = ""
    if len(cells) > MAX_AXES:
        spread = {c: z[c].max() - z[c].min() for c in cells[1:]}
        keep = set(sorted(spread, key=lambda c: spread[c], reverse=True)[: MAX_AXES - 1])
        cells = [cells[0]] + [c for c in cells[1:] if c in keep]
        note = f" (the {MAX_AXES - 1} stress cells with the widest spread)"
    with plt.rc_context(RC):
        fig, ax = plt.subplots(figsize=(WIDTH, 3.4))
        x = np.arange(len(cells))
        for xi in x:
            ax.axvline(float(xi), color="#999999", lw=0.6, zorder=0)
        ax.axhline(0, color="#555555", lw=0.6, ls=":")
        for i, member in enumerate(z.index):
            ax.plot(
                x,
                z.loc[member, cells].to_numpy(float),
                marker="o",
                ms=3,
                lw=1.0,
                alpha=0.85,
                label=str(member),
                **style(i),
            )
        labels = [cell_label(*c) for c in cells]
        ax.set_xticks(x, labels, rotation=40, ha="right")
        ax.get_xticklabels()[0].set_fontweight("bold")
        ax.set_xlim(-0.4, len(cells) - 0.6)
        ax.set_ylabel(f"{metric}: (member − mean) / iid sd")
        ax.set_title(f"{ensemble} · {metric}: deviation from the ensemble mean{note}")
        if len(z.index) <= 16:
            ax.legend(loc="upper left", bbox_to_anchor=(1.0, 1.0), frameon=False)
        spread = {c: z[c].max() - z[c].min() for c in cells[1:]}
        widest = max(spread, key=lambda c: spread[c]) if spread else cells[0]
        alt = (
            f"Parallel-axis plot for ensemble {ensemble}, metric {metric}: {len(z.index)} members across "
            f"{len(cells)} test cells. On the iid axis the members span "
            f"{z[cells[0]].max() - z[cells[0]].min():.1f} iid sd; the widest spread is on "
            f"{cell_label(*widest)} ({spread.get(widest, 0):.1f} iid sd)."
        )
        guide = (
            "Each line is one member; each vertical axis is a test cell (iid in bold); a spread much "
            "wider than on the iid axis means the training pipeline does not pin down behaviour there."
        )
        return encode(
            fig, slug("parallel", ensemble, metric), f"Member deviations · {ensemble} · {metric}", alt, guide
        )


def correlation_heatmap(results: Results, ensemble: str, metric: str) -> Figure | Note | None:
    """Fig. 5 / 12: Spearman correlations of member scores between test cells."""
    c = results.table("correlations", "ensemble", "metric", "test_a", "test_b", "spearman")
    if c is None:
        return None
    c = c[(c["ensemble"] == ensemble) & (c["metric"] == metric)]
    if c.empty:
        return None
    a = [
        cell_label(t, v, s)
        for t, v, s in zip(
            c["test_a"],
            c.get("variant_a", pd.Series(["none"] * len(c))),
            c.get("stratum_a", pd.Series(["all"] * len(c))),
            strict=False,
        )
    ]
    b = [
        cell_label(t, v, s)
        for t, v, s in zip(
            c["test_b"],
            c.get("variant_b", pd.Series(["none"] * len(c))),
            c.get("stratum_b", pd.Series(["all"] * len(c))),
            strict=False,
        )
    ]
    labels = list(dict.fromkeys(a + b))
    ref = results.reference(ensemble)
    labels.sort(key=lambda s: (s != ref,))
    if len(labels) < 3:  # a single correlation is already in the summary table (ρ with iid)
        return None
    title = f"Rank correlations · {ensemble} · {metric}"
    members = members_of(results, ensemble)
    if members < 3:
        return Note(
            title,
            f"not drawn: a rank correlation across members needs at least 3 members, and "
            f"ensemble {ensemble} has {members}.",
        )
    if not np.isfinite(c["spearman"].to_numpy(float)).any():
        return Note(
            title,
            "not drawn: no rank correlation between tests is defined (the members' scores are "
            "tied on every test).",
        )
    note = ""
    if len(labels) > 30:
        labels, note = labels[:30], " (first 30 cells)"
    idx = {lab: i for i, lab in enumerate(labels)}
    mat = np.full((len(labels), len(labels)), np.nan)
    np.fill_diagonal(mat, 1.0)
    for la, lb, r in zip(a, b, c["spearman"].to_numpy(float), strict=True):
        if la in idx and lb in idx:
            mat[idx[la], idx[lb]] = mat[idx[lb], idx[la]] = r
    n = len(labels)
    with plt.rc_context(RC):
        size = min(WIDTH, 2.2 + 0.32 * n)
        fig, ax = plt.subplots(figsize=(size + 1.0, size))
        im = ax.imshow(np.ma.masked_invalid(mat), cmap="RdBu_r", vmin=-1, vmax=1)
        ax.set_xticks(range(n), labels, rotation=60, ha="right")
        ax.set_yticks(range(n), labels)
        ax.get_xticklabels()[0].set_fontweight("bold")
        ax.get_yticklabels()[0].set_fontweight("bold")
        if n <= 14:
            for i in range(n):
                for j in range(n):
                    if isnum(mat[i, j]):
                        ax.text(
                            j,
                            i,
                            f"{mat[i, j]:.2f}",
                            ha="center",
                            va="center",
                            fontsize=6,
                            color="white" if abs(mat[i, j]) > 0.6 else "black",
                        )
        fig.colorbar(im, ax=ax, shrink=0.7, label="Spearman ρ")
        ax.set_title(f"{ensemble} · {metric}: rank correlation between tests{note}")
        row = {lab: mat[0, i] for lab, i in idx.items() if i and isnum(mat[0, i])}
        weakest = min(row, key=lambda k: abs(row[k])) if row else None
        alt = (
            f"Heatmap of Spearman correlations of {metric} across members of {ensemble} between {n} test "
            f"cells."
            + (
                f" The weakest correlation with {labels[0]} is {weakest} (ρ = {row[weakest]:.2f})."
                if weakest
                else ""
            )
        )
        guide = (
            "Each cell is the rank correlation of member scores between two tests; pale or blue cells "
            "in the first row mean iid performance does not predict which member does well there."
        )
        return encode(fig, slug("corr", ensemble, metric), title, alt, guide)


def marginalization(results: Results, ensemble: str) -> Figure | None:
    """Fig. 16: the probability-averaged ensemble of k members against the best single member."""
    g = results.table("marginalization", "ensemble", "test", "k", "mean")
    if g is None:
        return None
    g = g[g["ensemble"] == ensemble].copy()
    if g.empty:
        return None
    g["variant"] = g["variant"].fillna("none") if "variant" in g else "none"
    g["metric"] = g["metric"] if "metric" in g else ""
    panels = list(dict.fromkeys(zip(g["test"], g["variant"], g["metric"], strict=True)))[:MAX_PANELS]
    cols = min(3, len(panels))
    rows = int(np.ceil(len(panels) / cols))
    with plt.rc_context(RC):
        fig, axes = plt.subplots(rows, cols, figsize=(WIDTH, 2.3 * rows + 0.4), squeeze=False)
        for ax in axes.flat[len(panels) :]:
            ax.set_visible(False)
        verdicts = []
        for ax, (test, variant, metric) in zip(axes.flat, panels, strict=False):
            d = g[(g["test"] == test) & (g["variant"] == variant) & (g["metric"] == metric)].sort_values("k")
            k, mean = d["k"].to_numpy(float), d["mean"].to_numpy(float)
            ax.plot(k, mean, color=OKABE_ITO[0], lw=1.4, label="average of k members")
            if "sd" in d and d["sd"].notna().any():
                sd = d["sd"].fillna(0).to_numpy(float)
                ax.fill_between(k, mean - sd, mean + sd, color=OKABE_ITO[0], alpha=0.2, lw=0)
            if "best_ref_member_value" in d and d["best_ref_member_value"].notna().any():
                ax.axhline(
                    d["best_ref_member_value"].iloc[0],
                    color=OKABE_ITO[3],
                    ls="--",
                    lw=1,
                    label="best member on iid",
                )
            if "oracle_member_value" in d and d["oracle_member_value"].notna().any():
                ax.axhline(
                    d["oracle_member_value"].iloc[0],
                    color=OKABE_ITO[2],
                    ls=":",
                    lw=1,
                    label="best member on this test",
                )
            first = d["smallest_k_beating_best"].dropna() if "smallest_k_beating_best" in d else pd.Series([])
            verdicts.append(
                f"{cell_label(test, variant, None)}: "
                + (f"k = {int(first.iloc[0])}" if len(first) else "never")
            )
            ax.set_title(cell_label(test, variant, None), fontsize=8)
            ax.set_xlabel("members averaged (k)")
            ax.set_ylabel(metric or "metric")
        axes.flat[0].legend(loc="lower right", frameon=False, fontsize=6)
        fig.suptitle(f"{ensemble}: marginalize or select?", fontsize=9)
        fig.tight_layout()
        alt = (
            f"Marginalization curves for {ensemble}: the metric of the average of k members (solid, with "
            "±1 sd band) against the best single member chosen on iid (dashed) and on the test (dotted). "
            "Smallest k beating the best member: " + "; ".join(verdicts) + "."
        )
        guide = (
            "Where the solid curve rises above the dashed line, averaging members beats picking the "
            "best one on iid; where it never does, selection matters on that stress test."
        )
        return encode(fig, slug("marg", ensemble), f"Marginalize or select · {ensemble}", alt, guide)


def group_strips(results: Results, ensemble: str, metric: str) -> Figure | None:
    """Fig. 11: members per group (nested seeds), with the group means and 95% CIs."""
    m = results.table(
        "metrics", "ensemble", "member", "group", "test", "variant", "stratum", "metric", "value"
    )
    if m is None:
        return None
    m = m[(m["ensemble"] == ensemble) & (m["metric"] == metric) & m["group"].notna()]
    if m.empty or m["group"].nunique() < 2:
        return None
    m = m.assign(variant=m["variant"].fillna("none"), stratum=m["stratum"].fillna("all"))
    ref = results.reference(ensemble)
    cells = ordered_cells(results, m, ref)
    spread = {
        c: m[(m["test"] == c[0]) & (m["variant"] == c[1]) & (m["stratum"] == c[2])]["value"].std()
        for c in cells[1:]
    }
    cells = (
        cells[:1] + sorted(spread, key=lambda k: -(spread[k] if isnum(spread[k]) else 0))[: MAX_PANELS - 1]
    )
    groups = sorted(m["group"].astype(str).unique())
    s = results.table("summary", "ensemble", "test", "variant", "stratum", "metric", "anova_p")
    cols = min(3, len(cells))
    rows = int(np.ceil(len(cells) / cols))
    with plt.rc_context(RC):
        fig, axes = plt.subplots(rows, cols, figsize=(WIDTH, 2.2 * rows + 0.4), squeeze=False)
        for ax in axes.flat[len(cells) :]:
            ax.set_visible(False)
        for ax, cell in zip(axes.flat, cells, strict=False):
            d = m[(m["test"] == cell[0]) & (m["variant"] == cell[1]) & (m["stratum"] == cell[2])]
            for gi, grp in enumerate(groups):
                v = d[d["group"].astype(str) == grp]["value"].to_numpy(float)
                if not len(v):
                    continue
                jitter = np.linspace(-0.15, 0.15, len(v)) if len(v) > 1 else np.zeros(1)
                ax.scatter(gi + jitter, v, s=10, color=OKABE_ITO[gi % 8], lw=0, alpha=0.85)
                if len(v) > 1:
                    half = 1.96 * v.std(ddof=1) / np.sqrt(len(v))
                    ax.errorbar(
                        gi + 0.3, v.mean(), yerr=half, fmt="_", ms=8, color="#333333", capsize=2, lw=1
                    )
            title = cell_label(*cell)
            if s is not None:
                r = s[
                    (s["ensemble"] == ensemble)
                    & (s["test"] == cell[0])
                    & (s["metric"] == metric)
                    & (s["variant"].fillna("none") == cell[1])
                    & (s["stratum"].fillna("all") == cell[2])
                ]
                if len(r) and isnum(r["anova_p"].iloc[0]):
                    title += f"\nANOVA p = {r['anova_p'].iloc[0]:.3g}"
            ax.set_title(title, fontsize=7, fontweight="bold" if cell == cells[0] else "normal")
            ax.set_xticks(range(len(groups)), groups, rotation=30 if len(groups) > 4 else 0)
            ax.set_ylabel(metric, fontsize=7)
        fig.suptitle(f"{ensemble} · {metric}: members by group, group mean ± 95% CI", fontsize=9)
        fig.tight_layout()
        alt = (
            f"Per-group strip plots for {ensemble}, metric {metric}: {len(groups)} groups "
            f"({', '.join(groups[:8])}), one panel per test cell ({len(cells)} panels) with the group "
            "means and 95% confidence intervals."
        )
        guide = (
            "Dots are members coloured by group (e.g. pretraining seed); group means that differ beyond "
            "their CIs mean the earlier training stage already fixes part of the behaviour."
        )
        return encode(
            fig, slug("groups", ensemble, metric), f"Nested seeds · {ensemble} · {metric}", alt, guide
        )
