"""Argument checks and number coercion, written once.

Every check raises :class:`~gymscope.errors.ArgumentTypeError` (a
``TypeError``) for a value of the wrong type and
:class:`~gymscope.errors.InvalidArgumentError` (a ``ValueError``) for one out
of range, with a message that names the argument, the value and the fix.

>>> check_int("buffer_length", 0, 1)
Traceback (most recent call last):
    ...
gymscope.errors.InvalidArgumentError: buffer_length must be an int >= 1, got 0
>>> as_float(True), as_float("1"), as_float(2)
(None, None, 2.0)
"""

from __future__ import annotations

import math
import operator
from collections.abc import Iterable
from typing import Any, SupportsIndex

from gymscope.errors import ArgumentTypeError, InvalidArgumentError

__all__ = [
    "as_float",
    "check_bool",
    "check_int",
    "check_number",
    "check_optional_int",
    "check_str",
    "check_strings",
    "finite_or_none",
]


def _tail(fix: str) -> str:
    return f"; {fix}" if fix else ""


def check_int(
    name: str,
    value: object,
    minimum: int | None = None,
    fix: str = "",
    *,
    what: str = "",
    maximum: int | None = None,
) -> int:
    """``value`` as an int (anything with ``__index__`` but bool) ``>= minimum``.

    Args:
        name: The argument's name, as the caller wrote it.
        value: What was passed.
        minimum: The smallest value allowed; None for no bound.
        maximum: The largest value allowed (e.g. what a database column
            holds); None for no bound.
        fix: How to fix a bad value, appended to the message.
        what: Spelling of the expected value in the message (default
            ``"an int >= {minimum}"``).
    """
    expected = what or ("an int" if minimum is None else f"an int >= {minimum}")
    if isinstance(value, bool) or not isinstance(value, SupportsIndex):
        raise ArgumentTypeError(
            f"{name} must be {expected}, got {value!r} ({type(value).__name__}){_tail(fix)}"
        )
    number = operator.index(value)
    if minimum is not None and number < minimum:
        raise InvalidArgumentError(f"{name} must be {expected}, got {value!r}{_tail(fix)}")
    if maximum is not None and number > maximum:
        raise InvalidArgumentError(f"{name} must be at most {maximum}, got {value!r}{_tail(fix)}")
    return number


def check_optional_int(
    name: str,
    value: object,
    minimum: int,
    fix: str = "",
    *,
    none_means: str,
    maximum: int | None = None,
) -> int | None:
    """:func:`check_int`, with None allowed (``none_means`` says what it means)."""
    if value is None:
        return None
    return check_int(
        name,
        value,
        minimum,
        fix,
        what=f"an int >= {minimum} or None ({none_means})",
        maximum=maximum,
    )


def check_number(
    name: str,
    value: object,
    *,
    low: float = -math.inf,
    high: float = math.inf,
    low_open: bool = True,
    high_open: bool = False,
    what: str = "",
    fix: str = "",
) -> float:
    """``value`` (a real number, not bool) as a float in the interval given.

    By default the interval is ``(low, high]``; NaN and infinities are refused.
    """
    left, right = "(" if low_open else "[", ")" if high_open or math.isinf(high) else "]"
    expected = what or f"a number in {left}{low:g}, {high:g}{right}"
    if isinstance(value, bool) or not isinstance(value, (int, float)):
        try:
            import numpy as np
        except ImportError:  # pragma: no cover - numpy is a dependency
            np = None  # type: ignore[assignment]
        if np is None or not isinstance(value, (np.integer, np.floating)):
            raise ArgumentTypeError(
                f"{name} must be {expected}, got {value!r} ({type(value).__name__}){_tail(fix)}"
            )
    number = float(value)
    above = number > low if low_open else number >= low
    below = number < high if high_open else number <= high
    if not (math.isfinite(number) and above and below):
        raise InvalidArgumentError(f"{name} must be {expected}, got {value!r}{_tail(fix)}")
    return number


def check_bool(name: str, value: object) -> bool:
    """``value`` if it is a bool."""
    if not isinstance(value, bool):
        raise ArgumentTypeError(
            f"{name} must be True or False, got {value!r} ({type(value).__name__})"
        )
    return value


def check_str(name: str, value: object, *, fix: str = "", what: str = "a non-empty str") -> str:
    """``value`` if it is a non-blank str (``what`` spells the expected value)."""
    if not isinstance(value, str):
        raise ArgumentTypeError(
            f"{name} must be {what}, got {value!r} ({type(value).__name__}){_tail(fix)}"
        )
    if not value.strip():
        raise InvalidArgumentError(f"{name} must be {what}, got {value!r}{_tail(fix)}")
    return value


def check_strings(
    name: str, value: object, *, kind: str, example: str, item: str = "str"
) -> list[str]:
    """A collection of non-blank strings (not one string, which would iterate
    over its characters), as a list.

    Args:
        name: The argument's name.
        value: What was passed.
        kind: How the expected collection is called (``"a list of str"``).
        example: How to write one string as a collection, with ``{value!r}``
            standing for it (``"[{value!r}]"``).
        item: How an element is called in messages (``"str keys"``).
    """
    if isinstance(value, str):
        fixed = example.format(value=value)
        raise ArgumentTypeError(
            f"{name} must be {kind}, got the single string {value!r}; write {name}={fixed}"
        )
    if not isinstance(value, Iterable):
        raise ArgumentTypeError(f"{name} must be {kind}, got {value!r} ({type(value).__name__})")
    checked = list(value)
    for element in checked:
        if not isinstance(element, str):
            raise ArgumentTypeError(
                f"{name} must hold non-empty {item}, got {element!r} "
                f"({type(element).__name__}) in {checked!r}"
            )
        if not element.strip():
            raise InvalidArgumentError(
                f"{name} must hold non-empty {item}, got {element!r} in {checked!r}"
            )
    return checked


def as_float(value: Any) -> float | None:
    """A real number (Python or NumPy, bool excluded) as a float; None for anything else.

    NaN and infinities are kept: callers that store or draw values decide what
    a non-finite value means.
    """
    if isinstance(value, bool):
        return None
    if isinstance(value, (int, float)):
        return float(value)
    item = getattr(value, "item", None)  # NumPy scalars and 0-d arrays
    if item is not None and getattr(value, "shape", None) == ():
        dtype = getattr(value, "dtype", None)
        if dtype is not None and dtype.kind in "iuf":
            return float(item())
    return None


def finite_or_none(value: Any) -> float | None:
    """A finite real number as a float; None for NaN, infinities and non-numbers."""
    number = as_float(value)
    if number is None or not math.isfinite(number):
        return None
    return number
