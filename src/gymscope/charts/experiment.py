"""Charts of logged runs, drawn from the metrics database.

:func:`plot_experiment` draws one run's training curves for a run logged
only with :class:`~gymscope.wrappers.sqlite_logger.SQLiteLoggerWrapper` (or by
velora itself): it replays the run (:func:`gymscope.replay.stored_records`)
into the :class:`~gymscope.sinks.curves.CurveSink` that
:class:`~gymscope.wrappers.curves.CurveRecorderWrapper` records with, so the
charts are those the live wrapper draws. :func:`plot_comparison` puts several runs on one chart:
the moving average of each run's return (and length), one line per run.
SQLAlchemy and SQLModel are imported when these are called, not before.
"""

from __future__ import annotations

import os
from collections.abc import Sequence
from pathlib import Path
from typing import TYPE_CHECKING, TypeVar

import numpy as np
import numpy.typing as npt

from gymscope._files import check_writable_dir, safe_name
from gymscope.charts.curves import (
    AVG_WIDTH,
    METRIC_COLORS,
    TIME_LABEL,
    chart_stems,
    rolling_mean,
)
from gymscope.charts.layout import PALETTE, LineChart, Series
from gymscope.charts.write import write_chart
from gymscope.errors import ArgumentTypeError, InvalidArgumentError

if TYPE_CHECKING:
    from sqlalchemy.engine import URL, Engine

    from gymscope.metrics.queries import MetricsReader
    from gymscope.metrics.records import ExperimentInfo, RunEpisodes, RunMetrics, XAxis
    from gymscope.sinks.curve_history import CurveHistory

    CurveHistoryT = TypeVar("CurveHistoryT", bound=CurveHistory)

FloatArray = npt.NDArray[np.float64]

#: The run-level line on the per-worker chart.
RUN_COLOR = "#222222"

__all__ = [
    "RUN_COLOR",
    "X_LABELS",
    "comparison_charts",
    "episode_x",
    "experiment_charts",
    "metric_charts",
    "plot_comparison",
    "plot_experiment",
    "run_label",
    "worker_chart",
]


def run_label(experiment: ExperimentInfo) -> str:
    """How a chart legend names a run: ``#{id} {name}`` (the id first: long
    generated names are cut at the end, where they differ)."""
    return f"#{experiment.id} {experiment.name or experiment.env or 'experiment'}"


#: The x-axis label of each :data:`~gymscope.metrics.records.X_AXES` entry.
X_LABELS: dict[str, str] = {
    "episodes": "episode",
    "steps": "env steps (all workers)",
    "time": TIME_LABEL,
}


def _window(run: RunEpisodes, window_size: int | None) -> int:
    return window_size or run.experiment.stats_window


def episode_x(run: RunEpisodes, x: XAxis) -> FloatArray:
    """Each episode's x position (see
    :meth:`~gymscope.metrics.records.RunEpisodes.x_values`).

    Raises:
        InvalidArgumentError: ``x`` is not one of
            :data:`~gymscope.metrics.records.X_AXES`, or is ``"time"`` for a
            run whose episodes have no stored end time.
    """
    if x not in X_LABELS:
        raise InvalidArgumentError(f"x must be one of episodes, steps, time; got {x!r}")
    values = run.x_values(x)
    if x == "time" and not np.isfinite(values).all():
        raise InvalidArgumentError(
            f"experiment {run.experiment.id} ({run.experiment.label!r}) has episodes without "
            "an end time (created_at): draw it against episodes or steps"
        )
    return values


def experiment_charts(
    run: RunEpisodes,
    window_size: int | None = None,
    *,
    prefix: str | None = None,
    width: int = 960,
    height: int = 540,
    x: XAxis = "episodes",
) -> list[tuple[str, LineChart]]:
    """One run's charts with their file stems: return, length, every extra series.

    The run is replayed into a :class:`~gymscope.sinks.curve_history.CurveHistory`
    (see :func:`plot_experiment`, which writes the charts), so the return's
    moving average is the run-level one: over all workers' episodes in the
    order they ended, with ``window_size`` (default: the run's own window).
    ``prefix`` defaults to the experiment's name made file-safe
    (``experiment_{id}`` without a name); ``x`` is what the x axis counts
    (see :func:`episode_x`).
    """
    from gymscope.charts.curves import curve_charts
    from gymscope.sinks.curve_history import CurveHistory

    xs = None if x == "episodes" else episode_x(run, x)
    history = _replayed(run, CurveHistory(_window(run, window_size)))
    info = run.experiment
    return curve_charts(
        prefix or default_prefix(info),
        returns=history.returns,
        lengths=history.lengths,
        moving_avg=history.moving_averages,
        window=history.window_size,
        extras=history.extra_series(),
        subject=info.env,
        width=width,
        height=height,
        x=xs,
        x_label=X_LABELS[x],
    )


