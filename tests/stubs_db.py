"""Helpers for the metrics-database tests: scripted episodes, row readers and a
throwaway PostgreSQL server.

The server is started once per test session (``initdb`` + ``pg_ctl`` on a
temporary directory and a free loopback port, as the ``postgres`` user when
running as root, since PostgreSQL refuses root) and stopped at the end. When
the binaries are missing the PostgreSQL tests skip, unless
``GYMSCOPE_REQUIRE_POSTGRES=1`` (set by CI): then they fail.
"""

from __future__ import annotations

import atexit
import contextlib
import glob
import itertools
import os
import pwd
import shutil
import socket
import subprocess
import sys
import tempfile
from collections.abc import Sequence
from pathlib import Path
from typing import Any

import numpy as np
import sqlalchemy as sa

from stubs import ScriptedEnv

#: Episodes the database tests play, cycling: returns 1.5, 1.0, 6.0, 2.0.
SCRIPT: tuple[tuple[float, ...], ...] = ((1.5,), (2.0, -1.0), (1.0, 2.0, 3.0), (2.0, 0.0))


#: velora's own tables, as velora creates them: its columns only, no names or workers.
VELORA_SCHEMA = """
CREATE TABLE experiment (id INTEGER PRIMARY KEY, agent TEXT, env TEXT,
    config TEXT, created_at DATETIME);
CREATE TABLE episode (id INTEGER PRIMARY KEY, experiment_id INTEGER,
    episode_num INTEGER, reward FLOAT, length INTEGER, reward_moving_avg FLOAT,
    reward_moving_std FLOAT, actor_loss FLOAT, critic_loss FLOAT,
    entropy_loss FLOAT, created_at DATETIME);
"""


def script_episode(index: int) -> tuple[float, int]:
    """(return, length) of episode ``index`` of :data:`SCRIPT`."""
    rewards = SCRIPT[index % len(SCRIPT)]
    return float(sum(rewards)), len(rewards)


class FailingEnv(ScriptedEnv):
    """ScriptedEnv whose ``step()`` raises ``RuntimeError`` at step ``fail_at`` (0-based)."""

    def __init__(self, fail_at: int, **kwargs: Any) -> None:
        super().__init__(**kwargs)
        self.fail_at = fail_at
        self.steps = 0

    def step(self, action: int) -> tuple[np.ndarray, Any, bool, bool, dict[str, Any]]:
        if self.steps == self.fail_at:
            raise RuntimeError(f"env failure at step {self.steps}")
        self.steps += 1
        return super().step(action)


def run_episodes(env: Any, episodes: int) -> None:
    """Play ``episodes`` whole episodes with action 0 (reset before each)."""
    for _ in range(episodes):
        env.reset()
        done = False
        while not done:
            _, _, terminated, truncated, _ = env.step(0)
            done = terminated or truncated


EPISODE_COLUMNS = (
    "episode_num",
    "worker",
    "reward",
    "length",
    "reward_moving_avg",
    "reward_moving_std",
    "actor_loss",
    "critic_loss",
    "entropy_loss",
    "terminated",
    "truncated",
    "total_steps",
    "extra",
)


def read_episodes(url: str | sa.URL, experiment: str | None = None) -> list[dict[str, Any]]:
    """Rows of ``episode`` (of one experiment if given), ordered by worker and number,
    read as gymscope's readers do: first ingesting the journals of dead writers."""
    from gymscope.metrics.db import sqlite_file
    from gymscope.metrics.journal import ingest_orphans

    path = sqlite_file(sa.make_url(url))
    if path is not None:
        ingest_orphans(path)
    engine = sa.create_engine(url)
    try:
        with engine.connect() as conn:
            query = (
                "SELECT e.* FROM episode e JOIN experiment x ON x.id = e.experiment_id"
                + (" WHERE x.name = :name" if experiment is not None else "")
                + " ORDER BY e.worker, e.episode_num"
            )
            result = conn.execute(sa.text(query), {"name": experiment})
            rows = [dict(row._mapping) for row in result]
    finally:
        engine.dispose()
    for row in rows:  # SQLite returns 0/1 and JSON text; compare like PostgreSQL
        row["terminated"] = bool(row["terminated"])
        row["truncated"] = bool(row["truncated"])
        if isinstance(row["extra"], str):
            import json

            row["extra"] = json.loads(row["extra"])
    return rows


