"""The tracker sink's own logic, with no tracker installed: which keys and steps
an episode becomes, batching, failures, run ids kept in the database, push's
high-water marks, the vector wrapper's run-level records, argument checks and
the schema upgrade. A small in-test TrackerClient records what it is given
(the real trackers are tested end to end in tests/test_trackers_mlflow.py)."""

from __future__ import annotations

import importlib.util
import sqlite3
from collections.abc import Mapping
from pathlib import Path
from typing import Any, ClassVar

import gymnasium as gym
import numpy as np
import pytest

from gymscope.episode import RunInfo
from gymscope.state import AnalyticsState
from gymscope.trackers._client import TrackerClient, TrackerRunSpec
from gymscope.trackers.sink import TrackerFailedWarning, TrackerSink, run_name
from gymscope.wrappers.analytics import AnalyticsWrapper
from gymscope.wrappers.sqlite_logger import SQLiteLoggerWrapper
from stubs import ScriptedEnv, play

SCRIPT = ((1.0, 2.0), (3.0,), (0.5, 0.5, 0.5))


class Recorder:
    """A TrackerClient keeping every call; runs persist by id across instances
    (as a tracker's server does), so resuming and pushing can be checked."""

    backend = "memory"
    runs: ClassVar[dict[str, dict[str, Any]]] = {}

    def __init__(self) -> None:
        self.calls: list[tuple[Any, ...]] = []
        self.run: dict[str, Any] = {}

    def start(self, spec: TrackerRunSpec) -> str:
        self.calls.append(("start", spec))
        if spec.run_id is None:
            run_id = f"run-{len(Recorder.runs)}"
            Recorder.runs[run_id] = {"name": spec.name, "tags": spec.tags, "points": []}
        else:
            run_id = spec.run_id
        self.run = Recorder.runs[run_id]
        return run_id

    def log_config(self, config: Mapping[str, Any]) -> None:
        self.calls.append(("config", dict(config)))
        self.run["config"] = dict(config)

    def log(self, values: Mapping[str, float], *, step: int) -> None:
        self.calls.append(("log", step, dict(values)))
        self.run["points"].append((step, dict(values)))

    def flush(self) -> None:
        self.calls.append(("flush",))

    def log_video(self, path: Path, *, step: int, key: str, caption: str) -> None:
        self.calls.append(("video", path.name, step, key, caption))

    def finish(self) -> None:
        self.calls.append(("finish",))

    def series(self, key: str) -> list[tuple[int, float]]:
        """The points of ``key`` this client sent."""
        return [(c[1], c[2][key]) for c in self.calls if c[0] == "log" and key in c[2]]


class Broken(Recorder):
    def log(self, values: Mapping[str, float], *, step: int) -> None:
        raise ConnectionError("tracker unreachable")


def test_the_recorder_is_a_tracker_client() -> None:
    assert isinstance(Recorder(), TrackerClient)


# -- keys, values, steps ------------------------------------------------------------------
def test_an_episode_becomes_the_tensorboard_keys_at_env_steps() -> None:
    client = Recorder()
    env = AnalyticsWrapper(
        ScriptedEnv(SCRIPT, final_info={"score": 7, "name": "x"}),
        AnalyticsState("p", tags=["a"]),
        client,
        config={"lr": 0.5},
        agent="PPO",
        episodes=3,
        window_size=2,
        alpha=0.5,
        info_keys=["score", "name"],
    )
    env.get_wrapper_attr("log_metrics")(step=1, loss=2.0)
    play(env, 3)
    env.close()
    (start,) = [c for c in client.calls if c[0] == "start"]
    assert start[1].name == "PPO_ScriptedEnv_3ep" and start[1].tags == ("a",)
    assert ("config", {"lr": 0.5}) in client.calls
    logs = [c for c in client.calls if c[0] == "log"]
    assert [c[1] for c in logs] == [1, 2, 3, 6]  # in the order they came: the metric first
    first = logs[1][2]
    assert first == {
        "episode/return": 3.0,
        "episode/length": 2.0,
        "episode/return_ema_0.5": 3.0,
        "episode/length_ema_0.5": 2.0,
        "episode/return_mean_2": 3.0,
        "episode/return_std_2": 0.0,
        "info/score": 7.0,
    }  # "name" is not a number: left out
    assert client.series("episode/return_mean_2") == [(2, 3.0), (3, 3.0), (6, 2.25)]
    assert client.series("episode/return_ema_0.5") == [(2, 3.0), (3, 3.0), (6, 2.25)]
    assert client.series("train/loss") == [(1, 2.0)]
    assert client.calls[-1] == ("finish",)


