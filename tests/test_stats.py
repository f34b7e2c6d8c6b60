"""EpisodeStatsWrapper: gymnasium parity, stacking, validation, pickling, vector envs."""

from __future__ import annotations

import copy
import math
import pickle
from collections.abc import Callable
from typing import Any

import gymnasium as gym
import numpy as np
import pytest
from gymnasium.wrappers import RecordEpisodeStatistics

from gymscope import EpisodeRecord, EpisodeStatsWrapper, GymscopeWrapper, StatsKeyClashError
from gymscope.episode import StatsConfig
from gymscope.sinks import Sink
from stubs import ScriptedEnv, play

SCRIPT = ((1.0, 2.0), (np.float32(0.5), 0.5, 0.5, 0.5), (10,))


class RecordingWrapper(GymscopeWrapper[Any, Any]):
    """A minimal listener: what a later wrapper (DB, video, curves) implements."""

    def __init__(self, env: gym.Env[Any, Any], window_size: int = 100) -> None:
        self.records: list[EpisodeRecord] = []
        super().__init__(env, _Keep(self.records), stats=StatsConfig(window_size, 0.1))


class _Keep(Sink):
    def __init__(self, records: list[EpisodeRecord]) -> None:
        self.records = records

    def on_episode(self, record: EpisodeRecord, info: Any = None) -> None:
        self.records.append(record)


def test_info_episode_has_gymnasium_keys_types_and_values() -> None:
    env = EpisodeStatsWrapper(ScriptedEnv(SCRIPT), window_size=2, alpha=0.5)
    finals = play(env, 3)
    stats = [f["episode"] for f in finals]
    assert [s["r"] for s in stats] == [3.0, 2.0, 10.0]
    assert [s["l"] for s in stats] == [2, 4, 1]
    assert all(type(s["r"]) is float and type(s["l"]) is int for s in stats)
    assert all(type(s["t"]) is float and s["t"] == round(s["t"], 6) for s in stats)
    assert [s["r_mean"] for s in stats] == [3.0, 2.5, 6.0]
    assert [s["r_std"] for s in stats] == [0.0, 0.5, 4.0]
    assert [s["r_ema"] for s in stats] == [3.0, 2.5, 6.25]
    assert [s["l_ema"] for s in stats] == [2.0, 3.0, 2.0]
    assert list(env.return_queue) == [3.0, 2.0, 10.0]
    assert list(env.length_queue) == [2, 4, 1]
    assert list(env.time_queue) == [s["t"] for s in stats]
    assert env.episode_count == 3


def test_stats_only_at_episode_end() -> None:
    env = EpisodeStatsWrapper(ScriptedEnv(((1.0, 1.0, 1.0),)))
    env.reset()
    assert "episode" not in env.step(0)[4]
    assert env.episode_returns == 1.0 and env.episode_lengths == 1
    assert "episode" not in env.step(0)[4]
    assert "episode" in env.step(0)[4]


def test_same_values_as_gymnasium_record_episode_statistics() -> None:
    ours = EpisodeStatsWrapper(gym.make("CartPole-v1"), buffer_length=5)
    theirs = RecordEpisodeStatistics(gym.make("CartPole-v1"), buffer_length=5)
    rng = np.random.default_rng(0)
    for env in (ours, theirs):
        env.reset(seed=3)
    actions = rng.integers(0, 2, size=2000)
    for a in actions:
        out_ours, out_theirs = ours.step(a), theirs.step(a)
        assert out_ours[1:4] == out_theirs[1:4]
        if out_ours[2] or out_ours[3]:
            a_ep, b_ep = out_ours[4]["episode"], out_theirs[4]["episode"]
            assert (a_ep["r"], a_ep["l"]) == (b_ep["r"], b_ep["l"])
            assert {"r", "l", "t"} <= set(a_ep)
            ours.reset()
            theirs.reset()
    assert list(ours.return_queue) == list(theirs.return_queue)
    assert list(ours.length_queue) == list(theirs.length_queue)
    assert ours.episode_count == theirs.episode_count > 50


