"""Opening a metrics database: URLs, engines, SQLite settings, the schema version.

:func:`get_db_engine` is velora's helper with the same name and behaviour
(create the engine, create the tables, return the engine), extended to any
SQLAlchemy URL, a file path, or an existing :class:`~sqlalchemy.engine.Engine`.
On SQLite every connection it opens runs in WAL mode with
``synchronous=NORMAL`` (a committed transaction survives the process being
killed; only a power loss can take the last ones), a busy timeout of
``BUSY_TIMEOUT_S`` seconds (several processes write one file in turn instead
of failing with "database is locked") and foreign keys enforced. A new SQLite
file gets 1 KB pages (``SQLITE_PAGE_SIZE``), which makes each per-episode
commit cheaper.

>>> from sqlmodel import Session, select
>>> from gymscope.metrics import Episode, get_db_engine
>>> engine = get_db_engine("sqlite://")  # in memory
>>> with Session(engine) as session:
...     list(session.exec(select(Episode).where(Episode.experiment_id == 1)))
[]
"""

from __future__ import annotations

import logging
import os
import time
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

import gymnasium as gym
import sqlalchemy as sa
from sqlalchemy import event
from sqlalchemy.engine import URL, Connection, Engine, make_url
from sqlalchemy.exc import ArgumentError, NoSuchModuleError
from sqlalchemy.pool import ConnectionPoolEntry, NullPool
from sqlmodel import Session, col, select
from sqlmodel.sql.expression import SelectOfScalar

from gymscope.errors import ArgumentTypeError, IncompatibleSchemaError, InvalidArgumentError
from gymscope.metrics.models import (
    COMPATIBLE_FROM,
    SCHEMA_VERSION,
    Episode,
    metadata,
    schema_info,
)
from gymscope.metrics.source import BUSY_TIMEOUT_S, SQLITE_HEADER, sqlite_header

__all__ = [
    "BUSY_TIMEOUT_S",
    "DEFAULT_URL",
    "SQLITE_PAGE_SIZE",
    "DbTarget",
    "IncompatibleSchemaError",
    "check_db_target",
    "check_existing_schema",
    "ensure_schema",
    "get_current_episode",
    "get_db_engine",
    "is_sqlite",
    "resolve_url",
    "write_transaction",
]

logger = logging.getLogger(__name__)

#: Where velora (and gymscope, by default) keeps its metrics.
DEFAULT_URL = "sqlite:///metrics.db"
#: Page size of the SQLite files gymscope creates (SQLite's default: 4096).
#: Each per-episode commit appends every B-tree page it touches (the table and
#: its three indexes: four pages) to the WAL, and later copies them back at a
#: checkpoint; with 1 KB pages that is a quarter of the bytes to checksum,
#: write and sync: a fifth less time per commit, a third less counting the
#: checkpoints (measured with the commit of benchmarks/db_logging.py). Rows
#: rarely exceed a page's ~1 KB of inline payload (a larger ``extra`` spills
#: to overflow pages, as it would at any size).
SQLITE_PAGE_SIZE = 1024
# Serialises schema creation and run registration on PostgreSQL ("gyms").
_PG_LOCK_KEY = 0x67796D73

DbTarget = str | os.PathLike[str] | URL | Engine
"""What ``db=`` accepts: a file path, a SQLAlchemy URL (string or URL), or an Engine."""


