"""CurveSink and CurveHistory fed records directly, without an env."""

from __future__ import annotations

import json
import warnings
from pathlib import Path

import numpy as np
import pytest

from gymscope.episode import RunInfo
from gymscope.errors import CheckpointError, CheckpointNotFoundError, GymscopeError
from gymscope.sinks import CurveHistory, CurveSink, EpisodeSink
from gymscope.sinks.base import replay_returns
from gymscope.sinks.curves import load_checkpoint


def test_a_sink_without_an_env_writes_the_wrapper_files(tmp_path: Path) -> None:
    sink = CurveSink(tmp_path, prefix="run", window_size=2, checkpoint_every=2)
    assert isinstance(sink, EpisodeSink)
    sink.open(RunInfo(env_id="Pendulum-v1"))
    for record in replay_returns([3.0, 1.0, 5.0], window_size=2):
        sink.on_episode(record)
    assert len(load_checkpoint(sink.checkpoint_path)["episodes"]) == 2  # every 2 episodes
    sink.close()
    sink.close()  # idempotent
    history = json.loads(sink.history_path.read_text())
    assert history["reward"] == [3.0, 1.0, 5.0] and history["reward_moving_avg"] == [3.0, 2.0, 3.0]
    assert history["summary"]["best_episode"] == 2
    assert len(load_checkpoint(sink.checkpoint_path)["episodes"]) == 3
    svg = (tmp_path / "run_reward_curve.svg").read_text()
    assert "Pendulum-v1 · Episode return" in svg  # the run's env id titles the charts


def test_write_charts_writes_only_the_charts(tmp_path: Path) -> None:
    sink = CurveSink(tmp_path, subject="", checkpoint_every=None)
    for record in replay_returns([1.0], window_size=100):
        sink.on_episode(record)
    paths = sink.write_charts(scale=0.5)
    assert sorted(p.name for p in tmp_path.iterdir()) == sorted(p.name for p in paths)
    assert [p.suffix for p in paths] == [".svg", ".png", ".svg", ".png"]


def test_history_keeps_declared_keys_and_metrics_selection() -> None:
    history = CurveHistory(window_size=1, info_keys=("score",), metrics=("kept",))
    (record,) = replay_returns([2.0], window_size=1)
    history.on_episode(
        type(record)(
            **{**record.__dict__, "info": {"other": [4]}, "metrics": {"kept": 1.0, "x": 2.0}}
        )
    )
    assert list(history.info_series) == ["score", "other"]
    assert np.isnan(history.info_series["score"]).all()
    assert history.info_series["other"].tolist() == [4.0]  # a stored one-element array
    assert list(history.metric_series) == ["kept"]
    assert [stem for stem, _ in history.charts("p")][2:] == [
        "p_score_curve",
        "p_other_curve",
        "p_kept_curve",
    ]


def test_records_of_another_window_are_warned_about_once(tmp_path: Path) -> None:
    history = CurveHistory(window_size=10)
    with pytest.warns(UserWarning, match="labelled avg10; give the driver and the sink the same"):
        for record in replay_returns([1.0, 2.0], window_size=3):
            history.on_episode(record)
    assert history.episode_count == 2


def test_two_open_sinks_on_the_same_files_are_warned_about(tmp_path: Path) -> None:
    first = CurveSink(tmp_path)
    with pytest.warns(UserWarning, match="give each env its own prefix"):
        CurveSink(tmp_path).close()
    first.close()
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        CurveSink(tmp_path).close()


# -- reading damaged checkpoints -----------------------------------------------------------
_HEADER = b'{"format": "gymscope-curves-checkpoint/1", "prefix": "t", "window": 2}\n'
_EPISODE = b'{"episode":0,"reward":1.0,"length":1,"reward_moving_avg":1.0}\n'


@pytest.mark.parametrize(
    ("content", "error", "match"),
    [
        (None, CheckpointNotFoundError, "no checkpoint file"),
        (b"", CheckpointError, "has no header line"),
        (b"\xff\xfe\x00junk\n", CheckpointError, "byte 0 is not UTF-8"),
        (_HEADER + b"caf\xe9\n", CheckpointError, "byte .* is not UTF-8"),
        (b"[1, 2]\n", CheckpointError, "first line is not a JSON object"),
        (b"42\n", CheckpointError, "first line is not a JSON object"),
        (b'"text"\n', CheckpointError, "first line is not a JSON object"),
        (b'{"format": "other"}\n', CheckpointError, "format 'other'"),
        (b"not json\n", CheckpointError, "line 1 is not whole JSON"),
        (_HEADER + b'{"episode":0,"rew\n' + _EPISODE, CheckpointError, "line 2 is not whole JSON"),
        (_HEADER + b"[1]\n" + _EPISODE, CheckpointError, "line 2 is not an episode record"),
        (_HEADER + b'{"reward":1}\n', CheckpointError, "line 2 is not an episode record"),
        (_HEADER + b'{"episode":"0"}\n', CheckpointError, "line 2 is not an episode record"),
        (_HEADER + _EPISODE + _EPISODE, CheckpointError, "episode 0 after episode 0"),
    ],
)
def test_load_checkpoint_names_the_file_and_what_is_wrong(
    tmp_path: Path, content: bytes | None, error: type[Exception], match: str
) -> None:
    path = tmp_path / "run_history_checkpoint.jsonl"
    if content is not None:
        path.write_bytes(content)
    with pytest.raises(error, match=match) as info:
        load_checkpoint(path)
    assert str(path) in str(info.value)
    assert isinstance(info.value, GymscopeError)


def test_load_checkpoint_of_a_folder(tmp_path: Path) -> None:
    with pytest.raises(CheckpointError, match="is a folder"):
        load_checkpoint(tmp_path)


@pytest.mark.parametrize("cut", [1, 5, len(_EPISODE) - 1])
def test_load_checkpoint_skips_a_torn_last_line_with_a_warning(tmp_path: Path, cut: int) -> None:
    path = tmp_path / "c.jsonl"
    path.write_bytes(_HEADER + _EPISODE + _EPISODE.replace(b":0,", b":1,")[:cut])
    with pytest.warns(RuntimeWarning, match="last line .* cut short"):
        data = load_checkpoint(path)
    assert [e["episode"] for e in data["episodes"]] == [0]
