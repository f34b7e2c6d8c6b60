"""Bad input, tried the way a tester who sets out to break gymscope would.

Every case checks the class of input, not one example: each refusal must be a
GymscopeError (and the builtin that fits), raised at construction, with a
message that names the argument, and must leave what exists untouched.
"""

from __future__ import annotations

import os
import shutil
import sqlite3
import subprocess
from collections.abc import Callable, Iterator
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
    assert not (tmp_path / "m.db").exists()


def test_the_largest_worker_number_is_written(tmp_path: Path) -> None:
    env = SQLiteLoggerWrapper(ScriptedEnv(), tmp_path / "m.db", "x", worker=2**31 - 1)
    play(env, 1)
    env.close()
    with sqlite3.connect(tmp_path / "m.db") as db:
        assert db.execute("SELECT worker FROM episode").fetchall() == [(2**31 - 1,)]


# -- reading what exists, safely -----------------------------------------------------
@pytest.fixture
def read_only_mount(tmp_path: Path) -> Iterator[tuple[Path, Callable[[], None]]]:
    """A tmpfs folder and a function that remounts it read-only (root only)."""
    folder = tmp_path / "mnt"
    folder.mkdir()
    if os.geteuid() != 0 or shutil.which("mount") is None:
        pytest.skip("mounting a read-only file system needs root")
    made = subprocess.run(
        ["mount", "-t", "tmpfs", "-o", "size=16m", "tmpfs", str(folder)], capture_output=True
    )
    if made.returncode != 0:
        pytest.skip(f"cannot mount a tmpfs here: {made.stderr.decode().strip()}")

    def freeze() -> None:
        subprocess.run(["mount", "-o", "remount,ro", str(folder)], check=True)

    try:
        yield folder, freeze
    finally:
        subprocess.run(["umount", "-l", str(folder)], check=False)


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
