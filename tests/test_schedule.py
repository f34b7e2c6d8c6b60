"""Tests for gymscope.schedule.EpisodeCaptureSchedule."""

from __future__ import annotations

import copy
import dataclasses
import pickle
import subprocess
import sys
from pathlib import Path
from typing import Any

import cloudpickle
import gymnasium as gym
import numpy as np
import pytest
from gymnasium.utils.save_video import capped_cubic_video_schedule
from hypothesis import given
from hypothesis import strategies as st

from gymscope.schedule import SCHEDULE_GRAMMAR, EpisodeCaptureSchedule


def captured(schedule: EpisodeCaptureSchedule, n: int) -> list[int]:
    return [i for i in range(n) if schedule.should_capture_episode(i)]


# -- capture rules ---------------------------------------------------------------------
def test_default_captures_nothing() -> None:
    schedule = EpisodeCaptureSchedule()
    assert captured(schedule, 3000) == []
    assert not any(schedule.should_capture_step(t) for t in range(3000))
    assert not schedule.captures_episodes
    assert not schedule.captures_steps
    assert schedule.episode_trigger is None
    assert schedule.step_trigger is None


def test_every_n_episodes() -> None:
    assert captured(EpisodeCaptureSchedule(every_n_episodes=3), 10) == [0, 3, 6, 9]
    assert captured(EpisodeCaptureSchedule(every_n_episodes=1), 4) == [0, 1, 2, 3]


def test_episode_indices_are_sorted_and_deduplicated() -> None:
    schedule = EpisodeCaptureSchedule(episode_indices=[7, 2, 7, np.int64(0)])
    assert schedule.episode_indices == (0, 2, 7)
    assert all(type(i) is int for i in schedule.episode_indices)
    assert captured(schedule, 10) == [0, 2, 7]
    assert EpisodeCaptureSchedule(episode_indices=range(0, 9, 4)).episode_indices == (0, 4, 8)
    assert EpisodeCaptureSchedule(episode_indices={5}).episode_indices == (5,)


def test_last_n_episodes() -> None:
    schedule = EpisodeCaptureSchedule(last_n_episodes=2, total_episodes=10)
    assert captured(schedule, 10) == [8, 9]
    # REFERENCE: captured when episode >= total_episodes - last_n, also past the end
    assert schedule.should_capture_episode(10)
    assert schedule.should_capture_episode(10_000)
    everything = EpisodeCaptureSchedule(last_n_episodes=5, total_episodes=5)
    assert captured(everything, 5) == [0, 1, 2, 3, 4]


def test_total_alone_captures_nothing() -> None:
    schedule = EpisodeCaptureSchedule(total_episodes=100)
    assert captured(schedule, 200) == []
    assert not schedule.captures_episodes


def test_rules_combine_as_a_union() -> None:
    schedule = EpisodeCaptureSchedule(
        episode_indices=(1, 5), every_n_episodes=4, last_n_episodes=1, total_episodes=12
    )
    assert captured(schedule, 12) == [0, 1, 4, 5, 8, 11]


def test_cubic_matches_gymnasium_default_schedule() -> None:
    schedule = EpisodeCaptureSchedule(cubic=True)
    for episode in [*range(5000), 10_000, 10_001, 123_000, 999_999]:
        assert schedule.should_capture_episode(episode) == capped_cubic_video_schedule(episode)
    assert captured(schedule, 1001) == [0, 1, 8, 27, 64, 125, 216, 343, 512, 729, 1000]


def test_every_n_steps() -> None:
    schedule = EpisodeCaptureSchedule(every_n_steps=250)
    assert [t for t in range(1000) if schedule.should_capture_step(t)] == [0, 250, 500, 750]
    assert schedule.captures_steps
    assert not schedule.captures_episodes
    assert schedule.step_trigger == schedule.should_capture_step
    assert schedule.episode_trigger is None


