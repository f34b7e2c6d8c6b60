"""Run-level statistics: a run's episodes, all workers merged, as one stream.

Each stored row keeps the moving statistics of the worker that wrote it
(velora's ``reward_moving_avg``/``_std``: over the training window of that
env copy). What a user calls "the run's average" is over the run's episodes
in the order they ended, whichever worker ran them: the order of
:meth:`MetricsReader.episodes <gymscope.metrics.reader.MetricsReader.episodes>`
(end time, ties broken by worker, then episode number). This module computes
the run-level moving mean/std and EMA over that sequence with the tracker's
own :class:`~gymscope.episode.StatsBank`, so a run with one worker gets
exactly the values its rows hold.

>>> stats = run_statistics([1.0, 10.0, 3.0, 30.0], window_size=2, alpha=0.5)
>>> stats.moving_mean.tolist(), stats.last_moving_avg, stats.best_moving_avg
([1.0, 5.5, 6.5, 16.5], 16.5, 16.5)
>>> stats.ema_return.tolist()
[1.0, 5.5, 4.25, 17.125]
"""

from __future__ import annotations

import math
from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from typing import TYPE_CHECKING

from gymscope.episode import StatsBank, StatsConfig

if TYPE_CHECKING:
    import numpy as np
    import numpy.typing as npt

    FloatArray = npt.NDArray[np.float64]

__all__ = [
    "DEFAULT_ALPHA",
    "DEFAULT_WINDOW",
    "MergedStats",
    "RunStatistics",
    "merged_stats",
    "run_statistics",
]

#: Window of a run's statistics when the database does not say (velora's, SB3's 100).
DEFAULT_WINDOW = 100
#: EMA weight of a run's statistics when the database does not say.
DEFAULT_ALPHA = 0.1


@dataclass(frozen=True)
class RunStatistics:
    """Moving statistics over a run's merged episode sequence.

    Attributes:
        window_size: Episodes the moving mean and std span.
        alpha: Weight of the newest episode in the EMA.
        moving_mean: Per episode (merged order): mean return of the last
            ``window_size`` episodes of the run, all workers.
        moving_std: Population standard deviation over the same episodes.
        ema_return: Exponential moving average of the returns.
    """

    window_size: int
    alpha: float
    moving_mean: FloatArray
    moving_std: FloatArray
    ema_return: FloatArray

    def __len__(self) -> int:
        return len(self.moving_mean)

    @property
    def last_moving_avg(self) -> float | None:
        """The run's moving average after its last episode (None: no episode,
        or not finite)."""
        return _finite(self.moving_mean[-1]) if len(self) else None

    @property
    def best_moving_avg(self) -> float | None:
        """The highest finite run-level moving average (None if there is none)."""
        return _best(self.moving_mean.tolist())

    @property
    def last_ema(self) -> float | None:
        """The run's EMA of returns after its last episode."""
        return _finite(self.ema_return[-1]) if len(self) else None

    @property
    def last_moving_std(self) -> float | None:
        """The run's moving standard deviation after its last episode."""
        return _finite(self.moving_std[-1]) if len(self) else None


@dataclass(frozen=True)
class MergedStats:
    """:class:`RunStatistics` as plain lists, without NumPy (what ``gymscope
    show`` needs: it starts without importing NumPy)."""

    window_size: int
    alpha: float
    moving_mean: list[float]
    moving_std: list[float]
    ema_return: list[float]

    def __len__(self) -> int:
        return len(self.moving_mean)

    @property
    def last_moving_avg(self) -> float | None:
        """See :attr:`RunStatistics.last_moving_avg`."""
        return _finite(self.moving_mean[-1]) if self.moving_mean else None

    @property
    def best_moving_avg(self) -> float | None:
        """See :attr:`RunStatistics.best_moving_avg`."""
        return _best(self.moving_mean)

    @property
    def last_ema(self) -> float | None:
        """See :attr:`RunStatistics.last_ema`."""
        return _finite(self.ema_return[-1]) if self.ema_return else None


def _best(values: Sequence[float]) -> float | None:
    return max((v for v in values if math.isfinite(v)), default=None)


def _finite(value: float) -> float | None:
    number = float(value)
    return number if math.isfinite(number) else None


def merged_stats(
    returns: Iterable[float],
    *,
    window_size: int = DEFAULT_WINDOW,
    alpha: float = DEFAULT_ALPHA,
    lengths: Iterable[float] | None = None,
) -> MergedStats:
    """:func:`run_statistics` as plain lists (no NumPy)."""
    values = [float(v) for v in returns]
    sizes = [0.0] * len(values) if lengths is None else [float(v) for v in lengths]
    bank = StatsBank(StatsConfig(window_size, alpha))
    mean: list[float] = []
    std: list[float] = []
    ema: list[float] = []
    push = bank.push
    for value, length in zip(values, sizes, strict=True):
        push(value, int(length) if length == length and math.isfinite(length) else 0)
        mean.append(bank.mean)
        std.append(bank.std)
        ema.append(bank.ema_return)
    return MergedStats(window_size, alpha, mean, std, ema)


def run_statistics(
    returns: Iterable[float] | FloatArray,
    *,
    window_size: int = DEFAULT_WINDOW,
    alpha: float = DEFAULT_ALPHA,
    lengths: Sequence[float] | FloatArray | None = None,
) -> RunStatistics:
    """Run-level statistics of ``returns`` taken in the order given (the merged
    end order): the tracker's :class:`~gymscope.episode.StatsBank` applied to
    the whole run, so the values match what one tracker would have computed."""
    import numpy as np

    if isinstance(returns, np.ndarray):
        returns = returns.tolist()
    if isinstance(lengths, np.ndarray):
        lengths = lengths.tolist()
    merged = merged_stats(returns, window_size=window_size, alpha=alpha, lengths=lengths)
    return RunStatistics(
        window_size,
        alpha,
        np.array(merged.moving_mean, dtype=np.float64),
        np.array(merged.moving_std, dtype=np.float64),
        np.array(merged.ema_return, dtype=np.float64),
    )
