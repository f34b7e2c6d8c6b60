"""Sparklines (text and SVG) and the chart comparing runs (plot_comparison)."""

from __future__ import annotations

import math
import xml.etree.ElementTree as ET
from pathlib import Path

import numpy as np
import pytest
from hypothesis import given
from hypothesis import strategies as st

from gymscope.charts import PALETTE, plot_comparison, sparkline, sparkline_svg
from gymscope.charts.sparkline import ASCII_LEVELS, BLOCK_LEVELS, column_means
from gymscope.wrappers.sqlite_logger import SQLiteLoggerWrapper
from stubs import ScriptedEnv, play

SVG = "{http://www.w3.org/2000/svg}"


def test_rising_series_climbs_every_level() -> None:
    assert sparkline(range(8)) == BLOCK_LEVELS
    assert sparkline(range(100), width=8) == BLOCK_LEVELS
    assert sparkline(range(4), ascii=True) == ASCII_LEVELS
    assert sparkline([]) == ""


def test_gaps_and_flat_series() -> None:
    assert sparkline([1.0, math.nan, math.inf, 2.0]) == "▁  █"
    assert sparkline([5.0] * 3) == "▄▄▄"
    assert sparkline([math.nan] * 3) == "   "


@given(
    st.lists(st.floats(allow_nan=True, allow_infinity=True, width=32), max_size=300),
    st.integers(1, 80),
    st.booleans(),
)
def test_sparkline_property(values: list[float], width: int, ascii: bool) -> None:
    line = sparkline(values, width, ascii=ascii)
    assert len(line) == min(len(values), width)
    allowed = set(ASCII_LEVELS if ascii else BLOCK_LEVELS) | {" "}
    assert set(line) <= allowed
    finite = [v for v in values if math.isfinite(v)]
    if len(values) <= width:  # one character per value: gaps exactly where values are
        assert [c == " " for c in line] == [not math.isfinite(v) for v in values]
    if finite and max(finite) > min(finite) and len(values) <= width:
        assert (ASCII_LEVELS if ascii else BLOCK_LEVELS)[-1] in line


def test_column_means_average_each_slice() -> None:
    assert column_means(np.arange(10.0), 5).tolist() == [0.5, 2.5, 4.5, 6.5, 8.5]
    with pytest.raises(ValueError, match="columns must be >= 1"):
        column_means([1.0], 0)


def test_svg_sparkline_is_an_escaped_inline_element() -> None:
    svg = sparkline_svg([1.0, 3.0, math.nan, 2.0, 5.0], label='<x "y">', width=60, height=20)
    root = ET.fromstring(svg)
    assert root.tag == f"{SVG}svg" and root.get("aria-label") == '<x "y">'
    assert len(root.findall(f".//{SVG}polyline")) == 2  # split at the gap
    (dot,) = root.findall(f".//{SVG}circle")
    assert float(dot.get("cx", "")) == pytest.approx(57.5)  # the last value, at the right
    assert ET.fromstring(sparkline_svg([])).findall(f".//{SVG}polyline") == []
    with pytest.raises(ValueError, match="color must be"):
        sparkline_svg([1.0], color="red")


def test_plot_comparison_draws_one_line_per_run(tmp_path: Path) -> None:
    db = tmp_path / "metrics.db"
    for name, reward, episodes in (("low", 1.0, 4), ("high", 3.0, 6)):
        env = SQLiteLoggerWrapper(ScriptedEnv(((reward, reward),)), db, experiment=name)
        play(env, episodes)
        env.close()
    paths = plot_comparison(db, ["high", 1], tmp_path / "out", window_size=2)
    assert [p.name for p in paths] == [
        "compare_reward_curve.svg",
        "compare_reward_curve.png",
        "compare_length_curve.svg",
        "compare_length_curve.png",
    ]
    root = ET.fromstring(paths[0].read_text(encoding="utf-8"))
    groups = [g for g in root.iter(f"{SVG}g") if g.get("class") == "series"]
    assert [g.get("data-label") for g in groups] == ["#2 high", "#1 low"]
    assert [g.get("stroke") for g in groups] == [PALETTE[0], PALETTE[1]]
    assert [len(g.findall(f"{SVG}polyline")) for g in groups] == [1, 1]
    (title,) = [t.text for t in root.iter(f"{SVG}text") if t.get("class") == "title"]
    assert title == "Episode return, moving average over 2 episodes"


def test_plot_comparison_refuses_bad_lists(tmp_path: Path) -> None:
    db = tmp_path / "metrics.db"
    env = SQLiteLoggerWrapper(ScriptedEnv(), db, experiment="a")
    play(env, 1)
    env.close()
    with pytest.raises(ValueError, match="at least one"):
        plot_comparison(db, [], tmp_path / "out")
    with pytest.raises(ValueError, match=r"experiment 1 is given twice \('a' and 1\)"):
        plot_comparison(db, ["a", 1], tmp_path / "out")
    with pytest.raises(TypeError, match="list of ids or names"):
        plot_comparison(db, "a", tmp_path / "out")
    with pytest.raises(LookupError, match="no experiment 'b'"):
        plot_comparison(db, ["a", "b"], tmp_path / "out")
    assert not (tmp_path / "out").exists()  # nothing created for a failed call
