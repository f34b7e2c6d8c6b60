"""Episode accounting shared by every gymscope wrapper in a stack.

An :class:`EpisodeTracker` adds up return, length and wall-clock duration from
``step()`` results and, when an episode terminates or truncates, hands a frozen
:class:`EpisodeRecord` to every wrapper that listens to it. Moving statistics
live in :class:`RollingStats` (mean/std over a window, O(1) per episode); the
exponential moving averages are seeded with the first value, so neither is
biased toward zero early in a run.

>>> tracker = EpisodeTracker()
>>> received = []
>>> tracker.add_listener(lambda record, info: received.append(record))
>>> tracker.on_reset()
>>> for reward in (1.0, 2.0, 3.0):
...     tracker.on_step(reward, False, reward == 3.0, {})
>>> received[0].episode_return, received[0].length, received[0].truncated
(6.0, 3, True)
"""

from __future__ import annotations

import logging
import math
import sys
import time
import warnings
from collections.abc import Callable, Iterable, Mapping, MutableMapping, Sequence
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any, SupportsFloat

# NumPy is imported where it is needed, not here: the readers' statistics
# (gymscope runs/show) use StatsBank without it, and a value can only be a
# NumPy object once NumPy is imported (see _numpy()).
if TYPE_CHECKING:
    import numpy as np
    import numpy.typing as npt

from gymscope._checks import check_int, check_number, check_strings
from gymscope.errors import ArgumentTypeError, RewardTypeError, UsageError

__all__ = [
    "EpisodeListener",
    "EpisodeRecord",
    "EpisodeTracker",
    "NonFiniteRewardWarning",
    "ResumeState",
    "RollingStats",
    "RunInfo",
    "StatsBank",
    "StatsConfig",
]

logger = logging.getLogger(__name__)

_isfinite = math.isfinite  # bound once: called on every episode end


class NonFiniteRewardWarning(RuntimeWarning):
    """An episode's return is NaN or infinite (warned once per episode)."""


@dataclass(frozen=True)
class EpisodeRecord:
    """Everything gymscope knows about one finished episode.

    Attributes:
        index: Episode number in this stack, counted from 0.
        episode_return: Sum of the rewards of the episode (may be NaN/inf, see
            ``nonfinite``).
        length: Number of ``step()`` calls in the episode.
        duration_s: Wall-clock seconds from ``reset()`` to the final step.
        ended_at: Unix time (seconds) at which the episode ended.
        terminated: The final step returned ``terminated=True``.
        truncated: The final step returned ``truncated=True``.
        total_steps: Steps taken by this stack so far, this episode included.
        window_size: Number of episodes the moving statistics span (at most).
        moving_mean: Mean return over the last ``window_size`` episodes, or
            over all episodes so far while fewer have finished.
        moving_std: Population standard deviation over the same episodes.
        ema_return: Exponential moving average of returns (first value is the
            first return).
        ema_length: Exponential moving average of lengths.
        alpha: Weight of the newest episode in the EMAs.
        info: Values captured from the final step's ``info`` (``info_keys``).
        metrics: Per-episode means of values reported with ``log_metrics``.
        seed: Seed passed to the ``reset()`` that started the episode, if any.
        nonfinite: The return is NaN or infinite.
    """

    index: int
    episode_return: float
    length: int
    duration_s: float
    ended_at: float
    terminated: bool
    truncated: bool
    total_steps: int
    window_size: int
    moving_mean: float
    moving_std: float
    ema_return: float
    ema_length: float
    alpha: float
    info: dict[str, Any] = field(default_factory=dict)
    metrics: dict[str, float] = field(default_factory=dict)
    seed: int | None = None
    nonfinite: bool = False