@pytest.mark.parametrize(
    "kwargs",
    [
        {"episode_indices": (3,)},
        {"every_n_episodes": 2},
        {"last_n_episodes": 1, "total_episodes": 3},
        {"cubic": True},
    ],
)
def test_any_episode_rule_sets_the_episode_trigger(kwargs: dict[str, Any]) -> None:
    schedule = EpisodeCaptureSchedule(**kwargs)
    assert schedule.captures_episodes
    assert schedule.episode_trigger == schedule.should_capture_episode
    assert schedule.step_trigger is None


# -- validation ------------------------------------------------------------------------
@pytest.mark.parametrize(
    ("kwargs", "error", "match"),
    [
        (
            {"every_n_episodes": 0},
            ValueError,
            r"every_n_episodes must be an int >= 1, got 0; .*None",
        ),
        ({"every_n_episodes": -3}, ValueError, r"every_n_episodes must be an int >= 1, got -3"),
        (
            {"every_n_episodes": 2.0},
            TypeError,
            r"every_n_episodes must be an int >= 1, got 2\.0 \(float\)",
        ),
        (
            {"every_n_episodes": True},
            TypeError,
            r"every_n_episodes must be an int >= 1, got True \(bool\)",
        ),
        (
            {"every_n_episodes": "5"},
            TypeError,
            r"every_n_episodes must be an int >= 1, got '5' \(str\)",
        ),
        ({"every_n_steps": 0}, ValueError, r"every_n_steps must be an int >= 1, got 0"),
        (
            {"every_n_steps": 1.5},
            TypeError,
            r"every_n_steps must be an int >= 1, got 1\.5 \(float\)",
        ),
        (
            {"last_n_episodes": -1, "total_episodes": 5},
            ValueError,
            r"last_n_episodes must be an int >= 0, got -1; pass 0",
        ),
        ({"last_n_episodes": None}, TypeError, r"last_n_episodes must be an int >= 0, got None"),
        ({"total_episodes": -1}, ValueError, r"total_episodes must be an int >= 0, got -1"),
        (
            {"total_episodes": 10.0},
            TypeError,
            r"total_episodes must be an int >= 0, got 10\.0 \(float\)",
        ),
        (
            {"episode_indices": (0, -1)},
            ValueError,
            r"episode_indices must be an int >= 0, got -1; .*\[0, -1\]",
        ),
        (
            {"episode_indices": (0, 1.0)},
            TypeError,
            r"episode_indices must be an int >= 0, got 1\.0 \(float\)",
        ),
        (
            {"episode_indices": (False,)},
            TypeError,
            r"episode_indices must be an int >= 0, got False \(bool\)",
        ),
        ({"episode_indices": 5}, TypeError, r"got 5 \(int\); write episode_indices=\(5,\)"),
        (
            {"episode_indices": "0;5"},
            TypeError,
            r"got the string '0;5'; write e\.g\. episode_indices=\(0, 5\)",
        ),
        ({"cubic": 1}, TypeError, r"cubic must be a bool, got 1 \(int\)"),
        (
            {"last_n_episodes": 3},
            ValueError,
            r"last_n_episodes=3 needs total_episodes= \(the number of episodes in the run\)",
        ),
        (
            {"last_n_episodes": 6, "total_episodes": 5},
            ValueError,
            r"last_n_episodes=6 exceeds total_episodes=5; use last_n_episodes<=5",
        ),
    ],
)
def test_invalid_arguments(kwargs: dict[str, Any], error: type[Exception], match: str) -> None:
    with pytest.raises(error, match=match):
        EpisodeCaptureSchedule(**kwargs)


def test_numpy_ints_are_accepted_and_stored_as_int() -> None:
    schedule = EpisodeCaptureSchedule(
        every_n_episodes=np.int32(5), last_n_episodes=np.int64(1), total_episodes=np.int64(9)
    )
    assert schedule == EpisodeCaptureSchedule(
        every_n_episodes=5, last_n_episodes=1, total_episodes=9
    )
    assert type(schedule.every_n_episodes) is int
    assert type(schedule.total_episodes) is int


