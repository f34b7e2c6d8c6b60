"""One run written from several hosts through real networks, and the faults of one.

The hosts are network namespaces this module makes itself (``ip netns add``):
a database host running PostgreSQL (password authentication, listening on
its two veth addresses only) and two writer hosts, each joined to it by a
veth pair of its own (10.213.1.0/24 and 10.213.2.0/24, addresses that exist
only inside these namespaces). Each writer host runs ``multihost_child.py``:
a gymscope stack that joins the run as its own worker, reports every
episode it finished, and is stopped by a file. Nothing but these namespaces
(and the server's unix socket, through which the tests read) is ever
reached. Faults: the server crashes and restarts, one writer's link is cut
for a while, a writer host's processes are SIGKILLed. The figures (episodes
finished vs stored) are printed; run with ``-s`` to see them.

The first test runs each writer as a program (``ip netns exec NS python
multihost_child.py``); the fault tests fork them from this process and move
them into their namespace (``setns``), which spares an interpreter start-up
(several seconds on a busy machine) per writer.

Needs root and ``ip``; skips otherwise, unless ``GYMSCOPE_REQUIRE_NETNS=1``
(set by CI, which runs as root): then it fails. Everything made here is
removed afterwards, also when a test fails.
"""

from __future__ import annotations

import contextlib
import json
import multiprocessing
import os
import secrets
import shutil
import signal
import subprocess
import sys
import time
from collections.abc import Iterator
from dataclasses import dataclass, field
from itertools import count
from pathlib import Path
from typing import Any, NoReturn

import pytest
import sqlalchemy as sa

import gymscope.metrics.connect
import gymscope.metrics.writer  # noqa: F401  (imported once here, not in every forked writer)

with contextlib.suppress(ImportError):
    import sqlalchemy.dialects.postgresql.psycopg

import multihost_child
from stubs_db import PostgresServer, postgres_bindir, script_episode

CHILD = Path(__file__).with_name("multihost_child.py")
FORK = multiprocessing.get_context("fork")
PASSWORD = "multi-Host-9"
_names = count()


def ip(*args: str) -> None:
    subprocess.run(["ip", *args], check=True, capture_output=True, text=True)


@dataclass
class Hosts:
    """The namespaces, links and database server of one module."""

    prefix: str
    db: str
    writers: dict[str, str]  # writer namespace -> the server's address seen from it
    links: dict[str, str]  # writer namespace -> its link's end in the database namespace
    server: PostgresServer | None = None
    made: list[str] = field(default_factory=list)

    def url(self, ns: str, name: str, **parts: Any) -> str:
        """The URL of database ``name`` from namespace ``ns`` (``parts`` changed)."""
        url = sa.URL.create(
            "postgresql+psycopg",
            username="writer",
            password=PASSWORD,
            host=self.writers[ns],
            port=5432,
            database=name,
        ).set(**parts)
        return url.render_as_string(hide_password=False)


REQUIRE_ENV = "GYMSCOPE_REQUIRE_NETNS"


def _cannot(reason: str) -> NoReturn:
    """Skip, or fail where the tests are required to run (CI sets REQUIRE_ENV=1)."""
    if os.environ.get(REQUIRE_ENV, "") not in ("", "0"):
        pytest.fail(f"{reason}, and {REQUIRE_ENV}=1 requires the multi-host tests to run")
    pytest.skip(reason)


def _make_hosts() -> Hosts:
    if sys.platform != "linux" or os.geteuid() != 0:
        _cannot("network namespaces (ip netns add) need root on Linux")
    if shutil.which("ip") is None:
        _cannot("the ip command is not installed (Debian package iproute2)")
    prefix = f"gs{os.getpid() % 100000}{secrets.token_hex(1)}"  # veth names: 15 bytes at most
    hosts = Hosts(prefix, f"{prefix}db", {}, {})
    try:
        ip("netns", "add", hosts.db)
    except subprocess.CalledProcessError as exc:
        _cannot(f"cannot create a network namespace here: {exc.stderr.strip()}")
    hosts.made.append(hosts.db)
    ip("-n", hosts.db, "link", "set", "lo", "up")
    for i in (1, 2):
        ns = f"{prefix}w{i}"
        ip("netns", "add", ns)
        hosts.made.append(ns)
        ip("-n", ns, "link", "set", "lo", "up")
        near, far = f"{prefix}a{i}", f"{prefix}b{i}"
        ip("link", "add", near, "netns", hosts.db, "type", "veth", "peer", "name", far,
           "netns", ns)  # fmt: skip
        ip("-n", hosts.db, "addr", "add", f"10.213.{i}.1/24", "dev", near)
        ip("-n", ns, "addr", "add", f"10.213.{i}.2/24", "dev", far)
        ip("-n", hosts.db, "link", "set", near, "up")
        ip("-n", ns, "link", "set", far, "up")
        hosts.writers[ns] = f"10.213.{i}.1"
        hosts.links[ns] = near
    return hosts


