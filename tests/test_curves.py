"""CurveRecorderWrapper: recorded series, chart content, history, checkpoints, bad input."""

from __future__ import annotations

import json
import math
import pickle
import warnings
import xml.etree.ElementTree as ET
from pathlib import Path
from typing import Any

import gymnasium as gym
import numpy as np
import pytest
from PIL import Image

from gymscope.episode import NonFiniteRewardWarning
from gymscope.wrappers.curves import CurveRecorderWrapper, load_checkpoint
from gymscope.wrappers.stats import EpisodeStatsWrapper
from stubs import ScriptedEnv, play

SVG = "{http://www.w3.org/2000/svg}"
SCRIPT = ((1.0, 2.0), (0.5, 0.5, 0.5, 0.5), (10.0,))  # returns 3, 2, 10; lengths 2, 4, 1
CHART_FILES = [
    "training_length_curve.png",
    "training_length_curve.svg",
    "training_reward_curve.png",
    "training_reward_curve.svg",
]


def svg_root(path: Path) -> ET.Element:
    return ET.fromstring(path.read_bytes())


def svg_series(root: ET.Element) -> dict[str, list[list[tuple[float, float]]]]:
    out = {}
    for group in root.iter(f"{SVG}g"):
        if group.get("class") == "series":
            out[group.get("data-label", "")] = [
                [
                    (float(x), float(y))
                    for x, y in (p.split(",") for p in line.get("points", "").split())
                ]
                for line in group.iter(f"{SVG}polyline")
            ]
    return out


def svg_texts(root: ET.Element, css_class: str) -> list[str]:
    return [t.text or "" for t in root.iter(f"{SVG}text") if t.get("class") == css_class]


def y_mapping(root: ET.Element) -> tuple[float, float, float, float]:
    """(value0, px0, value1, px1) read from the first and last y tick labels."""
    ticks = [t for t in root.iter(f"{SVG}text") if t.get("class") == "y-tick"]
    first, last = ticks[0], ticks[-1]

    def middle(t: ET.Element) -> float:  # the renderer puts the baseline 0.35 em below
        return float(t.get("y", "")) - 0.35 * float(t.get("font-size", ""))

    return float(first.text or ""), middle(first), float(last.text or ""), middle(last)


def png_size(path: Path) -> tuple[int, int]:
    with Image.open(path) as image:
        return image.size


def recorder(tmp_path: Path, script: Any = SCRIPT, **kwargs: Any) -> CurveRecorderWrapper[Any, Any]:
    return CurveRecorderWrapper(ScriptedEnv(script), tmp_path / "curves", **kwargs)


# -- what is recorded ------------------------------------------------------------------
def test_records_returns_lengths_and_moving_average(tmp_path: Path) -> None:
    with recorder(tmp_path, window_size=2) as env:
        play(env, 5)
        assert env.episode_count == 5
        assert env.returns.tolist() == [3.0, 2.0, 10.0, 3.0, 2.0]
        assert env.lengths.tolist() == [2, 4, 1, 2, 4]
        assert env.moving_averages.tolist() == [3.0, 2.5, 6.0, 6.5, 2.5]
        assert env.returns.dtype == np.float64 and env.lengths.dtype == np.int64
        with pytest.raises(ValueError, match="read-only"):
            env.returns[0] = 1.0


def test_arrays_grow_by_doubling(tmp_path: Path) -> None:
    with recorder(tmp_path, script=((1.0,),), checkpoint_every=None) as env:
        play(env, 1000)
        assert env.episode_count == 1000 and env.returns.sum() == 1000.0
        assert env.curves._returns.size == 1024  # 64 doubled four times