def test_frozen_and_replace_revalidates() -> None:
    schedule = EpisodeCaptureSchedule(every_n_episodes=5)
    with pytest.raises(dataclasses.FrozenInstanceError):
        schedule.every_n_episodes = 6  # type: ignore[misc]
    assert dataclasses.replace(schedule, every_n_steps=10).every_n_steps == 10
    with pytest.raises(ValueError, match="every_n_steps must be an int >= 1, got 0"):
        dataclasses.replace(schedule, every_n_steps=0)


def test_equal_schedules_hash_equal() -> None:
    a = EpisodeCaptureSchedule(episode_indices=[3, 1])
    b = EpisodeCaptureSchedule(episode_indices=(1, 3))
    assert a == b
    assert hash(a) == hash(b)
    assert a != EpisodeCaptureSchedule(episode_indices=(1,))


# -- string form -----------------------------------------------------------------------
@pytest.mark.parametrize(
    ("text", "expected", "canonical"),
    [
        ("every:100", EpisodeCaptureSchedule(every_n_episodes=100), "every:100"),
        (
            "every:100,last:1,at:0;5,total:500",
            EpisodeCaptureSchedule((0, 5), 100, 1, 500),
            "every:100,last:1,at:0;5,total:500",
        ),
        (
            " steps:1000 , AT: 5 ; 0;5 , Every:010 ",
            EpisodeCaptureSchedule((0, 5), every_n_episodes=10, every_n_steps=1000),
            "every:10,at:0;5,steps:1000",
        ),
        ("cubic", EpisodeCaptureSchedule(cubic=True), "cubic"),
        ("total:7,cubic", EpisodeCaptureSchedule(total_episodes=7, cubic=True), "cubic,total:7"),
        ("last:0", EpisodeCaptureSchedule(), "none"),
        ("none", EpisodeCaptureSchedule(), "none"),
        ("NONE", EpisodeCaptureSchedule(), "none"),
        ("", EpisodeCaptureSchedule(), "none"),
        ("   ", EpisodeCaptureSchedule(), "none"),
    ],
)
def test_parse_and_canonical_str(
    text: str, expected: EpisodeCaptureSchedule, canonical: str
) -> None:
    schedule = EpisodeCaptureSchedule.parse(text)
    assert schedule == expected
    assert str(schedule) == canonical
    assert EpisodeCaptureSchedule.parse(canonical) == expected


def test_parse_total_episodes_argument() -> None:
    schedule = EpisodeCaptureSchedule.parse("last:2", total_episodes=10)
    assert schedule == EpisodeCaptureSchedule(last_n_episodes=2, total_episodes=10)
    assert str(schedule) == "last:2,total:10"
    assert EpisodeCaptureSchedule.parse("last:2,total:10", total_episodes=10) == schedule
    assert EpisodeCaptureSchedule.parse("every:5", total_episodes=10).total_episodes == 10
    with pytest.raises(
        ValueError, match=r"total:10 in 'last:2,total:10' disagrees with total_episodes=20"
    ):
        EpisodeCaptureSchedule.parse("last:2,total:10", total_episodes=20)
    with pytest.raises(ValueError, match=r"total_episodes must be an int >= 0, got -5"):
        EpisodeCaptureSchedule.parse("every:5", total_episodes=-5)


GRAMMAR = (
    r"expected every:N, last:N, at:I;J;\.\.\., cubic, total:N, steps:N \(comma-separated\), or none"
)


