"""Axis ticks at "nice" numbers (1-2-5 steps) and their labels.

>>> axis = nice_ticks(0.0, 437.0, max_ticks=6)
>>> axis.values
(0.0, 100.0, 200.0, 300.0, 400.0, 500.0)
>>> axis.labels
('0', '100', '200', '300', '400', '500')
>>> nice_ticks(0, 1_000_000, max_ticks=6).labels
('0', '200k', '400k', '600k', '800k', '1M')
>>> nice_ticks(-0.013, 0.021, max_ticks=6).labels
('-0.02', '-0.01', '0.00', '0.01', '0.02', '0.03')
"""

from __future__ import annotations

import math
from dataclasses import dataclass

__all__ = ["Ticks", "format_ticks", "nice_step", "nice_ticks"]

_MANTISSAS = (1, 2, 5, 10)
# Above this magnitude, labels use k/M/B/T suffixes (below it, "1,500").
_SUFFIX_FROM = 1e4
_SUFFIXES = ((1e12, "T"), (1e9, "B"), (1e6, "M"), (1e3, "k"))


@dataclass(frozen=True)
class Ticks:
    """Ticks of one axis: the axis spans ``lo..hi``, which are ticks themselves.

    Attributes:
        lo: First tick (axis start), ``<=`` the data minimum.
        hi: Last tick (axis end), ``>=`` the data maximum.
        step: Distance between ticks, ``m * 10**e`` with ``m`` in 1, 2, 5.
        values: The tick values, ``lo`` to ``hi``.
        labels: The tick labels, as short as the step allows.
    """

    lo: float
    hi: float
    step: float
    values: tuple[float, ...]
    labels: tuple[str, ...]


def nice_step(span: float, max_ticks: int) -> tuple[int, int]:
    """The smallest step ``m * 10**e`` (``m`` in 1, 2, 5) that cuts ``span``
    into at most ``max_ticks - 1`` intervals; returned as ``(m, e)``.

    >>> nice_step(437.0, 6)
    (1, 2)
    >>> nice_step(0.9, 4)
    (5, -1)
    """
    intervals = max(1, max_ticks - 1)
    raw = span / intervals
    exponent = math.floor(math.log10(raw))
    for mantissa in _MANTISSAS:
        if mantissa * 10.0**exponent >= raw * (1 - 1e-12):
            if mantissa == 10:
                return 1, exponent + 1
            return mantissa, exponent
    raise AssertionError("unreachable: mantissa 10 always fits")  # pragma: no cover


def _scaled(k: int, mantissa: int, exponent: int) -> float:
    """``k * mantissa * 10**exponent`` with as little rounding as possible
    (dividing by ``10**-e`` keeps 0.1, 0.2, 0.3 exact where multiplying would not)."""
    if exponent >= 0:
        return float(k * mantissa * 10**exponent)
    return k * mantissa / float(10**-exponent)


def nice_ticks(lo: float, hi: float, max_ticks: int = 6) -> Ticks:
    """Ticks at multiples of a 1-2-5 step covering ``lo..hi``.

    The axis is widened to the enclosing multiples of the step, so the first
    and last tick are the axis ends. A zero-width range is widened around its
    value; non-finite bounds give the axis 0..1.

    Args:
        lo: Smallest data value.
        hi: Largest data value.
        max_ticks: At most this many ticks (at least 2 are used).
    """
    max_ticks = max(2, max_ticks)
    if not (math.isfinite(lo) and math.isfinite(hi)):
        lo, hi = 0.0, 1.0
    if lo > hi:
        lo, hi = hi, lo
    magnitude = max(abs(lo), abs(hi))
    if hi - lo <= magnitude * 1e-9 or hi - lo == 0:
        pad = magnitude * 0.1 if magnitude > 0 else 1.0
        lo, hi = lo - pad, hi + pad
    while True:
        mantissa, exponent = nice_step(hi - lo, max_ticks)
        step = _scaled(1, mantissa, exponent)
        first = math.floor(lo / step * (1 + 1e-12) if lo > 0 else lo / step * (1 - 1e-12))
        last = math.ceil(hi / step * (1 - 1e-12) if hi > 0 else hi / step * (1 + 1e-12))
        if last - first + 1 <= max_ticks or max_ticks <= 2:
            break
        # Widening to whole steps added an interval too many: take a bigger step.
        max_ticks -= 1
    values = tuple(_scaled(k, mantissa, exponent) for k in range(first, last + 1))
    if len(values) < 2:
        values = (values[0], _scaled(last + 1, mantissa, exponent))
    return Ticks(values[0], values[-1], step, values, format_ticks(values, step))


def format_ticks(values: tuple[float, ...] | list[float], step: float) -> tuple[str, ...]:
    """Labels for ticks ``step`` apart: just enough decimals, ``1,500`` for
    thousands, ``10k``/``2.5M``/``1B`` from ten thousand on, scientific
    notation for very small or very large values.

    >>> format_ticks([0, 2500, 5000, 7500], 2500)
    ('0', '2,500', '5,000', '7,500')
    >>> format_ticks([0, 500_000, 1_000_000, 1_500_000], 500_000)
    ('0', '500k', '1M', '1.5M')
    """
    top = max((abs(v) for v in values), default=0.0)
    if top >= 1e15 or 0 < top < 1e-4:
        digits = max(0, math.floor(math.log10(top)) - math.floor(math.log10(step) + 1e-9))
        return tuple(_tidy(f"{v:.{digits}e}") if v != 0 else "0" for v in values)
    if top >= _SUFFIX_FROM:
        labels = []
        for v in values:
            unit, suffix = next(((u, s) for u, s in _SUFFIXES if abs(v) >= u), (1.0, ""))
            decimals = _decimals(step / unit)
            labels.append(_tidy(f"{v / unit:.{decimals}f}") + suffix if v != 0 else "0")
        return tuple(labels)
    # Plain numbers share one number of decimals (0.0, 0.5, 1.0), as axes usually do.
    decimals = _decimals(step)
    sep = "," if top >= 1000 else ""
    return tuple(_unsigned_zero(f"{v:{sep}.{decimals}f}") for v in values)


def _decimals(step: float) -> int:
    """Decimals needed to write multiples of ``step`` (a 1-2-5 number) exactly."""
    if step >= 1:
        return 0
    return max(0, -math.floor(math.log10(step) + 1e-9))


def _unsigned_zero(label: str) -> str:
    return label[1:] if label.startswith("-") and not label.strip("-0.,") else label


def _tidy(label: str) -> str:
    """Drop trailing zeros of a fraction ("1.50" -> "1.5", "2.0e+03" -> "2e+03")
    and the sign of zero."""
    mantissa, e, exponent = label.partition("e")
    if "." in mantissa:
        mantissa = mantissa.rstrip("0").rstrip(".")
    if mantissa in ("-0", ""):
        mantissa = "0"
    return mantissa + e + exponent