def test_captured_info_and_metrics_become_series(tmp_path: Path) -> None:
    env = CurveRecorderWrapper(
        ScriptedEnv(SCRIPT, final_info={"score": np.float32(0.5)}),
        tmp_path / "curves",
        info_keys=("score", "never"),
    )
    log = env.get_wrapper_attr("log_metrics")
    env.reset()
    for episode in range(3):
        done = False
        while not done:
            if episode > 0:  # the metric first shows up in episode 1
                log(**{"loss/actor": float(episode)})
            _, _, terminated, truncated, _ = env.step(0)
            done = terminated or truncated
        env.reset()
    assert env.info_series["score"].tolist() == [0.5, 0.5, 0.5]
    assert np.isnan(env.info_series["never"]).all()
    metric = env.metric_series["loss/actor"]
    assert math.isnan(metric[0]) and metric[1:].tolist() == [1.0, 2.0]
    env.close()
    episodes = load_checkpoint(env.checkpoint_path)["episodes"]
    assert episodes[0]["info"] == {"score": 0.5} and "metrics" not in episodes[0]
    assert episodes[2]["metrics"] == {"loss/actor": 2.0}


def test_metrics_selection(tmp_path: Path) -> None:
    env = recorder(tmp_path, metrics=("kept",))
    env.reset()
    env.get_wrapper_attr("log_metrics")(kept=1.0, dropped=2.0)
    env.step(0)
    env.step(0)
    assert list(env.metric_series) == ["kept"]
    env.close()
    with recorder(tmp_path, metrics=()) as env:
        env.reset()
        env.get_wrapper_attr("log_metrics")(anything=1.0)
        env.step(0)
        env.step(0)
        assert env.metric_series == {}


def test_non_numeric_info_is_left_out_with_one_warning(tmp_path: Path) -> None:
    env = CurveRecorderWrapper(
        ScriptedEnv(SCRIPT, final_info={"name": "level-1", "arr": np.zeros(3)}),
        tmp_path / "curves",
        info_keys=("name", "arr"),
    )
    with pytest.warns(UserWarning, match="charts numbers only") as caught:
        play(env, 4)
    assert len(caught) == 2  # one per key, not one per episode
    assert np.isnan(env.info_series["name"]).all()
    env.close()


def test_stacked_with_stats_wrapper_counts_each_episode_once(tmp_path: Path) -> None:
    inner = CurveRecorderWrapper(ScriptedEnv(SCRIPT), tmp_path, window_size=2)
    env = EpisodeStatsWrapper(inner, window_size=2)
    finals = play(env, 3)
    curves = env.env
    assert isinstance(curves, CurveRecorderWrapper)
    assert curves.returns.tolist() == [f["episode"]["r"] for f in finals]
    assert curves.moving_averages.tolist() == [f["episode"]["r_mean"] for f in finals]
    env.close()


# -- save(): charts and history ----------------------------------------------------------
def test_save_writes_charts_and_history(tmp_path: Path) -> None:
    env = recorder(tmp_path, window_size=2, checkpoint_every=None)
    play(env, 3)
    written = env.save()
    folder = tmp_path / "curves"
    assert sorted(p.name for p in written) == sorted([*CHART_FILES, "training_history.json"])
    assert sorted(p.name for p in folder.iterdir()) == sorted(p.name for p in written)
    history = json.loads((folder / "training_history.json").read_text())
    assert history["format"] == "gymscope-curves/1"
    assert history["summary"] == {
        "episodes": 3,
        "best": 10.0,
        "best_episode": 2,
        "final": 10.0,
        "final_moving_avg": 6.0,
        "window": 2,
    }
    assert history["reward"] == [3.0, 2.0, 10.0]
    assert history["length"] == [2, 4, 1]
    assert history["reward_moving_avg"] == [3.0, 2.5, 6.0]
    assert history["first_episode"] == 0
    assert png_size(folder / "training_reward_curve.png") == (960, 540)
    env.close()