def test_info_keys_are_captured() -> None:
    env = EpisodeStatsWrapper(
        ScriptedEnv(final_info={"is_success": np.bool_(True), "other": 1}),
        info_keys=("is_success",),
    )
    finals = play(env, 1)
    assert finals[0]["episode"]["is_success"] is True
    assert "other" not in finals[0]["episode"]


class _WritesEpisode(gym.Wrapper[Any, Any, Any, Any]):
    """Sets info["episode"] at each episode end to what ``make(return, length)`` gives."""

    def __init__(self, env: gym.Env[Any, Any], make: Callable[[float, int], Any]) -> None:
        super().__init__(env)
        self.make = make
        self.ret, self.length = 0.0, 0

    def reset(self, **kwargs: Any) -> Any:
        self.ret, self.length = 0.0, 0
        return self.env.reset(**kwargs)

    def step(self, action: Any) -> Any:
        obs, reward, terminated, truncated, info = self.env.step(action)
        self.ret += float(reward)
        self.length += 1
        if terminated or truncated:
            info["episode"] = self.make(self.ret, self.length)
        return obs, reward, terminated, truncated, info


@pytest.mark.parametrize(
    "make",
    [
        lambda r, n: {"r": round(r, 6), "l": n, "t": 12.5},  # SB3's Monitor
        lambda r, n: {"r": np.float32(r), "l": np.int64(n), "t": 0.0},
        lambda r, n: {"r": r + 1e-9, "l": n},
    ],
    ids=["monitor", "numpy", "rounding"],
)
def test_statistics_of_the_same_episode_are_merged_keeping_theirs(
    make: Callable[[float, int], Any],
) -> None:
    env = EpisodeStatsWrapper(_WritesEpisode(ScriptedEnv(SCRIPT), make), window_size=2)
    stats = [f["episode"] for f in play(env, 3)]
    assert [s["r_mean"] for s in stats] == [3.0, 2.5, 6.0]  # ours added
    assert [float(s["r"]) for s in stats] == pytest.approx([3.0, 2.0, 10.0])
    theirs = make(0.0, 0)
    if "t" in theirs:  # theirs kept
        assert [s["t"] for s in stats] == [theirs["t"]] * 3


def test_gymnasium_statistics_inside_are_merged() -> None:
    env = EpisodeStatsWrapper(RecordEpisodeStatistics(ScriptedEnv()))
    final = play(env, 1)[0]
    assert final["episode"]["r"] == 3.0 and "r_ema" in final["episode"]


@pytest.mark.parametrize(
    "make",
    [
        lambda r, n: {"r": 2 * r, "l": n},  # rescaled rewards: another episode's numbers
        lambda r, n: {"r": r, "l": n + 1},
        lambda r, n: "done",
        lambda r, n: {"reward": r},
        lambda r, n: {"r": "3.0", "l": n},
    ],
    ids=["return", "length", "str", "other-keys", "str-return"],
)
def test_key_clash_with_other_statistics_is_a_clear_error(
    make: Callable[[float, int], Any],
) -> None:
    env = EpisodeStatsWrapper(_WritesEpisode(ScriptedEnv(), make))
    with pytest.raises(StatsKeyClashError, match=r"info\['episode'\] is already set.*stats_key="):
        play(env, 1)
    # with another key both coexist
    env = EpisodeStatsWrapper(_WritesEpisode(ScriptedEnv(), make), stats_key="gymscope")
    final = play(env, 1)[0]
    ours = final["gymscope"]
    assert ours["r"] == 3.0 and final["episode"] == make(ours["r"], ours["l"])


@pytest.mark.parametrize(
    ("kwargs", "error", "match"),
    [
        ({"buffer_length": 0}, ValueError, "buffer_length must be an int >= 1, got 0"),
        ({"buffer_length": 2.0}, TypeError, "buffer_length"),
        ({"stats_key": ""}, ValueError, "stats_key"),
        ({"window_size": 0}, ValueError, "window_size must be an int >= 1, got 0"),
        ({"alpha": 2}, ValueError, "alpha"),
        ({"info_keys": "is_success"}, TypeError, r"write info_keys=\('is_success',\)"),
        ({"info_keys": [1]}, TypeError, "info_keys"),
        ({"info_keys": ("r",)}, ValueError, "would overwrite"),
    ],
)
def test_bad_arguments_fail_at_construction(
    kwargs: dict[str, Any], error: type[Exception], match: str
) -> None:
    with pytest.raises(error, match=match):
        EpisodeStatsWrapper(ScriptedEnv(), **kwargs)