def test_points_keep_the_order_they_came_in() -> None:
    client = Recorder()
    env = AnalyticsWrapper(ScriptedEnv(SCRIPT), AnalyticsState("p"), client)
    play(env, 1)
    env.get_wrapper_attr("log_metrics")(step=2, loss=1.0)
    play(env, 1)
    env.close()
    assert [c[1] for c in client.calls if c[0] == "log"] == [2, 2, 3]


def test_velora_names_where_the_state_leaves_them_open() -> None:
    state = AnalyticsState("p")
    assert run_name(state, "PPO", "Pong", 10).experiment_name == "PPO_Pong_10ep"
    assert run_name(state, "PPO", "Pong", 10).tags == ["PPO", "Pong"]
    assert run_name(state, "", "Pong", None).experiment_name == "Pong"
    assert run_name(state, "PPO", "Pong", None).experiment_name == "PPO_Pong"
    named = run_name(AnalyticsState("p", "mine", []), "PPO", "Pong", 1)
    assert (named.experiment_name, named.tags) == ("mine", [])


# -- batching -------------------------------------------------------------------------------
def test_points_are_sent_in_batches_of_flush_every_episodes() -> None:
    client = Recorder()
    env = AnalyticsWrapper(ScriptedEnv(SCRIPT), AnalyticsState("p"), client, flush_every=3)
    play(env, 2)
    assert client.calls == []  # nothing yet: not even the run
    play(env, 1)
    assert [c[0] for c in client.calls] == ["start", "log", "log", "log", "flush"]
    play(env, 4)
    assert [c[0] for c in client.calls].count("flush") == 2
    env.close()
    kinds = [c[0] for c in client.calls]
    assert kinds.count("log") == 7 and kinds[-2:] == ["flush", "finish"]


def test_a_batch_is_sent_when_flush_secs_have_passed() -> None:
    client = Recorder()
    env = AnalyticsWrapper(
        ScriptedEnv(SCRIPT), AnalyticsState("p"), client, flush_every=100, flush_secs=1e-9
    )
    play(env, 2)
    assert [c[0] for c in client.calls].count("flush") == 2
    env.close()


# -- failure --------------------------------------------------------------------------------
def test_a_failing_tracker_is_warned_about_once_and_not_called_again(tmp_path: Path) -> None:
    client = Broken()
    db = tmp_path / "m.db"
    env = AnalyticsWrapper(
        SQLiteLoggerWrapper(ScriptedEnv(SCRIPT), db, "run"),
        AnalyticsState("p"),
        client,
        flush_every=1,
    )
    with pytest.warns(TrackerFailedWarning, match=r"unreachable.*gymscope push DB run") as seen:
        play(env, 5)  # step() never raises
        env.close()
    assert len(seen) == 1
    # not sent anything again, but its run is still ended at close (best effort)
    assert [c[0] for c in client.calls] == ["start", "finish"]
    assert sqlite3.connect(db).execute("SELECT count(*) FROM episode").fetchone() == (5,)
    # the tracker holds nothing: the row says so, and push sends all five
    from gymscope.trackers.push import push_experiment

    again = Recorder()
    result = push_experiment(db, "run", again, AnalyticsState("p"))  # the same target
    assert result.episodes == 5 and result.run_id == env.tracker_run_id
    assert [s for s, _ in again.series("episode/return")] == [2, 3, 6, 8, 9]


def test_a_tracker_that_fails_to_start_is_warned_about_once() -> None:
    class NoStart(Recorder):
        def start(self, spec: TrackerRunSpec) -> str:
            raise OSError("no route to host")

    env = AnalyticsWrapper(ScriptedEnv(SCRIPT), AnalyticsState("p"), NoStart(), flush_every=1)
    with pytest.warns(TrackerFailedWarning, match="no route to host") as seen:
        play(env, 3)
        env.close()
    assert len(seen) == 1