def test_reward_chart_content(tmp_path: Path) -> None:
    with recorder(tmp_path, window_size=2, checkpoint_every=None) as env:
        play(env, 7)
    root = svg_root(tmp_path / "curves" / "training_reward_curve.svg")
    series = svg_series(root)
    assert list(series) == ["return", "avg2"]
    assert [len(line) for line in series["return"]] == [7]
    assert [len(line) for line in series["avg2"]] == [7]
    assert svg_texts(root, "legend-label") == ["return", "avg2"]
    assert svg_texts(root, "x-label") == ["episode"] and svg_texts(root, "y-label") == ["return"]
    assert svg_texts(root, "title") == ["Episode return"]
    # Each point of the moving average sits where its value maps on the y axis.
    v0, p0, v1, p1 = y_mapping(root)
    expected = [3.0, 2.5, 6.0, 6.5, 2.5, 6.0, 6.5]
    for (_, py), value in zip(series["avg2"][0], expected, strict=True):
        assert py == pytest.approx(p0 + (value - v0) * (p1 - p0) / (v1 - v0), abs=0.2)
    length = svg_root(tmp_path / "curves" / "training_length_curve.svg")
    assert list(svg_series(length)) == ["length", "avg2"]
    assert svg_texts(length, "y-label") == ["length"]


def test_moving_average_pixels_in_the_png(tmp_path: Path) -> None:
    # Returns alternate 2 and 6, so the window-2 average is 4 from episode 1 on.
    with recorder(tmp_path, script=((2.0,), (6.0,)), window_size=2) as env:
        play(env, 60)
    folder = tmp_path / "curves"
    root = svg_root(folder / "training_reward_curve.svg")
    v0, p0, v1, p1 = y_mapping(root)
    row = p0 + (4.0 - v0) * (p1 - p0) / (v1 - v0)
    avg_color = (0x4E, 0x79, 0xA7)
    with Image.open(folder / "training_reward_curve.png") as image:
        pixels = np.asarray(image.convert("RGB")).astype(int)
    xs = [x for x, _ in svg_series(root)["avg2"][0]]
    for column in np.linspace(xs[5], xs[-5], 6).astype(int):
        hits = np.flatnonzero(np.abs(pixels[:, column] - avg_color).sum(axis=1) < 30)
        assert hits.size >= 2
        assert abs(hits.mean() + 0.5 - row) < 1.0


def test_extra_series_charts_have_safe_names(tmp_path: Path) -> None:
    env = CurveRecorderWrapper(
        ScriptedEnv(SCRIPT, final_info={"../../escape": 1.0, "reward": 2.0}),
        tmp_path / "curves",
        info_keys=("../../escape", "reward"),
    )
    env.reset()
    env.get_wrapper_attr("log_metrics")(**{"loss/actor (mean)": 0.5, "con": 1.0})
    env.step(0)
    env.step(0)
    play_more(env, 1)  # no metrics in the second episode
    env.close()
    names = sorted(p.name for p in (tmp_path / "curves").iterdir())
    assert sorted(p.name for p in tmp_path.iterdir()) == ["curves"]  # nothing escaped
    for stem in ("escape", "reward_2", "loss_actor_mean", "metric"):
        assert f"training_{stem}_curve.svg" in names and f"training_{stem}_curve.png" in names
    root = svg_root(tmp_path / "curves" / "training_loss_actor_mean_curve.svg")
    assert svg_texts(root, "title") == ["loss/actor (mean)"]
    history = json.loads((tmp_path / "curves" / "training_history.json").read_text())
    assert history["info"]["../../escape"] == [1.0, 1.0]
    assert history["metrics"]["loss/actor (mean)"] == [0.5, None]


def test_title_names_the_env(tmp_path: Path) -> None:
    with CurveRecorderWrapper(gym.make("CartPole-v1"), tmp_path, window_size=5) as env:
        play(env, 2, seed=0)
    root = svg_root(tmp_path / "training_reward_curve.svg")
    assert svg_texts(root, "title") == ["CartPole-v1 · Episode return"]


def test_empty_run_saves_placeholder_charts_without_error(tmp_path: Path) -> None:
    env = recorder(tmp_path, info_keys=("score",))
    env.close()
    env.close()  # idempotent
    folder = tmp_path / "curves"
    for name in ("reward", "length", "score"):
        root = svg_root(folder / f"training_{name}_curve.svg")
        assert svg_texts(root, "message") == ["no episodes yet"]
        assert svg_series(root) == {name if name != "reward" else "return": [], "avg100": []}
    history = json.loads((folder / "training_history.json").read_text())
    assert history["summary"]["episodes"] == 0 and history["summary"]["best"] is None
    assert history["reward"] == []
    assert load_checkpoint(folder / "training_history_checkpoint.jsonl")["episodes"] == []


