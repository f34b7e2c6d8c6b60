"""gymscope.vector: parity with gymnasium's vector RecordEpisodeStatistics in every
autoreset mode, exact values on scripted envs, the DISABLED partial reset gymnasium
1.4 gets wrong, per-sub-env statistics equal to the single-env wrapper's, stacking,
sinks per sub-env (worker = sub-env index), pickling, argument errors."""

from __future__ import annotations

import math
import pickle
import subprocess
import sys
from collections.abc import Callable, Sequence
from typing import Any

import gymnasium as gym
import numpy as np
import numpy.typing as npt
import pytest
from gymnasium.vector import AsyncVectorEnv, AutoresetMode, SyncVectorEnv, VectorEnv
from gymnasium.wrappers.vector import RecordEpisodeStatistics
from hypothesis import given, settings
from hypothesis import strategies as st

import gymscope
from gymscope.episode import EpisodeRecord, NonFiniteRewardWarning, RunInfo, StatsConfig
from gymscope.errors import (
    ArgumentTypeError,
    InvalidArgumentError,
    OutputWriteError,
    RewardTypeError,
    StatsKeyClashError,
    UsageError,
)
from gymscope.sinks import Sink
from gymscope.vector import (
    EpisodeEnds,
    EpisodeStatsWrapper,
    VectorEpisodeTracker,
    VectorGymscopeWrapper,
    sub_env_info,
)
from stubs import ScriptedEnv

NEXT, SAME, DISABLED = AutoresetMode.NEXT_STEP, AutoresetMode.SAME_STEP, AutoresetMode.DISABLED

# gymnasium's own vector RecordEpisodeStatistics counts SAME_STEP episodes from
# 1.4 on; before, it counted them as NEXT_STEP ones (one step short after the
# first), so the step-by-step comparison with it holds from 1.4 only.
GYMNASIUM_STATS_KNOW_SAME_STEP = tuple(int(p) for p in gym.__version__.split(".")[:2]) >= (1, 4)


# -- envs --------------------------------------------------------------------------


class ScriptedVectorEnv(VectorEnv[Any, Any, Any]):
    """A native vector env that returns a script, row by row, whatever the mode.

    ``rewards[t]``, ``terminations[t]``, ``truncations[t]`` are step ``t``'s
    results; the wrapper must apply the autoreset mode's semantics itself.
    Like gymnasium's vector envs, ``reset`` pops ``options["reset_mask"]``.
    """

    def __init__(
        self,
        rewards: npt.ArrayLike,
        terminations: npt.ArrayLike,
        truncations: npt.ArrayLike | None = None,
        mode: AutoresetMode = NEXT,
        infos: Sequence[dict[str, Any]] | None = None,
    ) -> None:
        self.rewards = np.asarray(rewards, dtype=np.float64)
        self.terminations = np.asarray(terminations, dtype=np.bool_)
        self.truncations = (
            np.zeros_like(self.terminations)
            if truncations is None
            else np.asarray(truncations, dtype=np.bool_)
        )
        self.num_envs = self.rewards.shape[1]
        self.metadata = {"autoreset_mode": mode}
        self.single_observation_space = gym.spaces.Box(-1.0, 1.0, shape=(1,))
        self.observation_space = gym.vector.utils.batch_space(
            self.single_observation_space, self.num_envs
        )
        self.single_action_space = gym.spaces.Discrete(2)
        self.action_space = gym.vector.utils.batch_space(self.single_action_space, self.num_envs)
        self.infos = list(infos) if infos is not None else None
        self.t = 0
        self.reset_masks: list[Any] = []
        self._obs = np.zeros((self.num_envs, 1), dtype=np.float32)

    def reset(
        self, *, seed: Any = None, options: dict[str, Any] | None = None
    ) -> tuple[Any, dict[str, Any]]:
        if options is not None:
            self.reset_masks.append(options.pop("reset_mask", None))
        return self._obs, {}

    def step(self, actions: Any) -> tuple[Any, Any, Any, Any, dict[str, Any]]:
        t = self.t
        self.t += 1
        info = dict(self.infos[t]) if self.infos is not None else {}
        reward = self.rewards[t]
        return (
            self._obs,
            reward.copy() if isinstance(reward, np.ndarray) else reward,
            self.terminations[t].copy(),
            self.truncations[t].copy(),
            info,
        )


def make_cartpole() -> gym.Env[Any, Any]:
    return gym.make("CartPole-v1")


def sync_cartpole(mode: AutoresetMode, n: int = 4) -> VectorEnv[Any, Any, Any]:
    return SyncVectorEnv([make_cartpole] * n, autoreset_mode=mode)


def async_cartpole(
    mode: AutoresetMode, shared_memory: bool, n: int = 3
) -> VectorEnv[Any, Any, Any]:
    return AsyncVectorEnv(
        [make_cartpole] * n,
        shared_memory=shared_memory,
        autoreset_mode=mode,
        context="fork",
    )


