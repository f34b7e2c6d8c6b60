"""TensorBoardSink fed directly: episodes, step-keyed metrics, lifecycle."""

from __future__ import annotations

import os
import pickle
import time
import warnings
from pathlib import Path

import pytest
from tensorboard.backend.event_processing.event_accumulator import EventAccumulator

from gymscope.sinks import EpisodeSink, TensorBoardSink
from gymscope.sinks.base import replay_returns
from gymscope.sinks.tensorboard import stat_tags


def scalars(folder: Path) -> dict[str, list[tuple[int, float, float]]]:
    acc = EventAccumulator(str(folder), size_guidance={"scalars": 0})
    acc.Reload()
    return {
        tag: [(e.step, e.value, e.wall_time) for e in acc.Scalars(tag)]
        for tag in acc.Tags()["scalars"]
    }


def test_on_metrics_writes_train_scalars_at_the_given_step(tmp_path: Path) -> None:
    sink = TensorBoardSink(tmp_path / "run")
    assert isinstance(sink, EpisodeSink)
    for record in replay_returns([1.0, 2.0]):
        sink.on_episode(record)
    before = time.time()
    sink.on_metrics(1000, {"loss": 0.5, "learning_rate": 0.25})
    sink.on_metrics(2000, {"loss": 0.125})
    with pytest.warns(UserWarning, match="metric 'note' is a str, not a number"):
        sink.on_metrics(3000, {"note": "x"})  # nothing left: no event
    sink.on_metrics(3000, {"note": "y"})  # warned once
    sink.close()
    events = scalars(tmp_path / "run")
    assert sorted(events) == sorted([*stat_tags(100, 0.1), "train/loss", "train/learning_rate"])
    assert [(s, v) for s, v, _ in events["train/loss"]] == [(1000, 0.5), (2000, 0.125)]
    assert [(s, v) for s, v, _ in events["train/learning_rate"]] == [(1000, 0.25)]
    assert before <= events["train/loss"][0][2] <= time.time()
    assert [s for s, _, _ in events["episode/return"]] == [1, 2]
    assert sink.episodes_written == 2


def test_nothing_is_created_without_an_event_and_close_ends_it(tmp_path: Path) -> None:
    sink = TensorBoardSink(tmp_path / "run", owner="MyDriver")
    sink.on_metrics(5, {})
    sink.close()
    assert list(tmp_path.iterdir()) == []
    with pytest.raises(RuntimeError, match=r"ended after MyDriver.close\(\)"):
        sink.on_episode(next(replay_returns([1.0])))
    with pytest.raises(RuntimeError, match=r"reported after MyDriver.close\(\)"):
        sink.on_metrics(1, {"loss": 1.0})


def test_unique_folders_and_pickled_copies(tmp_path: Path) -> None:
    first = TensorBoardSink(tmp_path / "run", unique=True)
    first.on_metrics(1, {"a": 1.0})
    copy = pickle.loads(pickle.dumps(first))
    assert not copy.is_open and copy.episodes_written == 0
    copy.on_metrics(2, {"a": 2.0})
    first.close()
    copy.close()
    assert first.logdir == tmp_path / "run" and copy.logdir == tmp_path / "run_2"
    assert [s for s, _, _ in scalars(copy.logdir)["train/a"]] == [2]


@pytest.mark.parametrize(
    ("kwargs", "error", "match"),
    [
        ({"logdir": 3}, TypeError, "logdir must be a str or path"),
        ({"flush_secs": 0}, ValueError, "flush_secs must be a finite number of seconds > 0"),
        ({"unique": "yes"}, TypeError, "unique must be True or False"),
    ],
)
def test_bad_arguments(tmp_path: Path, kwargs: dict[str, object], error: type, match: str) -> None:
    arguments: dict[str, object] = {"logdir": tmp_path / "run", **kwargs}
    with pytest.raises(error, match=match):
        TensorBoardSink(**arguments)  # type: ignore[arg-type]


@pytest.mark.skipif(not hasattr(os, "fork"), reason="needs fork()")
def test_a_forked_child_leaves_the_parents_file_alone(tmp_path: Path) -> None:
    sink = TensorBoardSink(tmp_path / "run", flush_secs=3600)
    sink.on_metrics(1, {"a": 1.0})  # the parent's file is open, its events queued
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", DeprecationWarning)  # fork with threads (3.12+)
        pid = os.fork()
    if pid == 0:  # the child: its own file, the parent's queue untouched
        code = 1
        try:
            sink.on_metrics(2, {"a": 2.0})
            sink.close()
            code = 0
        finally:
            os._exit(code)
    _, status = os.waitpid(pid, 0)
    assert status == 0
    sink.on_metrics(3, {"a": 3.0})
    sink.close()
    files = sorted(p for p in (tmp_path / "run").iterdir() if "tfevents" in p.name)
    assert len(files) == 2
    assert sorted(s for s, _, _ in scalars(tmp_path / "run")["train/a"]) == [1, 2, 3]
