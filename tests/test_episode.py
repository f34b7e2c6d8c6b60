"""EpisodeTracker and RollingStats: exact values and properties."""

from __future__ import annotations

import math
import pickle
import warnings
from collections.abc import Callable
from typing import Any

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from gymscope.episode import (
    EpisodeRecord,
    EpisodeTracker,
    NonFiniteRewardWarning,
    RollingStats,
    StatsBank,
    StatsConfig,
)


def collect(into: list[EpisodeRecord]) -> Callable[[EpisodeRecord, Any], None]:
    """A listener that keeps the records it gets."""
    return lambda record, _info: into.append(record)


def run_episodes(tracker: EpisodeTracker, episodes: list[list[float]]) -> None:
    for rewards in episodes:
        tracker.on_reset()
        for i, r in enumerate(rewards):
            tracker.on_step(r, i == len(rewards) - 1, False, {})


# -- RollingStats -------------------------------------------------------------------


def test_rolling_stats_use_only_episodes_seen_so_far() -> None:
    stats = RollingStats(100)
    stats.push(10.0)
    assert (stats.mean, stats.std, stats.count) == (10.0, 0.0, 1)
    stats.push(20.0)
    # velora's zero-filled window would give 0.3 here; we give the mean of what was seen
    assert stats.mean == 15.0
    assert stats.std == 5.0


def test_rolling_stats_window_slides() -> None:
    stats = RollingStats(3)
    for x in (1.0, 2.0, 3.0, 4.0, 5.0):
        stats.push(x)
    assert stats.values().tolist() == [3.0, 4.0, 5.0]
    assert stats.mean == pytest.approx(4.0)
    assert stats.std == pytest.approx(np.std([3.0, 4.0, 5.0]))


def test_rolling_stats_empty_is_nan() -> None:
    stats = RollingStats(5)
    assert math.isnan(stats.mean)
    assert math.isnan(stats.std)


def test_rolling_stats_nonfinite_follow_numpy_and_leave_the_window() -> None:
    stats = RollingStats(2)
    stats.push(1.0)
    stats.push(math.inf)
    assert stats.mean == math.inf
    stats.push(math.nan)
    assert math.isnan(stats.mean)
    stats.push(3.0)
    assert math.isnan(stats.mean)  # nan still in the window
    stats.push(5.0)
    assert stats.mean == 4.0  # both non-finite values gone: exact again
    assert stats.std == 1.0


@pytest.mark.parametrize(
    ("value", "error"), [(0, ValueError), (-3, ValueError), (2.5, TypeError), (True, TypeError)]
)
def test_rolling_stats_rejects_bad_window(value: object, error: type[Exception]) -> None:
    with pytest.raises(error, match="window_size"):
        RollingStats(value)  # type: ignore[arg-type]


@settings(max_examples=200, deadline=None)
@given(
    window=st.integers(1, 12),
    values=st.lists(
        st.one_of(
            st.floats(-1e6, 1e6, allow_nan=False, allow_infinity=False),
            st.sampled_from([math.nan, math.inf, -math.inf]),
        ),
        min_size=1,
        max_size=60,
    ),
)
def test_rolling_stats_match_numpy_over_the_window(window: int, values: list[float]) -> None:
    stats = RollingStats(window)
    for i, x in enumerate(values):
        stats.push(x)
        expected = np.array(values[max(0, i + 1 - window) : i + 1])
        with np.errstate(invalid="ignore"):
            mean, std = float(np.mean(expected)), float(np.std(expected))
        assert stats.count == len(expected)
        assert stats.values().tolist() == pytest.approx(expected.tolist(), nan_ok=True)
        if math.isfinite(mean):
            scale = max(1.0, float(np.abs(expected).max()))
            assert stats.mean == pytest.approx(mean, abs=1e-9 * scale)
            assert stats.std == pytest.approx(std, abs=1e-6 * scale)
        else:
            assert (math.isnan(stats.mean) and math.isnan(mean)) or stats.mean == mean


@settings(max_examples=300, deadline=None)
@given(
    window=st.integers(1, 7),
    values=st.lists(
        st.one_of(
            st.floats(-1e6, 1e6, allow_nan=False, allow_infinity=False),
            st.floats(-1e150, 1e150, allow_nan=False, allow_infinity=False),
            st.sampled_from([math.nan, math.inf, -math.inf, 0.0, 1e6]),
        ),
        min_size=1,
        max_size=40,
    ),
)
def test_stats_bank_push_is_rolling_stats_push_bit_for_bit(
    window: int, values: list[float]
) -> None:
    # StatsBank.push inlines RollingStats.push: every value, every internal
    # sum and every recompute (each window_size values, outliers, NaN/inf)
    # must be the same as pushing into a RollingStats
    bank, reference = StatsBank(StatsConfig(window, 0.1)), RollingStats(window)
    for i, x in enumerate(values):
        moving = bank.push(x, i + 1)
        reference.push(x)
        after = np.array([bank.mean, bank.std, bank.ema_return, bank.ema_length])
        assert np.array(moving).tobytes() == after.tobytes()  # what push returns
        got, want = bank.rolling, reference
        assert (got._next, got.count, got._n_finite) == (want._next, want.count, want._n_finite)
        assert np.array(got._buf).tobytes() == np.array(want._buf).tobytes()
        # bits, so NaN == NaN and 0.0 != -0.0
        ours = np.array([got._mean, got._m2, bank.mean, bank.std])
        theirs = np.array([want._mean, want._m2, want.mean, want.std])
        assert ours.tobytes() == theirs.tobytes()


