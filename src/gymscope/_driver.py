"""What every driver of sinks needs around them, written once.

A driver (the single-env wrapper base, the vector wrapper base, the SB3
``VecMonitor``) owns sinks and must:

- keep a failing sink out of ``step()``: an ``OSError`` from a sink is warned
  about once per sink, counted, and reported by ``close()``;
- never write through a parent's sinks from a ``fork()``-ed child: the first
  use in a new process drops what belongs to the parent (``Sink.forked``);
- close its sinks at interpreter exit or when it is dropped without
  ``close()``, with a finalizer that holds the sinks, never the driver;
- pickle without the finalizer, and watch again in the new process.

:class:`SinkOwner` is that, as a mixin; a driver calls :meth:`_own` with its
sinks when it is built and :meth:`_close_owned` from its ``close()``.
"""

from __future__ import annotations

import logging
import os
import warnings
import weakref
from collections.abc import Sequence
from typing import Any, ClassVar

from gymscope.episode import EpisodeRecord
from gymscope.errors import OutputWriteError
from gymscope.sinks.base import EpisodeSink

__all__ = ["SinkOwner", "close_sinks", "current_pid"]

logger = logging.getLogger(__name__)

# This process's pid, refreshed in a fork()ed child: os.getpid() is a system
# call (~0.2 us), too dear for every episode end of every wrapper.
current_pid = [os.getpid()]
os.register_at_fork(after_in_child=lambda: current_pid.__setitem__(0, os.getpid()))


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


def close_abandoned(sinks: Sequence[EpisodeSink], pid: int) -> None:
    """Run by the finalizer: at interpreter exit, or when a driver is garbage
    collected without ``close()``. Never raises; in another process than the
    one the sinks belong to (a fork), it leaves them alone."""
    if os.getpid() != pid:
        return
    try:
        close_sinks(sinks)
    except Exception:
        logger.exception("closing gymscope outputs %r failed", list(sinks))


def forget(sinks: Sequence[EpisodeSink]) -> None:
    """Tell every sink it is in a forked child (drop the parent's resources)."""
    for sink in sinks:
        forked = getattr(sink, "forked", None)
        if forked is not None:
            forked()


class SinkOwner:
    """Mixin: failure bookkeeping, fork adoption, finalizer and pickling of sinks."""

    #: ``stacklevel`` of the sink-failure warning (points at the user's ``step()``).
    _failure_stacklevel: ClassVar[int] = 5

    _sinks: tuple[EpisodeSink, ...]
    _closed: bool
    _owner_pid: int
    _finalizer: weakref.finalize[Any, Any] | None
    # sink id -> [sink, episodes it lost, first error]
    _sink_failures: dict[int, list[Any]] | None

    def _own(self, sinks: Sequence[EpisodeSink]) -> None:
        """Take charge of ``sinks`` (call once, when the driver is built)."""
        self._sinks = tuple(sinks)
        self._closed = False
        self._sink_failures = None
        self._owner_pid = os.getpid()
        self._finalizer = None
        self._watch()

    def _sink_failed(self, sink: EpisodeSink, record: EpisodeRecord | None, exc: OSError) -> None:
        """A sink could not write an episode (or metrics, ``record=None``): the
        run goes on, ``close()`` raises.

        gymscope's own sinks keep what they could not write and retry it; a
        sink that lets an ``OSError`` out has lost that episode, which is
        warned about once per sink and reported by ``close()``.
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
            f"{type(sink).__name__} could not write {what} ({exc}); the run goes on, and "
            "close() raises if it lost episodes. Further failures of this output are "
            "logged at DEBUG level",
            RuntimeWarning,
            stacklevel=self._failure_stacklevel,
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
        """Adopt the sinks if this is a fork()ed child's first use of the driver
        (for methods that reach a sink directly, such as a ``flush()``)."""
        if self._owner_pid != os.getpid():
            self._adopt()

    def _adopt(self) -> None:
        """First use in a process that inherited this driver by fork()."""
        forget(self._sinks)
        self._owner_pid = os.getpid()
        if self._finalizer is not None:
            self._finalizer.detach()  # the parent's: it does nothing here anyway
            self._finalizer = None
        self._watch()

    def _watch(self) -> None:
        # One mechanism for both ends of an unclosed driver: garbage collection
        # and interpreter exit (finalizers run at exit, newest first, so outer
        # wrappers close before the ones they wrap). It holds the sinks, never
        # the driver, so the driver can still be collected.
        if self._sinks and not self._closed:
            self._finalizer = weakref.finalize(self, close_abandoned, self._sinks, self._owner_pid)

    def _close_owned(self) -> bool:
        """Close the sinks once (the body of the driver's ``close()``).

        Returns False if they were closed already (or the driver was never
        fully built), True after closing them.

        Raises:
            OutputWriteError: a sink lost episodes to an ``OSError``.
            Exception: whatever a sink raised while closing (every sink is
                still closed).
        """
        if getattr(self, "_closed", True):  # closed, or construction failed
            return False
        self._closed = True
        if self._finalizer is not None:
            self._finalizer.detach()
            self._finalizer = None
        if self._owner_pid != os.getpid():
            forget(self._sinks)
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
        return True

    def __getstate__(self) -> dict[str, Any]:
        state = self.__dict__.copy()
        state["_finalizer"] = None
        return state

    def __setstate__(self, state: dict[str, Any]) -> None:
        self.__dict__.update(state)
        self._owner_pid = os.getpid()
        self._watch()