def worker_chart(
    run: RunEpisodes,
    window_size: int | None = None,
    *,
    prefix: str | None = None,
    width: int = 960,
    height: int = 540,
    x: XAxis = "episodes",
) -> tuple[str, LineChart]:
    """``{prefix}_workers_curve``: each worker's own moving average of returns
    (over its own episodes, ``window_size`` of them, default the run's
    window), one line per worker at the x of its episodes in the run, and the
    run-level moving average (all workers merged) as a dark line on top."""
    from gymscope.metrics.runstats import run_statistics

    window = _window(run, window_size)
    xs = episode_x(run, x)
    rewards = run.rewards
    series = []
    for i, (worker, positions) in enumerate(run.by_worker().items()):
        own = run_statistics(rewards[positions], window_size=window).moving_mean
        series.append(
            Series(
                own,
                f"worker {worker}",
                x=xs[positions],
                color=PALETTE[i % len(PALETTE)],
                width=2.0,
            )
        )
    merged = run.run_stats(window).moving_mean
    series.append(Series(merged, f"run avg{window}", x=xs, color=RUN_COLOR, width=AVG_WIDTH))
    info = run.experiment
    lead = f"{info.env} · " if info.env else ""
    chart = LineChart(
        f"{lead}Return by worker (avg{window} each)",
        series,
        x_label=X_LABELS[x],
        y_label=f"return (avg{window})",
        width=width,
        height=height,
        x_integer=x != "time",
        empty_message="no episodes yet",
    )
    return f"{prefix or default_prefix(info)}_workers_curve", chart


def metric_charts(
    metrics: RunMetrics,
    *,
    prefix: str | None = None,
    width: int = 960,
    height: int = 540,
    x: XAxis = "steps",
    start: float | None = None,
) -> list[tuple[str, LineChart]]:
    """One chart per step-keyed training metric (``gymscope_metric``), with its
    file stem ``{prefix}_train_{name}_curve``.

    Each is a line through the reported values, against the env step they
    were reported at (``x="steps"`` or ``"episodes"``: metrics have no
    episode), or against seconds since ``start`` (a Unix time; default the
    first value's) for ``x="time"``. Nothing is drawn where nothing was
    reported; a reported NaN is a gap.
    """
    info = metrics.experiment
    base = prefix or default_prefix(info)
    stems = chart_stems(f"{base}_train", metrics.names)
    charts = []
    for i, series in enumerate(metrics):
        if x == "time":
            origin = start if start is not None else float(np.nanmin(series.wall_time))
            order = np.argsort(series.wall_time, kind="stable")
            xs = series.wall_time[order] - origin
            ys = series.values[order]
            x_label = TIME_LABEL
        else:
            xs, ys = series.steps.astype(np.float64), series.values
            x_label = "env step"
        lead = f"{info.env} · " if info.env else ""
        chart = LineChart(
            f"{lead}{series.name} (by step)",
            [
                Series(
                    ys,
                    series.name,
                    x=xs,
                    color=METRIC_COLORS[i % len(METRIC_COLORS)],
                    width=2.0,
                )
            ],
            x_label=x_label,
            y_label=series.name,
            width=width,
            height=height,
            x_integer=x != "time",
            empty_message="no values reported",
        )
        charts.append((stems[series.name], chart))
    return charts


def _replayed(run: RunEpisodes, sink: CurveHistoryT) -> CurveHistoryT:
    """``sink`` fed every stored episode of ``run``, as a live wrapper would have fed it."""
    from gymscope.episode import RunInfo
    from gymscope.replay import stored_records

    info = run.experiment
    sink.open(RunInfo(experiment=info.name or None, env_id=info.env, agent=info.agent))
    for record in stored_records(run, window_size=sink.window_size):
        sink.on_episode(record)
    return sink


def default_prefix(experiment: ExperimentInfo) -> str:
    """The file-name prefix of a run's charts: its name made safe, or ``experiment_{id}``."""
    return safe_name(experiment.name, "") or f"experiment_{experiment.id}"


