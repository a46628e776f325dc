"""The per-test figures of the report: member scores per cell, reliability curves, flip overlap and the
structure of disagreement (see :mod:`uspec_audit.report.figures` for the conventions)."""

from __future__ import annotations

import matplotlib.pyplot as plt
import numpy as np
import pandas as pd
from matplotlib.lines import Line2D

from uspec_audit.report.figure_base import (
    MAX_AXES,
    MAX_PANELS,
    OKABE_ITO,
    RC,
    WIDTH,
    Figure,
    Note,
    cells_of,
    encode,
    members_of,
    slug,
)
from uspec_audit.report.tables import Results, cell_label, identifier_columns, is_identifier, isnum


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
    n_cells = max(len(cells_of(m[m["metric"] == x])) for x in metrics)
    width = min(WIDTH, 3.0 + 0.55 * n_cells)
    with plt.rc_context(RC):
        fig, axes = plt.subplots(len(metrics), 1, figsize=(width, 1.9 * len(metrics) + 0.6), squeeze=False)
        for ax, metric in zip(axes[:, 0], metrics, strict=True):
            mm = m[m["metric"] == metric]
            cells = [c[1:] for c in cells_of(mm)][: MAX_AXES * 2]
            for xi, (variant, stratum) in enumerate(cells):
                vals = mm[(mm["variant"] == variant) & (mm["stratum"] == stratum)]["value"].to_numpy(float)
                jitter = np.linspace(-0.18, 0.18, len(vals)) if len(vals) > 1 else np.zeros(1)
                ax.scatter(xi + jitter, vals, s=10, color=OKABE_ITO[0], alpha=0.75, lw=0, zorder=2)
                if s is not None:
                    row = s[
                        (s["metric"] == metric)
                        & (s["variant"].fillna("none") == variant)
                        & (s["stratum"].fillna("all") == stratum)
                    ]
                    if len(row):
                        r = row.iloc[0]
                        lo, hi = r.get("mean_ci_low"), r.get("mean_ci_high")
                        if isnum(lo) and isnum(hi):
                            ax.errorbar(
                                xi + 0.32,
                                r["mean"],
                                yerr=[[r["mean"] - lo], [hi - r["mean"]]],
                                fmt="D",
                                ms=3.5,
                                color=OKABE_ITO[3],
                                capsize=2,
                                lw=1,
                                zorder=3,
                            )
                        else:
                            ax.plot(xi + 0.32, r["mean"], "D", ms=3.5, color=OKABE_ITO[3], zorder=3)
            labels = [cell_label("", v, st).lstrip(" ·") or "all" for v, st in cells]
            crowded = len(cells) > 6 or sum(len(x) for x in labels) * 0.075 > width - 1.0
            ax.set_xticks(
                range(len(cells)), labels, rotation=30 if crowded else 0, ha="right" if crowded else "center"
            )
            ax.set_ylabel(metric)
            ax.set_xlim(-0.6, len(cells) - 0.3)
            ax.grid(axis="y", color="#dddddd", lw=0.5)
        axes[0, 0].set_title(f"{ensemble} · {test}: member scores and the ensemble mean")
        axes[0, 0].legend(
            handles=[
                Line2D([], [], ls="", marker="o", ms=4, color=OKABE_ITO[0], label="member"),
                Line2D(
                    [], [], ls="-", marker="D", ms=3.5, color=OKABE_ITO[3], label="ensemble mean ± 95% CI"
                ),
            ],
            loc="upper left",
            bbox_to_anchor=(1.0, 1.0),
            frameon=False,
        )
        fig.tight_layout()
        alt = (
            f"Strip plots for ensemble {ensemble} on test {test}: one panel per metric "
            f"({', '.join(metrics)}), one column per variant or stratum, one dot per member, with the "
            "ensemble mean and its 95% confidence interval beside each column."
        )
        guide = (
            "Dots are members, diamonds the ensemble mean with its 95% CI; compare the vertical scatter of "
            "dots between columns — a column whose dots spread far wider than the others is where members "
            "disagree."
        )
        return encode(fig, slug("strip", ensemble, test), f"Member scores · {ensemble} · {test}", alt, guide)


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
        fig, axes = plt.subplots(
            rows, cols, figsize=(WIDTH, 2.4 * rows + 0.3), squeeze=False, sharex=True, sharey=True
        )
        for ax in axes.flat[len(panels) :]:
            ax.set_visible(False)
        for ax, (variant, stratum) in zip(axes.flat, panels, strict=False):
            ax.plot([0, 1], [0, 1], color="#777777", lw=0.7, ls=":")
            d = c[(c["variant"] == variant) & (c["stratum"] == stratum)]
            for member in members:
                dm = (
                    d[d["member"] == member]
                    .dropna(subset=["confidence", "accuracy"])
                    .sort_values("confidence")
                )
                if "count" in dm:
                    dm = dm[dm["count"] > 0]
                if member in highlight:
                    k = highlight.index(member)
                    ax.plot(
                        dm["confidence"],
                        dm["accuracy"],
                        marker="o",
                        ms=2.5,
                        lw=1.4,
                        color=(OKABE_ITO[1], OKABE_ITO[0])[k],
                        label=f"{member} ({('best', 'worst')[k]} ECE)",
                        zorder=3,
                    )
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
        alt = (
            f"Reliability curves of the {len(members)} members of {ensemble} on test {test}, one panel per "
            f"stratum ({len(panels)} panels); accuracy against confidence with the diagonal marking perfect "
            "calibration"
            + (
                f"; highlighted are {highlight[0]} and {highlight[1]}, the best- and "
                f"worst-calibrated members where their ECE differs most."
                if highlight
                else "."
            )
        )
        guide = (
            "Curves on the dotted diagonal are calibrated; members that coincide in one panel but separate "
            "in another are calibrated differently on that stratum."
        )
        return encode(fig, slug("calib", ensemble, test), f"Calibration · {ensemble} · {test}", alt, guide)


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
                        ax.text(
                            j,
                            i,
                            f"{100 * v:.0f}",
                            ha="center",
                            va="center",
                            fontsize=6,
                            color="black" if v > 0.55 else "white",
                        )
        fig.colorbar(im, ax=ax, shrink=0.7, label="share of row member's flips also flipped by column member")
        ax.set_title(f"{ensemble} · {cell_label(test, variant, None)}: overlap of flipped decisions (%)")
        off = mat.to_numpy(float)[~np.eye(n, dtype=bool)]
        off = off[np.isfinite(off)]
        alt = (
            f"Heatmap of the overlap of flipped decisions between the {n} members of {ensemble} on the "
            f"contrastive test {test}: off-diagonal overlaps range from {100 * off.min():.0f}% to "
            f"{100 * off.max():.0f}% (median {100 * np.median(off):.0f}%)."
            if off.size
            else f"Heatmap of flipped-decision overlap for {ensemble} on {test}."
        )
        guide = (
            "Row m, column m′ is the share of m's flipped decisions that m′ also flips; low off-diagonal "
            "values mean members flip on different examples, so one member's audit does not cover another."
        )
        return encode(
            fig, slug("flips", ensemble, test, variant), f"Flip overlap · {ensemble} · {test}", alt, guide
        )


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
        return Note(
            title,
            f"not drawn: with {members} members the disagreement has a single direction by "
            "construction; its principal axes need at least 3 members.",
        )
    identifiers = identifier_columns(results, test)
    ex = p[p["kind"] == "explained"].sort_values("component")
    ld = p[(p["kind"] == "loading") & (p["component"] == 1)] if "member" in p else p.iloc[0:0]
    attribute_kinds = p["kind"].isin(["attribute_corr", "attribute_eta"])
    ac = p[attribute_kinds & (p["component"] == 1)] if "attribute" in p else p.iloc[0:0]
    if len(ac):
        ac = ac[~ac["attribute"].map(lambda a: is_identifier(a, identifiers))].dropna(subset=["value"])
        # numeric attributes show Spearman's rho, categorical ones (a camera, a skin type) the correlation ratio
        ac = ac.assign(
            label=[
                f"{a} (η)" if k == "attribute_eta" else f"{a} (ρ)"
                for a, k in zip(ac["attribute"].astype(str), ac["kind"], strict=True)
            ]
        )
        identifiers |= {str(a) for a in p.loc[attribute_kinds, "attribute"] if is_identifier(a, set())}
    sc = p[(p["kind"] == "score") & (p["component"] == 1)]
    scatter = None
    if "attribute" in sc.columns:
        sc = sc[~sc["attribute"].map(lambda a: a is not None and is_identifier(a, identifiers))]
    if (
        "attribute_value" in sc.columns
        and pd.to_numeric(sc["attribute_value"], errors="coerce").notna().any()
    ):
        scatter = sc.assign(av=pd.to_numeric(sc["attribute_value"], errors="coerce")).dropna(subset=["av"])
    hist = sc if scatter is None and len(sc) else None
    panels = [
        (kind, d)
        for kind, d in (
            ("explained", ex),
            ("loading", ld),
            ("attr", ac),
            ("scatter", scatter),
            ("hist", hist),
        )
        if d is not None and len(d)
    ]
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
                ax.barh(d["label"], d["value"], color=OKABE_ITO[1])
                ax.axvline(0, color="#555555", lw=0.6)
                ax.set_xlim(-1, 1)
                ax.set_xlabel("ρ (numeric) or η (categorical) with PC1")
                ax.set_title("PC1 vs example attributes")
            elif kind == "hist":
                ax.hist(d["value"].dropna().to_numpy(float), bins=30, color=OKABE_ITO[4])
                ax.set_xlabel("PC1 score")
                ax.set_ylabel("examples")
                ax.set_title("examples on PC1")
            else:
                ax.scatter(d["av"], d["value"], s=5, alpha=0.6, color=OKABE_ITO[0], lw=0, rasterized=True)
                ax.set_xlabel(
                    str(d["attribute"].dropna().iloc[0]) if d["attribute"].notna().any() else "attribute"
                )
                ax.set_ylabel("PC1 score")
                ax.set_title("PC1 score per example")
        fig.suptitle(
            f"{ensemble} · {cell_label(test, variant, None)}: principal axes of member disagreement",
            fontsize=9,
        )
        fig.tight_layout()
        pc1 = float(ex["value"].iloc[0]) if len(ex) else float("nan")
        top = ac.iloc[ac["value"].abs().argmax()] if len(ac) else None
        alt = (
            f"PCA of member disagreement for {ensemble} on {cell_label(test, variant, None)}: "
            + (f"PC1 explains {100 * pc1:.0f}% of the variance" if isnum(pc1) else "explained variance")
            + (
                f"; its strongest attribute correlation is {top['attribute']} "
                f"({'η' if top['kind'] == 'attribute_eta' else 'ρ'} = {top['value']:.2f})."
                if top is not None
                else "."
            )
        )
        guide = (
            "A large first component means members disagree along one main direction; a strong correlation "
            "of that direction with an attribute says which kind of example the members split on"
            + (" (shown for the variant with the largest sd ratio)." if variant != "none" else ".")
            + (
                ""
                if len(ac)
                else " No numeric example attribute to correlate with PC1"
                + (
                    f" (identifiers such as {', '.join(sorted(identifiers))} are left out)."
                    if identifiers
                    else "."
                )
            )
        )
        return encode(fig, slug("pca", ensemble, test), title, alt, guide)