def test_nonfinite_values_are_gaps_and_nulls(tmp_path: Path) -> None:
    env = CurveRecorderWrapper(
        ScriptedEnv(((1.0,), (math.nan,), (2.0,), (3.0,)), final_info={"x": math.nan}),
        tmp_path,
        window_size=1,
        info_keys=("x",),
    )
    with pytest.warns(NonFiniteRewardWarning):
        play(env, 4)
    env.close()
    history = json.loads((tmp_path / "training_history.json").read_text())
    assert history["reward"] == [1.0, None, 2.0, 3.0]
    assert history["reward_moving_avg"] == [1.0, None, 2.0, 3.0]
    assert history["summary"]["best"] == 3.0 and history["info"]["x"] == [None] * 4
    series = svg_series(svg_root(tmp_path / "training_reward_curve.svg"))
    assert [len(line) for line in series["return"]] == [2]  # [1] is a dot, [2, 3] a line
    x_root = svg_root(tmp_path / "training_x_curve.svg")
    assert svg_texts(x_root, "message") == ["no finite values to plot"]


# -- checkpoints -------------------------------------------------------------------------
def test_checkpoints_append_new_episodes(tmp_path: Path) -> None:
    env = recorder(tmp_path, checkpoint_every=2, window_size=2)
    path = env.checkpoint_path
    play(env, 1)
    assert not path.exists()
    play_more(env, 1)
    first = path.read_bytes()
    assert len(first.splitlines()) == 3  # header + 2 episodes
    play_more(env, 3)
    second = path.read_bytes()
    assert second.startswith(first) and len(second.splitlines()) == 5
    env.close()  # close() checkpoints the last, odd episode
    data = load_checkpoint(path)
    assert data["header"] == {
        "format": "gymscope-curves-checkpoint/1",
        "prefix": "training",
        "window": 2,
    }
    assert [e["episode"] for e in data["episodes"]] == [0, 1, 2, 3, 4]
    assert [e["reward"] for e in data["episodes"]] == [3.0, 2.0, 10.0, 3.0, 2.0]
    assert data["episodes"][1] == {
        "episode": 1,
        "reward": 2.0,
        "length": 4,
        "reward_moving_avg": 2.5,
    }
    assert env.checkpoint_bytes == path.stat().st_size


def play_more(env: gym.Env[Any, Any], episodes: int) -> None:
    for _ in range(episodes):
        env.reset()
        done = False
        while not done:
            _, _, terminated, truncated, _ = env.step(0)
            done = terminated or truncated


def test_checkpoint_io_is_linear_in_episodes(tmp_path: Path) -> None:
    sizes = {}
    for episodes in (500, 1000, 2000):
        env = CurveRecorderWrapper(
            ScriptedEnv(((1.0,), (2.0,))), tmp_path / str(episodes), checkpoint_every=10
        )
        play(env, episodes)
        env.close()
        sizes[episodes] = env.checkpoint_bytes
        assert env.checkpoint_bytes == env.checkpoint_path.stat().st_size
        assert env.checkpoint_bytes <= 10 * env.history_path.stat().st_size
    # Doubling the run doubles the bytes written (up to the growing episode numbers).
    assert 1.9 < sizes[1000] / sizes[500] < 2.2 and 1.9 < sizes[2000] / sizes[1000] < 2.2


def test_a_torn_last_line_is_skipped(tmp_path: Path) -> None:
    with recorder(tmp_path, checkpoint_every=1) as env:
        play(env, 3)
    path = env.checkpoint_path
    path.write_bytes(path.read_bytes()[:-7])  # a crash in the middle of an append
    with pytest.warns(RuntimeWarning, match="last line .* cut short"):
        assert [e["episode"] for e in load_checkpoint(path)["episodes"]] == [0, 1]
    (tmp_path / "bad.jsonl").write_text('{"format": "other"}\n')
    with pytest.raises(ValueError, match="not a gymscope checkpoint"):
        load_checkpoint(tmp_path / "bad.jsonl")