def _kill_namespace(ns: str) -> None:
    pids = subprocess.run(["ip", "netns", "pids", ns], capture_output=True, text=True).stdout
    for pid in pids.split():
        with contextlib.suppress(ProcessLookupError):
            os.kill(int(pid), signal.SIGKILL)


@pytest.fixture(scope="module")
def hosts() -> Iterator[Hosts]:
    hosts: Hosts | None = None
    try:
        bindir = postgres_bindir()
        hosts = _make_hosts()
        hosts.server = PostgresServer(
            bindir,
            listen="10.213.1.1,10.213.2.1",
            port=5432,
            netns=hosts.db,
            hba=[
                "host all writer 10.213.0.0/16 scram-sha-256",
                "host all w2only 10.213.2.0/24 scram-sha-256",
            ],
            # acknowledged commits survive the crash the restart test makes
            conf="synchronous_commit = on\n",
        )
        hosts.server.start()
        for role in ("writer", "w2only"):
            hosts.server.execute(f"CREATE ROLE {role} LOGIN PASSWORD '{PASSWORD}'")
        yield hosts
    finally:
        if hosts is not None:
            for ns in hosts.made:
                _kill_namespace(ns)  # writers left by a failed test, the server
            if hosts.server is not None:
                hosts.server.running = False  # killed above
                hosts.server.stop()
            for ns in hosts.made:
                subprocess.run(["ip", "netns", "del", ns], capture_output=True)


@pytest.fixture
def database(hosts: Hosts) -> str:
    """A fresh database owned by ``writer``; the server running."""
    assert hosts.server is not None
    if not hosts.server.running:
        hosts.server.resume()
    for near in hosts.links.values():
        ip("-n", hosts.db, "link", "set", near, "up")
    name = f"multi{os.getpid()}_{next(_names)}"
    hosts.server.execute(f'CREATE DATABASE "{name}" OWNER writer')
    return name


# -- writers -------------------------------------------------------------------------
@dataclass
class Writer:
    ns: str
    proc: subprocess.Popen[bytes] | Any  # or a forked multiprocessing.Process
    report: Path
    stop: Path
    log: Path

    def exit_code(self, timeout: float | None = None) -> int | None:
        """The writer's exit code (negative: the signal); None while it runs."""
        if isinstance(self.proc, subprocess.Popen):
            return self.proc.wait(timeout) if timeout is not None else self.proc.poll()
        self.proc.join(timeout if timeout is not None else 0)
        code: int | None = self.proc.exitcode
        assert code is not None or timeout is None, f"the writer in {self.ns} did not end"
        return code

    def episodes(self) -> list[tuple[int, int, float, int]]:
        """(worker, episode, return, length) of every episode it reported finished."""
        if not self.report.exists():
            return []
        rows = []
        for line in self.report.read_text().splitlines():
            if line.startswith("M "):
                continue
            worker, episode, episode_return, length = line.split()
            rows.append((int(worker), int(episode), float(episode_return), int(length)))
        return rows

    def metrics(self) -> list[tuple[int, float]]:
        if not self.report.exists():
            return []
        return [
            (int(line.split()[1]), float(line.split()[2]))
            for line in self.report.read_text().splitlines()
            if line.startswith("M ")
        ]

    def wait_for(self, episodes: int) -> None:
        deadline = time.monotonic() + 60
        while len(self.episodes()) < episodes:
            assert self.exit_code() is None, f"the writer in {self.ns} ended: {self.output()}"
            assert time.monotonic() < deadline, f"no {episodes} episodes in {self.ns}"
            time.sleep(0.02)

    def finish(self) -> dict[str, Any]:
        self.stop.touch()
        assert self.exit_code(60) == 0, self.output()
        summary: dict[str, Any] = json.loads(Path(f"{self.report}.json").read_text())
        return summary

    def output(self) -> str:
        return self.log.read_text() if self.log.exists() else ""


