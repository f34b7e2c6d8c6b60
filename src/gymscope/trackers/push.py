"""push_experiment: a run stored in the metrics database, handed to a tracker later.

The offline half of :class:`~gymscope.wrappers.analytics.AnalyticsWrapper`:
a run recorded without network (a cluster, a train) is replayed from the
database through the same :class:`~gymscope.trackers.sink.TrackerSink`, so
the tracker shows what a live run would have shown. ``gymscope push DB
EXPERIMENT --to mlflow`` is this function.
"""

from __future__ import annotations

import dataclasses
import logging
import os
from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any

from gymscope.errors import ArgumentTypeError, InvalidArgumentError
from gymscope.state import AnalyticsState
from gymscope.trackers._client import TrackerClient

if TYPE_CHECKING:
    from gymscope.metrics.db import DbTarget

__all__ = ["PushResult", "push_experiment"]

logger = logging.getLogger(__name__)


@dataclass(frozen=True)
class PushResult:
    """What one push sent.

    Attributes:
        run_id: The tracker's id of the run.
        episodes: Episodes sent by this push (0: the tracker had them all).
        metrics: Training-metric points sent.
        videos: Videos and GIFs attached.
        kept: The run id and high-water marks are kept in the database (False
            for a read-only database: a second push cannot tell what was sent).
        error: What stopped the tracker, if something did (then nothing is
            counted as sent, and the database says so).
    """

    run_id: str | None
    episodes: int
    metrics: int
    videos: int
    kept: bool
    error: BaseException | None = None


