"""Where a reader's rows come from: stdlib ``sqlite3`` for a SQLite file, SQLAlchemy otherwise.

A :class:`~gymscope.metrics.reader.MetricsReader` speaks plain SQL with
named parameters (``:name``), which both the stdlib ``sqlite3`` module and
SQLAlchemy's ``text()`` accept. Reading a SQLite file goes through
:class:`SQLiteSource` and imports neither SQLAlchemy nor SQLModel (nearly a
second of start-up for every ``gymscope`` command); any other URL
(``postgresql://...``) or an Engine goes through :class:`AlchemySource`.
Both hand back plain tuples with the same Python types: SQLite's times
(text) become naive UTC datetimes and its booleans bools, as SQLAlchemy's
reflected column types would make them.
"""

from __future__ import annotations

import datetime as dt
import logging
import os
import sqlite3
from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from sqlalchemy.engine import Engine

__all__ = [
    "BUSY_TIMEOUT_S",
    "SQLITE_HEADER",
    "AlchemySource",
    "SQLiteSource",
    "Source",
    "sqlite_header",
    "sqlite_path",
]

logger = logging.getLogger(__name__)

#: How long a SQLite writer waits for another one before "database is locked".
BUSY_TIMEOUT_S = 60.0
#: The first 16 bytes of every SQLite database file.
SQLITE_HEADER = b"SQLite format 3\x00"
# Declared types whose values SQLAlchemy's reflection would convert.
_TIME_TYPES = ("DATETIME", "TIMESTAMP")
_BOOL_TYPES = ("BOOLEAN",)

Params = Mapping[str, Any]


def sqlite_header(path: Path) -> bytes:
    """The first 16 bytes of the file at ``path`` (empty for an empty file)."""
    with path.open("rb") as file:
        return file.read(16)


def sqlite_path(text: str) -> Path | None:
    """The file a path or a plain ``sqlite:///file`` URL names, without SQLAlchemy.

    None for anything else (another backend, a URL with a query or a driver,
    ``:memory:``): those go through SQLAlchemy's own URL parsing.

    >>> sqlite_path("runs/metrics.db"), sqlite_path("sqlite:////tmp/m.db")
    (PosixPath('runs/metrics.db'), PosixPath('/tmp/m.db'))
    >>> sqlite_path("postgresql://host/db") is None, sqlite_path("sqlite://") is None
    (True, True)
    """
    if "://" not in text:
        return None if text in ("", ":memory:") else Path(text)
    prefix = "sqlite:///"
    rest = text[len(prefix) :]
    if not text.startswith(prefix) or not rest or "?" in rest or rest == ":memory:":
        return None
    if rest.startswith("file:"):
        return None
    return Path(rest)


class Source:
    """Rows by plain SQL; what both kinds of source offer."""

    #: ``"sqlite"``, ``"postgresql"``...
    dialect: str = "sqlite"

    def tables(self) -> set[str]:
        raise NotImplementedError

    def columns(self, table: str) -> dict[str, str]:
        """Column name to declared type (upper case) of ``table``."""
        raise NotImplementedError

    def rows(self, sql: str, params: Params | None = None) -> list[tuple[Any, ...]]:
        raise NotImplementedError

    def close(self) -> None:
        raise NotImplementedError


class SQLiteSource(Source):
    """A SQLite file read through the stdlib ``sqlite3`` module, writes refused.

    Where this process may write the file and its folder, a normal connection
    with ``query_only`` on: the last reader to close cleans up SQLite's
    ``-wal``/``-shm`` files as usual. Otherwise SQLite's read-only mode; and
    where even that cannot open the file (a read-only mount, or a folder this
    process may not write, with no ``-shm`` file for a WAL database), SQLite's
    immutable mode: nobody can be writing a file on a read-only file system.
    One connection serves every query, each in its own read transaction.

    Raises:
        sqlite3.OperationalError: the file cannot be opened in any mode.
        sqlite3.DatabaseError: the file is damaged or not a database.
    """

    dialect = "sqlite"

    def __init__(self, path: Path) -> None:
        self.path = path
        self._conn = open_sqlite_reader(path)
        self._types: dict[str, dict[str, str]] = {}
        self._convert: dict[str, Any] = {}

    def tables(self) -> set[str]:
        return {
            str(name)
            for (name,) in self._conn.execute("SELECT name FROM sqlite_master WHERE type='table'")
        }

    def columns(self, table: str) -> dict[str, str]:
        if table not in self._types:
            quoted = '"' + table.replace('"', '""') + '"'
            self._types[table] = {
                str(row[1]): str(row[2] or "").upper()
                for row in self._conn.execute(f"PRAGMA table_info({quoted})")
            }
        return self._types[table]

    def converter(self, kind: str) -> Any:
        """How a value of declared type ``kind`` reads (None: as stored)."""
        base = kind.split("(")[0].strip()
        if base in _TIME_TYPES:
            return _sqlite_time
        if base in _BOOL_TYPES:
            return _sqlite_bool
        return None

    def rows(self, sql: str, params: Params | None = None) -> list[tuple[Any, ...]]:
        return self._conn.execute(sql, params or {}).fetchall()

    def close(self) -> None:
        self._conn.close()