def start_writer(
    hosts: Hosts,
    ns: str,
    database: str,
    tmp_path: Path,
    *,
    flush_every: int | None = None,
    program: bool = False,
) -> Writer:
    """A writer in namespace ``ns``: forked, or (``program``) a new interpreter."""
    report, stop, log = (tmp_path / f"{ns}.{suffix}" for suffix in ("report", "stop", "log"))
    url = hosts.url(ns, database)
    proc: Any
    if program:
        command = ["ip", "netns", "exec", ns, sys.executable, str(CHILD), "write"]
        command += [url, "run", str(report), str(stop)]
        if flush_every is not None:
            command += ["--flush-every", str(flush_every)]
        with log.open("wb") as out:
            proc = subprocess.Popen(command, stdout=out, stderr=subprocess.STDOUT)
    else:
        args = (url, "run", str(report), str(stop), flush_every)
        proc = FORK.Process(
            target=multihost_child.in_namespace, args=(ns, str(log), multihost_child.write, *args)
        )
        proc.start()
    return Writer(ns, proc, report, stop, log)


def stored(hosts: Hosts, database: str) -> dict[int, list[tuple[int, float, int]]]:
    """(episode_num, reward, length) per worker of run "run", in order."""
    assert hosts.server is not None
    rows = hosts.server.execute(
        "SELECT e.worker, e.episode_num, e.reward, e.length FROM episode e "
        "JOIN experiment x ON x.id = e.experiment_id WHERE x.name = 'run' "
        "ORDER BY e.worker, e.episode_num",
        database,
    )
    by_worker: dict[int, list[tuple[int, float, int]]] = {}
    for worker, number, reward, length in rows:
        by_worker.setdefault(worker, []).append((number, reward, length))
    return by_worker


def stored_metrics(hosts: Hosts, database: str, worker: int) -> list[tuple[int, float]]:
    assert hosts.server is not None
    rows = hosts.server.execute(
        f"SELECT step, value FROM gymscope_metric WHERE worker = {worker} ORDER BY step",
        database,
    )
    return [(int(step), float(value)) for step, value in rows]


def reported(writer: Writer) -> list[tuple[int, float, int]]:
    episodes = writer.episodes()
    assert [e[1] for e in episodes] == list(range(len(episodes)))
    for _, number, episode_return, length in episodes:
        assert (episode_return, length) == script_episode(number)
    return [(number, r, length) for _, number, r, length in episodes]


def worker_of(writer: Writer) -> int:
    workers = {e[0] for e in writer.episodes()}
    assert len(workers) == 1, workers
    return workers.pop()


def figure(fault: str, writer: Writer, finished: int, rows: int, extra: str = "") -> None:
    print(f"\n[multihost] {fault}: {writer.ns[-2:]} finished {finished}, stored {rows}{extra}")


def both_writers(hosts: Hosts, database: str, tmp_path: Path, **kwargs: Any) -> list[Writer]:
    return [start_writer(hosts, ns, database, tmp_path, **kwargs) for ns in hosts.writers]


def check_all_stored(hosts: Hosts, database: str, writers: list[Writer], fault: str) -> None:
    summaries = [writer.finish() for writer in writers]
    rows = stored(hosts, database)
    assert len({worker_of(w) for w in writers}) == len(writers)  # one worker each
    for writer, summary in zip(writers, summaries, strict=True):
        worker = worker_of(writer)
        mine = rows.get(worker, [])
        figure(
            fault, writer, len(reported(writer)), len(mine),
            f" (longest step() {summary['longest_step_s']} s)",
        )  # fmt: skip
        assert mine == reported(writer), f"{fault}: worker {worker}"
        assert stored_metrics(hosts, database, worker) == writer.metrics()


# -- the tests -----------------------------------------------------------------------
def test_two_hosts_write_one_run_each_episode_once(
    hosts: Hosts, database: str, tmp_path: Path
) -> None:
    # programs started by ip netns exec, batched (REMOTE_FLUSH_EVERY)
    writers = both_writers(hosts, database, tmp_path, program=True)
    for writer in writers:
        writer.wait_for(40)
    check_all_stored(hosts, database, writers, "no fault")