# -- URLs ----------------------------------------------------------------------------
def resolve_url(db: str | os.PathLike[str] | URL, *, argument: str = "db") -> URL:
    """Turn a path or URL into a SQLAlchemy URL whose driver is importable.

    A string containing ``://`` is a URL; anything else is a SQLite file path
    (``":memory:"`` is an in-memory database). ``postgresql://`` URLs use
    psycopg 3 when psycopg2 is not installed.

    >>> resolve_url("runs/metrics.db").render_as_string()
    'sqlite:///runs/metrics.db'
    >>> resolve_url("nosuchdb://host/x")  # doctest: +ELLIPSIS
    Traceback (most recent call last):
        ...
    gymscope.errors.InvalidArgumentError: db='nosuchdb://host/x' names an unknown database ...

    Raises:
        TypeError: ``db`` is not a str, path or URL.
        ValueError: ``db`` is empty, malformed or names an unknown backend.
        gymnasium.error.DependencyNotInstalled: the backend's driver is missing.
    """
    if isinstance(db, URL):
        url = db
    elif isinstance(db, (str, os.PathLike)):
        text = os.fspath(db)
        if not isinstance(text, str):
            raise ArgumentTypeError(f"{argument} must be a str path or URL, got bytes {text!r}")
        if not text.strip():
            raise InvalidArgumentError(
                f"{argument} must be a file path or database URL, got {text!r}"
            )
        if "://" in text:
            try:
                url = make_url(text)
            except (ArgumentError, ValueError) as exc:  # ValueError: e.g. a bad port
                raise InvalidArgumentError(
                    f"{argument}={text!r} is not a valid SQLAlchemy URL ({exc}); write e.g. "
                    "'sqlite:///metrics.db' or 'postgresql+psycopg://user@host/dbname'"
                ) from None
        elif text == ":memory:":
            url = URL.create("sqlite")
        else:
            url = URL.create("sqlite", database=text)
    else:
        raise ArgumentTypeError(
            f"{argument} must be a file path, a database URL or a sqlalchemy Engine, "
            f"got {db!r} ({type(db).__name__})"
        )
    try:
        dialect = url.get_dialect()
    except NoSuchModuleError:
        raise InvalidArgumentError(
            f"{argument}={_shown(db)!r} names an unknown database backend "
            f"{url.drivername!r}; use e.g. 'sqlite:///metrics.db' or "
            "'postgresql+psycopg://user@host/dbname'"
        ) from None
    try:
        dialect.import_dbapi()
    except ImportError:
        if url.drivername == "postgresql" and _importable("psycopg"):
            return url.set(drivername="postgresql+psycopg")
        postgres = url.get_backend_name() == "postgresql"
        extra = " (or, in a clone of gymscope: uv sync --extra postgres)" if postgres else ""
        raise gym.error.DependencyNotInstalled(
            f"{argument}={_shown(db)!r} needs the database driver of {url.drivername!r}, "
            f"which is not installed: pip install {_driver_package(url)}{extra}"
        ) from None
    return url


def _shown(db: object) -> str:
    if isinstance(db, URL):
        return db.render_as_string(hide_password=True)
    return str(db)


def _importable(module: str) -> bool:
    import importlib.util

    return importlib.util.find_spec(module) is not None


def _driver_package(url: URL) -> str:
    driver = url.get_driver_name()
    return {"psycopg": "'psycopg[binary]'", "psycopg2": "psycopg2-binary"}.get(driver, driver)


def is_sqlite(url: URL) -> bool:
    """True for SQLite URLs."""
    return url.get_backend_name() == "sqlite"


def sqlite_file(url: URL) -> Path | None:
    """The database file of a SQLite URL, or None for in-memory / URI databases."""
    if not is_sqlite(url):
        return None
    database = url.database
    if not database or database == ":memory:" or database.startswith("file:"):
        return None
    if url.query.get("uri") in ("true", "1"):
        return None
    return Path(database)


def check_db_target(db: object, *, argument: str = "db") -> URL | Engine:
    """Validate ``db`` without creating anything; return its URL (or the Engine).

    A SQLite file path is made absolute (a later ``chdir`` does not move the
    database) and its directory must exist and accept new files; an existing
    file must be a SQLite database. Nothing is created and no connection is
    opened.

    Raises:
        TypeError, ValueError: as :func:`resolve_url`, or the directory is
            missing or read-only, or the file is not a SQLite database.
    """
    if isinstance(db, Engine):
        return db
    url = resolve_url(db, argument=argument)  # type: ignore[arg-type]
    path = sqlite_file(url)
    if path is None:
        return url
    path = path.expanduser().absolute()
    shown = _shown(db)
    try:
        return _check_sqlite_path(url, path, argument, shown)
    except OSError as exc:  # a name too long, a loop of links, ...
        raise InvalidArgumentError(
            f"{argument}={shown!r}: cannot use {str(path)!r} ({exc.strerror or exc}); "
            "choose another path"
        ) from None