def test_a_new_wrapper_starts_a_fresh_checkpoint_file(tmp_path: Path) -> None:
    with recorder(tmp_path, checkpoint_every=1) as env:
        play(env, 3)
    with recorder(tmp_path, checkpoint_every=1) as env:
        play(env, 1)
    assert len(load_checkpoint(env.checkpoint_path)["episodes"]) == 1


def test_no_temporary_files_are_left(tmp_path: Path) -> None:
    with recorder(tmp_path, checkpoint_every=1, info_keys=("t",)) as env:
        play(env, 5)
        env.save()
    assert not [p for p in (tmp_path / "curves").iterdir() if p.name.startswith(".")]


# -- arguments, lifecycle, pickling ----------------------------------------------------
@pytest.mark.parametrize(
    ("kwargs", "error", "match"),
    [
        ({"output_dir": 3}, TypeError, "output_dir must be a str or path, got 3"),
        ({"prefix": ""}, TypeError, "prefix must be a non-empty str"),
        ({"prefix": "a/b"}, ValueError, "prefix must be a plain file-name part"),
        ({"window_size": 0}, ValueError, "window_size must be an int >= 1"),
        ({"checkpoint_every": 0}, ValueError, "checkpoint_every must be an int >= 1"),
        ({"checkpoint_every": 2.5}, TypeError, "checkpoint_every must be an int"),
        ({"info_keys": "score"}, TypeError, "single string"),
        ({"metrics": "loss"}, TypeError, "single string"),
    ],
)
def test_arguments_are_checked(
    tmp_path: Path, kwargs: dict[str, Any], error: type[Exception], match: str
) -> None:
    arguments: dict[str, Any] = {"output_dir": tmp_path, **kwargs}
    with pytest.raises(error, match=match):
        CurveRecorderWrapper(ScriptedEnv(), **arguments)


def test_unwritable_output_dir_fails_at_construction(tmp_path: Path) -> None:
    blocker = tmp_path / "file"
    blocker.write_text("not a folder")
    with pytest.raises(NotADirectoryError, match=r"output_dir .* is not a writable directory"):
        CurveRecorderWrapper(ScriptedEnv(), blocker / "curves")


