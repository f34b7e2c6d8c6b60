"""gymscope.charts: ticks, downsampling, layout, and what the SVG and PNG show."""

from __future__ import annotations

import io
import math
import subprocess
import sys
import xml.etree.ElementTree as ET
from pathlib import Path

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from PIL import Image

from gymscope.charts import (
    LineChart,
    Series,
    format_ticks,
    layout_chart,
    minmax_downsample,
    nice_ticks,
    render_png,
    render_png_image,
    render_svg,
    write_chart,
)
from stubs_db import VELORA_SCHEMA

SVG = "{http://www.w3.org/2000/svg}"


def parse_svg(text: str) -> ET.Element:
    return ET.fromstring(text.encode("utf-8"))


def series_groups(root: ET.Element) -> list[ET.Element]:
    return [g for g in root.iter(f"{SVG}g") if g.get("class") == "series"]


def polyline_points(group: ET.Element) -> list[list[tuple[float, float]]]:
    return [
        [tuple(map(float, p.split(","))) for p in line.get("points", "").split()]  # type: ignore[misc]
        for line in group.iter(f"{SVG}polyline")
    ]


def texts(root: ET.Element, css_class: str) -> list[str]:
    return [t.text or "" for t in root.iter(f"{SVG}text") if t.get("class") == css_class]


# -- ticks ---------------------------------------------------------------------------
@pytest.mark.parametrize(
    ("lo", "hi", "max_ticks", "labels"),
    [
        (0, 437, 6, ("0", "100", "200", "300", "400", "500")),
        (0, 4.27, 6, ("0", "1", "2", "3", "4", "5")),
        (2.13, 4.27, 6, ("2.0", "2.5", "3.0", "3.5", "4.0", "4.5")),
        (0, 1_000_000, 6, ("0", "200k", "400k", "600k", "800k", "1M")),
        (0, 1_500_000, 4, ("0", "500k", "1M", "1.5M")),
        (0, 7_500, 5, ("0", "2,000", "4,000", "6,000", "8,000")),
        (0, 30_000, 4, ("0", "10k", "20k", "30k")),
        (-150, 20, 5, ("-150", "-100", "-50", "0", "50")),
        (0, 2e-5, 3, ("0", "1e-05", "2e-05")),
    ],
)
def test_nice_ticks_examples(lo: float, hi: float, max_ticks: int, labels: tuple[str, ...]) -> None:
    assert nice_ticks(lo, hi, max_ticks).labels == labels


def test_degenerate_and_nonfinite_ranges_still_give_an_axis() -> None:
    flat = nice_ticks(5.0, 5.0)
    assert flat.lo < 5.0 < flat.hi
    assert nice_ticks(0.0, 0.0).values == (-1.0, -0.5, 0.0, 0.5, 1.0)
    assert nice_ticks(math.nan, 3.0).values[0] == 0.0


def test_format_ticks_never_prints_negative_zero() -> None:
    assert format_ticks([-0.0, 0.5], 0.5) == ("0.0", "0.5")
    assert format_ticks([-0.0, 50_000.0], 50_000) == ("0", "50k")


