"""Charts for the brief, as inline SVG strings (matplotlib's object API, SVG backend).

Every chart is rendered with glyphs as paths (DejaVu Sans ships with matplotlib, so the
output does not depend on the fonts of the machine that renders or opens it), a fixed
`svg.hashsalt` and no date metadata, so the same data gives byte-identical SVG. Element
ids are prefixed per chart because many SVGs share one HTML document.

Figures are made with `Figure` rather than pyplot: no global figure registry to add to and
close (a few ms per chart), and nothing here depends on the thread it runs in.
"""

from __future__ import annotations

import io
import re
from collections.abc import Sequence
from html import escape

import matplotlib
from matplotlib.figure import Figure
from matplotlib.ticker import FuncFormatter, MaxNLocator

INK = "#1f2937"
MUTED = "#6b7280"
GRID = "#e5e7eb"
ACCENT = "#1d4ed8"
STOCKOUT = "#dc2626"
SAFETY = "#d97706"
DEMAND = "#cbd5e1"
RECEIPTS = "#86efac"

_STYLE = {
    "svg.fonttype": "path",
    "svg.hashsalt": "soe-brief",
    "font.family": "DejaVu Sans",
    "font.size": 8,
    "axes.edgecolor": GRID,
    "axes.labelcolor": MUTED,
    "axes.spines.top": False,
    "axes.spines.right": False,
    "xtick.color": MUTED,
    "ytick.color": MUTED,
    "text.color": INK,
    "figure.dpi": 72,
    "path.simplify": False,
}

_ID = re.compile(r'\bid="([^"]+)"')
# Where an id is defined or referenced: id="x", url(#x), href="#x".
_ID_REFERENCE = re.compile(r'(?<=id=")[^"]+(?=")|(?<=url\(#)[^)]+(?=\))|(?<=href="#)[^"]+(?=")')
_COMMENT = re.compile(r"<!--.*?-->", re.DOTALL)
_METADATA = re.compile(r"<metadata>.*?</metadata>\s*", re.DOTALL)


def _to_svg(figure: Figure, chart_id: str, title: str, css_class: str) -> str:
    """The figure as an inline <svg>: ids prefixed, no XML prolog, scalable through CSS."""
    buffer = io.StringIO()
    figure.savefig(buffer, format="svg", metadata={"Date": None}, transparent=True)
    svg = buffer.getvalue()
    svg = svg[svg.index("<svg") :]
    svg = _METADATA.sub("", _COMMENT.sub("", svg))
    ids = set(_ID.findall(svg))
    # One pass over the text (a chart has hundreds of ids: replacing them one by one rescanned it).
    svg = _ID_REFERENCE.sub(
        lambda found: f"{chart_id}-{found[0]}" if found[0] in ids else found[0], svg
    )
    # Drop the fixed size in points: the viewBox keeps the proportions, CSS sets the width.
    svg = re.sub(r'^<svg([^>]*?) width="[^"]*" height="[^"]*"', r"<svg\1", svg, count=1)
    head = f'<svg class="{css_class}" role="img" aria-label="{escape(title)}"'
    svg = head + svg[len("<svg") :]
    svg = svg.replace(">", f"><title>{escape(title)}</title>", 1)
    return re.sub(r">\s+<", ">\n<", svg).strip()


def sparkline_svg(values: Sequence[float], chart_id: str, title: str) -> str:
    """A small trend line over the weeks, the latest point marked."""
    with matplotlib.rc_context(_STYLE):
        figure = Figure(figsize=(2.2, 0.55))
        axes = figure.subplots()
        positions = range(len(values))
        axes.plot(positions, values, color=ACCENT, linewidth=1.4, solid_capstyle="round")
        axes.plot([len(values) - 1], [values[-1]], marker="o", markersize=3.2, color=ACCENT)
        low, high = min(values), max(values)
        pad = (high - low) * 0.15 or max(abs(high) * 0.05, 0.5)
        axes.set_ylim(low - pad, high + pad)
        axes.set_xlim(-0.3, len(values) - 0.7)
        axes.axis("off")
        figure.subplots_adjust(left=0.01, right=0.99, top=0.96, bottom=0.04)
        return _to_svg(figure, chart_id, title, "sparkline")


def _thousands(value: float, _position: object = None) -> str:
    if abs(value) >= 1_000_000:
        return f"{value / 1_000_000:,.1f}M"
    if abs(value) >= 10_000:
        return f"{value / 1_000:,.0f}k"
    return f"{value:,.0f}"