def test_read_only_output_dir_fails_at_construction(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    # chmod does not stop root, so the refusal is simulated at os.open.
    real_open = __import__("os").open

    def refuse(path: Any, *args: Any, **kwargs: Any) -> int:
        if ".gymscope-write-test" in str(path):
            raise PermissionError(13, "Permission denied")
        return real_open(path, *args, **kwargs)

    monkeypatch.setattr("os.open", refuse)
    with pytest.raises(PermissionError, match="is not a writable directory"):
        CurveRecorderWrapper(ScriptedEnv(), tmp_path)


def test_close_is_registered_for_interpreter_exit(tmp_path: Path) -> None:
    env = recorder(tmp_path)
    assert env._finalizer is not None and env._finalizer.atexit and env._finalizer.alive
    finalizer = env._finalizer
    env.close()
    assert not finalizer.alive


def test_spec_rebuilds_the_wrapper(tmp_path: Path) -> None:
    env = CurveRecorderWrapper(gym.make("CartPole-v1"), tmp_path, prefix="cp", window_size=7)
    assert env.spec is not None
    env.close()
    rebuilt = gym.make(env.spec)
    assert isinstance(rebuilt, CurveRecorderWrapper) and rebuilt.window_size == 7
    assert rebuilt.prefix == "cp" and rebuilt.output_dir == tmp_path
    rebuilt.close()


def test_two_open_wrappers_on_the_same_files_are_warned_about(tmp_path: Path) -> None:
    first = recorder(tmp_path)
    with pytest.warns(UserWarning, match="give each env its own prefix"):
        second = recorder(tmp_path)
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        other = recorder(tmp_path, prefix="env1")  # other files: fine
    for env in (first, second, other):
        env.close()
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        recorder(tmp_path).close()  # the others are closed


def test_relative_output_dir_is_fixed_at_construction(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.chdir(tmp_path)
    env = CurveRecorderWrapper(ScriptedEnv(SCRIPT), "curves")
    monkeypatch.chdir(tmp_path.parent)
    play(env, 1)
    env.close()
    assert env.output_dir == tmp_path / "curves"
    assert (tmp_path / "curves" / "training_history.json").exists()


def test_pickled_copy_keeps_the_history(tmp_path: Path) -> None:
    env = recorder(tmp_path, window_size=2, checkpoint_every=2)
    play(env, 3)
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        copy = pickle.loads(pickle.dumps(env))
    assert copy.returns.tolist() == env.returns.tolist()
    assert copy.output_dir == env.output_dir
    play_more(copy, 1)
    assert copy.episode_count == 4 and env.episode_count == 3
    copy.close()
    env.close()
    assert json.loads(env.history_path.read_text())["summary"]["episodes"] == 3


def test_history_text_kept_between_saves_matches_the_arrays(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr("gymscope.sinks.curve_history._TEXT_BLOCK", 4)
    env = CurveRecorderWrapper(
        ScriptedEnv(((1.5,), (math.inf,), (-2.25, 1.0)), final_info={"t": 0}),
        tmp_path,
        window_size=3,
        info_keys=("t",),
    )
    log = env.get_wrapper_attr("log_metrics")
    with pytest.warns(NonFiniteRewardWarning):
        for episode in range(23):
            env.reset()
            done = False
            while not done:
                if episode >= 9:  # a metric that appears late, in the middle of a block
                    log(late=episode / 3)
                _, _, terminated, truncated, _ = env.step(0)
                done = terminated or truncated
            if episode in (6, 13):
                env.save()
    env.close()
    history = json.loads(env.history_path.read_text())

    def nulls(values: np.ndarray) -> list[Any]:
        return [v if math.isfinite(v) else None for v in values.tolist()]

    assert history["reward"] == nulls(env.returns)
    assert history["length"] == env.lengths.tolist()
    assert history["reward_moving_avg"] == nulls(env.moving_averages)
    assert history["info"]["t"] == nulls(env.info_series["t"])
    assert history["metrics"]["late"] == [None] * 9 + [e / 3 for e in range(9, 23)]
    assert len(history["reward"]) == 23


@pytest.mark.parametrize("length", [81, 200, 256, 1000])
def test_a_prefix_too_long_is_refused(tmp_path: Path, length: int) -> None:
    with pytest.raises(ValueError, match=f"prefix is {length} characters long.* at most 80"):
        CurveRecorderWrapper(ScriptedEnv(), tmp_path, prefix="p" * length)


@pytest.mark.parametrize("name_max", [143, 100])
def test_a_prefix_too_long_for_the_folder_is_refused(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, name_max: int
) -> None:
    monkeypatch.setattr("os.pathconf", lambda path, name: name_max)  # eCryptfs: 143
    with pytest.raises(ValueError, match=f"names of at most {name_max}; use at most"):
        CurveRecorderWrapper(ScriptedEnv(), tmp_path, prefix="p" * 80)


def test_the_longest_prefix_writes_every_file(tmp_path: Path) -> None:
    env = CurveRecorderWrapper(
        ScriptedEnv(final_info={"s" * 100: 1.0}),
        tmp_path,
        prefix="p" * 80,
        info_keys=["s" * 100],
        checkpoint_every=1,
    )
    play(env, 2)
    env.close()
    assert len(load_checkpoint(env.checkpoint_path)["episodes"]) == 2
    assert len(list(tmp_path.glob("*_curve.png"))) == 3


@pytest.mark.parametrize("prefix", [".", "..", ".hidden", "../up", "-x", "_x"])
def test_a_prefix_making_hidden_or_odd_files_is_refused(tmp_path: Path, prefix: str) -> None:
    with pytest.raises(ValueError, match="prefix must be a plain file-name part"):
        CurveRecorderWrapper(ScriptedEnv(), tmp_path, prefix=prefix)