def _check_sqlite_path(url: URL, path: Path, argument: str, shown: str) -> URL:
    parent = path.parent
    if not parent.is_dir():
        raise InvalidArgumentError(
            f"{argument}={shown!r}: directory {str(parent)!r} does not exist; create it "
            "first or choose another path"
        )
    _check_can_create_files(parent, argument, shown)
    if path.exists():
        if not path.is_file():
            raise InvalidArgumentError(
                f"{argument}={shown!r}: {str(path)!r} exists and is not a file"
            )
        try:
            header = sqlite_header(path)
        except OSError as exc:
            raise InvalidArgumentError(
                f"{argument}={shown!r}: cannot read {str(path)!r} ({exc})"
            ) from None
        if header and header != SQLITE_HEADER:
            raise InvalidArgumentError(
                f"{argument}={shown!r}: {str(path)!r} exists and is not a SQLite database; "
                "choose another file name"
            )
        if not os.access(path, os.W_OK):
            raise InvalidArgumentError(f"{argument}={shown!r}: {str(path)!r} is not writable")
    return url.set(database=str(path))


def check_existing_schema(url: URL) -> None:
    """Refuse an existing SQLite file gymscope cannot use, before anything is written.

    Reads the schema version row (and, without one, the columns of tables
    named like gymscope's) through a short-lived connection; writes nothing.
    A database that cannot be read right now is let through: the same check
    runs again when the database is opened for writing.

    Raises:
        IncompatibleSchemaError: written by a newer, incompatible gymscope, or
            holding ``experiment``/``episode`` tables of another program.
    """
    path = sqlite_file(url)
    if path is None or not path.is_file() or path.stat().st_size == 0:
        return
    engine = sa.create_engine(url, poolclass=NullPool)
    try:
        with engine.connect() as conn:
            if not _schema_ok(conn, engine):
                _check_foreign_tables(conn, engine)
    except sa.exc.OperationalError as exc:  # e.g. locked: checked again at the first write
        logger.debug("could not check the schema of %s yet: %s", path, exc)
    except sa.exc.DatabaseError as exc:  # "file is not a database": damaged
        raise IncompatibleSchemaError(
            f"{str(path)!r} is damaged or not a SQLite database ({exc.orig or exc}); move it "
            "away or give gymscope another database file"
        ) from None
    finally:
        engine.dispose()


def _check_can_create_files(directory: Path, argument: str, shown: str) -> None:
    # SQLite needs to create the database and its -wal/-shm files there. An
    # anonymous temporary file answers that without leaving anything behind
    # (and, unlike os.access, also as root on a read-only file system).
    import tempfile

    try:
        with tempfile.TemporaryFile(dir=directory):
            pass
    except OSError as exc:
        raise InvalidArgumentError(
            f"{argument}={shown!r}: cannot create files in directory {str(directory)!r} "
            f"({exc.strerror or exc}); choose a writable location"
        ) from None


# -- engines -------------------------------------------------------------------------
def _on_sqlite_connect(dbapi_connection: Any, _record: ConnectionPoolEntry) -> None:
    cursor = dbapi_connection.cursor()
    try:
        cursor.execute(f"PRAGMA busy_timeout = {int(BUSY_TIMEOUT_S * 1000)}")
        cursor.execute("PRAGMA foreign_keys = ON")
        mode = str(cursor.execute("PRAGMA journal_mode").fetchone()[0]).lower()
        if mode not in ("wal", "memory"):
            # Takes effect only on a file without content yet (a new database):
            # an existing file keeps its page size.
            cursor.execute(f"PRAGMA page_size = {SQLITE_PAGE_SIZE}")
            _set_wal(cursor)
        cursor.execute("PRAGMA synchronous = NORMAL")
    finally:
        cursor.close()


def _set_wal(cursor: Any) -> None:
    # Switching to WAL needs an exclusive lock for a moment; when several
    # processes open a new file at once, some of them are told "locked"
    # without the busy handler being consulted, so wait here ourselves.
    import sqlite3

    deadline = time.monotonic() + BUSY_TIMEOUT_S
    delay = 0.001
    while True:
        try:
            cursor.execute("PRAGMA journal_mode = WAL")
            return
        except sqlite3.OperationalError as exc:
            if "locked" not in str(exc) or time.monotonic() > deadline:
                raise
        time.sleep(delay)
        delay = min(delay * 2, 0.05)


