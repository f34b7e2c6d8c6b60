"""The driver every gymscope wrapper is: the stack's shared tracker plus its sinks.

A contiguous stack of gymscope wrappers shares one :class:`EpisodeTracker`,
created by the innermost one, which is also the only one that feeds it. Every
wrapper of the stack registers a listener and so receives each finished
episode exactly once, whatever the order of the wrappers, and hands it to the
:mod:`sinks <gymscope.sinks>` it owns. A non-gymscope wrapper between two
gymscope wrappers ends the sharing: the outer one then starts its own tracker
and records what it sees (rewards, episode ends), as any gymnasium wrapper
would.

What every output needs around it is written here once: delivering records,
the process that owns the sinks (a ``fork()``-ed child never writes through
its parent's connections or encoders), pickling (a copy re-registers itself in
its new process), closing at interpreter exit or when the wrapper is dropped
without ``close()``, and an idempotent ``close()``.
"""

from __future__ import annotations

import logging
from collections.abc import Mapping, MutableMapping
from typing import Any, SupportsFloat

import gymnasium as gym
from gymnasium.core import ActType, ObsType

from gymscope._checks import check_int
from gymscope._driver import SinkOwner, current_pid
from gymscope.episode import EpisodeRecord, EpisodeTracker, RunInfo, StatsConfig
from gymscope.errors import ArgumentTypeError
from gymscope.sinks.base import EpisodeSink

__all__ = ["GymscopeWrapper", "check_env", "find_tracker"]

logger = logging.getLogger(__name__)

_pid = current_pid  # refreshed in a fork()ed child (see gymscope._driver)


def find_tracker(env: gym.Env[Any, Any]) -> EpisodeTracker | None:
    """The tracker of ``env`` if ``env`` itself is a gymscope wrapper, else None.

    Only the direct wrapper is looked at: a foreign wrapper in between may
    change rewards or episode ends, so sharing stops there.
    """
    # isinstance, not env.__dict__: touching another object's __dict__ makes
    # CPython (3.11+) materialise it, slowing every later attribute access.
    return env._gymscope_tracker if isinstance(env, GymscopeWrapper) else None


def check_env(env: object) -> None:
    """Refuse what is not a gymnasium env (wrappers check it before anything else)."""
    if not isinstance(env, gym.Env):
        raise ArgumentTypeError(
            f"env must be a gymnasium.Env, got {env!r} ({type(env).__name__}); "
            "wrap the result of gymnasium.make(...)"
        )


