"""The run as the unit: rejoining workers, run-level statistics, metrics by step,
config history, run status, schema upgrade."""

from __future__ import annotations

import datetime as dt
import logging
import math
import socket
import sqlite3
import subprocess
import sys
from pathlib import Path
from typing import Any

import numpy as np
import pytest
import sqlalchemy as sa
from hypothesis import given, settings
from hypothesis import strategies as st

from gymscope import EpisodeStatsWrapper, SQLiteLoggerWrapper
from gymscope.episode import ResumeState, StatsBank, StatsConfig, history_needed
from gymscope.metrics import get_db_engine
from gymscope.metrics.models import SCHEMA_VERSION, utcnow, worker_lease
from gymscope.metrics.queries import MetricsReader
from gymscope.metrics.runstats import run_statistics
from gymscope.wrappers.tensorboard import TensorBoardWrapper
from stubs import ScriptedEnv, play
from stubs_db import BACKENDS, backend_url, query, read_episodes


@pytest.fixture(params=BACKENDS)
def url(request: pytest.FixtureRequest, tmp_path: Path) -> str:
    return backend_url(request.param, tmp_path)


def _uninterrupted(returns: list[float], window: int, alpha: float = 0.1) -> StatsBank:
    bank = StatsBank(StatsConfig(window, alpha))
    for r in returns:
        bank.push(r, 1)
    return bank


# -- restoring the statistics ------------------------------------------------------
@settings(max_examples=200, deadline=None)
@given(
    returns=st.lists(
        st.floats(-1e6, 1e6, allow_nan=False, allow_infinity=False), min_size=1, max_size=300
    ),
    window=st.integers(1, 40),
    cut=st.integers(0, 300),
    alpha=st.sampled_from([0.1, 0.3, 1.0]),
)
def test_a_replayed_bank_continues_bit_for_bit(
    returns: list[float], window: int, cut: int, alpha: float
) -> None:
    """What a resumed worker rebuilds from its stored tail continues exactly as an
    uninterrupted stream: moving mean and std equal, EMA to double precision."""
    cut = min(cut, len(returns))
    whole = StatsBank(StatsConfig(window, alpha))
    resumed = StatsBank(StatsConfig(window, alpha))
    keep = history_needed(window, alpha)
    for r in returns[:cut]:
        whole.push(r, 1)
    resumed.replay(returns[:cut][-keep:], [1] * len(returns[:cut][-keep:]), episodes=cut)
    for r in returns[cut:]:
        whole.push(r, 2)
        resumed.push(r, 2)
        assert resumed.mean == whole.mean
        assert resumed.std == whole.std
        assert resumed.ema_return == pytest.approx(whole.ema_return, rel=1e-12, abs=1e-9)
        assert resumed.ema_length == pytest.approx(whole.ema_length, rel=1e-12)


def test_history_needed_covers_the_window_and_the_ema() -> None:
    assert history_needed(100, 0.1) == 372  # (0.9) ** 372 < 1e-17
    assert history_needed(500, 0.1) == 1000  # window + episodes % window, at most 2 windows
    assert history_needed(10, 1.0) == 20


# -- a worker rejoining its run ------------------------------------------------------
SCRIPT = tuple((float(i % 7) - 1.5, float(i % 3)) for i in range(11))  # 11 two-step episodes


def _returns(n: int) -> list[float]:
    return [sum(SCRIPT[i % len(SCRIPT)]) for i in range(n)]


def test_a_rejoining_worker_continues_index_steps_and_statistics(url: str) -> None:
    window = 4
    with SQLiteLoggerWrapper(ScriptedEnv(SCRIPT), url, experiment="run", window_size=window) as env:
        play(env, 9)
    # the same script continues where the first attempt stopped
    env2 = ScriptedEnv(SCRIPT)
    env2._episode = 8  # the next reset plays episode 9 of the script
    with SQLiteLoggerWrapper(env2, url, experiment="run", window_size=window) as env:
        stats = EpisodeStatsWrapper(env, window_size=window)
        stats.reset()
        assert env.tracker.episode_count == 9
        assert env.tracker.total_steps == 18
        assert env.tracker.resumed is not None and env.tracker.resumed.episodes == 9
        finals = []
        for _ in range(6):
            while True:
                _, _, terminated, truncated, info = stats.step(0)
                if terminated or truncated:
                    finals.append(info["episode"])
                    stats.reset()
                    break
    rows = read_episodes(url, "run")
    assert [r["episode_num"] for r in rows] == list(range(15))
    assert [r["total_steps"] for r in rows] == [2 * (i + 1) for i in range(15)]
    returns = _returns(15)
    assert [r["reward"] for r in rows] == returns
    for i, row in enumerate(rows):
        expected = _uninterrupted(returns[: i + 1], window)
        assert row["reward_moving_avg"] == expected.mean, i
        assert row["reward_moving_std"] == expected.std, i
    # info["episode"] of the resumed attempt continues too (same window in the stack)
    for k, episode in enumerate(finals):
        expected = _uninterrupted(returns[: 9 + k + 1], window)
        assert episode["r_mean"] == expected.mean
        assert episode["r_ema"] == pytest.approx(expected.ema_return, rel=1e-12)


