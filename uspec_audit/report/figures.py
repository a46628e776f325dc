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

import base64
import io
from dataclasses import dataclass

import matplotlib

matplotlib.use("Agg")
import matplotlib.pyplot as plt  # noqa: E402
import numpy as np  # noqa: E402
import pandas as pd  # noqa: E402
from matplotlib.lines import Line2D  # noqa: E402

from uspec_audit.report.tables import Results, cell_label, identifier_columns, is_identifier, isnum  # noqa: E402

OKABE_ITO = ("#0072B2", "#E69F00", "#009E73", "#D55E00", "#CC79A7", "#56B4E9", "#000000", "#F0E442")
LINESTYLES = ("-", "--", ":", "-.")
WIDTH = 7.0  # inches: fits an A4 / Letter page with margins
MAX_AXES = 24  # columns of a parallel-axis or strip plot
MAX_PANELS = 6
SVG_LIMIT = 200_000  # bytes; a bigger SVG is replaced by a PNG

RC = {
    "font.size": 8, "axes.titlesize": 9, "axes.labelsize": 8, "xtick.labelsize": 7, "ytick.labelsize": 7,
    "legend.fontsize": 7, "axes.spines.top": False, "axes.spines.right": False, "svg.hashsalt": "uspec-audit",
    "axes.prop_cycle": matplotlib.cycler(color=OKABE_ITO), "figure.dpi": 100, "svg.fonttype": "none",
    "font.family": "sans-serif", "font.sans-serif": ["DejaVu Sans", "Liberation Sans", "Arial", "Helvetica"],
}


@dataclass
class Figure:
    """An inline figure: ``src`` is a data URI (SVG, or PNG for dense plots)."""

    id: str
    title: str
    src: str
    alt: str
    guide: str
    width_px: int
    height_px: int


@dataclass
class Note:
    """A figure that cannot be drawn, and why (one line in the report instead of an empty frame)."""

    title: str
    text: str


def members_of(results: Results, ensemble: str) -> int:
    """How many members an ensemble has (from the manifest)."""
    return next((len(x.get("members") or []) for x in results.ensembles if x.get("name") == ensemble), 0)


def _encode(fig, fid: str, title: str, alt: str, guide: str) -> Figure:
    buf = io.BytesIO()
    fig.savefig(buf, format="svg", bbox_inches="tight", metadata={"Date": None})
    data, mime = buf.getvalue(), "image/svg+xml"
    if len(data) > SVG_LIMIT:
        buf = io.BytesIO()
        fig.savefig(buf, format="png", dpi=150, bbox_inches="tight", metadata={"Software": None})
        data, mime = buf.getvalue(), "image/png"
    w, h = fig.get_size_inches()
    plt.close(fig)
    src = f"data:{mime};base64," + base64.b64encode(data).decode("ascii")
    return Figure(fid, title, src, alt, guide, int(w * 96), int(h * 96))


def _slug(*parts: object) -> str:
    text = "-".join(str(p) for p in parts if p is not None)
    return "fig-" + "".join(c if c.isalnum() else "-" for c in text.lower()).strip("-")


