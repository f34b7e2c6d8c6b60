"""benchmarks/vector_overhead.py on tiny sizes, as data (no timing assertions)."""

from __future__ import annotations

import numpy as np
import pytest

from stubs import load_script

VECTOR = [
    "raw vector env",
    "gymnasium vector RecordEpisodeStatistics",
    "gymscope vector EpisodeStatsWrapper",
]
SYNC = [
    "raw SyncVectorEnv",
    "per-sub-env RecordEpisodeStatistics",
    "per-sub-env EpisodeStatsWrapper",
]


@pytest.mark.slow
def test_vector_overhead_figures(capsys: pytest.CaptureFixture[str]) -> None:
    bench = load_script("benchmarks/vector_overhead.py")
    results = bench.run(sizes=(1, 64), rounds=2, repeats=1, env_steps=128)
    envs = (bench.NOOP, bench.NOOP_LONG, bench.CARTPOLE)
    per_size = results[:-3]
    assert [r.name for r in per_size] == [
        f"{env}, num_envs={n}: {kind}"
        for env in envs
        for n in (1, 64)
        for kind in ("vector wrappers", "per-sub-env wrappers inside a SyncVectorEnv")
    ]
    for vector, sync in zip(per_size[::2], per_size[1::2], strict=True):
        n = vector.params["num_envs"]
        steps = max(10, 128 // n)
        assert vector.names() == VECTOR and sync.names() == SYNC
        assert (vector.reference, vector.baseline) == (VECTOR[1], VECTOR[0])
        assert (sync.reference, sync.baseline) == (SYNC[1], SYNC[0])
        for result in (vector, sync):
            assert result.params["steps"] == steps
            for figure in result.figures:
                assert figure.per_unit == "env-step" and figure.median_s > 0
                assert figure.rounds == 2 and figure.units == 2 * steps * n
        # tiny sizes on a noisy machine: an added cost can come out <= 0 (no ratio)
        assert vector.figure(VECTOR[1]).ratio_to_reference in (1.0, None)
        assert vector.figure(VECTOR[0]).added_s is None
        assert vector.figure(VECTOR[2]).added_s is not None
        (note,) = vector.notes
        assert note.startswith(vector.name.split(": ")[0])
        assert ("(target at 64 envs <= 0.5x: " in note) == (n == 64)
    for env, scaling in zip(envs, results[-3:], strict=True):
        assert scaling.name == f"{env}: added ns per env-step by num_envs"
        assert len(scaling.notes) == 5
        assert scaling.notes[0].startswith(f"  {VECTOR[1]}: 1: ")
        assert ", 64: " in scaling.notes[0]
    for result in results:
        bench.print_table(result)
    assert "gymscope vector EpisodeStatsWrapper " in capsys.readouterr().out


def test_noop_vector_env_ends_each_sub_env_every_25_steps_staggered() -> None:
    env = load_script("benchmarks/vector_overhead.py").NoOpVectorEnv(3)
    env.reset(seed=0)
    ends = np.array([env.step(None)[2] for _ in range(50)])
    for i in range(3):
        steps = (np.flatnonzero(ends[:, i]) + 1).tolist()
        assert steps == [25 - i, 50 - i]
    assert env.metadata["autoreset_mode"].name == "NEXT_STEP"


@pytest.mark.slow
def test_vector_stack_figures() -> None:
    bench = load_script("benchmarks/vector_stack.py")
    results = bench.run(num_envs=8, rounds=2, repeats=1, env_steps=160)
    assert [r.name for r in results] == [
        f"{env}, num_envs=8" for env in (bench.NOOP, bench.NOOP_LONG, bench.CARTPOLE)
    ]
    for result in results:
        assert result.names() == list(bench.CASES)
        assert result.reference == bench.RAW and result.baseline is None
        assert result.figure(bench.RAW).ratio_to_reference == 1.0
        for figure in result.figures:
            assert figure.per_unit == "env-step" and figure.median_s > 0
            assert figure.rounds == 2 and figure.units == 2 * 20 * 8
        (note,) = result.notes
        assert note.startswith(result.name) and "(target <= 1.10x: " in note
