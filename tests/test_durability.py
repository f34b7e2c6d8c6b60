"""No finished episode is lost when the process dies: kills, signals, exceptions, exit.

A child process (``db_child.py``) runs a logged env and reports each episode
after the ``step()`` that finished it has returned. Whatever ends the child,
the database must then hold exactly the reported episodes (plus, for a kill
from outside at a random moment, at most the one episode whose ``step()`` had
returned but whose report line was not yet written), and SQLite's
``PRAGMA integrity_check`` must pass.

SIGKILL/SIGTERM children are forked from the test process (a signal ends
them the same way as any program); scenarios that need a real interpreter
exit (an uncaught exception, KeyboardInterrupt, leaving without ``close()``)
run as programs forked from one separate interpreter (``db_child.py --many``).
"""

from __future__ import annotations

import json
import multiprocessing
import os
import random
import signal
import sqlite3
import subprocess
import sys
import time
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest

import db_child
import gymscope.metrics  # noqa: F401  (imported here once, not in every forked child)
from stubs_db import (
    BACKENDS,
    backend_url,
    postgres_server,
    query,
    read_episodes,
    script_episode,
)

FORK = multiprocessing.get_context("fork")
SEED = int.from_bytes(os.urandom(4), "little")


@pytest.fixture
def rng() -> random.Random:
    return random.Random(SEED)


def fork_child(**kwargs: Any) -> Any:
    proc = FORK.Process(target=db_child.run, kwargs=kwargs)
    proc.start()
    return proc


def stored(url: str, experiment: str) -> list[tuple[float, int]]:
    """(reward, length) of the experiment's rows; numbering must be gap-free."""
    rows = read_episodes(url, experiment)
    assert {r["worker"] for r in rows} <= {0}
    assert [r["episode_num"] for r in rows] == list(range(len(rows)))
    return [(r["reward"], r["length"]) for r in rows]


def assert_intact(url: str) -> None:
    if url.startswith("sqlite:///"):
        path = url.removeprefix("sqlite:///")
        db = sqlite3.connect(path)
        try:
            assert db.execute("PRAGMA integrity_check").fetchall() == [("ok",)]
        finally:
            db.close()


def _lines(report: Path) -> int:
    try:
        return report.read_bytes().count(b"\n")
    except FileNotFoundError:
        return 0


# -- SIGKILL -------------------------------------------------------------------------
@pytest.mark.parametrize(("backend", "flush_every"), [("sqlite", None), ("postgresql", 1)])
def test_sigkill_at_random_steps_loses_nothing_and_runs_resume(
    backend: str, flush_every: int | None, tmp_path: Path, rng: random.Random
) -> None:
    url = backend_url(backend, tmp_path)
    reported: list[tuple[float, int]] = []
    for attempt in range(4):
        report = tmp_path / f"report{attempt}.txt"
        kill_at = rng.randrange(0, 150)
        proc = fork_child(
            url=url,
            experiment="killed",
            report=str(report),
            signal_name="KILL",
            signal_at=kill_at,
            flush_every=flush_every,
        )
        proc.join(60)
        assert proc.exitcode == -signal.SIGKILL
        reported += db_child.read_report(report)
        assert_intact(url)
        # Each run resumes the one before: worker 0 (its lease was left by a dead
        # process), numbering continues, nothing lost, nothing extra.
        assert stored(url, "killed") == reported, f"seed {SEED}, attempt {attempt}"


def test_sigkill_from_outside_at_random_moments(tmp_path: Path, rng: random.Random) -> None:
    url = backend_url("sqlite", tmp_path)
    for attempt in range(6):
        report = tmp_path / f"report{attempt}.txt"
        experiment = f"outside{attempt}"
        proc = fork_child(url=url, experiment=experiment, report=str(report))
        wanted = rng.randrange(1, 400)
        deadline = time.monotonic() + 30
        while _lines(report) < wanted and time.monotonic() < deadline and proc.is_alive():
            time.sleep(0.0005)
        time.sleep(rng.random() * 0.002)
        os.kill(proc.pid, signal.SIGKILL)
        proc.join(60)
        assert proc.exitcode == -signal.SIGKILL, "the child ended on its own"
        assert_intact(url)
        reported = db_child.read_report(report)
        rows = stored(url, experiment)
        message = f"seed {SEED}, attempt {attempt}: {len(reported)} reported, {len(rows)} rows"
        assert rows[: len(reported)] == reported, message
        # The only possible extra: the episode finished just before the kill, whose
        # step() had returned but whose report line was not written yet.
        assert len(rows) - len(reported) in (0, 1), message
        if len(rows) > len(reported):
            assert rows[-1] == script_episode(len(reported)), message


