"""TensorBoardWrapper and export_experiment: event files read back with TensorBoard's reader."""

from __future__ import annotations

import gc
import math
import os
import pickle
import re
import sqlite3
import subprocess
import sys
import textwrap
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import gymnasium as gym
import numpy as np
import pytest
from tensorboard.backend.event_processing.event_accumulator import EventAccumulator

from gymscope.episode import NonFiniteRewardWarning
from gymscope.sinks.tensorboard import stat_tags
from gymscope.tensorboard import export_experiment
from gymscope.wrappers.sqlite_logger import SQLiteLoggerWrapper
from gymscope.wrappers.stats import EpisodeStatsWrapper
from gymscope.wrappers.tensorboard import TensorBoardWrapper
from stubs import ScriptedEnv, play
from stubs_db import VELORA_SCHEMA

SCRIPT = ((1.0, 2.0), (0.5, 0.5, 0.5, 0.5), (10.0,))  # returns 3, 2, 10; lengths 2, 4, 1
INSTALL = (
    'pip install "gymscope[tensorboard]" (from a clone: uv sync --extra tensorboard, '
    'or pip install ".[tensorboard]")'
)
LABEL_SKIPPED = r"info\['label'\] is a str, not a number"  # _logged_run captures a string

Scalars = dict[str, list[tuple[int, float]]]


def f32(x: float) -> float:
    """What an event file holds for ``x``: TensorBoard scalars are 32-bit floats."""
    return float(np.float32(x))


def event_files(folder: Path) -> list[Path]:
    return sorted(p for p in folder.iterdir() if "tfevents" in p.name)


def accumulator(folder: Path) -> EventAccumulator:
    acc = EventAccumulator(str(folder), size_guidance={"scalars": 0})  # 0: keep every value
    acc.Reload()
    return acc


def read_scalars(folder: Path) -> Scalars:
    """Every scalar of the run in ``folder``: tag -> [(step, value)], NaN kept."""
    acc = accumulator(folder)
    return {tag: [(e.step, e.value) for e in acc.Scalars(tag)] for tag in acc.Tags()["scalars"]}


def comparable(scalars: Scalars) -> dict[str, list[tuple[int, Any]]]:
    """NaN made equal to itself, for ``==`` between runs."""
    return {
        tag: [(step, "nan" if math.isnan(v) else v) for step, v in points]
        for tag, points in scalars.items()
    }


def values(scalars: Scalars, tag: str) -> list[float]:
    return [v for _, v in scalars[tag]]


def ema(xs: list[float], alpha: float) -> list[float]:
    """lerax's EMA, seeded with the first value, written out by hand."""
    out = [xs[0]]
    for x in xs[1:]:
        out.append(alpha * x + (1 - alpha) * out[-1])
    return out


def tensorboard(
    tmp_path: Path, script: Any = SCRIPT, **kwargs: Any
) -> TensorBoardWrapper[Any, Any]:
    kwargs.setdefault("logdir", tmp_path / "tb")
    return TensorBoardWrapper(ScriptedEnv(script), **kwargs)


@pytest.fixture
def namespaced_id() -> Iterator[str]:
    """A registered env id with a namespace, like ``ALE/Pong-v5``."""
    env_id = "GymscopeTest/Scripted-v0"
    gym.register(env_id, entry_point=ScriptedEnv, disable_env_checker=True)
    yield env_id
    del gym.registry[env_id]


