"""The pages' pictures as geometry: horizontal bar charts and histograms that ``templates/charts.html.j2`` draws as inline SVG.

Everything here is pure arithmetic on plain numbers and labels; the template
writes the ``<svg>`` elements, so labels (student names, check ids) reach
the page through autoescaping like any other text. Each chart has a title
(its alt text, read by screen readers) and each bar a tooltip with its value.
"""

from __future__ import annotations

import math
from bisect import bisect_right
from collections.abc import Sequence
from dataclasses import dataclass

from grader.reporters import clean_text

BLUE, ORANGE, RED, GREY = "#4c72b0", "#dd8452", "#c44e52", "#bbbbbb"
CHAR_WIDTH = 7.0  # px per character of a 12 px label: room is reserved for labels, which SVG cannot measure
LABEL_LIMIT = 40
BAR_HEIGHT, BAR_GAP = 20.0, 8.0


@dataclass(frozen=True)
class Tick:
    """A gridline at ``at`` (px along the value axis) labelled ``label``."""

    at: float
    label: str


@dataclass(frozen=True)
class Segment:
    """One coloured piece of a bar: from ``x`` (px), ``width`` px wide; ``tooltip`` names its value."""

    x: float
    width: float
    colour: str
    tooltip: str


@dataclass(frozen=True)
class Bar:
    """A labelled row of a bar chart, its top at ``y`` (px)."""

    label: str
    y: float
    segments: tuple[Segment, ...]


@dataclass(frozen=True)
class Frame:
    """A chart's title (its alt text) and size, and its plot area ``left..right`` × ``top..bottom`` (px)."""

    title: str
    width: float
    height: float
    left: float
    right: float
    top: float
    bottom: float


@dataclass(frozen=True)
class BarChart:
    """Horizontal bars, one row per label, on a value axis from 0 (at the frame's ``left``) to its ``right``."""

    frame: Frame
    bars: tuple[Bar, ...]
    ticks: tuple[Tick, ...]
    axis_label: str
    legend: tuple[tuple[str, str], ...]  # (colour, name)
    bar_height: float = BAR_HEIGHT


@dataclass(frozen=True)
class Column:
    """A histogram bin: its rectangle (px) and how many values fell in it."""

    x: float
    y: float
    width: float
    height: float
    tooltip: str


@dataclass(frozen=True)
class Histogram:
    """A small histogram: columns over ``x_ticks`` (scores), counts on ``y_ticks``."""

    frame: Frame
    columns: tuple[Column, ...]
    x_ticks: tuple[Tick, ...]
    y_ticks: tuple[Tick, ...]
    colour: str = BLUE


def tick_values(top: float, *, whole: bool, most: int = 6) -> list[float]:
    """Round tick values from 0 up to the first at or past ``top`` (steps of 1, 2 or 5 times a power of ten; whole numbers if ``whole``)."""
    top = top if top > 0 else 1.0
    raw = top / most
    magnitude = 10.0 ** math.floor(math.log10(raw))
    step = next(m * magnitude for m in (1, 2, 5, 10) if m * magnitude >= raw * (1 - 1e-9))
    if whole:
        step = max(1.0, round(step))
    count = math.ceil(top / step - 1e-9)
    return [round(i * step, 10) for i in range(count + 1)]


def number(value: float) -> str:
    """A tick or tooltip number: ``3``, ``2.5``, ``0.25`` (at most three significant digits after rounding)."""
    return f"{value:.3g}"


def bar_chart(
    title: str,
    rows: Sequence[tuple[str, Sequence[tuple[float, str]]]],
    axis_label: str,
    *,
    whole: bool = True,
    legend: Sequence[tuple[str, str]] = (),
    unit: str = "",
) -> BarChart:
    """Horizontal bars, first row on top: each row is a label and its segments ``(value, colour)``, stacked left to right."""
    labels = [clean_text(label, LABEL_LIMIT) for label, _ in rows]
    left = round(12 + CHAR_WIDTH * max((len(label) for label in labels), default=1))
    right = left + 420.0
    top = 10.0
    totals = [sum(value for value, _ in segments) for _, segments in rows]
    values = tick_values(max(totals, default=0.0), whole=whole)
    scale = (right - left) / values[-1]
    bars = []
    for index, (label, (_, segments)) in enumerate(zip(labels, rows, strict=True)):
        x, pieces = float(left), []
        for value, colour in segments:
            if value > 0:
                pieces.append(Segment(round(x, 1), round(value * scale, 1), colour, f"{label}: {number(value)}{unit}"))
                x += value * scale
        bars.append(Bar(label, top + index * (BAR_HEIGHT + BAR_GAP), tuple(pieces)))
    bottom = top + len(rows) * (BAR_HEIGHT + BAR_GAP)
    ticks = tuple(Tick(round(left + v * scale, 1), number(v)) for v in values)
    height = bottom + 44 + (22 if legend else 0)
    return BarChart(Frame(title, right + 30, height, left, right, top, bottom), tuple(bars), ticks, axis_label, tuple(legend))


def histogram(title: str, values: Sequence[float], top: float, bins: int = 10) -> Histogram:
    """How many of ``values`` fall in each of ``bins`` equal bins over 0..``top`` (the last bin holds ``top`` itself)."""
    top = top if top > 0 else 1.0
    edges = [top * i / bins for i in range(bins + 1)]
    counts = [0] * bins
    for value in values:
        counts[min(max(bisect_right(edges, value) - 1, 0), bins - 1)] += 1
    left, right, plot_top, bottom = 46.0, 256.0, 26.0, 150.0
    y_values = tick_values(max(counts), whole=True, most=5)
    y_scale = (bottom - plot_top) / y_values[-1]
    x_scale = (right - left) / top
    columns = tuple(
        Column(round(left + edges[i] * x_scale + 0.5, 1), round(bottom - count * y_scale, 1), round((edges[i + 1] - edges[i]) * x_scale - 1, 1),
               round(count * y_scale, 1), f"{number(edges[i])}–{number(edges[i + 1])}: {count}")
        for i, count in enumerate(counts) if count
    )
    x_ticks = tuple(Tick(round(left + v * x_scale, 1), number(v)) for v in tick_values(top, whole=False, most=5) if v <= top * (1 + 1e-9))
    y_ticks = tuple(Tick(round(bottom - v * y_scale, 1), number(v)) for v in y_values)
    return Histogram(Frame(clean_text(title, 60), 270.0, 190.0, left, right, plot_top, bottom), columns, x_ticks, y_ticks)
