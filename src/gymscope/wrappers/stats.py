"""EpisodeStatsWrapper: a drop-in for gymnasium's RecordEpisodeStatistics."""

from __future__ import annotations

from collections import deque
from collections.abc import Sequence
from typing import Any

import gymnasium as gym
from gymnasium.core import ActType, ObsType

from gymscope._checks import check_int
from gymscope.episode import (
    EpisodeRecord,
    StatsConfig,
    check_alpha,
    check_info_keys,
    check_window_size,
)
from gymscope.errors import ArgumentTypeError, InvalidArgumentError, StatsKeyClashError
from gymscope.wrappers.base import GymscopeWrapper

__all__ = ["STATS_KEYS", "EpisodeStatsWrapper", "StatsKeyClashError"]

#: Keys EpisodeStatsWrapper writes into ``info[stats_key]`` besides captured info values.
STATS_KEYS = ("r", "l", "t", "r_mean", "r_std", "r_ema", "l_ema")


class EpisodeStatsWrapper(
    GymscopeWrapper[ObsType, ActType],
    gym.utils.RecordConstructorArgs,
):
    """Adds episode statistics to ``info`` at the end of every episode.

    A drop-in for :class:`gymnasium.wrappers.RecordEpisodeStatistics`: at the
    step that terminates or truncates an episode, ``info[stats_key]`` holds

    - ``"r"``: episodic return (float), ``"l"``: length (int),
      ``"t"``: episode duration in seconds, rounded to 6 places (float),

    as gymnasium defines them, so code that reads ``info["episode"]["r"]``
    (CleanRL, SB3's ``ep_info_buffer``) works unchanged. Extra keys:
    ``"r_mean"`` and ``"r_std"`` (moving mean and population std of returns
    over the last ``window_size`` episodes, or all so far while fewer have
    finished), ``"r_ema"`` and ``"l_ema"`` (EMAs of return and length with
    weight ``alpha`` for the newest episode), and the captured ``info_keys``.
    The public deques ``return_queue``, ``length_queue``, ``time_queue`` keep
    the last ``buffer_length`` episodes, and ``episode_count`` counts them.

    Args:
        env: The environment to wrap.
        buffer_length: Length of the public deques (gymnasium's default 100).
        stats_key: The ``info`` key to write (gymnasium's default ``"episode"``).
        window_size: Episodes spanned by the moving mean/std.
        alpha: Weight of the newest episode in the EMAs, in (0, 1].
        info_keys: Keys of the final step's ``info`` to copy into the stats.

    Raises:
        StatsKeyClashError: (a ``KeyError``) at episode end, when another
            wrapper already set ``info[stats_key]``.

    Example:
        >>> import gymnasium as gym
        >>> from gymscope import EpisodeStatsWrapper
        >>> env = EpisodeStatsWrapper(gym.make("CartPole-v1"))
        >>> _ = env.reset(seed=0)
        >>> done = False
        >>> while not done:
        ...     _, _, terminated, truncated, info = env.step(0)
        ...     done = terminated or truncated
        >>> info["episode"]["r"], info["episode"]["l"]
        (11.0, 11)
        >>> env.return_queue
        deque([11.0], maxlen=100)

        Arguments are checked up front:

        >>> EpisodeStatsWrapper(gym.make("CartPole-v1"), buffer_length=0)
        Traceback (most recent call last):
            ...
        gymscope.errors.InvalidArgumentError: buffer_length must be an int >= 1, got 0
    """

    def __init__(
        self,
        env: gym.Env[ObsType, ActType],
        buffer_length: int = 100,
        stats_key: str = "episode",
        *,
        window_size: int = 100,
        alpha: float = 0.1,
        info_keys: Sequence[str] = (),
    ) -> None:
        check_int("buffer_length", buffer_length, 1)
        if not isinstance(stats_key, str) or not stats_key:
            raise ArgumentTypeError(f"stats_key must be a non-empty str, got {stats_key!r}")
        keys = check_info_keys(info_keys)
        reserved = sorted(set(keys) & set(STATS_KEYS))
        if reserved:
            raise InvalidArgumentError(
                f"info_keys {reserved!r} would overwrite the statistics of the same name in "
                f"info[{stats_key!r}]; rename them in the env's info or leave them out"
            )
        gym.utils.RecordConstructorArgs.__init__(
            self,
            buffer_length=buffer_length,
            stats_key=stats_key,
            window_size=window_size,
            alpha=alpha,
            info_keys=keys,
        )
        config = StatsConfig(check_window_size(window_size), check_alpha(alpha))
        super().__init__(env, stats=config, info_keys=keys)
        self._stats_key = stats_key
        self._pending: dict[str, Any] | None = None
        self.episode_count = 0
        self.time_queue: deque[float] = deque(maxlen=buffer_length)
        self.return_queue: deque[float] = deque(maxlen=buffer_length)
        self.length_queue: deque[int] = deque(maxlen=buffer_length)

    @property
    def stats_key(self) -> str:
        """The ``info`` key the statistics are written to."""
        return self._stats_key

    @property
    def episode_returns(self) -> float:
        """Return of the running episode so far (gymnasium's attribute)."""
        return float(self._gymscope_tracker.episode_return)

    @property
    def episode_lengths(self) -> int:
        """Length of the running episode so far (gymnasium's attribute)."""
        return self._gymscope_tracker.episode_length

    @property
    def episode_start_time(self) -> float:
        """``time.perf_counter()`` at the start of the running episode."""
        return self._gymscope_tracker.episode_start_time

    def reset(
        self, *, seed: int | None = None, options: dict[str, Any] | None = None
    ) -> tuple[ObsType, dict[str, Any]]:
        """Reset the env and start a new episode."""
        self._pending = None
        obs, info = self.env.reset(seed=seed, options=options)
        if self._gymscope_owner:
            self._gymscope_tracker.on_reset(seed)
        return obs, info

    def _on_episode(self, record: EpisodeRecord) -> None:
        duration = round(record.duration_s, 6)
        self.time_queue.append(duration)
        self.return_queue.append(record.episode_return)
        self.length_queue.append(record.length)
        self.episode_count += 1
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
        self._pending = stats

    def _on_final_step(self, info: dict[str, Any]) -> None:
        stats = self._pending
        if stats is None:
            return
        if self._stats_key in info:
            self._raise_clash(info)
        self._pending = None
        info[self._stats_key] = stats

    def _raise_clash(self, info: dict[str, Any]) -> None:
        raise StatsKeyClashError(
            f"info[{self._stats_key!r}] is already set by another wrapper "
            f"(value {info[self._stats_key]!r}); EpisodeStatsWrapper would overwrite it. "
            f"Pass a different key, e.g. EpisodeStatsWrapper(env, stats_key="
            f"'{self._stats_key}_stats'), or remove the other statistics wrapper"
        )
