"""Backoff: when to try a failed write again, counted in attempts, not threads.

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

import time

__all__ = ["Backoff"]


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