@dataclass
class RunInfo:
    """Who the records of a stack belong to, shared by all its sinks.

    A stack's database sink names the run and fills in ``worker`` once it has
    leased a worker number, so that the other sinks of the stack (a video
    sidecar, a tracker run) can name the same run. Fields a driver does not
    know stay None / empty.

    Attributes:
        experiment: Name of the run (table ``experiment``), if known.
        worker: Worker number of the stream within the run, if known.
        env_id: The env's id (``env.spec.id``), or ``""``.
        agent: The agent's name, or ``""``.
        database: The metrics database the stack's database sink writes
            the run to (a SQLAlchemy URL), if there is one: where a tracker
            sink keeps its tracker run's id (``gymscope_tracker_run``).
    """

    experiment: str | None = None
    worker: int | None = None
    env_id: str = ""
    agent: str = ""
    database: Any = field(default=None, compare=False, repr=False)


#: Called once per finished episode with its record and the final step's info
#: (the env's dict, which a listener may add keys to).
EpisodeListener = Callable[[EpisodeRecord, MutableMapping[str, Any]], None]

#: Called with ``(step, values)`` for step-keyed training metrics.
MetricsListener = Callable[[int, Mapping[str, float]], None]


@dataclass(frozen=True)
class ResumeState:
    """Where a worker that rejoins its run takes up: what its stored stream holds.

    A stack's database sink reads it when the worker rejoins (the first
    ``reset()``); the tracker continues from it (episode index, total steps,
    moving window and EMAs, which it rebuilds from the returns and lengths)
    and every sink of the stack is told (:meth:`Sink.on_resume`), so that
    videos, curves and TensorBoard continue instead of starting again.

    Attributes:
        episodes: Episodes the worker finished before: the next episode's index.
        total_steps: Env steps the worker took before.
        returns: Returns of its last episodes, oldest first (at most what
            the statistics need).
        lengths: Their lengths.
        source: Where it was read, for messages (e.g. the database URL).
    """

    episodes: int
    total_steps: int
    returns: tuple[float, ...] = ()
    lengths: tuple[int, ...] = ()
    source: str = ""


#: Given how many past episodes the statistics need, returns a
#: :class:`ResumeState` for the stack's worker, or None (nothing stored).
ResumeSource = Callable[[int], "ResumeState | None"]
#: Told the :class:`ResumeState` the stack continues from.
ResumeListener = Callable[[ResumeState], None]


def history_needed(window_size: int, alpha: float) -> int:
    """How many past episodes rebuild a moving window of ``window_size`` and an
    EMA of weight ``alpha`` to double precision (older ones weigh < 1e-17)."""
    ema = 1 if alpha >= 1.0 else math.ceil(math.log(1e-17) / math.log1p(-alpha))
    return max(2 * window_size, min(ema, 1_000_000))


