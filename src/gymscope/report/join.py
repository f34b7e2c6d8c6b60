"""Which run each video belongs to.

A sidecar with a ``schema`` (``gymscope-video/2``) names its run: it is joined
to the run of that exact name, and when that run has several workers, to the
stored episodes of the worker it names (a sidecar's episode ``index`` is that
worker's ``episode_num``). A sidecar naming no run, or a run the database
does not hold, is not matched: it is never guessed.

A sidecar written before there was a schema is matched by a guess: the runs
that stored every episode it shows (same episode number, same return); when
several do, the one whose videos folder holds it or whose name or env id
starts the file name, then the one that was running when the file was
written (or ended closest to it), then the latest.

Both read the episodes already loaded for the page: no query per video or
per episode number.
"""

from __future__ import annotations

import math
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass

from gymscope._files import safe_name
from gymscope.metrics.queries import RunEpisodes, RunSummary
from gymscope.report.media import MediaItem

__all__ = ["RunMedia", "StoredEpisode", "join_media"]

# A video written this long after its run's last episode still counts as
# written "while the run was running" (files are finalised after the episode).
_MEDIA_SLACK_S = 30.0


@dataclass(frozen=True)
class StoredEpisode:
    """A stored episode a video shows."""

    worker: int
    episode_num: int
    reward: float


@dataclass(frozen=True)
class RunMedia:
    """A video or image as shown on the page.

    Attributes:
        item: The file and its sidecar.
        episodes: The stored episodes of its run it shows (empty if unmatched).
        worker: The worker that recorded it, when its run has several.
    """

    item: MediaItem
    episodes: tuple[StoredEpisode, ...] = ()
    worker: int | None = None


class _Stored:
    """One run's episodes by ``episode_num``, built once."""

    def __init__(self, summary: RunSummary, run: RunEpisodes | None) -> None:
        self.summary = summary
        self._run = run
        self._by_num: dict[int, list[StoredEpisode]] | None = None

    @property
    def by_num(self) -> dict[int, list[StoredEpisode]]:
        # built on first use: only a run that has media needs it
        if self._by_num is None:
            self._by_num = {}
            run = self._run
            if run is not None and len(run):
                workers = run.values.get("worker") or [0] * len(run)
                numbers = run.values["episode_num"]
                rewards = run.float_list("reward")
                for worker, num, reward in zip(workers, numbers, rewards, strict=True):
                    episode = StoredEpisode(int(worker or 0), int(num), float(reward))
                    self._by_num.setdefault(episode.episode_num, []).append(episode)
        return self._by_num

    def shown(self, item: MediaItem, worker: int | None) -> RunMedia:
        """``item`` with the stored episodes it shows (of ``worker`` if given)."""
        several = self.summary.workers > 1
        rows = [
            row
            for index, _ in item.episodes()
            for row in self.by_num.get(index, ())
            if worker is None or not several or row.worker == worker
        ]
        if worker is None and several:
            workers = {row.worker for row in rows}
            worker = workers.pop() if len(workers) == 1 else None
        return RunMedia(item, tuple(rows), worker if several else None)


def join_media(
    runs: Sequence[RunSummary],
    episodes: Mapping[int, RunEpisodes],
    media: Sequence[MediaItem],
) -> tuple[dict[int, list[RunMedia]], list[RunMedia]]:
    """Media by the id of the run they belong to (in episode order); and the unmatched."""
    stored = {run.id: _Stored(run, episodes.get(run.id)) for run in runs}
    by_name = {run.name: run for run in runs}
    matched: dict[int, list[RunMedia]] = {}
    unmatched: list[RunMedia] = []
    for item in media:
        if item.schema is not None:
            owner = by_name.get(item.experiment) if item.experiment is not None else None
            worker = item.worker
        else:
            owner, worker = _guess(runs, stored, item), None
        if owner is None:
            unmatched.append(RunMedia(item))
        else:
            matched.setdefault(owner.id, []).append(stored[owner.id].shown(item, worker))
    for items in matched.values():
        items.sort(key=_media_order)
    return matched, sorted(unmatched, key=_media_order)


def _media_order(shown: RunMedia) -> tuple[float, float, float, int, str]:
    """In order of the episode (or step) shown, videos before GIFs of the same one."""
    item = shown.item
    episode = item.number("episode")
    step = item.number("step")
    return (
        math.inf if episode is None else episode,
        math.inf if step is None else step,
        math.inf if shown.worker is None else shown.worker,
        0 if item.kind == "video" else 1,
        item.path.name,
    )


def _same_return(a: float, b: float) -> bool:
    if a != a or b != b:
        return a != a and b != b
    return math.isclose(a, b, rel_tol=1e-9, abs_tol=1e-6)


def _guess(
    runs: Sequence[RunSummary], stored: Mapping[int, _Stored], item: MediaItem
) -> RunSummary | None:
    """The run a sidecar without a schema most likely belongs to (see the module doc)."""
    candidates: list[RunSummary] | None = None
    for index, value in item.episodes():
        fits = [
            run
            for run in (runs if candidates is None else candidates)
            if any(_same_return(row.reward, value) for row in stored[run.id].by_num.get(index, ()))
        ]
        candidates = fits
    if not candidates:
        return None
    return max(candidates, key=_preference(item))


def _preference(item: MediaItem) -> Callable[[RunSummary], tuple[bool, bool, float, int]]:
    """How well a run fits a video: in the run's folder, or its name or env id starts
    the file name; then the file was written while it ran (or soon after), then
    closest in time, then latest."""
    try:
        written: float | None = item.path.stat().st_mtime
    except OSError:
        written = None

    def key(run: RunSummary) -> tuple[bool, bool, float, int]:
        own = safe_name(run.name, "")
        prefixes = [own, run.env.replace("/", "_")]
        named = bool(own) and item.path.parent.name == own
        named = named or any(p and item.path.name.startswith(p) for p in prefixes)
        if written is None or run.started is None or run.ended is None:
            return named, False, -math.inf, run.id
        start, end = run.started.timestamp(), run.ended.timestamp()
        during = start - 1.0 <= written <= end + _MEDIA_SLACK_S
        distance = max(start - written, written - end, 0.0)
        return named, during, -distance, run.id

    return key