# -- what is logged --------------------------------------------------------------------
def test_scalars_match_a_hand_computation(tmp_path: Path) -> None:
    with tensorboard(tmp_path, window_size=2, alpha=0.9) as env:
        play(env, 3)
        assert env.episodes_logged == 3
    scalars = read_scalars(tmp_path / "tb")

    assert sorted(scalars) == sorted(stat_tags(2, 0.9))
    for points in scalars.values():  # stepped by total env steps: 2, 2+4, 2+4+1
        assert [step for step, _ in points] == [2, 6, 7]
    returns, lengths = [3.0, 2.0, 10.0], [2.0, 4.0, 1.0]
    assert values(scalars, "episode/return") == returns
    assert values(scalars, "episode/length") == lengths
    # alpha=0.9: 3, 0.9*2 + 0.1*3 = 2.1, 0.9*10 + 0.1*2.1 = 9.21
    assert values(scalars, "episode/return_ema_0.9") == [f32(x) for x in ema(returns, 0.9)]
    assert values(scalars, "episode/return_ema_0.9") == [f32(3.0), f32(2.1), f32(9.21)]
    assert values(scalars, "episode/length_ema_0.9") == [f32(2.0), f32(3.8), f32(1.28)]
    # window 2: mean/std of [3], [3, 2], [2, 10]
    assert values(scalars, "episode/return_mean_2") == [3.0, 2.5, 6.0]
    assert values(scalars, "episode/return_std_2") == [0.0, 0.5, 4.0]


def test_default_alpha_and_window_are_the_stacks_0_1_and_100(tmp_path: Path) -> None:
    script = [[float(i)] * (i % 3 + 1) for i in range(1, 8)]
    with tensorboard(tmp_path, script=script) as env:
        play(env, 7)
    scalars = read_scalars(tmp_path / "tb")
    returns = [float(i * (i % 3 + 1)) for i in range(1, 8)]
    assert values(scalars, "episode/return_ema_0.1") == [f32(x) for x in ema(returns, 0.1)]
    assert values(scalars, "episode/return_mean_100") == [
        f32(np.mean(returns[: i + 1])) for i in range(7)
    ]


def test_one_event_per_episode_at_the_time_it_ended(tmp_path: Path) -> None:
    before = time.time()
    with tensorboard(tmp_path) as env:
        play(env, 3)
    after = time.time()
    assert len(event_files(tmp_path / "tb")) == 1
    acc = accumulator(tmp_path / "tb")
    walltimes = [e.wall_time for e in acc.Scalars("episode/return")]
    assert before <= walltimes[0] <= walltimes[1] <= walltimes[2] <= after
    for tag in stat_tags(100, 0.1):  # every tag of an episode shares its event
        assert [e.wall_time for e in acc.Scalars(tag)] == walltimes


def test_info_values_and_metrics(tmp_path: Path) -> None:
    final = {"score": np.float32(1.5), "flag": True, "one": np.array([7]), "name": "x"}
    env = TensorBoardWrapper(
        ScriptedEnv(SCRIPT, final_info=final),
        tmp_path / "tb",
        info_keys=("score", "flag", "one", "name", "absent"),
    )
    log_metrics = env.get_wrapper_attr("log_metrics")
    env.reset()
    rewards_seen = 0
    with pytest.warns(UserWarning, match=r"info\['name'\] is a str, not a number"):
        while rewards_seen < 2:
            _, _, terminated, truncated, _ = env.step(0)
            log_metrics(loss=1.0, learning_rate=3e-4)
            log_metrics(loss=2.0)
            if terminated or truncated:
                rewards_seen += 1
                env.reset()
    env.close()
    scalars = read_scalars(tmp_path / "tb")
    assert sorted(scalars) == sorted(
        [
            *stat_tags(100, 0.1),
            "info/score",
            "info/flag",
            "info/one",
            "episode_metrics/loss",
            "episode_metrics/learning_rate",
        ]
    )
    assert scalars["info/score"] == [(2, 1.5), (6, 1.5)]
    assert values(scalars, "info/flag") == [1.0, 1.0]
    assert values(scalars, "info/one") == [7.0, 7.0]
    assert values(scalars, "episode_metrics/loss") == [1.5, 1.5]  # the mean over the episode
    assert values(scalars, "episode_metrics/learning_rate") == [f32(3e-4)] * 2