def comparison_charts(
    runs: Sequence[RunEpisodes],
    window_size: int | None = None,
    *,
    prefix: str = "compare",
    width: int = 960,
    height: int = 540,
    x: XAxis = "episodes",
) -> list[tuple[str, LineChart]]:
    """Several runs on one chart: ``{prefix}_reward_curve`` and ``{prefix}_length_curve``.

    Each run is one line, the run-level moving average (over ``window_size``
    episodes, default each run's own window; all workers merged in the order
    episodes ended) of its returns (lengths), against ``x`` (see
    :func:`episode_x`); colours follow :data:`~gymscope.charts.PALETTE` in
    the order given, legends name runs with :func:`run_label`.
    """
    windows = {_window(run, window_size) for run in runs}
    same = len(windows) == 1
    avg = f"avg{next(iter(windows))}" if same else "avg"
    charts = []
    for stem, title, label in (
        ("reward", "Episode return", "return"),
        ("length", "Episode length", "length"),
    ):
        series = []
        for i, run in enumerate(runs):
            window = _window(run, window_size)
            if stem == "reward":
                values = run.run_stats(window).moving_mean
            else:
                values = rolling_mean(run.lengths, window)
            name = run_label(run.experiment) + ("" if same else f" (avg{window})")
            series.append(
                Series(
                    values,
                    name,
                    x=episode_x(run, x),
                    color=PALETTE[i % len(PALETTE)],
                    width=AVG_WIDTH if len(runs) <= 4 else 2.0,
                )
            )
        over = f"over {next(iter(windows))} episodes" if same else "over each run's window"
        chart = LineChart(
            f"{title}, moving average {over}",
            series,
            x_label=X_LABELS[x],
            y_label=f"{label} ({avg})",
            width=width,
            height=height,
            x_integer=x != "time",
            empty_message="no episodes yet",
        )
        charts.append((f"{prefix}_{stem}_curve", chart))
    return charts


def _check_prefix(prefix: str | None) -> None:
    from gymscope.sinks.curves import check_prefix

    if prefix is not None:
        check_prefix(prefix)


def _check_experiment(experiment: object) -> None:
    if isinstance(experiment, bool) or not isinstance(experiment, (int, str)):
        raise ArgumentTypeError(
            f"experiment must be an experiment id (int) or name (str), got {experiment!r}"
        )


def _reader(engine_or_url: Engine | URL | str | os.PathLike[str]) -> MetricsReader:
    from gymscope.metrics.queries import MetricsReader

    return MetricsReader(engine_or_url)


def _write(charts: list[tuple[str, LineChart]], directory: Path, scale: float) -> list[Path]:
    written: list[Path] = []
    for stem, chart in charts:
        written += write_chart(chart, directory / stem, scale=scale)
    return written


