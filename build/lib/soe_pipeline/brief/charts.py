"""Charts for the brief, as inline SVG strings written by hand.

The brief has three small kinds of chart (KPI sparklines, open exceptions by type, the
projected available balance of a SKU-location), so their SVG elements are written here
directly. Drawing them with matplotlib cost about 0.9 s to import it and up to 0.17 s per
chart, on every pipeline run; this module builds a chart in well under a millisecond.

Sizes are px of the former 72 dpi figures. Each chart has a viewBox but no width or height,
so CSS scales it. Coordinates are printed with one decimal and nothing depends on the clock or
the machine, so the same data gives byte-identical SVG. Text is SVG text in DejaVu Sans or a
common fallback (label room is sized for DejaVu Sans, the widest of them). The charts define
no element ids, so the many SVGs of one HTML page cannot clash; `chart_id`, the prefix ids
would need, stays in the signatures unused.
"""

from __future__ import annotations

import math
from collections.abc import Callable, Iterable, Sequence
from html import escape

INK = "#1f2937"
MUTED = "#6b7280"
GRID = "#e5e7eb"
ACCENT = "#1d4ed8"
STOCKOUT = "#dc2626"
SAFETY = "#d97706"
DEMAND = "#cbd5e1"
RECEIPTS = "#86efac"
_IMPACT = "#0f766e"

_FONT = "DejaVu Sans, Arial, Helvetica, sans-serif"
_GLYPH = 0.62  # average advance of a DejaVu Sans glyph, in em: to size room for labels
_MIDDLE = 0.35  # how far below y, in em, the baseline of a vertically centred label goes

Point = tuple[float, float]
Box = tuple[float, float, float, float]


def _n(value: float) -> str:
    return f"{value:.1f}"


def _svg(css_class: str, title: str, width: float, height: float, body: Iterable[str]) -> str:
    label = escape(title)
    return (
        f'<svg class="{css_class}" role="img" aria-label="{label}" '
        f'viewBox="0 0 {_n(width)} {_n(height)}" xmlns="http://www.w3.org/2000/svg">'
        f"<title>{label}</title>{''.join(body)}</svg>"
    )


def _scale(low: float, high: float, start: float, end: float) -> Callable[[float], float]:
    """The linear map of data values low..high onto px start..end."""
    ratio = (end - start) / (high - low)
    return lambda value: start + (value - low) * ratio


def _path(points: Iterable[Point | None], colour: str, width: float, extra: str = "") -> str:
    """A line through the points; `None` lifts the pen (a gap)."""
    data, pen_down = [], False
    for point in points:
        if point is not None:
            data.append(f"{'L' if pen_down else 'M'}{_n(point[0])} {_n(point[1])}")
        pen_down = point is not None
    if not data:
        return ""
    return (
        f'<path d="{"".join(data)}" fill="none" stroke="{colour}" stroke-width="{width}"{extra}/>'
    )


def _segments(segments: Iterable[tuple[Point, Point]], colour: str, width: float) -> str:
    return _path((p for a, b in segments for p in (a, b, None)), colour, width)


def _boxes(boxes: Iterable[Box], fill: str, extra: str = "") -> str:
    """Rectangles (two opposite corners each) as one path: abutting ones show no seam."""
    data = "".join(f"M{_n(x0)} {_n(y0)}H{_n(x1)}V{_n(y1)}H{_n(x0)}Z" for x0, y0, x1, y1 in boxes)
    return f'<path d="{data}" fill="{fill}"{extra}/>' if data else ""


def _dots(points: Iterable[Point], colour: str, radius: float) -> str:
    circles = "".join(f'<circle cx="{_n(x)}" cy="{_n(y)}" r="{radius}"/>' for x, y in points)
    return f'<g fill="{colour}">{circles}</g>' if circles else ""


def _texts(
    labels: Iterable[tuple[float, float, str]], size: float, colour: str, anchor: str
) -> str:
    """Labels of one style; each is placed by the x and the baseline y given."""
    body = "".join(f'<text x="{_n(x)}" y="{_n(y)}">{escape(text)}</text>' for x, y, text in labels)
    if not body:
        return ""
    return (
        f'<g font-family="{_FONT}" font-size="{size}" fill="{colour}" '
        f'text-anchor="{anchor}">{body}</g>'
    )