def test_non_finite_values_are_logged_as_they_are(tmp_path: Path) -> None:
    script = ((1.0,), (math.nan,), (math.inf,), (2.0,))
    with tensorboard(tmp_path, script=script) as env, pytest.warns(NonFiniteRewardWarning):
        play(env, 4)
    returns = values(read_scalars(tmp_path / "tb"), "episode/return")
    assert returns[0] == 1.0 and math.isnan(returns[1]) and returns[2:] == [math.inf, 2.0]
    ema_values = values(read_scalars(tmp_path / "tb"), "episode/return_ema_0.1")
    # a non-finite return is the EMA for one episode; the next finite one restarts it
    assert ema_values[0] == 1.0 and math.isnan(ema_values[1]) and ema_values[2:] == [math.inf, 2.0]


# -- lifecycle -------------------------------------------------------------------------
def test_nothing_is_created_before_the_first_episode_ends(tmp_path: Path) -> None:
    env = tensorboard(tmp_path, logdir=tmp_path / "a" / "b")
    env.reset()
    env.step(0)  # an episode runs, none has ended
    env.close()
    assert not (tmp_path / "a").exists()
    default = TensorBoardWrapper(ScriptedEnv(SCRIPT))
    default.close()
    assert list(tmp_path.iterdir()) == []


def test_close_writes_everything_and_is_idempotent(tmp_path: Path) -> None:
    env = tensorboard(tmp_path, flush_secs=3600)
    play(env, 3)
    env.close()
    env.close()
    assert len(read_scalars(tmp_path / "tb")["episode/return"]) == 3
    assert len(event_files(tmp_path / "tb")) == 1


def test_an_episode_after_close_is_an_error(tmp_path: Path) -> None:
    inner = tensorboard(tmp_path)
    outer = EpisodeStatsWrapper(inner)
    outer.reset()
    inner.close()
    outer.step(0)
    with pytest.raises(RuntimeError, match=r"ended after TensorBoardWrapper.close\(\)"):
        outer.step(0)  # the episode's last step


def test_a_wrapper_dropped_without_close_writes_its_events(tmp_path: Path) -> None:
    env = tensorboard(tmp_path, flush_secs=3600)
    play(env, 3)
    del env
    gc.collect()
    assert len(read_scalars(tmp_path / "tb")["episode/return"]) == 3


@pytest.mark.slow
def test_interpreter_exit_writes_the_events(tmp_path: Path) -> None:
    script = textwrap.dedent(
        f"""
        import sys
        sys.path.insert(0, {str(Path(__file__).parent)!r})
        from stubs import ScriptedEnv, play
        from gymscope.wrappers.tensorboard import TensorBoardWrapper
        env = TensorBoardWrapper(ScriptedEnv(), {str(tmp_path / "tb")!r}, flush_secs=3600)
        play(env, 5)
        keep = env  # never closed: the exit handler must flush
        """
    )
    subprocess.run([sys.executable, "-c", script], check=True, timeout=120)
    assert len(read_scalars(tmp_path / "tb")["episode/return"]) == 5


def test_pickled_copy_opens_its_own_event_file(tmp_path: Path) -> None:
    env = tensorboard(tmp_path)
    play(env, 1)
    copy = pickle.loads(pickle.dumps(env))
    play(copy, 2)  # the copy continues from the pickled state: steps 6 and 7
    copy.close()
    env.close()
    files = event_files(tmp_path / "tb")
    assert len(files) == 2
    steps = sorted(step for step, _ in read_scalars(tmp_path / "tb")["episode/return"])
    assert steps == [2, 6, 7]


def test_pickling_before_any_episode(tmp_path: Path) -> None:
    env = tensorboard(tmp_path)
    copy = pickle.loads(pickle.dumps(env))
    env.close()
    play(copy, 1)
    copy.close()
    assert len(event_files(tmp_path / "tb")) == 1


def test_pickled_copy_of_a_default_logdir_gets_its_own_run(tmp_path: Path) -> None:
    env = TensorBoardWrapper(ScriptedEnv(SCRIPT))
    play(env, 1)
    copy = pickle.loads(pickle.dumps(env))
    play(copy, 1)
    env.close()
    copy.close()
    assert copy.logdir == env.logdir.with_name(env.logdir.name + "_2")
    assert len(event_files(env.logdir)) == len(event_files(copy.logdir)) == 1