def query(url: str | sa.URL, sql: str, **params: Any) -> list[tuple[Any, ...]]:
    """Run one SQL statement on a fresh engine (committed); return its rows as tuples."""
    engine = sa.create_engine(url)
    try:
        with engine.begin() as conn:
            result = conn.execute(sa.text(sql), params)
            return [tuple(row) for row in result] if result.returns_rows else []
    finally:
        engine.dispose()


def sqlite_url(path: Path) -> str:
    return f"sqlite:///{path}"


def unwritable_dir(tmp_path: Path) -> Path:
    """A directory in which no file can be created, also when running as root."""
    import pytest  # not at module level: child processes import this module too

    directory = tmp_path / "ro"
    directory.mkdir()
    directory.chmod(0o500)
    if os.access(directory, os.W_OK):  # root ignores modes: use a kernel file system
        directory.chmod(0o700)
        if not sys.platform.startswith("linux"):
            pytest.skip("no unwritable directory for root on this platform")
        return Path("/proc")
    return directory


# -- PostgreSQL ----------------------------------------------------------------------
REQUIRE_ENV = "GYMSCOPE_REQUIRE_POSTGRES"


def postgres_required() -> bool:
    return os.environ.get(REQUIRE_ENV, "") not in ("", "0")


def _pg_bindir() -> Path | None:
    candidates: list[str] = []
    pg_config = shutil.which("pg_config")
    if pg_config:
        out = subprocess.run([pg_config, "--bindir"], capture_output=True, text=True)
        candidates.append(out.stdout.strip())
    versions = sorted(
        glob.glob("/usr/lib/postgresql/*/bin"),
        key=lambda p: int(Path(p).parent.name) if Path(p).parent.name.isdigit() else 0,
        reverse=True,
    )
    candidates += versions
    if shutil.which("initdb"):
        candidates.append(str(Path(shutil.which("initdb") or "").parent))
    for candidate in candidates:
        path = Path(candidate)
        if (path / "initdb").exists() and (path / "pg_ctl").exists():
            return path
    return None


def _free_port() -> int:
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


class PostgresServer:
    """A PostgreSQL cluster in a temporary directory, listening on 127.0.0.1 only.

    ``listen`` (addresses), ``netns`` (a network namespace to run it in),
    ``hba`` (``pg_hba.conf`` lines put before initdb's, which trust every
    connection from loopback) and ``conf`` (settings appended to
    ``postgresql.conf``) make the servers of the outage and multi-host tests;
    the unix socket in :attr:`root` reaches the server from any namespace.
    """

    def __init__(
        self,
        bindir: Path,
        *,
        listen: str = "127.0.0.1",
        port: int | None = None,
        netns: str | None = None,
        hba: Sequence[str] = (),
        conf: str = "",
    ) -> None:
        self.bindir = bindir
        self.root = Path(tempfile.mkdtemp(prefix="gymscope-pg-"))
        self.data = self.root / "data"
        self.listen = listen
        self.port = port if port is not None else _free_port()
        self.netns = netns
        self.hba = tuple(hba)
        self.conf = conf
        self._as_postgres = os.geteuid() == 0
        self._names = itertools.count()
        self.running = False

    def _run(self, *args: str) -> None:
        command = [str(self.bindir / args[0]), *args[1:]]
        if self._as_postgres:  # PostgreSQL refuses to run as root
            command = ["runuser", "-u", "postgres", "--", *command]
        if self.netns is not None:
            command = ["ip", "netns", "exec", self.netns, *command]
        result = subprocess.run(command, cwd=self.root, capture_output=True, text=True)
        if result.returncode != 0:
            log = self.root / "server.log"
            tail = log.read_text()[-2000:] if log.exists() else ""
            raise RuntimeError(
                f"{' '.join(command)} failed ({result.returncode}):\n{result.stdout}\n"
                f"{result.stderr}\n{tail}"
            )

    def start(self) -> None:
        if self._as_postgres:
            user = pwd.getpwnam("postgres")
            os.chown(self.root, user.pw_uid, user.pw_gid)
        self._run("initdb", "-D", str(self.data), "-U", "postgres", "--auth=trust", "-E", "UTF8",
                  "--no-sync")  # fmt: skip
        with (self.data / "postgresql.conf").open("a") as conf:
            conf.write(
                f"\nlisten_addresses = '{self.listen}'\n"
                f"port = {self.port}\n"
                f"unix_socket_directories = '{self.root}'\n"
                # The tests kill clients, never the server: its own crash
                # safety only costs time here.
                "fsync = off\nfull_page_writes = off\nsynchronous_commit = off\n"
                "max_connections = 200\n" + self.conf
            )
        if self.hba:
            hba = self.data / "pg_hba.conf"
            hba.write_text("\n".join(self.hba) + "\n" + hba.read_text())
        self.resume()

    def pause(self, mode: str = "fast") -> None:
        """Stop the server (``pg_ctl stop -m mode``), keeping its data."""
        self._run("pg_ctl", "-D", str(self.data), "-m", mode, "-w", "stop")
        self.running = False

    def resume(self) -> None:
        """Start the (stopped) server again on the same address and port."""
        self._run("pg_ctl", "-D", str(self.data), "-l", str(self.root / "server.log"), "-w",
                  "-t", "60", "start")  # fmt: skip
        self.running = True

    def admin_dsn(self, database: str = "postgres") -> str:
        """A libpq DSN of the superuser through the unix socket (any namespace)."""
        return f"host={self.root} port={self.port} user=postgres dbname={database}"

    def execute(self, sql: str, database: str = "postgres") -> list[tuple[Any, ...]]:
        """Run ``sql`` as the superuser (autocommit); its rows, if any."""
        import psycopg

        with psycopg.connect(self.admin_dsn(database), autocommit=True) as conn:
            cursor = conn.execute(sql)
            return list(cursor.fetchall()) if cursor.description else []

    def stop(self) -> None:
        if self.running:
            self.running = False
            with contextlib.suppress(RuntimeError):
                self._run("pg_ctl", "-D", str(self.data), "-m", "immediate", "-w", "stop")
        shutil.rmtree(self.root, ignore_errors=True)

    def url(self, database: str = "postgres") -> sa.URL:
        return sa.URL.create(
            "postgresql+psycopg",
            username="postgres",
            host="127.0.0.1",
            port=self.port,
            database=database,
        )

    def new_database(self) -> sa.URL:
        """A fresh, empty database; returns its URL."""
        import psycopg

        name = f"t{os.getpid()}_{next(self._names)}"
        with psycopg.connect(self.admin_dsn(), autocommit=True) as conn:
            conn.execute(f'CREATE DATABASE "{name}"')
        return self.url(name)