class GymscopeWrapper(SinkOwner, gym.Wrapper[ObsType, ActType, ObsType, ActType]):
    """Base of gymscope wrappers: the shared tracker feeding the sinks it owns.

    Subclasses build their sinks and pass them here; a user can also drive
    sinks of their own with :class:`~gymscope.wrappers.sinks.SinkWrapper`.

    Args:
        env: The environment to wrap.
        *sinks: The outputs this wrapper feeds, in order.
        stats: Window and EMA weight of the moving statistics of its records.
        info_keys: Keys of the final step's ``info`` to capture into records.
        priority: Where its sinks come among the stack's (lower first): the
            one that names the run (the database) goes before the others.
    """

    def __init__(
        self,
        env: gym.Env[ObsType, ActType],
        *sinks: EpisodeSink,
        stats: StatsConfig,
        info_keys: tuple[str, ...] = (),
        priority: int = 0,
    ) -> None:
        check_env(env)
        for sink in sinks:
            if not isinstance(sink, EpisodeSink):
                raise ArgumentTypeError(
                    f"sinks must have open(), on_episode(), on_metrics() and close() "
                    f"(see gymscope.sinks.Sink), got {sink!r} ({type(sink).__name__})"
                )
        gym.Wrapper.__init__(self, env)
        tracker = find_tracker(env)
        self._gymscope_owner = tracker is None
        if tracker is None:
            tracker = EpisodeTracker()
            tracker.env_label = f"{env}"
        self._gymscope_tracker: EpisodeTracker = tracker
        self._sinks = sinks
        for sink in sinks:
            sink.open(tracker.run)
        tracker.add_listener(self._deliver, stats, info_keys, priority=priority)
        tracker.add_metrics_listener(self._deliver_metrics)
        for sink in sinks:
            source = getattr(sink, "resume_state", None)
            if callable(source):
                tracker.add_resume_source(source, priority=priority)
            on_resume = getattr(sink, "on_resume", None)
            if callable(on_resume):
                tracker.add_resume_listener(on_resume)
        self._own(sinks)

    @property
    def tracker(self) -> EpisodeTracker:
        """The EpisodeTracker this wrapper's stack shares."""
        return self._gymscope_tracker

    @property
    def run_info(self) -> RunInfo:
        """The run this stack's records belong to (shared by its sinks)."""
        return self._gymscope_tracker.run

    @property
    def sinks(self) -> tuple[EpisodeSink, ...]:
        """The outputs this wrapper feeds."""
        return self._sinks

    def step(self, action: ActType) -> tuple[ObsType, SupportsFloat, bool, bool, dict[str, Any]]:
        """Step the env; the stack's innermost gymscope wrapper accounts the result."""
        if self._gymscope_owner:
            tracker = self._gymscope_tracker
            if not tracker._running:  # checked first: a finished env is not stepped
                tracker.raise_not_running()
            result = self.env.step(action)
            # EpisodeTracker.account, inlined: this is the per-step hot path, and
            # the env's tuple is returned as is rather than unpacked and rebuilt
            try:  # free unless it raises
                tracker.episode_return += result[1]
            except TypeError:  # None, str, Decimal, a list...
                raise tracker.bad_reward(result[1]) from None
            tracker.episode_length += 1
            if result[2] or result[3]:
                tracker.end_episode(result[2], result[3], result[4])
            return result
        return self.env.step(action)

    def reset(
        self, *, seed: int | None = None, options: dict[str, Any] | None = None
    ) -> tuple[ObsType, dict[str, Any]]:
        """Reset the env and start a new episode."""
        obs, info = self.env.reset(seed=seed, options=options)
        if self._gymscope_owner:
            self._gymscope_tracker.on_reset(seed)
        return obs, info

    def log_metrics(self, step: int | None = None, **values: SupportsFloat) -> None:
        """Report named values (losses, learning rate...) to every sink of the stack.

        Each record gets their mean over the episode (velora's loss columns,
        the curves). With ``step`` — the env step they belong to, as in
        TensorBoard's ``add_scalar(..., global_step)`` — they are also stored
        at once in the run's step-keyed metrics (table ``gymscope_metric``,
        TensorBoard's ``train/<name>``), reported or not by any episode.

        Reachable from outside the stack as ``env.get_wrapper_attr("log_metrics")``.
        Every gymscope wrapper of the stack sees the same metrics.

        Raises:
            ArgumentTypeError: a value is not a real number, or ``step`` is not an int.
            InvalidArgumentError: ``step`` is negative.
        """
        if step is not None:
            step = check_int("step", step, 0)
        self._gymscope_tracker.log_metrics(values, step)

    # -- delivery ------------------------------------------------------------------
    def _deliver_metrics(self, step: int, values: Mapping[str, float]) -> None:
        if self._owner_pid != _pid[0]:
            self._adopt()
        for sink in self._sinks:
            try:
                sink.on_metrics(step, values)
            except OSError as exc:
                self._sink_failed(sink, None, exc)

    def _deliver(self, record: EpisodeRecord, info: MutableMapping[str, Any]) -> None:
        if self._owner_pid != _pid[0]:
            self._adopt()
        for sink in self._sinks:
            try:
                sink.on_episode(record, info)
            except OSError as exc:  # free unless raised; usage errors are not OSErrors
                self._sink_failed(sink, record, exc)

    # -- lifecycle -----------------------------------------------------------------
    def close(self) -> None:
        """Flush what this wrapper recorded and close the env. Safe to call twice.

        Raises:
            OutputWriteError: a sink could still not write its files, or
                lost episodes to an ``OSError`` during the run.
            Exception: whatever else a sink raised while flushing (every
                sink is still closed).
        """
        if getattr(self, "_closed", True):  # closed, or construction failed
            return
        try:
            self._close_owned()
        finally:
            self.env.close()
