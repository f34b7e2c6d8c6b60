"""Bad input, tried the way a tester who sets out to break gymscope would.

Every case checks the class of input, not one example: each refusal must be a
GymscopeError (and the builtin that fits), raised at construction, with a
message that names the argument, and must leave what exists untouched.
"""

from __future__ import annotations

import shutil
import sqlite3
from collections.abc import Callable
from decimal import Decimal
from pathlib import Path
from typing import Any

import gymnasium as gym
import numpy as np
import pytest

from gymscope import EpisodeStatsWrapper, SQLiteLoggerWrapper
from gymscope.errors import (
    ArgumentTypeError,
    GymscopeError,
    IncompatibleSchemaError,
    InvalidArgumentError,
    RewardTypeError,
)
from stubs import ScriptedEnv, play


def _snapshot(path: Path) -> bytes:
    return path.read_bytes()


# -- databases -----------------------------------------------------------------------
@pytest.mark.parametrize(
    "tables",
    [
        ["CREATE TABLE users (id INTEGER PRIMARY KEY, name TEXT)"],
        ["CREATE TABLE notes (body TEXT)", "CREATE INDEX notes_body ON notes (body)"],
        ["CREATE TABLE t (x)", "CREATE VIEW v AS SELECT x FROM t"],
    ],
)
def test_an_unrelated_sqlite_file_is_refused_and_left_unchanged(
    tmp_path: Path, tables: list[str]
) -> None:
    path = tmp_path / "app.db"
    with sqlite3.connect(path) as db:
        for statement in tables:
            db.execute(statement)
    before = _snapshot(path)
    with pytest.raises(IncompatibleSchemaError, match=r"belongs to another program") as info:
        SQLiteLoggerWrapper(ScriptedEnv(), path, "x")
    assert str(path) in str(info.value)
    assert _snapshot(path) == before


@pytest.mark.parametrize(
    "content",
    [
        b"SQLite format 3\x00" + b"\xff" * 200,  # a header, then garbage
        b"SQLite format 3\x00" + bytes(84) + b"\x01" * 4000,
    ],
)
def test_a_damaged_database_is_refused_at_construction(tmp_path: Path, content: bytes) -> None:
    path = tmp_path / "metrics.db"
    path.write_bytes(content)
    with pytest.raises(GymscopeError, match=r"damaged or not a SQLite database"):
        SQLiteLoggerWrapper(ScriptedEnv(), path, "x")
    assert path.read_bytes() == content


@pytest.mark.parametrize("name", ["a" * 300, "b" * 256 + ".db", "/".join(["c" * 200] * 30)])
def test_a_database_path_the_os_refuses_names_db(tmp_path: Path, name: str) -> None:
    with pytest.raises(InvalidArgumentError, match=r"^db=.*(cannot use|does not exist)"):
        SQLiteLoggerWrapper(ScriptedEnv(), tmp_path / name, "x")


@pytest.mark.parametrize("worker", [2**31, 2**70, 10**30])
def test_a_worker_number_no_column_holds_is_refused(tmp_path: Path, worker: int) -> None:
    with pytest.raises(InvalidArgumentError, match=r"worker must be at most 2147483647"):
        SQLiteLoggerWrapper(ScriptedEnv(), tmp_path / "m.db", "x", worker=worker)
    assert sorted(tmp_path.iterdir()) == []  # nothing created


def test_the_largest_worker_number_is_written(tmp_path: Path) -> None:
    env = SQLiteLoggerWrapper(ScriptedEnv(), tmp_path / "m.db", "x", worker=2**31 - 1)
    play(env, 1)
    env.close()
    with sqlite3.connect(tmp_path / "m.db") as db:
        assert db.execute("SELECT worker FROM episode").fetchall() == [(2**31 - 1,)]