_server: PostgresServer | None = None
_server_error: str | None = None


def postgres_bindir() -> Path:
    """Where initdb and pg_ctl are; skips (or fails in CI) without them."""
    bindir = _pg_bindir()
    error = None
    if bindir is None:
        error = "PostgreSQL server binaries (initdb, pg_ctl) not found"
    elif os.geteuid() == 0 and (not shutil.which("runuser") or not _has_user("postgres")):
        error = "running as root needs runuser and a 'postgres' user"
    if error is None and bindir is not None:
        return bindir
    import pytest

    if postgres_required():
        pytest.fail(f"{error}, and {REQUIRE_ENV}=1 requires PostgreSQL tests to run")
    pytest.skip(f"{error}; install the Debian 'postgresql' package")


def postgres_server() -> PostgresServer:
    """The session's server, started on first use; skips (or fails in CI) without one."""
    global _server, _server_error
    if _server is not None:
        return _server
    if _server_error is None:
        bindir = _pg_bindir()
        if bindir is None:
            _server_error = "PostgreSQL server binaries (initdb, pg_ctl) not found"
        elif os.geteuid() == 0 and (not shutil.which("runuser") or not _has_user("postgres")):
            _server_error = "running as root needs runuser and a 'postgres' user"
        else:
            server = PostgresServer(bindir)
            atexit.register(server.stop)
            server.start()  # a failure here is a real problem: let it fail the test
            _server = server
            return server
    import pytest  # not at module level: child processes import this module too

    if postgres_required():
        pytest.fail(f"{_server_error}, and {REQUIRE_ENV}=1 requires PostgreSQL tests to run")
    pytest.skip(f"{_server_error}; install the Debian 'postgresql' package")


def _has_user(name: str) -> bool:
    try:
        pwd.getpwnam(name)
    except KeyError:
        return False
    return True


BACKENDS: Sequence[str] = ("sqlite", "postgresql")


def backend_url(backend: str, tmp_path: Path) -> str:
    """A fresh, empty database of ``backend`` as a URL string (password-free)."""
    if backend == "sqlite":
        return sqlite_url(tmp_path / "metrics.db")
    return postgres_server().new_database().render_as_string(hide_password=False)