# -- the database keeps the tracker run ------------------------------------------------------
def tracker_rows(db: Path) -> list[tuple[Any, ...]]:
    return (
        sqlite3.connect(db)
        .execute(
            "SELECT worker, backend, target, run_id, episodes, episode_step, metric_step "
            "FROM gymscope_tracker_run ORDER BY id"
        )
        .fetchall()
    )


def test_a_resumed_worker_continues_its_tracker_run_never_going_back(tmp_path: Path) -> None:
    db = tmp_path / "m.db"
    first = Recorder()
    env = AnalyticsWrapper(
        SQLiteLoggerWrapper(ScriptedEnv(SCRIPT), db, "r"), AnalyticsState("p"), first
    )
    env.get_wrapper_attr("log_metrics")(step=3, loss=1.0)
    play(env, 3)
    env.close()
    run_id = env.tracker_run_id
    assert tracker_rows(db) == [(0, "memory", "project=p", run_id, '{"0": 2}', 6, 3)]
    second = Recorder()
    env = AnalyticsWrapper(
        SQLiteLoggerWrapper(ScriptedEnv(SCRIPT), db, "r"), AnalyticsState("p"), second
    )
    play(env, 1)  # (metrics before the first reset would keep the database from resuming)
    env.get_wrapper_attr("log_metrics")(step=3, loss=9.0)  # held already: not sent again
    env.get_wrapper_attr("log_metrics")(step=9, loss=2.0)
    play(env, 1)
    env.close()
    (start,) = [c for c in second.calls if c[0] == "start"]
    assert start[1].run_id == env.tracker_run_id == run_id
    # the new env plays its script from the start: returns 3 and 3, lengths 2 and 1
    assert second.series("episode/return") == [(8, 3.0), (9, 3.0)]
    assert second.series("train/loss") == [(9, 2.0)]
    assert tracker_rows(db)[0][4:] == ('{"0": 4}', 9, 9)


# -- push ------------------------------------------------------------------------------------
def test_push_is_idempotent_and_incremental(tmp_path: Path) -> None:
    from gymscope.trackers.push import push_experiment

    db = tmp_path / "m.db"
    for worker in (0, 1):  # two workers: merged in the order their episodes ended
        with SQLiteLoggerWrapper(ScriptedEnv(SCRIPT), db, "two", worker=worker) as env:
            play(env, 2)
    first = Recorder()
    result = push_experiment(db, "two", first, AnalyticsState("p"))
    assert (result.episodes, result.kept) == (4, True)
    assert first.series("episode/return") == [(2, 3.0), (3, 3.0), (5, 3.0), (6, 3.0)]
    assert push_experiment(db, "two", Recorder(), AnalyticsState("p")).episodes == 0
    with SQLiteLoggerWrapper(ScriptedEnv(SCRIPT), db, "two", worker=1) as env:
        play(env, 1)
    third = Recorder()
    result = push_experiment(db, "two", third, AnalyticsState("p"))
    (start,) = [c for c in first.calls if c[0] == "start"]
    assert result.episodes == 1 and start[1].run_id is None
    assert next(c for c in third.calls if c[0] == "start")[1].run_id == result.run_id
    assert third.series("episode/return") == [(8, 3.0)]  # stepped on from 6
    assert tracker_rows(db) == [
        (None, "memory", "project=p", result.run_id, '{"0": 1, "1": 2}', 8, None)
    ]


def test_push_to_another_target_is_another_tracker_run(tmp_path: Path) -> None:
    from gymscope.trackers.push import push_experiment

    db = tmp_path / "m.db"
    with SQLiteLoggerWrapper(ScriptedEnv(SCRIPT), db, "r") as env:
        play(env, 2)
    a = push_experiment(db, "r", Recorder(), AnalyticsState("one"))
    b = push_experiment(db, "r", Recorder(), AnalyticsState("two"))
    assert a.run_id != b.run_id and a.episodes == b.episodes == 2