class RollingStats:
    """Mean and population standard deviation of the last ``window_size`` values.

    O(1) amortised per value: a ring buffer plus a sliding Welford update,
    re-computed exactly from the buffer once per ``window_size`` values (and
    when an outlier leaves the window) so rounding error cannot build up.
    Until the window is full the statistics cover only the values seen so far
    (no zero padding). Non-finite values are kept out of the running sums and
    make the result follow NumPy's rules
    (``mean([1, inf]) == inf``) while they are in the window.

    >>> stats = RollingStats(3)
    >>> for x in (1.0, 2.0, 3.0, 10.0):
    ...     stats.push(x)
    >>> stats.mean, round(stats.std, 6), stats.count
    (5.0, 3.559026, 3)
    """

    __slots__ = (
        "_buf",
        "_m2",
        "_mean",
        "_n_finite",
        "_next",
        "count",
        "window_size",
    )

    def __init__(self, window_size: int) -> None:
        self.window_size = check_window_size(window_size)
        # A list, not an ndarray: reading and writing one float is ~3x cheaper.
        self._buf: list[float] = [0.0] * self.window_size
        self._next = 0
        self.count = 0
        self._n_finite = 0
        self._mean = 0.0
        self._m2 = 0.0

    def push(self, value: float) -> None:
        """Add ``value``, dropping the oldest value once the window is full."""
        slot = self._next
        buf = self._buf
        x = value
        if self.count == self.window_size:
            old = buf[slot]
            buf[slot] = x
            n = self._n_finite
            if n > 1 and _isfinite(x) and _isfinite(old):
                # one sliding Welford step: replace ``old`` by ``x``, n unchanged
                mean = self._mean
                new_mean = mean + (x - old) / n
                old_m2 = self._m2
                m2 = old_m2 + (x - old) * (x - new_mean + old - mean)
                self._mean = new_mean
                if m2 * 1e6 < old_m2:
                    # an outlier left the window: the subtraction cancelled most
                    # digits, so take the small remainder from the values instead
                    self._recompute()
                else:
                    self._m2 = m2
            else:  # a non-finite value enters or leaves: rare, count from the values
                self._recompute()
        else:
            buf[slot] = x
            self.count += 1
            self._add(x)
        slot += 1
        if slot == self.window_size:
            slot = 0
            self._recompute()
        self._next = slot

    def _add(self, x: float) -> None:
        if not _isfinite(x):
            return
        self._n_finite += 1
        delta = x - self._mean
        self._mean += delta / self._n_finite
        self._m2 += delta * (x - self._mean)

    def _recompute(self) -> None:
        finite = [v for v in self._buf[: self.count] if _isfinite(v)]
        self._n_finite = len(finite)
        if finite:
            try:
                self._mean = math.fsum(finite) / len(finite)
                self._m2 = math.fsum((v - self._mean) ** 2 for v in finite)
            except OverflowError:  # returns beyond ~1e154: NumPy's inf, never an exception
                import numpy as np

                with np.errstate(over="ignore", invalid="ignore"):
                    values = np.array(finite, dtype=np.float64)
                    self._mean = float(np.mean(values))
                    self._m2 = float(np.sum((values - self._mean) ** 2))
        else:
            self._mean, self._m2 = 0.0, 0.0

    def values(self) -> npt.NDArray[np.float64]:
        """The values in the window, oldest first (a copy)."""
        import numpy as np

        if self.count < self.window_size:
            return np.array(self._buf[: self.count], dtype=np.float64)
        return np.array(self._buf[self._next :] + self._buf[: self._next], dtype=np.float64)

    @property
    def mean(self) -> float:
        """Mean of the window; NaN when empty."""
        if self._n_finite != self.count:
            return self._numpy_stat("mean")
        return self._mean if self.count else math.nan

    @property
    def std(self) -> float:
        """Population standard deviation of the window; NaN when empty."""
        if self._n_finite != self.count:
            return self._numpy_stat("std")
        return math.sqrt(self._m2 / self._n_finite) if self.count else math.nan

    def _numpy_stat(self, stat: str) -> float:
        # Rare path: non-finite values in the window; NumPy's rules decide.
        import numpy as np

        with np.errstate(invalid="ignore"):
            return float(getattr(np, stat)(self.values()))


def check_alpha(alpha: object) -> float:
    """Validate an EMA weight: a real number with ``0 < alpha <= 1``."""
    return check_number(
        "alpha", alpha, low=0.0, high=1.0, what="a float in (0, 1] (weight of the newest episode)"
    )


def check_window_size(window_size: object) -> int:
    """Validate a moving-statistics window: an int >= 1."""
    return check_int("window_size", window_size, 1)


def check_info_keys(info_keys: object, argument: str = "info_keys") -> tuple[str, ...]:
    """Validate a collection of info keys to capture; returns them as a tuple."""
    return tuple(
        check_strings(
            argument, info_keys, kind="a sequence of str", example="({value!r},)", item="str keys"
        )
    )


@dataclass(frozen=True, slots=True)
class StatsConfig:
    """What one listener wants computed: window of the moving stats, EMA weight."""

    window_size: int = 100
    alpha: float = 0.1

    def __post_init__(self) -> None:
        check_window_size(self.window_size)
        check_alpha(self.alpha)


