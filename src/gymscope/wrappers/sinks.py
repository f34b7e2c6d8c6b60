"""SinkWrapper: drive sinks of your own with a gymscope wrapper."""

from __future__ import annotations

from collections.abc import Sequence

import gymnasium as gym
from gymnasium.core import ActType, ObsType

from gymscope.episode import StatsConfig, check_alpha, check_info_keys, check_window_size
from gymscope.sinks.base import EpisodeSink
from gymscope.wrappers.base import GymscopeWrapper

__all__ = ["SinkWrapper"]


class SinkWrapper(GymscopeWrapper[ObsType, ActType]):
    """Feeds every finished episode of ``env`` to the given sinks.

    It stacks with the other gymscope wrappers like any of them (one tracker,
    each episode delivered once). It has no ``spec`` arguments of its own:
    sinks are objects, not settings, so ``gym.make(env.spec)`` cannot rebuild
    them.

    Args:
        env: The environment to wrap.
        *sinks: The outputs (see :class:`gymscope.sinks.EpisodeSink`).
        window_size: Episodes spanned by the records' moving mean/std.
        alpha: Weight of the newest episode in the records' EMAs.
        info_keys: Keys of the final step's ``info`` to capture into records.

    Example:
        >>> import gymnasium as gym
        >>> from gymscope.sinks import Sink
        >>> class Lengths(Sink):
        ...     def __init__(self):
        ...         self.lengths = []
        ...     def on_episode(self, record, info=None):
        ...         self.lengths.append(record.length)
        >>> lengths = Lengths()
        >>> env = SinkWrapper(gym.make("CartPole-v1"), lengths)
        >>> _ = env.reset(seed=0)
        >>> done = False
        >>> while not done:
        ...     _, _, terminated, truncated, _ = env.step(0)
        ...     done = terminated or truncated
        >>> env.close()
        >>> lengths.lengths
        [11]
    """

    def __init__(
        self,
        env: gym.Env[ObsType, ActType],
        *sinks: EpisodeSink,
        window_size: int = 100,
        alpha: float = 0.1,
        info_keys: Sequence[str] = (),
    ) -> None:
        config = StatsConfig(check_window_size(window_size), check_alpha(alpha))
        super().__init__(env, *sinks, stats=config, info_keys=check_info_keys(info_keys))
