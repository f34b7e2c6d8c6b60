"""VectorEpisodeTracker: episode accounting for a whole batch of sub-envs at once.

The per-step work is a handful of NumPy operations on arrays of length
``num_envs`` (running returns as float64; lengths are counted as steps since
the step each episode started at, start times are kept per sub-env), the
same whatever ``num_envs`` is; Python loops run only at episode ends, once
per sub-env whose episode ended, in sub-env order. Each sub-env is a stream of
its own (a *worker* of the run, numbered by its index): its records count
its episodes and steps, and its moving statistics are exactly those a
single-env :class:`~gymscope.episode.EpisodeTracker` on that sub-env computes.

How a step is accounted depends on the vector env's autoreset mode
(``env.metadata["autoreset_mode"]``, as gymnasium reads it):

- ``NEXT_STEP``: the step after a sub-env's episode end only resets that
  sub-env; neither its reward nor a length step counts, and the next
  episode's clock starts there (as gymnasium's ``RecordEpisodeStatistics``).
- ``SAME_STEP``: every step counts; a sub-env that ended was reset within
  the same step, so its accounting restarts at once.
- ``DISABLED``: the caller resets the sub-envs it chooses with
  ``reset(options={"reset_mask": mask})``; only the masked sub-envs start
  new episodes, the others go on. A sub-env that ended and is stepped again
  without being reset is refused by gymnasium's own vector envs (an
  ``AssertionError``); if a vector env steps it anyway, the tracker does what
  gymnasium's wrapper does: that step is not counted and a new episode
  starts after it, as in ``NEXT_STEP``.

>>> import numpy as np
>>> from gymnasium.vector import AutoresetMode
>>> tracker = VectorEpisodeTracker(2, AutoresetMode.SAME_STEP)
>>> ended = []
>>> tracker.add_listener(lambda ends, infos: ended.extend(ends.records))
>>> tracker.on_reset()
>>> no = np.array([False, False])
>>> tracker.on_step(np.array([1.0, 2.0]), no, no, {})
>>> tracker.on_step(np.array([1.0, 2.0]), np.array([False, True]), no, {})
>>> [(r.index, r.episode_return, r.length) for r in ended]
[(0, 4.0, 2)]
>>> tracker.episode_returns.tolist()  # sub-env 1 restarted at once
[2.0, 0.0]
"""

from __future__ import annotations

import logging
import math
import time
import warnings
from collections.abc import Callable, Iterable, Mapping, MutableMapping
from typing import Any

import numpy as np
import numpy.typing as npt
from gymnasium.vector import AutoresetMode

from gymscope._checks import check_int
from gymscope.episode import (
    EpisodeRecord,
    MetricsListener,
    NonFiniteRewardWarning,
    ResumeListener,
    ResumeSource,
    ResumeState,
    RunInfo,
    StatsBank,
    StatsConfig,
    check_info_keys,
    history_needed,
)
from gymscope.errors import ArgumentTypeError, InvalidArgumentError, RewardTypeError, UsageError

__all__ = [
    "EpisodeEnds",
    "VectorEpisodeListener",
    "VectorEpisodeTracker",
    "sub_env_info",
]

logger = logging.getLogger(__name__)

_isfinite = math.isfinite
_new_record = object.__new__
_set_attr = object.__setattr__
_perf_counter = time.perf_counter
#: Up to this many ended episodes per step, arrays are filled item by item.
_FEW = 8


