"""gymscope.sb3: SB3's own logger writes every value it dumps into the run.

The training tests run real SB3 (PPO, A2C) and compare the database with the
``progress.csv`` SB3 itself wrote. Integration tier ``sb3``
(``.ci/integration/sb3.txt``): skipped when SB3 is not installed, except by CI.
The last test (SB3 missing) runs everywhere.
"""

from __future__ import annotations

import math
import sys
import warnings
from collections.abc import Callable, Iterator
from pathlib import Path
from types import ModuleType
from typing import Any

import gymnasium as gym
import numpy as np
import pytest

import gymscope
from gymscope import EpisodeStatsWrapper, SQLiteLoggerWrapper
from gymscope.metrics.reader import MetricsReader
from stubs_db import query

integration = pytest.mark.integration(tier="sb3")


@pytest.fixture(scope="module")
def sb3() -> ModuleType:
    # Not at module level: a module-level skip would hide the integration mark.
    return pytest.importorskip("stable_baselines3")


@pytest.fixture
def quiet() -> Iterator[None]:
    with warnings.catch_warnings():
        # SB3/torch deprecation chatter is theirs, not ours
        warnings.simplefilter("ignore", DeprecationWarning)
        warnings.simplefilter("ignore", UserWarning)
        yield


def csv_points(path: Path) -> dict[tuple[str, int], float]:
    """Every (key, step) -> value of SB3's progress.csv, read with pandas; the step
    of a row is its ``time/total_timesteps``, the step SB3 dumps at."""
    import pandas

    frame = pandas.read_csv(path)
    points: dict[tuple[str, int], float] = {}
    for _, row in frame.iterrows():
        step = int(row["time/total_timesteps"])
        for key, value in row.items():
            if not pandas.isna(value):
                points[(str(key), step)] = float(value)
    return points


def db_points(db: Path, experiment: str) -> dict[tuple[str, int], float]:
    rows = query(
        f"sqlite:///{db}",
        "SELECT m.name, m.step, m.value, m.worker FROM gymscope_metric m "
        "JOIN experiment x ON x.id = m.experiment_id WHERE x.name = :name",
        name=experiment,
    )
    points = {(name, step): value for name, step, value, _ in rows}
    assert len(points) == len(rows)  # no (key, step) twice
    assert {worker for *_, worker in rows} == {None}  # the trainer
    return points


def assert_same_points(csv: dict[tuple[str, int], float], db: dict[tuple[str, int], float]) -> None:
    assert sorted(db) == sorted(csv)  # every point SB3 wrote, and nothing else
    for point, value in csv.items():
        stored = db[point]
        # SB3 writes str(value): exact for a float64, the shortest float32 text
        # for a float32, which reads back as the same float32.
        assert stored == value or np.float32(stored) == np.float32(value), (point, stored, value)


def cartpole(wrap: Callable[[gym.Env[Any, Any]], gym.Env[Any, Any]]) -> Callable[[], Any]:
    return lambda: wrap(gym.make("CartPole-v1"))


@integration
def test_ppo_every_value_in_sb3s_csv_is_in_the_run(
    sb3: ModuleType, quiet: None, tmp_path: Path
) -> None:
    from stable_baselines3.common.vec_env import DummyVecEnv

    db = tmp_path / "metrics.db"

    def stack(env: gym.Env[Any, Any]) -> gym.Env[Any, Any]:  # episodes into the same run
        return EpisodeStatsWrapper(SQLiteLoggerWrapper(env, db, "ppo-cartpole", agent="PPO"))

    vec = DummyVecEnv([cartpole(stack)] * 2)
    model = sb3.PPO("MlpPolicy", vec, n_steps=64, batch_size=64, n_epochs=2, seed=0, device="cpu")
    model.set_logger(
        gymscope.sb3.logger(db, "ppo-cartpole", formats=("csv",), folder=tmp_path / "sb3")
    )
    model.learn(total_timesteps=640)
    model.logger.close()  # SB3 leaves its CSV file open
    vec.close()

    csv, stored = csv_points(tmp_path / "sb3" / "progress.csv"), db_points(db, "ppo-cartpole")
    assert_same_points(csv, stored)
    keys = {key for key, _ in csv}
    assert {"train/value_loss", "train/approx_kl", "rollout/ep_rew_mean", "time/fps"} <= keys
    assert sorted({step for _, step in csv}) == [128 * i for i in range(1, 6)]
    # ... beside the episodes of the same run
    with MetricsReader(db) as reader:
        (run,) = reader.runs()
        assert (run.name, run.agent, run.env) == ("ppo-cartpole", "PPO", "CartPole-v1")
        assert run.episodes > 5
        assert reader.metrics("ppo-cartpole").names == sorted(keys)


