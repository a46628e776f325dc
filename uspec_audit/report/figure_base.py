"""What every report figure shares: the palette and style, the :class:`Figure` and :class:`Note` types,
SVG/PNG encoding, and the (member x cell) views of the metrics table."""

from __future__ import annotations

import base64
import io
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

import matplotlib

matplotlib.use("Agg")
import matplotlib.pyplot as plt  # noqa: E402
import pandas as pd  # noqa: E402
from matplotlib.rcsetup import cycler  # noqa: E402

from uspec_audit.report.tables import Results  # noqa: E402

if TYPE_CHECKING:
    from matplotlib.typing import RcKeyType

OKABE_ITO = ("#0072B2", "#E69F00", "#009E73", "#D55E00", "#CC79A7", "#56B4E9", "#000000", "#F0E442")
LINESTYLES = ("-", "--", ":", "-.")
WIDTH = 7.0  # inches: fits an A4 / Letter page with margins
MAX_AXES = 24  # columns of a parallel-axis or strip plot
MAX_PANELS = 6
SVG_LIMIT = 200_000  # bytes; a bigger SVG is replaced by a PNG

RC: dict[RcKeyType, Any] = {
    "font.size": 8,
    "axes.titlesize": 9,
    "axes.labelsize": 8,
    "xtick.labelsize": 7,
    "ytick.labelsize": 7,
    "legend.fontsize": 7,
    "axes.spines.top": False,
    "axes.spines.right": False,
    "svg.hashsalt": "uspec-audit",
    "axes.prop_cycle": cycler(color=OKABE_ITO),
    "figure.dpi": 100,
    "svg.fonttype": "none",
    "font.family": "sans-serif",
    "font.sans-serif": ["DejaVu Sans", "Liberation Sans", "Arial", "Helvetica"],
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


def encode(fig, fid: str, title: str, alt: str, guide: str) -> Figure:
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


def slug(*parts: object) -> str:
    text = "-".join(str(p) for p in parts if p is not None)
    return "fig-" + "".join(c if c.isalnum() else "-" for c in text.lower()).strip("-")


def style(i: int) -> dict:
    return {"color": OKABE_ITO[i % len(OKABE_ITO)], "linestyle": LINESTYLES[(i // len(OKABE_ITO)) % 4]}


def cells_of(df: pd.DataFrame) -> list[tuple]:
    return list(dict.fromkeys(zip(df["test"], df["variant"], df["stratum"], strict=True)))


def ordered_cells(results: Results, df: pd.DataFrame, ref: str) -> list[tuple]:
    order = {t: i for i, t in enumerate(results.test_names())}
    cells = cells_of(df)
    return sorted(cells, key=lambda c: (c[0] != ref, order.get(c[0], 999), cells.index(c)))


def member_matrix(results: Results, ensemble: str, metric: str) -> pd.DataFrame | None:
    m = results.table("metrics", "ensemble", "member", "test", "variant", "stratum", "metric", "value")
    if m is None:
        return None
    m = m[(m["ensemble"] == ensemble) & (m["metric"] == metric)]
    if m.empty:
        return None
    m = m.assign(variant=m["variant"].fillna("none"), stratum=m["stratum"].fillna("all"))
    return m.pivot_table(
        index="member", columns=["test", "variant", "stratum"], values="value", aggfunc="mean"
    )