def native_cartpole(n: int = 4) -> VectorEnv[Any, Any, Any]:
    return gym.make_vec("CartPole-v1", num_envs=n, vectorization_mode="vector_entry_point")


class Keep(Sink):
    """Keeps the records (and the info) it is given."""

    def __init__(self) -> None:
        self.records: list[EpisodeRecord] = []
        self.infos: list[Any] = []
        self.metrics: list[tuple[int, dict[str, float]]] = []
        self.closed = 0

    def on_episode(self, record: EpisodeRecord, info: Any = None) -> None:
        self.records.append(record)
        self.infos.append(info)

    def on_metrics(self, step: int, values: Any) -> None:
        self.metrics.append((step, dict(values)))

    def close(self) -> None:
        self.closed += 1


class Recording(VectorGymscopeWrapper):
    """A vector wrapper with one Keep sink per sub-env: what a later DB/video wrapper is."""

    def __init__(self, env: VectorEnv[Any, Any, Any], window_size: int = 100) -> None:
        self.kept = [Keep() for _ in range(env.num_envs)]
        self.ends: list[EpisodeEnds] = []
        super().__init__(
            env, lambda i: [self.kept[i]], stats=StatsConfig(window_size, 0.1), info_keys=()
        )

    def on_episodes(self, ends: EpisodeEnds, infos: Any) -> None:
        self.ends.append(ends)


# -- parity with gymnasium ----------------------------------------------------------

PARITY_CASES: dict[str, Callable[[], VectorEnv[Any, Any, Any]]] = {
    "sync-next": lambda: sync_cartpole(NEXT),
    "sync-same": lambda: sync_cartpole(SAME),
    "async-shm-next": lambda: async_cartpole(NEXT, True),
    "async-shm-same": lambda: async_cartpole(SAME, True),
    "async-noshm-next": lambda: async_cartpole(NEXT, False),
    "async-noshm-same": lambda: async_cartpole(SAME, False),
    "native-next": native_cartpole,
}


def drive_pair(
    make: Callable[[], VectorEnv[Any, Any, Any]], steps: int, seed: int = 7
) -> tuple[list[dict[str, Any]], list[dict[str, Any]], Any, Any]:
    """Step gymnasium's wrapper and gymscope's on identically seeded envs with the
    same seeded actions; return both infos of every step and the wrappers."""
    theirs = RecordEpisodeStatistics(make())
    ours = EpisodeStatsWrapper(make(), window_size=10)
    theirs.reset(seed=seed)
    ours.reset(seed=seed)
    theirs.action_space.seed(seed)
    a_infos, b_infos = [], []
    try:
        for _ in range(steps):
            actions = theirs.action_space.sample()
            a_infos.append(theirs.step(actions)[4])
            b_infos.append(ours.step(actions)[4])
    finally:
        theirs.close()
        ours.close()
    return a_infos, b_infos, theirs, ours


@pytest.mark.parametrize("case", list(PARITY_CASES))
def test_identical_to_gymnasium_step_by_step(case: str) -> None:
    if case.endswith("-same") and not GYMNASIUM_STATS_KNOW_SAME_STEP:
        pytest.skip(f"gymnasium {gym.__version__}'s RecordEpisodeStatistics miscounts SAME_STEP")
    a_infos, b_infos, theirs, ours = drive_pair(PARITY_CASES[case], 400)
    ended_steps = 0
    for step, (a, b) in enumerate(zip(a_infos, b_infos, strict=True)):
        assert ("episode" in a) == ("episode" in b), step
        assert ("_episode" in a) == ("_episode" in b), step
        if "episode" not in a:
            continue
        ended_steps += 1
        assert b["_episode"].dtype == np.bool_
        np.testing.assert_array_equal(b["_episode"], a["_episode"])
        for key in ("r", "l", "t"):
            assert b["episode"][key].dtype == a["episode"][key].dtype, (step, key)
            assert b["episode"][key].shape == a["episode"][key].shape
        np.testing.assert_array_equal(b["episode"]["r"], a["episode"]["r"])
        np.testing.assert_array_equal(b["episode"]["l"], a["episode"]["l"])
        t = b["episode"]["t"]
        np.testing.assert_array_equal(t, np.round(t, 6))
        np.testing.assert_array_equal(t[~b["_episode"]], 0.0)
        np.testing.assert_allclose(t, a["episode"]["t"], atol=0.05)
        for extra in ("r_mean", "r_std", "r_ema", "l_ema"):
            assert b["episode"][extra].shape == (ours.num_envs,)
            np.testing.assert_array_equal(b["episode"][extra][~b["_episode"]], 0.0)
    assert ended_steps > 30
    assert ours.episode_count == theirs.episode_count > 40
    assert list(ours.return_queue) == list(theirs.return_queue)
    assert list(ours.length_queue) == list(theirs.length_queue)
    assert len(ours.time_queue) == len(theirs.time_queue)