def _ticks(low: float, high: float, most: int = 5) -> list[float]:
    """Round values in low..high, at most `most` steps apart: 3 to 5 ticks on the chart.

    A step is 1, 2, 2.5 or 5 times a power of ten and a whole number, since the labels
    (`_thousands`) print no decimals.
    """
    least = (high - low) / most
    magnitude = 10 ** math.floor(math.log10(least)) if least > 0 else 1
    steps = (m * magnitude for m in (1, 2, 2.5, 5, 10))
    step = next((s for s in steps if s >= least and float(s).is_integer()), 1)
    first, last = math.ceil(low / step - 1e-9), math.floor(high / step + 1e-9)
    return [i * step for i in range(first, last + 1)]


def _padded(low: float, high: float, fraction: float) -> tuple[float, float]:
    pad = (high - low) * fraction or max(abs(high) * 0.05, 0.5)
    return low - pad, high + pad


def _finite(value: float | None) -> float | None:
    return None if value is None or not math.isfinite(value) else float(value)


def sparkline_svg(values: Sequence[float], chart_id: str, title: str) -> str:
    """A small trend line over the weeks, the latest point marked."""
    width, height = 158.4, 39.6
    finite = [_finite(v) for v in values]
    points = [(i, v) for i, v in enumerate(finite) if v is not None]
    if not points:
        return _svg("sparkline", title, width, height, [])
    low, high = _padded(min(v for _, v in points), max(v for _, v in points), 0.15)
    x = _scale(-0.3, len(values) - 0.7, width * 0.01, width * 0.99)
    y = _scale(low, high, height * 0.96, height * 0.04)
    line = [None if v is None else (x(i), y(v)) for i, v in enumerate(finite)]
    last = (x(points[-1][0]), y(points[-1][1]))
    body = [
        _path(line, ACCENT, 1.4, ' stroke-linecap="round" stroke-linejoin="round"'),
        _dots([last], ACCENT, 2.1),
    ]
    return _svg("sparkline", title, width, height, body)


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
    labels = [str(t).replace("_", " ") for t in types]
    width, height = 756.0, (0.9 + 0.32 * len(labels)) * 72
    # Room for the longest type name at 8.5 px.
    left = min(0.4 * width, 30 + 8.5 * _GLYPH * max([len(label) for label in labels] + [8]))
    top, bottom = 30.2, height - 21.6
    panel = (width * 0.98 - left) / 2.08  # two panels, 8 % of one apart
    pitch = (bottom - top) / max(len(labels), 1)
    rows = [top + (row + 0.5) * pitch for row in range(len(labels))]
    body = [
        _texts(
            ((left - 3.5, y + 8.5 * _MIDDLE, label) for y, label in zip(rows, labels, strict=True)),
            8.5,
            INK,
            "end",
        )
    ]
    for start, values, name, colour, fmt in (
        (left, counts, "open exceptions", ACCENT, lambda v: f"{v:,.0f}"),
        (left + panel * 1.08, impacts, "impact value", _IMPACT, _thousands),
    ):
        body += _bar_panel(
            [float(v) for v in values],
            rows,
            pitch,
            (start, top, start + panel, bottom),
            name,
            colour,
            fmt,
        )
    return _svg("chart", "Open exceptions by type: count and impact value", width, height, body)