def test_batched_postgres_loses_at_most_one_batch(tmp_path: Path, rng: random.Random) -> None:
    from gymscope.wrappers.sqlite_logger import REMOTE_FLUSH_EVERY

    url = backend_url("postgresql", tmp_path)
    report = tmp_path / "report.txt"
    kill_at = rng.randrange(100, 400)
    proc = fork_child(
        url=url, experiment="batched", report=str(report), signal_name="KILL", signal_at=kill_at
    )
    proc.join(60)
    assert proc.exitcode == -signal.SIGKILL
    reported = db_child.read_report(report)
    rows = stored(url, "batched")
    assert len(rows) == len(reported) // REMOTE_FLUSH_EVERY * REMOTE_FLUSH_EVERY, f"seed {SEED}"
    assert rows == reported[: len(rows)]


# -- SIGTERM -------------------------------------------------------------------------
@pytest.mark.parametrize("backend", BACKENDS)
def test_sigterm_loses_nothing(backend: str, tmp_path: Path, rng: random.Random) -> None:
    url = backend_url(backend, tmp_path)
    report = tmp_path / "report.txt"
    proc = fork_child(
        url=url,
        experiment="term",
        report=str(report),
        signal_name="TERM",
        signal_at=rng.randrange(1, 200),
        flush_every=1,  # SQLite's default; on PostgreSQL the setting that promises this
    )
    proc.join(60)
    assert proc.exitcode == -signal.SIGTERM
    assert_intact(url)
    assert stored(url, "term") == db_child.read_report(report), f"seed {SEED}"


# -- real interpreter exits ----------------------------------------------------------
SCENARIOS = {
    # name: (db_child.py options, expected exit code, expected in stderr)
    "exception in env": (["--fail-at", "{at}"], 1, "RuntimeError: env failure at step"),
    "KeyboardInterrupt": (["--signal", "INT", "--signal-at", "{at}"], -signal.SIGINT, "Keyboard"),
    "exit without close": (["--episodes", "{episodes}", "--no-close"], 0, ""),
}


@dataclass
class Exit:
    url: str
    report: Path
    code: int
    output: str


class Failed(str):
    """Why a program of :func:`exits` has no exit code to check."""


@pytest.fixture(scope="module")
def exits(tmp_path_factory: pytest.TempPathFactory) -> dict[tuple[str, str], Exit | str]:
    """Every scenario on every backend, as programs forked from one interpreter
    (``db_child.py --many``). Default settings: PostgreSQL batches its writes,
    so only the exit handler saves its last episodes. A backend that is not
    available maps to the reason."""
    rng = random.Random(SEED)
    root = tmp_path_factory.mktemp("exits")
    specs: dict[str, dict[str, Any]] = {}
    results: dict[tuple[str, str], Exit | str] = {}
    pending: dict[str, tuple[str, str, str, Path]] = {}
    for backend in BACKENDS:
        for name, (options, _, _) in SCENARIOS.items():
            directory = root / f"{backend}-{len(specs)}"
            directory.mkdir()
            try:
                url = backend_url(backend, directory)
            except (pytest.skip.Exception, pytest.fail.Exception) as exc:
                results[backend, name] = str(exc)
                continue
            report = directory / "report.txt"
            argv = [url, "exit", str(report)]
            argv += [
                a.format(at=rng.randrange(1, 300), episodes=rng.randrange(1, 100)) for a in options
            ]
            key = f"{backend}/{name}"
            specs[key] = {"argv": argv, "output": str(directory / "output.txt")}
            pending[key] = (backend, name, url, report)
    spec_path = root / "spec.json"
    spec_path.write_text(json.dumps(specs))
    parent = subprocess.run(
        [sys.executable, db_child.__file__, "--many", str(spec_path)],
        cwd=root,
        capture_output=True,
        text=True,
        timeout=600,  # the parent kills a hung child after 420 s
    )
    out = Path(f"{spec_path}.out")
    codes = json.loads(out.read_text()) if out.exists() else {}
    for key, (backend, name, url, report) in pending.items():
        output = Path(specs[key]["output"]).read_text()
        if key not in codes:
            results[backend, name] = Failed(
                f"db_child.py --many exited {parent.returncode} before reporting {key}:\n"
                f"{parent.stderr[-4000:]}\nthe program's output:\n{output}"
            )
        elif codes[key] is None:
            results[backend, name] = Failed(f"{key} was still running after 420 s:\n{output}")
        else:
            results[backend, name] = Exit(url, report, codes[key], output)
    return results


@pytest.mark.parametrize("backend", BACKENDS)
@pytest.mark.parametrize("scenario", list(SCENARIOS))
def test_no_finished_episode_lost_on_exit(
    backend: str, scenario: str, exits: dict[tuple[str, str], Exit | str]
) -> None:
    result = exits[backend, scenario]
    if isinstance(result, Failed):
        pytest.fail(result)
    if isinstance(result, str):
        postgres_server()  # skips, or fails when PostgreSQL is required
        pytest.fail(result)
    _, code, stderr = SCENARIOS[scenario]
    assert result.code == code, result.output
    assert stderr in result.output
    reported = db_child.read_report(result.report)
    assert reported, "the child finished no episode"
    assert stored(result.url, "exit") == reported, f"seed {SEED}"
    assert_intact(result.url)
    # close() ran at exit: the worker lease was given back.
    assert query(result.url, "SELECT count(*) FROM gymscope_worker") == [(0,)]