@pytest.mark.slow
def test_async_vector_env_leaves_one_run_per_worker(tmp_path: Path) -> None:
    envs = gym.vector.AsyncVectorEnv(
        [lambda: TensorBoardWrapper(gym.make("CartPole-v1")) for _ in range(2)]
    )
    envs.reset(seed=0)
    envs.action_space.seed(0)  # unseeded, a worker's first episode could outlast the loop
    ended = np.zeros(2, dtype=int)
    while ended.min() < 2:
        _, _, terminated, truncated, _ = envs.step(envs.action_space.sample())
        ended += terminated | truncated
    envs.close()
    runs = sorted((tmp_path / "runs").iterdir())
    # two runs, none from the throwaway env AsyncVectorEnv builds in this process
    assert len(runs) == 2, [(r.name, sorted(p.name for p in r.rglob("*"))) for r in runs]
    assert all(re.fullmatch(r"CartPole-v1_\d{8}-\d{6}(_2)?", run.name) for run in runs)
    for run in runs:
        assert len(event_files(run)) == 1
        assert read_scalars(run)["episode/return"]


def test_rebuilt_from_its_spec(tmp_path: Path) -> None:
    env = TensorBoardWrapper(gym.make("CartPole-v1"), tmp_path / "tb", alpha=0.5, window_size=7)
    assert env.spec is not None
    rebuilt = gym.make(env.spec)
    assert isinstance(rebuilt, TensorBoardWrapper)
    assert rebuilt.logdir == env.logdir
    assert rebuilt.spec is not None and rebuilt.spec.additional_wrappers[-1].kwargs == {
        "logdir": os.fspath(tmp_path / "tb"),
        "alpha": 0.5,
        "window_size": 7,
        "info_keys": (),
        "flush_secs": 10.0,
    }
    env.close()
    rebuilt.close()


# -- default logdir --------------------------------------------------------------------
def test_default_logdir_is_runs_env_time(tmp_path: Path, namespaced_id: str) -> None:
    env = TensorBoardWrapper(gym.make(namespaced_id))
    assert env.logdir.parent == tmp_path / "runs"
    assert re.fullmatch(r"GymscopeTest_Scripted-v0_\d{8}-\d{6}", env.logdir.name)
    play(env, 1)
    env.close()
    (run,) = (tmp_path / "runs").iterdir()  # no GymscopeTest/ subfolder
    assert run == env.logdir
    assert len(event_files(run)) == 1


def test_default_logdir_without_a_spec_uses_the_class_name(tmp_path: Path) -> None:
    env = TensorBoardWrapper(ScriptedEnv(SCRIPT))
    assert re.fullmatch(r"ScriptedEnv_\d{8}-\d{6}", env.logdir.name)
    env.close()


def test_default_logdir_taken_gets_a_suffix(tmp_path: Path) -> None:
    first = TensorBoardWrapper(ScriptedEnv(SCRIPT))
    second = TensorBoardWrapper(ScriptedEnv(SCRIPT))
    planned = first.logdir
    # as if built in the same second
    second.tensorboard.planned = second.tensorboard._logdir = planned
    play(first, 1)
    play(second, 1)
    first.close()
    second.close()
    assert first.logdir == planned
    assert second.logdir == planned.with_name(planned.name + "_2")


def test_an_explicit_logdir_is_shared(tmp_path: Path) -> None:
    (tmp_path / "tb").mkdir()
    with tensorboard(tmp_path) as one, tensorboard(tmp_path) as two:
        play(one, 1)
        play(two, 1)
    assert one.logdir == two.logdir == tmp_path / "tb"
    assert len(event_files(tmp_path / "tb")) == 2  # never the same file name


def test_relative_logdir_is_fixed_at_construction(tmp_path: Path) -> None:
    env = TensorBoardWrapper(ScriptedEnv(SCRIPT), "tb")
    os.chdir(tmp_path.parent)  # the autouse fixture restores the working directory
    play(env, 1)
    env.close()
    assert env.logdir == tmp_path / "tb" and event_files(tmp_path / "tb")


