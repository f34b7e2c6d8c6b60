"""gymscope.metrics.queries: reading runs back without writing or creating anything."""

from __future__ import annotations

import datetime as dt
import math
import os
import sqlite3
from pathlib import Path
from typing import Any

import numpy as np
import pytest
import sqlalchemy as sa

from gymscope.metrics.queries import (
    DatabaseNotFoundError,
    ExperimentNotFoundError,
    MetricsReader,
    NotAMetricsDatabaseError,
    looks_like_database,
)
from gymscope.wrappers.sqlite_logger import SQLiteLoggerWrapper
from stubs import ScriptedEnv, play
from stubs_db import BACKENDS, SCRIPT, VELORA_SCHEMA, backend_url, script_episode

# -- fixtures ------------------------------------------------------------------------


def log_run(db: Any, name: str, episodes: int, **kwargs: Any) -> None:
    """``episodes`` episodes of :data:`SCRIPT` logged into experiment ``name``."""
    env = SQLiteLoggerWrapper(ScriptedEnv(SCRIPT), db, experiment=name, window_size=2, **kwargs)
    play(env, episodes)
    env.close()


@pytest.fixture
def db(tmp_path: Path) -> Path:
    """Two runs: 'alpha' (6 episodes, with config) and 'beta' (3 episodes)."""
    path = tmp_path / "metrics.db"
    log_run(path, "alpha", 6, agent="PPO", config={"lr": 0.001, "layers": [64, 64]})
    log_run(path, "beta", 3)
    return path


def velora_db(path: Path) -> Path:
    """A database as velora writes it: its columns only, no names."""
    with sqlite3.connect(path) as conn:
        conn.executescript(
            VELORA_SCHEMA
            + """
            INSERT INTO experiment VALUES
                (1, 'NeuroFlow', 'InvertedPendulum-v5', '{"buffer": 100}',
                 '2025-01-01 10:00:00.000000');
            """
        )
        conn.executemany(
            "INSERT INTO episode (experiment_id, episode_num, reward, length, reward_moving_avg,"
            " actor_loss, critic_loss, entropy_loss, created_at) VALUES (1, ?, ?, ?, ?, 0.5, NULL,"
            " 0.0, ?)",
            [
                (i, float(i), 10 + i, i / 2, f"2025-01-01 10:00:{10 + i:02d}.000000")
                for i in range(5)
            ],
        )
    conn.close()
    return path


# -- runs ----------------------------------------------------------------------------


def test_runs_summarise_every_experiment(db: Path) -> None:
    with MetricsReader(db) as reader:
        alpha, beta = reader.runs(full=True)
    returns = [script_episode(i)[0] for i in range(6)]
    lengths = [script_episode(i)[1] for i in range(6)]
    assert (alpha.id, alpha.name, alpha.env, alpha.agent) == (1, "alpha", "ScriptedEnv", "PPO")
    assert (alpha.episodes, alpha.steps, alpha.workers) == (6, sum(lengths), 1)
    moving = [np.mean(returns[max(0, i - 1) : i + 1]) for i in range(6)]  # window 2
    assert alpha.best_moving_avg == pytest.approx(max(moving))
    assert alpha.last_moving_avg == pytest.approx(moving[-1])
    assert alpha.started is not None and alpha.ended is not None
    assert alpha.started <= alpha.experiment.created_at  # type: ignore[operator]
    assert alpha.started.tzinfo is not None
    assert alpha.duration_s is not None and 0 <= alpha.duration_s < 60
    assert (beta.id, beta.name, beta.episodes, beta.agent) == (2, "beta", 3, "")


def test_a_run_without_episodes_has_empty_statistics(tmp_path: Path) -> None:
    db = tmp_path / "metrics.db"
    log_run(db, "alpha", 1)
    with sqlite3.connect(db) as conn:
        conn.execute(
            "INSERT INTO experiment (name, agent, env, config, created_at, gymscope_version)"
            " VALUES ('empty', '', 'X-v0', '{}', '2025-01-01 00:00:00.000000', '')"
        )
    conn.close()
    with MetricsReader(db) as reader:
        _, empty = reader.runs(full=True)
        episodes = reader.episodes("empty")
    assert (empty.episodes, empty.steps, empty.workers) == (0, 0, 0)
    assert empty.best_moving_avg is None and empty.last_moving_avg is None
    assert empty.started == dt.datetime(2025, 1, 1, tzinfo=dt.timezone.utc)
    assert empty.ended is None and empty.duration_s is None
    assert len(episodes) == 0 and episodes.rewards.size == 0 and episodes.workers == 0


