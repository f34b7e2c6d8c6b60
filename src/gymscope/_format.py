"""Numbers, durations and times as short text, the same in the terminal and the report.

>>> format_number(61.25), format_number(200.0), format_number(123456.7)
('61.25', '200', '123,457')
>>> format_number(None) == MISSING == "\N{EN DASH}"
True
>>> format_number(float("nan"), missing="-"), format_number(-0.000123)
('-', '-0.000123')
>>> format_duration(1.54), format_duration(75), format_duration(7530), format_duration(90061)
('1.5 s', '1 min 15 s', '2 h 05 min', '1 d 01 h')
>>> format_duration(0.0045), format_duration(0.045), format_duration(1e-6), format_duration(0)
('4.5 ms', '45 ms', '< 0.01 ms', '0 s')
>>> format_count(6741)
'6,741'
"""

from __future__ import annotations

import datetime as dt
import math

__all__ = ["MISSING", "format_count", "format_duration", "format_number", "format_time"]

#: Shown for a missing value.
MISSING = "\N{EN DASH}"


def format_number(value: float | None, *, missing: str = MISSING) -> str:
    """A return, length or loss: at most 4 significant digits below 1000,
    whole numbers with thousands separators above."""
    if value is None or value != value:
        return missing
    if math.isinf(value):
        return "inf" if value > 0 else "-inf"
    if abs(value) >= 1000:
        return f"{value:,.0f}"
    text = f"{value:.4g}"
    if "e" in text:  # tiny values: plain decimals read better than 1.23e-04
        text = f"{value:.6f}".rstrip("0").rstrip(".")
        if text in ("0", "-0"):
            text = f"{value:.3g}"
    return "0" if text == "-0" else text


def format_count(value: int) -> str:
    """A count with thousands separators."""
    return f"{value:,}"


def format_duration(seconds: float | None, *, missing: str = MISSING) -> str:
    """``45 ms``, ``1.5 s``, ``12 s``, ``3 min 07 s``, ``2 h 05 min``, ``3 d 04 h``."""
    if seconds is None or not math.isfinite(seconds) or seconds < 0:
        return missing
    if seconds < 0.1:
        ms = seconds * 1000
        if ms < 0.01:
            return "0 s" if seconds == 0 else "< 0.01 ms"
        return f"{ms:.2g} ms"
    if seconds < 10:
        return f"{seconds:.1f} s"
    whole = round(seconds)
    if whole < 60:
        return f"{whole} s"
    minutes, secs = divmod(whole, 60)
    if minutes < 60:
        return f"{minutes} min {secs:02d} s"
    hours, minutes = divmod(minutes, 60)
    if hours < 24:
        return f"{hours} h {minutes:02d} min"
    days, hours = divmod(hours, 24)
    return f"{days} d {hours:02d} h"


def format_time(
    when: dt.datetime | None, *, utc: bool = False, seconds: bool = False, missing: str = MISSING
) -> str:
    """``YYYY-MM-DD HH:MM`` in local time, or in UTC with a ``UTC`` suffix."""
    if when is None:
        return missing
    pattern = "%Y-%m-%d %H:%M:%S" if seconds else "%Y-%m-%d %H:%M"
    if utc:
        return when.astimezone(dt.timezone.utc).strftime(pattern) + " UTC"
    return when.astimezone().strftime(pattern)
