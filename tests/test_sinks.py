"""The sink layer: the protocol, the driver's lifecycle, sinks without an env."""

from __future__ import annotations

import gc
import os
import pickle
import sqlite3
from pathlib import Path
from typing import Any

import pytest

from gymscope import EpisodeRecord, EpisodeStatsWrapper, SQLiteLoggerWrapper
from gymscope.errors import ArgumentTypeError
from gymscope.sinks import DatabaseSink, EpisodeSink, EpisodeStatsSink, RunInfo, Sink
from gymscope.sinks.base import replay_returns
from gymscope.wrappers.sinks import SinkWrapper
from stubs import ScriptedEnv, play


class Keep(Sink):
    """Keeps what it is given; counts closes."""

    def __init__(self) -> None:
        self.records: list[EpisodeRecord] = []
        self.infos: list[Any] = []
        self.closed = 0

    def on_episode(self, record: EpisodeRecord, info: Any = None) -> None:
        self.records.append(record)
        self.infos.append(info)

    def close(self) -> None:
        self.closed += 1


def test_sinks_satisfy_the_protocol() -> None:
    assert isinstance(Keep(), EpisodeSink)
    assert isinstance(EpisodeStatsSink(), EpisodeSink)
    assert not isinstance(object(), EpisodeSink)


def test_a_wrapper_refuses_what_is_not_a_sink() -> None:
    with pytest.raises(ArgumentTypeError, match=r"sinks must have open\(\), on_episode\(\)"):
        SinkWrapper(ScriptedEnv(), object())  # type: ignore[arg-type]


def test_sink_wrapper_drives_custom_sinks_with_the_final_info() -> None:
    keep = Keep()
    env = SinkWrapper(ScriptedEnv(((1.0, 2.0), (5.0,))), keep, window_size=2, alpha=0.5)
    finals = play(env, 3)
    assert [r.episode_return for r in keep.records] == [3.0, 5.0, 3.0]
    assert [r.moving_mean for r in keep.records] == [3.0, 4.0, 4.0]
    assert keep.infos == finals  # the env's own final info dicts
    assert keep.run is env.run_info
    env.close()
    env.close()
    assert keep.closed == 1


def test_stacked_drivers_deliver_each_episode_once_to_every_sink() -> None:
    inner, outer = Keep(), Keep()
    env = SinkWrapper(EpisodeStatsWrapper(SinkWrapper(ScriptedEnv(), inner)), outer)
    finals = play(env, 4)
    assert len(inner.records) == len(outer.records) == 4
    assert all("episode" in f for f in finals)
    assert inner.run is outer.run  # one RunInfo per stack
    env.close()
    assert inner.closed == outer.closed == 1


def test_unclosed_wrapper_closes_its_sinks_when_collected() -> None:
    keep = Keep()
    env = SinkWrapper(ScriptedEnv(), keep)
    play(env, 1)
    del env
    gc.collect()
    assert keep.closed == 1


def test_pickled_wrapper_gets_its_own_finalizer() -> None:
    env = SinkWrapper(ScriptedEnv(), Keep())
    copy = pickle.loads(pickle.dumps(env))
    assert copy._finalizer is not None and copy._finalizer is not env._finalizer
    assert copy.sinks[0] is not env.sinks[0]
    copy.close()
    env.close()


def test_forked_child_forgets_the_parents_sinks_before_writing(tmp_path: Path) -> None:
    class Forgetful(Keep):
        def __init__(self) -> None:
            super().__init__()
            self.forgotten_in: list[int] = []

        def forked(self) -> None:
            self.forgotten_in.append(os.getpid())

    sink = Forgetful()
    env = SinkWrapper(ScriptedEnv(), sink)
    play(env, 1)
    read, write = os.pipe()
    pid = os.fork()
    if pid == 0:  # the child: one episode, then report what the sink saw
        try:
            play(env, 1)
            os.write(write, f"{sink.forgotten_in == [os.getpid()]},{len(sink.records)}".encode())
        finally:
            os._exit(0)
    os.close(write)
    os.waitpid(pid, 0)
    assert os.read(read, 100).decode() == "True,2"
    assert sink.forgotten_in == [] and len(sink.records) == 1
    env.close()


def test_database_sink_names_the_run_for_the_other_sinks(tmp_path: Path) -> None:
    keep = Keep()
    seen: list[tuple[str | None, int | None]] = []

    class Witness(Keep):
        def on_episode(self, record: EpisodeRecord, info: Any = None) -> None:
            assert self.run is not None
            seen.append((self.run.experiment, self.run.worker))

    # the witness is inside (registered first) yet sees the leased worker: the
    # database sink comes first among the stack's sinks
    env = SQLiteLoggerWrapper(SinkWrapper(ScriptedEnv(), Witness(), keep), tmp_path / "m.db", "x")
    play(env, 2)
    env.close()
    assert seen == [("x", 0), ("x", 0)]
    assert keep.run == RunInfo(experiment="x", worker=0, env_id="ScriptedEnv", agent="")


def test_database_sink_without_an_env(tmp_path: Path) -> None:
    sink = DatabaseSink(tmp_path / "m.db", "replay", env_id="CartPole-v1", worker=3)
    sink.open(RunInfo())
    for record in replay_returns([1.0, 2.0, 4.0], window_size=2):
        sink.on_episode(record)
    assert sink.worker == 3
    sink.close()
    sink.close()
    with sqlite3.connect(tmp_path / "m.db") as db:
        rows = db.execute(
            "SELECT worker, episode_num, reward, reward_moving_avg FROM episode ORDER BY id"
        ).fetchall()
        env = db.execute("SELECT env FROM experiment").fetchone()[0]
    assert rows == [(3, 0, 1.0, 1.0), (3, 1, 2.0, 1.5), (3, 2, 4.0, 3.0)]
    assert env == "CartPole-v1"