# -- stacking --------------------------------------------------------------------------
@pytest.mark.parametrize("order", ["tensorboard-outside", "tensorboard-inside"])
def test_stacks_with_episode_stats_in_either_order(tmp_path: Path, order: str) -> None:
    with tensorboard(tmp_path, logdir=tmp_path / "alone") as env:
        play(env, 3)
    alone = read_scalars(tmp_path / "alone")

    inner: gym.Env[Any, Any] = ScriptedEnv(SCRIPT)
    if order == "tensorboard-outside":
        stacked: gym.Env[Any, Any] = TensorBoardWrapper(EpisodeStatsWrapper(inner), tmp_path / "s")
    else:
        stacked = EpisodeStatsWrapper(TensorBoardWrapper(inner, tmp_path / "s"))
    finals = play(stacked, 3)
    stacked.close()
    assert [info["episode"]["r"] for info in finals] == [3.0, 2.0, 10.0]
    assert read_scalars(tmp_path / "s") == alone  # every episode once, same steps


# -- export from the database ----------------------------------------------------------
def _logged_run(tmp_path: Path, script: Any, episodes: int) -> Path:
    """Record ``episodes`` into a database and, in the same stack, live into tmp/live."""
    db = tmp_path / "metrics.db"
    env = TensorBoardWrapper(
        SQLiteLoggerWrapper(
            ScriptedEnv(script, final_info={"score": 0.25, "label": "x"}),
            db,
            experiment="run/1",
            info_keys=("score", "label"),
        ),
        tmp_path / "live",
        info_keys=("score", "label"),
    )
    log_metrics = env.get_wrapper_attr("log_metrics")
    env.reset()
    done = 0
    with pytest.warns(UserWarning, match=LABEL_SKIPPED):
        while done < episodes:
            _, _, terminated, truncated, _ = env.step(0)
            log_metrics(actor_loss=0.1 * done, value_error=float(done))
            if terminated or truncated:
                done += 1
                env.reset()
    env.close()
    return db


def test_export_gives_the_same_scalars_as_the_live_wrapper(tmp_path: Path) -> None:
    db = _logged_run(tmp_path, SCRIPT, 7)
    with pytest.warns(UserWarning, match=LABEL_SKIPPED):
        run = export_experiment(db, "run/1", tmp_path / "exported")
    assert run == tmp_path / "exported" / "run_1"  # the name made file-safe
    assert len(event_files(run)) == 1
    live, exported = read_scalars(tmp_path / "live"), read_scalars(run)
    assert "episode_metrics/actor_loss" in live and "info/score" in live
    assert "episode_metrics/entropy_loss" not in exported  # never reported: not invented
    assert exported == live
    live_times = [e.wall_time for e in accumulator(tmp_path / "live").Scalars("episode/return")]
    exported_times = [e.wall_time for e in accumulator(run).Scalars("episode/return")]
    assert exported_times == pytest.approx(live_times, abs=1e-5)  # created_at: microseconds


def test_export_of_non_finite_returns_matches_too(tmp_path: Path) -> None:
    script = ((1.0, 2.0), (math.nan,), (math.inf, 1.0), (4.0,))
    with pytest.warns(NonFiniteRewardWarning):
        db = _logged_run(tmp_path, script, 6)
    with pytest.warns(UserWarning, match=LABEL_SKIPPED):
        run = export_experiment(db, 1, tmp_path / "exported", window_size=3)
    live = read_scalars(tmp_path / "live")
    exported = read_scalars(run)
    assert math.isnan(values(exported, "episode/return")[1])
    # the live wrapper used window 100: compare what does not depend on the window
    tags = ("episode/return", "episode/length", "episode/return_ema_0.1")
    for tag in (*tags, "episode_metrics/actor_loss"):
        assert comparable({tag: exported[tag]}) == comparable({tag: live[tag]})