def test_a_fresh_worker_of_an_existing_run_starts_at_zero(url: str) -> None:
    with SQLiteLoggerWrapper(ScriptedEnv(SCRIPT), url, experiment="run", worker=0) as env:
        play(env, 3)
    with SQLiteLoggerWrapper(ScriptedEnv(SCRIPT), url, experiment="run", worker=1) as env:
        env.reset()
        assert env.tracker.resumed is None and env.tracker.episode_count == 0
        play(env, 2)
    rows = read_episodes(url, "run")
    assert [(r["worker"], r["episode_num"], r["total_steps"]) for r in rows] == [
        (0, 0, 2),
        (0, 1, 4),
        (0, 2, 6),
        (1, 0, 2),
        (1, 1, 4),
    ]


def test_restore_after_episodes_is_refused() -> None:
    env = EpisodeStatsWrapper(ScriptedEnv(SCRIPT))
    play(env, 1)
    with pytest.raises(RuntimeError, match="has recorded 1 episode"):
        env.tracker.restore(ResumeState(episodes=3, total_steps=6))


# -- run-level statistics -------------------------------------------------------------
def _insert_run(path: Path, episodes: list[tuple[int, int, float, str]]) -> None:
    """Plain inserts: (worker, episode_num, reward, created_at)."""
    get_db_engine(path).dispose()
    with sqlite3.connect(path) as conn:
        conn.execute(
            "INSERT INTO experiment (id, agent, env, config, created_at, name, "
            "gymscope_version, stats_window, stats_alpha) "
            "VALUES (1, 'PPO', 'E', '{}', '2026-01-01 00:00:00', 'r', 'x', 3, 0.5)"
        )
        conn.executemany(
            "INSERT INTO episode (experiment_id, worker, episode_num, reward, length, "
            "created_at, entropy_loss, duration_s, terminated, truncated, total_steps) "
            "VALUES (1, ?, ?, ?, 1, ?, NULL, 0.0, 1, 0, 0)",
            episodes,
        )
    conn.close()


def test_ties_in_end_time_are_broken_by_worker_then_number(tmp_path: Path) -> None:
    same = "2026-01-01 00:00:01.000000"
    _insert_run(
        tmp_path / "m.db",
        [(1, 0, 10.0, same), (0, 0, 1.0, same), (0, 1, 2.0, "2026-01-01 00:00:02.000000")],
    )
    with MetricsReader(tmp_path / "m.db") as reader:
        run = reader.episodes("r")
        (summary,) = reader.runs(full=True)
    assert run.rewards.tolist() == [1.0, 10.0, 2.0]
    stats = run.run_stats()
    assert (stats.window_size, stats.alpha) == (3, 0.5)  # the run's stored parameters
    assert stats.moving_mean.tolist() == [1.0, 5.5, 13 / 3]
    assert stats.ema_return.tolist() == [1.0, 5.5, 3.75]
    assert summary.last_moving_avg == 13 / 3
    assert summary.best_moving_avg == 5.5
    assert summary.last_ema == 3.75