# -- finding an experiment -----------------------------------------------------------


def test_experiments_by_id_name_and_digit_string(db: Path) -> None:
    with MetricsReader(db) as reader:
        assert reader.experiment(2).name == "beta"
        assert reader.experiment("alpha").id == 1
        assert reader.experiment("2").name == "beta"  # digits: an id first
        assert [x.name for x in reader.experiments()] == ["alpha", "beta"]
        assert reader.experiment("1").config_value() == {"lr": 0.001, "layers": [64, 64]}


def test_a_digit_name_is_found_when_no_id_matches(tmp_path: Path) -> None:
    db = tmp_path / "metrics.db"
    log_run(db, "42", 1)
    with MetricsReader(db) as reader:
        assert reader.experiment("42").id == 1
        assert reader.experiment("1").name == "42"


def test_unknown_experiment_names_close_matches(db: Path) -> None:
    with MetricsReader(db) as reader:
        with pytest.raises(ExperimentNotFoundError) as caught:
            reader.experiment("alpa")
        assert caught.value.close_matches == [(1, "alpha")]
        assert str(caught.value) == (
            "no experiment 'alpa' in the database; close matches: 1 ('alpha')"
        )
        with pytest.raises(ExperimentNotFoundError, match=r"close matches: 1 \('alpha'\)"):
            reader.experiment("ALPH")  # a substring, any case
        with pytest.raises(
            ExperimentNotFoundError,
            match=r"^no experiment 99 in the database; known \(id and name\): "
            r"1 \('alpha'\), 2 \('beta'\)$",
        ):
            reader.experiment(99)
        with pytest.raises(TypeError, match="experiment must be an experiment id"):
            reader.experiment(1.5)  # type: ignore[arg-type]


def test_long_listings_are_cut(tmp_path: Path) -> None:
    db = tmp_path / "metrics.db"
    for i in range(13):
        log_run(db, f"run{i}", 1)
    with MetricsReader(db) as reader, pytest.raises(ExperimentNotFoundError) as caught:
        reader.experiment("zzz")
    assert str(caught.value).endswith("10 ('run9'), ... (3 more)")


# -- episodes ------------------------------------------------------------------------


def test_episodes_in_order_with_every_column(db: Path) -> None:
    with MetricsReader(db) as reader:
        run = reader.episodes("alpha")
    assert len(run) == 6 and run.experiment.name == "alpha"
    assert run.values["episode_num"] == list(range(6))
    assert run.rewards.tolist() == [script_episode(i)[0] for i in range(6)]
    assert run.lengths.tolist() == [script_episode(i)[1] for i in range(6)]
    assert run.workers == 1
    ended = run.ended_at()
    assert all(e is not None and e.tzinfo is not None for e in ended)
    assert ended == sorted(ended)  # type: ignore[type-var]
    started = run.started_at()
    assert started is not None and started <= ended[0]  # type: ignore[operator]
    (first, *_) = run.records()
    assert first["experiment_id"] == 1 and first["episode_num"] == 0
    assert first["reward"] == 1.5 and first["terminated"] is True
    assert first["truncated"] is False and first["extra"] is None
    assert first["created_at"].endswith("+00:00")