def test_same_step_statistics_sit_at_the_top_of_info_beside_final_info() -> None:
    a_infos, b_infos, _, _ = drive_pair(lambda: sync_cartpole(SAME, 2), 60)
    ended = [(a, b) for a, b in zip(a_infos, b_infos, strict=True) if "episode" in a]
    assert ended
    for a, b in ended:
        assert "final_info" in b and "episode" not in b["final_info"]
        assert "final_info" in a and "episode" not in a["final_info"]
        np.testing.assert_array_equal(b["_final_info"], b["_episode"])


# -- exact values on scripted envs --------------------------------------------------


def test_exact_values_from_scripted_sub_envs() -> None:
    envs = EpisodeStatsWrapper(
        SyncVectorEnv(
            [
                lambda: ScriptedEnv([(1.0, 2.0), (0.5, 0.5, 0.5)]),
                lambda: ScriptedEnv([(4.0, -1.0, 3.0)]),
            ]
        ),
        window_size=2,
        alpha=0.5,
    )
    envs.reset(seed=3)
    got = []
    for _ in range(10):
        *_, infos = envs.step(np.zeros(2, dtype=np.int64))
        got.append(
            {
                k: infos["episode"][k].tolist()
                for k in ("r", "l", "r_mean", "r_std", "r_ema", "l_ema")
            }
            | {"mask": infos["_episode"].tolist()}
            if "episode" in infos
            else None
        )
    # sub-env 0: steps 1-2 (r=3), 3 is its reset, 4-6 (r=1.5), 7 reset, 8-9 (r=3)
    # sub-env 1: steps 1-3 (r=6), 4 reset, 5-7 (r=6), 8 reset, 9-11
    assert got == [
        None,
        {"r": [3.0, 0.0], "l": [2, 0], "r_mean": [3.0, 0.0], "r_std": [0.0, 0.0],
         "r_ema": [3.0, 0.0], "l_ema": [2.0, 0.0], "mask": [True, False]},
        {"r": [0.0, 6.0], "l": [0, 3], "r_mean": [0.0, 6.0], "r_std": [0.0, 0.0],
         "r_ema": [0.0, 6.0], "l_ema": [0.0, 3.0], "mask": [False, True]},
        None,
        None,
        {"r": [1.5, 0.0], "l": [3, 0], "r_mean": [2.25, 0.0], "r_std": [0.75, 0.0],
         "r_ema": [2.25, 0.0], "l_ema": [2.5, 0.0], "mask": [True, False]},
        {"r": [0.0, 6.0], "l": [0, 3], "r_mean": [0.0, 6.0], "r_std": [0.0, 0.0],
         "r_ema": [0.0, 6.0], "l_ema": [0.0, 3.0], "mask": [False, True]},
        None,
        {"r": [3.0, 0.0], "l": [2, 0], "r_mean": [2.25, 0.0], "r_std": [0.75, 0.0],
         "r_ema": [2.625, 0.0], "l_ema": [2.25, 0.0], "mask": [True, False]},
        None,
    ]  # fmt: skip
    assert list(envs.return_queue) == [3.0, 6.0, 1.5, 6.0, 3.0]
    assert list(envs.length_queue) == [2, 3, 3, 3, 2]
    assert envs.episode_count == 5
    assert envs.episode_returns.tolist() == [0.0, 3.0]  # sub-env 1: 4.0 - 1.0 so far
    envs.close()


def test_next_step_reset_step_counts_neither_reward_nor_length() -> None:
    # the reset steps (1 and 3 for sub-env 0) report 100: a vector env that
    # returns a reward while resetting must not leak it into the next episode
    rewards = [[1.0, 1.0], [100.0, 1.0], [2.0, 1.0], [100.0, 1.0]]
    ends = [[True, False], [False, False], [True, False], [False, True]]
    theirs = RecordEpisodeStatistics(ScriptedVectorEnv(rewards, ends))
    ours = EpisodeStatsWrapper(ScriptedVectorEnv(rewards, ends))
    theirs.reset()
    ours.reset()
    results = []
    for _ in range(4):
        a, b = theirs.step(None)[4], ours.step(None)[4]
        if "episode" in b:
            results.append((b["episode"]["r"].tolist(), b["episode"]["l"].tolist()))
            np.testing.assert_array_equal(a["episode"]["r"], b["episode"]["r"])
            np.testing.assert_array_equal(a["episode"]["l"], b["episode"]["l"])
    assert results == [([1.0, 0.0], [1, 0]), ([2.0, 0.0], [1, 0]), ([0.0, 4.0], [0, 4])]