def configure_sqlite(engine: Engine) -> None:
    """Make every new connection of a SQLite ``engine`` use gymscope's settings."""
    if is_sqlite(engine.url) and not event.contains(engine, "connect", _on_sqlite_connect):
        event.listen(engine, "connect", _on_sqlite_connect)


def get_db_engine(url: DbTarget | None = None) -> Engine:
    """Create (or take) an engine, create the metrics tables, return the engine.

    Args:
        url: A SQLAlchemy URL (``"postgresql+psycopg://user@host/db"``), a
            SQLite file path, or an existing Engine (used as is; gymscope's
            SQLite settings apply to the connections it opens from now on).
            Default ``sqlite:///metrics.db`` in the working directory, as velora.

    Returns:
        The engine. Tables and the schema version row exist.

    Raises:
        IncompatibleSchemaError: the database was written by a newer,
            incompatible gymscope, or holds ``experiment``/``episode`` tables
            that gymscope did not create.
    """
    if isinstance(url, Engine):
        configure_sqlite(url)
        ensure_schema(url)
        return url
    resolved = resolve_url(url if url is not None else DEFAULT_URL, argument="url")
    kwargs: dict[str, Any] = {}
    if not is_sqlite(resolved):
        from gymscope.metrics.connect import connect_args

        # bounded connect and write timeouts: an outage must not hang the run
        kwargs.update(pool_pre_ping=True, connect_args=connect_args(resolved))
    engine = sa.create_engine(resolved, **kwargs)
    configure_sqlite(engine)
    try:
        ensure_schema(engine)
    except BaseException:
        engine.dispose()  # nothing of ours stays open after a failure
        raise
    return engine


# -- transactions --------------------------------------------------------------------
def autocommit_connection(engine: Engine) -> Connection:
    """A connection on which :func:`write_transaction` delimits transactions."""
    return engine.connect().execution_options(isolation_level="AUTOCOMMIT")


@contextmanager
def write_transaction(conn: Connection, *, exclusive: bool = False) -> Iterator[Connection]:
    """One explicit write transaction on an :func:`autocommit_connection`.

    SQLite takes the write lock at ``BEGIN IMMEDIATE``, so the busy timeout
    covers every statement (a deferred transaction that reads first can fail
    with "database is locked" without waiting). ``exclusive=True`` also
    serialises the transaction against other gymscope processes on
    PostgreSQL (an advisory lock), for schema creation and run registration.
    """
    backend = conn.dialect.name
    conn.exec_driver_sql("BEGIN IMMEDIATE" if backend == "sqlite" else "BEGIN")
    try:
        if exclusive and backend == "postgresql":
            conn.execute(sa.select(sa.func.pg_advisory_xact_lock(_PG_LOCK_KEY)))
        yield conn
        conn.exec_driver_sql("COMMIT")
    except BaseException:
        try:
            conn.exec_driver_sql("ROLLBACK")
        except Exception:  # the connection may be gone; the error that got us here matters
            logger.debug("ROLLBACK failed", exc_info=True)
        raise


# -- schema --------------------------------------------------------------------------
def ensure_schema(engine: Engine) -> None:
    """Create the tables and the schema version row if missing; refuse newer schemas.

    A database of an older, compatible schema version is upgraded in place:
    the tables and columns it lacks are added (nothing is rewritten) and its
    version row is updated.
    """
    with autocommit_connection(engine) as conn:
        if _schema_version(conn, engine) == SCHEMA_VERSION:
            return
        with write_transaction(conn, exclusive=True):
            version = _schema_version(conn, engine)  # another process may have acted
            if version == SCHEMA_VERSION:
                return
            if version is None:
                _check_foreign_tables(conn, engine)
                metadata.create_all(conn)
                conn.execute(
                    schema_info.insert().values(
                        id=1,
                        version=SCHEMA_VERSION,
                        compatible_from=COMPATIBLE_FROM,
                        gymscope_version=_gymscope_version(),
                    )
                )
            elif version < SCHEMA_VERSION:
                _upgrade(conn)


