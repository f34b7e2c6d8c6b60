"""One error family: every public error is a GymscopeError and the builtin it was."""

from __future__ import annotations

import inspect

import pytest

import gymscope
from gymscope import errors

BUILTIN_OF = {
    "ArgumentTypeError": TypeError,
    "InvalidArgumentError": ValueError,
    "UsageError": RuntimeError,
    "RewardTypeError": TypeError,
    "OutputExistsError": FileExistsError,
    "NotAFolderError": NotADirectoryError,
    "FolderNotWritableError": PermissionError,
    "OutputWriteError": OSError,
    "CheckpointError": ValueError,
    "CheckpointNotFoundError": FileNotFoundError,
    "StatsKeyClashError": KeyError,
    "VideoEncoderError": RuntimeError,
    "IncompatibleSchemaError": RuntimeError,
    "WorkerInUseError": RuntimeError,
    "EpisodeWriteError": RuntimeError,
    "DatabaseNotFoundError": FileNotFoundError,
    "DatabaseUnreachableError": ConnectionError,
    "NotAMetricsDatabaseError": ValueError,
    "ExperimentNotFoundError": LookupError,
}


def test_every_error_derives_from_the_base_and_its_builtin() -> None:
    classes = {
        name: value
        for name, value in vars(errors).items()
        if inspect.isclass(value) and issubclass(value, Exception)
    }
    assert set(classes) == {"GymscopeError", *BUILTIN_OF}
    assert set(errors.__all__) == set(classes)
    for name, builtin in BUILTIN_OF.items():
        assert issubclass(classes[name], errors.GymscopeError), name
        assert issubclass(classes[name], builtin), name


def test_errors_are_still_importable_where_they_were() -> None:
    from gymscope.metrics.db import IncompatibleSchemaError
    from gymscope.metrics.queries import (
        DatabaseNotFoundError,
        ExperimentNotFoundError,
        NotAMetricsDatabaseError,
    )
    from gymscope.metrics.runs import WorkerInUseError
    from gymscope.metrics.writer import EpisodeWriteError
    from gymscope.wrappers.stats import StatsKeyClashError
    from gymscope.wrappers.video import VideoEncoderError

    assert DatabaseNotFoundError is errors.DatabaseNotFoundError
    assert ExperimentNotFoundError is errors.ExperimentNotFoundError
    assert NotAMetricsDatabaseError is errors.NotAMetricsDatabaseError
    assert IncompatibleSchemaError is errors.IncompatibleSchemaError
    assert WorkerInUseError is errors.WorkerInUseError
    assert EpisodeWriteError is errors.EpisodeWriteError
    assert StatsKeyClashError is errors.StatsKeyClashError is gymscope.StatsKeyClashError
    assert VideoEncoderError is errors.VideoEncoderError is gymscope.VideoEncoderError


def test_argument_errors_are_caught_by_the_base() -> None:
    import gymnasium as gym

    with pytest.raises(errors.GymscopeError, match="buffer_length must be an int >= 1, got 0"):
        gymscope.EpisodeStatsWrapper(gym.make("CartPole-v1"), buffer_length=0)
    with pytest.raises(errors.ArgumentTypeError, match=r"got '3' \(str\)"):
        gymscope.EpisodeStatsWrapper(gym.make("CartPole-v1"), window_size="3")  # type: ignore[arg-type]


def test_step_before_reset_is_a_usage_error() -> None:
    import gymnasium as gym

    env = gymscope.EpisodeStatsWrapper(gym.make("CartPole-v1"))
    with pytest.raises(errors.UsageError, match=r"call env.reset\(\)"):
        env.step(0)


def test_no_module_imports_the_package_top_level() -> None:
    import pathlib
    import re

    src = pathlib.Path(gymscope.__file__).parent
    upward = re.compile(r"^\s*(from gymscope import|import gymscope$)", re.M)
    offenders = [
        str(path.relative_to(src))
        for path in src.rglob("*.py")
        if upward.search(path.read_text(encoding="utf-8").split('"""', 2)[-1])
    ]
    assert offenders == []