class StatsBank:
    """Moving statistics for one :class:`StatsConfig`, updated once per episode.

    The EMA is ``avg = alpha * new + (1 - alpha) * avg``, seeded with the
    first value (no bias toward zero).
    """

    __slots__ = ("alpha", "config", "ema_length", "ema_return", "mean", "rolling", "std")

    def __init__(self, config: StatsConfig) -> None:
        self.config = config
        self.alpha = config.alpha
        self.rolling = RollingStats(config.window_size)
        self.ema_return = math.nan
        self.ema_length = math.nan
        self.mean = math.nan
        self.std = math.nan

    def replay(
        self, returns: Sequence[float], lengths: Sequence[int], episodes: int | None = None
    ) -> None:
        """Start again from these past episodes (oldest first), as if pushed.

        ``episodes`` is how many episodes the stream had in all (``returns``
        may be only the last of them). The moving window is rebuilt from the
        last ``window_size + episodes % window_size`` returns, the same
        values an uninterrupted stream recomputed its sums from, so the
        moving mean and std continue bit for bit; the EMAs from all the
        returns given (see :func:`history_needed`).
        """
        self.rolling = rolling = RollingStats(self.config.window_size)
        self.ema_return = self.ema_length = self.mean = self.std = math.nan
        n = len(returns)
        window = rolling.window_size
        total = n if episodes is None else max(episodes, n)
        keep = window + total % window if total > n else n
        start = max(0, n - keep)
        a = self.alpha
        ema_r = ema_l = math.nan
        for i, (episode_return, length) in enumerate(zip(returns, lengths, strict=True)):
            if ema_l != ema_l:
                ema_r, ema_l = episode_return, float(length)
            else:
                ema_r = (
                    a * episode_return + (1.0 - a) * ema_r if _isfinite(ema_r) else episode_return
                )
                ema_l = a * length + (1.0 - a) * ema_l
            if i >= start:
                rolling.push(episode_return)
        self.ema_return, self.ema_length = ema_r, ema_l
        if rolling.count:
            self.mean, self.std = rolling.mean, rolling.std

    def push(self, episode_return: float, length: int) -> tuple[float, float, float, float]:
        """Add one episode; returns ``(mean, std, ema_return, ema_length)`` after it."""
        # RollingStats.push(episode_return), inlined (the same operations in the
        # same order, so the same bits): one call instead of three per episode
        rolling = self.rolling
        x = episode_return
        buf = rolling._buf
        slot = rolling._next
        window = rolling.window_size
        count = rolling.count
        if count == window:
            old = buf[slot]
            buf[slot] = x
            n = rolling._n_finite
            if n > 1 and _isfinite(x) and _isfinite(old):
                mean = rolling._mean
                new_mean = mean + (x - old) / n
                old_m2 = rolling._m2
                m2 = old_m2 + (x - old) * (x - new_mean + old - mean)
                rolling._mean = new_mean
                if m2 * 1e6 < old_m2:
                    rolling._recompute()
                else:
                    rolling._m2 = m2
            else:
                rolling._recompute()
        else:
            buf[slot] = x
            rolling.count = count = count + 1
            if _isfinite(x):  # RollingStats._add
                n = rolling._n_finite = rolling._n_finite + 1
                mean = rolling._mean
                delta = x - mean
                rolling._mean = mean = mean + delta / n
                rolling._m2 += delta * (x - mean)
        slot += 1
        if slot == window:
            slot = 0
            rolling._recompute()
        rolling._next = slot
        if rolling._n_finite == count:  # the usual case, without properties
            self.mean = mean = rolling._mean
            self.std = std = math.sqrt(rolling._m2 / count)
        else:
            self.mean = mean = rolling.mean
            self.std = std = rolling.std
        a = self.alpha
        ema_l = self.ema_length
        if ema_l != ema_l:  # NaN: first episode
            self.ema_return = ema_r = episode_return
            self.ema_length = ema_l = float(length)
        else:
            ema_r = self.ema_return
            # a NaN/inf return would poison the EMA for good: restart after one
            self.ema_return = ema_r = (
                a * episode_return + (1.0 - a) * ema_r if _isfinite(ema_r) else episode_return
            )
            self.ema_length = ema_l = a * length + (1.0 - a) * ema_l
        return mean, std, ema_r, ema_l