def test_same_step_counts_every_step_and_captures_final_info() -> None:
    envs = EpisodeStatsWrapper(
        SyncVectorEnv(
            [
                lambda: ScriptedEnv([(1.0, 2.0)], final_info={"score": 5}),
                lambda: ScriptedEnv([(3.0,)], final_info={"score": 9}),
            ],
            autoreset_mode=SAME,
        ),
        info_keys=("score",),
    )
    envs.reset()
    first, second = (
        envs.step(np.zeros(2, dtype=np.int64))[4],
        envs.step(np.zeros(2, dtype=np.int64))[4],
    )
    assert first["episode"]["r"].tolist() == [0.0, 3.0]
    assert first["episode"]["score"].tolist() == [None, 9]
    assert first["episode"]["_score"].tolist() == [False, True]
    assert second["episode"]["r"].tolist() == [3.0, 3.0]  # no step lost to a reset
    assert second["episode"]["l"].tolist() == [2, 1]
    assert second["episode"]["score"].tolist() == [5, 9]
    assert envs.episode_count == 3
    envs.close()


# -- DISABLED: partial resets --------------------------------------------------------


def disabled_sync() -> VectorEnv[Any, Any, Any]:
    return SyncVectorEnv(
        [lambda: ScriptedEnv([(1.0, 1.0)]), lambda: ScriptedEnv([(2.0, 2.0, 2.0)])],
        autoreset_mode=DISABLED,
    )


def run_with_partial_resets(envs: Any, steps: int) -> list[tuple[int, int, float, int]]:
    """(step, sub-env, r, l) of each episode, resetting only the sub-envs that ended."""
    envs.reset(seed=0)
    out = []
    for step in range(1, steps + 1):
        _, _, terminations, truncations, infos = envs.step(np.zeros(2, dtype=np.int64))
        if "episode" in infos:
            for i in np.flatnonzero(infos["_episode"]).tolist():
                out.append(
                    (step, i, float(infos["episode"]["r"][i]), int(infos["episode"]["l"][i]))
                )
        done = np.logical_or(terminations, truncations)
        if done.any():
            envs.reset(options={"reset_mask": done})
    return out


def test_disabled_partial_reset_only_restarts_the_masked_sub_envs() -> None:
    ours = run_with_partial_resets(EpisodeStatsWrapper(disabled_sync()), 6)
    # sub-env 0: 2-step episodes of return 2; sub-env 1: 3-step episodes of return 6
    assert ours == [(2, 0, 2.0, 2), (3, 1, 6.0, 3), (4, 0, 2.0, 2), (6, 0, 2.0, 2), (6, 1, 6.0, 3)]


def test_gymnasium_1_4_zeroes_every_sub_env_on_a_partial_reset() -> None:
    """The bug gymscope fixes: the vector env pops the mask before gymnasium's
    wrapper looks for it, so it restarts sub-env 1's episode too."""
    theirs = run_with_partial_resets(RecordEpisodeStatistics(disabled_sync()), 6)
    assert theirs[1] == (3, 1, 2.0, 1)  # really (3, 1, 6.0, 3)
    assert theirs != run_with_partial_resets(EpisodeStatsWrapper(disabled_sync()), 6)


def test_gymnasium_outside_gymscope_sees_the_mask_too() -> None:
    # gymscope hands the vector env a copy of options: the caller's dict, and
    # so a gymnasium wrapper outside, still holds the mask
    stack = RecordEpisodeStatistics(EpisodeStatsWrapper(disabled_sync()), stats_key="outer")
    options = {"reset_mask": np.array([True, False])}
    stack.reset()
    stack.env.reset(options=options)
    assert "reset_mask" in options


@pytest.mark.parametrize("shared_memory", [True, False])
def test_disabled_partial_reset_with_async_cartpole(shared_memory: bool) -> None:
    """Against a reference accounted by hand from the step results."""
    envs = EpisodeStatsWrapper(
        AsyncVectorEnv(
            [make_cartpole] * 3,
            autoreset_mode=DISABLED,
            shared_memory=shared_memory,
            context="fork",
        )
    )
    envs.reset(seed=5)
    envs.action_space.seed(5)
    running = [0.0] * 3
    length = [0] * 3
    checked = 0
    try:
        for _ in range(300):
            _, rewards, terminations, truncations, infos = envs.step(envs.action_space.sample())
            done = np.logical_or(terminations, truncations)
            for i in range(3):
                running[i] += float(rewards[i])
                length[i] += 1
            if done.any():
                for i in np.flatnonzero(done).tolist():
                    assert infos["episode"]["r"][i] == running[i]
                    assert infos["episode"]["l"][i] == length[i]
                    running[i], length[i] = 0.0, 0
                    checked += 1
                envs.reset(options={"reset_mask": done})
        assert checked > 10
        assert envs.episode_lengths.tolist() == length
    finally:
        envs.close()