@settings(max_examples=300, deadline=None)
@given(
    lo=st.floats(-1e12, 1e12, allow_nan=False),
    span=st.floats(1e-6, 1e12, allow_nan=False),
    max_ticks=st.integers(3, 12),
)
def test_nice_ticks_property(lo: float, span: float, max_ticks: int) -> None:
    hi = lo + span
    if hi - lo <= max(abs(lo), abs(hi)) * 1e-9:
        return  # below float resolution: the degenerate-range case
    ticks = nice_ticks(lo, hi, max_ticks)
    mantissa = ticks.step / 10 ** math.floor(math.log10(ticks.step) + 1e-9)
    assert min(abs(mantissa - m) for m in (1, 2, 5)) < 1e-6, ticks.step
    assert 2 <= len(ticks.values) <= max_ticks
    tolerance = 1e-9 * max(abs(lo), abs(hi), ticks.step)
    assert ticks.values[0] <= lo + tolerance and ticks.values[-1] >= hi - tolerance
    gaps = np.diff(ticks.values)
    assert np.allclose(gaps, ticks.step, rtol=1e-6)
    assert all(abs(v / ticks.step - round(v / ticks.step)) < 1e-6 for v in ticks.values)
    assert len(set(ticks.labels)) == len(ticks.labels), ticks.labels
    # Short labels: a sign, a few digits, a separator or suffix, plus the digits
    # that a span tiny next to the values (1e11 .. 1e11 + 100) really needs.
    needed = max(0, math.ceil(math.log10(max(abs(lo), abs(hi), ticks.step) / ticks.step)))
    assert all(len(label) <= 8 + needed for label in ticks.labels), ticks.labels


# -- downsampling --------------------------------------------------------------------
def test_downsample_keeps_every_column_extreme_in_order() -> None:
    rng = np.random.default_rng(1)
    y = rng.normal(size=100_000)
    y[12_345] = 50.0
    y[67_890] = -50.0
    x = np.arange(y.size, dtype=float)
    dx, dy = minmax_downsample(x, y, 500)
    assert dx.size <= 1000
    assert np.all(np.diff(dx) > 0)
    assert 50.0 in dy and -50.0 in dy
    buckets = np.minimum((x * 500 / x[-1]).astype(int), 499)
    mins = np.minimum.reduceat(y, np.flatnonzero(np.diff(buckets, prepend=-1)))
    maxs = np.maximum.reduceat(y, np.flatnonzero(np.diff(buckets, prepend=-1)))
    assert set(mins) <= set(dy) and set(maxs) <= set(dy)
    assert np.array_equal(dy, y[dx.astype(int)])  # the kept points are real points


@settings(max_examples=100, deadline=None)
@given(
    values=st.lists(
        st.floats(allow_nan=True, allow_infinity=True, width=32), min_size=1, max_size=400
    ),
    columns=st.integers(1, 50),
)
def test_downsample_property(values: list[float], columns: int) -> None:
    y = np.array(values, dtype=float)
    x = np.arange(y.size, dtype=float)
    _, dy = minmax_downsample(x, y, columns)
    if y.size <= columns:
        assert np.array_equal(dy, y, equal_nan=True)
        return
    assert dy.size <= 2 * columns
    finite = y[np.isfinite(y)]
    if finite.size:
        assert np.nanmax(dy) == finite.max() and np.nanmin(dy) == finite.min()
    assert not np.isinf(dy).any()


def test_downsample_turns_all_gap_columns_into_one_nan() -> None:
    y = np.concatenate([np.ones(100), np.full(100, np.nan), np.full(100, 2.0)])
    _, dy = minmax_downsample(np.arange(300.0), y, 3)
    assert dy.tolist()[0] == 1.0 and math.isnan(dy[1]) and dy[-1] == 2.0
    assert dy.size == 3


def test_downsample_million_points_is_bounded() -> None:
    y = np.sin(np.arange(1_000_000) / 1000.0)
    _, dy = minmax_downsample(np.arange(y.size, dtype=float), y, 900)
    assert dy.size <= 1800
    assert dy.max() == y.max() and dy.min() == y.min()


