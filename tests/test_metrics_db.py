"""get_db_engine, SQLite settings, the schema version and velora's helpers."""

from __future__ import annotations

import multiprocessing
import sqlite3
from collections.abc import Iterator
from pathlib import Path

import gymnasium as gym
import pytest
import sqlalchemy as sa
from sqlmodel import Session, select

import gymscope
from gymscope.metrics import (
    SCHEMA_VERSION,
    Episode,
    Experiment,
    IncompatibleSchemaError,
    get_current_episode,
    get_db_engine,
)
from gymscope.metrics.db import BUSY_TIMEOUT_S, check_db_target, resolve_url
from gymscope.metrics.models import COMPATIBLE_FROM
from stubs_db import BACKENDS, backend_url, query, unwritable_dir


@pytest.fixture
def engines() -> Iterator[list[sa.Engine]]:
    """Engines a test opens; disposed afterwards."""
    opened: list[sa.Engine] = []
    yield opened
    for engine in opened:
        engine.dispose()


def _open(engines: list[sa.Engine], target: object = None) -> sa.Engine:
    engine = get_db_engine(target)  # type: ignore[arg-type]
    engines.append(engine)
    return engine


def _tables(path: Path) -> set[str]:
    with sqlite3.connect(path) as db:
        rows = db.execute("SELECT name FROM sqlite_master WHERE type = 'table'").fetchall()
    db.close()
    return {name for (name,) in rows}


# -- engines -------------------------------------------------------------------------
def test_default_is_metrics_db_in_the_working_directory(
    tmp_path: Path, engines: list[sa.Engine]
) -> None:
    engine = _open(engines)
    assert engine.url.render_as_string() == "sqlite:///metrics.db"
    assert {"experiment", "episode", "gymscope_schema"} <= _tables(tmp_path / "metrics.db")


@pytest.mark.parametrize("form", ["str path", "Path", "url string", "URL"])
def test_accepts_paths_and_urls(form: str, tmp_path: Path, engines: list[sa.Engine]) -> None:
    path = tmp_path / "sub" / "m.db"
    path.parent.mkdir()
    target: object = {
        "str path": str(path),
        "Path": path,
        "url string": f"sqlite:///{path}",
        "URL": sa.URL.create("sqlite", database=str(path)),
    }[form]
    _open(engines, target)
    assert "episode" in _tables(path)


def test_takes_an_engine_as_is_and_configures_its_new_connections(
    tmp_path: Path, engines: list[sa.Engine]
) -> None:
    mine = sa.create_engine(f"sqlite:///{tmp_path / 'own.db'}")
    engines.append(mine)
    assert _open(engines, mine) is mine
    with mine.connect() as conn:
        assert conn.exec_driver_sql("PRAGMA foreign_keys").scalar() == 1


def test_sqlite_settings_on_every_connection(tmp_path: Path, engines: list[sa.Engine]) -> None:
    engine = _open(engines, tmp_path / "m.db")
    with engine.connect() as first, engine.connect() as second:
        for conn in (first, second):
            assert conn.exec_driver_sql("PRAGMA journal_mode").scalar() == "wal"
            assert conn.exec_driver_sql("PRAGMA synchronous").scalar() == 1  # NORMAL
            assert conn.exec_driver_sql("PRAGMA busy_timeout").scalar() == int(
                BUSY_TIMEOUT_S * 1000
            )
            assert conn.exec_driver_sql("PRAGMA foreign_keys").scalar() == 1
        with pytest.raises(sa.exc.IntegrityError, match="FOREIGN KEY"):
            first.execute(
                sa.insert(Episode.__table__).values(  # type: ignore[attr-defined]
                    experiment_id=99,
                    episode_num=0,
                    length=1,
                    created_at=gymscope.metrics.models.utcnow(),
                    worker=0,
                    duration_s=0.0,
                    terminated=True,
                    truncated=False,
                    total_steps=1,
                )
            )