# -- reading what exists, safely -----------------------------------------------------
@pytest.mark.parametrize("closed", [True, False])
def test_readers_open_a_database_on_a_read_only_mount(
    read_only_mount: tuple[Path, Callable[[], None]], tmp_path: Path, closed: bool
) -> None:
    from gymscope.charts import plot_experiment
    from gymscope.cli import main
    from gymscope.metrics.queries import MetricsReader

    folder, freeze = read_only_mount
    db = folder / "metrics.db"
    env = SQLiteLoggerWrapper(ScriptedEnv(), tmp_path / "live.db", "frozen")
    play(env, 4)
    # closed: one file; open: its -wal and -shm files too, as a crash leaves them
    if closed:
        env.close()
    else:  # committed (the journal's background commit), the connections still open
        env.flush()
    for suffix in ("", "-wal", "-shm"):
        if (tmp_path / f"live.db{suffix}").exists():
            shutil.copyfile(tmp_path / f"live.db{suffix}", folder / f"metrics.db{suffix}")
    assert (folder / "metrics.db-wal").exists() is not closed
    freeze()
    with MetricsReader(db) as reader:
        assert len(reader.episodes("frozen")) == 4
    assert main(["runs", str(db)]) == 0
    assert main(["report", str(db), "-o", str(tmp_path / "r.html")]) == 0
    assert plot_experiment(db, "frozen", tmp_path / "plots")
    env.close()


# -- rewards -------------------------------------------------------------------------
class _Rewarding(gym.Env[np.ndarray, int]):
    """One-step episodes with a given reward."""

    observation_space = gym.spaces.Box(-1.0, 1.0, (1,))
    action_space = gym.spaces.Discrete(2)

    def __init__(self, reward: object) -> None:
        self.reward = reward

    def reset(
        self, *, seed: int | None = None, options: dict[str, Any] | None = None
    ) -> tuple[np.ndarray, dict[str, Any]]:
        super().reset(seed=seed)
        return np.zeros(1, np.float32), {}

    def step(self, action: int) -> tuple[np.ndarray, Any, bool, bool, dict[str, Any]]:
        return np.zeros(1, np.float32), self.reward, True, False, {}


@pytest.mark.parametrize(
    "reward",
    [None, "1.0", b"1", Decimal("1.5"), 1 + 2j, np.array([1.0, 2.0]), [1.0], {"r": 1}],
    ids=["None", "str", "bytes", "Decimal", "complex", "array2", "list", "dict"],
)
def test_a_reward_that_is_not_a_real_number_is_named_at_its_step(reward: object) -> None:
    env = EpisodeStatsWrapper(_Rewarding(reward))
    env.reset()
    with pytest.raises(RewardTypeError, match=r"_Rewarding.*is not a real number") as info:
        env.step(0)
    assert isinstance(info.value, TypeError)
    assert type(reward).__name__ in str(info.value)


@pytest.mark.parametrize(
    "reward", [1, 2.5, np.float32(0.5), np.int64(3), np.array(2.0), np.array([4.0])]
)
def test_real_rewards_of_every_kind_are_accepted(reward: object) -> None:
    env = EpisodeStatsWrapper(_Rewarding(reward))
    env.reset()
    info = env.step(0)[4]
    assert type(info["episode"]["r"]) is float
    assert info["episode"]["r"] == float(np.asarray(reward).reshape(()))


@pytest.mark.parametrize("value", ["high", b"0.1", None, [0.1], object()])
def test_log_metrics_names_a_metric_that_is_not_a_number(value: object) -> None:
    env = EpisodeStatsWrapper(_Rewarding(1.0))
    env.reset()
    with pytest.raises(ArgumentTypeError, match=r"log_metrics\(loss=.*loss must be a real number"):
        env.log_metrics(loss=value)  # type: ignore[arg-type]


@pytest.mark.parametrize(
    ("text", "hint"),
    [("at:0,5", "at:0;5"), ("every:10,at:1,2", "at:1;2"), ("at:3, 7", "at:3;7")],
)
def test_schedule_indices_separated_by_commas_get_the_semicolon_hint(text: str, hint: str) -> None:
    from gymscope.schedule import EpisodeCaptureSchedule

    with pytest.raises(
        InvalidArgumentError, match=rf"separate the indices of at: with ';' \({hint}\)"
    ):
        EpisodeCaptureSchedule.parse(text)


