"""Stored runs fed back through the same sinks as live ones.

:func:`stored_records` turns the rows of a stored run into the
:class:`~gymscope.episode.EpisodeRecord` objects a live wrapper would have
handed its sinks, so any sink can be fed from the database::

    with MetricsReader("metrics.db") as reader:
        run = reader.episodes("cartpole-ppo")
    sink.open(RunInfo(experiment=run.experiment.name, env_id=run.experiment.env))
    for record in stored_records(run):
        sink.on_episode(record)
    sink.close()

``gymscope tensorboard`` and ``gymscope plot`` are this loop with the
TensorBoard and curve sinks, which is why live and replayed outputs agree.
"""

from __future__ import annotations

import math
from collections.abc import Iterator
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from gymscope.episode import EpisodeRecord
    from gymscope.metrics.queries import RunEpisodes

__all__ = ["stored_records"]


def stored_records(
    run: RunEpisodes, *, alpha: float = 0.9, window_size: int = 100
) -> Iterator[EpisodeRecord]:
    """The EpisodeRecords a live wrapper would have received for a stored run.

    Moving statistics and EMAs are recomputed over the episodes in the order
    they ended (with ``window_size`` and ``alpha``), with the tracker's own
    code; ``index`` counts them from 0; ``total_steps`` is the running sum of
    the lengths; ``ended_at`` is ``created_at``; ``info`` and ``metrics`` come
    from the ``extra`` column and the loss columns as
    :mod:`gymscope.metrics.codec` defines them (a NULL that ``extra["nan"]``
    names is NaN; any other NULL is a value that was not reported).

    >>> import gymnasium as gym, tempfile
    >>> from gymscope.metrics.queries import MetricsReader
    >>> from gymscope.wrappers.sqlite_logger import SQLiteLoggerWrapper
    >>> folder = tempfile.TemporaryDirectory()
    >>> env = SQLiteLoggerWrapper(gym.make("CartPole-v1"), f"{folder.name}/m.db", "r")
    >>> _ = env.reset(seed=0)
    >>> for _ in range(40):
    ...     _, _, terminated, truncated, _ = env.step(0)
    ...     if terminated or truncated:
    ...         _ = env.reset()
    >>> env.close()
    >>> with MetricsReader(f"{folder.name}/m.db") as reader:
    ...     run = reader.episodes("r")
    >>> [(r.index, r.length, r.total_steps) for r in stored_records(run)][:2]
    [(0, 11, 11), (1, 9, 20)]
    >>> folder.cleanup()
    """
    # The tracker's statistics bank: the exact arithmetic of a live run.
    from gymscope.episode import EpisodeRecord, StatsBank, StatsConfig
    from gymscope.metrics.codec import decode_floats, reported_losses, row_extra, row_metrics

    values = run.values
    n = len(run)
    bank = StatsBank(StatsConfig(window_size, alpha))
    rewards = run.rewards
    ended = run.ended_at()
    raw_extras = values.get("extra") or [None] * n
    losses = reported_losses(values)
    missing: list[Any] = [None] * n
    durations = values.get("duration_s") or missing
    terminated = values.get("terminated") or missing
    truncated = values.get("truncated") or missing
    total_steps = 0
    for i in range(n):
        episode_return = float(rewards[i])
        length = int(values["length"][i])
        total_steps += length
        bank.push(episode_return, length)
        extra = row_extra(raw_extras[i])
        when = ended[i]
        duration = durations[i]
        yield EpisodeRecord(
            index=i,
            episode_return=episode_return,
            length=length,
            duration_s=float(duration) if isinstance(duration, (int, float)) else math.nan,
            ended_at=when.timestamp() if when is not None else math.nan,
            terminated=bool(terminated[i]),
            truncated=bool(truncated[i]),
            total_steps=total_steps,
            window_size=window_size,
            moving_mean=bank.mean,
            moving_std=bank.std,
            ema_return=bank.ema_return,
            ema_length=bank.ema_length,
            alpha=alpha,
            info=decode_floats(extra.get("info")),
            metrics=row_metrics(values, i, losses, extra),
            nonfinite=not math.isfinite(episode_return),
        )