def push_experiment(
    db: DbTarget,
    experiment: int | str,
    backend: str | TrackerClient,
    state: AnalyticsState | None = None,
    *,
    uri: str | None = None,
    settings: Mapping[str, Any] | None = None,
    media: Iterable[str | os.PathLike[str]] = (),
    alpha: float | None = None,
    window_size: int | None = None,
) -> PushResult:
    """Send a stored run to a tracker: episodes, training metrics, config, videos.

    Episodes of all workers go in the order they ended, with run-level
    statistics (as ``gymscope tensorboard`` computes them), stepped by the
    running sum of their lengths (the env steps of all workers). The run's
    latest config is the tracker's config. Videos whose sidecars name the
    run are attached, from ``media`` folders and the ``videos/`` folder next
    to a SQLite database (and their per-run subfolders).

    **Idempotent.** The tracker run's id and what it holds are kept in the
    database (``gymscope_tracker_run``, one row per backend and target):
    pushing again sends nothing new; pushing after more episodes were stored
    sends only those, into the same tracker run, stepped on from the last
    step it holds. A run recorded live with an
    :class:`~gymscope.wrappers.analytics.AnalyticsWrapper` beside a database
    wrapper is continued too: its worker's tracker run gets the episodes it
    missed (a tracker that was unreachable, a process killed between sends).
    A read-only database is read and pushed, but nothing can be kept: the
    result says ``kept=False`` and a second push would start a new tracker run
    (give ``state.run_id`` to continue one).

    Args:
        db: SQLite file path, SQLAlchemy URL or Engine.
        experiment: The experiment's id or name.
        backend: ``"wandb"``, ``"mlflow"``, ``"comet"`` or a TrackerClient.
        state: Project, name, tags, ... of the tracker run (default: project
            ``"gymscope"``, velora's name ``{agent}_{env}_{episodes}ep``).
        uri: MLflow tracking URI.
        settings: Backend-specific keyword arguments.
        media: More folders of videos and their sidecars.
        alpha: EMA weight (default: the run's own).
        window_size: Moving-statistics window (default: the run's own).

    Raises:
        gymnasium.error.DependencyNotInstalled: the tracker's SDK is missing.
        FileNotFoundError, LookupError, ValueError: no such database or
            experiment, a run without episodes, a bad argument.
    """
    from gymscope.episode import RunInfo, check_alpha, check_window_size
    from gymscope.metrics.db import resolve_url
    from gymscope.metrics.queries import MetricsReader
    from gymscope.replay import stored_records
    from gymscope.trackers._store import TrackerRunStore
    from gymscope.trackers.sink import TrackerSink, tracker_target

    if state is None:
        state = AnalyticsState("gymscope")
    if not isinstance(state, AnalyticsState):
        raise ArgumentTypeError(f"state must be an AnalyticsState or None, got {state!r}")
    if alpha is not None:
        alpha = check_alpha(alpha)
    if window_size is not None:
        window_size = check_window_size(window_size)
    folders = [Path(os.fspath(folder)).expanduser() for folder in media]

    with MetricsReader(db) as reader:
        run = reader.episodes(experiment)
        info = run.experiment
        metrics = reader.metrics(info)
        configs = reader.configs(info)
        database: Any = reader.engine if reader.path is None else resolve_url(reader.path)
        if reader.path is not None:
            folders.append(reader.path.parent / "videos")
    if not len(run):
        raise InvalidArgumentError(
            f"experiment {info.id} ({info.label!r}) has no episodes yet: nothing to push"
        )
    config = configs[-1].value() if configs else info.config_value()
    sink = TrackerSink(
        backend,
        state,
        config=config if isinstance(config, Mapping) and config else None,
        agent=info.agent,
        episodes=len(run),
        uri=uri,
        settings=settings,
        flush_every=1_000_000,
        flush_secs=1e9,
        run_level=True,
        owner="gymscope push",
    )
    sink.open(RunInfo(experiment=info.name or None, env_id=info.env, agent=info.agent))
    assert sink.run is not None
    workers = [int(w or 0) for w in run.values.get("worker") or [0] * len(run)]
    numbers = [int(n) for n in run.values["episode_num"]]
    store = None
    if info.name:
        sink.run.database = database
        spec = sink._spec()
        target = tracker_target(sink.backend, spec)
        store = TrackerRunStore(
            database, info.name, worker=None, backend=sink.backend, target=target,
            experiment_id=info.id,
        )  # fmt: skip
        try:
            stored = store.load()
        except Exception as exc:  # e.g. a read-only file in rollback-journal mode
            logger.warning("cannot read the tracker runs of %r: %s", info.name, exc)
            stored = None
        if stored is None and len(set(workers)) == 1:
            # one worker, recorded live: continue its own tracker run
            live = TrackerRunStore(
                database, info.name, worker=workers[0], backend=sink.backend, target=target,
                experiment_id=info.id,
            )  # fmt: skip
            try:
                found = live.load()
            except Exception:
                found = None
            if found is not None:
                store.close()
                store, stored = live, found
        sink.use_store(store, stored)
    held = dict(sink._stored.episodes)
    base = sink._stored.episode_step or 0
    step = base
    sent = 0
    steps: dict[tuple[int, int], int] = {}
    records = stored_records(
        run,
        alpha=alpha or info.stats_alpha,
        window_size=window_size or info.stats_window,
    )
    for record, worker, number in zip(records, workers, numbers, strict=True):
        if number <= held.get(worker, -1):
            steps[(worker, number)] = min(record.total_steps, base)
            continue
        step += record.length
        steps[(worker, number)] = step
        sink.on_run_episode(dataclasses.replace(record, total_steps=step), worker, number)
        sent += 1
    floor = sink._stored.metric_step
    points = 0
    for series in metrics:
        for at, value in zip(series.steps.tolist(), series.values.tolist(), strict=True):
            if floor is None or at > floor:
                points += 1
            sink.on_metrics(int(at), {series.name: value})
    videos = _videos(sink, folders, info.name, steps)
    try:
        sink.flush()
        sink.close()
    finally:
        if store is not None:
            store.close()
    kept = bool(sink.kept)
    if sink.failed is not None:
        return PushResult(sink.run_id, 0, 0, 0, kept, sink.failed)
    return PushResult(sink.run_id, sent, points, videos, kept)


def _videos(sink: Any, folders: list[Path], name: str, steps: dict[tuple[int, int], int]) -> int:
    """Queue the run's videos on ``sink``; how many were not attached before."""
    from gymscope.report.media import find_media

    if not name:
        return 0
    count = 0
    for item in find_media(folders, runs=[name]):
        if item.experiment != name:
            continue
        worker = item.worker if item.worker is not None else 0
        shown = item.episodes()
        index = shown[0][0] if shown else None
        step = steps.get((worker, index), 0) if index is not None else 0
        _, caption = sink.video_step(item.sidecar, item.worker)
        if item.path.name not in sink._stored.videos:
            count += 1
        sink.add_video(item.path, step=step, caption=caption)
    return count