class EpisodeEnds:
    """The episodes that ended at one vector step, as one listener receives them.

    Everything is a snapshot taken when the episodes ended, valid after the
    step too. The arrays and lists are shared by every listener of the step:
    read them, do not write to them. :attr:`records` are built on first use
    (a wrapper that only needs the statistics, such as the vector
    ``EpisodeStatsWrapper``, reads :attr:`moving_stats` and never pays for them).

    Attributes:
        mask: Which sub-envs ended an episode at this step (bool, ``num_envs``).
        index: Their indices, ascending (an array).
        sub_envs: The same indices, as a tuple of ints.
        returns: Episode returns where ``mask``, 0.0 elsewhere (float64).
        lengths: Episode lengths where ``mask``, 0 elsewhere (int64).
        durations: Episode durations in seconds rounded to 6 places where
            ``mask``, 0.0 elsewhere (float64): gymnasium's ``"t"``.
        episode_returns: The returns of the ended sub-envs, in the order of
            ``sub_envs``, as floats.
        episode_lengths: Their lengths, as ints.
        rounded_durations: Their durations rounded to 6 places, as floats.
        moving_stats: Their ``(moving_mean, moving_std, ema_return,
            ema_length)`` with this listener's statistics.
        moving_arrays: The same four statistics as ``num_envs`` float64
            arrays, 0.0 where no episode ended (built on first use unless the
            tracker filled them while it computed them).
        final_infos: Each ended sub-env's final-step info (see
            :func:`sub_env_info`), in the order of ``sub_envs``.
    """

    __slots__ = (
        "_arrays",
        "_config",
        "_ended_at",
        "_episodes",
        "_finals",
        "_records",
        "_wanted",
        "durations",
        "episode_lengths",
        "episode_returns",
        "index",
        "lengths",
        "mask",
        "moving_stats",
        "returns",
        "rounded_durations",
        "sub_envs",
    )

    def __init__(
        self,
        mask: npt.NDArray[np.bool_],
        index: npt.NDArray[np.intp],
        sub_envs: tuple[int, ...],
        returns: npt.NDArray[np.float64],
        lengths: npt.NDArray[np.int64],
        durations: npt.NDArray[np.float64],
        episode_returns: list[float],
        episode_lengths: list[int],
        rounded_durations: list[float],
        final_infos: tuple[dict[str, Any], ...] | None,
        moving_stats: list[tuple[float, float, float, float]],
        episodes: _Ended,
        ended_at: float,
        config: StatsConfig,
        wanted: tuple[str, ...],
        arrays: _Arrays | None = None,
    ) -> None:
        self.mask = mask
        self.index = index
        self.sub_envs = sub_envs
        self.returns = returns
        self.lengths = lengths
        self.durations = durations
        self.episode_returns = episode_returns
        self.episode_lengths = episode_lengths
        self.rounded_durations = rounded_durations
        self._finals = final_infos
        self.moving_stats = moving_stats
        self._episodes = episodes
        self._ended_at = ended_at
        self._config = config
        self._wanted = wanted
        self._records: tuple[EpisodeRecord, ...] | None = None
        self._arrays = arrays

    @property
    def moving_arrays(self) -> _Arrays:
        """``(moving_mean, moving_std, ema_return, ema_length)``, each a float64
        array of ``num_envs`` with 0.0 where no episode ended."""
        arrays = self._arrays
        if arrays is None:
            n = len(self.mask)
            arrays = np.zeros(n), np.zeros(n), np.zeros(n), np.zeros(n)
            means, stds, emas, ema_lengths = arrays
            for i, (mean, std, ema_return, ema_length) in zip(
                self.sub_envs, self.moving_stats, strict=True
            ):
                means[i], stds[i], emas[i], ema_lengths[i] = mean, std, ema_return, ema_length
            self._arrays = arrays
        return arrays

    @property
    def final_infos(self) -> tuple[dict[str, Any], ...]:
        """Each ended sub-env's final-step info (see :func:`sub_env_info`), in the
        order of ``sub_envs``."""
        finals = self._finals
        if finals is None:  # the step's info was empty: one empty dict each
            finals = self._finals = tuple([{} for _ in self.sub_envs])
        return finals

    @property
    def records(self) -> tuple[EpisodeRecord, ...]:
        """One record per ended sub-env, in the order of ``sub_envs``, with this
        listener's statistics and captured info keys."""
        records = self._records
        if records is None:
            records = self._records = tuple(self._build())
        return records

    def _build(self) -> Iterable[EpisodeRecord]:
        window, alpha, wanted = self._config.window_size, self._config.alpha, self._wanted
        ended_at = self._ended_at
        numbers, total_steps_, now, starts, terms, truncs, seeds, nonfinite_, captured_ = (
            self._episodes
        )
        k = len(numbers)
        durations = [now - start for start in starts]
        for (
            number,
            length,
            total_steps,
            duration,
            term,
            trunc,
            seed,
            nonfinite,
            captured,
            (mean, std, ema_r, ema_l),
            episode_return,
        ) in zip(
            numbers,
            self.episode_lengths,
            total_steps_,
            durations,
            terms.tolist(),
            truncs.tolist(),
            seeds if seeds is not None else [None] * k,
            nonfinite_ if nonfinite_ is not None else [False] * k,
            captured_ if captured_ is not None else [None] * k,
            self.moving_stats,
            self.episode_returns,
            strict=True,
        ):
            record: EpisodeRecord = _new_record(EpisodeRecord)
            # bypasses the frozen __init__, as EpisodeTracker.end_episode does
            _set_attr(
                record,
                "__dict__",
                {
                    "index": number,
                    "episode_return": episode_return,
                    "length": length,
                    "duration_s": duration,
                    "ended_at": ended_at,
                    "terminated": term,
                    "truncated": trunc,
                    "total_steps": total_steps,
                    "window_size": window,
                    "moving_mean": mean,
                    "moving_std": std,
                    "ema_return": ema_r,
                    "ema_length": ema_l,
                    "alpha": alpha,
                    "info": (
                        {k: captured[k] for k in wanted if k in captured}
                        if wanted and captured
                        else {}
                    ),
                    "metrics": {},
                    "seed": seed,
                    "nonfinite": nonfinite,
                },
            )
            yield record