def exceptions_by_type_svg(
    types: Sequence[str], counts: Sequence[int], impacts: Sequence[float], chart_id: str
) -> str:
    """Two aligned horizontal bar panels: how many open exceptions, and their impact."""
    height = 0.9 + 0.32 * len(types)
    with matplotlib.rc_context(_STYLE):
        figure = Figure(figsize=(10.5, height))
        count_axes, impact_axes = figure.subplots(1, 2, sharey=True, gridspec_kw={"wspace": 0.08})
        rows = list(range(len(types)))
        for axes, values, label, color, fmt in (
            (count_axes, counts, "open exceptions", ACCENT, lambda v: f"{v:,.0f}"),
            (impact_axes, impacts, "impact value", "#0f766e", _thousands),
        ):
            axes.barh(rows, values, color=color, height=0.62)
            top = max([float(v) for v in values] + [1.0])
            axes.set_xlim(0, top * 1.16)
            for row, value in zip(rows, values, strict=True):
                axes.text(
                    float(value) + top * 0.01,
                    row,
                    fmt(float(value)),
                    va="center",
                    ha="left",
                    fontsize=8,
                    color=INK,
                )
            axes.set_title(label, loc="left", fontsize=9, color=MUTED)
            axes.xaxis.set_major_locator(MaxNLocator(4, integer=True))
            axes.xaxis.set_major_formatter(FuncFormatter(_thousands))
            axes.grid(axis="x", color=GRID, linewidth=0.6)
            axes.set_axisbelow(True)
            axes.tick_params(axis="y", length=0)
        labels = [str(t).replace("_", " ") for t in types]
        count_axes.set_yticks(rows, labels, fontsize=8.5, color=INK)
        count_axes.invert_yaxis()
        # Room for the longest type name (about 0.075 in per character at 8.5 pt).
        left = min(0.4, 0.04 + 0.0072 * max([len(label) for label in labels] + [8]))
        figure.subplots_adjust(left=left, right=0.98, top=1 - 0.42 / height, bottom=0.3 / height)
        return _to_svg(figure, chart_id, "Open exceptions by type: count and impact value", "chart")


def projection_svg(
    week_labels: Sequence[str],
    projected_available: Sequence[float],
    safety_stock: Sequence[float | None],
    demand: Sequence[float | None],
    receipts: Sequence[float | None],
    stockout_weeks: Sequence[bool],
    chart_id: str,
    title: str,
) -> str:
    """Projected available balance over the horizon against safety stock.

    Demand and receipts are pale bars behind the balance line; weeks that run out are shaded.
    The legend is shared by all these charts and drawn in HTML (`PROJECTION_LEGEND`).
    """
    positions = list(range(len(week_labels)))
    with matplotlib.rc_context(_STYLE):
        figure = Figure(figsize=(4.4, 1.9))
        axes = figure.subplots()
        for position, short in zip(positions, stockout_weeks, strict=True):
            if short:
                axes.axvspan(position - 0.5, position + 0.5, color=STOCKOUT, alpha=0.10, lw=0)
        if any(v is not None for v in demand):
            axes.bar(
                [p - 0.19 for p in positions],
                [v or 0.0 for v in demand],
                width=0.36,
                color=DEMAND,
            )
        if any(v is not None for v in receipts):
            axes.bar(
                [p + 0.19 for p in positions],
                [v or 0.0 for v in receipts],
                width=0.36,
                color=RECEIPTS,
            )
        if any(v is not None for v in safety_stock):
            axes.step(
                positions,
                [float("nan") if v is None else v for v in safety_stock],
                where="mid",
                color=SAFETY,
                linewidth=1.2,
                linestyle=(0, (4, 2)),
            )
        axes.plot(
            positions,
            projected_available,
            color=ACCENT,
            linewidth=1.8,
            marker="o",
            markersize=2.6,
        )
        axes.axhline(0, color=MUTED, linewidth=0.8)
        axes.set_xlim(-0.6, len(positions) - 0.4)
        axes.set_xticks(positions, list(week_labels), fontsize=6.8)
        axes.yaxis.set_major_locator(MaxNLocator(4))
        axes.yaxis.set_major_formatter(FuncFormatter(_thousands))
        axes.tick_params(axis="y", labelsize=7.5)
        axes.tick_params(axis="x", length=2, pad=2)
        axes.grid(axis="y", color=GRID, linewidth=0.6)
        axes.set_axisbelow(True)
        figure.subplots_adjust(left=0.12, right=0.99, top=0.97, bottom=0.11)
        return _to_svg(figure, chart_id, title, "chart")


# (label, CSS for the swatch) in the order the chart draws them.
PROJECTION_LEGEND = (
    ("projected available balance", f"height:3px;background:{ACCENT}"),
    ("safety stock", f"height:0;border-top:2px dashed {SAFETY}"),
    ("demand", f"height:10px;background:{DEMAND}"),
    ("receipts", f"height:10px;background:{RECEIPTS}"),
    ("stockout week", "height:10px;background:rgba(220,38,38,0.15)"),
)
