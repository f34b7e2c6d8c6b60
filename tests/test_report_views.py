"""Run-level statistics, per-worker and step-metric charts in the charts, the
HTML report and ``gymscope plot``: exact values for runs of 2 and 4 workers
whose return levels differ, lines through the reported metric points only."""

from __future__ import annotations

import math
import re
from pathlib import Path

import numpy as np
import pytest

import stubs_views
from gymscope.charts.experiment import (
    comparison_charts,
    experiment_charts,
    metric_charts,
    worker_chart,
)
from gymscope.cli import main
from gymscope.metrics.queries import MetricsReader
from gymscope.report import write_report
from gymscope.wrappers.sqlite_logger import SQLiteLoggerWrapper
from stubs import ScriptedEnv, play
from stubs_views import FOUR_AVG
from test_charts import parse_svg, polyline_points, series_groups


@pytest.fixture
def pools(tmp_path: Path) -> Path:
    """See :func:`stubs_views.pools`."""
    return stubs_views.pools(tmp_path / "metrics.db")


def test_the_return_charts_moving_average_is_run_level(pools: Path) -> None:
    with MetricsReader(pools) as reader:
        four, two = reader.episodes("four"), reader.episodes("two")
    (_, reward), *_ = experiment_charts(four)
    raw, avg = reward.series
    assert np.asarray(raw.y).tolist() == [10.0, 20.0, 30.0, 40.0] * 2 + [10.0, 20.0]
    assert avg.label == "avg5" and np.asarray(avg.y).tolist() == pytest.approx(FOUR_AVG)
    (_, reward), *_ = experiment_charts(two)
    expected = [1, 1, 7 / 3, 11 / 3, 11 / 3, 11 / 3]
    assert np.asarray(reward.series[1].y).tolist() == pytest.approx(expected)
    # steps: the running sum of all workers' episode lengths (one step each)
    (_, reward), *_ = experiment_charts(four, x="steps")
    assert np.asarray(reward.series[1].x).tolist() == list(range(1, 11))
    assert reward.x_label == "env steps (all workers)"
    (_, reward), *_ = experiment_charts(four, x="time")
    times = np.asarray(reward.series[1].x)
    assert (np.diff(times) >= 0).all() and times[0] >= 0 and reward.x_label.startswith("seconds")


def test_the_worker_chart_draws_each_workers_own_average(pools: Path) -> None:
    with MetricsReader(pools) as reader:
        four = reader.episodes("four")
    stem, chart = worker_chart(four, x="steps")
    assert stem == "four_workers_curve"
    lines = {series.label: series for series in chart.series}
    assert list(lines) == ["worker 0", "worker 1", "worker 2", "worker 3", "run avg5"]
    assert np.asarray(lines["worker 0"].y).tolist() == [10.0, 10.0, 10.0]
    assert np.asarray(lines["worker 0"].x).tolist() == [1.0, 5.0, 9.0]  # where it ended in the run
    assert np.asarray(lines["worker 3"].x).tolist() == [4.0, 8.0]
    assert np.asarray(lines["run avg5"].y).tolist() == pytest.approx(FOUR_AVG)


def test_comparison_uses_each_runs_own_window(pools: Path) -> None:
    with MetricsReader(pools) as reader:
        runs = [reader.episodes("four"), reader.episodes("two")]
    (_, reward), _ = comparison_charts(runs)
    assert reward.title == "Episode return, moving average over each run's window"
    assert [s.label for s in reward.series] == ["#1 four (avg5)", "#2 two (avg3)"]
    assert np.asarray(reward.series[0].y).tolist() == pytest.approx(FOUR_AVG)


@pytest.fixture
def metrics_db(tmp_path: Path) -> Path:
    """See :func:`stubs_views.metric_run`."""
    return stubs_views.metric_run(tmp_path / "metrics.db")


def test_metric_charts_are_lines_through_the_reported_points(metrics_db: Path) -> None:
    with MetricsReader(metrics_db) as reader:
        metrics = reader.metrics("m")
    charts = dict(metric_charts(metrics))
    assert list(charts) == ["m_train_loss_curve", "m_train_value_loss_curve"]
    (loss,) = charts["m_train_loss_curve"].series
    assert np.asarray(loss.x).tolist() == [2.0, 4.0, 6.0, 8.0]
    y = np.asarray(loss.y)
    assert y[[0, 1, 3]].tolist() == [0.5, 0.25, 0.125] and math.isnan(y[2])  # a gap, not 0
    (value,) = charts["m_train_value_loss_curve"].series
    assert np.asarray(value.x).tolist() == [8.0] and np.asarray(value.y).tolist() == [2.0]
    assert charts["m_train_loss_curve"].x_label == "env step"