# -- layout and SVG ------------------------------------------------------------------
def test_svg_has_escaped_title_labels_and_series_point_counts() -> None:
    title = 'Return <of> "agent" & co \x01'
    y = np.array([1.0, 2.0, np.nan, 4.0, 5.0, 6.0, np.nan, 8.0])
    chart = LineChart(
        title,
        [Series(y, "raw <r>", opacity=0.25, width=1.5), Series(y * 2, "avg3", width=2.75)],
        x_label="episode",
        y_label="return",
        x_integer=True,
    )
    svg = render_svg(layout_chart(chart))
    assert "<of>" not in svg and "&lt;of&gt;" in svg
    root = parse_svg(svg)
    assert root.find(f"{SVG}title").text == 'Return <of> "agent" & co '  # type: ignore[union-attr]
    assert texts(root, "title") == ['Return <of> "agent" & co ']
    assert texts(root, "x-label") == ["episode"] and texts(root, "y-label") == ["return"]
    assert texts(root, "y-tick") == ["0", "2", "4", "6", "8", "10", "12", "14", "16"]
    assert texts(root, "x-tick") == ["0", "1", "2", "3", "4", "5", "6", "7"]
    assert texts(root, "legend-label") == ["raw <r>", "avg3"]
    raw, avg = series_groups(root)
    assert raw.get("data-label") == "raw <r>"
    assert (raw.get("stroke-opacity"), raw.get("stroke-width")) == ("0.25", "1.5")
    assert (avg.get("stroke-opacity"), avg.get("stroke-width")) == ("1", "2.75")
    # Gaps split the line: [1, 2] | [4, 5, 6] | [8] (a lone point is a circle).
    assert [len(p) for p in polyline_points(raw)] == [2, 3]
    assert len(list(raw.iter(f"{SVG}circle"))) == 1


def test_svg_points_are_where_the_values_say() -> None:
    y = np.array([0.0, 100.0, 50.0])
    layout = layout_chart(LineChart("t", [Series(y, "y")], x_integer=True))
    root = parse_svg(render_svg(layout))
    (points,) = polyline_points(series_groups(root)[0])
    # The tick labels and their positions give the value -> pixel mapping.
    ticks = [t for t in root.iter(f"{SVG}text") if t.get("class") == "y-tick"]
    v0, v1 = float(ticks[0].text or ""), float(ticks[-1].text or "")
    p0, p1 = (float(t.get("y", "")) - 0.35 * 12 for t in (ticks[0], ticks[-1]))
    for (_, py), value in zip(points, y, strict=True):
        assert py == pytest.approx(p0 + (value - v0) * (p1 - p0) / (v1 - v0), abs=0.2)
    xs = [px for px, _ in points]
    assert xs == sorted(xs) and xs[0] == pytest.approx(layout.plot[0], abs=0.1)


def test_long_series_is_downsampled_for_drawing_only() -> None:
    y = np.random.default_rng(0).normal(size=200_000)
    layout = layout_chart(LineChart("t", [Series(y, "y")], width=800))
    (line,) = layout.lines
    plot_width = layout.plot[2] - layout.plot[0]
    assert line.source == 200_000 and line.points <= 2 * plot_width
    svg = render_svg(layout)
    assert len(svg) < 60_000
    (points,) = polyline_points(series_groups(parse_svg(svg))[0])
    assert min(p[1] for p in points) == pytest.approx(layout.y_to_px(y.max()), abs=0.1)
    assert max(p[1] for p in points) == pytest.approx(layout.y_to_px(y.min()), abs=0.1)


def test_empty_and_nan_only_charts_say_so() -> None:
    empty = parse_svg(render_svg(layout_chart(LineChart("t", [Series([], "y")]))))
    assert texts(empty, "message") == ["no data yet"]
    assert texts(empty, "x-tick") == [] and texts(empty, "y-tick") == []  # numbers without data
    assert polyline_points(series_groups(empty)[0]) == []
    nan_only = layout_chart(LineChart("t", [Series([math.nan, math.inf], "y")]))
    assert nan_only.message is not None and nan_only.message.text == "no finite values to plot"
    nan_root = parse_svg(render_svg(nan_only))
    assert texts(nan_root, "x-tick") != [] and texts(nan_root, "y-tick") == []
    assert render_png_image(nan_only).size == (960, 540)
    assert layout_chart(LineChart("t", [])).message is not None