def _bar_panel(
    values: list[float],
    rows: list[float],
    pitch: float,
    frame: Box,
    name: str,
    colour: str,
    fmt: Callable[[float], str],
) -> list[str]:
    """One panel of horizontal bars at the rows' y, each value printed after its bar."""
    left, top, right, bottom = frame
    most = max([*values, 1.0])
    x = _scale(0, most * 1.16, left, right)
    ticks = _ticks(0, most * 1.16)
    half = 0.31 * pitch
    return [
        _texts([(left, top - 6, name)], 9, MUTED, "start"),
        _segments((((x(t), top), (x(t), bottom)) for t in ticks), GRID, 0.6),
        _boxes(
            ((x(0), y - half, x(max(v, 0)), y + half) for v, y in zip(values, rows, strict=True)),
            colour,
        ),
        _texts(
            (
                (x(max(v, 0) + most * 0.01), y + 8 * _MIDDLE, fmt(v))
                for v, y in zip(values, rows, strict=True)
            ),
            8,
            INK,
            "start",
        ),
        _path([(left, top), (left, bottom), (right, bottom)], GRID, 0.8),
        _segments((((x(t), bottom), (x(t), bottom + 3.5)) for t in ticks), MUTED, 0.8),
        _texts(((x(t), bottom + 13, _thousands(t)) for t in ticks), 8, MUTED, "middle"),
    ]


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
    width, height = 316.8, 136.8
    left, top, right, bottom = 38.0, 4.1, 313.6, 121.8
    balance = [_finite(v) for v in projected_available]
    safety = [_finite(v) for v in safety_stock]
    bars = [
        (offset, [_finite(v) or 0.0 for v in values], colour)
        for offset, values, colour in ((-0.19, demand, DEMAND), (0.19, receipts, RECEIPTS))
        if any(v is not None for v in values)
    ]
    levels = [0.0, *(v for v in balance + safety if v is not None)]
    levels += [v for _, values, _ in bars for v in values]
    low, high = _padded(min(levels), max(levels), 0.05)
    x = _scale(-0.6, len(week_labels) - 0.4, left, right)
    y = _scale(low, high, bottom, top)
    ticks = _ticks(low, high)
    weeks = range(len(week_labels))
    # Every label if they fit side by side, else every second, third...
    widest = max([len(label) for label in week_labels] + [1]) * 6.8 * _GLYPH + 3
    every = math.ceil(widest / (x(1) - x(0)))
    body = [
        _boxes(
            (
                (x(i - 0.5), top, x(i + 0.5), bottom)
                for i, short in enumerate(stockout_weeks)
                if short
            ),
            STOCKOUT,
            ' fill-opacity="0.1"',
        ),
        _segments((((left, y(t)), (right, y(t))) for t in ticks), GRID, 0.6),
        *(
            _boxes(
                (
                    (x(i + offset - 0.18), y(0), x(i + offset + 0.18), y(v))
                    for i, v in enumerate(values)
                    if v
                ),
                colour,
            )
            for offset, values, colour in bars
        ),
        _path(_steps(safety, x, y), SAFETY, 1.2, ' stroke-dasharray="4 2"'),
        _path(
            [None if v is None else (x(i), y(v)) for i, v in enumerate(balance)],
            ACCENT,
            1.8,
            ' stroke-linecap="round" stroke-linejoin="round"',
        ),
        _dots(((x(i), y(v)) for i, v in enumerate(balance) if v is not None), ACCENT, 1.8),
        _segments([((left, y(0)), (right, y(0)))], MUTED, 0.8),
        _path([(left, top), (left, bottom), (right, bottom)], GRID, 0.8),
        _segments((((left - 3.5, y(t)), (left, y(t))) for t in ticks), MUTED, 0.8),
        _texts(((left - 7, y(t) + 7.5 * _MIDDLE, _thousands(t)) for t in ticks), 7.5, MUTED, "end"),
        _segments((((x(i), bottom), (x(i), bottom + 2)) for i in weeks), MUTED, 0.8),
        _texts(
            ((x(i), bottom + 9.5, week_labels[i]) for i in weeks[::every]), 6.8, MUTED, "middle"
        ),
    ]
    return _svg("chart", title, width, height, body)


def _steps(
    levels: list[float | None], x: Callable[[float], float], y: Callable[[float], float]
) -> Iterable[Point | None]:
    """A step line: the level of week i spans i-0.5..i+0.5; `None` is a gap."""
    for week, level in enumerate(levels):
        if level is None:
            yield None
        else:
            yield from ((x(week - 0.5), y(level)), (x(week + 0.5), y(level)))


# (label, CSS for the swatch) in the order the chart draws them.
PROJECTION_LEGEND = (
    ("projected available balance", f"height:3px;background:{ACCENT}"),
    ("safety stock", f"height:0;border-top:2px dashed {SAFETY}"),
    ("demand", f"height:10px;background:{DEMAND}"),
    ("receipts", f"height:10px;background:{RECEIPTS}"),
    ("stockout week", "height:10px;background:rgba(220,38,38,0.15)"),
)