@integration
def test_a2c_every_value_in_sb3s_csv_is_in_the_run(
    sb3: ModuleType, quiet: None, tmp_path: Path
) -> None:
    from stable_baselines3.common.monitor import Monitor
    from stable_baselines3.common.vec_env import DummyVecEnv

    db = tmp_path / "metrics.db"
    vec = DummyVecEnv([cartpole(Monitor)] * 2)
    model = sb3.A2C("MlpPolicy", vec, n_steps=8, seed=1, device="cpu")
    model.set_logger(
        gymscope.sb3.logger(
            db, "a2c", formats=("csv",), folder=tmp_path / "sb3", agent="A2C", config={"n": 8}
        )
    )
    model.learn(total_timesteps=1_600, log_interval=10)
    model.logger.close()

    csv = csv_points(tmp_path / "sb3" / "progress.csv")
    assert_same_points(csv, db_points(db, "a2c"))
    assert len({step for _, step in csv}) == 10
    assert {"train/policy_loss", "train/entropy_loss", "rollout/ep_len_mean"} <= {
        key for key, _ in csv
    }
    assert query(f"sqlite:///{db}", "SELECT agent, config FROM experiment") == [("A2C", '{"n": 8}')]


@integration
def test_exclusions_texts_hparams_and_other_values(sb3: ModuleType, tmp_path: Path) -> None:
    from stable_baselines3.common.logger import HParam

    db = tmp_path / "metrics.db"
    made = gymscope.sb3.logger(db, "recorded", formats=("csv",), folder=tmp_path / "sb3")
    made.record("a/number", np.float32(0.5))
    made.record("a/int", 3)
    made.record("a/flag", True)
    made.record("a/nan", math.nan)
    made.record("a/not_in_tb", 7, exclude="tensorboard")  # ours still stores it
    made.record("a/not_ours", 1.0, exclude="gymscope")
    made.record("a/not_ours_either", 2.0, exclude=("stdout", "gymscope"))
    made.record("a/text", "cosine schedule")
    hparam = HParam({"lr": 1e-3, "gamma": 0.99}, {"rollout/ep_rew_mean": 0})
    made.record("hparams", hparam, exclude="csv")  # SB3's CSV refuses an HParam
    made.record("a/array", np.zeros(3))
    with pytest.warns(UserWarning, match=r"'a/array' as a ndarray: .* leaves it out"):
        made.dump(step=100)
    made.record("a/array", np.zeros(3))  # warned once per key
    made.record("a/number", 0.25)
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        made.dump(step=200)
    made.close()

    with MetricsReader(db) as reader:
        metrics = reader.metrics("recorded")
        assert metrics.names == ["a/flag", "a/int", "a/nan", "a/not_in_tb", "a/number"]
        assert metrics["a/number"].steps.tolist() == [100, 200]
        assert metrics["a/number"].values.tolist() == [0.5, 0.25]
        assert metrics["a/flag"].values.tolist() == [1.0]
        assert math.isnan(metrics["a/nan"].values[0])
        assert [(t.tag, t.step, t.text) for t in reader.texts("recorded")] == [
            ("a/text", 100, "cosine schedule")
        ]
        assert [c.value() for c in reader.configs("recorded")] == [{"lr": 1e-3, "gamma": 0.99}]


@integration
def test_output_format_is_a_kvwriter_and_the_stdout_logger_makes_no_folder(
    sb3: ModuleType, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    from stable_baselines3.common.logger import HumanOutputFormat, KVWriter, Logger

    fmt = gymscope.sb3.RunOutputFormat(tmp_path / "m.db", "direct", format_name="db")
    assert isinstance(fmt, KVWriter) and isinstance(fmt, gymscope.sb3.RunOutputFormat)
    own = Logger(folder=None, output_formats=[fmt])  # SB3's Logger, built by hand
    own.record("x", 1.0, exclude="gymscope")  # another format's name: stored
    own.record("y", 2.0, exclude="db")
    own.dump(5)
    own.close()
    assert query(f"sqlite:///{tmp_path / 'm.db'}", "SELECT name, step FROM gymscope_metric") == [
        ("x", 5)
    ]

    monkeypatch.setenv("TMPDIR", str(tmp_path / "tmp"))
    (tmp_path / "tmp").mkdir()
    made = gymscope.sb3.logger(tmp_path / "m.db", "stdout")
    assert made.get_dir() is None and list((tmp_path / "tmp").iterdir()) == []
    assert [type(f) for f in made.output_formats[:-1]] == [HumanOutputFormat]
    made.close()
    with pytest.raises(ValueError, match=r"'gymscope', which is not one of SB3's formats"):
        gymscope.sb3.logger(tmp_path / "m.db", formats=("gymscope",))
    with pytest.raises(TypeError, match=r"single string 'csv'"):
        gymscope.sb3.logger(tmp_path / "m.db", formats="csv")  # type: ignore[arg-type]


def test_without_sb3_the_error_says_how_to_install_it(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    import gymscope.sb3

    monkeypatch.setitem(sys.modules, "stable_baselines3", None)  # as if not installed
    monkeypatch.setitem(sys.modules, "stable_baselines3.common", None)
    with pytest.raises(gym.error.DependencyNotInstalled, match="pip install stable-baselines3"):
        gymscope.sb3.logger(tmp_path / "m.db", "x")
    with pytest.raises(gym.error.DependencyNotInstalled, match="pip install stable-baselines3"):
        gymscope.sb3.RunOutputFormat(tmp_path / "m.db", "x")
    assert not (tmp_path / "m.db").exists()
