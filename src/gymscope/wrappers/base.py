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
import os
import warnings
import weakref
from collections.abc import Mapping, MutableMapping, Sequence
from typing import Any, SupportsFloat

import gymnasium as gym
from gymnasium.core import ActType, ObsType

from gymscope._checks import check_int
from gymscope.episode import EpisodeRecord, EpisodeTracker, RunInfo, StatsConfig
from gymscope.errors import ArgumentTypeError, OutputWriteError
from gymscope.sinks.base import EpisodeSink

__all__ = ["GymscopeWrapper", "check_env", "find_tracker"]

logger = logging.getLogger(__name__)

# This process's pid, refreshed in a fork()ed child: os.getpid() is a system
# call (~0.2 us), too dear for every episode end of every wrapper.
_pid = [os.getpid()]
os.register_at_fork(after_in_child=lambda: _pid.__setitem__(0, os.getpid()))


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


def close_sinks(sinks: Sequence[EpisodeSink]) -> None:
    """Close every sink, even if one fails; raise the first failure."""
    error: BaseException | None = None
    for sink in sinks:
        try:
            sink.close()
        except BaseException as exc:
            if error is None:
                error = exc
            else:
                logger.error("closing %r also failed: %s", sink, exc)
    if error is not None:
        raise error


def _close_abandoned(sinks: Sequence[EpisodeSink], pid: int) -> None:
    """Run by the finalizer: at interpreter exit, or when a wrapper is garbage
    collected without ``close()``. Never raises; in another process than the
    one the sinks belong to (a fork), it leaves them alone."""
    if os.getpid() != pid:
        return
    try:
        close_sinks(sinks)
    except Exception:
        logger.exception("closing gymscope outputs %r failed", list(sinks))


def _forget(sinks: Sequence[EpisodeSink]) -> None:
    for sink in sinks:
        forked = getattr(sink, "forked", None)
        if forked is not None:
            forked()


class GymscopeWrapper(gym.Wrapper[ObsType, ActType, ObsType, ActType]):
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
        self._sinks: tuple[EpisodeSink, ...] = sinks
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
        self._closed = False
        # sink id -> [sink, episodes it lost, first error] (see _sink_failed)
        self._sink_failures: dict[int, list[Any]] | None = None
        self._owner_pid = os.getpid()
        self._finalizer: weakref.finalize[Any, Any] | None = None
        self._watch()

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

    def _sink_failed(self, sink: EpisodeSink, record: EpisodeRecord | None, exc: OSError) -> None:
        """A sink could not write an episode: the run goes on, close() raises.

        gymscope's own sinks keep what they could not write and retry it; a
        sink that lets an ``OSError`` out has lost that episode, which is
        warned about once per sink and reported by :meth:`close`.
        """
        failures = self._sink_failures
        if failures is None:
            failures = self._sink_failures = {}
        what = "metrics" if record is None else f"episode {record.index}"
        entry = failures.get(id(sink))
        if entry is not None:
            entry[1] += record is not None
            logger.debug("%r could not take %s either: %s", sink, what, exc)
            return
        failures[id(sink)] = [sink, int(record is not None), exc]
        warnings.warn(
            f"{type(sink).__name__} could not write {what} ({exc}); the run "
            "goes on, and close() raises if it lost episodes. Further failures of this "
            "output are logged at DEBUG level",
            RuntimeWarning,
            stacklevel=5,
        )

    def _lost_episodes(self) -> OutputWriteError | None:
        failures = self._sink_failures
        if not failures:
            return None
        parts = [
            f"{type(sink).__name__} lost {count} episode(s) ({exc})"
            for sink, count, exc in failures.values()
        ]
        return OutputWriteError(
            "; ".join(parts) + ": its files could not be written when the episodes ended"
        )

    def _check_process(self) -> None:
        """Adopt the sinks if this is a fork()ed child's first use of the wrapper
        (for methods that reach a sink directly, such as a ``flush()``)."""
        if self._owner_pid != os.getpid():
            self._adopt()

    def _adopt(self) -> None:
        """First use in a process that inherited this wrapper by fork()."""
        _forget(self._sinks)
        self._owner_pid = os.getpid()
        if self._finalizer is not None:
            self._finalizer.detach()  # the parent's: it does nothing here anyway
            self._finalizer = None
        self._watch()

    def _watch(self) -> None:
        # One mechanism for both ends of an unclosed wrapper: garbage collection
        # and interpreter exit (finalizers run at exit, newest first, so outer
        # wrappers close before the ones they wrap). It holds the sinks, never
        # the wrapper, so the wrapper can still be collected.
        if self._sinks and not self._closed:
            self._finalizer = weakref.finalize(self, _close_abandoned, self._sinks, self._owner_pid)

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
        self._closed = True
        if self._finalizer is not None:
            self._finalizer.detach()
            self._finalizer = None
        try:
            if self._owner_pid != os.getpid():
                _forget(self._sinks)
                self._owner_pid = os.getpid()
            try:
                close_sinks(self._sinks)
            except BaseException:
                lost = self._lost_episodes()
                if lost is not None:
                    logger.error("%s", lost)
                raise
            lost = self._lost_episodes()
            if lost is not None:
                raise lost
        finally:
            self.env.close()

    def __getstate__(self) -> dict[str, Any]:
        state = self.__dict__.copy()
        state["_finalizer"] = None
        return state

    def __setstate__(self, state: dict[str, Any]) -> None:
        self.__dict__.update(state)
        self._owner_pid = os.getpid()
        self._watch()