def test_export_refuses_to_mix_with_an_earlier_conversion(tmp_path: Path) -> None:
    db = _logged_run(tmp_path, SCRIPT, 2)
    with pytest.warns(UserWarning, match=LABEL_SKIPPED):
        run = export_experiment(db, "run/1", tmp_path / "exported")
    with pytest.raises(FileExistsError, match="already holds TensorBoard event files"):
        export_experiment(db, "run/1", tmp_path / "exported")
    (run / "notes.txt").write_text("mine")
    with pytest.warns(UserWarning, match=LABEL_SKIPPED):
        export_experiment(db, "run/1", tmp_path / "exported", overwrite=True)
    assert len(event_files(run)) == 1 and (run / "notes.txt").exists()
    assert len(read_scalars(run)["episode/return"]) == 2


def test_export_errors(tmp_path: Path) -> None:
    db = _logged_run(tmp_path, SCRIPT, 1)
    with pytest.raises(LookupError, match="no experiment 'nope'"):
        export_experiment(db, "nope", tmp_path / "x")
    with pytest.raises(FileNotFoundError, match="no metrics database"):
        export_experiment(tmp_path / "missing.db", "run/1", tmp_path / "x")
    with pytest.raises(ValueError, match="alpha must be a float in"):
        export_experiment(db, "run/1", tmp_path / "x", alpha=2)
    (tmp_path / "file").write_text("")
    with pytest.raises(NotADirectoryError, match="logdir"):
        export_experiment(db, "run/1", tmp_path / "file" / "x")
    with sqlite3.connect(db) as conn:
        conn.execute(
            "INSERT INTO experiment (agent, env, config, created_at, name, gymscope_version) "
            "VALUES ('', 'CartPole-v1', '{}', '2024-05-01 10:00:00', 'empty', '0.1.0')"
        )
    conn.close()
    with pytest.raises(ValueError, match="has no episodes yet: nothing to convert"):
        export_experiment(db, "empty", tmp_path / "x")
    assert not (tmp_path / "x").exists()
    assert not (tmp_path / "missing.db").exists()


