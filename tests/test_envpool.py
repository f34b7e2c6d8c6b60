"""gymscope.vector on EnvPool's natively vectorised (C++) envs.

EnvPool's ``env_type="gymnasium"`` pools are gymnasium ``VectorEnv``\\ s
(``NEXT_STEP`` autoreset): the vector EpisodeStatsWrapper must give what
gymnasium's own vector ``RecordEpisodeStatistics`` gives on them, and the
vector SQLiteLoggerWrapper one row per episode per sub-env. Skipped when
envpool is not installed; CI runs these in its ``envpool`` integration tier
(``.ci/integration/envpool.txt``).
"""

from __future__ import annotations

import sqlite3
from contextlib import closing
from pathlib import Path
from types import ModuleType
from typing import Any

import numpy as np
import pytest
from gymnasium.vector import AutoresetMode
from gymnasium.wrappers.vector import RecordEpisodeStatistics

from gymscope.vector import EpisodeStatsWrapper, SQLiteLoggerWrapper

pytestmark = pytest.mark.integration(tier="envpool")

N_ENVS = 4


@pytest.fixture(scope="module")
def envpool() -> ModuleType:
    # Not at module level: a module-level skip would hide the integration mark.
    return pytest.importorskip("envpool")


def _pool(envpool: ModuleType, task: str, **kwargs: Any) -> Any:
    return envpool.make(task, env_type="gymnasium", num_envs=N_ENVS, seed=0, **kwargs)


@pytest.mark.filterwarnings("ignore:.*precision lowered:UserWarning")
@pytest.mark.parametrize(("task", "steps"), [("CartPole-v1", 400), ("Pendulum-v1", 450)])
def test_episode_stats_equal_gymnasiums_on_envpool(
    envpool: ModuleType, task: str, steps: int
) -> None:
    """gymnasium's RecordEpisodeStatistics inside writes info["episode"], ours on top
    writes info["gs"] from the same steps: same masks, same r and l, every step."""
    pool = _pool(envpool, task)
    assert pool.metadata["autoreset_mode"] is AutoresetMode.NEXT_STEP
    envs = EpisodeStatsWrapper(RecordEpisodeStatistics(pool), stats_key="gs", window_size=3)
    envs.reset()  # EnvPool is seeded by envpool.make
    rng = np.random.default_rng(0)
    space = envs.single_action_space
    returns: list[list[float]] = [[] for _ in range(N_ENVS)]
    ended = 0
    for _ in range(steps):
        if task == "CartPole-v1":
            actions: Any = rng.integers(0, 2, N_ENVS).astype(space.dtype)
        else:
            actions = rng.uniform(-2.0, 2.0, (N_ENVS, 1)).astype(space.dtype)
        _, _, terminated, truncated, infos = envs.step(actions)
        np.testing.assert_array_equal(infos["env_id"], np.arange(N_ENVS))
        done = terminated | truncated
        assert ("gs" in infos) == ("episode" in infos) == bool(done.any())
        if not done.any():
            continue
        theirs, ours = infos["episode"], infos["gs"]
        np.testing.assert_array_equal(infos["_gs"], infos["_episode"])
        np.testing.assert_array_equal(infos["_gs"], done)
        np.testing.assert_array_equal(ours["r"], theirs["r"])
        np.testing.assert_array_equal(ours["l"], theirs["l"])
        assert ours["r"].dtype == theirs["r"].dtype and ours["l"].dtype == theirs["l"].dtype
        for i in np.flatnonzero(done):
            ended += 1
            returns[i].append(float(ours["r"][i]))
            window = returns[i][-3:]
            assert ours["r_mean"][i] == pytest.approx(np.mean(window), rel=1e-12)
            assert ours["r_std"][i] == pytest.approx(np.std(window), rel=1e-9, abs=1e-12)
    assert ended >= 2 * N_ENVS
    assert list(envs.return_queue) == list(envs.env.return_queue)[-len(envs.return_queue) :]
    envs.close()


@pytest.mark.filterwarnings("ignore:.*precision lowered:UserWarning")
def test_sqlite_logger_rows_on_envpool(envpool: ModuleType, tmp_path: Path) -> None:
    db = tmp_path / "metrics.db"
    stats = EpisodeStatsWrapper(_pool(envpool, "CartPole-v1"))
    envs = SQLiteLoggerWrapper(stats, db, "envpool-cartpole")
    envs.reset()  # EnvPool is seeded by envpool.make
    rng = np.random.default_rng(1)
    seen: list[tuple[int, float, int]] = []
    for _ in range(300):
        _, _, _, _, infos = envs.step(rng.integers(0, 2, N_ENVS).astype(np.int32))
        if "episode" in infos:
            for i in np.flatnonzero(infos["_episode"]):
                seen.append(
                    (int(i), float(infos["episode"]["r"][i]), int(infos["episode"]["l"][i]))
                )
    envs.close()
    with closing(sqlite3.connect(db)) as conn:
        rows = conn.execute(
            "SELECT worker, episode_num, reward, length FROM episode ORDER BY id"
        ).fetchall()
    assert len(rows) == len(seen) > 20
    assert [(w, r, length) for w, _, r, length in rows] == seen
    for worker in range(N_ENVS):
        nums = [num for w, num, _, _ in rows if w == worker]
        assert nums == list(range(len(nums)))
