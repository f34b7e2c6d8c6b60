"""The shared argument checks: types, bounds and messages."""

from __future__ import annotations

import math

import numpy as np
import pytest
from hypothesis import given
from hypothesis import strategies as st

from gymscope._checks import (
    as_float,
    check_bool,
    check_int,
    check_number,
    check_optional_int,
    check_str,
    finite_or_none,
)
from gymscope.errors import ArgumentTypeError, InvalidArgumentError


def test_check_int_accepts_ints_and_numpy_integers() -> None:
    assert check_int("n", 3, 1) == 3
    assert check_int("n", np.int64(4), 1) == 4
    assert type(check_int("n", np.int32(4), 1)) is int


@pytest.mark.parametrize("value", [True, 2.0, "2", None])
def test_check_int_refuses_other_types_naming_argument_value_and_type(value: object) -> None:
    with pytest.raises(ArgumentTypeError, match=rf"^n must be an int >= 1, got {value!r} \("):
        check_int("n", value, 1)


def test_check_int_bound_and_fix() -> None:
    with pytest.raises(InvalidArgumentError) as info:
        check_int("video_length", -5, 0, "use 0 for whole episodes")
    assert str(info.value) == "video_length must be an int >= 0, got -5; use 0 for whole episodes"


def test_check_optional_int() -> None:
    assert check_optional_int("w", None, 0, none_means="lease one") is None
    with pytest.raises(InvalidArgumentError, match=r"w must be an int >= 0 or None \(lease one\)"):
        check_optional_int("w", -1, 0, none_means="lease one")


@given(st.floats(allow_nan=True, allow_infinity=True))
def test_check_number_accepts_exactly_the_open_closed_interval(value: float) -> None:
    inside = math.isfinite(value) and 0.0 < value <= 1.0
    if inside:
        assert check_number("alpha", value, low=0.0, high=1.0) == value
    else:
        with pytest.raises(InvalidArgumentError, match=r"alpha must be a number in \(0, 1\]"):
            check_number("alpha", value, low=0.0, high=1.0)


def test_check_number_types() -> None:
    assert check_number("x", np.float32(0.5), low=0.0) == 0.5
    for bad in (True, "0.5", None):
        with pytest.raises(ArgumentTypeError, match="x must be"):
            check_number("x", bad, low=0.0)


def test_bool_and_str() -> None:
    assert check_bool("flag", False) is False
    with pytest.raises(ArgumentTypeError, match="flag must be True or False, got 1"):
        check_bool("flag", 1)
    assert check_str("name", "run") == "run"
    with pytest.raises(InvalidArgumentError, match="name must be a non-empty str"):
        check_str("name", "  ")


def test_number_coercion() -> None:
    assert as_float(np.float64(1.5)) == 1.5
    assert as_float(np.array(2)) == 2.0
    assert as_float(np.array([1.0])) is None
    assert as_float(True) is None and as_float(np.bool_(True)) is None
    assert math.isnan(as_float(math.nan))  # type: ignore[arg-type]
    assert finite_or_none(math.inf) is None and finite_or_none(np.float32(2)) == 2.0