def test_rolling_stats_do_not_drift_over_many_values() -> None:
    rng = np.random.default_rng(0)
    values = rng.normal(1e6, 1.0, size=50_000)
    stats = RollingStats(100)
    for x in values:
        stats.push(float(x))
    stats.push(1e6 + 0.5)  # mid-window: sliding update, not the exact recompute
    tail = np.append(values, 1e6 + 0.5)[-100:]
    assert stats.mean == pytest.approx(tail.mean(), rel=1e-12)
    assert stats.std == pytest.approx(tail.std(), rel=1e-6)


# -- EMA ---------------------------------------------------------------------------


def test_ema_first_value_is_the_first_sample() -> None:
    tracker = EpisodeTracker()
    got: list[EpisodeRecord] = []
    tracker.add_listener(collect(got), StatsConfig(window_size=5, alpha=0.1))
    run_episodes(tracker, [[100.0], [0.0]])
    assert [r.ema_return for r in got] == [100.0, pytest.approx(90.0)]
    assert [r.ema_length for r in got] == [1.0, 1.0]


def test_ema_restarts_after_a_nonfinite_return() -> None:
    tracker = EpisodeTracker()
    got: list[EpisodeRecord] = []
    tracker.add_listener(collect(got), StatsConfig(window_size=5, alpha=0.5))
    with pytest.warns(NonFiniteRewardWarning):
        run_episodes(tracker, [[2.0], [math.inf]])
    run_episodes(tracker, [[4.0], [6.0]])
    assert [r.ema_return for r in got] == [2.0, math.inf, 4.0, 5.0]


@pytest.mark.parametrize("alpha", [0.0, 1.5, -0.1])
def test_alpha_outside_unit_interval_is_rejected(alpha: float) -> None:
    with pytest.raises(ValueError, match=r"alpha must be a float in \(0, 1\]"):
        StatsConfig(10, alpha)


def test_stats_config_validates() -> None:
    with pytest.raises(TypeError, match="alpha"):
        StatsConfig(10, "0.5")  # type: ignore[arg-type]


# -- EpisodeTracker -------------------------------------------------------------------


def test_tracker_emits_exact_records() -> None:
    tracker = EpisodeTracker()
    got: list[EpisodeRecord] = []
    tracker.add_listener(collect(got), StatsConfig(window_size=2, alpha=0.5))
    run_episodes(tracker, [[1.0, 2.0], [np.float32(3.0), 4, 5.0], [10.0]])
    assert [r.index for r in got] == [0, 1, 2]
    assert [r.episode_return for r in got] == [3.0, 12.0, 10.0]
    assert all(type(r.episode_return) is float for r in got)
    assert [r.length for r in got] == [2, 3, 1]
    assert [r.total_steps for r in got] == [2, 5, 6]
    assert [r.moving_mean for r in got] == [3.0, 7.5, 11.0]
    assert [r.moving_std for r in got] == [0.0, 4.5, 1.0]
    assert [r.ema_return for r in got] == [3.0, 7.5, 8.75]
    assert [r.ema_length for r in got] == [2.0, 2.5, 1.75]
    assert all(r.terminated and not r.truncated for r in got)
    assert all(r.window_size == 2 and r.alpha == 0.5 for r in got)
    assert all(r.duration_s >= 0 and r.ended_at > 1.7e9 for r in got)


def test_records_are_frozen_and_picklable() -> None:
    tracker = EpisodeTracker()
    got: list[EpisodeRecord] = []
    tracker.add_listener(collect(got))
    run_episodes(tracker, [[1.0]])
    with pytest.raises(AttributeError):
        got[0].length = 5  # type: ignore[misc]
    assert pickle.loads(pickle.dumps(got[0])) == got[0]


def test_each_listener_gets_its_own_window_and_info_keys() -> None:
    tracker = EpisodeTracker()
    a: list[EpisodeRecord] = []
    b: list[EpisodeRecord] = []
    tracker.add_listener(collect(a), StatsConfig(window_size=1), info_keys=("x",))
    tracker.add_listener(collect(b), StatsConfig(window_size=10), info_keys=("y",))
    for ret in (1.0, 3.0):
        tracker.on_reset()
        tracker.on_step(ret, True, False, {"x": np.int64(7), "y": np.array([1, 2]), "z": 0})
    assert [r.moving_mean for r in a] == [1.0, 3.0]
    assert [r.moving_mean for r in b] == [1.0, 2.0]
    assert a[1].info == {"x": 7}
    assert type(a[1].info["x"]) is int  # numpy scalars become Python scalars
    assert list(b[1].info) == ["y"]
    assert b[1].info["y"].tolist() == [1, 2]