@pytest.mark.parametrize(
    ("text", "match"),
    [
        ("evry:100", r"^unknown key 'evry' in 'evry:100'; " + GRAMMAR + "$"),
        ("every:100,lst:1", r"^unknown key 'lst' in 'lst:1'; " + GRAMMAR),
        ("every100", r"^unknown key 'every100' in 'every100'; " + GRAMMAR),
        ("every", r"^'every' needs a value, got 'every'; write every:N$"),
        ("at", r"^'at' needs a value, got 'at'; write at:I;J;\.\.\.$"),
        (
            "every:",
            r"^bad value in 'every:': every:N needs the episode interval, a whole number >= 1; "
            + GRAMMAR,
        ),
        (
            "every:0",
            r"^bad value in 'every:0': every:N needs the episode interval, a whole number >= 1",
        ),
        ("every:-5", r"^bad value in 'every:-5': every:N needs"),
        ("every:1.5", r"^bad value in 'every:1\.5': every:N needs"),
        ("every:+5", r"^bad value in 'every:\+5': every:N needs"),
        ("every:1_000", r"^bad value in 'every:1_000': every:N needs"),
        (
            "steps:0",
            r"^bad value in 'steps:0': steps:N needs the step interval, a whole number >= 1",
        ),
        (
            "total:x",
            r"^bad value in 'total:x': total:N needs the number of episodes in the run, "
            r"a whole number >= 0",
        ),
        (
            "last:-1,total:5",
            r"^bad value in 'last:-1': last:N needs the number of final episodes, "
            r"a whole number >= 0",
        ),
        (
            "at:",
            r"^bad value in 'at:': at:I;J;\.\.\. needs episode indices, "
            r"whole numbers >= 0 separated by ';'",
        ),
        ("at:0;;5", r"^bad value in 'at:0;;5': at:I;J;\.\.\. needs episode indices"),
        ("at:0,5", r"^'5' after 'at:0' in 'at:0,5' looks like another episode index: "),
        ("at:-1", r"^bad value in 'at:-1': at:I;J"),
        ("cubic:1", r"^'cubic' takes no value, got 'cubic:1'; write just 'cubic'$"),
        ("none:", r"^'none' takes no value, got 'none:'"),
        (
            "every:5,",
            r"^empty token in 'every:5,' \(two commas in a row, or a leading or trailing comma\); "
            + GRAMMAR,
        ),
        ("every:5,,last:1", r"^empty token in 'every:5,,last:1'"),
        (
            "every:5,every:10",
            r"^key 'every' is given twice in 'every:5,every:10'; "
            r"give each of every:N, .* at most once$",
        ),
        (
            "none,every:5",
            r"^'none' cannot be combined with other keys in 'none,every:5'; "
            r"drop 'none' or the other keys",
        ),
        (
            "last:1",
            r"^'last:1' in 'last:1' needs the number of episodes in the run: "
            r"add total:N to the schedule or pass total_episodes=$",
        ),
        (
            "last:6,total:5",
            r"^invalid schedule 'last:6,total:5': "
            r"last_n_episodes=6 exceeds total_episodes=5; use last_n_episodes<=5",
        ),
    ],
)
def test_parse_errors_quote_the_token_and_grammar(text: str, match: str) -> None:
    with pytest.raises(ValueError, match=match):
        EpisodeCaptureSchedule.parse(text)


def test_parse_rejects_non_str() -> None:
    with pytest.raises(
        TypeError, match=r"text must be a str such as 'every:100,last:1', got 100 \(int\)"
    ):
        EpisodeCaptureSchedule.parse(100)  # type: ignore[arg-type]


def test_grammar_constant_is_what_errors_show() -> None:
    with pytest.raises(
        ValueError,
        match="expected "
        + SCHEDULE_GRAMMAR.replace(".", r"\.").replace("(", r"\(").replace(")", r"\)"),
    ):
        EpisodeCaptureSchedule.parse("x:1")


# -- properties --------------------------------------------------------------------------
@st.composite
def schedules(draw: st.DrawFn) -> EpisodeCaptureSchedule:
    total = draw(st.none() | st.integers(0, 10_000))
    last = 0 if total is None else draw(st.integers(0, total))
    return EpisodeCaptureSchedule(
        episode_indices=draw(st.lists(st.integers(0, 10_000), max_size=6)),
        every_n_episodes=draw(st.none() | st.integers(1, 5_000)),
        last_n_episodes=last,
        total_episodes=total,
        every_n_steps=draw(st.none() | st.integers(1, 100_000)),
        cubic=draw(st.booleans()),
    )