def test_disabled_step_of_an_ended_sub_env_is_refused_by_gymnasium() -> None:
    envs = EpisodeStatsWrapper(disabled_sync())
    envs.reset()
    envs.step(np.zeros(2, dtype=np.int64))
    envs.step(np.zeros(2, dtype=np.int64))  # sub-env 0 ends
    with pytest.raises(AssertionError):
        envs.step(np.zeros(2, dtype=np.int64))


def test_disabled_step_of_an_ended_sub_env_follows_gymnasium_when_allowed() -> None:
    # a vector env that steps an ended, not reset sub-env anyway: that step is
    # not counted and an episode starts after it, as gymnasium's wrapper does
    rewards = [[1.0, 1.0], [5.0, 1.0], [2.0, 1.0], [3.0, 1.0]]
    ends = [[True, False], [False, False], [False, False], [True, True]]
    theirs = RecordEpisodeStatistics(ScriptedVectorEnv(rewards, ends, mode=DISABLED))
    ours = EpisodeStatsWrapper(ScriptedVectorEnv(rewards, ends, mode=DISABLED))
    theirs.reset()
    ours.reset()
    for _ in range(4):
        a, b = theirs.step(None)[4], ours.step(None)[4]
    np.testing.assert_array_equal(a["episode"]["r"], b["episode"]["r"])
    np.testing.assert_array_equal(a["episode"]["l"], b["episode"]["l"])
    assert b["episode"]["r"].tolist() == [5.0, 4.0]
    assert b["episode"]["l"].tolist() == [2, 4]


# -- property: any episode-end masks, every mode -------------------------------------


def reference_episodes(
    mode: AutoresetMode,
    rewards: npt.NDArray[np.float64],
    ends: npt.NDArray[np.bool_],
    resets: dict[int, npt.NDArray[np.bool_]],
) -> list[tuple[int, int, float, int]]:
    """(step, sub-env, return, length) of every episode, accounted one sub-env at a time."""
    steps, n = rewards.shape
    total, length, pending = [0.0] * n, [0] * n, [False] * n
    out = []
    for t in range(steps):
        if t in resets:
            for i in np.flatnonzero(resets[t]).tolist():
                total[i], length[i], pending[i] = 0.0, 0, False
        for i in range(n):
            if mode is not SAME and pending[i]:
                total[i], length[i] = 0.0, 0
            else:
                total[i] += float(rewards[t, i])
                length[i] += 1
            done = bool(ends[t, i])
            if done:
                out.append((t, i, total[i], length[i]))
                if mode is SAME:
                    total[i], length[i] = 0.0, 0
            if mode is not SAME:
                pending[i] = done
    return out


@st.composite
def scripts(draw: st.DrawFn) -> tuple[Any, ...]:
    n = draw(st.integers(1, 5))
    steps = draw(st.integers(1, 40))
    mode = draw(st.sampled_from(list(AutoresetMode)))
    rewards = np.array(
        draw(
            st.lists(
                st.lists(st.floats(-10, 10, allow_nan=False), min_size=n, max_size=n),
                min_size=steps,
                max_size=steps,
            )
        )
    )
    ends = np.array(
        draw(
            st.lists(
                st.lists(st.booleans(), min_size=n, max_size=n), min_size=steps, max_size=steps
            )
        )
    ).reshape(steps, n)
    truncs = ends & np.array(
        draw(st.lists(st.booleans(), min_size=steps * n, max_size=steps * n))
    ).reshape(steps, n)
    resets: dict[int, Any] = {}
    if mode is DISABLED:
        for t in range(1, steps):
            if draw(st.booleans()):
                resets[t] = np.array(draw(st.lists(st.booleans(), min_size=n, max_size=n)))
    return mode, rewards, ends, truncs, resets


@settings(max_examples=150, deadline=None)
@given(scripts())
def test_any_end_masks_match_a_per_sub_env_reference(script: tuple[Any, ...]) -> None:
    mode, rewards, ends, truncs, resets = script
    steps = rewards.shape[0]
    env = ScriptedVectorEnv(rewards, ends & ~truncs, truncs, mode=mode)
    recording = Recording(env, window_size=3)
    stats = EpisodeStatsWrapper(recording, window_size=3, alpha=0.25)
    stats.reset()
    got = []
    for t in range(steps):
        if t in resets:
            stats.reset(options={"reset_mask": resets[t]})
        infos = stats.step(None)[4]
        if "episode" in infos:
            np.testing.assert_array_equal(infos["_episode"], ends[t])
            for i in np.flatnonzero(infos["_episode"]).tolist():
                got.append((t, i, float(infos["episode"]["r"][i]), int(infos["episode"]["l"][i])))
        else:
            assert not ends[t].any()
    expected = reference_episodes(mode, rewards, ends, resets)
    assert got == expected
    # each sub-env's sink got its own stream, in order, with its own numbering
    for i, kept in enumerate(recording.kept):
        mine = [e for e in expected if e[1] == i]
        assert [(r.episode_return, r.length) for r in kept.records] == [(e[2], e[3]) for e in mine]
        assert [r.index for r in kept.records] == list(range(len(mine)))
        assert [r.truncated for r in kept.records] == [bool(truncs[e[0], i]) for e in mine]
        returns = [e[2] for e in mine]
        for k, record in enumerate(kept.records):
            window = returns[max(0, k - 2) : k + 1]
            assert math.isclose(record.moving_mean, float(np.mean(window)), abs_tol=1e-9)
            assert record.total_steps == sum(e[3] for e in mine[: k + 1])
    # within a step, sub-env order
    for ends_ in recording.ends:
        assert list(ends_.sub_envs) == sorted(ends_.sub_envs)


