"""The sink interface: one small class per output, fed EpisodeRecords.

A sink is where finished episodes go: the ``info["episode"]`` statistics, a
database row, a curve history, a TensorBoard event, a video sidecar, a CSV
line of your own. In the spirit of SB3's ``KVWriter``, a sink knows nothing
about environments: a driver (a gymscope wrapper, a vector wrapper, a replay
of a stored run) calls

- :meth:`~EpisodeSink.open` once with the :class:`RunInfo` the records
  belong to,
- :meth:`~EpisodeSink.on_episode` once per finished episode, in the order
  the episodes ended,
- :meth:`~EpisodeSink.on_metrics` for step-keyed training metrics (losses,
  learning rate),
- :meth:`~EpisodeSink.close` once at the end (idempotent).

Any object with these four methods is a sink (:class:`EpisodeSink` is a
``Protocol``); :class:`Sink` is a base class with no-op defaults to
subclass. See the "Sinks" docs page for a custom sink driven by a wrapper.

>>> from gymscope.episode import EpisodeTracker
>>> class Returns(Sink):
...     def __init__(self):
...         self.returns = []
...     def on_episode(self, record, info=None):
...         self.returns.append(record.episode_return)
>>> sink = Returns()
>>> sink.open(RunInfo(experiment="demo"))
>>> for record in replay_returns([1.0, 2.0]):
...     sink.on_episode(record)
>>> sink.returns, sink.run.experiment
([1.0, 2.0], 'demo')
"""

from __future__ import annotations

import math
import time
from collections.abc import Iterable, Iterator, Mapping, MutableMapping
from typing import Any, Protocol, runtime_checkable

from gymscope.episode import EpisodeRecord, ResumeState, RunInfo, StatsBank, StatsConfig

__all__ = ["EpisodeSink", "ResumeState", "RunInfo", "Sink", "replay_returns"]


@runtime_checkable
class EpisodeSink(Protocol):
    """What a driver calls on an output. Implement all four (or subclass :class:`Sink`)."""

    def open(self, run: RunInfo) -> None:
        """Join ``run`` (called once, before the first episode). Acquire nothing
        costly here: the first :meth:`on_episode` is the place for that."""

    def on_episode(
        self, record: EpisodeRecord, info: MutableMapping[str, Any] | None = None
    ) -> None:
        """Take one finished episode. ``info`` is the final step's info dict when
        the episode is live (a sink may add keys to it), None when replayed."""

    def on_metrics(self, step: int, values: Mapping[str, float]) -> None:
        """Take training metrics reported at env step ``step``."""

    def close(self) -> None:
        """Flush and release everything (idempotent)."""


class Sink:
    """Convenience base of a sink: stores the run, no-op metrics and close.

    Subclasses implement :meth:`on_episode` and, as needed, :meth:`on_metrics`,
    :meth:`close`, :meth:`on_resume` and :meth:`forked` (called in a process that inherited the
    sink by ``fork()`` before it writes anything there: drop what belongs to
    the parent, such as connections and child processes, without closing it).
    """

    run: RunInfo | None = None

    def open(self, run: RunInfo) -> None:
        """Remember ``run`` as :attr:`run`."""
        self.run = run

    def on_episode(
        self, record: EpisodeRecord, info: MutableMapping[str, Any] | None = None
    ) -> None:
        """Take one finished episode (see :class:`EpisodeSink`)."""
        raise NotImplementedError(f"{type(self).__name__} must implement on_episode()")

    def on_metrics(self, step: int, values: Mapping[str, float]) -> None:
        """Take training metrics at env step ``step`` (ignored unless overridden)."""

    def close(self) -> None:
        """Flush and release (nothing to do unless overridden)."""

    def forked(self) -> None:
        """Forget what the parent process owns (nothing unless overridden)."""

    def on_resume(self, state: ResumeState) -> None:
        """The stack continues a stored stream (a worker rejoining its run):
        the next record's index is ``state.episodes``. Continue the output
        rather than starting it again (nothing unless overridden)."""


def replay_returns(
    returns: Iterable[float], *, window_size: int = 100, alpha: float = 0.1
) -> Iterator[EpisodeRecord]:
    """EpisodeRecords of one-step episodes with the given returns, computed with
    the tracker's statistics (for examples and tests of sinks)."""
    bank = StatsBank(StatsConfig(window_size, alpha))
    for index, value in enumerate(returns):
        bank.push(float(value), 1)
        yield EpisodeRecord(
            index=index,
            episode_return=float(value),
            length=1,
            duration_s=0.0,
            ended_at=time.time(),
            terminated=True,
            truncated=False,
            total_steps=index + 1,
            window_size=window_size,
            moving_mean=bank.mean,
            moving_std=bank.std,
            ema_return=bank.ema_return,
            ema_length=bank.ema_length,
            alpha=alpha,
            nonfinite=not math.isfinite(float(value)),
        )