def _numpy() -> Any:
    """NumPy if it is imported (None otherwise: then no value can be a NumPy object)."""
    return sys.modules.get("numpy")


def _plain(value: Any) -> Any:
    """A captured info value detached from the env: NumPy scalars become Python
    scalars, arrays are copied (the env may reuse its buffers)."""
    np = _numpy()
    if np is None:
        return value
    if isinstance(value, np.generic):
        return value.item()
    if isinstance(value, np.ndarray):
        return value.copy()
    return value


_new_record = object.__new__
_set_attr = object.__setattr__


class EpisodeTracker:
    """Turns a stream of ``reset()``/``step()`` results into EpisodeRecords.

    One tracker serves a whole stack of gymscope wrappers: the innermost
    wrapper of a contiguous gymscope stack feeds it, and every wrapper of the
    stack is a listener. Per-step work is a state check and two additions;
    everything else happens when an episode ends.

    Listeners are registered with the statistics they want (window and EMA
    weight) and the info keys they capture; each receives its own record.

    Attributes:
        run: The :class:`RunInfo` the stack's sinks share.
    """

    def __init__(self) -> None:
        self.run = RunInfo()
        self._listeners: list[tuple[EpisodeListener, StatsBank, tuple[str, ...]]] = []
        self._priorities: list[int] = []
        self._metrics_listeners: list[MetricsListener] = []
        self._resume_sources: list[tuple[int, ResumeSource]] = []
        self._resume_listeners: list[ResumeListener] = []
        #: The state this stack continued from (None: a fresh stream).
        self.resumed: ResumeState | None = None
        self._banks: dict[StatsConfig, StatsBank] = {}
        self._capture_keys: tuple[str, ...] = ()
        self._metric_sums: dict[str, float] = {}
        self._metric_counts: dict[str, int] = {}
        self.episode_count = 0
        self.total_steps = 0
        self.episode_return: Any = 0.0
        self.episode_length = 0
        self.episode_start_time = -1.0
        self.episode_seed: int | None = None
        #: How to name the env in messages (set by the wrapper that feeds the tracker).
        self.env_label = "the env"
        # None: no reset yet; True: an episode is running; False: it ended.
        self._running: bool | None = None

    # -- listeners -----------------------------------------------------------------
    def add_listener(
        self,
        listener: EpisodeListener,
        stats: StatsConfig | None = None,
        info_keys: Iterable[str] = (),
        *,
        priority: int = 0,
    ) -> None:
        """Deliver every finished episode to ``listener``.

        Listeners of lower ``priority`` are called first (in the order they
        were added among equals): a sink that names the run (the database,
        which leases the worker number) comes before those that report it.
        """
        config = stats if stats is not None else StatsConfig()
        keys = check_info_keys(info_keys)
        bank = self._banks.get(config)
        if bank is None:
            bank = self._banks[config] = StatsBank(config)
            if self.resumed is not None:
                bank.replay(self.resumed.returns, self.resumed.lengths, self.resumed.episodes)
        at = sum(1 for p in self._priorities if p <= priority)
        self._listeners.insert(at, (listener, bank, keys))
        self._priorities.insert(at, priority)
        self._capture_keys = tuple(dict.fromkeys(k for _, _, ks in self._listeners for k in ks))

    def add_metrics_listener(self, listener: MetricsListener) -> None:
        """Deliver every step-keyed metrics report (:meth:`log_metrics` with a step)."""
        self._metrics_listeners.append(listener)

    def add_resume_source(self, source: ResumeSource, *, priority: int = 0) -> None:
        """Ask ``source`` (lower ``priority`` first) for the stream's stored state
        at the first ``reset()``; the first that has one is continued from."""
        at = sum(1 for p, _ in self._resume_sources if p <= priority)
        self._resume_sources.insert(at, (priority, source))

    def add_resume_listener(self, listener: ResumeListener) -> None:
        """Tell ``listener`` the state the stack continues from, if it resumes."""
        self._resume_listeners.append(listener)

    def history_needed(self) -> int:
        """Past episodes the stack's statistics need to be rebuilt on resume."""
        return max((history_needed(c.window_size, c.alpha) for c in self._banks), default=100)

    def _resume(self) -> None:
        """At the first reset: continue the stored stream, if a source has one."""
        sources, self._resume_sources = self._resume_sources, []
        history = self.history_needed()
        for _, source in sources:
            state = source(history)
            if state is not None:
                self.restore(state)
                return

    def restore(self, state: ResumeState) -> None:
        """Continue from ``state``: episode index, total steps, moving statistics;
        then tell the resume listeners (the stack's sinks)."""
        if self.episode_count or self._running:
            raise UsageError(
                f"cannot resume {self.env_label} from {state.source or 'a stored state'}: "
                f"it has recorded {self.episode_count} episode(s) already"
            )
        self.resumed = state
        self.episode_count = state.episodes
        self.total_steps = state.total_steps
        for bank in self._banks.values():
            bank.replay(state.returns, state.lengths, state.episodes)
        for listener in self._resume_listeners:
            listener(state)

    # -- hot path ------------------------------------------------------------------
    @property
    def running(self) -> bool:
        """An episode has been reset and has not ended yet."""
        return bool(self._running)

    def on_reset(self, seed: int | None = None) -> None:
        """Start a new episode (an unfinished one is dropped, as gymnasium does)."""
        if self._running:
            logger.debug(
                "reset() after %d steps of an unfinished episode: not recorded",
                self.episode_length,
            )
        elif self._running is None and self._resume_sources:
            self._resume()
        self.episode_return = 0.0
        self.episode_length = 0
        self.episode_seed = seed
        if self._metric_sums:
            self._metric_sums.clear()
            self._metric_counts.clear()
        self._running = True
        self.episode_start_time = time.perf_counter()

    def on_step(
        self,
        reward: SupportsFloat,
        terminated: bool,
        truncated: bool,
        info: MutableMapping[str, Any],
    ) -> None:
        """Account one ``step()`` result; ends the episode when it is over."""
        if not self._running:
            self.raise_not_running()
        self.account(reward, terminated, truncated, info)

    def account(
        self,
        reward: SupportsFloat,
        terminated: bool,
        truncated: bool,
        info: MutableMapping[str, Any],
    ) -> None:
        """:meth:`on_step` without the state check, for callers that did it first."""
        self.episode_return += reward
        self.episode_length += 1
        if terminated or truncated:
            self.end_episode(terminated, truncated, info)

    def log_metrics(self, values: Mapping[str, SupportsFloat], step: int | None = None) -> None:
        """Accumulate named values; each record gets their mean over the episode.

        With ``step`` (the env step they belong to), the values are also
        delivered at once to the metrics listeners: the step-keyed stream.
        """
        sums, counts = self._metric_sums, self._metric_counts
        numbers: dict[str, float] = {}
        for name, value in values.items():
            try:
                number = float(value)
            except (TypeError, ValueError):
                number = None
            if number is None or isinstance(value, (str, bytes)):
                raise ArgumentTypeError(
                    f"log_metrics({name}={value!r}): {name} must be a real number, got "
                    f"{type(value).__name__}; pass e.g. {name}=float(...)"
                )
            numbers[name] = number
        for name, number in numbers.items():
            sums[name] = sums.get(name, 0.0) + number
            counts[name] = counts.get(name, 0) + 1
        if step is not None and numbers:
            error: BaseException | None = None
            for listener in self._metrics_listeners:
                try:
                    listener(step, numbers)
                except BaseException as exc:  # every listener still gets them
                    if error is None:
                        error = exc
            if error is not None:
                raise error

    def _real_return(self, total: Any) -> float:
        """The episode's return as a float, or a clear error for a reward that
        is not a real number (complex, an array of several values...)."""
        np = _numpy()
        if np is not None and isinstance(total, np.ndarray) and total.size == 1:
            total = total.reshape(()).item()
        real = (int, float) if np is None else (int, float, np.integer, np.floating)
        if isinstance(total, real) and not isinstance(total, bool):
            return float(total)
        self.episode_return = 0.0
        raise self.bad_reward(total, "the rewards of this episode add up to")

    def bad_reward(self, reward: Any, what: str = "step() returned the reward") -> RewardTypeError:
        """The error for a reward that is not a real number."""
        return RewardTypeError(
            f"{self.env_label}: {what} {reward!r} ({type(reward).__name__}), which is not a "
            "real number; rewards must be int or float (or NumPy scalars). Fix the env's "
            "step() or wrap it in a gymnasium.wrappers.TransformReward that converts them"
        )

    def raise_not_running(self) -> None:
        """Raise the error for a step() outside an episode."""
        if self._running is None:
            raise UsageError(
                "step() was called before reset(): call env.reset() to start an episode"
            )
        raise UsageError(
            f"step() was called after episode {self.episode_count - 1} ended "
            "(terminated or truncated) without reset(): call env.reset() first"
        )

    # -- episode end ---------------------------------------------------------------
    def end_episode(
        self, terminated: bool, truncated: bool, info: MutableMapping[str, Any]
    ) -> None:
        """Close the running episode and deliver its record to every listener.

        Wrappers call this from their inlined per-step accounting; it expects
        ``episode_return``/``episode_length`` to include the final step.
        """
        duration = time.perf_counter() - self.episode_start_time
        self._running = False
        total = self.episode_return
        # a float is the usual case, checked for free
        episode_return = total if type(total) is float else self._real_return(total)
        length = self.episode_length
        self.total_steps += length
        index = self.episode_count
        self.episode_count = index + 1
        nonfinite = not _isfinite(episode_return)
        if nonfinite:
            warnings.warn(
                f"episode {index} has a non-finite return ({episode_return}): a reward was "
                "NaN or infinite; it is recorded as is and flagged (record.nonfinite)",
                NonFiniteRewardWarning,
                stacklevel=4,
            )
        captured = (
            {k: _plain(info[k]) for k in self._capture_keys if k in info}
            if self._capture_keys
            else None
        )
        sums = self._metric_sums
        metrics = (
            {name: total / self._metric_counts[name] for name, total in sums.items()}
            if sums
            else None
        )
        for bank in self._banks.values():
            bank.push(episode_return, length)
        ended_at = time.time()
        terminated, truncated = bool(terminated), bool(truncated)
        seed, total_steps = self.episode_seed, self.total_steps
        error: BaseException | None = None
        for listener, bank, keys in self._listeners:
            record: EpisodeRecord = _new_record(EpisodeRecord)
            # bypasses the frozen __init__ (one object.__setattr__ per field, ~1.5 us)
            _set_attr(
                record,
                "__dict__",
                {
                    "index": index,
                    "episode_return": episode_return,
                    "length": length,
                    "duration_s": duration,
                    "ended_at": ended_at,
                    "terminated": terminated,
                    "truncated": truncated,
                    "total_steps": total_steps,
                    "window_size": bank.rolling.window_size,
                    "moving_mean": bank.mean,
                    "moving_std": bank.std,
                    "ema_return": bank.ema_return,
                    "ema_length": bank.ema_length,
                    "alpha": bank.alpha,
                    "info": (
                        {k: captured[k] for k in keys if k in captured} if keys and captured else {}
                    ),
                    "metrics": metrics.copy() if metrics else {},
                    "seed": seed,
                    "nonfinite": nonfinite,
                },
            )
            try:
                listener(record, info)
            except BaseException as exc:  # every listener still gets the episode
                if error is None:
                    error = exc
        if error is not None:
            raise error