def test_workers_are_merged_in_order_of_completion(tmp_path: Path) -> None:
    db = tmp_path / "metrics.db"
    first = SQLiteLoggerWrapper(ScriptedEnv(((1.0,),)), db, experiment="pool", worker=0)
    second = SQLiteLoggerWrapper(ScriptedEnv(((5.0,),)), db, experiment="pool", worker=1)
    play(first, 2)
    play(second, 2)
    play(first, 1)
    first.close()
    second.close()
    with MetricsReader(db) as reader:
        run = reader.episodes("pool")
        (summary,) = reader.runs(full=True)
    assert run.rewards.tolist() == [1.0, 1.0, 5.0, 5.0, 1.0]
    assert run.values["worker"] == [0, 0, 1, 1, 0]
    assert run.workers == 2 and summary.workers == 2
    # the run's moving average is over both workers' episodes, in the order they ended
    assert summary.last_moving_avg == pytest.approx(2.6)
    assert summary.best_moving_avg == pytest.approx(3.0)  # after the fourth: (1 + 1 + 5 + 5) / 4
    # each row keeps its own worker's moving average
    assert run.moving_avg.tolist() == [1.0, 1.0, 5.0, 5.0, 1.0]


def test_extras_gather_info_values_losses_and_metrics(tmp_path: Path) -> None:
    db = tmp_path / "metrics.db"
    env = SQLiteLoggerWrapper(
        ScriptedEnv(((1.0, 2.0),), final_info={"score": 0.5}),
        db,
        experiment="x",
        info_keys=("score",),
    )
    env.reset()
    for episode in range(3):
        done = False
        while not done:
            env.get_wrapper_attr("log_metrics")(actor_loss=float(episode), kl=0.1)
            _, _, terminated, truncated, _ = env.step(0)
            done = terminated or truncated
        env.reset()
    env.close()
    with MetricsReader(db) as reader:
        extras = reader.episodes("x").extras()
    assert list(extras) == ["score", "actor_loss", "kl"]
    assert extras["score"].tolist() == [0.5, 0.5, 0.5]
    assert extras["actor_loss"].tolist() == [0.0, 1.0, 2.0]
    assert np.allclose(extras["kl"], 0.1)


def test_returns_of_episode_across_runs(db: Path) -> None:
    with MetricsReader(db) as reader:
        assert reader.returns_of_episode(2) == [(1, 6.0), (2, 6.0)]
        assert reader.returns_of_episode(5) == [(1, 1.0)]
        assert reader.returns_of_episode(99) == []


# -- velora's database ---------------------------------------------------------------


def test_a_velora_database_reads_by_id(tmp_path: Path) -> None:
    db = velora_db(tmp_path / "velora.db")
    with MetricsReader(db) as reader:
        (run,) = reader.runs(full=True)
        episodes = reader.episodes(1)
        with pytest.raises(ExperimentNotFoundError, match=r"known \(id and name\): 1$"):
            reader.experiment("NeuroFlow")
    assert (run.name, run.experiment.label, run.env, run.agent) == (
        "",
        "experiment 1",
        "InvertedPendulum-v5",
        "NeuroFlow",
    )
    assert (run.episodes, run.steps, run.best_moving_avg, run.last_moving_avg) == (5, 60, 2.0, 2.0)
    assert run.duration_s == 14.0  # from the experiment row to the last episode's end
    assert episodes.values.keys() >= {"reward", "created_at"} and "worker" not in episodes.values
    assert episodes.workers == 1
    assert np.isnan(episodes.floats("duration_s")).all()
    assert list(episodes.extras()) == ["actor_loss"]


# -- opening: nothing is written or created --------------------------------------------


def test_a_missing_file_is_an_error_and_is_not_created(tmp_path: Path) -> None:
    with pytest.raises(DatabaseNotFoundError, match=r"no metrics database at '.*missing\.db'"):
        MetricsReader(tmp_path / "missing.db")
    with pytest.raises(FileNotFoundError):  # the standard type, for callers that catch it
        MetricsReader(f"sqlite:///{tmp_path}/missing.db")
    assert list(tmp_path.iterdir()) == []


@pytest.mark.parametrize(
    ("content", "message"),
    [
        (b"col1,col2\n1,2\n", "is not a SQLite database"),
        (b"", "has no 'experiment' and 'episode' tables: not a metrics database"),
    ],
)
def test_files_that_are_not_metrics_databases(tmp_path: Path, content: bytes, message: str) -> None:
    path = tmp_path / "data.db"
    path.write_bytes(content)
    with pytest.raises(NotAMetricsDatabaseError, match=message):
        MetricsReader(path)
    assert path.read_bytes() == content  # an empty file stays empty
    assert sorted(p.name for p in tmp_path.iterdir()) == ["data.db"]