def test_env_must_be_an_env() -> None:
    with pytest.raises(TypeError, match=r"env must be a gymnasium\.Env"):
        EpisodeStatsWrapper("CartPole-v1")  # type: ignore[arg-type]


def test_step_after_end_without_reset_raises() -> None:
    env = EpisodeStatsWrapper(ScriptedEnv(((1.0,),)))
    play(env, 1)
    with pytest.raises(RuntimeError, match="without reset"):
        env.step(0)


def test_nonfinite_reward_does_not_crash() -> None:
    env = EpisodeStatsWrapper(ScriptedEnv(((1.0, math.inf),)))
    with pytest.warns(RuntimeWarning, match="non-finite"):
        final = play(env, 1)[0]
    assert final["episode"]["r"] == math.inf


# -- stacking ------------------------------------------------------------------------


def _records_of(env: gym.Env[Any, Any]) -> list[EpisodeRecord]:
    while not isinstance(env, RecordingWrapper):
        env = env.env  # type: ignore[attr-defined]
    return env.records


def _comparable(records: list[EpisodeRecord]) -> list[tuple[Any, ...]]:
    return [
        (r.index, r.episode_return, r.length, r.total_steps, r.moving_mean, r.moving_std)
        for r in records
    ]


def test_stack_shares_one_tracker_in_either_order() -> None:
    inner_stats = EpisodeStatsWrapper(RecordingWrapper(ScriptedEnv(SCRIPT)))
    inner_rec = RecordingWrapper(EpisodeStatsWrapper(ScriptedEnv(SCRIPT)))
    finals_a = play(inner_stats, 7)
    finals_b = play(inner_rec, 7)
    assert inner_stats.tracker is inner_stats.env.tracker  # type: ignore[attr-defined]
    assert _comparable(_records_of(inner_stats)) == _comparable(_records_of(inner_rec))
    assert len(_records_of(inner_stats)) == 7  # each episode delivered once
    assert [f["episode"]["r"] for f in finals_a] == [f["episode"]["r"] for f in finals_b]
    assert inner_stats.tracker.total_steps == 2 + 4 + 1 + 2 + 4 + 1 + 2


def test_foreign_wrapper_in_between_gets_its_own_tracker() -> None:
    inner = RecordingWrapper(ScriptedEnv(SCRIPT))
    outer = EpisodeStatsWrapper(gym.wrappers.TransformReward(inner, lambda r: 2 * r))
    finals = play(outer, 2)
    assert outer.tracker is not inner.tracker
    assert [f["episode"]["r"] for f in finals] == [6.0, 4.0]  # what the outer one sees
    assert [r.episode_return for r in inner.records] == [3.0, 2.0]


def test_log_metrics_reachable_through_get_wrapper_attr() -> None:
    env = gym.wrappers.TimeLimit(RecordingWrapper(ScriptedEnv(((1.0, 1.0),))), 10)
    env.reset()
    env.get_wrapper_attr("log_metrics")(loss=1.0)
    env.step(0)
    env.get_wrapper_attr("log_metrics")(loss=3.0)
    env.step(0)
    assert _records_of(env)[0].metrics == {"loss": 2.0}


# -- construction args, pickling ---------------------------------------------------------


def test_gym_make_from_spec_rebuilds_the_stack() -> None:
    env = EpisodeStatsWrapper(
        EpisodeStatsWrapper(gym.make("CartPole-v1"), stats_key="a", window_size=7),
        stats_key="b",
        info_keys=("x",),
    )
    rebuilt = gym.make(env.spec)
    assert isinstance(rebuilt, EpisodeStatsWrapper) and rebuilt.stats_key == "b"
    inner = rebuilt.env
    assert isinstance(inner, EpisodeStatsWrapper) and inner.stats_key == "a"
    assert rebuilt.tracker is inner.tracker
    final = play(rebuilt, 1, seed=0)[0]
    assert final["a"]["r"] == final["b"]["r"]


