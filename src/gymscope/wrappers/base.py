"""The part every gymscope wrapper shares: joining the stack's EpisodeTracker.

A contiguous stack of gymscope wrappers shares one :class:`EpisodeTracker`,
created by the innermost one, which is also the only one that feeds it. Every
wrapper of the stack registers a listener and so receives each finished
episode exactly once, whatever the order of the wrappers. A non-gymscope
wrapper between two gymscope wrappers ends the sharing: the outer one then
starts its own tracker and records what it sees (rewards, episode ends), as
any gymnasium wrapper would.

Subclasses implement :meth:`GymscopeWrapper._on_episode` ("what to do with a
finished EpisodeRecord") and, if they hold resources, :meth:`_close_sink`.
"""

from __future__ import annotations

import atexit
import logging
import weakref
from typing import Any, SupportsFloat

import gymnasium as gym
from gymnasium.core import ActType, ObsType

from gymscope.episode import EpisodeRecord, EpisodeTracker, StatsConfig
from gymscope.errors import ArgumentTypeError

__all__ = ["GymscopeWrapper", "find_tracker"]

logger = logging.getLogger(__name__)


def find_tracker(env: gym.Env[Any, Any]) -> EpisodeTracker | None:
    """The tracker of ``env`` if ``env`` itself is a gymscope wrapper, else None.

    Only the direct wrapper is looked at: a foreign wrapper in between may
    change rewards or episode ends, so sharing stops there.
    """
    # isinstance, not env.__dict__: touching another object's __dict__ makes
    # CPython (3.11+) materialise it, slowing every later attribute access.
    return env._gymscope_tracker if isinstance(env, GymscopeWrapper) else None


class _ExitCloser:
    """Closes still-open wrappers at interpreter exit without keeping them alive."""

    def __init__(self) -> None:
        self._open: weakref.WeakSet[GymscopeWrapper[Any, Any]] = weakref.WeakSet()
        self._registered = False

    def add(self, wrapper: GymscopeWrapper[Any, Any]) -> None:
        if not self._registered:
            atexit.register(self.close_all)
            self._registered = True
        self._open.add(wrapper)

    def discard(self, wrapper: GymscopeWrapper[Any, Any]) -> None:
        self._open.discard(wrapper)

    def close_all(self) -> None:
        # Outer wrappers first: closing one closes everything below it. One
        # failing close() must not keep the others from flushing their data.
        for wrapper in sorted(self._open, key=_depth, reverse=True):
            try:
                wrapper.close()
            except Exception:
                logger.exception("closing %r at interpreter exit failed", wrapper)


def _depth(env: gym.Env[Any, Any]) -> int:
    depth = 0
    while isinstance(env, gym.Wrapper):
        env = env.env
        depth += 1
    return depth


_exit_closer = _ExitCloser()


class GymscopeWrapper(gym.Wrapper[ObsType, ActType, ObsType, ActType]):
    """Base class of gymscope wrappers (not used directly).

    Args:
        env: The environment to wrap.
        stats: Window and EMA weight of the moving statistics this wrapper
            wants in its records.
        info_keys: Keys of the final step's ``info`` to capture into records.
    """

    def __init__(
        self,
        env: gym.Env[ObsType, ActType],
        *,
        stats: StatsConfig,
        info_keys: tuple[str, ...] = (),
    ) -> None:
        if not isinstance(env, gym.Env):
            raise ArgumentTypeError(
                f"env must be a gymnasium.Env, got {env!r} ({type(env).__name__}); "
                "wrap the result of gymnasium.make(...)"
            )
        gym.Wrapper.__init__(self, env)
        tracker = find_tracker(env)
        self._gymscope_owner = tracker is None
        if tracker is None:
            tracker = EpisodeTracker()
        self._gymscope_tracker: EpisodeTracker = tracker
        tracker.add_listener(self._on_episode, stats, info_keys)
        self._closed = False

    @property
    def tracker(self) -> EpisodeTracker:
        """The EpisodeTracker this wrapper's stack shares."""
        return self._gymscope_tracker

    def step(self, action: ActType) -> tuple[ObsType, SupportsFloat, bool, bool, dict[str, Any]]:
        """Step the env; the stack's innermost gymscope wrapper accounts the result."""
        if self._gymscope_owner:
            tracker = self._gymscope_tracker
            if not tracker._running:  # checked first: a finished env is not stepped
                tracker.raise_not_running()
            result = self.env.step(action)
            # EpisodeTracker.account, inlined: this is the per-step hot path, and
            # the env's tuple is returned as is rather than unpacked and rebuilt
            tracker.episode_return += result[1]
            tracker.episode_length += 1
            if result[2] or result[3]:
                tracker.end_episode(result[2], result[3], result[4])
                self._on_final_step(result[4])
            return result
        result = self.env.step(action)
        if result[2] or result[3]:  # the shared tracker below ended the episode
            self._on_final_step(result[4])
        return result

    def reset(
        self, *, seed: int | None = None, options: dict[str, Any] | None = None
    ) -> tuple[ObsType, dict[str, Any]]:
        """Reset the env and start a new episode."""
        obs, info = self.env.reset(seed=seed, options=options)
        if self._gymscope_owner:
            self._gymscope_tracker.on_reset(seed)
        return obs, info

    def log_metrics(self, **values: SupportsFloat) -> None:
        """Report named values during an episode; records get their episode mean.

        Reachable from outside the stack as ``env.get_wrapper_attr("log_metrics")``.
        Every gymscope wrapper of the stack sees the same metrics.
        """
        self._gymscope_tracker.log_metrics(values)

    def _on_episode(self, record: EpisodeRecord) -> None:
        """Handle a finished episode (called once per episode)."""

    def _on_final_step(self, info: dict[str, Any]) -> None:
        """Called with the info of the step that ended an episode, once every
        listener of the stack has the record (e.g. to add statistics to it)."""

    def _close_sink(self) -> None:
        """Flush and release what the wrapper holds (called once, by close())."""

    def close(self) -> None:
        """Flush what this wrapper recorded and close the env. Safe to call twice."""
        if getattr(self, "_closed", True):  # closed, or construction failed
            return
        self._closed = True
        _exit_closer.discard(self)
        try:
            self._close_sink()
        finally:
            self.env.close()

    def _close_at_exit(self) -> None:
        """Ask for close() at interpreter exit (for wrappers that buffer output)."""
        _exit_closer.add(self)

    def __getstate__(self) -> dict[str, Any]:
        return self.__dict__.copy()

    def __setstate__(self, state: dict[str, Any]) -> None:
        self.__dict__.update(state)
        if not self._closed and type(self)._close_sink is not GymscopeWrapper._close_sink:
            self._close_at_exit()
