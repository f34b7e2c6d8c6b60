"""export_experiment: a run stored in the metrics database, as TensorBoard event files.

A run logged with :class:`~gymscope.wrappers.sqlite_logger.SQLiteLoggerWrapper`
(or by velora) is replayed (:func:`gymscope.replay.stored_records`) into the
:class:`~gymscope.sinks.tensorboard.TensorBoardSink` that
:class:`~gymscope.wrappers.tensorboard.TensorBoardWrapper` writes with, so it
looks in TensorBoard as if it had been logged live. The command line does the same:
``gymscope tensorboard [DB] EXPERIMENT --logdir DIR``.

tensorboardX (in a clone of gymscope: ``uv sync --extra tensorboard`` or
``pip install ".[tensorboard]"``), SQLAlchemy and the
database driver are imported when :func:`export_experiment` runs.
"""

from __future__ import annotations

import os
from pathlib import Path
from typing import TYPE_CHECKING

from gymscope._files import safe_name
from gymscope.errors import ArgumentTypeError, InvalidArgumentError, OutputExistsError
from gymscope.replay import stored_records

if TYPE_CHECKING:
    from gymscope.metrics.db import DbTarget

__all__ = ["export_experiment", "stored_records"]


def export_experiment(
    db: DbTarget,
    experiment: int | str,
    logdir: str | os.PathLike[str],
    *,
    alpha: float | None = None,
    window_size: int | None = None,
    overwrite: bool = False,
) -> Path:
    """Write a stored run as TensorBoard event files into ``logdir/{run name}``.

    The run's folder is named after the experiment (made file-safe;
    ``experiment_{id}`` for a run without a name), so several runs
    converted into one ``logdir`` appear side by side in
    ``tensorboard --logdir {logdir}``. Tags, values and their conventions
    are those of :class:`~gymscope.wrappers.tensorboard.TensorBoardWrapper`
    (see its table), computed from the stored episodes in the order they
    ended:

    - steps are total env steps: the running sum of the episode lengths
      (the live wrapper's ``total_steps`` for a run of one worker; for a run
      of several workers, the steps of all of them);
    - wall times are the times the episodes ended (``created_at``, stored to
      the microsecond: they differ from the live wrapper's by less than
      1 µs; a run without ``created_at`` gets the time of the conversion);
    - ``episode/return_ema_{alpha}``/``length_ema_{alpha}`` and
      ``episode/return_mean_{window}``/``return_std_{window}`` (see
      :func:`~gymscope.sinks.tensorboard.stat_tags`) are run-level: recomputed
      over all workers' episodes in the order they ended, exactly as the live
      wrapper computes them for one stream (the stored ``reward_moving_avg``
      is not used: it is each worker's own, follows the logger's window, and
      velora's is biased toward 0 early on). For a run of one worker they
      equal the live wrapper's; no separate ``run/`` tags are written, since
      these already are the run's;
    - ``info/<key>`` for each numeric captured info value (``extra["info"]``);
    - ``episode_metrics/<name>`` for the per-episode means of the reported
      losses and the other logged metrics (``extra["metrics"]``).
      ``entropy_loss`` only where reported (velora's 0.0 default is read as
      not reported, see :func:`~gymscope.metrics.codec.row_loss`);
    - ``train/<name>`` for every step-keyed training metric
      (``gymscope_metric``), at the step it was reported at: only the reported
      points (a reported NaN stays NaN). Their wall times are the conversion's
      (the sink stamps them as it writes).

    Args:
        db: SQLite file path, SQLAlchemy URL or Engine. Nothing is written
            to it (and a missing SQLite file is not created).
        experiment: The experiment's id or name.
        logdir: Parent folder of the run's folder; created if missing.
        alpha: Weight of the newest episode in the EMAs, in (0, 1] (default:
            the run's own, ``experiment.stats_alpha``, 0.1 when not stored).
        window_size: Episodes spanned by the moving mean and std (default:
            the run's own window, 100 when not stored).
        overwrite: Replace the event files of an earlier conversion in the
            run's folder (other files there are left alone).

    Returns:
        The run's folder, holding one event file.

    Raises:
        gymnasium.error.DependencyNotInstalled: tensorboardX is missing.
        FileNotFoundError: a SQLite path with no file
            (:class:`~gymscope.errors.DatabaseNotFoundError`).
        LookupError: no such experiment
            (:class:`~gymscope.errors.ExperimentNotFoundError`).
        ValueError: not a metrics database, a run without episodes, or a bad
            ``alpha``/``window_size``.
        FileExistsError: the run's folder already holds event files and
            ``overwrite`` is false.
        NotADirectoryError, PermissionError: ``logdir`` cannot become a
            writable folder.

    Example:
        >>> import gymnasium as gym, tempfile
        >>> from gymscope.tensorboard import export_experiment
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
        >>> run = export_experiment(db, "demo", f"{folder.name}/tb")
        >>> run.name, [p.name.startswith("events.out.tfevents.") for p in run.iterdir()]
        ('demo', [True])
        >>> export_experiment(db, "demo", f"{folder.name}/tb")  # doctest: +ELLIPSIS
        Traceback (most recent call last):
            ...
        gymscope.errors.OutputExistsError: .../tb/demo' already holds TensorBoard event files; ...
        >>> folder.cleanup()
    """
    from gymscope.episode import RunInfo, check_alpha, check_window_size
    from gymscope.metrics.queries import MetricsReader
    from gymscope.sinks.tensorboard import TensorBoardSink, check_logdir, import_tensorboardx

    if alpha is not None:
        alpha = check_alpha(alpha)
    if window_size is not None:
        window_size = check_window_size(window_size)
    if isinstance(experiment, bool) or not isinstance(experiment, (int, str)):
        raise ArgumentTypeError(
            f"experiment must be an experiment id (int) or name (str), got {experiment!r}"
        )
    if not isinstance(logdir, (str, os.PathLike)) or isinstance(os.fspath(logdir), bytes):
        raise ArgumentTypeError(
            f"logdir must be a str or path, got {logdir!r} ({type(logdir).__name__})"
        )
    if not isinstance(overwrite, bool):
        raise ArgumentTypeError(f"overwrite must be a bool, got {overwrite!r}")
    parent = check_logdir(Path(logdir).expanduser().absolute())
    import_tensorboardx()  # missing: say so before reading the database

    with MetricsReader(db) as reader:
        run = reader.episodes(experiment)
        metrics = reader.metrics(run.experiment)
    info = run.experiment
    alpha = alpha or info.stats_alpha
    window_size = window_size or info.stats_window
    if not len(run):
        raise InvalidArgumentError(
            f"experiment {info.id} ({info.label!r}) has no episodes yet: nothing to convert"
        )
    folder = parent / (safe_name(info.name, "") or f"experiment_{info.id}")
    old = sorted(folder.glob("*tfevents*")) if folder.is_dir() else []
    if old and not overwrite:
        raise OutputExistsError(
            f"{str(folder)!r} already holds TensorBoard event files; TensorBoard would "
            "show both conversions as one run. Pass overwrite=True to replace them, "
            "or choose another logdir"
        )
    for path in old:
        path.unlink()
    sink = TensorBoardSink(folder, flush_secs=60.0, owner="export_experiment")
    sink.open(RunInfo(experiment=info.name or None, env_id=info.env, agent=info.agent))
    try:
        for record in stored_records(run, alpha=alpha, window_size=window_size):
            sink.on_episode(record)
        for series in metrics:
            points = zip(
                series.steps.tolist(),
                series.values.tolist(),
                series.wall_time.tolist(),
                strict=True,
            )
            for step, value, wall_time in points:
                sink.on_metrics(step, {series.name: value}, walltime=wall_time)
    finally:
        sink.close()
    return folder