@pytest.mark.parametrize("workers", [2, 4])
def test_run_level_average_is_over_the_merged_sequence(tmp_path: Path, workers: int) -> None:
    """Workers at different return levels, interleaved unevenly: the run's "last
    avg" is the mean of the last `window` episodes of all of them."""
    db = tmp_path / "m.db"
    levels = [10.0 * (w + 1) for w in range(workers)]
    envs = [
        SQLiteLoggerWrapper(
            ScriptedEnv(((levels[w],),)), db, experiment="pool", worker=w, window_size=5
        )
        for w in range(workers)
    ]
    rng = np.random.default_rng(3)
    merged: list[float] = []
    for env in envs:
        env.reset()
    for _ in range(40):
        w = int(rng.integers(workers))
        envs[w].step(0)  # one-step episodes
        envs[w].reset()
        merged.append(levels[w])
    for env in envs:
        env.close()
    with MetricsReader(db) as reader:
        (summary,) = reader.runs(full=True)
        run = reader.episodes("pool")
    assert run.rewards.tolist() == merged
    assert summary.workers == workers
    assert summary.window_size == 5
    expected = run_statistics(merged, window_size=5, alpha=0.1)
    assert summary.last_moving_avg == pytest.approx(np.mean(merged[-5:]), rel=1e-12)
    assert summary.last_moving_avg == expected.last_moving_avg
    assert summary.best_moving_avg == pytest.approx(
        max(np.mean(merged[max(0, i - 4) : i + 1]) for i in range(40)), rel=1e-12
    )
    # each row keeps its own worker's moving average: a constant per worker
    for w, positions in run.by_worker().items():
        assert set(run.moving_avg[positions].tolist()) == {levels[w]}


# -- training metrics by step ----------------------------------------------------------
def test_log_metrics_with_a_step_is_stored_by_step(url: str) -> None:
    env = SQLiteLoggerWrapper(ScriptedEnv(SCRIPT), url, experiment="run")
    log = env.get_wrapper_attr("log_metrics")
    env.reset()
    log(step=0, lr=3e-4)
    env.step(0)
    log(step=np.int64(2), loss=0.5, lr=2e-4)
    log(loss=9.0)  # no step: only the episode mean
    env.step(0)
    log(step=5, loss=math.nan)
    env.close()
    with MetricsReader(url) as reader:
        metrics = reader.metrics("run")
        (summary,) = reader.runs()
    assert metrics.names == ["loss", "lr"] == list(summary.metrics)
    assert metrics["lr"].steps.tolist() == [0, 2]
    assert metrics["lr"].values.tolist() == [3e-4, 2e-4]
    loss = metrics["loss"]
    assert loss.steps.tolist() == [2, 5]
    assert loss.values[0] == 0.5 and math.isnan(loss.values[1])  # a reported NaN
    assert loss.workers.tolist() == [0, 0]
    # the episode's row has the means of what was reported during it (the NaN
    # came after its last step)
    (row,) = read_episodes(url, "run")
    assert row["extra"] == {"metrics": {"lr": pytest.approx(2.5e-4), "loss": 4.75}}


def test_log_metrics_step_reaches_every_sink_of_the_stack(tmp_path: Path) -> None:
    from tensorboard.backend.event_processing.event_accumulator import EventAccumulator

    env = TensorBoardWrapper(
        SQLiteLoggerWrapper(ScriptedEnv(SCRIPT), tmp_path / "m.db", experiment="run"),
        tmp_path / "tb",
    )
    env.reset()
    env.get_wrapper_attr("log_metrics")(step=7, value_loss=1.25)
    env.close()
    events = EventAccumulator(str(tmp_path / "tb"))
    events.Reload()
    assert [(e.step, e.value) for e in events.Scalars("train/value_loss")] == [(7, 1.25)]
    with MetricsReader(tmp_path / "m.db") as reader:
        assert reader.metrics("run")["value_loss"].steps.tolist() == [7]


@pytest.mark.parametrize(
    ("step", "error", "match"),
    [
        (-1, ValueError, "step must be"),
        (1.5, TypeError, "step must be an int"),
        ("3", TypeError, "step must be an int"),
    ],
)
def test_a_bad_step_is_refused(tmp_path: Path, step: Any, error: type, match: str) -> None:
    env = SQLiteLoggerWrapper(ScriptedEnv(SCRIPT), tmp_path / "m.db", experiment="run")
    env.reset()
    with pytest.raises(error, match=match):
        env.get_wrapper_attr("log_metrics")(step=step, loss=1.0)
    env.close()


