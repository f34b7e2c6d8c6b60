"""EpisodeStatsSink: gymnasium's ``info["episode"]`` statistics and deques."""

from __future__ import annotations

import math
from collections import deque
from collections.abc import MutableMapping
from typing import Any, TypeGuard

import numpy as np

from gymscope._checks import check_int, check_str
from gymscope.episode import EpisodeRecord, ResumeState
from gymscope.errors import StatsKeyClashError
from gymscope.sinks.base import Sink

__all__ = ["STATS_KEYS", "EpisodeStatsSink"]

#: Keys written into ``info[stats_key]`` besides captured info values.
STATS_KEYS = ("r", "l", "t", "r_mean", "r_std", "r_ema", "l_ema")


class EpisodeStatsSink(Sink):
    """Keeps gymnasium's deques and writes ``info[stats_key]`` at each episode end.

    ``"r"``, ``"l"``, ``"t"`` have gymnasium's meanings and types (return as
    float, length as int, duration in seconds rounded to 6 places); ``r_mean``,
    ``r_std``, ``r_ema``, ``l_ema`` are the record's moving statistics; the
    captured info values follow. Replayed records (``info=None``) only fill
    the deques. A stack that resumes its run (see the "Resuming a run" docs
    page) refills ``return_queue`` and ``length_queue`` (:meth:`on_resume`).

    Args:
        stats_key: The ``info`` key to write.
        buffer_length: Length of ``return_queue``, ``length_queue``, ``time_queue``.

    When ``info[stats_key]`` is already there and describes the same episode
    (same ``r`` and ``l``: SB3's ``Monitor`` or gymnasium's
    ``RecordEpisodeStatistics`` inside the stack), the keys it lacks are added
    to it and its own values are kept.

    Raises:
        StatsKeyClashError: (a ``KeyError``) from :meth:`on_episode`, when
            ``info[stats_key]`` is already set by someone else to something
            that is not this episode's statistics.

    >>> from gymscope.sinks.base import replay_returns
    >>> sink = EpisodeStatsSink()
    >>> info = {}
    >>> for record in replay_returns([1.0, 3.0]):
    ...     sink.on_episode(record, info)
    ...     info.pop("episode")["r_mean"]
    1.0
    2.0
    >>> sink.return_queue, sink.episode_count
    (deque([1.0, 3.0], maxlen=100), 2)
    """

    def __init__(self, stats_key: str = "episode", buffer_length: int = 100) -> None:
        self.stats_key = check_str("stats_key", stats_key)
        check_int("buffer_length", buffer_length, 1)
        self.episode_count = 0
        self.time_queue: deque[float] = deque(maxlen=buffer_length)
        self.return_queue: deque[float] = deque(maxlen=buffer_length)
        self.length_queue: deque[int] = deque(maxlen=buffer_length)

    def on_resume(self, state: ResumeState) -> None:
        """Continue a stored stream: ``episode_count`` becomes ``state.episodes``
        and ``return_queue``/``length_queue`` hold its last episodes, so that
        ``np.mean(env.return_queue)`` goes on where the earlier attempt left it.

        ``time_queue`` starts empty: episode durations are not part of the
        stored state (:class:`~gymscope.episode.ResumeState`).
        """
        self.episode_count = state.episodes
        self.return_queue.clear()
        self.length_queue.clear()
        self.time_queue.clear()
        self.return_queue.extend(state.returns)
        self.length_queue.extend(state.lengths)

    def on_episode(
        self, record: EpisodeRecord, info: MutableMapping[str, Any] | None = None
    ) -> None:
        """Append to the deques; write ``info[stats_key]`` when ``info`` is given."""
        duration = round(record.duration_s, 6)
        self.time_queue.append(duration)
        self.return_queue.append(record.episode_return)
        self.length_queue.append(record.length)
        self.episode_count += 1
        if info is None:
            return
        key = self.stats_key
        stats = {
            "r": record.episode_return,
            "l": record.length,
            "t": duration,
            "r_mean": record.moving_mean,
            "r_std": record.moving_std,
            "r_ema": record.ema_return,
            "l_ema": record.ema_length,
        }
        if record.info:
            stats.update(record.info)
        existing = info.get(key)
        if existing is None and key not in info:
            info[key] = stats
        elif _same_episode(existing, record):
            # SB3's Monitor (or gymnasium's RecordEpisodeStatistics) inside the
            # stack described this episode first: add what it lacks, keep its
            # values (SB3's "t" means seconds since the monitor started)
            for name, value in stats.items():
                existing.setdefault(name, value)
        else:
            raise StatsKeyClashError(
                f"info[{key!r}] is already set by another wrapper to {existing!r}, which is "
                f"not this episode (return {record.episode_return!r}, length {record.length}); "
                f"EpisodeStatsWrapper would overwrite it. Pass a different key, e.g. "
                f"EpisodeStatsWrapper(env, stats_key='{key}_stats'), or remove the other "
                "statistics wrapper"
            )


def _same_episode(existing: object, record: EpisodeRecord) -> TypeGuard[dict[str, Any]]:
    """``existing`` is a statistics dict of the same episode (same ``r`` and ``l``;
    ``r`` as SB3's Monitor rounds it, to 6 places)."""
    if not isinstance(existing, dict):
        return False
    r, length = existing.get("r"), existing.get("l")
    if isinstance(r, bool) or not isinstance(r, (int, float, np.number)):
        return False
    if isinstance(length, bool) or not isinstance(length, (int, np.integer)):
        return False
    if int(length) != record.length:
        return False
    ours, theirs = record.episode_return, float(r)
    if math.isnan(ours) or math.isnan(theirs):
        return math.isnan(ours) and math.isnan(theirs)
    if math.isinf(ours) or math.isinf(theirs):
        return ours == theirs
    return math.isclose(theirs, ours, rel_tol=1e-9, abs_tol=1e-6)