@pytest.mark.parametrize("clone", [lambda e: pickle.loads(pickle.dumps(e)), copy.deepcopy])
def test_pickle_and_deepcopy_keep_state_and_sharing(clone: Callable[[Any], Any]) -> None:
    env = EpisodeStatsWrapper(RecordingWrapper(ScriptedEnv(SCRIPT)), window_size=2)
    play(env, 1)
    env.reset()
    env.step(0)  # mid-episode 1 (four steps of 0.5)
    twin = clone(env)
    assert twin.tracker is twin.env.tracker
    assert list(twin.return_queue) == [3.0]
    for _ in range(2):
        assert "episode" not in twin.step(0)[4]
    final = twin.step(0)[4]["episode"]
    assert (final["r"], final["l"], final["r_mean"]) == (2.0, 4, 2.5)
    assert len(twin.env.records) == 2
    assert len(env.env.records) == 1  # the original is untouched


def test_close_is_idempotent_and_context_manager() -> None:
    with EpisodeStatsWrapper(ScriptedEnv()) as env:
        play(env, 1)
    env.close()


# -- vector envs -----------------------------------------------------------------------------


def _vector_returns(infos: dict[str, Any], key: str = "episode") -> list[tuple[int, float, int]]:
    """(sub-env index, r, l) of the episodes that ended, in either autoreset mode."""
    source = infos.get("final_info", infos)
    if key not in source:
        return []
    ep, mask = source[key], source["_" + key]
    return [(int(i), float(ep["r"][i]), int(ep["l"][i])) for i in np.flatnonzero(mask)]


def _scripted(i: int) -> Callable[[], gym.Env[Any, Any]]:
    return lambda: EpisodeStatsWrapper(ScriptedEnv(SCRIPT[i:] + SCRIPT[:i]))


@pytest.mark.parametrize("vector_cls", [gym.vector.SyncVectorEnv, gym.vector.AsyncVectorEnv])
@pytest.mark.parametrize(
    "mode", [gym.vector.AutoresetMode.NEXT_STEP, gym.vector.AutoresetMode.SAME_STEP]
)
def test_vector_envs_report_each_sub_env_episode(
    vector_cls: type[gym.vector.VectorEnv], mode: gym.vector.AutoresetMode
) -> None:
    envs = vector_cls([_scripted(0), _scripted(1)], autoreset_mode=mode)  # type: ignore[call-arg]
    try:
        envs.reset(seed=0)
        ended: list[tuple[int, float, int]] = []
        for _ in range(40):
            *_, infos = envs.step(np.zeros(2, dtype=np.int64))
            ended += _vector_returns(infos)
    finally:
        envs.close()
    sub0 = [(r, n) for i, r, n in ended if i == 0]
    sub1 = [(r, n) for i, r, n in ended if i == 1]
    cycle0 = [(3.0, 2), (2.0, 4), (10.0, 1)]
    cycle1 = [(2.0, 4), (10.0, 1), (3.0, 2)]
    assert sub0 == (cycle0 * 10)[: len(sub0)] and len(sub0) >= 10
    assert sub1 == (cycle1 * 10)[: len(sub1)] and len(sub1) >= 10


def test_dummy_vec_env_contract_reset_after_done() -> None:
    """SB3's DummyVecEnv steps each env and calls reset() itself after done."""
    env = EpisodeStatsWrapper(gym.make("CartPole-v1"))
    ep_info_buffer = []
    env.reset(seed=1)
    env.action_space.seed(1)
    for _ in range(500):
        _, _, terminated, truncated, info = env.step(env.action_space.sample())
        if terminated or truncated:
            maybe_ep_info = info.get("episode")  # what SB3's _update_info_buffer reads
            if maybe_ep_info is not None:
                ep_info_buffer.append(maybe_ep_info)
            env.reset()
    assert len(ep_info_buffer) == env.episode_count > 5
    assert [e["r"] for e in ep_info_buffer][-5:] == list(env.return_queue)[-5:]
