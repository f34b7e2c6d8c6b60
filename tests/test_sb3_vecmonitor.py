"""gymscope.sb3.VecMonitor against SB3's own VecMonitor, and its database rows.

Skipped when stable-baselines3 (and torch) are not installed; CI runs these
in its ``sb3`` integration tier (``.ci/integration/sb3.txt``).
"""

from __future__ import annotations

import os
import sqlite3
import warnings
from collections.abc import Callable
from contextlib import closing
from functools import partial
from pathlib import Path
from types import ModuleType
from typing import Any

import gymnasium as gym
import numpy as np
import pytest

from gymscope import EpisodeStatsWrapper
from gymscope.errors import InvalidArgumentError, StatsKeyClashError

pytestmark = pytest.mark.integration(tier="sb3")

N_ENVS = 3


@pytest.fixture(scope="module")
def sb3() -> ModuleType:
    # Not at module level: a module-level skip would hide the integration mark.
    return pytest.importorskip("stable_baselines3")


def _cartpole(max_episode_steps: int | None = None) -> gym.Env[Any, Any]:
    return gym.make("CartPole-v1", max_episode_steps=max_episode_steps)


def _vec(kind: str, make: Callable[[], gym.Env[Any, Any]], n: int = N_ENVS) -> Any:
    from stable_baselines3.common.vec_env import DummyVecEnv, SubprocVecEnv

    cls = DummyVecEnv if kind == "dummy" else SubprocVecEnv
    venv = cls([make] * n)
    venv.seed(0)
    return venv


def _ours(venv: Any, **kwargs: Any) -> Any:
    import gymscope.sb3

    return gymscope.sb3.VecMonitor(venv, **kwargs)


@pytest.mark.parametrize("kind", ["dummy", "subproc"])
def test_step_by_step_equal_to_sb3_vecmonitor_and_single_env_stats(
    sb3: ModuleType, kind: str, tmp_path: Path
) -> None:
    """Same seeded envs, same actions: SB3's VecMonitor's r/l (and the dones, obs,
    rewards) at every step, and per sub-env the moving statistics of
    gymscope.EpisodeStatsWrapper on that sub-env alone."""
    from stable_baselines3.common.vec_env import VecMonitor as SB3VecMonitor

    # short time limits: truncations too, not only terminations
    make = partial(_cartpole, 30)
    theirs = SB3VecMonitor(_vec(kind, make))
    ours = _ours(_vec(kind, make), db=tmp_path / "m.db", experiment="eq", window_size=5)
    single = _vec("dummy", lambda: EpisodeStatsWrapper(make(), window_size=5))
    assert isinstance(ours, SB3VecMonitor)  # SB3 sees a monitored env
    rng = np.random.default_rng(0)
    try:
        obs = [env.reset() for env in (theirs, ours, single)]
        np.testing.assert_array_equal(obs[0], obs[1])
        episodes = truncations = 0
        for _ in range(400):
            actions = rng.integers(0, 2, N_ENVS)
            o1, r1, d1, i1 = theirs.step(actions)
            o2, r2, d2, i2 = ours.step(actions)
            _, _, d3, i3 = single.step(actions)
            np.testing.assert_array_equal(o1, o2)
            np.testing.assert_array_equal(r1, r2)
            np.testing.assert_array_equal(d1, d2)
            np.testing.assert_array_equal(d1, d3)
            for i in range(N_ENVS):
                assert ("episode" in i1[i]) == ("episode" in i2[i]) == bool(d1[i])
                if not d1[i]:
                    continue
                episodes += 1
                truncations += bool(i1[i]["TimeLimit.truncated"])
                a, b, c = i1[i]["episode"], i2[i]["episode"], i3[i]["episode"]
                assert b["r"] == float(a["r"]) and type(b["r"]) is float
                assert b["l"] == int(a["l"]) and type(b["l"]) is int
                # both: seconds since the wrapper was made (at the same wall time here)
                assert b["t"] + ours.t_start == pytest.approx(a["t"] + theirs.t_start, abs=0.1)
                for key in ("r_mean", "r_std", "r_ema", "l_ema"):
                    assert b[key] == c[key], key
                # the rest of SB3's info is kept (the last observation of the episode)
                np.testing.assert_array_equal(
                    i1[i]["terminal_observation"], i2[i]["terminal_observation"]
                )
        assert episodes > 30 and truncations > 0
        assert ours.episode_count == theirs.episode_count == episodes
    finally:
        for env in (theirs, ours, single):
            env.close()