def test_unreported_losses_stay_null(tmp_path: Path) -> None:
    db = tmp_path / "m.db"
    with SQLiteLoggerWrapper(ScriptedEnv(SCRIPT), db, experiment="run") as env:
        env.reset()
        env.get_wrapper_attr("log_metrics")(actor_loss=0.5)
        while not any(env.step(0)[2:4]):
            pass
        env.reset()
        while not any(env.step(0)[2:4]):
            pass
    rows = query(f"sqlite:///{db}", "SELECT actor_loss, critic_loss, entropy_loss FROM episode")
    assert rows == [(0.5, None, None), (None, None, None)]
    with MetricsReader(db) as reader:
        extras = reader.episodes("run").extras()
    assert list(extras) == ["actor_loss"]
    assert extras["actor_loss"][0] == 0.5 and math.isnan(extras["actor_loss"][1])


def test_velora_zero_entropy_beside_null_losses_reads_as_not_reported(tmp_path: Path) -> None:
    db = tmp_path / "m.db"
    _insert_run(db, [(0, 0, 1.0, "2026-01-01 00:00:01"), (0, 1, 2.0, "2026-01-01 00:00:02")])
    with sqlite3.connect(db) as conn:
        conn.execute("UPDATE episode SET entropy_loss = 0.0")
        conn.execute("UPDATE episode SET entropy_loss = 0.0, actor_loss = 0.5 WHERE id = 2")
    conn.close()
    with MetricsReader(db) as reader:
        run = reader.episodes("r")
    entropy = run.loss("entropy_loss")
    assert math.isnan(entropy[0])  # velora's default, nothing reported
    assert entropy[1] == 0.0  # beside a reported loss: a real zero


# -- config history --------------------------------------------------------------------
def test_a_changed_config_on_resume_is_kept_and_warned_about(
    url: str, caplog: pytest.LogCaptureFixture
) -> None:
    with SQLiteLoggerWrapper(ScriptedEnv(SCRIPT), url, experiment="run", config={"lr": 1}) as env:
        play(env, 1)
    with caplog.at_level(logging.WARNING, logger="gymscope"):
        with SQLiteLoggerWrapper(
            ScriptedEnv(SCRIPT), url, experiment="run", config={"lr": 1}
        ) as env:
            play(env, 1)  # the same config: nothing new, no warning
        assert "config" not in caplog.text
        with SQLiteLoggerWrapper(
            ScriptedEnv(SCRIPT), url, experiment="run", config={"lr": 2}
        ) as env:
            play(env, 1)
    assert 'started with config {"lr": 1}' in caplog.text
    assert 'config {"lr": 2} differs' in caplog.text
    with MetricsReader(url) as reader:
        configs = reader.configs("run")
        info = reader.experiment("run")
    assert [c.value() for c in configs] == [{"lr": 1}, {"lr": 2}]
    assert [c.worker for c in configs] == [0, 0]
    assert configs[0].created_at is not None and configs[1].created_at is not None
    assert configs[0].created_at <= configs[1].created_at
    assert info.config_value() == {"lr": 1}  # velora's column keeps the first


def test_no_config_on_resume_is_not_a_change(url: str, caplog: pytest.LogCaptureFixture) -> None:
    with SQLiteLoggerWrapper(ScriptedEnv(SCRIPT), url, experiment="run", config={"a": 1}) as env:
        play(env, 1)
    with (
        caplog.at_level(logging.WARNING, logger="gymscope"),
        SQLiteLoggerWrapper(ScriptedEnv(SCRIPT), url, experiment="run") as env,
    ):
        play(env, 1)
    assert "config" not in caplog.text
    with MetricsReader(url) as reader:
        assert [c.value() for c in reader.configs("run")] == [{"a": 1}]


# -- run status ------------------------------------------------------------------------
def _dead_pid() -> int:
    proc = subprocess.Popen([sys.executable, "-c", "pass"])
    proc.wait()
    return proc.pid