# -- every public constructor: bad input is one clear error, nothing written ----------
def _stack(kind: str, tmp: Path, **kwargs: Any) -> Any:
    import gymscope

    render = {"render_mode": "rgb_array"} if kind == "video" else {}
    env = ScriptedEnv(**render)
    makers: dict[str, Callable[[], Any]] = {
        "stats": lambda: gymscope.EpisodeStatsWrapper(env, **kwargs),
        "db": lambda: gymscope.SQLiteLoggerWrapper(env, **{"db": tmp / "m.db", **kwargs}),
        "video": lambda: gymscope.ScheduledRecordVideo(
            env, **{"video_folder": tmp / "videos", **kwargs}
        ),
        "curves": lambda: gymscope.CurveRecorderWrapper(
            env, **{"output_dir": tmp / "curves", **kwargs}
        ),
        "tensorboard": lambda: gymscope.TensorBoardWrapper(env, **{"logdir": tmp, **kwargs}),
        "sinks": lambda: gymscope.SinkWrapper(env, **kwargs),
    }
    return makers[kind]()


BAD_ARGUMENTS = [
    # (wrapper, argument, bad values)
    ("stats", "buffer_length", [0, -1, 2.5, "10", True, None]),
    ("stats", "stats_key", ["", 3, None]),
    ("stats", "window_size", [0, -3, 1.5, "5", True]),
    ("stats", "alpha", [0, -0.5, 1.5, float("nan"), float("inf"), "0.1", True, None]),
    ("stats", "info_keys", ["score", 3, [1], [""], [None]]),
    ("db", "experiment", ["", "   ", 7, b"x"]),
    ("db", "agent", [3, b"PPO", ["PPO"]]),
    ("db", "worker", [-1, 2.0, "0", True, 2**40]),
    ("db", "flush_every", [0, -2, 1.5, "32", True]),
    ("db", "window_size", [0, 2.0]),
    ("db", "db", [3, b"metrics.db", "", "nosuchdb://x/y", "missing/dir/m.db"]),
    ("db", "config", [{"policy": object()}, {1: {2: {3: object()}}}]),
    ("video", "video_length", [-1, 2.5, "10", True]),
    ("video", "episode_trigger", [3, "every:10"]),
    ("video", "step_trigger", [3, [1, 2]]),
    ("video", "format", ["avi", "", 3, "MP4 "]),
    ("video", "scale", [0, -1, 9, float("nan"), "1", True]),
    ("video", "max_frames", [0, -5, 2.5]),
    ("video", "window_size", [0, "3"]),
    ("video", "name_prefix", ["x" * 300, ".hidden", "..", "v" * 1000]),
    ("video", "fps", [0, -5, 10**9, 2**63]),
    ("curves", "prefix", ["", "a/b", "../up", 3, "x\\y", "p" * 200, "q" * 1000]),
    ("curves", "checkpoint_every", [0, -1, 2.5, "10"]),
    ("curves", "window_size", [0, -1, 1.5]),
    ("curves", "output_dir", [3, None, b"dir"]),
    ("tensorboard", "alpha", [0, 1.5, "0.9"]),
    ("tensorboard", "flush_secs", [0, -1, float("inf"), "10"]),
    ("tensorboard", "logdir", [3, b"x", ""]),
    ("sinks", "window_size", [0, 1.5]),
    ("sinks", "alpha", [0, 2]),
    ("sinks", "info_keys", ["k", 3]),
]


