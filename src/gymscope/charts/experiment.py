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

from gymscope._files import check_writable_dir, safe_name
from gymscope.charts.curves import AVG_WIDTH, rolling_mean
from gymscope.charts.layout import PALETTE, LineChart, Series
from gymscope.charts.write import write_chart
from gymscope.errors import ArgumentTypeError, InvalidArgumentError

if TYPE_CHECKING:
    from sqlalchemy.engine import URL, Engine

    from gymscope.metrics.queries import ExperimentInfo, MetricsReader, RunEpisodes
    from gymscope.sinks.curve_history import CurveHistory

    CurveHistoryT = TypeVar("CurveHistoryT", bound=CurveHistory)

__all__ = [
    "comparison_charts",
    "experiment_charts",
    "plot_comparison",
    "plot_experiment",
    "run_label",
]


def run_label(experiment: ExperimentInfo) -> str:
    """How a chart legend names a run: ``#{id} {name}`` (the id first: long
    generated names are cut at the end, where they differ)."""
    return f"#{experiment.id} {experiment.name or experiment.env or 'experiment'}"


def experiment_charts(
    run: RunEpisodes,
    window_size: int,
    *,
    prefix: str | None = None,
    width: int = 960,
    height: int = 540,
) -> list[tuple[str, LineChart]]:
    """One run's charts with their file stems: return, length, every extra series.

    The run is replayed into a :class:`~gymscope.sinks.curve_history.CurveHistory`
    (see :func:`plot_experiment`, which writes the charts). ``prefix``
    defaults to the experiment's name made file-safe (``experiment_{id}``
    without a name).
    """
    from gymscope.sinks.curve_history import CurveHistory

    history = _replayed(run, CurveHistory(window_size))
    info = run.experiment
    return history.charts(
        prefix or default_prefix(info), subject=info.env, width=width, height=height
    )


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
    window_size: int,
    *,
    prefix: str = "compare",
    width: int = 960,
    height: int = 540,
) -> list[tuple[str, LineChart]]:
    """Several runs on one chart: ``{prefix}_reward_curve`` and ``{prefix}_length_curve``.

    Each run is one line, the moving average (over ``window_size`` episodes)
    of its returns (lengths), against the episode number; colours follow
    :data:`~gymscope.charts.PALETTE` in the order given, legends name runs
    with :func:`run_label`.
    """
    charts = []
    for stem, title, label in (
        ("reward", "Episode return", "return"),
        ("length", "Episode length", "length"),
    ):
        series = []
        for i, run in enumerate(runs):
            values = run.rewards if stem == "reward" else run.lengths
            series.append(
                Series(
                    rolling_mean(values, window_size),
                    run_label(run.experiment),
                    x=np.arange(values.size, dtype=np.float64),
                    color=PALETTE[i % len(PALETTE)],
                    width=AVG_WIDTH if len(runs) <= 4 else 2.0,
                )
            )
        chart = LineChart(
            f"{title}, moving average over {window_size} episodes",
            series,
            x_label="episode",
            y_label=f"{label} (avg{window_size})",
            width=width,
            height=height,
            x_integer=True,
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
    window_size: int = 100,
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
        window_size: Episodes in the moving averages.
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
        window_size,
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
    window_size: int = 100,
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
        window_size: Episodes in the moving averages.
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
