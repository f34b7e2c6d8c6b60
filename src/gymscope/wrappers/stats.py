"""EpisodeStatsWrapper: a drop-in for gymnasium's RecordEpisodeStatistics."""

from __future__ import annotations

from collections import deque
from collections.abc import Sequence

import gymnasium as gym
from gymnasium.core import ActType, ObsType

from gymscope.episode import StatsConfig, check_alpha, check_info_keys, check_window_size
from gymscope.errors import InvalidArgumentError, StatsKeyClashError
from gymscope.sinks.stats import STATS_KEYS, EpisodeStatsSink
from gymscope.wrappers.base import GymscopeWrapper

__all__ = ["STATS_KEYS", "EpisodeStatsWrapper", "StatsKeyClashError"]


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
    When the stack resumes its run (a database wrapper in the stack, see the
    "Resuming a run" docs page), ``episode_count``, ``return_queue`` and
    ``length_queue`` continue from the stored episodes; ``time_queue`` starts
    empty (durations are not restored).

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
        sink = EpisodeStatsSink(stats_key, buffer_length)
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
        super().__init__(env, sink, stats=config, info_keys=keys)
        self._stats = sink

    @property
    def stats_key(self) -> str:
        """The ``info`` key the statistics are written to."""
        return self._stats.stats_key

    @property
    def episode_count(self) -> int:
        """Episodes finished so far."""
        return self._stats.episode_count

    @property
    def return_queue(self) -> deque[float]:
        """Returns of the last ``buffer_length`` episodes (gymnasium's deque)."""
        return self._stats.return_queue

    @property
    def length_queue(self) -> deque[int]:
        """Lengths of the last ``buffer_length`` episodes (gymnasium's deque)."""
        return self._stats.length_queue

    @property
    def time_queue(self) -> deque[float]:
        """Durations (s, 6 places) of the last ``buffer_length`` episodes."""
        return self._stats.time_queue

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