def plot_experiment(
    engine_or_url: Engine | URL | str | os.PathLike[str],
    experiment: int | str,
    output_dir: str | os.PathLike[str],
    *,
    prefix: str | None = None,
    window_size: int | None = None,
    scale: float = 1.0,
) -> list[Path]:
    """Draw a logged run's curves: return, length, and every extra series.

    The charts :class:`~gymscope.wrappers.curves.CurveRecorderWrapper` draws
    for the same episodes with the same ``window_size``. Writes
    ``{prefix}_reward_curve``, ``{prefix}_length_curve`` and one
    ``{prefix}_{name}_curve`` per captured info value and metric (from the
    ``extra`` column, and ``actor_loss``/``critic_loss``/``entropy_loss`` when
    reported), each as ``.svg`` and ``.png``, atomically, into ``output_dir``.

    Episodes are taken in the order they ended: by ``episode_num`` for a run
    with one worker, by ``created_at`` across workers otherwise. Moving
    averages are computed over that sequence with ``window_size``, by the
    episode tracker's code (for a one-worker run logged with the same window
    they equal the stored ``reward_moving_avg``). NULL values are gaps.
    ``entropy_loss`` is charted only if some episode has a non-zero value
    (0.0 is also what the logger stores when no entropy loss was reported).

    Nothing is written to the database, and a velora database (no gymscope
    columns) works too, by experiment id.

    Args:
        engine_or_url: A SQLAlchemy Engine, URL (``"sqlite:///metrics.db"``,
            ``"postgresql+psycopg://..."``) or SQLite file path.
        experiment: The experiment's id, or its name (a string of digits is
            tried as an id first, then as a name).
        output_dir: Folder for the charts; created if missing.
        prefix: Start of the file names; default: the experiment's name made
            file-safe (``experiment_{id}`` without a name).
        window_size: Episodes in the moving averages (default: the run's
            own window, ``experiment.stats_window``, 100 when not stored).
        scale: PNG resolution relative to the 960x540 layout.

    Returns:
        The written paths.

    Raises:
        FileNotFoundError: a SQLite file path that does not exist.
        LookupError: no such experiment (the message names the closest names
            or lists the known experiments).
        ValueError: the database has no velora ``episode`` table.

    Example:
        >>> import tempfile, gymnasium as gym
        >>> from gymscope.charts import plot_experiment
        >>> from gymscope.metrics import get_db_engine
        >>> from gymscope.wrappers.sqlite_logger import SQLiteLoggerWrapper
        >>> folder = tempfile.TemporaryDirectory()
        >>> db = f"{folder.name}/metrics.db"
        >>> env = SQLiteLoggerWrapper(gym.make("CartPole-v1"), db, experiment="demo")
        >>> _ = env.reset(seed=0)
        >>> for _ in range(60):
        ...     _, _, terminated, truncated, _ = env.step(0)
        ...     if terminated or truncated:
        ...         _ = env.reset()
        >>> env.close()
        >>> paths = plot_experiment(db, "demo", f"{folder.name}/curves", window_size=5)
        >>> [p.name for p in paths]  # doctest: +NORMALIZE_WHITESPACE
        ['demo_reward_curve.svg', 'demo_reward_curve.png',
         'demo_length_curve.svg', 'demo_length_curve.png']
        >>> folder.cleanup()
    """
    from gymscope.episode import check_window_size

    if window_size is not None:
        window_size = check_window_size(window_size)
    _check_experiment(experiment)
    _check_prefix(prefix)
    from gymscope.sinks.curves import CurveSink

    with _reader(engine_or_url) as reader:
        info = reader.experiment(experiment)
        directory = check_writable_dir(Path(output_dir), "output_dir")
        run = reader.episodes(info)
    sink = CurveSink(
        directory,
        prefix or default_prefix(info),
        window_size or info.stats_window,
        checkpoint_every=None,
        subject=info.env,
    )
    # The charts of CurveSink.save(), without the history JSON: the database
    # already holds every value.
    return _replayed(run, sink).write_charts(scale=scale)


def plot_comparison(
    engine_or_url: Engine | URL | str | os.PathLike[str],
    experiments: Sequence[int | str],
    output_dir: str | os.PathLike[str],
    *,
    prefix: str = "compare",
    window_size: int | None = None,
    scale: float = 1.0,
) -> list[Path]:
    """Draw several logged runs on one chart, to compare them.

    Writes ``{prefix}_reward_curve`` and ``{prefix}_length_curve`` (``.svg``
    and ``.png``, atomically) into ``output_dir``: one line per experiment,
    the moving average of its returns (lengths) over ``window_size``
    episodes, in the order the experiments are given (see
    :func:`comparison_charts`).

    Args:
        engine_or_url: As :func:`plot_experiment`.
        experiments: Ids or names; at least one, each once.
        output_dir: Folder for the charts; created if missing.
        prefix: Start of the file names.
        window_size: Episodes in the moving averages (default: each run's own).
        scale: PNG resolution relative to the 960x540 layout.

    Returns:
        The written paths.

    Raises:
        FileNotFoundError: as :func:`plot_experiment`.
        LookupError: as :func:`plot_experiment`.
        ValueError: as :func:`plot_experiment`, or ``experiments`` is empty
            or names an experiment twice.
    """
    from gymscope.episode import check_window_size

    if window_size is not None:
        window_size = check_window_size(window_size)
    if isinstance(experiments, (str, bytes)) or not isinstance(experiments, Sequence):
        raise ArgumentTypeError(f"experiments must be a list of ids or names, got {experiments!r}")
    if not experiments:
        raise InvalidArgumentError("experiments must name at least one experiment")
    for experiment in experiments:
        _check_experiment(experiment)
    _check_prefix(prefix)
    with _reader(engine_or_url) as reader:
        infos = [reader.experiment(e) for e in experiments]
        seen: dict[int, int | str] = {}
        for given, info in zip(experiments, infos, strict=True):
            if info.id in seen:
                raise InvalidArgumentError(
                    f"experiment {info.id} is given twice ({seen[info.id]!r} and {given!r})"
                )
            seen[info.id] = given
        directory = check_writable_dir(Path(output_dir), "output_dir")
        runs = [reader.episodes(info) for info in infos]
    return _write(comparison_charts(runs, window_size, prefix=prefix), directory, scale)