def _upgrade(conn: Connection) -> None:
    """Bring an older schema up to this version: add what it lacks."""
    metadata.create_all(conn)  # the missing tables (checkfirst)
    inspector = sa.inspect(conn)
    preparer = conn.dialect.identifier_preparer
    for table in metadata.sorted_tables:
        present = {column["name"] for column in inspector.get_columns(table.name)}
        for column in table.columns:
            if column.name in present:
                continue
            kind = column.type.compile(dialect=conn.dialect)
            conn.exec_driver_sql(
                f"ALTER TABLE {preparer.format_table(table)} ADD COLUMN "
                f"{preparer.format_column(column)} {kind}"
            )
    conn.execute(
        schema_info.update()
        .where(schema_info.c.id == 1)
        .values(version=SCHEMA_VERSION, compatible_from=COMPATIBLE_FROM)
    )
    logger.info("upgraded the metrics database to schema version %d", SCHEMA_VERSION)


def _schema_version(conn: Connection, engine: Engine) -> int | None:
    """The version of the database's schema (None: no gymscope schema yet).

    Raises:
        IncompatibleSchemaError: this gymscope cannot use it safely.
    """
    if not sa.inspect(conn).has_table(schema_info.name):
        return None
    row = conn.execute(
        sa.select(
            schema_info.c.version, schema_info.c.compatible_from, schema_info.c.gymscope_version
        ).where(schema_info.c.id == 1)
    ).first()
    if row is None:
        return None
    version, compatible_from, written_by = row
    if compatible_from > SCHEMA_VERSION:
        raise IncompatibleSchemaError(
            f"the metrics database {_describe(engine)} has schema version {version} "
            f"(written by gymscope {written_by}), which gymscope {_gymscope_version()} "
            f"(schema version {SCHEMA_VERSION}) cannot use safely; upgrade gymscope "
            "(pip install -U gymscope) or use another database"
        )
    # A newer but compatible version is used as it is (never downgraded).
    return SCHEMA_VERSION if version > SCHEMA_VERSION else int(version)


def _schema_ok(conn: Connection, engine: Engine) -> bool:
    """True if the version row exists and this gymscope can use the database."""
    return _schema_version(conn, engine) is not None


def _check_foreign_tables(conn: Connection, engine: Engine) -> None:
    """Tables of our names but without our columns were made by another program;
    so is a SQLite file with tables but no gymscope schema record."""
    inspector = sa.inspect(conn)
    for table in metadata.sorted_tables:
        if not inspector.has_table(table.name):
            continue
        present = {column["name"] for column in inspector.get_columns(table.name)}
        missing = [c.name for c in table.columns if c.name not in present]
        if missing:
            raise IncompatibleSchemaError(
                f"the database {_describe(engine)} already has a table {table.name!r} that "
                f"gymscope did not create (missing columns {missing}); it may be a velora "
                "metrics.db. Give gymscope its own database file or URL"
            )
    if engine.dialect.name == "sqlite":
        # A file of another program: adding gymscope's tables would change it.
        # (A server database is shared by design; there only names matter.)
        others = [name for name in inspector.get_table_names() if not name.startswith("sqlite_")]
        # outside a transaction, another process may have just created them all
        # (tables and schema record in one transaction): look again
        if others and not _schema_ok(conn, engine):
            raise IncompatibleSchemaError(
                f"the SQLite file {_describe(engine)} already holds tables "
                f"{sorted(others)[:5]} but no gymscope schema: it belongs to another "
                "program. Give gymscope its own database file"
            )


def _describe(engine: Engine) -> str:
    return repr(engine.url.render_as_string(hide_password=True))


def _gymscope_version() -> str:
    from gymscope._version import __version__

    return __version__


# -- queries -------------------------------------------------------------------------
def get_current_episode(
    session: Session, experiment_id: int, current_ep: int
) -> sa.ScalarResult[Episode]:
    """The episodes of experiment ``experiment_id`` numbered ``current_ep`` (velora's helper).

    One per worker that reached that episode number.
    """
    statement: SelectOfScalar[Episode] = select(Episode).where(
        col(Episode.experiment_id) == experiment_id, col(Episode.episode_num) == current_ep
    )
    return session.exec(statement)
