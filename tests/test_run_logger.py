"""RunLogger: the trainer's metrics, texts and configs in a run, on SQLite and PostgreSQL."""

from __future__ import annotations

import gc
import json
import logging
import math
import os
import pickle
import sqlite3
import subprocess
import sys
import time
from contextlib import closing
from pathlib import Path
from typing import Any

import numpy as np
import pytest

import gymscope
from gymscope import RunLogger
from gymscope.errors import (
    ArgumentTypeError,
    EpisodeWriteError,
    InvalidArgumentError,
    UsageError,
)
from gymscope.metrics.reader import MetricsReader
from gymscope.wrappers.sqlite_logger import SQLiteLoggerWrapper
from stubs import ScriptedEnv
from stubs_db import BACKENDS, SCRIPT, backend_url, query, run_episodes

METRIC_ROWS = "SELECT worker, name, step, value, wall_time FROM gymscope_metric ORDER BY id"


@pytest.fixture(params=BACKENDS)
def url(request: pytest.FixtureRequest, tmp_path: Path) -> str:
    """An empty database of each backend."""
    return backend_url(request.param, tmp_path)


def _break(url: str) -> None:
    query(url, "ALTER TABLE gymscope_metric RENAME TO gymscope_metric_away")


def _repair(url: str) -> None:
    query(url, "ALTER TABLE gymscope_metric_away RENAME TO gymscope_metric")


# -- what is stored ------------------------------------------------------------------
def test_exact_rows_texts_and_configs(url: str) -> None:
    with RunLogger(url, "trainer", agent="PPO", config={"lr": 3e-4}, flush_secs=0) as run:
        run.log_metrics(0, {"train/loss": 0.5, "train/lr": 3e-4}, wall_time=100.0)
        run.log_metrics(np.int64(64), {"train/loss": np.float32(0.25)}, wall_time=101.5)
        run.log(128, nan=math.nan, up=math.inf, down=-math.inf)
        run.log_text("notes", "first try", 64, wall_time=102.0)
        run.log_text("notes", "no step")
        run.log_config({"lr": 1e-4})
        assert run.experiment_name == "trainer" and run.experiment_id is not None
    rows = query(url, METRIC_ROWS)
    assert rows[:3] == [
        (None, "train/loss", 0, 0.5, 100.0),
        (None, "train/lr", 0, 3e-4, 100.0),
        (None, "train/loss", 64, 0.25, 101.5),
    ]
    assert [r[:4] for r in rows[3:]] == [
        (None, "nan", 128, None),  # a reported NaN is NULL
        (None, "up", 128, math.inf),
        (None, "down", 128, -math.inf),
    ]
    assert all(abs(r[4] - time.time()) < 60 for r in rows[3:])
    (experiment,) = query(url, "SELECT name, env, agent, config FROM experiment")
    assert experiment == ("trainer", "", "PPO", '{"lr": 0.0003}')

    with MetricsReader(url) as reader:
        metrics = reader.metrics("trainer")
        assert metrics.names == ["down", "nan", "train/loss", "train/lr", "up"]
        assert metrics["train/loss"].steps.tolist() == [0, 64]
        assert metrics["train/loss"].values.tolist() == [0.5, 0.25]
        assert metrics["train/loss"].workers.tolist() == [-1, -1]  # the trainer
        assert math.isnan(metrics["nan"].values[0])
        texts = reader.texts("trainer")
        assert [(t.tag, t.step, t.text) for t in texts] == [
            ("notes", 64, "first try"),
            ("notes", None, "no step"),
        ]
        assert texts[0].wall_time == 102.0
        configs = reader.configs("trainer")
        assert [c.value() for c in configs] == [{"lr": 3e-4}, {"lr": 1e-4}]
        assert [c.worker for c in configs] == [None, None]


def test_rows_wait_for_flush_secs_then_flush(url: str) -> None:
    run = RunLogger(url, "buffered", flush_secs=3600)
    run.log(1, a=1.0)  # the first call commits at once: the run exists
    assert len(query(url, METRIC_ROWS)) == 1
    run.log(2, a=2.0)
    run.log_text("t", "x")
    assert len(query(url, METRIC_ROWS)) == 1 and run.pending == 2
    run.flush()
    assert [r[2:4] for r in query(url, METRIC_ROWS)] == [(1, 1.0), (2, 2.0)]
    assert query(url, "SELECT text FROM gymscope_text") == [("x",)]
    run.log(3, a=3.0)
    assert run.pending == 1
    run.close()
    assert [r[2] for r in query(url, METRIC_ROWS)] == [1, 2, 3]
    run.close()  # idempotent
    with pytest.raises(UsageError, match=r"after RunLogger.close\(\).*new RunLogger"):
        run.log(4, a=4.0)


