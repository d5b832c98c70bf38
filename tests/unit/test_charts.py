"""The pages' charts: round ticks, honest bins and bars in proportion, drawn as inline SVG with labels as escaped text."""

from __future__ import annotations

import pytest

from grader.reporters.charts import BLUE, RED, bar_chart, histogram, tick_values
from grader.reporters.pages import environment


@pytest.mark.parametrize(
    ("top", "whole", "expected"),
    [
        (25, False, [0, 5, 10, 15, 20, 25]),
        (100, False, [0, 20, 40, 60, 80, 100]),
        (15, True, [0, 5, 10, 15]),
        (7, True, [0, 2, 4, 6, 8]),  # the axis runs to the first tick past the longest bar
        (3, True, [0, 1, 2, 3]),  # counts: never a tick at 0.5
        (0, True, [0, 1]),  # nothing to show still draws an axis
        (8.6, False, [0, 2, 4, 6, 8, 10]),
        (0.3, False, [0, 0.05, 0.1, 0.15, 0.2, 0.25, 0.3]),
    ],
)
def test_ticks_are_round_and_reach_the_top(top: float, whole: bool, expected: list[float]) -> None:
    assert tick_values(top, whole=whole) == pytest.approx(expected)


def test_a_histogram_counts_each_value_once_and_puts_full_marks_in_the_last_bin() -> None:
    chart = histogram("ex1 (out of 25)", [0, 0, 2.5, 12.4999, 24.99, 25, 25], 25)
    counts = {column.tooltip.split(": ")[0]: int(column.tooltip.split(": ")[1]) for column in chart.columns}
    assert counts == {"0–2.5": 2, "2.5–5": 1, "10–12.5": 1, "22.5–25": 3}
    assert sum(counts.values()) == 7
    heights = {column.tooltip: column.height for column in chart.columns}
    assert heights["22.5–25: 3"] == pytest.approx(3 * heights["2.5–5: 1"], abs=0.2)  # heights in proportion to counts
    assert [tick.label for tick in chart.x_ticks] == ["0", "5", "10", "15", "20", "25"]


def test_bars_are_in_proportion_and_stack_left_to_right() -> None:
    chart = bar_chart("t", [("a", [(10, BLUE)]), ("b", [(5, BLUE), (5, RED)]), ("c", [(0, BLUE), (2.5, RED)])], "mutants", whole=False)
    a, b, c = chart.bars
    assert a.y < b.y < c.y  # the first row on top
    assert a.segments[0].x == chart.frame.left and a.segments[0].width == pytest.approx(chart.ticks[-1].at - chart.frame.left)  # 10 is the last tick
    assert b.segments[0].width == pytest.approx(a.segments[0].width / 2, abs=0.1)
    assert b.segments[1].x == pytest.approx(b.segments[0].x + b.segments[0].width, abs=0.1)  # stacked, no gap
    assert [s.colour for s in c.segments] == [RED]  # a zero segment draws nothing
    assert c.segments[0].tooltip == "c: 2.5"


def test_long_and_hostile_labels_are_shortened_and_drawn_as_text() -> None:
    chart = bar_chart("slowest", [("<script>alert(1)</script>" + "x" * 80, [(1.0, BLUE)])], "seconds", whole=False, unit=" s")
    assert len(chart.bars[0].label) < 50 and "more characters" in chart.bars[0].label and chart.bars[0].segments[0].tooltip.endswith(": 1 s")
    svg = environment().from_string('{% from "charts.html.j2" import bar_chart %}{{ bar_chart(c) }}').render(c=chart)
    assert "<script>" not in svg and "&lt;script&gt;alert(1)" in svg
    assert svg.count("<rect ") == 1 and "<title>slowest</title>" in svg
