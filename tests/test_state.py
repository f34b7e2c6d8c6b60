"""Tests for gymscope.state: RecordState and AnalyticsState."""

from __future__ import annotations

import copy
import dataclasses
import pickle
from collections.abc import Callable
from pathlib import Path
from typing import Any

import cloudpickle
import gymnasium as gym
import numpy as np
import pytest

from gymscope.schedule import EpisodeCaptureSchedule
from gymscope.state import AnalyticsState, RecordState


def every_other(i: int) -> bool:
    return i % 2 == 0


def run_record_video(state: RecordState, episodes: int, **kwargs: Any) -> list[int]:
    """Run CartPole (always push left) under RecordVideo; return the episode lengths."""
    env = gym.wrappers.RecordVideo(
        gym.make("CartPole-v1", render_mode="rgb_array"), **kwargs, **state.to_wrapper()
    )
    lengths = []
    for episode in range(episodes):
        env.reset(seed=episode)
        length, done = 0, False
        while not done:
            _, _, terminated, truncated, _ = env.step(0)
            length += 1
            done = terminated or truncated
        lengths.append(length)
    env.close()
    return lengths


def video_names(folder: Path) -> list[str]:
    return sorted(p.name for p in folder.iterdir())


# -- RecordState -----------------------------------------------------------------------
def test_to_wrapper_returns_exactly_record_video_kwargs(tmp_path: Path) -> None:
    state = RecordState(tmp_path / "videos", "episode", episode_trigger=every_other)
    assert state.to_wrapper() == {
        "video_folder": tmp_path / "videos",
        "episode_trigger": every_other,
        "step_trigger": None,
    }
    step_state = RecordState(tmp_path, "step", step_trigger=every_other)
    assert step_state.to_wrapper() == {
        "video_folder": tmp_path,
        "episode_trigger": None,
        "step_trigger": every_other,
    }


def test_str_dirpath_becomes_path(tmp_path: Path) -> None:
    state = RecordState(str(tmp_path / "v"), "episode")
    assert state.dirpath == tmp_path / "v"
    assert isinstance(state.dirpath, Path)
    assert state.to_wrapper()["video_folder"] == tmp_path / "v"


def test_episode_method_without_trigger_means_gymnasium_default(tmp_path: Path) -> None:
    state = RecordState(tmp_path / "videos", "episode")
    assert state.to_wrapper() == {
        "video_folder": tmp_path / "videos",
        "episode_trigger": None,
        "step_trigger": None,
    }
    run_record_video(state, episodes=3)
    # capped cubic schedule: episodes 0 and 1 of 0, 1, 2
    assert video_names(tmp_path / "videos") == ["rl-video-episode-0.mp4", "rl-video-episode-1.mp4"]


@pytest.mark.parametrize(
    ("args", "kwargs", "error", "match"),
    [
        ((1, "episode"), {}, TypeError, r"dirpath must be a str or a path .*, got 1 \(int\)"),
        (("v", "episodes"), {}, ValueError, r"method must be 'episode' or 'step', got 'episodes'"),
        (("v", None), {}, ValueError, r"method must be 'episode' or 'step', got None"),
        (
            ("v", "episode"),
            {"episode_trigger": 5},
            TypeError,
            r"episode_trigger must be a callable int -> bool or None, got 5 \(int\); "
            r"e\.g\. episode_trigger=EpisodeCaptureSchedule\(every_n_episodes=100\)",
        ),
        (
            ("v", "step"),
            {"step_trigger": "every:5"},
            TypeError,
            r"step_trigger must be a callable int -> bool or None, got 'every:5' \(str\); "
            r"e\.g\. step_trigger=EpisodeCaptureSchedule\(every_n_steps=1000\)",
        ),
        (
            ("v", "step"),
            {},
            ValueError,
            r"method='step' needs a step_trigger \(RecordVideo would record by episode",
        ),
        (
            ("v", "step"),
            {"episode_trigger": every_other},
            ValueError,
            r"method='step' needs a step_trigger",
        ),
        (
            ("v", "step"),
            {"episode_trigger": every_other, "step_trigger": every_other},
            ValueError,
            r"method='step' records by step, but episode_trigger=.* was given too; "
            r"pass method='episode'",
        ),
        (
            ("v", "episode"),
            {"step_trigger": every_other},
            ValueError,
            r"method='episode' records by episode, but step_trigger=.* was given too; "
            r"pass method='step'",
        ),
    ],
)
def test_record_state_validation(
    args: tuple[Any, ...], kwargs: dict[str, Any], error: type[Exception], match: str
) -> None:
    with pytest.raises(error, match=match):
        RecordState(*args, **kwargs)