def test_commits_once_flush_secs_have_passed(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    class Clock:  # the logger's clock, moved by hand
        now = 1000.0

        @classmethod
        def monotonic(cls) -> float:
            return cls.now

        time = staticmethod(time.time)

    monkeypatch.setattr("gymscope.run_logger.time", Clock)
    url = backend_url("sqlite", tmp_path)
    run = RunLogger(url, "timed", flush_secs=5)
    run.log(1, a=1.0)
    Clock.now += 4.9
    run.log(2, a=2.0)
    assert len(query(url, METRIC_ROWS)) == 1
    Clock.now += 0.2
    run.log(3, a=3.0)  # 5.1 s after the last commit: this call commits 2 and 3
    assert [r[2] for r in query(url, METRIC_ROWS)] == [1, 2, 3]
    run.close()


def test_nothing_logged_creates_nothing(tmp_path: Path) -> None:
    with RunLogger(tmp_path / "m.db", "empty"):
        pass
    assert not (tmp_path / "m.db").exists()
    with RunLogger(tmp_path / "m.db", "configured", config={"seed": 1}):
        pass  # a config is something to store: the run is created
    assert query(f"sqlite:///{tmp_path / 'm.db'}", "SELECT name, config FROM experiment") == [
        ("configured", '{"seed": 1}')
    ]


def test_generated_name_and_repr(tmp_path: Path) -> None:
    run = RunLogger(tmp_path / "m.db", env_id="CartPole-v1", agent="PPO")
    assert run.experiment_name.startswith("CartPole-v1_PPO_")
    assert repr(run) == f"RunLogger('sqlite:///{tmp_path / 'm.db'}', {run.experiment_name!r})"
    assert gymscope.RunLogger is RunLogger
    run.close()


# -- refused input -------------------------------------------------------------------
@pytest.mark.parametrize(
    ("call", "error", "match"),
    [
        (
            lambda r: r.log_metrics(-1, {"a": 1.0}),
            InvalidArgumentError,
            r"step must be an int >= 0, got -1; the env step",
        ),
        (
            lambda r: r.log_metrics(1.5, {"a": 1.0}),
            ArgumentTypeError,
            r"step must be an int >= 0, got 1.5 \(float\)",
        ),
        (
            lambda r: r.log_metrics(True, {"a": 1.0}),
            ArgumentTypeError,
            r"step must be .* got True \(bool\)",
        ),
        (
            lambda r: r.log_metrics(2**63, {"a": 1.0}),
            InvalidArgumentError,
            r"step must be at most 9223372036854775807",
        ),
        (
            lambda r: r.log_metrics(1, {"lr": "3e-4"}),
            ArgumentTypeError,
            r"values\['lr'\] must be a real number .* got '3e-4' \(str\); pass float",
        ),
        (
            lambda r: r.log_metrics(1, {"ok": 1.0, "flag": True}),
            ArgumentTypeError,
            r"values\['flag'\] must be a real number .* got True \(bool\)",
        ),
        (
            lambda r: r.log_metrics(1, {"v": np.zeros(3)}),
            ArgumentTypeError,
            r"values\['v'\] must be a real number .*\(ndarray\)",
        ),
        (
            lambda r: r.log_metrics(1, {"big": 10**400}),
            InvalidArgumentError,
            r"values\['big'\] must be a real number a float can hold",
        ),
        (
            lambda r: r.log_metrics(1, [("a", 1.0)]),
            ArgumentTypeError,
            r"values must be a mapping .* log\(step, loss=0.5\)",
        ),
        (
            lambda r: r.log_metrics(1, {3: 1.0}),
            ArgumentTypeError,
            r"names in values must be non-empty str, got 3",
        ),
        (
            lambda r: r.log_metrics(1, {" ": 1.0}),
            InvalidArgumentError,
            r"names in values must be non-empty str, got ' '",
        ),
        (
            lambda r: r.log_metrics(1, {"a": 1.0}, wall_time=math.nan),
            InvalidArgumentError,
            r"wall_time must be a finite Unix time .* got nan; pass time.time\(\)",
        ),
        (
            lambda r: r.log_text("", "x"),
            InvalidArgumentError,
            r"tag must be a non-empty str naming the text",
        ),
        (
            lambda r: r.log_text("t", 3),
            ArgumentTypeError,
            r"text must be a str, got 3 \(int\); pass str",
        ),
        (
            lambda r: r.log_text("t", "x", -2),
            InvalidArgumentError,
            r"step must be an int >= 0, got -2",
        ),
        (
            lambda r: r.log_config({"policy": object()}),
            ArgumentTypeError,
            r"config must be JSON serialisable",
        ),
    ],
)
def test_bad_calls_name_the_argument_the_value_and_the_fix(
    tmp_path: Path, call: Any, error: type[Exception], match: str
) -> None:
    url = backend_url("sqlite", tmp_path)
    run = RunLogger(url, "checked", flush_secs=0)
    with pytest.raises(error, match=match):
        call(run)
    run.log(5, fine=1.0)
    run.close()
    # nothing of a refused call was stored, the run goes on
    assert [r[1:4] for r in query(url, METRIC_ROWS)] == [("fine", 5, 1.0)]


def test_torch_like_scalars_are_numbers(tmp_path: Path) -> None:
    class Tensor:  # what PyTorch and JAX scalars offer: .item()
        def item(self) -> float:
            return 0.75

    url = backend_url("sqlite", tmp_path)
    with RunLogger(url, "items") as run:
        run.log(1, t=Tensor(), a=np.array(2.5), one=np.array([4]))  # type: ignore[arg-type]
    assert [r[1:4] for r in query(url, METRIC_ROWS)] == [
        ("t", 1, 0.75),
        ("a", 1, 2.5),
        ("one", 1, 4.0),
    ]


@pytest.mark.parametrize(
    ("kwargs", "error", "match"),
    [
        ({"experiment": ""}, InvalidArgumentError, "experiment must be a non-empty name"),
        ({"experiment": 3}, ArgumentTypeError, r"experiment must be .* got 3 \(int\)"),
        ({"env_id": None}, ArgumentTypeError, r"env_id must be a str .* got None"),
        ({"agent": 7}, ArgumentTypeError, r"agent must be a str .* pass agent='7'"),
        ({"config": {"f": print}}, ArgumentTypeError, "config must be JSON serialisable"),
        (
            {"flush_secs": -1},
            InvalidArgumentError,
            r"flush_secs must be a finite number of seconds >= 0",
        ),
        ({"flush_secs": "1"}, ArgumentTypeError, r"flush_secs must be .* got '1' \(str\)"),
        ({"db": "missing/dir/m.db"}, InvalidArgumentError, "does not exist"),
        (
            {"db": 3},
            ArgumentTypeError,
            "db must be a file path, a database URL or a sqlalchemy Engine",
        ),
    ],
)
def test_bad_arguments_are_refused_at_construction(
    tmp_path: Path, kwargs: dict[str, Any], error: type[Exception], match: str
) -> None:
    kwargs.setdefault("db", tmp_path / "m.db")
    with pytest.raises(error, match=match):
        RunLogger(**kwargs)
    assert not (tmp_path / "m.db").exists()


# -- a database that fails -----------------------------------------------------------
def test_failing_database_never_raises_and_loses_nothing(
    url: str, caplog: pytest.LogCaptureFixture
) -> None:
    run = RunLogger(url, "outage", flush_secs=0)
    run.log(0, a=0.0)
    _break(url)
    with caplog.at_level(logging.WARNING, logger="gymscope.run_logger"):
        for step in range(1, 6):
            run.log(step, a=float(step))  # no exception reaches the training loop
        run.log_text("t", "kept")
    warned = [r for r in caplog.records if r.levelno == logging.WARNING]
    assert len(warned) == 1 and "could not write" in warned[0].getMessage()
    assert run.pending == 6
    with pytest.raises(
        EpisodeWriteError,
        match=r"could not write 6 value.*gymscope_metric\W*(does not exist)?; they",
    ):
        run.flush()
    _repair(url)
    caplog.clear()
    with caplog.at_level(logging.WARNING, logger="gymscope.run_logger"):
        run.flush()
    assert "after 2 failed attempt(s)" in caplog.text
    run.log(6, a=6.0)
    run.close()
    rows = query(url, METRIC_ROWS)
    assert [(r[2], r[3]) for r in rows] == [(s, float(s)) for s in range(7)]  # in order, once
    assert query(url, "SELECT text FROM gymscope_text") == [("kept",)]


@pytest.mark.parametrize("first_s", [3600.0, 0.01])
def test_retries_wait_for_the_backoff(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, first_s: float
) -> None:
    from gymscope._retry import Backoff

    monkeypatch.setattr("gymscope.run_logger.Backoff", lambda: Backoff(first_s=first_s))
    url = backend_url("sqlite", tmp_path)
    run = RunLogger(url, "backoff", flush_secs=0)
    run.log(0, a=0.0)
    _break(url)
    run.log(1, a=1.0)  # fails: the next attempt waits first_s
    _repair(url)
    time.sleep(0.05)
    run.log(2, a=2.0)
    if first_s > 1:  # within the backoff: only queued
        assert [r[2] for r in query(url, METRIC_ROWS)] == [0] and run.pending == 2
        run.flush()  # flush() does not wait
    assert [r[2] for r in query(url, METRIC_ROWS)] == [0, 1, 2]
    run.close()


def test_locked_sqlite_file(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr("gymscope.metrics.db.BUSY_TIMEOUT_S", 0.05)
    path = tmp_path / "m.db"
    run = RunLogger(path, "locked", flush_secs=0)
    run.log(0, a=0.0)
    with closing(sqlite3.connect(path, isolation_level=None)) as other:
        other.execute("BEGIN EXCLUSIVE")  # another process holds the write lock
        run.log(1, a=1.0)
        run.log(2, a=2.0)
        with pytest.raises(EpisodeWriteError, match="database is locked"):
            run.close()
        other.execute("COMMIT")
    assert not run.closed
    run.close()  # retried: now it can
    assert run.closed
    assert [r[2] for r in query(f"sqlite:///{path}", METRIC_ROWS)] == [0, 1, 2]


def test_an_unreachable_server_until_close_raises(tmp_path: Path) -> None:
    url = "postgresql+psycopg://postgres@127.0.0.1:1/nowhere?connect_timeout=2"
    pytest.importorskip("psycopg")
    run = RunLogger(url, "offline")
    run.log(0, a=1.0)  # cannot connect: kept, no exception
    with pytest.raises(EpisodeWriteError, match=r"could not write 1 value.*127\.0\.0\.1"):
        run.close()


def test_postgres_connection_loss_is_survived(tmp_path: Path) -> None:
    url = backend_url("postgresql", tmp_path)
    run = RunLogger(url, "dropped", flush_secs=0)
    run.log(0, a=0.0)
    query(
        url,
        "SELECT pg_terminate_backend(pid) FROM pg_stat_activity "
        "WHERE datname = current_database() AND pid <> pg_backend_pid()",
    )
    run.log(1, a=1.0)
    run.log(2, a=2.0)
    run.close()
    assert [r[2] for r in query(url, METRIC_ROWS)] == [0, 1, 2]


# -- copies, processes, several writers ----------------------------------------------
def test_a_pickled_copy_opens_its_own_connection(url: str) -> None:
    original = RunLogger(url, "copied", flush_secs=3600)
    original.log(0, a=0.0)
    original.log(1, a=1.0)  # queued in the original only
    copy = pickle.loads(pickle.dumps(original))
    assert copy.experiment_name == "copied" and copy.pending == 0
    copy.log(2, b=2.0)
    copy.close()
    original.close()
    assert sorted(r[1:3] for r in query(url, METRIC_ROWS)) == [("a", 0), ("a", 1), ("b", 2)]
    assert query(url, "SELECT count(*) FROM experiment") == [(1,)]
    with pytest.raises(UsageError):
        pickle.loads(pickle.dumps(original)).log(3, a=3.0)  # a closed logger's copy is closed


@pytest.mark.skipif(not hasattr(os, "fork"), reason="needs fork()")
def test_a_forked_child_writes_its_own_rows_only(tmp_path: Path) -> None:
    url = backend_url("sqlite", tmp_path)
    run = RunLogger(url, "forked", flush_secs=3600)
    run.log(0, parent=0.0)
    run.log(1, parent=1.0)  # queued in the parent
    pid = os.fork()
    if pid == 0:  # the child: its own connection, never the parent's rows
        try:
            run.log(2, child=2.0)
            run.close()
        finally:
            os._exit(0)
    os.waitpid(pid, 0)
    run.close()
    assert sorted(r[1:3] for r in query(url, METRIC_ROWS)) == [
        ("child", 2),
        ("parent", 0),
        ("parent", 1),
    ]


def test_dropped_without_close_commits_when_collected(tmp_path: Path) -> None:
    url = backend_url("sqlite", tmp_path)
    run = RunLogger(url, "dropped", flush_secs=3600)
    run.log(0, a=0.0)
    run.log(1, a=1.0)
    del run
    gc.collect()
    assert [r[2] for r in query(url, METRIC_ROWS)] == [0, 1]


def test_committed_at_interpreter_exit(tmp_path: Path) -> None:
    code = (
        "from gymscope import RunLogger\n"
        f"run = RunLogger({str(tmp_path / 'metrics.db')!r}, 'exit', flush_secs=3600)\n"
        "run.log(0, a=0.0)\nrun.log(1, a=1.0)\nrun.log_text('t', 'bye')\n"
    )
    subprocess.run([sys.executable, "-c", code], check=True)
    url = backend_url("sqlite", tmp_path)
    assert [r[2] for r in query(url, METRIC_ROWS)] == [0, 1]
    assert query(url, "SELECT text FROM gymscope_text") == [("bye",)]


def test_trainer_loggers_and_env_workers_write_one_run(url: str) -> None:
    trainer = RunLogger(url, "shared", config={"lr": 0.1}, flush_secs=0)
    trainer.log(0, lr=0.1)  # creates the run: no env or agent yet
    envs = [SQLiteLoggerWrapper(ScriptedEnv(episodes=SCRIPT), url, "shared") for _ in range(2)]
    evaluator = RunLogger(url, "shared", agent="PPO", flush_secs=0)
    for step in range(1, 4):
        for env in envs:
            run_episodes(env, 1)
        trainer.log(step * 10, loss=1.0 / step)
        evaluator.log(step * 10, eval_return=float(step))
    for env in envs:
        env.close()
    trainer.close()
    evaluator.close()
    (experiment,) = query(url, "SELECT id, env, agent, config FROM experiment")
    assert experiment[1:] == ("ScriptedEnv", "PPO", '{"lr": 0.1}')  # filled in by the others
    assert query(url, "SELECT DISTINCT experiment_id FROM gymscope_metric") == [(experiment[0],)]
    with MetricsReader(url) as reader:
        metrics = reader.metrics("shared")
        assert metrics["loss"].steps.tolist() == [10, 20, 30]
        assert metrics["loss"].values.tolist() == [1.0, 0.5, 1.0 / 3]
        assert metrics["eval_return"].values.tolist() == [1.0, 2.0, 3.0]
        assert metrics["lr"].workers.tolist() == [-1]
    rows = query(url, "SELECT worker, count(*) FROM episode GROUP BY worker ORDER BY worker")
    assert rows == [(0, 3), (1, 3)]


def test_joining_with_another_config_keeps_both(url: str) -> None:
    with RunLogger(url, "resumed", config={"lr": 0.1}) as run:
        run.log(0, a=0.0)
    with RunLogger(url, "resumed", config={"lr": 0.1}) as run:  # the same: no new entry
        run.log(1, a=1.0)
    with RunLogger(url, "resumed", config={"lr": 0.05}) as run:
        run.log(2, a=2.0)
    with MetricsReader(url) as reader:
        assert [c.value() for c in reader.configs("resumed")] == [{"lr": 0.1}, {"lr": 0.05}]
    assert json.loads(query(url, "SELECT config FROM experiment")[0][0]) == {"lr": 0.1}


def test_threads_share_one_logger(tmp_path: Path) -> None:
    import threading

    url = backend_url("sqlite", tmp_path)
    run = RunLogger(url, "threads", flush_secs=0)

    def work(thread: int) -> None:
        for step in range(50):
            run.log(step, **{f"t{thread}": float(step)})

    threads = [threading.Thread(target=work, args=(i,)) for i in range(4)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    run.close()
    rows = query(url, METRIC_ROWS)
    for i in range(4):
        assert [r[2] for r in rows if r[1] == f"t{i}"] == list(range(50))  # each once, in order