def test_a_directory_or_foreign_tables_are_not_metrics_databases(tmp_path: Path) -> None:
    with pytest.raises(NotAMetricsDatabaseError, match="is a directory; give the database file"):
        MetricsReader(tmp_path)
    other = tmp_path / "other.db"
    with sqlite3.connect(other) as conn:
        conn.execute("CREATE TABLE episode (x)")
        conn.execute("CREATE TABLE experiment (y)")
    conn.close()
    with pytest.raises(NotAMetricsDatabaseError, match=r"lacks the velora columns"):
        MetricsReader(other)


def test_reading_changes_nothing_and_leaves_no_files(db: Path) -> None:
    before = db.read_bytes()
    with MetricsReader(db) as reader:
        reader.runs()
        reader.episodes("alpha")
        with reader.engine.connect() as conn, pytest.raises(sa.exc.OperationalError):
            conn.exec_driver_sql("DELETE FROM episode")  # query_only refuses writes
    assert db.read_bytes() == before
    assert sorted(p.name for p in db.parent.iterdir()) == ["metrics.db"]


def test_a_file_this_process_may_not_write_opens_read_only(
    db: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    # Root may write anything: pretend the file is read-only for this process.
    monkeypatch.setattr(os, "access", lambda *args, **kwargs: False)
    with MetricsReader(db) as reader:
        assert [r.name for r in reader.runs()] == ["alpha", "beta"]
        with reader.engine.connect() as conn, pytest.raises(sa.exc.OperationalError):
            conn.exec_driver_sql("DELETE FROM episode")


def test_an_engine_is_used_as_is_and_left_open(db: Path) -> None:
    engine = sa.create_engine(f"sqlite:///{db}")
    with MetricsReader(engine) as reader:
        assert len(reader.runs()) == 2
    with engine.connect() as conn:  # still usable
        assert conn.exec_driver_sql("SELECT COUNT(*) FROM episode").scalar_one() == 9
    engine.dispose()


def test_a_password_is_never_shown(tmp_path: Path) -> None:
    reader_url = "postgresql+psycopg://user:s3cret@127.0.0.1:1/metrics"
    with pytest.raises(sa.exc.OperationalError):
        MetricsReader(reader_url)
    from gymscope.metrics.queries import describe_target

    assert "s3cret" not in describe_target(reader_url)


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        ("metrics.db", True),
        ("runs/x.sqlite3", True),
        ("sqlite:///x", True),
        ("postgresql://h/db", True),
        ("1", False),
        ("CartPole-v1_PPO_20250101-120000_a1b2c3", False),
    ],
)
def test_looks_like_database(text: str, expected: bool) -> None:
    assert looks_like_database(text) is expected


def test_an_existing_file_looks_like_a_database(tmp_path: Path) -> None:
    (tmp_path / "runs").write_bytes(b"")
    assert looks_like_database(str(tmp_path / "runs"))


# -- both backends -------------------------------------------------------------------


@pytest.mark.parametrize("backend", BACKENDS)
def test_summaries_and_episodes_on_every_backend(backend: str, tmp_path: Path) -> None:
    url = backend_url(backend, tmp_path)
    log_run(url, "alpha", 5)
    log_run(url, "beta", 2)
    with MetricsReader(url) as reader:
        alpha, beta = reader.runs()
        run = reader.episodes("beta")
        pairs = reader.returns_of_episode(1)
    assert (alpha.episodes, alpha.steps) == (5, sum(script_episode(i)[1] for i in range(5)))
    assert alpha.last_moving_avg == pytest.approx((2.0 + 1.5) / 2)  # window 2
    assert beta.episodes == 2 and beta.ended is not None and beta.ended.tzinfo is not None
    assert run.rewards.tolist() == [1.5, 1.0]
    assert sorted(pairs) == [(1, 1.0), (2, 1.0)]
    assert all(not math.isnan(r) for _, r in pairs)