def _section(text: str, run_id: int) -> str:
    start = text.index(f'id="run-{run_id}"')
    end = text.find('<section class="card run"', start + 1)
    return text[start : end if end >= 0 else len(text)]


def _stat(section: str, label: str) -> str:
    match = re.search(rf"<dt>{re.escape(label)}</dt><dd>([^<]*)</dd>", section)
    assert match is not None, label
    return match.group(1)


def test_report_cards_status_and_charts_of_multi_worker_runs(pools: Path, tmp_path: Path) -> None:
    text = write_report(pools, tmp_path / "report.html").read_text(encoding="utf-8")
    four, two = _section(text, 1), _section(text, 2)
    assert (_stat(four, "Best avg5"), _stat(four, "Last avg5")) == ("28", "24")
    assert (_stat(two, "Best avg3"), _stat(two, "Last avg3")) == ("3.667", "3.667")
    assert 'aria-label="ScriptedEnv · Return by worker (avg5 each)"' in four
    assert '<span class="status status-finished">finished</span>' in four
    table = text[text.index('<table class="runs">') : text.index("</table>")]
    cell = r'<td class="num( strong)?">([^<]*)<span class="window">(avg\d+)</span>'
    cells = re.findall(cell, table)
    assert [(value, window) for _, value, window in cells] == [
        ("28", "avg5"),
        ("24", "avg5"),
        ("3.667", "avg3"),
        ("3.667", "avg3"),
    ]
    assert table.count("status-finished") == 2
    assert "Training metrics" not in text  # none were logged


def test_report_draws_step_metrics_and_flags_a_changed_config(
    metrics_db: Path, tmp_path: Path
) -> None:
    resumed = SQLiteLoggerWrapper(ScriptedEnv(), metrics_db, experiment="m", config={"lr": 2})
    play(resumed, 1)
    resumed.close()
    resumed = SQLiteLoggerWrapper(ScriptedEnv(), metrics_db, experiment="m", config={"lr": 3})
    play(resumed, 1)
    resumed.close()
    text = write_report(metrics_db, tmp_path / "report.html").read_text(encoding="utf-8")
    assert "Training metrics" in text
    assert text.count('aria-label="ScriptedEnv · loss (by step)"') == 1
    assert text.count('aria-label="ScriptedEnv · value_loss (by step)"') == 1
    assert "2 configs: the run was resumed with a different config" in text
    assert "<code>{&#34;lr&#34;: 3}</code>" in text
    # the loss line: steps 2 and 4, a gap for the NaN at 6, then step 8, at the
    # heights of 0.5, 0.25 and 0.125 (y grows downwards): never drawn at 0
    start = text.rindex("<svg", 0, text.index('aria-label="ScriptedEnv · loss (by step)"'))
    root = parse_svg(text[start : text.index("</svg>", start) + len("</svg>")])
    (group,) = [g for g in series_groups(root) if g.get("data-label") == "loss"]
    segments = polyline_points(group)
    assert [len(segment) for segment in segments] in ([2, 1], [2])
    (a, b) = segments[0]
    assert a[1] < b[1]  # 0.5 above 0.25


def test_plot_x_steps_and_by_worker(
    pools: Path, metrics_db: Path, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    out = tmp_path / "plots"
    code = main(["plot", str(pools), "four", "two", "-o", str(out), "--x", "steps", "--by-worker"])
    assert code == 0, capsys.readouterr().err
    names = sorted(p.stem for p in out.glob("*.svg"))
    assert names == sorted(
        [f"{run}_{stem}_curve" for run in ("four", "two") for stem in ("reward", "length")]
        + ["four_workers_curve", "two_workers_curve"]
        + ["compare_reward_curve", "compare_length_curve"]
    )
    assert "env steps (all workers)" in (out / "four_reward_curve.svg").read_text()
    code = main(["plot", str(metrics_db), "m", "-o", str(out), "--x", "time"])
    assert code == 0
    assert (out / "m_train_loss_curve.svg").is_file()
    assert "seconds since the start" in (out / "m_train_loss_curve.svg").read_text()