#: Four float64 arrays of num_envs: moving mean, moving std, EMA of returns, EMA
#: of lengths (0.0 where no episode ended).
_Arrays = tuple[
    npt.NDArray[np.float64],
    npt.NDArray[np.float64],
    npt.NDArray[np.float64],
    npt.NDArray[np.float64],
]


#: What the tracker keeps of the episodes ended at one step for the records, one
#: entry per episode in each but the third: indices, total steps, the end's
#: perf_counter() and the episodes' start times (their durations), terminated and
#: truncated (bool arrays), seeds, non-finite flags, captured infos (None: all
#: None / False / None).
_Ended = tuple[
    list[int],
    list[int],
    float,
    list[float],
    npt.NDArray[np.bool_],
    npt.NDArray[np.bool_],
    "list[int | None] | None",
    "list[bool] | None",
    "list[dict[str, Any] | None] | None",
]


#: Called once per vector step at which episodes ended, with what ended and
#: the step's (batched) info dict, which a listener may add keys to.
VectorEpisodeListener = Callable[[EpisodeEnds, MutableMapping[str, Any]], None]


def sub_env_info(infos: Mapping[str, Any], index: int) -> dict[str, Any]:
    """Sub-env ``index``'s own info out of a vector env's batched ``infos``.

    A vector env stores each key ``k`` as an array with one entry per sub-env
    and a mask ``_k`` telling which sub-envs set it (nested dicts likewise);
    this undoes that for one sub-env: the keys it set, with its values.
    NumPy scalars become Python scalars.

    >>> import numpy as np
    >>> infos = {"x": np.array([1, 2]), "_x": np.array([False, True])}
    >>> sub_env_info(infos, 1), sub_env_info(infos, 0)
    ({'x': 2}, {})
    """
    out: dict[str, Any] = {}
    for key, value in infos.items():
        if key.startswith("_") and key[1:] in infos:
            continue
        mask = infos.get(f"_{key}")
        if mask is not None and not mask[index]:
            continue
        if isinstance(value, Mapping):
            out[key] = sub_env_info(value, index)
            continue
        if isinstance(value, (str, bytes)):
            out[key] = value  # not batched: the same for every sub-env
            continue
        try:
            item = value[index]
        except (TypeError, IndexError, KeyError):
            item = value  # not batched: the same for every sub-env
        out[key] = item.item() if isinstance(item, np.generic) else item
    return out