def test_in_memory_database(engines: list[sa.Engine]) -> None:
    engine = _open(engines, "sqlite://")
    with Session(engine) as session:
        assert list(session.exec(select(Experiment))) == []


# -- velora's helpers ----------------------------------------------------------------
def _two_workers(engine: sa.Engine) -> None:
    with Session(engine) as session:
        run = Experiment(agent="PPO", env="CartPole-v1", config="{}", name="velora")
        session.add(run)
        session.commit()
        session.refresh(run)
        assert run.id is not None
        for worker in (0, 1):
            for num in range(3):
                session.add(
                    Episode(
                        experiment_id=run.id,
                        episode_num=num,
                        worker=worker,
                        reward=10.0 * worker + num,
                        length=num + 1,
                    )
                )
        session.commit()


def test_velora_documented_query_works_as_is(engines: list[sa.Engine]) -> None:
    _two_workers(_open(engines))
    # velora's documentation, with the import changed to gymscope.metrics:
    from gymscope.metrics import Episode, get_db_engine

    engine = get_db_engine()
    engines.append(engine)
    seen = []
    with Session(engine) as session:
        statement = select(Episode).where(Episode.experiment_id == 1)
        for episode in session.exec(statement):
            seen.append((episode.reward, episode.length))
    assert sorted(seen) == [(0.0, 1), (1.0, 2), (2.0, 3), (10.0, 1), (11.0, 2), (12.0, 3)]


def test_get_current_episode_returns_that_number_of_every_worker(
    engines: list[sa.Engine],
) -> None:
    engine = _open(engines)
    _two_workers(engine)
    with Session(engine) as session:
        result = get_current_episode(session, experiment_id=1, current_ep=2)
        assert isinstance(result, sa.ScalarResult)
        assert sorted((e.worker, e.reward) for e in result) == [(0, 2.0), (1, 12.0)]
        assert list(get_current_episode(session, 1, 7)) == []


# -- schema version ------------------------------------------------------------------
def test_schema_version_row(tmp_path: Path, engines: list[sa.Engine]) -> None:
    _open(engines, tmp_path / "m.db")
    url = f"sqlite:///{tmp_path / 'm.db'}"
    rows = query(url, "SELECT id, version, compatible_from, gymscope_version FROM gymscope_schema")
    assert rows == [(1, SCHEMA_VERSION, COMPATIBLE_FROM, gymscope.__version__)]


def test_newer_compatible_schema_is_used(tmp_path: Path, engines: list[sa.Engine]) -> None:
    _open(engines, tmp_path / "m.db")
    url = f"sqlite:///{tmp_path / 'm.db'}"
    query(url, "UPDATE gymscope_schema SET version = :v", v=SCHEMA_VERSION + 3)
    _open(engines, tmp_path / "m.db")


def test_newer_incompatible_schema_is_a_clear_error_and_nothing_changes(
    tmp_path: Path, engines: list[sa.Engine]
) -> None:
    path = tmp_path / "m.db"
    _two_workers(_open(engines, path))
    newer = SCHEMA_VERSION + 1
    engine = sa.create_engine(f"sqlite:///{path}")
    with engine.begin() as conn:
        conn.exec_driver_sql(
            f"UPDATE gymscope_schema SET version = {newer}, compatible_from = {newer}, "
            "gymscope_version = '9.0'"
        )
    engine.dispose()
    before = path.read_bytes()
    with pytest.raises(
        IncompatibleSchemaError, match=rf"schema version {newer} \(written by gymscope 9.0\)"
    ):
        get_db_engine(path)
    with pytest.raises(IncompatibleSchemaError, match="upgrade gymscope"):
        get_db_engine(path)
    assert path.read_bytes() == before