def test_chart_arguments_are_checked() -> None:
    with pytest.raises(ValueError, match="color must be '#RRGGBB'"):
        Series([1.0], "y", color='red" onload="x')
    with pytest.raises(ValueError, match="opacity must be in"):
        Series([1.0], "y", opacity=2.0)
    with pytest.raises(ValueError, match="width must be an int >= 240"):
        LineChart("t", [], width=10)
    with pytest.raises(ValueError, match="x has 2 values but y has 1"):
        layout_chart(LineChart("t", [Series([1.0], "y", x=[0.0, 1.0])]))


# -- PNG -----------------------------------------------------------------------------
def test_png_size_and_scale() -> None:
    layout = layout_chart(LineChart("t", [Series([1.0, 2.0], "y")], width=640, height=360))
    with Image.open(io.BytesIO(render_png(layout))) as image:
        assert image.size == (640, 360) and image.format == "PNG"
    with Image.open(io.BytesIO(render_png(layout, scale=2))) as image:
        assert image.size == (1280, 720)


def test_png_line_is_drawn_at_the_row_its_value_maps_to() -> None:
    color = (225, 87, 89)  # #E15759
    chart = LineChart(
        "t",
        [
            Series([0.0, 10.0], "range", x=[0.0, 49.0], opacity=0.0),  # fixes the y axis
            Series(np.full(50, 3.0), "constant", color="#E15759", width=3.0),
        ],
    )
    layout = layout_chart(chart)
    assert (layout.y_ticks.lo, layout.y_ticks.hi) == (0.0, 10.0)
    image = np.asarray(render_png_image(layout)).astype(int)
    row = layout.y_to_px(3.0)
    for column in np.linspace(layout.plot[0] + 20, layout.plot[2] - 20, 7).astype(int):
        strip = image[:, column]
        distance = np.abs(strip - color).sum(axis=1)
        hits = np.flatnonzero(distance < 40)
        assert hits.size >= 2, column
        assert abs(hits.mean() + 0.5 - row) < 1.0  # pixel centres are at +0.5
        assert hits.max() - hits.min() <= 4  # a 3-px line, not a smear
    # Nowhere else in the plot area is the line's colour.
    plot = image[
        int(layout.plot[1]) : int(layout.plot[3]), int(layout.plot[0]) : int(layout.plot[2])
    ]
    red_rows = np.flatnonzero((np.abs(plot - color).sum(axis=2) < 40).any(axis=1))
    assert np.all(np.abs(red_rows + layout.plot[1] + 0.5 - row) <= 3)


def test_png_opacity_blends_with_the_background() -> None:
    chart = LineChart(
        "t",
        [
            Series([0.0, 10.0], "range", x=[0.0, 9.0], opacity=0.0),
            Series(np.full(10, 5.0), "faint", color="#000000", width=6.0, opacity=0.25),
        ],
    )
    layout = layout_chart(chart)
    image = np.asarray(render_png_image(layout)).astype(int)
    x, y = int((layout.plot[0] + layout.plot[2]) / 2), int(layout.y_to_px(5.0))
    assert np.all(np.abs(image[y, x] - round(255 * 0.75)) <= 3)


def test_text_outside_the_bundled_font_renders() -> None:
    layout = layout_chart(LineChart("Récompense — épisode", [Series([1.0, 2.0], "\u03b1 (alpha)")]))
    assert render_png_image(layout).size == (960, 540)


# -- files -----------------------------------------------------------------------------
def test_write_chart_writes_both_files_atomically(tmp_path: Path) -> None:
    chart = LineChart("t", [Series([1.0, 3.0, 2.0], "y")])
    svg_path, png_path = write_chart(chart, tmp_path / "curve")
    assert svg_path == tmp_path / "curve.svg" and png_path == tmp_path / "curve.png"
    parse_svg(svg_path.read_text(encoding="utf-8"))
    with Image.open(png_path) as image:
        assert image.size == (960, 540)
    assert sorted(p.name for p in tmp_path.iterdir()) == ["curve.png", "curve.svg"]