@given(schedules())
def test_str_parse_round_trip(schedule: EpisodeCaptureSchedule) -> None:
    text = str(schedule)
    assert EpisodeCaptureSchedule.parse(text) == schedule
    assert str(EpisodeCaptureSchedule.parse(text)) == text
    if schedule.total_episodes is not None:
        assert (
            EpisodeCaptureSchedule.parse(text, total_episodes=schedule.total_episodes) == schedule
        )


@given(schedules(), st.integers(0, 50_000))
def test_should_capture_episode_matches_definition(
    schedule: EpisodeCaptureSchedule, episode: int
) -> None:
    expected = (
        episode in set(schedule.episode_indices)
        or (schedule.every_n_episodes is not None and episode % schedule.every_n_episodes == 0)
        or (
            schedule.last_n_episodes > 0
            and schedule.total_episodes is not None
            and episode >= schedule.total_episodes - schedule.last_n_episodes
        )
        or (schedule.cubic and capped_cubic_video_schedule(episode))
    )
    assert schedule.should_capture_episode(episode) == expected
    assert schedule.captures_episodes or not expected


@given(schedules(), st.integers(0, 10**7))
def test_should_capture_step_matches_definition(
    schedule: EpisodeCaptureSchedule, step: int
) -> None:
    n = schedule.every_n_steps
    assert schedule.should_capture_step(step) == (n is not None and step % n == 0)


@given(st.text(alphabet="evrylasttoucbinpNE:;, 0123456789-.", max_size=30))
def test_parse_fails_only_with_value_error(text: str) -> None:
    try:
        schedule = EpisodeCaptureSchedule.parse(text)
    except ValueError as exc:
        message = str(exc)
    else:
        assert EpisodeCaptureSchedule.parse(str(schedule)) == schedule
        return
    assert "'" in message  # the message quotes what was wrong


# -- pickling and gymnasium --------------------------------------------------------------
SCHEDULE = EpisodeCaptureSchedule(
    episode_indices=(2, 3),
    every_n_episodes=10,
    last_n_episodes=2,
    total_episodes=50,
    every_n_steps=7,
)


@pytest.mark.parametrize("dumps", [pickle.dumps, cloudpickle.dumps], ids=["pickle", "cloudpickle"])
def test_schedule_and_bound_triggers_pickle(dumps: Any) -> None:
    assert pickle.loads(dumps(SCHEDULE)) == SCHEDULE
    episode_trigger = pickle.loads(dumps(SCHEDULE.should_capture_episode))
    step_trigger = pickle.loads(dumps(SCHEDULE.step_trigger))
    assert [episode_trigger(i) for i in range(60)] == [
        SCHEDULE.should_capture_episode(i) for i in range(60)
    ]
    assert [step_trigger(t) for t in range(30)] == [t % 7 == 0 for t in range(30)]
    assert copy.deepcopy(SCHEDULE) == SCHEDULE


def test_triggers_drive_gymnasium_record_video(tmp_path: Path) -> None:
    schedule = EpisodeCaptureSchedule.parse("at:1")
    env = gym.wrappers.RecordVideo(
        gym.make("CartPole-v1", render_mode="rgb_array"),
        video_folder=str(tmp_path / "videos"),
        episode_trigger=schedule.episode_trigger,
        step_trigger=schedule.step_trigger,
    )
    for episode in range(3):
        env.reset(seed=episode)
        done = False
        while not done:
            _, _, terminated, truncated, _ = env.step(0)
            done = terminated or truncated
    env.close()
    assert sorted(p.name for p in (tmp_path / "videos").iterdir()) == ["rl-video-episode-1.mp4"]


def test_import_is_light() -> None:
    code = (
        "import sys, gymscope.schedule; "
        "heavy = ('gymnasium', 'moviepy', 'sqlmodel', 'numpy'); "
        "print(sorted(m for m in heavy if m in sys.modules))"
    )
    out = subprocess.run(
        [sys.executable, "-c", code], capture_output=True, text=True, check=True
    ).stdout
    assert out.strip() == "[]"
