"""gymscope.metrics.export: a run's episodes as CSV, JSON Lines and SB3's monitor.csv."""

from __future__ import annotations

import csv
import datetime as dt
import io
import json
import math
import sqlite3
from pathlib import Path

import pytest

from gymscope.episode import NonFiniteRewardWarning
from gymscope.metrics.export import EXPORT_FORMATS, episode_lines, export_episodes
from gymscope.metrics.queries import MetricsReader
from gymscope.wrappers.sqlite_logger import SQLiteLoggerWrapper
from stubs import ScriptedEnv, play
from stubs_db import SCRIPT, VELORA_SCHEMA, script_episode

EPISODES = 7


@pytest.fixture
def db(tmp_path: Path) -> Path:
    path = tmp_path / "metrics.db"
    env = SQLiteLoggerWrapper(
        ScriptedEnv(SCRIPT, truncate=(1,), final_info={"score": 0.25}),
        path,
        experiment="run",
        info_keys=("score",),
    )
    play(env, EPISODES)
    env.close()
    return path


def lines(db: Path, fmt: str) -> list[str]:
    with MetricsReader(db) as reader:
        return list(episode_lines(reader.episodes("run"), fmt))  # type: ignore[arg-type]


def test_csv_has_every_stored_column(db: Path) -> None:
    rows = list(csv.DictReader(io.StringIO("".join(lines(db, "csv")))))
    assert len(rows) == EPISODES
    assert list(rows[0]) == [
        "experiment_id", "episode_num", "worker", "reward", "length", "reward_moving_avg",
        "reward_moving_std", "actor_loss", "critic_loss", "entropy_loss", "created_at",
        "duration_s", "terminated", "truncated", "total_steps", "extra",
    ]  # fmt: skip
    for i, row in enumerate(rows):
        assert float(row["reward"]) == script_episode(i)[0]
        assert int(row["length"]) == script_episode(i)[1]
        assert row["episode_num"] == str(i) and row["experiment_id"] == "1"
        assert row["actor_loss"] == ""  # NULL: not reported
        assert dt.datetime.fromisoformat(row["created_at"]).tzinfo is not None
        assert json.loads(row["extra"]) == {"info": {"score": 0.25}}
    assert [r["truncated"] for r in rows[:3]] == ["false", "true", "false"]
    assert rows[1]["terminated"] == "false"
    total = 0
    for i, row in enumerate(rows):
        total += script_episode(i)[1]
        assert int(row["total_steps"]) == total


def test_jsonl_is_one_object_per_episode(db: Path) -> None:
    records = [json.loads(line) for line in lines(db, "jsonl")]
    assert len(records) == EPISODES
    assert records[0]["reward"] == 1.5 and records[0]["extra"] == {"info": {"score": 0.25}}
    assert records[1]["truncated"] is True and records[0]["actor_loss"] is None
    assert all(line.endswith("\n") and line.count("\n") == 1 for line in lines(db, "jsonl"))


def test_non_finite_returns(tmp_path: Path) -> None:
    path = tmp_path / "metrics.db"
    env = SQLiteLoggerWrapper(ScriptedEnv(((math.inf,), (1.0,))), path, experiment="run")
    with pytest.warns(NonFiniteRewardWarning):
        play(env, 2)
    env.close()
    assert json.loads(lines(path, "jsonl")[0])["reward"] is None  # strict JSON
    assert next(csv.DictReader(io.StringIO("".join(lines(path, "csv")))))["reward"] == "inf"
    assert lines(path, "monitor")[2].startswith("inf,1,")


def read_monitor(path: Path) -> tuple[dict[str, object], list[dict[str, str]]]:
    """SB3's layout read with the csv module only: the JSON line, then r,l,t rows."""
    with path.open(newline="") as file:
        first = file.readline()
        assert first.startswith("#")
        header = json.loads(first[1:])
        return header, list(csv.DictReader(file))


def test_monitor_layout(db: Path, tmp_path: Path) -> None:
    out = export_episodes(db, "run", tmp_path / "run.monitor.csv", format="monitor")
    header, rows = read_monitor(out)
    assert set(header) == {"t_start", "env_id"} and header["env_id"] == "ScriptedEnv"
    assert out.read_text().splitlines()[1] == "r,l,t"
    assert [float(r["r"]) for r in rows] == [script_episode(i)[0] for i in range(EPISODES)]
    assert [int(r["l"]) for r in rows] == [script_episode(i)[1] for i in range(EPISODES)]
    times = [float(r["t"]) for r in rows]
    assert times == sorted(times) and times[0] >= 0
    # t is the episode's end, in seconds since t_start (SB3's meaning).
    with MetricsReader(db) as reader:
        run = reader.episodes("run")
    t_start = header["t_start"]
    assert isinstance(t_start, float)
    start = run.started_at()
    assert start is not None and t_start == start.timestamp()
    for t, end in zip(times, run.ended_at(), strict=True):
        assert end is not None and t == pytest.approx(end.timestamp() - t_start, abs=1e-6)


@pytest.mark.integration(tier="sb3")
def test_sb3_reads_the_monitor_file(db: Path, tmp_path: Path) -> None:
    monitor = pytest.importorskip("stable_baselines3.common.monitor")
    pytest.importorskip("pandas")  # load_results needs it (SB3's "extra")
    folder = tmp_path / "logs"
    folder.mkdir()
    export_episodes(db, 1, folder / "monitor.csv", format="monitor")
    frame = monitor.load_results(str(folder))
    assert frame["r"].tolist() == [script_episode(i)[0] for i in range(EPISODES)]
    assert frame["l"].tolist() == [script_episode(i)[1] for i in range(EPISODES)]
    assert (frame["t"].diff().dropna() >= 0).all()


def test_export_checks_its_format_and_writes_atomically(db: Path, tmp_path: Path) -> None:
    assert EXPORT_FORMATS == ("csv", "jsonl", "monitor")
    with pytest.raises(ValueError, match="format must be one of csv, jsonl, monitor"):
        export_episodes(db, 1, tmp_path / "x", format="xml")  # type: ignore[arg-type]
    target = tmp_path / "out.csv"
    target.write_text("old")
    with pytest.raises(FileExistsError, match="pass overwrite=True"):
        export_episodes(db, "run", target)
    assert target.read_text() == "old"
    export_episodes(db, "run", target, overwrite=True)
    assert target.read_text().startswith("experiment_id,")
    assert sorted(p.name for p in tmp_path.iterdir()) == ["metrics.db", "out.csv"]


def test_a_velora_database_exports_its_columns(tmp_path: Path) -> None:
    path = tmp_path / "velora.db"
    with sqlite3.connect(path) as conn:
        conn.executescript(
            VELORA_SCHEMA
            + """
            INSERT INTO experiment VALUES (1, 'A', 'Pendulum-v1', '{}',
                '2025-01-01 10:00:00.000000');
            INSERT INTO episode VALUES (1, 1, 0, -3.5, 200, -3.5, 0.0, 0.1, 0.2, 0.0,
                '2025-01-01 10:00:04.500000');
            """
        )
    conn.close()
    with MetricsReader(path) as reader:
        run = reader.episodes(1)
    header = next(csv.reader(io.StringIO(next(episode_lines(run, "csv")))))
    assert "worker" not in header and "reward" in header
    monitor = list(episode_lines(run, "monitor"))
    assert json.loads(monitor[0][1:])["t_start"] == 1735725600.0
    assert monitor[2] == "-3.5,200,4.5\n"