def test_velora_database_is_refused_not_altered(tmp_path: Path) -> None:
    path = tmp_path / "metrics.db"
    with sqlite3.connect(path) as db:
        db.execute(
            "CREATE TABLE experiment (id INTEGER PRIMARY KEY, agent VARCHAR, env VARCHAR, "
            "config VARCHAR, created_at DATETIME)"
        )
        db.execute(
            "CREATE TABLE episode (id INTEGER PRIMARY KEY, experiment_id INTEGER, "
            "episode_num INTEGER, reward FLOAT, length INTEGER)"
        )
    db.close()
    with pytest.raises(IncompatibleSchemaError, match="velora"):
        get_db_engine(path)
    assert _tables(path) == {"experiment", "episode"}


# -- validation ----------------------------------------------------------------------
@pytest.mark.parametrize(
    ("db", "error", "match"),
    [
        ("", ValueError, "must be a file path or database URL"),
        ("postgresql://user@host:notaport/db", ValueError, "not a valid SQLAlchemy URL"),
        ("nosuchdb://host/x", ValueError, "unknown database backend 'nosuchdb'"),
        (b"metrics.db", TypeError, "file path, a database URL or a sqlalchemy Engine"),
        (42, TypeError, r"got 42 \(int\)"),
    ],
)
def test_bad_targets(db: object, error: type[Exception], match: str) -> None:
    with pytest.raises(error, match=match):
        resolve_url(db)  # type: ignore[arg-type]


def test_missing_driver_names_the_install_command() -> None:
    with pytest.raises(gym.error.DependencyNotInstalled, match="pip install pymysql"):
        resolve_url("mysql+pymysql://u@h/db")


def test_plain_postgresql_url_gets_an_installed_driver() -> None:
    url = resolve_url("postgresql://user:secret@db.example/metrics")
    assert url.get_dialect().import_dbapi() is not None
    assert url.password == "secret"


def test_check_makes_paths_absolute_and_creates_nothing(tmp_path: Path) -> None:
    url = check_db_target("runs.db")
    assert isinstance(url, sa.URL)
    assert url.database == str(tmp_path / "runs.db")
    assert list(tmp_path.iterdir()) == []


def test_check_refuses_bad_locations(tmp_path: Path) -> None:
    with pytest.raises(ValueError, match="does not exist; create it first"):
        check_db_target(tmp_path / "missing" / "m.db")
    with pytest.raises(ValueError, match="cannot create files in directory"):
        check_db_target(unwritable_dir(tmp_path) / "m.db")
    (tmp_path / "notes.txt").write_text("not a database, but text")
    with pytest.raises(ValueError, match="is not a SQLite database"):
        check_db_target(tmp_path / "notes.txt")
    with pytest.raises(ValueError, match="is not a file"):
        check_db_target(tmp_path)
    (tmp_path / "empty.db").touch()  # an empty file is a fine new database
    check_db_target(tmp_path / "empty.db")


# -- PostgreSQL and concurrent creation ----------------------------------------------
def _create(url: str) -> None:
    get_db_engine(url).dispose()


@pytest.mark.parametrize("backend", BACKENDS)
def test_concurrent_first_opens_create_the_schema_once(backend: str, tmp_path: Path) -> None:
    url = backend_url(backend, tmp_path)
    ctx = multiprocessing.get_context("fork")
    procs = [ctx.Process(target=_create, args=(url,)) for _ in range(6)]
    for proc in procs:
        proc.start()
    for proc in procs:
        proc.join(60)
    assert [proc.exitcode for proc in procs] == [0] * 6
    assert query(url, "SELECT count(*) FROM gymscope_schema") == [(1,)]
    assert query(url, "SELECT count(*) FROM episode") == [(0,)]


def test_public_names() -> None:
    import gymscope.metrics as metrics

    assert sorted(metrics.__all__) == sorted(
        [
            "DEFAULT_URL",
            "SCHEMA_VERSION",
            "Episode",
            "EpisodeWriteError",
            "Experiment",
            "IncompatibleSchemaError",
            "WorkerInUseError",
            "experiment_name",
            "get_current_episode",
            "get_db_engine",
            "metadata",
        ]
    )
    assert all(hasattr(metrics, name) for name in metrics.__all__)
