"""Bad input, tried the way a tester who sets out to break gymscope would.

Every case checks the class of input, not one example: each refusal must be a
GymscopeError (and the builtin that fits), raised at construction, with a
message that names the argument, and must leave what exists untouched.
"""

from __future__ import annotations

import sqlite3
from pathlib import Path

import pytest

from gymscope import SQLiteLoggerWrapper
from gymscope.errors import GymscopeError, IncompatibleSchemaError, InvalidArgumentError
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
