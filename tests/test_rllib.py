"""gymscope.rllib, and gymscope stacks on a real Ray cluster (RLlib PPO, plain actors).

The integration tests (tier "ray": ray[rllib], PyTorch's CPU build and the
gymnasium RLlib pins) start one local Ray cluster of two nodes
(``ray.cluster_utils.Cluster``, one CPU each, as Ray's own tests do) for the
module, and place one env runner or actor on each node.
"""

from __future__ import annotations

import os
import pickle
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import gymnasium as gym
import pytest

import gymscope.rllib
from gymscope.errors import ArgumentTypeError, InvalidArgumentError
from gymscope.rllib import EnvCreator, TrainMetrics, result_metrics, worker_number
from stubs import load_script
from stubs_db import backend_url, query, read_episodes, sqlite_url

TESTS = Path(__file__).resolve().parent


class Context(dict[str, Any]):
    """What RLlib hands an env creator: the env_config dict plus its indices."""

    def __init__(self, worker_index: int, **env_config: Any) -> None:
        super().__init__(env_config)
        self.worker_index = worker_index
        self.vector_index = 0


# -- EnvCreator without Ray ------------------------------------------------------


def test_worker_numbers_count_the_sub_envs_of_each_env_runner(tmp_path: Path) -> None:
    creator = EnvCreator("CartPole-v1", tmp_path / "m.db", "run", num_envs_per_env_runner=2)
    # an env runner building its 2 sub-envs, then rebuilding them (RLlib's make_env again)
    built = [creator(Context(i)) for i in (1, 1, 2, 2, 1, 1)]
    assert [env.get_wrapper_attr("worker") for env in built] == [2, 3, 4, 5, 2, 3]
    for env in built:
        env.close()
    # each process (an unpickled copy) counts from its first env
    copy = pickle.loads(pickle.dumps(creator))
    env = copy(Context(1))
    assert env.get_wrapper_attr("worker") == 2
    env.close()
    assert worker_number(3, 1, 4) == 13


def test_env_creator_builds_the_stack_writes_the_run_and_wraps(tmp_path: Path) -> None:
    seen: list[int | None] = []

    def wrap(env: gym.Env[Any, Any], worker: int | None) -> gym.Env[Any, Any]:
        seen.append(worker)
        return gymscope.EpisodeStatsWrapper(env)

    creator = EnvCreator(
        lambda ctx: gym.make("CartPole-v1", max_episode_steps=ctx["steps"]),
        tmp_path / "m.db",
        "run",
        num_envs_per_env_runner=1,
        wrap=wrap,
    )
    env = creator(Context(3, steps=5))
    env.reset(seed=0)
    for _ in range(12):  # two episodes of exactly 5 steps (truncated), 2 steps into a third
        _, _, terminated, truncated, _ = env.step(0)
        if terminated or truncated:
            env.reset()
    env.close()
    assert seen == [3]
    rows = read_episodes(sqlite_url(tmp_path / "m.db"), "run")
    assert [(r["worker"], r["episode_num"], r["length"], r["truncated"]) for r in rows] == [
        (3, 0, 5, True),
        (3, 1, 5, True),
    ]
    assert query(sqlite_url(tmp_path / "m.db"), "SELECT agent FROM experiment") == [("RLlib",)]


def test_leased_workers_when_the_count_is_not_known(tmp_path: Path) -> None:
    creator = EnvCreator("CartPole-v1", tmp_path / "m.db", "run", num_envs_per_env_runner=None)
    envs = [creator(Context(1)) for _ in range(2)]
    for env in envs:
        env.reset(seed=1)
    assert sorted(env.get_wrapper_attr("worker") for env in envs) == [0, 1]
    for env in envs:
        env.close()