def test_failed_write_leaves_the_old_file_and_no_temp_file(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    chart = LineChart("t", [Series([1.0, 3.0, 2.0], "y")])
    svg_path, _ = write_chart(chart, tmp_path / "curve")
    before = svg_path.read_bytes()

    def fail(*args: object) -> None:
        raise OSError(28, "No space left on device")

    monkeypatch.setattr("os.replace", fail)
    with pytest.raises(OSError, match="No space"):
        write_chart(LineChart("new", [Series([5.0], "y")]), tmp_path / "curve")
    assert svg_path.read_bytes() == before
    assert sorted(p.name for p in tmp_path.iterdir()) == ["curve.png", "curve.svg"]


def test_importing_charts_does_not_import_sqlmodel() -> None:
    code = (
        "import sys, gymscope.charts; print('sqlmodel' in sys.modules, 'sqlalchemy' in sys.modules)"
    )
    out = subprocess.run(
        [sys.executable, "-c", code], capture_output=True, text=True, check=True
    ).stdout
    assert out.split() == ["False", "False"]


# -- plot_experiment -------------------------------------------------------------------
def _series_points(path: Path) -> dict[str, list[list[tuple[float, ...]]]]:
    root = parse_svg(path.read_text(encoding="utf-8"))
    return {g.get("data-label", ""): polyline_points(g) for g in series_groups(root)}


def test_plot_experiment_draws_what_the_curve_recorder_draws(tmp_path: Path) -> None:
    from gymscope.charts import plot_experiment
    from gymscope.wrappers.curves import CurveRecorderWrapper
    from gymscope.wrappers.sqlite_logger import SQLiteLoggerWrapper
    from stubs import ScriptedEnv

    script = ((1.0, 2.0), (0.5,) * 4, (10.0,), (-3.0, 1.0))
    logged = SQLiteLoggerWrapper(
        ScriptedEnv(script, final_info={"score": 0.25}),
        tmp_path / "metrics.db",
        experiment="run/1",
        window_size=3,
        info_keys=("score",),
    )
    env = CurveRecorderWrapper(
        logged, tmp_path / "live", window_size=3, info_keys=("score",), checkpoint_every=None
    )
    env.reset()
    for episode in range(25):
        done = False
        while not done:
            env.get_wrapper_attr("log_metrics")(actor_loss=1.0 / (1 + episode), kl=0.1)
            _, _, terminated, truncated, _ = env.step(0)
            done = terminated or truncated
        env.reset()
    env.close()

    paths = plot_experiment(tmp_path / "metrics.db", "run/1", tmp_path / "db", window_size=3)
    names = sorted(p.name for p in paths)
    assert names == sorted(
        f"run_1_{stem}_curve.{ext}"
        for stem in ("reward", "length", "score", "actor_loss", "kl")
        for ext in ("svg", "png")
    )
    for stem in ("reward", "length", "score", "actor_loss", "kl"):
        live = _series_points(tmp_path / "live" / f"training_{stem}_curve.svg")
        from_db = _series_points(tmp_path / "db" / f"run_1_{stem}_curve.svg")
        assert live == from_db, stem
    assert [
        len(line) for line in _series_points(tmp_path / "db" / "run_1_reward_curve.svg")["avg3"]
    ] == [25]


def test_plot_experiment_merges_workers_in_order_of_completion(tmp_path: Path) -> None:
    from gymscope.charts import plot_experiment
    from gymscope.metrics import get_db_engine
    from gymscope.wrappers.sqlite_logger import SQLiteLoggerWrapper
    from stubs import ScriptedEnv, play

    db = tmp_path / "metrics.db"
    first = SQLiteLoggerWrapper(ScriptedEnv(((1.0,),)), db, experiment="pool", worker=0)
    second = SQLiteLoggerWrapper(ScriptedEnv(((5.0,),)), db, experiment="pool", worker=1)
    play(first, 3)
    play(second, 2)
    play(first, 1)
    first.close()
    second.close()
    engine = get_db_engine(db)
    paths = plot_experiment(engine, 1, tmp_path / "out", prefix="pool", window_size=2)
    engine.dispose()
    assert paths[0] == tmp_path / "out" / "pool_reward_curve.svg"
    (raw,) = _series_points(paths[0])["return"]
    assert len(raw) == 6
    # Read back through the y mapping: returns 1, 1, 1, 5, 5, 1 in order of completion.
    root = parse_svg(paths[0].read_text(encoding="utf-8"))
    ticks = [t for t in root.iter(f"{SVG}text") if t.get("class") == "y-tick"]
    v0, v1 = float(ticks[0].text or ""), float(ticks[-1].text or "")
    p0, p1 = (float(t.get("y", "")) - 0.35 * 12 for t in (ticks[0], ticks[-1]))
    values = [round(v0 + (y - p0) * (v1 - v0) / (p1 - p0), 3) for _, y in raw]
    assert values == [1.0, 1.0, 1.0, 5.0, 5.0, 1.0]


def test_plot_experiment_reads_a_velora_database(tmp_path: Path) -> None:
    import sqlite3

    from gymscope.charts import plot_experiment

    db = tmp_path / "velora.db"
    with sqlite3.connect(db) as conn:
        conn.executescript(
            VELORA_SCHEMA
            + """
            INSERT INTO experiment VALUES (1, 'NeuroFlow', 'InvertedPendulum-v5', '{}', NULL);
            """
        )
        conn.executemany(
            "INSERT INTO episode (experiment_id, episode_num, reward, length, actor_loss, "
            "critic_loss, entropy_loss) VALUES (1, ?, ?, ?, ?, ?, 0.0)",
            [(i, float(i), 10 + i, 0.5, None) for i in range(12)],
        )
    conn.close()
    paths = plot_experiment(str(db), 1, tmp_path / "out")
    assert [p.name for p in paths][::2] == [
        "experiment_1_reward_curve.svg",
        "experiment_1_length_curve.svg",
        "experiment_1_actor_loss_curve.svg",
    ]
    root = parse_svg(paths[0].read_text(encoding="utf-8"))
    assert [t.text for t in root.iter(f"{SVG}text") if t.get("class") == "title"] == [
        "InvertedPendulum-v5 · Episode return"
    ]
    with pytest.raises(LookupError, match=r"no experiment 'x' in the database; known .*: 1$"):
        plot_experiment(db, "x", tmp_path / "out")


def test_plot_experiment_refuses_what_is_not_a_run(tmp_path: Path) -> None:
    from gymscope.charts import plot_experiment

    with pytest.raises(FileNotFoundError, match="no metrics database"):
        plot_experiment(tmp_path / "missing.db", 1, tmp_path / "out")
    assert not (tmp_path / "missing.db").exists()
    import sqlite3

    with sqlite3.connect(tmp_path / "other.db") as conn:
        conn.execute("CREATE TABLE t (x)")
    conn.close()
    with pytest.raises(ValueError, match="not a metrics database"):
        plot_experiment(tmp_path / "other.db", 1, tmp_path / "out")
    with pytest.raises(TypeError, match="experiment must be an experiment id"):
        plot_experiment(tmp_path / "other.db", 1.5, tmp_path / "out")  # type: ignore[arg-type]


def test_long_texts_are_cut_to_fit_and_the_svg_title_keeps_them_whole() -> None:
    title = "a very long metric name " * 10
    layout = layout_chart(LineChart(title, [Series([1.0, 2.0], "label " * 40)], width=480))
    root = parse_svg(render_svg(layout))
    (shown,) = texts(root, "title")
    assert shown.endswith("\u2026") and len(shown) < len(title)
    assert root.find(f"{SVG}title").text == title  # type: ignore[union-attr]
    (legend,) = texts(root, "legend-label")
    assert legend.endswith("\u2026")
    assert series_groups(root)[0].get("data-label") == "label " * 40