# -- per-sub-env statistics: exactly the single-env wrapper's ------------------------

SCRIPTS = (
    [(1.0, 2.5), (0.5, 0.5, 0.5), (3.0, -1.0, 2.0, 0.25)],
    [(10.0,), (0.1, 0.2), (7.5, 7.5, 7.5, 7.5, 7.5)],
    [(0.3, 0.3, 0.3), (-2.0,), (1e6, -1e6, 0.7)],
)


@pytest.mark.parametrize("mode", [NEXT, SAME])
@pytest.mark.parametrize("source", ["scripted", "cartpole"])
def test_per_sub_env_statistics_equal_the_single_env_wrapper(
    mode: AutoresetMode, source: str
) -> None:
    def make(i: int) -> Callable[[], gym.Env[Any, Any]]:
        def thunk() -> gym.Env[Any, Any]:
            inner = ScriptedEnv(SCRIPTS[i]) if source == "scripted" else make_cartpole()
            return gymscope.EpisodeStatsWrapper(inner, stats_key="single", window_size=4, alpha=0.3)

        return thunk

    envs = EpisodeStatsWrapper(
        SyncVectorEnv([make(i) for i in range(3)], autoreset_mode=mode), window_size=4, alpha=0.3
    )
    envs.reset(seed=11)
    envs.action_space.seed(11)
    compared = 0
    for _ in range(500):
        *_, infos = envs.step(envs.action_space.sample())
        if mode is SAME and "final_info" in infos:
            single, mask = infos["final_info"]["single"], infos["final_info"]["_single"]
        elif "single" in infos:
            single, mask = infos["single"], infos["_single"]
        else:
            assert "episode" not in infos
            continue
        np.testing.assert_array_equal(mask, infos["_episode"])
        for i in np.flatnonzero(mask).tolist():
            for key in ("r", "l", "r_mean", "r_std", "r_ema", "l_ema"):
                assert infos["episode"][key][i] == single[key][i], (key, i)
            compared += 1
    assert compared > 50
    envs.close()


# -- stacking, sinks per sub-env ------------------------------------------------------


def test_stacked_wrappers_share_one_tracker_and_get_each_episode_once() -> None:
    inner = Recording(native_cartpole(4))
    middle = EpisodeStatsWrapper(inner, stats_key="a")
    outer = Recording(EpisodeStatsWrapper(middle, stats_key="b", window_size=5))
    assert inner.tracker is middle.tracker is outer.tracker
    outer.reset(seed=2)
    outer.action_space.seed(2)
    seen_a = seen_b = 0
    for _ in range(200):
        *_, infos = outer.step(outer.action_space.sample())
        if "a" in infos:
            np.testing.assert_array_equal(infos["_a"], infos["_b"])
            np.testing.assert_array_equal(infos["a"]["r"], infos["b"]["r"])
            seen_a += int(infos["_a"].sum())
            seen_b += int(infos["_b"].sum())
    total = middle.tracker.episode_count
    assert total > 20 and seen_a == seen_b == total
    assert middle.episode_count == outer.env.episode_count == total  # type: ignore[attr-defined]
    for wrapper in (inner, outer):
        assert sum(len(k.records) for k in wrapper.kept) == total
        for i, kept in enumerate(wrapper.kept):
            assert [r.index for r in kept.records] == list(range(len(kept.records)))
            assert kept.run is not None and kept.run.worker == i
    # window 5 vs 100: each wrapper got records with its own statistics
    assert {r.window_size for k in outer.kept for r in k.records} == {100}
    outer.close()