def test_push_of_a_read_only_database_says_nothing_was_kept(
    read_only_mount: tuple[Path, Any],
) -> None:
    from gymscope.trackers.push import push_experiment

    folder, freeze = read_only_mount
    db = folder / "m.db"
    with SQLiteLoggerWrapper(ScriptedEnv(SCRIPT), db, "r") as env:
        play(env, 2)
    freeze()
    client = Recorder()
    result = push_experiment(db, "r", client)
    assert (result.episodes, result.kept) == (2, False)  # pushed, but a second push cannot know
    assert client.series("episode/return") == [(2, 3.0), (3, 3.0)]


# -- the vector wrapper: one run --------------------------------------------------------------
def test_the_vector_wrapper_sends_run_level_records() -> None:
    from gymscope.vector.analytics import AnalyticsWrapper as VectorAnalytics

    client = Recorder()
    envs = gym.vector.SyncVectorEnv(
        [lambda: ScriptedEnv(((1.0, 1.0),)), lambda: ScriptedEnv(((5.0,),))]
    )
    envs = VectorAnalytics(envs, AnalyticsState("p"), client, window_size=2, alpha=0.5)
    envs.reset(seed=0)
    for _ in range(5):
        envs.step(np.zeros(2, dtype=np.int64))
    envs.log_metrics(step=10, loss=1.0)
    envs.close()
    assert client.series("episode/return") == [(2, 5.0), (4, 2.0), (6, 5.0), (10, 2.0), (10, 5.0)]
    assert client.series("episode/return_mean_2") == [
        (2, 5.0), (4, 3.5), (6, 3.5), (10, 3.5), (10, 3.5)
    ]  # fmt: skip
    assert client.series("train/loss") == [(10, 1.0)]
    assert [c[0] for c in client.calls].count("start") == 1


# -- arguments and dependencies ---------------------------------------------------------------
@pytest.mark.parametrize(
    ("backend", "extra", "sdk"),
    [("mlflow", "mlflow", "mlflow"), ("wandb", "wandb", "wandb"), ("comet", "comet", "comet_ml")],
)
def test_a_missing_sdk_names_the_extra(backend: str, extra: str, sdk: str) -> None:
    if importlib.util.find_spec(sdk) is not None:
        pytest.skip(f"{sdk} is installed here")
    with pytest.raises(
        gym.error.DependencyNotInstalled, match=rf'pip install "gymscope\[{extra}\]"'
    ):
        AnalyticsWrapper(ScriptedEnv(SCRIPT), AnalyticsState("p"), backend)


@pytest.mark.parametrize(
    ("kwargs", "error", "match"),
    [
        ({"backend": "neptune"}, ValueError, "backend must be one of"),
        ({"backend": object()}, TypeError, "TrackerClient"),
        ({"state": "p"}, TypeError, "state must be a gymscope.AnalyticsState"),
        ({"flush_every": 0}, ValueError, "flush_every"),
        ({"flush_secs": -1.0}, ValueError, "flush_secs"),
        ({"config": [1, 2]}, TypeError, "config must be a mapping"),
        ({"episodes": -1}, ValueError, "episodes"),
        ({"uri": ""}, ValueError, "uri must be a tracking URI"),
    ],
)
def test_bad_arguments_are_refused_when_the_wrapper_is_built(
    kwargs: dict[str, Any], error: type[Exception], match: str
) -> None:
    args: dict[str, Any] = {"state": AnalyticsState("p"), "backend": Recorder()}
    args.update(kwargs)
    with pytest.raises(error, match=match):
        AnalyticsWrapper(ScriptedEnv(SCRIPT), args.pop("state"), args.pop("backend"), **args)


@pytest.mark.parametrize(
    ("kwargs", "error", "match"),
    [
        ({"entity": ""}, ValueError, "entity"),
        ({"run_id": 3}, TypeError, "run_id"),
        ({"offline": "yes"}, TypeError, "offline must be True or False"),
        ({"directory": 3}, TypeError, "directory must be a str or path"),
        ({"directory": " "}, ValueError, "directory must be a folder path"),
    ],
)
def test_analytics_state_checks_the_tracker_fields(
    kwargs: dict[str, Any], error: type[Exception], match: str
) -> None:
    with pytest.raises(error, match=match):
        AnalyticsState("p", **kwargs)