def test_record_state_is_frozen(tmp_path: Path) -> None:
    state = RecordState(tmp_path, "episode")
    with pytest.raises(dataclasses.FrozenInstanceError):
        state.method = "step"  # type: ignore[misc]
    with pytest.raises(ValueError, match="method='step' needs a step_trigger"):
        dataclasses.replace(state, method="step")


@pytest.mark.parametrize("dumps", [pickle.dumps, cloudpickle.dumps], ids=["pickle", "cloudpickle"])
def test_record_state_pickles_with_schedule_triggers(tmp_path: Path, dumps: Any) -> None:
    schedule = EpisodeCaptureSchedule(every_n_episodes=3)
    state = RecordState.from_schedule(tmp_path, schedule)
    clone = pickle.loads(dumps(state))
    # bound methods compare by the identity of their instance, so compare the parts
    assert (clone.dirpath, clone.method, clone.step_trigger) == (tmp_path, "episode", None)
    assert clone.episode_trigger is not None
    assert clone.episode_trigger.__self__ == schedule  # type: ignore[attr-defined]
    assert [clone.episode_trigger(i) for i in range(7)] == [i % 3 == 0 for i in range(7)]
    assert copy.deepcopy(state).to_wrapper()["video_folder"] == tmp_path


def test_from_schedule_episode(tmp_path: Path) -> None:
    schedule = EpisodeCaptureSchedule.parse("at:0;2")
    state = RecordState.from_schedule(tmp_path / "videos", schedule)
    assert state == RecordState(
        tmp_path / "videos", "episode", episode_trigger=schedule.should_capture_episode
    )
    run_record_video(state, episodes=4, name_prefix="cartpole")
    assert video_names(tmp_path / "videos") == [
        "cartpole-episode-0.mp4",
        "cartpole-episode-2.mp4",
    ]


def test_from_schedule_step(tmp_path: Path) -> None:
    schedule = EpisodeCaptureSchedule.parse("steps:7")
    state = RecordState.from_schedule(tmp_path / "videos", schedule)
    assert state == RecordState(
        tmp_path / "videos", "step", step_trigger=schedule.should_capture_step
    )
    lengths = run_record_video(state, episodes=2)
    # RecordVideo counts steps from 0 over all episodes; each trigger starts a new video
    expected = [f"rl-video-step-{t}.mp4" for t in range(0, sum(lengths), 7)]
    assert video_names(tmp_path / "videos") == sorted(expected)


@pytest.mark.parametrize(
    ("text", "match"),
    [
        ("none", r"schedule 'none' captures nothing, and RecordVideo given no trigger records"),
        ("total:5", r"schedule 'total:5' captures nothing"),
        (
            "every:5,steps:100",
            r"schedule 'every:5,steps:100' captures both episodes and steps, but a RecordState "
            r"records by one method",
        ),
    ],
)
def test_from_schedule_errors(tmp_path: Path, text: str, match: str) -> None:
    with pytest.raises(ValueError, match=match):
        RecordState.from_schedule(tmp_path, EpisodeCaptureSchedule.parse(text))


def test_from_schedule_rejects_non_schedule(tmp_path: Path) -> None:
    with pytest.raises(
        TypeError, match=r"schedule must be an EpisodeCaptureSchedule, got 'every:5'"
    ):
        RecordState.from_schedule(tmp_path, "every:5")  # type: ignore[arg-type]


# -- AnalyticsState --------------------------------------------------------------------
def test_analytics_defaults() -> None:
    state = AnalyticsState("cartpole")
    assert (state.project_name, state.experiment_name, state.tags) == ("cartpole", None, None)


