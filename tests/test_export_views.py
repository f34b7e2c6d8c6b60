"""The metrics stream in ``gymscope export --table metrics`` and in the
TensorBoard export, and the export's run-level statistics of a multi-worker run."""

from __future__ import annotations

import csv
import io
import json
import math
import sqlite3
from pathlib import Path

import pytest

import stubs_views
from gymscope.cli import main
from gymscope.metrics.export import export_metrics
from gymscope.metrics.queries import MetricsReader
from gymscope.tensorboard import export_experiment
from test_tensorboard import read_scalars

PLAIN = ("FORCE_COLOR", "TTY_COMPATIBLE", "TTY_INTERACTIVE", "COLUMNS", "LINES")


@pytest.fixture
def metrics_db(tmp_path: Path) -> Path:
    """See :func:`stubs_views.metric_run`."""
    return stubs_views.metric_run(tmp_path / "metrics.db")


@pytest.fixture(autouse=True)
def _plain_console(monkeypatch: pytest.MonkeyPatch) -> None:
    for name in PLAIN:
        monkeypatch.delenv(name, raising=False)


def test_export_metrics_as_csv_and_jsonl(
    metrics_db: Path,
    capsys: pytest.CaptureFixture[str],
) -> None:
    assert main(["export", str(metrics_db), "m", "--table", "metrics"]) == 0
    rows = list(csv.reader(io.StringIO(capsys.readouterr().out)))
    assert rows[0] == ["experiment_id", "name", "step", "value", "wall_time", "worker"]
    # only the reported points, by name then step; the NaN as reported; worker 0's
    assert [row[1:4] + row[5:] for row in rows[1:]] == [
        ["loss", "2", "0.5", "0"],
        ["loss", "4", "0.25", "0"],
        ["loss", "6", "nan", "0"],
        ["loss", "8", "0.125", "0"],
        ["value_loss", "8", "2.0", "0"],
    ]
    assert all(float(row[4]) > 1e9 for row in rows[1:])  # Unix times
    assert main(["export", str(metrics_db), "m", "--table", "metrics", "--format", "jsonl"]) == 0
    records = [json.loads(line) for line in capsys.readouterr().out.splitlines()]
    assert [(r["name"], r["step"], r["value"]) for r in records] == [
        ("loss", 2, 0.5),
        ("loss", 4, 0.25),
        ("loss", 6, None),
        ("loss", 8, 0.125),
        ("value_loss", 8, 2.0),
    ]


def test_export_metrics_of_a_version_1_file_is_a_header(metrics_db: Path, tmp_path: Path) -> None:
    old = tmp_path / "v1.db"
    old.write_bytes(metrics_db.read_bytes())
    with sqlite3.connect(old) as conn:
        conn.execute("DROP TABLE gymscope_metric")
    path = export_metrics(old, "m", tmp_path / "m.csv")
    assert path.read_text() == "experiment_id,name,step,value,wall_time,worker\n"
    assert main(["show", str(old), "m"]) == 0  # reads without the table


def test_export_metrics_refuses_monitor(
    metrics_db: Path,
    capsys: pytest.CaptureFixture[str],
) -> None:
    code = main(["export", str(metrics_db), "m", "--table", "metrics", "--format", "monitor"])
    err = capsys.readouterr().err
    assert code == 1 and len(err.splitlines()) == 1 and "Traceback" not in err
    assert err.startswith("gymscope export: error: --format monitor writes episodes; ")


def test_tensorboard_export_is_run_level_and_carries_the_metric_stream(
    tmp_path: Path,
    metrics_db: Path,
) -> None:
    db = stubs_views.pools(tmp_path / "pool.db")
    scalars = read_scalars(export_experiment(db, "four", tmp_path / "tb"))
    # the run's own window and alpha; the mean over all workers in end order
    means = [v for _, v in scalars["episode/return_mean_5"]]
    assert means == pytest.approx(stubs_views.FOUR_AVG)
    assert [s for s, _ in scalars["episode/return_mean_5"]] == list(range(1, 11))
    assert "episode/return_ema_0.1" in scalars
    exported = export_experiment(metrics_db, "m", tmp_path / "tb")
    scalars = read_scalars(exported)
    # each point at the wall time it was stored with, not the conversion's
    from tensorboard.backend.event_processing.event_accumulator import EventAccumulator

    with MetricsReader(metrics_db) as reader:
        stored = reader.metrics("m")["loss"].wall_time.tolist()
    events = EventAccumulator(str(exported))
    events.Reload()
    assert [e.wall_time for e in events.Scalars("train/loss")] == pytest.approx(stored)
    loss = scalars["train/loss"]
    assert [s for s, _ in loss] == [2, 4, 6, 8]
    assert [v for _, v in loss][:2] == [0.5, 0.25] and math.isnan(loss[2][1])
    assert scalars["train/value_loss"] == [(8, 2.0)]
    assert "train/entropy_loss" not in scalars and "episode_metrics/entropy_loss" not in scalars


def test_the_trainers_values_have_no_worker(
    metrics_db: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    with sqlite3.connect(metrics_db) as conn:  # what a trainer-side logger writes
        conn.execute(
            "INSERT INTO gymscope_metric (experiment_id, worker, name, step, value, wall_time)"
            " VALUES (1, NULL, 'train/lr', 16, 0.001, 1.0e9)"
        )
    conn.close()
    assert main(["export", str(metrics_db), "m", "--table", "metrics"]) == 0
    rows = list(csv.reader(io.StringIO(capsys.readouterr().out)))
    assert ["1", "train/lr", "16", "0.001", "1000000000.0", ""] in rows
    assert main(["show", str(metrics_db), "m"]) == 0
    out = [" ".join(line.split()) for line in capsys.readouterr().out.splitlines()]
    assert "train/lr 1 16 16 0.001" in out