def test_captured_arrays_are_copies() -> None:
    tracker = EpisodeTracker()
    got: list[EpisodeRecord] = []
    tracker.add_listener(collect(got), info_keys=("arr",))
    arr = np.zeros(2)
    tracker.on_reset()
    tracker.on_step(0.0, True, False, {"arr": arr})
    arr[0] = 9.0
    assert got[0].info["arr"].tolist() == [0.0, 0.0]


def test_missing_info_keys_are_left_out() -> None:
    tracker = EpisodeTracker()
    got: list[EpisodeRecord] = []
    tracker.add_listener(collect(got), info_keys=("is_success",))
    run_episodes(tracker, [[1.0]])
    assert got[0].info == {}


def test_log_metrics_are_averaged_per_episode() -> None:
    tracker = EpisodeTracker()
    got: list[EpisodeRecord] = []
    tracker.add_listener(collect(got))
    tracker.on_reset()
    tracker.log_metrics({"actor_loss": 1.0, "lr": 3e-4})
    tracker.on_step(1.0, False, False, {})
    tracker.log_metrics({"actor_loss": np.float32(3.0)})
    tracker.on_step(1.0, True, False, {})
    tracker.on_reset()
    tracker.on_step(1.0, True, False, {})
    assert got[0].metrics == {"actor_loss": 2.0, "lr": 3e-4}
    assert got[1].metrics == {}  # reset clears the accumulators


def test_truncation_and_seed_are_recorded() -> None:
    tracker = EpisodeTracker()
    got: list[EpisodeRecord] = []
    tracker.add_listener(collect(got))
    tracker.on_reset(seed=42)
    tracker.on_step(1.0, False, True, {})
    assert got[0].truncated and not got[0].terminated
    assert got[0].seed == 42


def test_step_after_end_without_reset_is_a_clear_error() -> None:
    tracker = EpisodeTracker()
    tracker.add_listener(lambda r, info: None)
    with pytest.raises(RuntimeError, match=r"before reset\(\)"):
        tracker.on_step(1.0, False, False, {})
    run_episodes(tracker, [[1.0]])
    with pytest.raises(RuntimeError, match=r"after episode 0 ended .* without reset\(\)"):
        tracker.on_step(1.0, False, False, {})


def test_reset_mid_episode_drops_the_unfinished_episode() -> None:
    tracker = EpisodeTracker()
    got: list[EpisodeRecord] = []
    tracker.add_listener(collect(got))
    tracker.on_reset()
    tracker.on_step(5.0, False, False, {})
    run_episodes(tracker, [[1.0]])
    assert [(r.index, r.episode_return, r.total_steps) for r in got] == [(0, 1.0, 1)]


def test_nonfinite_reward_is_recorded_flagged_and_warned_once() -> None:
    tracker = EpisodeTracker()
    got: list[EpisodeRecord] = []
    tracker.add_listener(collect(got))
    tracker.on_reset()
    with pytest.warns(NonFiniteRewardWarning, match="episode 0 has a non-finite return") as w:
        tracker.on_step(math.nan, False, False, {})
        tracker.on_step(math.inf, False, False, {})
        tracker.on_step(1.0, True, False, {})
    assert len(w) == 1
    assert math.isnan(got[0].episode_return) and got[0].nonfinite
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        run_episodes(tracker, [[2.0]])  # next episode finite: no warning
    assert not got[1].nonfinite
    assert got[1].episode_return == 2.0


def test_public_names_are_exactly_the_intended_ones() -> None:
    import gymscope

    assert set(gymscope.__all__) == {*gymscope._LAZY, "__version__"}
    for name in gymscope.__all__:
        assert getattr(gymscope, name) is not None


def test_a_failing_listener_does_not_starve_the_others() -> None:
    tracker = EpisodeTracker()
    got: list[EpisodeRecord] = []

    def broken(record: EpisodeRecord, info: Any) -> None:
        raise OSError("disk full")

    tracker.add_listener(broken)
    tracker.add_listener(collect(got))
    tracker.on_reset()
    with pytest.raises(OSError, match="disk full"):
        tracker.on_step(1.0, True, False, {})
    assert [r.episode_return for r in got] == [1.0]


def test_huge_finite_returns_never_raise_out_of_step() -> None:
    """Squares and sums of returns beyond ~1e154 overflow: inf, as NumPy says, not
    an OverflowError out of step()."""
    from gymscope import EpisodeStatsWrapper
    from stubs import ScriptedEnv, play

    env = EpisodeStatsWrapper(ScriptedEnv(((1e300,), (-1e300,), (1e308,))), window_size=2)
    finals = play(env, 6)
    means = [f["episode"]["r_mean"] for f in finals]
    stds = [f["episode"]["r_std"] for f in finals]
    assert means[0] == 1e300 and stds[0] == 0.0
    assert all(isinstance(m, float) for m in means)
    assert math.isinf(stds[1]) or stds[1] > 1e299  # |1e300 - -1e300| / 2
