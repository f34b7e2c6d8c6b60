"""Many writers, one database, one experiment: every episode exactly once.

Eight processes (plain multiprocessing, and gymnasium's AsyncVectorEnv with
eight logged sub-envs) write one SQLite file or one PostgreSQL database with
default settings. Nothing may fail, nothing may be lost or doubled, and no
write may even need a retry ("database is locked" must not happen, let alone
reach the user).
"""

from __future__ import annotations

import functools
import logging
import multiprocessing
import sys
from pathlib import Path
from typing import Any

import gymnasium as gym
import numpy as np
import pytest
import sqlalchemy as sa

import gymscope.metrics  # noqa: F401  (imported here once, not in every forked child)
from gymscope.wrappers.sqlite_logger import SQLiteLoggerWrapper
from stubs import ScriptedEnv
from stubs_db import BACKENDS, backend_url, query, read_episodes, run_episodes

FORK = multiprocessing.get_context("fork")
WORKERS = 8


class _Failures(logging.Handler):
    """Counts warnings and errors gymscope logs (a retried write logs one)."""

    def __init__(self) -> None:
        super().__init__(logging.WARNING)
        self.records: list[logging.LogRecord] = []

    def emit(self, record: logging.LogRecord) -> None:
        self.records.append(record)


def _write_episodes(url: str, experiment: str, episodes: int, barrier: Any) -> None:
    failures = _Failures()
    logging.getLogger("gymscope").addHandler(failures)
    # One-step episodes: as many writes per second as a training loop can make.
    env = SQLiteLoggerWrapper(ScriptedEnv(episodes=((1.0,), (2.0,))), url, experiment)
    run_episodes(env, 2)
    # All eight hold a worker lease now; the rest is written at the same time.
    barrier.wait(timeout=60)
    run_episodes(env, episodes - 2)
    env.close()
    if failures.records:
        print(*(r.getMessage() for r in failures.records), file=sys.stderr)
        sys.exit(3)


@pytest.mark.parametrize("backend", BACKENDS)
def test_eight_processes_one_experiment(backend: str, tmp_path: Path) -> None:
    url = backend_url(backend, tmp_path)
    episodes = 150
    barrier = FORK.Barrier(WORKERS)
    procs = [
        FORK.Process(target=_write_episodes, args=(url, "shared", episodes, barrier))
        for _ in range(WORKERS)
    ]
    for proc in procs:
        proc.start()
    for proc in procs:
        proc.join(120)
    assert [proc.exitcode for proc in procs] == [0] * WORKERS
    rows = read_episodes(url, "shared")
    assert len(rows) == WORKERS * episodes
    by_worker: dict[int, list[dict[str, Any]]] = {}
    for row in rows:
        by_worker.setdefault(row["worker"], []).append(row)
    assert sorted(by_worker) == list(range(WORKERS))  # leased: 0..7, no collision
    for worker_rows in by_worker.values():
        assert [r["episode_num"] for r in worker_rows] == list(range(episodes))
        assert [r["reward"] for r in worker_rows] == [1.0, 2.0] * (episodes // 2)
    assert query(url, "SELECT count(*) FROM experiment") == [(1,)]
    assert query(url, "SELECT count(*) FROM gymscope_worker") == [(0,)]


def _make_logged(url: str, experiment: str, length: int) -> gym.Env[Any, Any]:
    return SQLiteLoggerWrapper(ScriptedEnv(episodes=((1.0,) * length,)), url, experiment)


def _no_tables(url: str) -> bool:
    engine = sa.create_engine(url)
    try:
        return not sa.inspect(engine).get_table_names()
    finally:
        engine.dispose()


@pytest.mark.parametrize("backend", BACKENDS)
def test_async_vector_env_of_eight_logged_envs(backend: str, tmp_path: Path) -> None:
    url = backend_url(backend, tmp_path)
    lengths = [1 + i % 3 for i in range(WORKERS)]
    fns = [functools.partial(_make_logged, url, "vector", n) for n in lengths]
    envs = gym.vector.AsyncVectorEnv(fns, context="fork")
    # The throwaway env AsyncVectorEnv built (and closed) in this process left nothing.
    if backend == "sqlite":
        assert list(tmp_path.iterdir()) == []
    else:
        assert _no_tables(url)
    envs.reset(seed=0)
    finished = np.zeros(WORKERS, dtype=int)
    for _ in range(60):
        _, _, terminated, truncated, _ = envs.step(np.zeros(WORKERS, dtype=int))
        finished += terminated | truncated
    envs.close()

    rows = read_episodes(url, "vector")
    counts: dict[int, int] = {}
    for row in rows:
        counts[row["worker"]] = counts.get(row["worker"], 0) + 1
        assert row["reward"] == row["length"]
    assert sorted(counts) == list(range(WORKERS))
    assert sorted(counts.values()) == sorted(finished.tolist())
    assert query(url, "SELECT count(*) FROM experiment") == [(1,)]


def test_cleanrl_style_sync_vector_env(tmp_path: Path) -> None:
    url = f"sqlite:///{tmp_path / 'sync.db'}"
    envs = gym.vector.SyncVectorEnv(
        [functools.partial(_make_logged, url, "sync", n) for n in (1, 2, 3, 4)]
    )
    envs.reset(seed=1)
    finished = np.zeros(4, dtype=int)
    for _ in range(24):
        _, _, terminated, truncated, _ = envs.step(envs.action_space.sample())
        finished += terminated | truncated
    envs.close()
    rows = read_episodes(url, "sync")
    # One process, four wrappers: four leases, workers 0-3 in creation order.
    per_worker = [sum(1 for r in rows if r["worker"] == w) for w in range(4)]
    assert per_worker == finished.tolist()
    assert [r["length"] for r in rows if r["episode_num"] == 0] == [1, 2, 3, 4]
