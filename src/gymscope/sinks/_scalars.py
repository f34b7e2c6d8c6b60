"""One rule for "is this captured value a number", shared by the chart and event sinks."""

from __future__ import annotations

import math
from typing import Any

import numpy as np

__all__ = ["scalar"]


def scalar(value: Any) -> float | None:
    """``value`` as a float if it is a real number, a bool, or one such number
    in an array, list or tuple (how the database stores a captured array);
    None for anything else. NaN and infinities are kept.

    >>> scalar(np.float32(0.5)), scalar(True), scalar(np.array([7])), scalar([2]), scalar("x")
    (0.5, 1.0, 7.0, 2.0, None)
    """
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