def _sqlite_time(value: Any) -> Any:
    # SQLAlchemy's SQLite DATETIME: "YYYY-MM-DD HH:MM:SS[.ffffff]", naive UTC
    if isinstance(value, str):
        try:
            return dt.datetime.fromisoformat(value)
        except ValueError:
            return value
    return value


def _sqlite_bool(value: Any) -> Any:
    return bool(value) if isinstance(value, int) else value


class AlchemySource(Source):
    """Any SQLAlchemy engine (PostgreSQL, a SQLite Engine given as is)."""

    def __init__(self, engine: Engine) -> None:
        self.engine = engine
        self.dialect = engine.dialect.name
        self._types: dict[str, dict[str, str]] = {}

    def tables(self) -> set[str]:
        import sqlalchemy as sa

        return set(sa.inspect(self.engine).get_table_names())

    def columns(self, table: str) -> dict[str, str]:
        import sqlalchemy as sa

        if table not in self._types:
            self._types[table] = {
                str(c["name"]): str(c["type"]).upper()
                for c in sa.inspect(self.engine).get_columns(table)
            }
        return self._types[table]

    def converter(self, kind: str) -> Any:
        if self.dialect == "sqlite":  # an Engine given as is: raw text from the driver
            return SQLiteSource.converter(self, kind)  # type: ignore[arg-type]
        return None

    def rows(self, sql: str, params: Params | None = None) -> list[tuple[Any, ...]]:
        import sqlalchemy as sa

        with self.engine.connect() as conn:
            return [tuple(row) for row in conn.execute(sa.text(sql), dict(params or {}))]

    def close(self) -> None:
        pass  # the owner disposes of the engine


def open_sqlite_reader(path: Path) -> sqlite3.Connection:
    """A stdlib connection that reads ``path`` and cannot write it (see :class:`SQLiteSource`)."""
    writable = os.access(path, os.W_OK) and os.access(path.parent, os.W_OK)
    base = path.as_uri()
    modes = [base] if writable else [base + "?mode=ro", base + "?immutable=1"]
    error: sqlite3.Error | None = None
    for uri in modes:
        conn = sqlite3.connect(
            uri, uri=True, timeout=BUSY_TIMEOUT_S, check_same_thread=False, isolation_level=None
        )
        try:
            conn.execute("PRAGMA query_only = ON")
            conn.execute("SELECT count(*) FROM sqlite_master").fetchone()
        except sqlite3.Error as exc:
            conn.close()  # now, so that no -wal/-shm file is left behind
            if not isinstance(exc, sqlite3.OperationalError):
                raise  # a damaged file: no other mode reads it
            error = exc  # cannot open: try the next mode
            continue
        if uri.endswith("immutable=1"):
            _warn_unread_wal(path)
        return conn
    assert error is not None
    raise error


def _warn_unread_wal(path: Path) -> None:
    wal = path.with_name(path.name + "-wal")
    try:
        size = wal.stat().st_size
    except OSError:
        return
    if size:
        logger.warning(
            "%s is read as an immutable file (it cannot be opened read-only here); the "
            "latest episodes, still in %s (%d bytes), are not shown. Copy both files to a "
            "writable folder to read them",
            path,
            wal.name,
            size,
        )


def placeholders(prefix: str, values: Sequence[Any]) -> tuple[str, dict[str, Any]]:
    """``:p0, :p1, ...`` for an ``IN (...)`` list, and their parameters."""
    names = [f"{prefix}{i}" for i in range(len(values))]
    return ", ".join(f":{n}" for n in names), dict(zip(names, values, strict=True))