def _style(i: int) -> dict:
    return {"color": OKABE_ITO[i % len(OKABE_ITO)], "linestyle": LINESTYLES[(i // len(OKABE_ITO)) % 4]}


def _cells(df: pd.DataFrame) -> list[tuple]:
    return list(dict.fromkeys(zip(df["test"], df["variant"], df["stratum"], strict=True)))


def _ordered_cells(results: Results, df: pd.DataFrame, ref: str) -> list[tuple]:
    order = {t: i for i, t in enumerate(results.test_names())}
    cells = _cells(df)
    return sorted(cells, key=lambda c: (c[0] != ref, order.get(c[0], 999), cells.index(c)))


def _member_matrix(results: Results, ensemble: str, metric: str) -> pd.DataFrame | None:
    m = results.table("metrics", "ensemble", "member", "test", "variant", "stratum", "metric", "value")
    if m is None:
        return None
    m = m[(m["ensemble"] == ensemble) & (m["metric"] == metric)]
    if m.empty:
        return None
    m = m.assign(variant=m["variant"].fillna("none"), stratum=m["stratum"].fillna("all"))
    return m.pivot_table(index="member", columns=["test", "variant", "stratum"], values="value", aggfunc="mean")


def parallel_axis(results: Results, ensemble: str, metric: str) -> Figure | None:
    """Fig. 4 / 6: each member's deviation from the ensemble mean, in units of the iid sd."""
    wide = _member_matrix(results, ensemble, metric)
    ref = results.reference(ensemble)
    if wide is None or len(wide) < 2 or (ref, "none", "all") not in wide.columns:
        return None
    ref_sd = wide[(ref, "none", "all")].std(ddof=1)
    if not isnum(ref_sd) or ref_sd <= 0:
        return None
    z = (wide - wide.mean(axis=0)) / ref_sd
    cells = [c for c in _ordered_cells(results, z.columns.to_frame(index=False), ref) if z[c].notna().any()]
    if len(cells) < 2:  # the iid axis alone says nothing
        return None
    note = ""
    if len(cells) > MAX_AXES:
        spread = {c: z[c].max() - z[c].min() for c in cells[1:]}
        keep = set(sorted(spread, key=spread.get, reverse=True)[: MAX_AXES - 1])
        cells = [cells[0]] + [c for c in cells[1:] if c in keep]
        note = f" (the {MAX_AXES - 1} stress cells with the widest spread)"
    with plt.rc_context(RC):
        fig, ax = plt.subplots(figsize=(WIDTH, 3.4))
        x = np.arange(len(cells))
        for xi in x:
            ax.axvline(xi, color="#999999", lw=0.6, zorder=0)
        ax.axhline(0, color="#555555", lw=0.6, ls=":")
        for i, member in enumerate(z.index):
            ax.plot(x, z.loc[member, cells].to_numpy(float), marker="o", ms=3, lw=1.0, alpha=0.85,
                    label=str(member), **_style(i))
        labels = [cell_label(*c) for c in cells]
        ax.set_xticks(x, labels, rotation=40, ha="right")
        ax.get_xticklabels()[0].set_fontweight("bold")
        ax.set_xlim(-0.4, len(cells) - 0.6)
        ax.set_ylabel(f"{metric}: (member − mean) / iid sd")
        ax.set_title(f"{ensemble} · {metric}: deviation from the ensemble mean{note}")
        if len(z.index) <= 16:
            ax.legend(loc="upper left", bbox_to_anchor=(1.0, 1.0), frameon=False)
        spread = {c: z[c].max() - z[c].min() for c in cells[1:]}
        widest = max(spread, key=spread.get) if spread else cells[0]
        alt = (f"Parallel-axis plot for ensemble {ensemble}, metric {metric}: {len(z.index)} members across "
               f"{len(cells)} test cells. On the iid axis the members span "
               f"{z[cells[0]].max() - z[cells[0]].min():.1f} iid sd; the widest spread is on "
               f"{cell_label(*widest)} ({spread.get(widest, 0):.1f} iid sd).")
        guide = ("Each line is one member; each vertical axis is a test cell (iid in bold); a spread much "
                 "wider than on the iid axis means the training pipeline does not pin down behaviour there.")
        return _encode(fig, _slug("parallel", ensemble, metric), f"Member deviations · {ensemble} · {metric}",
                       alt, guide)


def correlation_heatmap(results: Results, ensemble: str, metric: str) -> Figure | Note | None:
    """Fig. 5 / 12: Spearman correlations of member scores between test cells."""
    c = results.table("correlations", "ensemble", "metric", "test_a", "test_b", "spearman")
    if c is None:
        return None
    c = c[(c["ensemble"] == ensemble) & (c["metric"] == metric)]
    if c.empty:
        return None
    a = [cell_label(t, v, s) for t, v, s in zip(c["test_a"], c.get("variant_a", pd.Series(["none"] * len(c))),
                                                  c.get("stratum_a", pd.Series(["all"] * len(c))), strict=False)]
    b = [cell_label(t, v, s) for t, v, s in zip(c["test_b"], c.get("variant_b", pd.Series(["none"] * len(c))),
                                                  c.get("stratum_b", pd.Series(["all"] * len(c))), strict=False)]
    labels = list(dict.fromkeys(a + b))
    ref = results.reference(ensemble)
    labels.sort(key=lambda s: (s != ref,))
    if len(labels) < 3:  # a single correlation is already in the summary table (ρ with iid)
        return None
    title = f"Rank correlations · {ensemble} · {metric}"
    members = members_of(results, ensemble)
    if members < 3:
        return Note(title, f"not drawn: a rank correlation across members needs at least 3 members, and "
                           f"ensemble {ensemble} has {members}.")
    if not np.isfinite(c["spearman"].to_numpy(float)).any():
        return Note(title, "not drawn: no rank correlation between tests is defined (the members' scores are "
                           "tied on every test).")
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
                        ax.text(j, i, f"{mat[i, j]:.2f}", ha="center", va="center", fontsize=6,
                                color="white" if abs(mat[i, j]) > 0.6 else "black")
        fig.colorbar(im, ax=ax, shrink=0.7, label="Spearman ρ")
        ax.set_title(f"{ensemble} · {metric}: rank correlation between tests{note}")
        row = {lab: mat[0, i] for lab, i in idx.items() if i and isnum(mat[0, i])}
        weakest = min(row, key=lambda k: abs(row[k])) if row else None
        alt = (f"Heatmap of Spearman correlations of {metric} across members of {ensemble} between {n} test "
               f"cells." + (f" The weakest correlation with {labels[0]} is {weakest} (ρ = {row[weakest]:.2f})."
                            if weakest else ""))
        guide = ("Each cell is the rank correlation of member scores between two tests; pale or blue cells "
                 "in the first row mean iid performance does not predict which member does well there.")
        return _encode(fig, _slug("corr", ensemble, metric), title, alt, guide)


def strip_plot(results: Results, ensemble: str, test: str) -> Figure | None:
    """Per-stratum / per-variant member scores with the ensemble mean and its CI."""
    m = results.table("metrics", "ensemble", "member", "test", "variant", "stratum", "metric", "value")
    if m is None:
        return None
    m = m[(m["ensemble"] == ensemble) & (m["test"] == test)]
    if m.empty:
        return None
    m = m.assign(variant=m["variant"].fillna("none"), stratum=m["stratum"].fillna("all"))
    metrics = list(dict.fromkeys(m["metric"]))[:4]
    s = results.table("summary", "ensemble", "test", "variant", "stratum", "metric", "mean")
    if s is not None:
        s = s[(s["ensemble"] == ensemble) & (s["test"] == test)]
    n_cells = max(len(_cells(m[m["metric"] == x])) for x in metrics)
    width = min(WIDTH, 3.0 + 0.55 * n_cells)
    with plt.rc_context(RC):
        fig, axes = plt.subplots(len(metrics), 1, figsize=(width, 1.9 * len(metrics) + 0.6), squeeze=False)
        for ax, metric in zip(axes[:, 0], metrics, strict=True):
            mm = m[m["metric"] == metric]
            cells = [c[1:] for c in _cells(mm)][:MAX_AXES * 2]
            for xi, (variant, stratum) in enumerate(cells):
                vals = mm[(mm["variant"] == variant) & (mm["stratum"] == stratum)]["value"].to_numpy(float)
                jitter = np.linspace(-0.18, 0.18, len(vals)) if len(vals) > 1 else np.zeros(1)
                ax.scatter(xi + jitter, vals, s=10, color=OKABE_ITO[0], alpha=0.75, lw=0, zorder=2)
                if s is not None:
                    row = s[(s["metric"] == metric) & (s["variant"].fillna("none") == variant)
                            & (s["stratum"].fillna("all") == stratum)]
                    if len(row):
                        r = row.iloc[0]
                        lo, hi = r.get("mean_ci_low"), r.get("mean_ci_high")
                        if isnum(lo) and isnum(hi):
                            ax.errorbar(xi + 0.32, r["mean"], yerr=[[r["mean"] - lo], [hi - r["mean"]]],
                                        fmt="D", ms=3.5, color=OKABE_ITO[3], capsize=2, lw=1, zorder=3)
                        else:
                            ax.plot(xi + 0.32, r["mean"], "D", ms=3.5, color=OKABE_ITO[3], zorder=3)
            labels = [cell_label("", v, st).lstrip(" ·") or "all" for v, st in cells]
            crowded = len(cells) > 6 or sum(len(x) for x in labels) * 0.075 > width - 1.0
            ax.set_xticks(range(len(cells)), labels, rotation=30 if crowded else 0,
                          ha="right" if crowded else "center")
            ax.set_ylabel(metric)
            ax.set_xlim(-0.6, len(cells) - 0.3)
            ax.grid(axis="y", color="#dddddd", lw=0.5)
        axes[0, 0].set_title(f"{ensemble} · {test}: member scores and the ensemble mean")
        axes[0, 0].legend(handles=[
            Line2D([], [], ls="", marker="o", ms=4, color=OKABE_ITO[0], label="member"),
            Line2D([], [], ls="-", marker="D", ms=3.5, color=OKABE_ITO[3], label="ensemble mean ± 95% CI")],
            loc="upper left", bbox_to_anchor=(1.0, 1.0), frameon=False)
        fig.tight_layout()
        alt = (f"Strip plots for ensemble {ensemble} on test {test}: one panel per metric "
               f"({', '.join(metrics)}), one column per variant or stratum, one dot per member, with the "
               "ensemble mean and its 95% confidence interval beside each column.")
        guide = ("Dots are members, diamonds the ensemble mean with its 95% CI; compare the vertical scatter of "
                 "dots between columns — a column whose dots spread far wider than the others is where members "
                 "disagree.")
        return _encode(fig, _slug("strip", ensemble, test), f"Member scores · {ensemble} · {test}", alt, guide)


def reliability(results: Results, ensemble: str, test: str) -> Figure | None:
    """Fig. 7: reliability curves of members, one panel per stratum / variant."""
    c = results.table("calibration", "ensemble", "member", "test", "confidence", "accuracy")
    if c is None:
        return None
    c = c[(c["ensemble"] == ensemble) & (c["test"] == test)].copy()
    if c.empty:
        return None
    c["variant"] = c["variant"].fillna("none") if "variant" in c else "none"
    c["stratum"] = c["stratum"].fillna("all") if "stratum" in c else "all"
    panels = list(dict.fromkeys(zip(c["variant"], c["stratum"], strict=True)))[:MAX_PANELS]
    highlight: list = []
    if "ece" in c.columns:
        ece = c.groupby(["variant", "stratum", "member"])["ece"].first()
        spread = ece.groupby(level=[0, 1]).agg(lambda x: x.max() - x.min())
        v, st = spread.idxmax()
        per = ece.loc[(v, st)]
        highlight = [per.idxmin(), per.idxmax()]
    members = list(dict.fromkeys(c["member"]))
    cols = min(3, len(panels))
    rows = int(np.ceil(len(panels) / cols))
    with plt.rc_context(RC):
        fig, axes = plt.subplots(rows, cols, figsize=(WIDTH, 2.4 * rows + 0.3), squeeze=False,
                                 sharex=True, sharey=True)
        for ax in axes.flat[len(panels):]:
            ax.set_visible(False)
        for ax, (variant, stratum) in zip(axes.flat, panels, strict=False):
            ax.plot([0, 1], [0, 1], color="#777777", lw=0.7, ls=":")
            d = c[(c["variant"] == variant) & (c["stratum"] == stratum)]
            for member in members:
                dm = d[d["member"] == member].dropna(subset=["confidence", "accuracy"]).sort_values("confidence")
                if "count" in dm:
                    dm = dm[dm["count"] > 0]
                if member in highlight:
                    k = highlight.index(member)
                    ax.plot(dm["confidence"], dm["accuracy"], marker="o", ms=2.5, lw=1.4,
                            color=(OKABE_ITO[1], OKABE_ITO[0])[k], label=f"{member} ({('best', 'worst')[k]} ECE)",
                            zorder=3)
                else:
                    ax.plot(dm["confidence"], dm["accuracy"], lw=0.7, color="#9a9a9a", alpha=0.7, zorder=2)
            ax.set_title(cell_label(test, variant, stratum), fontsize=8)
            ax.set_xlim(0, 1)
            ax.set_ylim(0, 1)
            ax.set_aspect("equal")
        for ax in axes[-1, :]:
            ax.set_xlabel("confidence")
        for ax in axes[:, 0]:
            ax.set_ylabel("accuracy")
        if highlight:
            axes.flat[0].legend(loc="upper left", frameon=False, fontsize=6)
        fig.suptitle(f"{ensemble} · {test}: reliability curves", fontsize=9)
        fig.tight_layout()
        alt = (f"Reliability curves of the {len(members)} members of {ensemble} on test {test}, one panel per "
               f"stratum ({len(panels)} panels); accuracy against confidence with the diagonal marking perfect "
               "calibration" + (f"; highlighted are {highlight[0]} and {highlight[1]}, the best- and "
                                f"worst-calibrated members where their ECE differs most." if highlight else "."))
        guide = ("Curves on the dotted diagonal are calibrated; members that coincide in one panel but separate "
                 "in another are calibrated differently on that stratum.")
        return _encode(fig, _slug("calib", ensemble, test), f"Calibration · {ensemble} · {test}", alt, guide)


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
        for ax in axes.flat[len(panels):]:
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
                ax.axhline(d["best_ref_member_value"].iloc[0], color=OKABE_ITO[3], ls="--", lw=1,
                           label="best member on iid")
            if "oracle_member_value" in d and d["oracle_member_value"].notna().any():
                ax.axhline(d["oracle_member_value"].iloc[0], color=OKABE_ITO[2], ls=":", lw=1,
                           label="best member on this test")
            first = d["smallest_k_beating_best"].dropna() if "smallest_k_beating_best" in d else pd.Series([])
            verdicts.append(f"{cell_label(test, variant, None)}: "
                            + (f"k = {int(first.iloc[0])}" if len(first) else "never"))
            ax.set_title(cell_label(test, variant, None), fontsize=8)
            ax.set_xlabel("members averaged (k)")
            ax.set_ylabel(metric or "metric")
        axes.flat[0].legend(loc="lower right", frameon=False, fontsize=6)
        fig.suptitle(f"{ensemble}: marginalize or select?", fontsize=9)
        fig.tight_layout()
        alt = (f"Marginalization curves for {ensemble}: the metric of the average of k members (solid, with "
               "±1 sd band) against the best single member chosen on iid (dashed) and on the test (dotted). "
               "Smallest k beating the best member: " + "; ".join(verdicts) + ".")
        guide = ("Where the solid curve rises above the dashed line, averaging members beats picking the "
                 "best one on iid; where it never does, selection matters on that stress test.")
        return _encode(fig, _slug("marg", ensemble), f"Marginalize or select · {ensemble}", alt, guide)


def flip_overlap(results: Results, ensemble: str, test: str, variant: str) -> Figure | None:
    """Fig. 15: share of one member's flipped decisions that another member also flips."""
    f = results.table("flips", "ensemble", "test", "member", "other_member", "kind", "value")
    if f is None:
        return None
    f = f[(f["ensemble"] == ensemble) & (f["test"] == test) & (f["kind"] == "overlap")]
    if "variant" in f:
        f = f[f["variant"].fillna("none") == variant]
    f = f[f["other_member"].notna()]
    if f.empty:
        return None
    mat = f.pivot_table(index="member", columns="other_member", values="value", aggfunc="mean")
    members = list(dict.fromkeys(list(mat.index) + list(mat.columns)))
    mat = mat.reindex(index=members, columns=members)
    n = len(members)
    with plt.rc_context(RC):
        size = min(WIDTH, 2.0 + 0.38 * n)
        fig, ax = plt.subplots(figsize=(size + 1.0, size))
        im = ax.imshow(np.ma.masked_invalid(mat.to_numpy(float)), cmap="cividis", vmin=0, vmax=1)
        ax.set_xticks(range(n), members, rotation=60, ha="right")
        ax.set_yticks(range(n), members)
        if n <= 14:
            for i in range(n):
                for j in range(n):
                    v = mat.iat[i, j]
                    if isnum(v):
                        ax.text(j, i, f"{100 * v:.0f}", ha="center", va="center", fontsize=6,
                                color="black" if v > 0.55 else "white")
        fig.colorbar(im, ax=ax, shrink=0.7, label="share of row member's flips also flipped by column member")
        ax.set_title(f"{ensemble} · {cell_label(test, variant, None)}: overlap of flipped decisions (%)")
        off = mat.to_numpy(float)[~np.eye(n, dtype=bool)]
        off = off[np.isfinite(off)]
        alt = (f"Heatmap of the overlap of flipped decisions between the {n} members of {ensemble} on the "
               f"contrastive test {test}: off-diagonal overlaps range from {100 * off.min():.0f}% to "
               f"{100 * off.max():.0f}% (median {100 * np.median(off):.0f}%)." if off.size else
               f"Heatmap of flipped-decision overlap for {ensemble} on {test}.")
        guide = ("Row m, column m′ is the share of m's flipped decisions that m′ also flips; low off-diagonal "
                 "values mean members flip on different examples, so one member's audit does not cover another.")
        return _encode(fig, _slug("flips", ensemble, test, variant), f"Flip overlap · {ensemble} · {test}",
                       alt, guide)


def pca_structure(results: Results, ensemble: str, test: str) -> Figure | Note | None:
    """Fig. 9: structure of disagreement — explained variance, PC1 loadings, PC1 vs attributes."""
    p = results.table("pca", "ensemble", "test", "kind", "component", "value")
    if p is None:
        return None
    p = p[(p["ensemble"] == ensemble) & (p["test"] == test)]
    if p.empty:
        return None
    variant = "none"
    if "variant" in p:
        p = p.assign(variant=p["variant"].fillna("none"))
        variants = list(dict.fromkeys(p["variant"]))
        variant = variants[0]
        s = results.table("summary", "ensemble", "test", "variant", "sd_ratio")
        if len(variants) > 1 and s is not None:  # show the variant where members spread most
            s = s[(s["ensemble"] == ensemble) & (s["test"] == test) & s["variant"].isin(variants)]
            if s["sd_ratio"].notna().any():
                variant = s.loc[s["sd_ratio"].idxmax(), "variant"]
        p = p[p["variant"] == variant]
    title = f"Structure of disagreement · {ensemble} · {test}"
    members = members_of(results, ensemble)
    if 0 < members < 3:
        return Note(title, f"not drawn: with {members} members the disagreement has a single direction by "
                           "construction; its principal axes need at least 3 members.")
    identifiers = identifier_columns(results, test)
    ex = p[p["kind"] == "explained"].sort_values("component")
    ld = p[(p["kind"] == "loading") & (p["component"] == 1)] if "member" in p else p.iloc[0:0]
    ac = p[(p["kind"] == "attribute_corr") & (p["component"] == 1)] if "attribute" in p else p.iloc[0:0]
    if len(ac):
        ac = ac[~ac["attribute"].map(lambda a: is_identifier(a, identifiers))].dropna(subset=["value"])
        identifiers |= {str(a) for a in p.loc[p["kind"] == "attribute_corr", "attribute"] if is_identifier(a, set())}
    sc = p[(p["kind"] == "score") & (p["component"] == 1)]
    scatter = None
    if "attribute" in sc.columns:
        sc = sc[~sc["attribute"].map(lambda a: a is not None and is_identifier(a, identifiers))]
    if "attribute_value" in sc.columns and pd.to_numeric(sc["attribute_value"], errors="coerce").notna().any():
        scatter = sc.assign(av=pd.to_numeric(sc["attribute_value"], errors="coerce")).dropna(subset=["av"])
    hist = sc if scatter is None and len(sc) else None
    panels = [x for x in (("explained", ex), ("loading", ld), ("attr", ac), ("scatter", scatter), ("hist", hist))
              if x[1] is not None and len(x[1])]
    if not panels:
        return None
    with plt.rc_context(RC):
        fig, axes = plt.subplots(1, len(panels), figsize=(WIDTH, 2.6), squeeze=False)
        for ax, (kind, d) in zip(axes[0], panels, strict=True):
            if kind == "explained":
                ax.bar(d["component"].astype(int).astype(str), d["value"], color=OKABE_ITO[0])
                ax.set_xlabel("component")
                ax.set_ylabel("share of variance")
                ax.set_title("explained variance")
            elif kind == "loading":
                ax.barh(d["member"].astype(str), d["value"], color=OKABE_ITO[2])
                ax.set_xlabel("PC1 loading")
                ax.set_title("members on PC1")
                ax.tick_params(axis="y", labelsize=5 if len(d) > 20 else 7)
            elif kind == "attr":
                ax.barh(d["attribute"].astype(str), d["value"], color=OKABE_ITO[1])
                ax.axvline(0, color="#555555", lw=0.6)
                ax.set_xlim(-1, 1)
                ax.set_xlabel("Spearman ρ with PC1 score")
                ax.set_title("PC1 vs example attributes")
            elif kind == "hist":
                ax.hist(d["value"].dropna().to_numpy(float), bins=30, color=OKABE_ITO[4])
                ax.set_xlabel("PC1 score")
                ax.set_ylabel("examples")
                ax.set_title("examples on PC1")
            else:
                ax.scatter(d["av"], d["value"], s=5, alpha=0.6, color=OKABE_ITO[0], lw=0, rasterized=True)
                ax.set_xlabel(str(d["attribute"].dropna().iloc[0]) if d["attribute"].notna().any() else "attribute")
                ax.set_ylabel("PC1 score")
                ax.set_title("PC1 score per example")
        fig.suptitle(f"{ensemble} · {cell_label(test, variant, None)}: principal axes of member disagreement",
                     fontsize=9)
        fig.tight_layout()
        pc1 = float(ex["value"].iloc[0]) if len(ex) else float("nan")
        top = ac.iloc[ac["value"].abs().argmax()] if len(ac) else None
        alt = (f"PCA of member disagreement for {ensemble} on {cell_label(test, variant, None)}: "
               + (f"PC1 explains {100 * pc1:.0f}% of the variance" if isnum(pc1) else "explained variance")
               + (f"; its strongest attribute correlation is {top['attribute']} (ρ = {top['value']:.2f})."
                  if top is not None else "."))
        guide = ("A large first component means members disagree along one main direction; a strong correlation "
                 "of that direction with an attribute says which kind of example the members split on"
                 + (" (shown for the variant with the largest sd ratio)." if variant != "none" else ".")
                 + ("" if len(ac) else " No numeric example attribute to correlate with PC1"
                    + (f" (identifiers such as {', '.join(sorted(identifiers))} are left out)." if identifiers
                       else ".")))
        return _encode(fig, _slug("pca", ensemble, test), title, alt, guide)


def group_strips(results: Results, ensemble: str, metric: str) -> Figure | None:
    """Fig. 11: members per group (nested seeds), with the group means and 95% CIs."""
    m = results.table("metrics", "ensemble", "member", "group", "test", "variant", "stratum", "metric", "value")
    if m is None:
        return None
    m = m[(m["ensemble"] == ensemble) & (m["metric"] == metric) & m["group"].notna()]
    if m.empty or m["group"].nunique() < 2:
        return None
    m = m.assign(variant=m["variant"].fillna("none"), stratum=m["stratum"].fillna("all"))
    ref = results.reference(ensemble)
    cells = _ordered_cells(results, m, ref)
    spread = {c: m[(m["test"] == c[0]) & (m["variant"] == c[1]) & (m["stratum"] == c[2])]["value"].std()
              for c in cells[1:]}
    cells = cells[:1] + sorted(spread, key=lambda k: -(spread[k] if isnum(spread[k]) else 0))[: MAX_PANELS - 1]
    groups = sorted(m["group"].astype(str).unique())
    s = results.table("summary", "ensemble", "test", "variant", "stratum", "metric", "anova_p")
    cols = min(3, len(cells))
    rows = int(np.ceil(len(cells) / cols))
    with plt.rc_context(RC):
        fig, axes = plt.subplots(rows, cols, figsize=(WIDTH, 2.2 * rows + 0.4), squeeze=False)
        for ax in axes.flat[len(cells):]:
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
                    ax.errorbar(gi + 0.3, v.mean(), yerr=half, fmt="_", ms=8, color="#333333", capsize=2, lw=1)
            title = cell_label(*cell)
            if s is not None:
                r = s[(s["ensemble"] == ensemble) & (s["test"] == cell[0]) & (s["metric"] == metric)
                      & (s["variant"].fillna("none") == cell[1]) & (s["stratum"].fillna("all") == cell[2])]
                if len(r) and isnum(r["anova_p"].iloc[0]):
                    title += f"\nANOVA p = {r['anova_p'].iloc[0]:.3g}"
            ax.set_title(title, fontsize=7, fontweight="bold" if cell == cells[0] else "normal")
            ax.set_xticks(range(len(groups)), groups, rotation=30 if len(groups) > 4 else 0)
            ax.set_ylabel(metric, fontsize=7)
        fig.suptitle(f"{ensemble} · {metric}: members by group, group mean ± 95% CI", fontsize=9)
        fig.tight_layout()
        alt = (f"Per-group strip plots for {ensemble}, metric {metric}: {len(groups)} groups "
               f"({', '.join(groups[:8])}), one panel per test cell ({len(cells)} panels) with the group "
               "means and 95% confidence intervals.")
        guide = ("Dots are members coloured by group (e.g. pretraining seed); group means that differ beyond "
                 "their CIs mean the earlier training stage already fixes part of the behaviour.")
        return _encode(fig, _slug("groups", ensemble, metric), f"Nested seeds · {ensemble} · {metric}", alt, guide)