@pytest.mark.parametrize(
    ("kwargs", "error", "names"),
    [
        ({"make": 3}, ArgumentTypeError, "make"),
        ({"make": " "}, InvalidArgumentError, "make"),
        ({"experiment": None}, ArgumentTypeError, "experiment"),
        ({"num_envs_per_env_runner": 0}, InvalidArgumentError, "num_envs_per_env_runner"),
        ({"wrap": "no"}, ArgumentTypeError, "wrap"),
        ({"db": 7}, ArgumentTypeError, "db"),
        ({"window_size": 0}, InvalidArgumentError, "window_size"),
    ],
)
def test_bad_arguments_fail_at_construction(
    tmp_path: Path, kwargs: dict[str, Any], error: type[Exception], names: str
) -> None:
    arguments: dict[str, Any] = {"make": "CartPole-v1", "db": tmp_path / "m.db", "experiment": "r"}
    arguments.update(kwargs)
    with pytest.raises(error, match=names):
        EnvCreator(**arguments)


def test_result_metrics_flatten_the_numbers_of_a_training_result() -> None:
    import numpy as np

    result = {
        "learners": {"default_policy": {"total_loss": np.float64(1.5), "vf": np.array([2.0])}},
        "env_runners": {"num_episodes": np.int64(7), "hist": [1, 2], "name": "x"},
        "num_env_steps_sampled_lifetime": 400.0,
        "config": {"lr": 0.1},
        "done": False,
        "timestamp": 17,
    }
    assert result_metrics(result) == {
        "learners/default_policy/total_loss": 1.5,
        "learners/default_policy/vf": 2.0,
        "env_runners/num_episodes": 7.0,
        "num_env_steps_sampled_lifetime": 400.0,
    }


def test_train_metrics_log_at_the_env_steps_sampled(tmp_path: Path) -> None:
    callback = TrainMetrics(tmp_path / "m.db", "run", prefixes=["learners/"])
    for step, loss in ((200, 1.0), (400, 0.5)):
        callback(
            algorithm=None,
            metrics_logger=None,
            result={
                "num_env_steps_sampled_lifetime": float(step),
                "learners": {"default_policy": {"total_loss": loss}},
                "env_runners": {"episode_return_mean": 20.0},
            },
        )
    callback.close()
    rows = query(
        sqlite_url(tmp_path / "m.db"),
        "SELECT name, step, value, worker FROM gymscope_metric ORDER BY step",
    )
    assert rows == [
        ("learners/default_policy/total_loss", 200, 1.0, None),
        ("learners/default_policy/total_loss", 400, 0.5, None),
    ]


def test_import_gymscope_does_not_load_gymscope_rllib() -> None:
    probe = "import gymscope, sys; print('gymscope.rllib' in sys.modules, 'ray' in sys.modules)"
    out = subprocess.run([sys.executable, "-c", probe], capture_output=True, text=True, check=True)
    assert out.stdout.split() == ["False", "False"]


# -- on a Ray cluster of two nodes -----------------------------------------------------


@pytest.fixture(scope="module")
def cluster() -> Iterator[Any]:
    """Two Ray nodes of one CPU each on this machine; this process connected as driver."""
    pytest.importorskip("ray")
    import ray
    from ray.cluster_utils import Cluster

    # Ray's workers import this module's functions by name: put tests/ on their path.
    saved = os.environ.get("PYTHONPATH")
    os.environ["PYTHONPATH"] = os.pathsep.join(p for p in (str(TESTS), saved) if p)
    made = Cluster(
        initialize_head=True,
        head_node_args={"num_cpus": 1, "include_dashboard": False},
    )
    made.add_node(num_cpus=1)
    made.wait_for_nodes()
    ray.init(address=made.address, log_to_driver=False)
    try:
        yield made
    finally:
        ray.shutdown()
        made.shutdown()
        if saved is None:
            del os.environ["PYTHONPATH"]
        else:
            os.environ["PYTHONPATH"] = saved


