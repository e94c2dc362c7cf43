"""SVG charts of the results dashboard, drawn on the server: interval plots, bars, lines.

Each function returns a self-contained ``<svg>`` as :class:`markupsafe.Markup`; every piece of
text in it is escaped here. Colours are not set here: elements carry classes (``tone-win``,
``series-2``) that the dashboard's stylesheet colours, so meaning and palette live in one place.
Values ride along as ``data-*`` attributes, which the browser test reads.
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from typing import TYPE_CHECKING

from markupsafe import Markup, escape

if TYPE_CHECKING:
    from collections.abc import Callable, Sequence


@dataclass(frozen=True)
class IntervalRow:
    """One treatment in an interval plot: its effect and interval against control."""

    label: str
    effect: float | None
    low: float | None
    high: float | None
    tone: str  # win, lose, flat or muted
    note: str = ""  # shown instead of the bar when there is no interval


@dataclass(frozen=True)
class Series:
    """One line of a line chart: a value per x position (None where there is no value)."""

    name: str
    index: int  # picks the colour (series-<index>)
    values: Sequence[float | None]


def nice_ticks(lo: float, hi: float, count: int = 5) -> list[float]:
    """Round tick values covering [lo, hi], about ``count`` of them (1, 2 or 5 times 10^k)."""
    if not (math.isfinite(lo) and math.isfinite(hi)):
        return [0.0, 1.0]
    if hi - lo <= 0:
        pad = abs(hi) * 0.1 or 1.0
        lo, hi = lo - pad, hi + pad
    raw = (hi - lo) / max(count, 1)
    exponent = math.floor(math.log10(raw))
    fraction = raw / 10**exponent
    step = (1 if fraction <= 1 else 2 if fraction <= 2 else 5 if fraction <= 5 else 10) * (
        10**exponent
    )
    first = math.floor(lo / step + 1e-9)
    last = math.ceil(hi / step - 1e-9)
    return [round(i * step, 12) for i in range(first, last + 1)]


def _n(x: float) -> str:
    """A coordinate, short."""
    return f"{x:.1f}".rstrip("0").rstrip(".")


def _svg(width: int, height: int, label: str, body: list[str], kind: str) -> Markup:
    # Every piece of text in ``body`` and here went through escape(); the rest is numbers.
    return Markup(  # noqa: S704
        f'<svg class="chart chart-{kind}" data-chart="{kind}" viewBox="0 0 {width} {height}"'
        f' role="img" aria-label="{escape(label)}" preserveAspectRatio="xMidYMid meet">'
        f"<title>{escape(label)}</title>{''.join(body)}</svg>"
    )


def interval_plot(
    rows: Sequence[IntervalRow],
    fmt: Callable[[float], str],
    label: str,
    axis: Callable[[float], str] | None = None,
) -> Markup:
    """Each treatment's effect (dot) and interval (bar) against a zero line; ``fmt`` writes
    values, ``axis`` the round ticks (``fmt`` when not given)."""
    width, left, right, top, row_h = 960, 150, 36, 12, 44
    axis = axis or fmt
    height = top + row_h * max(len(rows), 1) + 30
    points = [0.0]
    for r in rows:
        points.extend(x for x in (r.low, r.high, r.effect) if x is not None)
    ticks = nice_ticks(min(points), max(points), 5)
    lo, hi = ticks[0], ticks[-1]

    def x(v: float) -> float:
        """The horizontal position of an effect value."""
        return left + (v - lo) / (hi - lo) * (width - left - right)

    bottom = top + row_h * max(len(rows), 1)
    body = ['<g class="axis">']
    for t in ticks:
        body.append(
            f'<line class="grid" x1="{_n(x(t))}" x2="{_n(x(t))}" y1="{top}" y2="{bottom}"/>'
            f'<text x="{_n(x(t))}" y="{bottom + 18}" text-anchor="middle">{escape(axis(t))}</text>'
        )
    body.append(
        f'<line class="zero" x1="{_n(x(0))}" x2="{_n(x(0))}" y1="{top - 4}" y2="{bottom}"/></g>'
    )
    for i, r in enumerate(rows):
        cy = top + row_h * i + row_h / 2
        attrs = f'class="row tone-{escape(r.tone)}" data-variant="{escape(r.label)}"'
        for name, value in (("effect", r.effect), ("low", r.low), ("high", r.high)):
            if value is not None:
                attrs += f' data-{name}="{value!r}"'
        body.append(f"<g {attrs}>")
        body.append(
            f'<text class="label" x="{left - 12}" y="{_n(cy + 4)}" text-anchor="end">'
            f"{escape(r.label)}</text>"
        )
        if r.low is not None and r.high is not None and r.effect is not None:
            body.append(
                f'<line class="interval" x1="{_n(x(r.low))}" x2="{_n(x(r.high))}"'
                f' y1="{_n(cy)}" y2="{_n(cy)}"/>'
                f'<circle class="effect" cx="{_n(x(r.effect))}" cy="{_n(cy)}" r="6">'
                f"<title>{escape(r.label)}: {escape(fmt(r.effect))} "
                f"[{escape(fmt(r.low))}, {escape(fmt(r.high))}]</title></circle>"
            )
        else:
            body.append(
                f'<text class="note" x="{_n(x(0) + 10)}" y="{_n(cy + 4)}">{escape(r.note)}</text>'
            )
        body.append("</g>")
    return _svg(width, height, label, body, "interval")


def chance_bars(rows: Sequence[tuple[str, float | None, str]], label: str) -> Markup:
    """Horizontal bars of each treatment's chance to beat control, with the 50% mark."""
    width, left, right, row_h = 960, 150, 90, 36
    height = row_h * max(len(rows), 1) + 8
    span = width - left - right
    body = []
    for i, (name, chance, tone) in enumerate(rows):
        y = 4 + row_h * i
        attrs = f'class="row tone-{escape(tone)}" data-variant="{escape(name)}"'
        if chance is not None:
            attrs += f' data-chance="{chance!r}"'
        text = "—" if chance is None else f"{chance * 100:.1f}%"
        body.append(
            f"<g {attrs}>"
            f'<text class="label" x="{left - 12}" y="{y + 19}" text-anchor="end">'
            f"{escape(name)}</text>"
            f'<rect class="track" x="{left}" y="{y + 6}" width="{span}" height="18" rx="4"/>'
        )
        if chance is not None:
            body.append(
                f'<rect class="bar" x="{left}" y="{y + 6}" width="{_n(span * chance)}"'
                f' height="18" rx="4"/>'
            )
        body.append(
            f'<text class="value" x="{width - right + 10}" y="{y + 19}">{escape(text)}</text></g>'
        )
    mid = left + span / 2
    body.append(f'<line class="zero" x1="{_n(mid)}" x2="{_n(mid)}" y1="2" y2="{height - 2}"/>')
    return _svg(width, height, label, body, "chance")