def autoreset_mode_of(env: Any) -> AutoresetMode:
    """The autoreset mode of a vector env, read from its metadata as gymnasium does
    (``NEXT_STEP``, with a warning, when the metadata does not say)."""
    metadata = getattr(env, "metadata", None) or {}
    if "autoreset_mode" not in metadata:
        warnings.warn(
            f"{env} has no 'autoreset_mode' in its metadata: gymscope assumes "
            "AutoresetMode.NEXT_STEP, as gymnasium does. Set env.metadata['autoreset_mode'] "
            "(see https://farama.org/Vector-Autoreset-Mode)",
            UserWarning,
            stacklevel=4,
        )
        return AutoresetMode.NEXT_STEP
    mode = metadata["autoreset_mode"]
    if not isinstance(mode, AutoresetMode):
        raise ArgumentTypeError(
            f"env.metadata['autoreset_mode'] must be a gymnasium.vector.AutoresetMode, got "
            f"{mode!r} ({type(mode).__name__}); set it to e.g. AutoresetMode.NEXT_STEP"
        )
    return mode


class VectorEpisodeTracker:
    """Turns a vector env's ``reset()``/``step()`` results into EpisodeRecords.

    One tracker serves a contiguous stack of gymscope vector wrappers: the
    innermost feeds it, every wrapper of the stack listens to it. Listeners
    are registered with the statistics they want (window, EMA weight) and
    the info keys they capture; at each step where episodes end, each
    listener is called once with an :class:`EpisodeEnds` holding its own
    records, in sub-env order.

    Sub-env ``i`` is worker ``i`` of the run: ``runs[i].worker == i``, and its
    records' ``index`` and ``total_steps`` count its own episodes and steps.

    Args:
        num_envs: Number of sub-envs.
        autoreset_mode: The vector env's autoreset mode.

    Attributes:
        runs: One :class:`RunInfo` per sub-env, shared by that sub-env's sinks.
        episode_returns: Running return of each sub-env's episode (float64).
        episode_lengths: Running length of each sub-env's episode (int64).
        episode_count: Episodes finished by all sub-envs together.
    """

    def __init__(self, num_envs: int, autoreset_mode: AutoresetMode) -> None:
        n = check_int("num_envs", num_envs, 1)
        if not isinstance(autoreset_mode, AutoresetMode):
            raise ArgumentTypeError(
                f"autoreset_mode must be a gymnasium.vector.AutoresetMode, got "
                f"{autoreset_mode!r}; pass e.g. AutoresetMode.NEXT_STEP"
            )
        self.num_envs = n
        self.autoreset_mode = autoreset_mode
        self._same_step = autoreset_mode is AutoresetMode.SAME_STEP
        self.runs: tuple[RunInfo, ...] = tuple(RunInfo(worker=i) for i in range(n))
        self.episode_returns: npt.NDArray[np.float64] = np.zeros(n, dtype=np.float64)
        # lengths are steps since each episode's first step: no per-step update.
        # Start steps and times are lists: the few items touched at a step cost
        # less one by one in Python than as NumPy fancy indexing
        self._step = 0
        self._start_steps: list[int] = [0] * n
        self._start_times: list[float] = [0.0] * n
        # sub-envs that ended at the last step and were not reset since
        # (NEXT_STEP, DISABLED), as a list and an index array: their next
        # step is not counted
        self._pending: list[int] | None = None
        self._pending_index: npt.NDArray[np.intp] | None = None
        self.episode_count = 0
        #: Episodes finished, per sub-env (each sub-env's next record index).
        self.episode_counts: list[int] = [0] * n
        #: Steps counted in finished episodes, per sub-env.
        self.total_steps: list[int] = [0] * n
        self._seeds: list[int | None] = [None] * n
        self._seeded = False  # some entry of _seeds is not None
        #: (listener, its banks, its info keys, the position of its banks in _bank_lists)
        self._listeners: list[
            tuple[VectorEpisodeListener, list[StatsBank], tuple[str, ...], int]
        ] = []
        self._priorities: list[int] = []
        self._banks: dict[StatsConfig, list[StatsBank]] = {}
        # the values of _banks in insertion order: the hot path indexes this
        # list rather than hashing a StatsConfig per step
        self._bank_lists: list[list[StatsBank]] = []
        # a listener of _bank_lists[0] reads EpisodeEnds.moving_arrays
        self._fill_arrays = False
        self._capture_keys: tuple[str, ...] = ()
        self._metrics_listeners: list[MetricsListener] = []
        self._resume_sources: list[list[tuple[int, ResumeSource]]] = [[] for _ in range(n)]
        self._resume_listeners: list[list[ResumeListener]] = [[] for _ in range(n)]
        #: Per sub-env, the state it continued from (None: a fresh stream).
        self.resumed: list[ResumeState | None] = [None] * n
        self.env_label = "the vector env"
        self._started = False

    # -- listeners -----------------------------------------------------------------
    def add_listener(
        self,
        listener: VectorEpisodeListener,
        stats: StatsConfig | None = None,
        info_keys: Iterable[str] = (),
        *,
        priority: int = 0,
        moving_arrays: bool = False,
    ) -> None:
        """Deliver every step's finished episodes to ``listener`` (lower
        ``priority`` first, then in the order added). ``moving_arrays``: the
        listener reads :attr:`EpisodeEnds.moving_arrays` at every step, so the
        tracker fills them as it computes the statistics (cheaper than after)."""
        config = stats if stats is not None else StatsConfig()
        keys = check_info_keys(info_keys)
        banks = self._banks.get(config)
        if banks is None:
            banks = self._banks[config] = [StatsBank(config) for _ in range(self.num_envs)]
            self._bank_lists.append(banks)
            for bank, state in zip(banks, self.resumed, strict=True):
                if state is not None:
                    bank.replay(state.returns, state.lengths, state.episodes)
        position = next(p for p, b in enumerate(self._bank_lists) if b is banks)
        if moving_arrays and position == 0:
            self._fill_arrays = True
        at = sum(1 for p in self._priorities if p <= priority)
        self._listeners.insert(at, (listener, banks, keys, position))
        self._priorities.insert(at, priority)
        self._capture_keys = tuple(dict.fromkeys(k for _, _, ks, _ in self._listeners for k in ks))

    def add_metrics_listener(self, listener: MetricsListener) -> None:
        """Deliver every step-keyed metrics report (:meth:`log_metrics`)."""
        self._metrics_listeners.append(listener)

    def add_resume_source(self, sub_env: int, source: ResumeSource, *, priority: int = 0) -> None:
        """Ask ``source`` for sub-env ``sub_env``'s stored stream at the first ``reset()``."""
        sources = self._resume_sources[sub_env]
        at = sum(1 for p, _ in sources if p <= priority)
        sources.insert(at, (priority, source))

    def add_resume_listener(self, sub_env: int, listener: ResumeListener) -> None:
        """Tell ``listener`` the state sub-env ``sub_env`` continues from, if it resumes."""
        self._resume_listeners[sub_env].append(listener)

    def _resume(self) -> None:
        history = max((history_needed(c.window_size, c.alpha) for c in self._banks), default=100)
        for i in range(self.num_envs):
            sources, self._resume_sources[i] = self._resume_sources[i], []
            for _, source in sources:
                state = source(history)
                if state is not None:
                    self.restore(i, state)
                    break

    def restore(self, sub_env: int, state: ResumeState) -> None:
        """Continue sub-env ``sub_env``'s stream from ``state`` (episode index, steps,
        moving statistics), then tell its resume listeners."""
        if self.episode_counts[sub_env]:
            raise UsageError(
                f"cannot resume sub-env {sub_env} of {self.env_label} from "
                f"{state.source or 'a stored state'}: it has recorded "
                f"{self.episode_counts[sub_env]} episode(s) already"
            )
        self.resumed[sub_env] = state
        self.episode_counts[sub_env] = state.episodes
        self.total_steps[sub_env] = state.total_steps
        for banks in self._banks.values():
            banks[sub_env].replay(state.returns, state.lengths, state.episodes)
        for listener in self._resume_listeners[sub_env]:
            listener(state)

    def log_metrics(self, values: Mapping[str, Any], step: int) -> None:
        """Deliver training metrics reported at env step ``step`` to the metrics listeners."""
        numbers: dict[str, float] = {}
        for name, value in values.items():
            try:
                number = None if isinstance(value, (str, bytes)) else float(value)
            except (TypeError, ValueError):
                number = None
            if number is None:
                raise ArgumentTypeError(
                    f"log_metrics({name}={value!r}): {name} must be a real number, got "
                    f"{type(value).__name__}; pass e.g. {name}=float(...)"
                )
            numbers[name] = number
        error: BaseException | None = None
        for listener in self._metrics_listeners:
            try:
                listener(step, numbers)
            except BaseException as exc:  # every listener still gets them
                if error is None:
                    error = exc
        if error is not None:
            raise error

    # -- reset ---------------------------------------------------------------------
    def on_reset(self, seed: Any = None, reset_mask: Any = None) -> None:
        """Start new episodes: in every sub-env, or only where ``reset_mask`` is true.

        Args:
            seed: The ``seed`` given to the vector env's ``reset()``: None, an
                int (sub-env ``i`` gets ``seed + i``, as gymnasium's vector
                envs do) or one seed per sub-env. Recorded as the records' seed.
            reset_mask: ``options["reset_mask"]`` of a partial reset, or None.
        """
        if not self._started:
            if any(self._resume_sources):
                # a source that raises (a worker in use) leaves the stack not
                # started: the next reset() asks the sources not yet asked
                self._resume()
            self._started = True
        n = self.num_envs
        seeds = self._sub_env_seeds(seed)
        now = _perf_counter()
        if reset_mask is None:
            self.episode_returns[:] = 0.0
            self._start_steps = [self._step] * n
            self._start_times = [now] * n
            self._pending = self._pending_index = None
            self._seeds = seeds
            self._seeded = seed is not None and any(s is not None for s in seeds)
            return
        mask = np.asarray(reset_mask, dtype=np.bool_)
        if mask.shape != (n,):
            raise InvalidArgumentError(
                f"options['reset_mask'] must have shape ({n},), got {mask.shape}; pass one "
                "bool per sub-env"
            )
        self.episode_returns[mask] = 0.0
        step, start_steps, start_times = self._step, self._start_steps, self._start_times
        for i in np.flatnonzero(mask).tolist():
            start_steps[i] = step
            start_times[i] = now
            self._seeds[i] = seeds[i]
        pending = self._pending
        if pending is not None:
            pending = [i for i in pending if not mask[i]]
            self._pending = pending or None
            self._pending_index = np.array(pending, dtype=np.intp) if pending else None
        self._seeded = any(s is not None for s in self._seeds)

    def _sub_env_seeds(self, seed: Any) -> list[int | None]:
        n = self.num_envs
        if seed is None:
            return [None] * n
        if isinstance(seed, (int, np.integer)) and not isinstance(seed, bool):
            return [int(seed) + i for i in range(n)]
        try:
            seeds = list(seed)
        except TypeError:
            return [None] * n
        if len(seeds) != n:
            return [None] * n  # the vector env refuses it first
        return [None if s is None else int(s) for s in seeds]

    # -- step ----------------------------------------------------------------------
    @property
    def episode_lengths(self) -> npt.NDArray[np.int64]:
        """Running length of each sub-env's episode (a new int64 array)."""
        lengths: npt.NDArray[np.int64] = self._step - np.array(self._start_steps, dtype=np.int64)
        return lengths

    @property
    def episode_start_times(self) -> npt.NDArray[np.float64]:
        """``time.perf_counter()`` at each sub-env's episode start (a new float64 array)."""
        return np.array(self._start_times, dtype=np.float64)

    def on_step(
        self,
        rewards: Any,
        terminations: Any,
        truncations: Any,
        infos: MutableMapping[str, Any],
    ) -> None:
        """Account one vector step; deliver the episodes that ended at it.

        Per step: one addition of the rewards, one ``or`` of the end masks
        and its nonzero indices, whatever ``num_envs`` is; lengths are counted as
        steps since each episode started, so they cost nothing per step.
        """
        if not self._started:
            self.raise_not_started()
        returns = self.episode_returns
        try:  # free unless it raises
            returns += rewards
        except (TypeError, ValueError):  # None, strings, complex, a wrong shape...
            raise self.bad_rewards(rewards) from None
        self._step = step = self._step + 1
        pending = self._pending
        if pending is not None:
            # the sub-envs that ended at the last step are being reset by this
            # one: it is not counted (overwritten, so the others stay exact)
            self._pending = None
            now = _perf_counter()
            start_steps, start_times = self._start_steps, self._start_times
            if len(pending) > _FEW:
                returns[self._pending_index] = 0.0
                for i in pending:
                    start_steps[i] = step
                    start_times[i] = now
            else:
                for i in pending:
                    returns[i] = 0.0
                    start_steps[i] = step
                    start_times[i] = now
        dones = terminations | truncations  # also checks they are arrays of one shape
        index = dones.nonzero()[0]
        if index.size:
            self._end_episodes(dones, index, terminations, truncations, infos)

    def _end_episodes(
        self,
        dones: npt.NDArray[np.bool_],
        index: npt.NDArray[np.intp],
        terminations: Any,
        truncations: Any,
        infos: MutableMapping[str, Any],
    ) -> None:
        now = _perf_counter()
        ended_at = time.time()
        n = self.num_envs
        returns, starts, start_steps = self.episode_returns, self._start_times, self._start_steps
        ids: list[int] = index.tolist()
        sub_envs = tuple(ids)
        k = len(ids)
        step = self._step
        ended_returns = returns[index]
        ep_returns: list[float] = ended_returns.tolist()
        r: npt.NDArray[np.float64] = np.zeros(n)  # float64, the default: no dtype to parse
        length_array = np.zeros(n, dtype=np.int64)
        t: npt.NDArray[np.float64] = np.zeros(n)
        few = k <= _FEW  # then one item at a time beats a fancy assignment
        counts, steps = self.episode_counts, self.total_steps
        ep_lengths: list[int] = []
        rounded: list[float] = []
        numbers: list[int] = []
        totals: list[int] = []
        # the first listener's statistics in the pass below, any others after it
        bank_lists = self._bank_lists
        first_banks = bank_lists[0] if bank_lists else None
        first: list[tuple[float, float, float, float]] = []
        arrays: _Arrays | None = None
        if self._fill_arrays:
            arrays = np.zeros(n), np.zeros(n), np.zeros(n), np.zeros(n)
            means, stds, emas, ema_lengths = arrays
        start_list: list[float] = []
        # one pass over the ended sub-envs: Python arithmetic beats NumPy's
        # per-call cost for the few that end at one step
        for i, episode_return in zip(ids, ep_returns, strict=True):
            length = step - start_steps[i]
            start = starts[i]
            start_list.append(start)
            # gymnasium's np.round(t, 6), element by element: rint(t * 1e6) / 1e6
            rounded_duration = round((now - start) * 1e6) / 1e6
            ep_lengths.append(length)
            rounded.append(rounded_duration)
            number = counts[i]
            counts[i] = number + 1
            numbers.append(number)
            steps[i] = total = steps[i] + length
            totals.append(total)
            if few:
                r[i] = episode_return
                length_array[i] = length
                t[i] = rounded_duration
            if first_banks is not None:
                stats = first_banks[i].push(episode_return, length)
                first.append(stats)
                if arrays is not None:
                    means[i], stds[i], emas[i], ema_lengths[i] = stats
        if not few:
            r[index] = ended_returns
            length_array[index] = ep_lengths
            t[index] = rounded
        # per entry of _bank_lists, the ended episodes' moving statistics
        moving: list[list[tuple[float, float, float, float]]] = [first]
        for banks in bank_lists[1:]:
            moving.append(
                [
                    banks[i].push(x, length)
                    for i, x, length in zip(ids, ep_returns, ep_lengths, strict=True)
                ]
            )
        # snapshots (the env may reuse its arrays); lists only if records are built
        terms: npt.NDArray[np.bool_] = terminations[index]
        truncs: npt.NDArray[np.bool_] = truncations[index]
        if self._same_step:  # already reset: the next episodes start now
            if few:
                for i in ids:
                    returns[i] = 0.0
                    start_steps[i] = step
                    starts[i] = now
            else:
                returns[index] = 0.0
                for i in ids:
                    start_steps[i] = step
                    starts[i] = now
        else:  # reset at the next step (NEXT_STEP) or by reset(reset_mask) (DISABLED)
            self._pending = ids
            self._pending_index = index
        source = infos.get("final_info") if self._same_step else infos
        # None: the info was empty, EpisodeEnds makes the empty dicts if asked
        finals = tuple([sub_env_info(source, i) for i in ids]) if source else None
        seeds: list[int | None] | None = None
        if self._seeded:
            all_seeds = self._seeds
            seeds = [all_seeds[i] for i in ids]
            for i in ids:
                all_seeds[i] = None  # an autoreset episode has no seed of its own
            self._seeded = any(s is not None for s in all_seeds)
        nonfinite: list[bool] | None = None
        if not _isfinite(sum(ep_returns)):  # else every return is finite
            nonfinite = [not _isfinite(x) for x in ep_returns]
            for i, number, episode_return, flag in zip(
                ids, numbers, ep_returns, nonfinite, strict=True
            ):
                if flag:
                    warnings.warn(
                        f"sub-env {i}, episode {number} has a non-finite return "
                        f"({episode_return}): a reward was NaN or infinite; it is recorded "
                        "as is and flagged (record.nonfinite)",
                        NonFiniteRewardWarning,
                        stacklevel=5,
                    )
        captured: list[dict[str, Any] | None] | None = None
        keys = self._capture_keys
        if keys:
            captured = [
                {key: final[key] for key in keys if key in final} for final in finals or [{}] * k
            ]
        self.episode_count += k
        episodes: _Ended = (
            numbers, totals, now, start_list, terms, truncs, seeds, nonfinite, captured
        )  # fmt: skip
        error: BaseException | None = None
        for listener, banks, wanted, position in self._listeners:
            ends = EpisodeEnds(
                dones, index, sub_envs, r, length_array, t, ep_returns, ep_lengths, rounded,
                finals, moving[position], episodes, ended_at, banks[0].config, wanted,
                arrays if position == 0 else None,
            )  # fmt: skip
            try:
                listener(ends, infos)
            except BaseException as exc:  # every listener still gets the episodes
                if error is None:
                    error = exc
        if error is not None:
            raise error

    def bad_rewards(self, rewards: Any) -> RewardTypeError:
        """The error for rewards that are not one real number per sub-env."""
        shape = getattr(rewards, "shape", None)
        dtype = getattr(rewards, "dtype", None)
        what = f"{type(rewards).__name__}" + (
            f" of shape {shape}, dtype {dtype}" if shape is not None else ""
        )
        return RewardTypeError(
            f"{self.env_label}: step() returned the rewards {rewards!r} ({what}), which are "
            f"not {self.num_envs} real numbers; a vector env's rewards must be a float or "
            "int array of shape (num_envs,). Fix the vector env's step() or wrap it in "
            "gymnasium.wrappers.vector.TransformReward"
        )

    def raise_not_started(self) -> None:
        """Raise the error for a step() before the first reset()."""
        raise UsageError(
            f"step() was called on {self.env_label} before reset(): call envs.reset() first"
        )

    # -- inspection ----------------------------------------------------------------
    def stats(self, sub_env: int, config: StatsConfig | None = None) -> StatsBank:
        """The moving statistics of sub-env ``sub_env`` for ``config`` (a listener's)."""
        banks = self._banks.get(config if config is not None else StatsConfig())
        if banks is None:
            raise InvalidArgumentError(
                f"no listener of {self.env_label} asked for {config}; pass the StatsConfig "
                f"of one of {list(self._banks)}"
            )
        return banks[sub_env]
