"""The report section ``template/group-gap``: the ``group_gap`` table of the ``template/group-gap`` kind, as a
table and a figure in the HTML and PDF reports and a table in the Markdown report."""

from __future__ import annotations

import pandas as pd

from uspec_audit import ReportSectionSpec, SectionRequest


def _mean_gaps(request: SectionRequest) -> pd.DataFrame | None:
    gaps = request.results.table("group_gap", "ensemble", "test", "variant", "gap")
    if gaps is None:
        return None  # no such test in this audit: the section is left out
    return (
        gaps.groupby(["ensemble", "test", "variant"], sort=False)["gap"]
        .agg(mean_gap="mean", max_gap="max")
        .reset_index()
    )


def html(request: SectionRequest) -> str | None:
    gaps = _mean_gaps(request)
    if gaps is None:
        return None
    import matplotlib.pyplot as plt

    fig, ax = plt.subplots(figsize=(6.5, 2.6))
    for (ensemble, test), part in gaps.groupby(["ensemble", "test"], sort=False):
        ax.plot(part["variant"], part["mean_gap"], marker="o", label=f"{ensemble} / {test}")
    ax.set_ylabel("mean gap between groups")
    ax.tick_params(axis="x", labelrotation=30)
    ax.legend(frameon=False)
    rows = [
        [r.ensemble, r.test, r.variant, f"{r.mean_gap:.3f}", f"{r.max_gap:.3f}"] for r in gaps.itertuples()
    ]
    return "\n".join(
        [
            request.heading(),
            "<p>How far apart each member's best and worst group are, unperturbed and under each perturbation. "
            "A gap that grows under a perturbation means it hurts some groups more than others.</p>",
            request.table(
                ["ensemble", "test", "variant", "mean gap", "largest gap"],
                rows,
                caption="Gap between the best and the worst group, averaged over members and the largest.",
            ),
            request.figure(
                fig,
                title="Gap between groups per variant",
                alt="Line chart of the mean gap per variant.",
                guide="One line per ensemble and test; the first point is the unperturbed data.",
            ),
        ]
    )


def markdown(request: SectionRequest) -> str | None:
    gaps = _mean_gaps(request)
    if gaps is None:
        return None
    lines = [
        "### Gap between groups",
        "",
        "| ensemble | test | variant | mean gap | largest gap |",
        "|---|---|---|---:|---:|",
    ]
    lines += [
        f"| {r.ensemble} | {r.test} | {r.variant} | {r.mean_gap:.3f} | {r.max_gap:.3f} |"
        for r in gaps.itertuples()
    ]
    return "\n".join(lines)


GAP_SECTION = ReportSectionSpec(
    name="template/group-gap",
    title="Gap between groups",
    html=html,
    markdown=markdown,
    doc="The group_gap table of template/group-gap tests, with a figure.",
)