def test_database_rows_are_the_infos_episodes(sb3: ModuleType, tmp_path: Path) -> None:
    db = tmp_path / "metrics.db"
    venv = _ours(
        _vec("dummy", partial(_cartpole, 40)),
        db=db,
        experiment="rows",
        agent="random",
        window_size=4,
        info_keywords=("TimeLimit.truncated",),
    )
    assert venv.workers == (0, 1, 2)
    seen: dict[int, list[dict[str, Any]]] = {i: [] for i in range(N_ENVS)}
    venv.reset()
    rng = np.random.default_rng(1)
    for _ in range(500):
        _, _, dones, infos = venv.step(rng.integers(0, 2, N_ENVS))
        for i in np.flatnonzero(dones):
            seen[int(i)].append(infos[i]["episode"])
    engine = venv.engine
    assert engine is not None and all(s._engine is engine for s in venv._db_sinks)
    venv.close()
    with closing(sqlite3.connect(db)) as conn:
        rows = conn.execute(
            "SELECT e.worker, e.episode_num, e.reward, e.length, e.reward_moving_avg, "
            "e.reward_moving_std, e.truncated, e.total_steps, json_extract(e.extra, "
            "'$.info.\"TimeLimit.truncated\"') FROM episode e JOIN experiment x "
            "ON x.id = e.experiment_id WHERE x.name = 'rows' AND x.agent = 'random' "
            "AND x.env = 'CartPole-v1' ORDER BY e.worker, e.episode_num"
        ).fetchall()
    assert len(rows) == sum(map(len, seen.values())) > 40
    for worker, episodes in seen.items():
        mine = [row for row in rows if row[0] == worker]
        assert [row[1] for row in mine] == list(range(len(episodes)))
        assert [row[2:6] for row in mine] == [
            (ep["r"], ep["l"], ep["r_mean"], ep["r_std"]) for ep in episodes
        ]
        assert [bool(row[6]) for row in mine] == [ep["TimeLimit.truncated"] for ep in episodes]
        assert [row[8] for row in mine] == [int(ep["TimeLimit.truncated"]) for ep in episodes]
        assert [row[7] for row in mine] == list(np.cumsum([ep["l"] for ep in episodes]))
    assert any(row[6] for row in rows) and not all(row[6] for row in rows)


def _db_fds(pid: int, db: Path) -> list[str]:
    """The files of ``db`` (and its -wal/-shm) process ``pid`` has open."""
    fd_dir = Path(f"/proc/{pid}/fd")
    out = []
    for fd in fd_dir.iterdir():
        try:
            target = os.readlink(fd)
        except OSError:
            continue
        if target.startswith(str(db)):
            out.append(target)
    return out


@pytest.mark.skipif(not Path("/proc/self/fd").is_dir(), reason="needs Linux's /proc")
def test_subproc_workers_have_no_database_connection(sb3: ModuleType, tmp_path: Path) -> None:
    """One engine in the main process (its pool holding the sub-envs' connections);
    the SubprocVecEnv workers never open the database file, nor load SQLAlchemy."""
    db = tmp_path / "metrics.db"
    venv = _ours(_vec("subproc", _cartpole), db=db, experiment="one-connection")
    subproc = venv.venv
    venv.reset()
    rng = np.random.default_rng(2)
    for _ in range(300):
        venv.step(rng.integers(0, 2, N_ENVS))
    assert venv.episode_count > 10
    engine = venv.engine
    assert all(sink._engine is engine for sink in venv._db_sinks)
    # one pool in this process: each sub-env's sink holds one of its connections
    assert engine.pool.checkedout() == N_ENVS and engine.pool.checkedin() == 0
    assert db.name in {Path(p).name for p in _db_fds(os.getpid(), db)}
    workers = [process.pid for process in subproc.processes]
    assert len(workers) == N_ENVS
    for pid in workers:
        assert _db_fds(pid, db) == [], pid
        # SQLAlchemy's compiled extensions load with it: none is mapped in a worker
        assert "sqlalchemy" not in Path(f"/proc/{pid}/maps").read_text(), pid
    assert "sqlalchemy" in Path(f"/proc/{os.getpid()}/maps").read_text()
    venv.close()
    with closing(sqlite3.connect(db)) as conn:
        workers_in_db = conn.execute("SELECT DISTINCT worker FROM episode ORDER BY 1").fetchall()
    assert workers_in_db == [(0,), (1,), (2,)]