def test_sinks_per_sub_env_get_their_worker_stream_and_final_info() -> None:
    envs = Recording(
        SyncVectorEnv(
            [lambda: ScriptedEnv([(1.0,)], final_info={"x": 1}), lambda: ScriptedEnv([(2.0, 2.0)])]
        )
    )
    envs.reset(seed=[4, 9])
    for _ in range(6):
        envs.step(np.zeros(2, dtype=np.int64))
    zero, one = envs.kept
    assert [(r.index, r.episode_return, r.total_steps) for r in zero.records] == [
        (0, 1.0, 1),
        (1, 1.0, 2),
        (2, 1.0, 3),
    ]
    assert [(r.index, r.episode_return, r.total_steps) for r in one.records] == [
        (0, 4.0, 2),
        (1, 4.0, 4),
    ]
    assert [r.seed for r in zero.records] == [4, None, None]  # autoresets: no seed
    assert [r.seed for r in one.records] == [9, None]
    assert zero.infos[0] == {"t": 1, "x": 1}  # the sub-env's own final info
    assert one.infos[0] == {"t": 2}
    assert [run.worker for run in envs.run_infos] == [0, 1]
    envs.log_metrics(step=10, loss=0.5)
    assert zero.metrics == [(10, {"loss": 0.5})]  # once, under worker 0
    assert one.metrics == []
    envs.close()
    envs.close()
    assert zero.closed == one.closed == 1


def test_a_failing_sink_does_not_stop_the_run_and_close_reports_it() -> None:
    class Full(Sink):
        def on_episode(self, record: EpisodeRecord, info: Any = None) -> None:
            raise OSError(28, "No space left on device")

    kept = Keep()
    envs = VectorGymscopeWrapper(
        SyncVectorEnv([lambda: ScriptedEnv([(1.0,)])] * 2),
        [[Full()], [kept]],
        stats=StatsConfig(),
    )
    envs.reset()
    with pytest.warns(RuntimeWarning, match="could not write episode 0"):
        for _ in range(3):
            envs.step(np.zeros(2, dtype=np.int64))
    assert len(kept.records) == 2
    with pytest.raises(OutputWriteError, match=r"Full lost 2 episode\(s\)"):
        envs.close()


def test_gymnasium_statistics_inside_are_merged_and_a_clash_is_an_error() -> None:
    envs = EpisodeStatsWrapper(RecordEpisodeStatistics(native_cartpole(2)))
    envs.reset(seed=0)
    merged = 0
    for _ in range(60):
        *_, infos = envs.step(np.zeros(2, dtype=np.int64))
        if "episode" in infos:
            assert {"r", "l", "t", "r_mean", "r_ema"} <= set(infos["episode"])
            merged += 1
    assert merged

    clash = [{"episode": {"r": np.ones(1)}, "_episode": np.array([True])}]
    other = EpisodeStatsWrapper(ScriptedVectorEnv([[1.0]], [[True]], infos=clash))
    other.reset()
    with pytest.raises(StatsKeyClashError, match="stats_key='episode_stats'"):
        other.step(None)


# -- lifecycle, errors ---------------------------------------------------------------


def test_pickled_wrapper_continues_where_it_was() -> None:
    envs = EpisodeStatsWrapper(native_cartpole(3), window_size=5)
    envs.reset(seed=1)
    for _ in range(40):
        envs.step(np.ones(3, dtype=np.int64))
    copy = pickle.loads(pickle.dumps(envs))
    assert copy.episode_count == envs.episode_count > 0
    assert copy.tracker is not envs.tracker
    for _ in range(40):
        a, b = envs.step(np.ones(3, dtype=np.int64))[4], copy.step(np.ones(3, dtype=np.int64))[4]
        assert ("episode" in a) == ("episode" in b)
        if "episode" in a:
            for key in ("r", "l", "r_mean", "r_std", "r_ema"):
                np.testing.assert_array_equal(a["episode"][key], b["episode"][key])
    assert list(copy.return_queue) == list(envs.return_queue)


def test_step_before_reset_is_a_usage_error() -> None:
    envs = EpisodeStatsWrapper(native_cartpole(2))
    with pytest.raises(UsageError, match=r"before reset\(\): call envs.reset\(\) first"):
        envs.step(np.zeros(2, dtype=np.int64))


@pytest.mark.parametrize(
    ("kwargs", "error", "match"),
    [
        ({"buffer_length": 0}, InvalidArgumentError, "buffer_length must be an int >= 1, got 0"),
        ({"window_size": 0}, InvalidArgumentError, "window_size must be an int >= 1, got 0"),
        ({"alpha": 2.0}, InvalidArgumentError, r"alpha must be a float in \(0, 1\]"),
        ({"stats_key": 3}, ArgumentTypeError, "stats_key must be"),
        ({"info_keys": "score"}, ArgumentTypeError, "info_keys must be a sequence of str"),
        ({"info_keys": ("r",)}, InvalidArgumentError, r"info_keys \['r'\] would overwrite"),
    ],
)
def test_bad_arguments_name_argument_value_and_fix(
    kwargs: dict[str, Any], error: type[Exception], match: str
) -> None:
    with pytest.raises(error, match=match):
        EpisodeStatsWrapper(ScriptedVectorEnv([[1.0]], [[True]]), **kwargs)


