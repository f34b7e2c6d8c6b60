"""Backoff and FailedWrites: when to try a failed write again, and what to say.

Outputs never retry in a loop of their own: a failed write waits for a later
episode end at least ``delay`` seconds away, the delay doubling per failure up
to a cap, so an outage costs the training thread one cheap check per episode.

>>> backoff = Backoff(first_s=0.5, max_s=2.0)
>>> [backoff.failed() for _ in range(4)], backoff.delay_s
([1, 2, 3, 4], 2.0)
>>> backoff.succeeded(), backoff.failures, backoff.ready()
(4, 0, True)
"""

from __future__ import annotations

import logging
import time
import warnings

from gymscope.errors import OutputWriteError

__all__ = ["Backoff", "FailedWrites"]

logger = logging.getLogger(__name__)


class Backoff:
    """Exponential backoff state of one output.

    Args:
        first_s: Delay after the first failure.
        max_s: The longest delay.
    """

    __slots__ = ("delay_s", "failures", "first_s", "max_s", "retry_at")

    def __init__(self, first_s: float = 0.5, max_s: float = 60.0) -> None:
        self.first_s = first_s
        self.max_s = max_s
        self.failures = 0
        self.delay_s = 0.0
        self.retry_at = 0.0

    def ready(self) -> bool:
        """Whether the next attempt may be made now."""
        return self.failures == 0 or time.monotonic() >= self.retry_at

    def failed(self) -> int:
        """Count a failed attempt and schedule the next; returns the failures so far."""
        self.failures += 1
        self.delay_s = min(self.max_s, self.first_s * 2 ** (self.failures - 1))
        self.retry_at = time.monotonic() + self.delay_s
        return self.failures

    def succeeded(self) -> int:
        """Reset after a successful attempt; returns how many failures it ended."""
        failures, self.failures, self.delay_s, self.retry_at = self.failures, 0, 0.0, 0.0
        return failures


class FailedWrites:
    """Files an output could not write yet: warned about once, retried with
    backoff, reported by :meth:`error` (raised at ``close()``).

    Each file is named by its path; a later success forgets it. The first
    failure of the output is a warning naming the file and the error; later
    ones are logged at DEBUG level only, so a full disk costs one warning.

    >>> import warnings
    >>> failures = FailedWrites("CurveSink")
    >>> with warnings.catch_warnings(record=True) as caught:
    ...     warnings.simplefilter("always")
    ...     failures.failed("a.json", OSError(28, "No space left on device"))
    ...     failures.failed("a.json", OSError(28, "No space left on device"))
    >>> len(caught), failures.pending
    (1, ['a.json'])
    >>> failures.succeeded("a.json"); failures.error() is None
    True
    """

    __slots__ = ("backoff", "errors", "lost", "owner", "warned")

    def __init__(self, owner: str) -> None:
        self.owner = owner
        self.backoff = Backoff()
        self.errors: dict[str, Exception] = {}
        self.lost: set[str] = set()  # cannot be retried: reported once, then forgotten
        self.warned = False

    @property
    def pending(self) -> list[str]:
        """The files still to write, in the order they first failed."""
        return list(self.errors)

    def ready(self) -> bool:
        """Whether a retry may be made now."""
        return self.backoff.ready()

    def failed(self, what: str, exc: Exception, *, lost: bool = False) -> None:
        """Count a failed write of ``what``; ``lost``: it cannot be retried."""
        self.errors[what] = exc
        if lost:
            self.lost.add(what)
        else:
            self.backoff.failed()
        if self.warned:
            logger.debug("%s: could not write %s either (%s)", self.owner, what, exc)
            return
        self.warned = True
        then = (
            "it is lost"
            if lost
            else "what it holds stays in memory and is written again at later episode ends"
        )
        warnings.warn(
            f"{self.owner} could not write {what} ({exc}); {then}, and close() raises "
            "if the files still cannot be written. Further failures are logged at DEBUG level",
            RuntimeWarning,
            stacklevel=2,
        )

    def succeeded(self, what: str) -> None:
        """``what`` is written: forget its failure."""
        retried = self.errors.pop(what, None) is not None and self.backoff.failures
        if retried and not set(self.errors) - self.lost:  # nothing left to retry
            failures = self.backoff.succeeded()
            logger.info("%s: wrote %s after %d failed attempt(s)", self.owner, what, failures)

    def error(self) -> OutputWriteError | None:
        """The error to raise (at ``close()``): every file that could not be
        written. Files that cannot be retried are forgotten once reported."""
        if not self.errors:
            return None
        first = next(iter(self.errors.values()))
        names = list(self.errors)
        for what in self.lost:
            del self.errors[what]
        self.lost.clear()
        listed = ", ".join(names[:5]) + (f" and {len(names) - 5} more" if len(names) > 5 else "")
        code = getattr(first, "errno", None)
        message = (
            f"{self.owner} could not write {listed}: {getattr(first, 'strerror', None) or first}"
            "; free space or make the folder writable again before closing"
        )
        error = OutputWriteError(message)  # one argument: str() is the message alone
        error.errno = code
        return error