def test_ppo_trains_through_it(sb3: ModuleType, tmp_path: Path) -> None:
    from stable_baselines3.common.env_util import make_vec_env

    db = tmp_path / "metrics.db"
    # make_vec_env puts SB3's Monitor in every sub-env: its info["episode"] is merged
    venv = _ours(make_vec_env("CartPole-v1", n_envs=2, seed=0), db=db, experiment="ppo")
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", DeprecationWarning)
        warnings.simplefilter("ignore", UserWarning)
        model = sb3.PPO("MlpPolicy", venv, n_steps=128, batch_size=64, seed=0, device="cpu")
        model.learn(total_timesteps=1_024)
    buffer = list(model.ep_info_buffer)
    assert len(buffer) > 20
    assert all({"r", "l", "t", "r_mean", "r_ema"} <= set(ep) for ep in buffer)
    venv.close()
    with closing(sqlite3.connect(db)) as conn:
        rows = conn.execute("SELECT reward, length FROM episode ORDER BY id").fetchall()
    # the buffer holds the latest episodes, in the order they ended (sub-env order
    # within a step), and so does the database (committed in that order)
    assert [(ep["r"], ep["l"]) for ep in buffer] == rows[-len(buffer) :]


class _WrongEpisode:
    """Makes a VecEnvWrapper that writes another episode's info["episode"]."""

    @staticmethod
    def wrap(venv: Any) -> Any:
        from stable_baselines3.common.vec_env import VecEnvWrapper

        class Wrong(VecEnvWrapper):  # type: ignore[misc]
            def reset(self) -> Any:
                return self.venv.reset()

            def step_wait(self) -> Any:
                obs, rewards, dones, infos = self.venv.step_wait()
                for i in np.flatnonzero(dones):
                    infos[i] = {**infos[i], "episode": {"r": -1.0, "l": 1, "t": 0.0}}
                return obs, rewards, dones, infos

        return Wrong(venv)


def _push_left(venv: Any, steps: int) -> None:
    for _ in range(steps):
        venv.step(np.zeros(venv.num_envs, dtype=np.int64))


def test_refuses_another_episode_in_info_and_merges_the_same(sb3: ModuleType) -> None:
    from stable_baselines3.common.vec_env import VecMonitor as SB3VecMonitor

    clash = _ours(_WrongEpisode.wrap(_vec("dummy", _cartpole, 1)))
    clash.reset()
    with pytest.raises(StatsKeyClashError, match="not this episode"):
        _push_left(clash, 600)
    clash.close()

    # SB3's own VecMonitor inside: its values (float32 r, int32 l) are kept, ours added
    same = _ours(SB3VecMonitor(_vec("dummy", _cartpole, 1)))
    same.reset()
    for _ in range(600):
        _, _, dones, infos = same.step(np.zeros(1, dtype=np.int64))
        if dones[0]:
            break
    episode = infos[0]["episode"]
    assert type(episode["r"]) is np.float32 and "r_mean" in episode
    assert episode["r_mean"] == float(episode["r"])
    same.close()


def test_bad_arguments(sb3: ModuleType, tmp_path: Path) -> None:
    from gymscope.errors import ArgumentTypeError

    with pytest.raises(ArgumentTypeError, match=r"gymscope\.vector\.EpisodeStatsWrapper"):
        _ours(gym.make_vec("CartPole-v1", num_envs=2))
    venv = _vec("dummy", _cartpole, 1)
    with pytest.raises(InvalidArgumentError, match="pass db= too"):
        _ours(venv, experiment="x")
    with pytest.raises(InvalidArgumentError, match="r_mean"):
        _ours(venv, info_keywords=("r_mean",))
    assert not (tmp_path / "m.db").exists()
    venv.close()


class _Collect:
    """A sink noting what it is given: its run's worker, each record, each metric."""

    def __init__(self) -> None:
        self.worker: int | None = None
        self.records: list[Any] = []
        self.metrics: list[tuple[int, dict[str, float]]] = []
        self.closed = False

    def open(self, run: Any) -> None:
        self.worker = run.worker

    def on_episode(self, record: Any, info: Any = None) -> None:
        self.records.append((record, dict(info["episode"])))

    def on_metrics(self, step: int, values: Any) -> None:
        self.metrics.append((step, dict(values)))

    def close(self) -> None:
        self.closed = True