def test_a_single_env_is_refused_with_the_single_env_wrapper_named() -> None:
    with pytest.raises(ArgumentTypeError, match=r"gymscope\.EpisodeStatsWrapper") as info:
        EpisodeStatsWrapper(gym.make("CartPole-v1"))  # type: ignore[arg-type]
    assert "gymnasium.make_vec" in str(info.value)


def test_autoreset_mode_is_read_from_metadata_as_gymnasium_does() -> None:
    env = ScriptedVectorEnv([[1.0]], [[True]], mode=SAME)
    assert EpisodeStatsWrapper(env).tracker.autoreset_mode is SAME
    env.metadata = {}
    with pytest.warns(UserWarning, match="assumes AutoresetMode.NEXT_STEP"):
        assert EpisodeStatsWrapper(env).tracker.autoreset_mode is NEXT
    env.metadata = {"autoreset_mode": "SameStep"}
    with pytest.raises(ArgumentTypeError, match=r"metadata\['autoreset_mode'\] must be"):
        EpisodeStatsWrapper(env)


def test_sinks_must_be_one_group_per_sub_env_and_sinks() -> None:
    env = ScriptedVectorEnv([[1.0, 1.0]], [[True, True]])
    with pytest.raises(
        InvalidArgumentError, match=r"one sequence of sinks per sub-env \(2\), got 1"
    ):
        VectorGymscopeWrapper(env, [[Keep()]], stats=StatsConfig())
    with pytest.raises(ArgumentTypeError, match=r"the sinks of sub-env 1 must have open\(\)"):
        VectorGymscopeWrapper(env, lambda i: [Keep()] if i == 0 else ["db"], stats=StatsConfig())  # type: ignore[list-item]


def test_partial_reset_mask_of_the_wrong_shape_is_refused() -> None:
    envs = EpisodeStatsWrapper(ScriptedVectorEnv([[1.0, 1.0]], [[True, True]], mode=DISABLED))
    envs.reset()
    with pytest.raises(InvalidArgumentError, match=r"reset_mask'\] must have shape \(2,\)"):
        envs.reset(options={"reset_mask": np.array([True])})


def test_nonfinite_return_is_recorded_and_warned() -> None:
    envs = EpisodeStatsWrapper(ScriptedVectorEnv([[math.inf, 1.0]], [[True, True]]))
    envs.reset()
    with pytest.warns(NonFiniteRewardWarning, match="sub-env 0, episode 0"):
        infos = envs.step(None)[4]
    assert infos["episode"]["r"].tolist() == [math.inf, 1.0]


@pytest.mark.parametrize(
    "rewards", [None, np.array(["a", "b"]), np.array([1 + 2j, 0j]), np.ones(3)], ids=repr
)
def test_rewards_that_are_not_real_numbers_per_sub_env_are_a_clear_error(rewards: Any) -> None:
    env = ScriptedVectorEnv([[1.0, 1.0]], [[False, False]])
    env.rewards = [rewards]  # type: ignore[assignment]
    envs = EpisodeStatsWrapper(env)
    envs.reset()
    with pytest.raises(RewardTypeError, match=r"not 2 real numbers; .* shape \(num_envs,\)"):
        envs.step(None)


def test_sub_env_info_undoes_the_batching() -> None:
    infos = {
        "a": np.array([1.5, 2.5]),
        "_a": np.array([True, False]),
        "nested": {"b": np.array([3, 4]), "_b": np.array([False, True])},
        "_nested": np.array([True, True]),
    }
    assert sub_env_info(infos, 0) == {"a": 1.5, "nested": {}}
    assert sub_env_info(infos, 1) == {"nested": {"b": 4}}
    assert type(sub_env_info(infos, 0)["a"]) is float


def test_tracker_refuses_bad_construction() -> None:
    with pytest.raises(InvalidArgumentError, match="num_envs must be an int >= 1, got 0"):
        VectorEpisodeTracker(0, NEXT)
    with pytest.raises(ArgumentTypeError, match="autoreset_mode must be"):
        VectorEpisodeTracker(2, "NextStep")  # type: ignore[arg-type]
    assert isinstance(VectorEpisodeTracker(2, NEXT).runs[1], RunInfo)


def test_import_gymscope_does_not_load_gymscope_vector() -> None:
    from test_imports import HEAVY, loaded_after

    probe = "import gymscope, sys; print('gymscope.vector' in sys.modules)"
    out = subprocess.run([sys.executable, "-c", probe], capture_output=True, text=True, check=True)
    assert out.stdout.strip() == "False"
    loaded = loaded_after("import gymscope.vector\ngymscope.vector.EpisodeStatsWrapper")
    assert "gymnasium" in loaded
    assert not loaded & set(HEAVY)


def test_unknown_attribute_of_gymscope_vector() -> None:
    import gymscope.vector

    with pytest.raises(AttributeError, match="no attribute 'Nope'"):
        gymscope.vector.Nope  # noqa: B018
    assert "EpisodeStatsWrapper" in dir(gymscope.vector)