def test_status_running_finished_crashed(tmp_path: Path) -> None:
    db = tmp_path / "m.db"
    env = SQLiteLoggerWrapper(ScriptedEnv(SCRIPT), db, experiment="run")
    play(env, 2)
    with MetricsReader(db) as reader:
        status = reader.status("run")
    assert status.state == "running" and status.running == (0,)
    assert status.last_activity is not None
    env.close()
    with MetricsReader(db) as reader:
        assert reader.status("run").state == "finished"
    engine = sa.create_engine(f"sqlite:///{db}")
    now = utcnow()
    with engine.begin() as conn:
        conn.execute(
            worker_lease.insert().values(
                experiment_id=1,
                worker=3,
                token="t3",
                host=socket.gethostname(),
                pid=_dead_pid(),
                claimed_at=now,
                heartbeat_at=now,
            )
        )
    with MetricsReader(db) as reader:
        status = reader.status("run")
    assert (status.state, status.crashed, status.running) == ("crashed", (3,), ())
    # a worker on another host: alive while its heartbeat is recent
    with engine.begin() as conn:
        conn.execute(
            worker_lease.insert().values(
                experiment_id=1,
                worker=4,
                token="t4",
                host="elsewhere",
                pid=1,
                claimed_at=now,
                heartbeat_at=now,
            )
        )
    with MetricsReader(db) as reader:
        status = reader.status("run")
    assert (status.state, status.running, status.crashed) == ("running", (4,), (3,))
    assert status.label == "running (1 crashed)"
    with engine.begin() as conn:
        old = now - dt.timedelta(hours=1)
        conn.execute(
            worker_lease.update().where(worker_lease.c.worker == 4).values(heartbeat_at=old)
        )
    engine.dispose()
    with MetricsReader(db) as reader:
        status = reader.status("run")
        (summary,) = reader.runs()
    assert (status.state, status.crashed) == ("crashed", (3, 4))
    assert summary.status == status


def test_heartbeat_is_refreshed_while_writing(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    import gymscope.metrics.writer as writer

    monkeypatch.setattr(writer, "HEARTBEAT_S", 0.0)
    db = tmp_path / "m.db"
    env = SQLiteLoggerWrapper(ScriptedEnv(SCRIPT), db, experiment="run")
    env.reset()
    (first,) = query(f"sqlite:///{db}", "SELECT heartbeat_at FROM gymscope_worker")
    play(env, 3)
    (later,) = query(f"sqlite:///{db}", "SELECT heartbeat_at FROM gymscope_worker")
    env.close()
    assert later[0] > first[0]


# -- schema upgrade ----------------------------------------------------------------------
def _version_1_file(path: Path) -> None:
    """A database as gymscope wrote it before schema version 2."""
    with SQLiteLoggerWrapper(ScriptedEnv(SCRIPT), path, experiment="old", config={"x": 1}) as env:
        play(env, 2)
    with sqlite3.connect(path) as conn:
        for table in ("gymscope_metric", "gymscope_config", "gymscope_text"):
            conn.execute(f"DROP TABLE {table}")
        conn.execute("ALTER TABLE experiment DROP COLUMN stats_window")
        conn.execute("ALTER TABLE experiment DROP COLUMN stats_alpha")
        conn.execute("ALTER TABLE gymscope_worker DROP COLUMN heartbeat_at")
        conn.execute("UPDATE episode SET entropy_loss = 0.0")  # what version 1 stored
        conn.execute("UPDATE gymscope_schema SET version = 1")
    conn.close()


def test_a_version_1_file_is_read_as_it_is(tmp_path: Path) -> None:
    db = tmp_path / "m.db"
    _version_1_file(db)
    before = db.read_bytes()
    with MetricsReader(db) as reader:
        (summary,) = reader.runs()
        assert len(reader.metrics("old")) == 0
        assert [c.value() for c in reader.configs("old")] == [{"x": 1}]
        assert reader.episodes("old").extras() == {}  # velora's 0.0: not reported
    assert summary.window_size == 100 and summary.status.state == "finished"
    assert db.read_bytes() == before


def test_a_version_1_file_is_upgraded_by_a_writer(tmp_path: Path) -> None:
    db = tmp_path / "m.db"
    _version_1_file(db)
    with SQLiteLoggerWrapper(ScriptedEnv(SCRIPT), db, experiment="old") as env:
        env.reset()
        assert env.tracker.episode_count == 2  # resumed across the upgrade
        env.get_wrapper_attr("log_metrics")(step=5, loss=1.0)
        play(env, 1)
    assert query(f"sqlite:///{db}", "SELECT version FROM gymscope_schema") == [(SCHEMA_VERSION,)]
    with MetricsReader(db) as reader:
        assert reader.metrics("old")["loss"].steps.tolist() == [5]
        assert list(reader.episodes("old").values["episode_num"]) == [0, 1, 2]
