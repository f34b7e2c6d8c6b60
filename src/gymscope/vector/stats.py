"""The vector EpisodeStatsWrapper: gymnasium's vector ``info["episode"]``, plus moving stats."""

from __future__ import annotations

from collections import deque
from collections.abc import MutableMapping, Sequence
from typing import Any, TypeGuard

import numpy as np
import numpy.typing as npt
from gymnasium.vector import VectorEnv

from gymscope._checks import check_int, check_str
from gymscope.episode import StatsConfig, check_alpha, check_info_keys, check_window_size
from gymscope.errors import InvalidArgumentError, StatsKeyClashError
from gymscope.sinks.stats import STATS_KEYS
from gymscope.vector.base import VectorGymscopeWrapper
from gymscope.vector.tracker import EpisodeEnds

__all__ = ["EpisodeStatsWrapper"]

#: Up to this many ended episodes per step, arrays are filled item by item.
_FEW = 24


class EpisodeStatsWrapper(VectorGymscopeWrapper):
    """Episode statistics of a vector env in ``info``, gymnasium's vector layout.

    A drop-in for :class:`gymnasium.wrappers.vector.RecordEpisodeStatistics`:
    at a step where some sub-envs end an episode, ``info[stats_key]`` holds
    arrays of length ``num_envs`` with values where an episode ended and 0
    elsewhere, and ``info["_" + stats_key]`` is the mask (bool) of those
    sub-envs:

    - ``"r"``: episodic return (float64), ``"l"``: length (int64),
      ``"t"``: duration in seconds rounded to 6 places (float64),

    with gymnasium's values, dtypes and rounding, in every autoreset mode
    (``SAME_STEP`` too: at the top level of ``info``, beside ``final_info``),
    so CleanRL's gymnasium 1.x loops read it unchanged. Extra arrays, masked
    likewise: ``"r_mean"``, ``"r_std"`` (moving mean and population std of
    the sub-env's returns over its last ``window_size`` episodes), ``"r_ema"``
    and ``"l_ema"`` (EMAs of its returns and lengths, weight ``alpha``): per
    sub-env, exactly what :class:`gymscope.EpisodeStatsWrapper` on that
    sub-env alone computes. Each captured info key ``k`` is an object array
    (None where not captured) with its own mask ``"_k"``.

    Unlike gymnasium's wrapper (1.4), a partial reset,
    ``reset(options={"reset_mask": mask})`` (``AutoresetMode.DISABLED``),
    starts new episodes only in the masked sub-envs; the others go on.

    Sub-env ``i`` is worker ``i`` of the run (see
    :mod:`gymscope.vector.base`). Stacked gymscope vector wrappers share one
    tracker: each episode is delivered once to each of them.

    Args:
        env: The vector environment to wrap.
        buffer_length: Length of the public deques (gymnasium's default 100).
        stats_key: The ``info`` key to write (gymnasium's default ``"episode"``).
        window_size: Episodes spanned by the moving mean/std (per sub-env).
        alpha: Weight of the newest episode in the EMAs, in (0, 1].
        info_keys: Keys of the final step's info to copy into the stats.

    Attributes:
        return_queue: Returns of the last ``buffer_length`` episodes of all
            sub-envs, in the order they ended (sub-env order within a step).
        length_queue: Their lengths.
        time_queue: Their durations (s, 6 places).
        episode_count: Episodes finished by all sub-envs.

    Raises:
        StatsKeyClashError: (a ``KeyError``) at an episode end, when another
            wrapper already set ``info[stats_key]`` to other episodes' values.

    Example:
        >>> import gymnasium as gym
        >>> import numpy as np
        >>> from gymscope.vector import EpisodeStatsWrapper
        >>> envs = EpisodeStatsWrapper(gym.make_vec("CartPole-v1", num_envs=2))
        >>> _ = envs.reset(seed=0)
        >>> for _ in range(18):
        ...     _, _, _, _, infos = envs.step(np.zeros(2, dtype=np.int64))
        >>> infos["_episode"], infos["episode"]["r"], infos["episode"]["l"]
        (array([False,  True]), array([0., 9.]), array([0, 9]))
        >>> infos["episode"]["r_mean"]  # sub-env 1's episodes: 8 and 9 steps
        array([0. , 8.5])
        >>> envs.close()
    """

    def __init__(
        self,
        env: VectorEnv[Any, Any, Any],
        buffer_length: int = 100,
        stats_key: str = "episode",
        *,
        window_size: int = 100,
        alpha: float = 0.1,
        info_keys: Sequence[str] = (),
    ) -> None:
        key = check_str("stats_key", stats_key)
        length = check_int("buffer_length", buffer_length, 1)
        keys = check_info_keys(info_keys)
        reserved = sorted(set(keys) & set(STATS_KEYS))
        if reserved:
            raise InvalidArgumentError(
                f"info_keys {reserved!r} would overwrite the statistics of the same name in "
                f"info[{key!r}]; rename them in the env's info or leave them out"
            )
        config = StatsConfig(check_window_size(window_size), check_alpha(alpha))
        self._stats_key = key
        self._mask_key = f"_{key}"
        self._info_keys = keys
        self.episode_count = 0
        self.time_queue: deque[float] = deque(maxlen=length)
        self.return_queue: deque[float] = deque(maxlen=length)
        self.length_queue: deque[int] = deque(maxlen=length)
        super().__init__(env, stats=config, info_keys=keys, moving_arrays=True)

    @property
    def stats_key(self) -> str:
        """The ``info`` key the statistics are written to."""
        return self._stats_key

    @property
    def episode_returns(self) -> npt.NDArray[np.float64]:
        """Running return of each sub-env's episode (gymnasium's attribute; a copy)."""
        out: npt.NDArray[np.float64] = np.array(self._gymscope_tracker.episode_returns)
        return out

    @property
    def episode_lengths(self) -> npt.NDArray[np.int64]:
        """Running length of each sub-env's episode (gymnasium's attribute; a copy)."""
        out: npt.NDArray[np.int64] = np.array(self._gymscope_tracker.episode_lengths)
        return out

    @property
    def episode_start_times(self) -> npt.NDArray[np.float64]:
        """``time.perf_counter()`` at the start of each sub-env's episode (a copy)."""
        out: npt.NDArray[np.float64] = np.array(self._gymscope_tracker.episode_start_times)
        return out

    def on_episodes(self, ends: EpisodeEnds, infos: MutableMapping[str, Any]) -> None:
        """Write ``infos[stats_key]`` and its mask; append to the deques."""
        index, mask = ends.sub_envs, ends.mask
        self.episode_count += len(index)
        self.return_queue.extend(ends.episode_returns)
        self.length_queue.extend(ends.episode_lengths)
        self.time_queue.extend(ends.rounded_durations)
        # r_mean, r_std, r_ema, l_ema: 0.0 where no episode ended (float64)
        r_mean, r_std, r_ema, l_ema = ends.moving_arrays
        stats: dict[str, Any] = {
            "r": ends.returns,
            "l": ends.lengths,
            "t": ends.durations,
            "r_mean": r_mean,
            "r_std": r_std,
            "r_ema": r_ema,
            "l_ema": l_ema,
        }
        records = ends.records if self._info_keys else ()
        for name in self._info_keys:
            values = np.full(mask.shape[0], None, dtype=object)
            captured = np.zeros(mask.shape[0], dtype=np.bool_)
            for i, record in zip(index, records, strict=True):
                if name in record.info:
                    values[i] = record.info[name]
                    captured[i] = True
            stats[name] = values
            stats[f"_{name}"] = captured
        key, mask_key = self._stats_key, self._mask_key
        if key not in infos and mask_key not in infos:
            infos[key] = stats
            infos[mask_key] = mask
            return
        existing = infos.get(key)
        if _same_episodes(existing, infos.get(mask_key), ends):
            # gymnasium's RecordEpisodeStatistics (or another gymscope wrapper
            # with this key) inside the stack wrote these episodes first: add
            # what it lacks, keep its values
            for name, value in stats.items():
                existing.setdefault(name, value)
            return
        raise StatsKeyClashError(
            f"info[{key!r}] is already set by another wrapper to {existing!r}, which is not "
            f"the episodes that ended at this step (sub-envs {list(index)}, returns "
            f"{ends.episode_returns}); EpisodeStatsWrapper would overwrite it. "
            f"Pass a different key, e.g. EpisodeStatsWrapper(envs, stats_key='{key}_stats'), "
            "or remove the other statistics wrapper"
        )


def _same_episodes(existing: object, mask: object, ends: EpisodeEnds) -> TypeGuard[dict[str, Any]]:
    """``existing`` holds the same episodes' ``r`` and ``l`` under the same mask."""
    if not isinstance(existing, dict) or not isinstance(mask, np.ndarray):
        return False
    if mask.shape != ends.mask.shape or not np.array_equal(mask, ends.mask):
        return False
    r, length = existing.get("r"), existing.get("l")
    if not isinstance(r, np.ndarray) or not isinstance(length, np.ndarray):
        return False
    if r.shape != ends.returns.shape or length.shape != ends.lengths.shape:
        return False
    where = ends.mask
    return bool(
        np.array_equal(length[where], ends.lengths[where])
        and np.allclose(r[where], ends.returns[where], rtol=1e-9, atol=1e-6, equal_nan=True)
    )