def test_sinks_per_sub_env_and_metrics(sb3: ModuleType, tmp_path: Path) -> None:
    db = tmp_path / "metrics.db"
    collected = [_Collect() for _ in range(N_ENVS)]
    venv = _ours(
        _vec("dummy", _cartpole),
        db=db,
        experiment="sinks",
        sinks=lambda i: [collected[i]],
        worker_offset=10,
    )
    assert not db.exists()  # nothing is opened before the first reset()
    # the database names the run first: every sink of sub-env i reports its worker
    assert venv.workers == (10, 11, 12)
    assert [sink.worker for sink in collected] == [10, 11, 12]
    assert [run.experiment for run in venv.run_infos] == ["sinks"] * N_ENVS
    venv.reset()
    _push_left(venv, 100)
    venv.log_metrics(100, loss=0.5)
    venv.close()
    assert all(sink.closed for sink in collected)
    for sink in collected:
        # each sink gets its own sub-env's stream: episodes 0, 1, 2... with the
        # info["episode"] SB3 was handed
        assert [record.index for record, _ in sink.records] == list(range(len(sink.records)))
        assert len(sink.records) > 5
        for record, episode in sink.records:
            assert (record.episode_return, record.length) == (episode["r"], episode["l"])
            assert record.moving_mean == episode["r_mean"]
    # _vec seeded the VecEnv with 0: sub-env i's first episode has seed i (SB3's)
    assert [sink.records[0][0].seed for sink in collected] == [0, 1, 2]
    assert {record.seed for sink in collected for record, _ in sink.records[1:]} == {None}
    assert collected[0].metrics == [(100, {"loss": 0.5})]  # the learner's: sub-env 0 only
    assert collected[1].metrics == collected[2].metrics == []
    with closing(sqlite3.connect(db)) as conn:
        stored = conn.execute("SELECT worker, step, name, value FROM gymscope_metric").fetchall()
        workers = conn.execute("SELECT DISTINCT worker FROM episode ORDER BY 1").fetchall()
    assert stored == [(10, 100, "loss", 0.5)]
    assert workers == [(10,), (11,), (12,)]


def test_a_second_run_with_the_same_experiment_resumes_each_worker(
    sb3: ModuleType, tmp_path: Path
) -> None:
    db = tmp_path / "metrics.db"
    for _ in range(2):
        venv = _ours(_vec("dummy", _cartpole, 2), db=db, experiment="again", window_size=4)
        venv.reset()
        _push_left(venv, 60)
        venv.close()
    with closing(sqlite3.connect(db)) as conn:
        rows = conn.execute(
            "SELECT worker, episode_num, reward, reward_moving_avg FROM episode ORDER BY id"
        ).fetchall()
    for worker in (0, 1):
        mine = [row for row in rows if row[0] == worker]
        assert len(mine) > 10
        # one stream per worker across both runs: numbers go on, and so does the window
        assert [row[1] for row in mine] == list(range(len(mine)))
        returns = [row[2] for row in mine]
        means = [float(np.mean(returns[max(0, k - 3) : k + 1])) for k in range(len(mine))]
        assert [row[3] for row in mine] == pytest.approx(means, rel=1e-12)


@pytest.mark.integration(tier="sb3")
def test_a_server_that_cannot_be_reached_fails_at_the_first_reset(sb3: ModuleType) -> None:
    # building the VecMonitor connects to nothing; SB3's first reset (in learn())
    # opens the sinks, which name the URL, password hidden, and the fix
    pytest.importorskip("psycopg")
    from gymscope.errors import DatabaseUnreachableError
    from stubs_db import _free_port

    url = f"postgresql+psycopg://writer:s3cret@127.0.0.1:{_free_port()}/metrics"
    venv = _ours(_vec("dummy", _cartpole, 2), db=url, experiment="unreachable")
    with pytest.raises(DatabaseUnreachableError, match=r"writer:\*\*\*@127\.0\.0\.1") as caught:
        venv.reset()
    assert "s3cret" not in str(caught.value)
    venv.close()