def _labelled(n: int, most: int) -> list[int]:
    """Which of ``n`` x positions get a label: evenly spaced, first and last included."""
    if n <= most:
        return list(range(n))
    step = math.ceil((n - 1) / (most - 1))
    picked = list(range(0, n - 1, step))
    if n - 1 - picked[-1] < step * 0.8:  # too close to the last label
        picked.pop()
    return [*picked, n - 1]


def line_chart(
    series: Sequence[Series],
    x_labels: Sequence[str],
    fmt: Callable[[float], str],
    label: str,
    *,
    kind: str,
    from_zero: bool = False,
    axis: Callable[[float], str] | None = None,
) -> Markup:
    """One line per series over the x positions, with a y axis of round ticks and a few dates;
    ``fmt`` writes values, ``axis`` the ticks (``fmt`` when not given)."""
    width, height, left, right, top, bottom = 560, 250, 56, 12, 12, 30
    axis = axis or fmt
    n = len(x_labels)
    values = [v for s in series for v in s.values if v is not None]
    lo = min([*values, 0.0] if from_zero else values or [0.0])
    hi = max(values or [1.0])
    if not from_zero:  # keep lines off the frame
        pad = (hi - lo) * 0.08
        lo, hi = lo - pad, hi + pad
    ticks = nice_ticks(lo, hi, 4)
    y_lo, y_hi = ticks[0], ticks[-1]
    plot_w, plot_h = width - left - right, height - top - bottom

    def x(i: int) -> float:
        """The horizontal position of the i-th point (centred when there is one)."""
        return left + (plot_w / 2 if n == 1 else plot_w * i / (n - 1))

    def y(v: float) -> float:
        """The vertical position of a value (SVG's y grows downwards)."""
        return top + plot_h * (1 - (v - y_lo) / (y_hi - y_lo))

    body = ['<g class="axis">']
    for t in ticks:
        body.append(
            f'<line class="grid" x1="{left}" x2="{width - right}" y1="{_n(y(t))}" y2="{_n(y(t))}"/>'
            f'<text x="{left - 8}" y="{_n(y(t) + 4)}" text-anchor="end">{escape(axis(t))}</text>'
        )
    for i in _labelled(n, 6):
        anchor = "middle" if n == 1 else "start" if i == 0 else "end" if i == n - 1 else "middle"
        body.append(
            f'<text x="{_n(x(i))}" y="{height - 10}" text-anchor="{anchor}">'
            f"{escape(x_labels[i])}</text>"
        )
    body.append("</g>")
    for s in series:
        pts = [(x(i), y(v), v, i) for i, v in enumerate(s.values) if v is not None]
        last = next((v for v in reversed(s.values) if v is not None), None)
        attrs = f'class="series series-{s.index}" data-series="{escape(s.name)}"'
        if last is not None:
            attrs += f' data-last="{last!r}"'
        body.append(f"<g {attrs}>")
        if len(pts) > 1:
            path = " ".join(f"{_n(px)},{_n(py)}" for px, py, _, _ in pts)
            body.append(f'<polyline class="line" points="{path}"/>')
        if len(pts) <= 31:  # dots while they stay readable; each tells its value on hover
            for px, py, v, i in pts:
                body.append(
                    f'<circle class="dot" cx="{_n(px)}" cy="{_n(py)}" r="3.5">'
                    f"<title>{escape(s.name)} · {escape(x_labels[i])}: {escape(fmt(v))}</title>"
                    "</circle>"
                )
        body.append("</g>")
    return _svg(width, height, label, body, kind)