@pytest.mark.parametrize(
    ("kind", "argument", "value"),
    [(k, a, v) for k, a, values in BAD_ARGUMENTS for v in values],
    ids=[f"{k}-{a}-{v!r}"[:60] for k, a, values in BAD_ARGUMENTS for v in values],
)
def test_every_wrapper_refuses_bad_arguments_at_construction(
    kind: str, argument: str, value: object, tmp_path: Path
) -> None:
    if kind == "tensorboard":
        pytest.importorskip("tensorboardX")
    before = sorted(tmp_path.rglob("*"))
    with pytest.raises(GymscopeError) as info:
        _stack(kind, tmp_path, **{argument: value})
    assert isinstance(info.value, (TypeError, ValueError))
    message = str(info.value)
    assert argument in message, message
    assert "\n" not in message
    assert sorted(tmp_path.rglob("*")) == before  # nothing created


BAD_STATES = [
    (lambda: __import__("gymscope").RecordState(3, "episode"), "dirpath"),
    (lambda: __import__("gymscope").RecordState("v", "sometimes"), "method"),
    (lambda: __import__("gymscope").RecordState("v", "step"), "step_trigger"),
    (lambda: __import__("gymscope").RecordState("v", "episode", episode_trigger=5), "trigger"),
    (lambda: __import__("gymscope").AnalyticsState(""), "project_name"),
    (lambda: __import__("gymscope").AnalyticsState("p", experiment_name=3), "experiment_name"),
    (lambda: __import__("gymscope").AnalyticsState("p", tags="ppo"), "tags"),
    (lambda: __import__("gymscope").AnalyticsState("p", tags=[1]), "tags"),
    (lambda: __import__("gymscope").EpisodeCaptureSchedule(every_n_episodes=0), "every_n"),
    (lambda: __import__("gymscope").EpisodeCaptureSchedule(episode_indices=[-1]), "episode"),
    (lambda: __import__("gymscope").EpisodeCaptureSchedule(last_n_episodes=-1), "last_n"),
    (lambda: __import__("gymscope").EpisodeCaptureSchedule.parse("evry:10"), "evry"),
    (lambda: __import__("gymscope").EpisodeCaptureSchedule.parse("every:0"), "every"),
    (lambda: __import__("gymscope").StatsConfig(0, 0.1), "window_size"),
    (lambda: __import__("gymscope").StatsConfig(10, 0), "alpha"),
    (lambda: __import__("gymscope").RollingStats(0), "window_size"),
]


@pytest.mark.parametrize(("make", "argument"), BAD_STATES, ids=[a for _, a in BAD_STATES])
def test_every_state_and_schedule_refuses_bad_arguments(
    make: Callable[[], Any], argument: str
) -> None:
    with pytest.raises(GymscopeError) as info:
        make()
    assert isinstance(info.value, (TypeError, ValueError))
    assert argument in str(info.value)


@pytest.mark.parametrize("env", [None, 3, "CartPole-v1", object()])
@pytest.mark.parametrize("kind", ["stats", "db", "curves", "sinks", "video", "tensorboard"])
def test_every_wrapper_refuses_what_is_not_an_env(kind: str, env: object, tmp_path: Path) -> None:
    import gymscope

    makers: dict[str, Callable[[], Any]] = {
        "stats": lambda: gymscope.EpisodeStatsWrapper(env),  # type: ignore[arg-type]
        "db": lambda: gymscope.SQLiteLoggerWrapper(env, tmp_path / "m.db"),  # type: ignore[arg-type]
        "curves": lambda: gymscope.CurveRecorderWrapper(env, tmp_path),  # type: ignore[arg-type]
        "sinks": lambda: gymscope.SinkWrapper(env),  # type: ignore[arg-type]
        "video": lambda: gymscope.ScheduledRecordVideo(env, tmp_path / "v"),  # type: ignore[arg-type]
        "tensorboard": lambda: gymscope.TensorBoardWrapper(env, tmp_path / "tb"),  # type: ignore[arg-type]
    }
    with pytest.raises(GymscopeError, match=r"env must be a gymnasium.Env"):
        makers[kind]()
    assert sorted(tmp_path.iterdir()) == []  # nothing created