@pytest.mark.integration(tier="ray")
def test_rllib_ppo_on_two_nodes_writes_every_reported_episode_once(
    cluster: Any, tmp_path: Path
) -> None:
    import ray

    url = backend_url("postgresql", tmp_path)
    result = load_script("examples/rllib_ppo.py").main(
        tmp_path, iterations=3, num_env_runners=2, num_envs_per_env_runner=2, db=url
    )
    rows = result["rows"]
    reported = result["episodes_reported"]
    print(
        f"RLlib PPO, 2 nodes, 2 env runners x 2 sub-envs: {reported} episodes reported, "
        f"{len(rows)} stored"
    )
    assert len(ray.nodes()) == 2
    assert reported > 0
    assert len(rows) == reported
    # each episode once: (worker, episode_num) unique, numbered 0, 1, ... per worker
    assert len({(w, n) for w, n, _, _ in rows}) == len(rows)
    assert {w for w, _, _, _ in rows} == {2, 3, 4, 5}  # env runners 1 and 2, 2 sub-envs each
    for worker in (2, 3, 4, 5):
        numbers = [n for w, n, _, _ in rows if w == worker]
        assert numbers == list(range(len(numbers)))
    assert all(reward == length for _, _, reward, length in rows)  # CartPole: +1 per step
    # one env runner on each node (Ray's GCS remembers the actors, stopped or not)
    runners = [
        actor["Address"]["NodeID"]
        for actor in ray._private.state.actors().values()
        if actor["ActorClassName"].endswith("SingleAgentEnvRunner")
    ]
    assert len(runners) == 2 and len(set(runners)) == 2
    # the trainer's metrics: one total_loss per iteration, at increasing env steps
    steps = [step for step, _ in result["losses"]]
    assert len(steps) == 3 and steps == sorted(steps) and steps[0] > 0


class RolloutWorker:
    """A plain Ray actor's body: its own gymscope stack, joining the run by name."""

    def __init__(self, url: str, experiment: str) -> None:
        env = gym.make("CartPole-v1")
        env = gymscope.SQLiteLoggerWrapper(env, url, experiment, agent="random", flush_every=1)
        self.env = gymscope.EpisodeStatsWrapper(env)

    def run(self, episodes: int, seed: int) -> dict[str, Any]:
        import ray

        self.env.action_space.seed(seed)
        self.env.reset(seed=seed)
        done: list[tuple[float, int]] = []
        while len(done) < episodes:
            _, _, terminated, truncated, info = self.env.step(self.env.action_space.sample())
            if terminated or truncated:
                done.append((float(info["episode"]["r"]), int(info["episode"]["l"])))
                self.env.reset()
        return {
            "worker": self.env.get_wrapper_attr("worker"),
            "episodes": done,
            "node": ray.get_runtime_context().get_node_id(),
        }

    def close(self) -> None:
        self.env.close()


@pytest.mark.integration(tier="ray")
def test_ray_actors_on_two_nodes_join_one_run(cluster: Any, tmp_path: Path) -> None:
    import ray

    url = backend_url("sqlite", tmp_path)  # both nodes are this machine: one SQLite file
    Actor = ray.remote(num_cpus=1)(RolloutWorker)
    actors = [Actor.remote(url, "ray-actors") for _ in range(2)]  # type: ignore[attr-defined]
    results = ray.get([a.run.remote(5, seed) for a, seed in zip(actors, (1, 2), strict=True)])
    ray.get([a.close.remote() for a in actors])
    print(
        f"plain Ray, 2 actors on {len({r['node'] for r in results})} nodes: "
        f"{sum(len(r['episodes']) for r in results)} episodes finished, "
        f"{len(read_episodes(url, 'ray-actors'))} stored"
    )
    assert len({r["node"] for r in results}) == 2
    assert sorted(r["worker"] for r in results) == [0, 1]  # leased: never the same number
    rows = read_episodes(url, "ray-actors")
    for r in results:
        mine = [(row["reward"], row["length"]) for row in rows if row["worker"] == r["worker"]]
        assert mine == r["episodes"]
    assert len(rows) == 10