# -- the optional dependency -----------------------------------------------------------
def test_missing_tensorboardx_names_the_extra(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setitem(sys.modules, "tensorboardX", None)  # as if not installed
    with pytest.raises(gym.error.DependencyNotInstalled, match=re.escape(INSTALL)):
        TensorBoardWrapper(ScriptedEnv(SCRIPT), tmp_path / "tb")
    with pytest.raises(gym.error.DependencyNotInstalled, match=re.escape(INSTALL)):
        export_experiment(tmp_path / "metrics.db", 1, tmp_path / "tb")
    assert list(tmp_path.iterdir()) == []


def test_modules_do_not_import_tensorboardx() -> None:
    code = (
        "import sys, gymscope, gymscope.tensorboard, gymscope.wrappers.tensorboard\n"
        "print('tensorboardX' in sys.modules)"
    )
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    assert out.stdout.strip() == "False"


# -- bad input -------------------------------------------------------------------------
@pytest.mark.parametrize(
    ("kwargs", "error", "match"),
    [
        ({"alpha": 0}, ValueError, r"alpha must be a float in \(0, 1\]"),
        ({"alpha": 1.5}, ValueError, "alpha must be a float in"),
        ({"alpha": "0.9"}, TypeError, "alpha must be a float"),
        ({"alpha": True}, TypeError, "alpha must be a float"),
        ({"window_size": 0}, ValueError, "window_size must be an int >= 1"),
        ({"window_size": 2.5}, TypeError, "window_size must be an int"),
        ({"info_keys": "score"}, TypeError, r"write info_keys=\('score',\)"),
        ({"info_keys": [1]}, TypeError, "non-empty str keys"),
        ({"flush_secs": 0}, ValueError, "flush_secs must be a finite number of seconds > 0"),
        ({"flush_secs": math.inf}, ValueError, "flush_secs must be a finite"),
        ({"flush_secs": "10"}, TypeError, "flush_secs must be a finite number"),
        ({"logdir": 5}, TypeError, "logdir must be a str or path"),
        ({"logdir": b"tb"}, TypeError, "logdir must be a str or path"),
        ({"logdir": " "}, ValueError, "logdir must be a folder path"),
    ],
)
def test_bad_arguments(
    tmp_path: Path, kwargs: dict[str, Any], error: type[Exception], match: str
) -> None:
    kwargs.setdefault("logdir", tmp_path / "tb")
    with pytest.raises(error, match=match):
        TensorBoardWrapper(ScriptedEnv(SCRIPT), **kwargs)
    assert list(tmp_path.iterdir()) == []


def test_logdir_that_cannot_be_a_folder(tmp_path: Path) -> None:
    (tmp_path / "file").write_text("")
    for logdir in (tmp_path / "file", tmp_path / "file" / "run"):
        with pytest.raises(NotADirectoryError, match="not a directory; pass a folder path"):
            TensorBoardWrapper(ScriptedEnv(SCRIPT), logdir)


@pytest.mark.skipif(hasattr(os, "geteuid") and os.geteuid() == 0, reason="root writes anywhere")
def test_unwritable_logdir(tmp_path: Path) -> None:
    locked = tmp_path / "locked"
    locked.mkdir(mode=0o500)
    try:
        with pytest.raises(PermissionError, match="is not writable"):
            TensorBoardWrapper(ScriptedEnv(SCRIPT), locked / "run")
    finally:
        locked.chmod(0o700)


def test_not_an_env(tmp_path: Path) -> None:
    with pytest.raises(TypeError, match=r"env must be a gymnasium\.Env"):
        TensorBoardWrapper("CartPole-v1", tmp_path / "tb")  # type: ignore[arg-type]


def test_export_of_several_workers_steps_by_the_run_total(tmp_path: Path) -> None:
    db = tmp_path / "metrics.db"
    one = SQLiteLoggerWrapper(ScriptedEnv(((1.0, 1.0),)), db, experiment="shared")
    two = SQLiteLoggerWrapper(ScriptedEnv(((5.0,),)), db, experiment="shared")
    for _ in range(2):  # episodes end alternately: returns 2, 5, 2, 5
        play(one, 1)
        time.sleep(0.002)  # distinct created_at
        play(two, 1)
        time.sleep(0.002)
    one.close()
    two.close()
    scalars = read_scalars(export_experiment(db, "shared", tmp_path / "tb"))
    assert scalars["episode/return"] == [(2, 2.0), (3, 5.0), (5, 2.0), (6, 5.0)]


def test_export_of_a_velora_database(tmp_path: Path) -> None:
    db = tmp_path / "velora.db"
    with sqlite3.connect(db) as conn:
        conn.executescript(
            VELORA_SCHEMA
            + """
            INSERT INTO experiment VALUES (1, 'PPO', 'CartPole-v1', '{}', '2024-05-01 10:00:00');
            INSERT INTO episode VALUES
                (1, 1, 0, 10.0, 10, 0.1, 0.0, 0.5, 0.25, 0.0, '2024-05-01 10:00:01.000000'),
                (2, 1, 1, 20.0, 20, 0.3, 0.0, 0.5, 0.25, 0.0, '2024-05-01 10:00:02.500000');
            """
        )
    conn.close()
    run = export_experiment(db, 1, tmp_path / "tb")
    assert run.name == "experiment_1"  # velora runs have no name
    scalars = read_scalars(run)
    assert sorted(scalars) == sorted(
        [*stat_tags(100, 0.1), "episode_metrics/actor_loss", "episode_metrics/critic_loss"]
    )
    assert scalars["episode/return"] == [(10, 10.0), (30, 20.0)]
    # recomputed, not velora's zero-padded moving average
    assert values(scalars, "episode/return_mean_100") == [10.0, 15.0]
    assert values(scalars, "episode/return_ema_0.1") == [10.0, f32(0.1 * 20.0 + (1 - 0.1) * 10.0)]
    walltimes = [e.wall_time for e in accumulator(run).Scalars("episode/return")]
    assert walltimes == [1714557601.0, 1714557602.5]  # created_at, read as UTC