def test_resolved_fills_missing_name_and_tags_like_velora() -> None:
    resolved = AnalyticsState("cartpole").resolved("PPO", "CartPole-v1", 500)
    assert resolved == AnalyticsState("cartpole", "PPO_CartPole-v1_500ep", ["PPO", "CartPole-v1"])


def test_resolved_keeps_given_values() -> None:
    state = AnalyticsState("p", experiment_name="run-1", tags=[])
    assert state.resolved("PPO", "CartPole-v1", 500) == state
    named = AnalyticsState("p", experiment_name="run-1").resolved("A2C", "Pong", 3)
    assert (named.experiment_name, named.tags) == ("run-1", ["A2C", "Pong"])
    tagged = AnalyticsState("p", tags=["x"]).resolved("A2C", "Pong", np.int64(3))
    assert (tagged.experiment_name, tagged.tags) == ("A2C_Pong_3ep", ["x"])


def test_resolved_returns_a_new_state() -> None:
    state = AnalyticsState("p")
    resolved = state.resolved("A", "E", 1)
    assert resolved is not state
    assert state.experiment_name is None
    assert state.tags is None


def test_tags_are_copied_into_a_list() -> None:
    given = ["a", "b"]
    state = AnalyticsState("p", tags=given)
    given.append("c")
    assert state.tags == ["a", "b"]
    assert AnalyticsState("p", tags=("a", "b")).tags == ["a", "b"]
    assert AnalyticsState("p", tags=iter(["a"])).tags == ["a"]


@pytest.mark.parametrize(
    ("args", "kwargs", "error", "match"),
    [
        ((), {"project_name": None}, TypeError, r"project_name must be a non-empty str, got None"),
        (("",), {}, ValueError, r"project_name must be a non-empty str, got ''$"),
        (("  ",), {}, ValueError, r"project_name must be a non-empty str, got '  '"),
        (("p", 3), {}, TypeError, r"experiment_name must be a non-empty str, got 3 \(int\)"),
        (("p", ""), {}, ValueError, r"experiment_name must be a non-empty str, got ''"),
        (("p",), {"tags": "ppo"}, TypeError, r"got the single string 'ppo'; write tags=\['ppo'\]"),
        (("p",), {"tags": 5}, TypeError, r"tags must be a list of str or None, got 5 \(int\)"),
        (("p",), {"tags": ["a", 1]}, TypeError, r"non-empty str, got 1 \(int\) in \[.a., 1\]"),
        (("p",), {"tags": ["a", ""]}, ValueError, r"tags must hold non-empty str, got '' in"),
    ],
)
def test_analytics_validation(
    args: tuple[Any, ...], kwargs: dict[str, Any], error: type[Exception], match: str
) -> None:
    with pytest.raises(error, match=match):
        AnalyticsState(*args, **kwargs)


@pytest.mark.parametrize(
    ("call", "error", "match"),
    [
        (lambda s: s.resolved("", "E", 1), ValueError, r"agent must be a non-empty str, got ''"),
        (lambda s: s.resolved("A", None, 1), TypeError, r"env must be a non-empty str, got None"),
        (lambda s: s.resolved("A", "E", -1), ValueError, r"episodes must be an int >= 0, got -1"),
        (lambda s: s.resolved("A", "E", 1.0), TypeError, r"episodes must be an int >= 0, got 1\.0"),
        (lambda s: s.resolved("A", "E", True), TypeError, r"episodes .* got True \(bool\)"),
    ],
)
def test_resolved_validation(
    call: Callable[[AnalyticsState], object], error: type[Exception], match: str
) -> None:
    with pytest.raises(error, match=match):
        call(AnalyticsState("p"))


@pytest.mark.parametrize("dumps", [pickle.dumps, cloudpickle.dumps], ids=["pickle", "cloudpickle"])
def test_analytics_state_pickles(dumps: Any) -> None:
    state = AnalyticsState("p", "run", ["a"])
    assert pickle.loads(dumps(state)) == state
    assert copy.deepcopy(state) == state


def test_analytics_state_is_frozen() -> None:
    state = AnalyticsState("p")
    with pytest.raises(dataclasses.FrozenInstanceError):
        state.project_name = "q"  # type: ignore[misc]
