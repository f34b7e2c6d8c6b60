"""One rule for "is this captured value a number", shared by the chart and event sinks."""

from __future__ import annotations

import math
import warnings
from typing import Any

import numpy as np

__all__ = ["NumbersOnly", "scalar"]


def scalar(value: Any) -> float | None:
    """``value`` as a float if it is a real number, a bool, or one such number
    in an array, list or tuple (how the database stores a captured array);
    None for anything else. NaN and infinities are kept.

    >>> scalar(np.float32(0.5)), scalar(True), scalar(np.array([7])), scalar([2]), scalar("x")
    (0.5, 1.0, 7.0, 2.0, None)
    """
    if type(value) is float:  # the usual case, first
        return value
    if isinstance(value, np.ndarray):
        if value.size != 1 or value.dtype.kind not in "biuf":
            return None
        value = value.item()
    elif isinstance(value, (list, tuple)):
        if len(value) != 1:
            return None
        value = value[0]
    if isinstance(value, (bool, int, float, np.bool_, np.integer, np.floating)):
        try:
            return float(value)
        except OverflowError:  # an int beyond float range
            return math.inf if value > 0 else -math.inf
    return None


class NumbersOnly:
    """:func:`scalar` for a sink that keeps numbers only: warns once per
    value name about a value that is not one.

    Args:
        owner: Who leaves values out, for the message (``"CurveSink"``).
        verb: What it does with numbers (``"charts"``, ``"logs"``).
    """

    def __init__(self, owner: str, verb: str) -> None:
        self.owner = owner
        self.verb = verb
        self.warned: set[str] = set()

    def number(self, label: str, raw: Any, *, stacklevel: int = 2) -> float | None:
        """``raw`` as a float, or None after a warning (the first time for
        ``label``, e.g. ``"info['x']"``) saying it is left out."""
        value = scalar(raw)
        if value is None and label not in self.warned:
            self.warned.add(label)
            warnings.warn(
                f"{label} is a {type(raw).__name__}, not a number: "
                f"{self.owner} {self.verb} numbers only and leaves it out",
                stacklevel=stacklevel + 1,
            )
        return value