def test_analytics_state_keeps_the_tracker_fields_when_resolved(tmp_path: Path) -> None:
    state = AnalyticsState("p", entity="me", run_id="abc", offline=True, directory=tmp_path)
    resolved = state.resolved("PPO", "Pong", 1)
    assert (resolved.entity, resolved.run_id, resolved.offline, resolved.directory) == (
        "me", "abc", True, tmp_path
    )  # fmt: skip


def test_a_sink_without_a_run_sends_at_close() -> None:
    client = Recorder()
    sink = TrackerSink(client, AnalyticsState("p"))
    sink.open(RunInfo())
    sink.on_metrics(5, {"lr": 0.1, "name": "x"})  # type: ignore[dict-item]
    sink.close()
    sink.close()  # idempotent
    assert client.series("train/lr") == [(5, 0.1)]
    assert [c[0] for c in client.calls].count("finish") == 1


# -- the schema upgrade --------------------------------------------------------------------------
@pytest.mark.parametrize("version", [1, 2])
def test_an_older_database_gets_the_tracker_table_in_place(tmp_path: Path, version: int) -> None:
    from gymscope.metrics import SCHEMA_VERSION, get_db_engine

    db = tmp_path / "m.db"
    with SQLiteLoggerWrapper(ScriptedEnv(SCRIPT), db, "old") as env:
        play(env, 2)
    with sqlite3.connect(db) as conn:
        conn.execute("DROP TABLE gymscope_tracker_run")
        if version == 1:
            for table in ("gymscope_metric", "gymscope_config", "gymscope_text"):
                conn.execute(f"DROP TABLE {table}")
        conn.execute("UPDATE gymscope_schema SET version = ?", (version,))
    conn.close()
    get_db_engine(db).dispose()
    with sqlite3.connect(db) as conn:
        assert conn.execute("SELECT version, compatible_from FROM gymscope_schema").fetchone() == (
            SCHEMA_VERSION, 1
        )  # fmt: skip
        columns = [row[1] for row in conn.execute("PRAGMA table_info(gymscope_tracker_run)")]
        assert conn.execute("SELECT count(*) FROM episode").fetchone() == (2,)
    conn.close()
    assert SCHEMA_VERSION == 3
    assert columns == [
        "id", "experiment_id", "worker", "backend", "target", "run_id", "episodes",
        "episode_step", "metric_step", "videos", "created_at", "updated_at",
    ]  # fmt: skip


# -- gymscope push, the command ------------------------------------------------------------------
def test_push_command_errors_are_one_line(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    from gymscope.cli import main

    db = tmp_path / "m.db"
    with SQLiteLoggerWrapper(ScriptedEnv(SCRIPT), db, "r") as env:
        play(env, 2)
    assert main(["push", str(db), "nope", "--to", "tensorboard", "--dir", str(tmp_path)]) == 1
    assert "no experiment 'nope'" in capsys.readouterr().err
    assert main(["push", str(db), "r", "--to", "tensorboard"]) == 1
    assert "--to tensorboard needs --dir DIR" in capsys.readouterr().err
    if importlib.util.find_spec("comet_ml") is None:
        assert main(["push", str(db), "r", "--to", "comet"]) == 1
        err = capsys.readouterr().err
        assert 'pip install "gymscope[comet]"' in err and err.count("\n") == 1
    assert main(["push", str(db), "r", "--to", "neptune"]) == 2  # a usage error
    assert "invalid choice: 'neptune'" in capsys.readouterr().err


def test_push_to_tensorboard_is_the_tensorboard_export(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    pytest.importorskip("tensorboardX")
    from gymscope.cli import main

    db = tmp_path / "m.db"
    with SQLiteLoggerWrapper(ScriptedEnv(SCRIPT), db, "r") as env:
        play(env, 2)
    assert main(["push", str(db), "r", "--to", "tensorboard", "--dir", str(tmp_path / "tb")]) == 0
    assert [
        p.name.startswith("events.out.tfevents.") for p in (tmp_path / "tb" / "r").iterdir()
    ] == [True]
    # a second push refuses to add a second copy of the run
    assert main(["push", str(db), "r", "--to", "tensorboard", "--dir", str(tmp_path / "tb")]) != 0
    assert "already holds TensorBoard event files" in capsys.readouterr().err