def test_a_server_crash_and_restart_mid_run_loses_nothing_finished(
    hosts: Hosts, database: str, tmp_path: Path
) -> None:
    assert hosts.server is not None
    first = start_writer(hosts, next(iter(hosts.writers)), database, tmp_path, flush_every=1)
    second = start_writer(hosts, list(hosts.writers)[1], database, tmp_path)
    writers = [first, second]
    for writer in writers:
        writer.wait_for(15)
    hosts.server.pause(mode="immediate")  # a crash: no shutdown checkpoint
    during = [len(w.episodes()) + 20 for w in writers]
    for writer, episodes in zip(writers, during, strict=True):
        writer.wait_for(episodes)  # the writers go on while the server is away
    hosts.server.resume()
    for writer in writers:
        writer.wait_for(len(writer.episodes()) + 20)
    check_all_stored(hosts, database, writers, "server crash + restart")


def test_a_cut_link_loses_nothing_finished(hosts: Hosts, database: str, tmp_path: Path) -> None:
    writers = both_writers(hosts, database, tmp_path, flush_every=1)
    cut = writers[0]
    for writer in writers:
        writer.wait_for(15)
    ip("-n", hosts.db, "link", "set", hosts.links[cut.ns], "down")
    cut_at = len(cut.episodes())
    time.sleep(4)  # longer than the TCP user timeout: a write fails, then the episodes wait
    ip("-n", hosts.db, "link", "set", hosts.links[cut.ns], "up")
    during = len(cut.episodes()) - cut_at
    for writer in writers:
        writer.wait_for(len(writer.episodes()) + 20)
    print(f"\n[multihost] link cut for 4 s: {cut.ns[-2:]} finished {during} episodes meanwhile")
    check_all_stored(hosts, database, writers, "link cut 4 s")


@pytest.mark.parametrize("flush_every", [1, 4])
def test_sigkill_of_a_writer_host_loses_at_most_flush_every_minus_one(
    hosts: Hosts, database: str, tmp_path: Path, flush_every: int
) -> None:
    writers = both_writers(hosts, database, tmp_path, flush_every=flush_every)
    victim, survivor = writers
    victim.wait_for(20 + secrets.randbelow(20))
    _kill_namespace(victim.ns)
    assert victim.exit_code(10) == -signal.SIGKILL
    survivor.wait_for(len(survivor.episodes()) + 10)
    finished = reported(victim)
    rows = stored(hosts, database).get(worker_of(victim), [])
    lost = len(finished) - len(rows)
    figure(f"SIGKILL, flush_every={flush_every}", victim, len(finished), len(rows))
    # A kill between the step() that committed an episode and its report line
    # stores one more than reported; otherwise at most flush_every - 1 are lost.
    assert -1 <= lost <= flush_every - 1
    assert rows[: len(finished)] == finished[: len(rows)]
    if lost < 0:
        assert rows[-1][1:] == script_episode(len(finished))
    check_all_stored(hosts, database, [survivor], f"SIGKILL of the other host (fe={flush_every})")


MISCONFIGURED = {
    # name: (URL changes, words of the error)
    "no host at that address": ({"host": "10.213.1.77"}, "no answer from the host"),
    "wrong password": ({"password": "not-it"}, "refused the user name or password"),
    "client host refused": ({"username": "w2only"}, "does not accept connections from this"),
    "missing database": ({"database": "nope"}, "the database does not exist"),
}


@pytest.mark.parametrize("case", list(MISCONFIGURED))
def test_misconfiguration_from_another_host_fails_at_construction(
    hosts: Hosts, database: str, case: str, tmp_path: Path
) -> None:
    changes, words = MISCONFIGURED[case]
    ns = next(iter(hosts.writers))
    url = hosts.url(ns, database, **changes)
    log = tmp_path / "probe.log"
    proc = FORK.Process(
        target=multihost_child.in_namespace, args=(ns, str(log), multihost_child.probe, url)
    )
    proc.start()
    proc.join(120)
    assert proc.exitcode == 0, log.read_text()
    result = json.loads(log.read_text().splitlines()[-1])
    print(f"\n[multihost] {case}: {result['type']} after {result['seconds']} s")
    assert result["type"] == "DatabaseUnreachableError", result
    assert words in result["error"] and PASSWORD not in result["error"]
