"""What ``gymscope runs`` and ``gymscope show`` say about multi-worker runs:
run-level averages over the merged episode order (exact values), per-worker
figures on request, the run's status, its step-keyed metrics and configs."""

from __future__ import annotations

import multiprocessing
import os
import signal
import time
from pathlib import Path
from typing import Any

import pytest

import stubs_views
from gymscope.cli import main
from gymscope.metrics.queries import MetricsReader
from gymscope.report import write_report
from gymscope.wrappers.sqlite_logger import SQLiteLoggerWrapper
from stubs import ScriptedEnv, play

FORK = multiprocessing.get_context("fork")


@pytest.fixture(autouse=True)
def _wide_console(monkeypatch: pytest.MonkeyPatch) -> None:
    for name in ("FORCE_COLOR", "TTY_COMPATIBLE", "TTY_INTERACTIVE", "LINES"):
        monkeypatch.delenv(name, raising=False)
    monkeypatch.setenv("COLUMNS", "200")


def run(capsys: pytest.CaptureFixture[str], *argv: str) -> tuple[int, str, str]:
    code = main(list(argv))
    out, err = capsys.readouterr()
    return code, out, err


def flat(out: str) -> list[str]:
    return [" ".join(line.split()) for line in out.splitlines()]


@pytest.fixture
def pools(tmp_path: Path) -> Path:
    """See :func:`stubs_views.pools`."""
    return stubs_views.pools(tmp_path / "metrics.db")


def test_runs_shows_run_level_averages_of_the_merged_order(
    pools: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    code, out, err = run(capsys, "runs", str(pools))
    assert code == 0 and err == ""
    lines = out.splitlines()
    # the runs have different windows: each average names its own
    assert lines[1].split()[4:9] == ["Status", "Episodes", "Steps", "Last", "avg"]
    four, two = lines[3].split(), lines[4].split()
    # four: last (20+30+40+10+20)/5 = 24 (the best, 28, is gymscope show's)
    expected = ["1", "four", "ScriptedEnv", "\u2013", "finished", "10", "10"]
    assert four[:9] == [*expected, "24", "(avg5)"]
    # two: 1 1 5 5 1 5 -> last (5+1+5)/3 = 3.667
    assert two[4:9] == ["finished", "6", "6", "3.667", "(avg3)"]


def test_show_labels_run_level_averages_with_their_window(
    pools: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    code, out, err = run(capsys, "show", str(pools), "four", "--last", "3")
    assert code == 0 and err == ""
    lines = flat(out)
    assert "Episodes 10 (4 workers)" in lines
    assert "Best avg5 28 (all workers)" in lines
    assert "Last avg5 24 (all workers)" in lines
    assert "Moving-average return (avg5, all workers in the order episodes ended)" in lines
    spark = lines[
        lines.index("Moving-average return (avg5, all workers in the order episodes ended)") + 1
    ]
    assert spark.endswith("10 \u2192 24")  # first and last run-level average
    assert "Workers" not in lines  # per-worker figures only on request
    table = out[out.index("Last 3 of 10 episodes") :].splitlines()
    assert table[1].split()[:6] == ["Episode", "Worker", "Return", "Length", "Avg5", "Worker"]
    # the run-level average, then the row's own (its worker's) moving average
    assert [row.split()[:6] for row in table[3:6]] == [
        ["1", "3", "40", "1", "28", "40"],
        ["2", "0", "10", "1", "22", "10"],
        ["2", "1", "20", "1", "24", "20"],
    ]


def test_show_by_worker_lists_each_workers_own_figures(
    pools: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    code, out, _ = run(capsys, "show", str(pools), "four", "--by-worker")
    assert code == 0
    lines = flat(out)
    start = lines.index("Workers")
    assert lines[start + 1] == "Worker Episodes Steps Last avg5 Best avg5 Status"
    assert lines[start + 3 : start + 7] == [
        "0 3 3 10 10 finished",
        "1 3 3 20 20 finished",
        "2 2 2 30 30 finished",
        "3 2 2 40 40 finished",
    ]
    code, out, _ = run(capsys, "show", str(pools), "two", "--by-worker")
    lines = flat(out)
    start = lines.index("Workers")
    assert lines[start + 3 : start + 5] == ["0 3 3 1 1 finished", "1 3 3 5 5 finished"]
    assert "Last avg3 3.667 (all workers)" in lines


def _hold(db: str, ready: Any) -> None:
    """A writer that ends 2 episodes, then stays alive without closing."""
    env = SQLiteLoggerWrapper(ScriptedEnv(), db, experiment="live")
    play(env, 2)
    ready.set()
    time.sleep(120)


def test_status_of_a_live_writer_then_of_one_killed(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    db = tmp_path / "metrics.db"
    env = SQLiteLoggerWrapper(ScriptedEnv(), db, experiment="done")
    play(env, 2)
    env.close()
    ready = FORK.Event()
    child = FORK.Process(target=_hold, args=(str(db), ready))
    child.start()
    try:
        assert ready.wait(60), "the child never ended its episodes"
        code, out, _ = run(capsys, "runs", str(db))
        assert code == 0
        rows = {line.split()[1]: line.split() for line in out.splitlines()[3:5]}
        assert rows["done"][4] == "finished" and rows["live"][4] == "running"
        code, out, _ = run(capsys, "show", str(db), "live")
        assert flat(out)[flat(out).index("Summary") + 1].startswith(
            "Status running, last activity 20"
        )
        page = write_report(db, tmp_path / "live.html").read_text(encoding="utf-8")
        assert '<span class="status status-running">running</span>' in page
    finally:
        os.kill(child.pid, signal.SIGKILL)
        child.join(60)
    assert child.exitcode == -signal.SIGKILL
    code, out, _ = run(capsys, "runs", str(db))
    rows = {line.split()[1]: line.split() for line in out.splitlines()[3:5]}
    assert rows["done"][4] == "finished" and rows["live"][4] == "crashed"
    code, out, _ = run(capsys, "show", str(db), "live", "--by-worker")
    lines = flat(out)
    assert lines[lines.index("Summary") + 1].startswith("Status crashed, last activity 20")
    assert lines[lines.index("Workers") + 3] == "0 2 6 3 3 crashed"
    page = write_report(db, tmp_path / "report.html").read_text(encoding="utf-8")
    live = page[page.index('id="run-2"') :]
    assert '<span class="status status-crashed">crashed</span>' in live
    assert (
        '<span class="status status-finished">finished</span>' in page[: page.index('id="run-2"')]
    )


def test_show_lists_step_metrics_and_flags_a_changed_config(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    db = tmp_path / "metrics.db"
    env = SQLiteLoggerWrapper(ScriptedEnv(), db, experiment="m", config={"lr": 0.1, "n": 4})
    log = env.get_wrapper_attr("log_metrics")
    env.reset()
    for step in (3, 6, 9):
        log(step=step, loss=1.0 / step)
    log(step=12, loss=float("nan"), value_loss=0.5)
    play(env, 1)
    env.close()
    resumed = SQLiteLoggerWrapper(ScriptedEnv(), db, experiment="m", config={"lr": 0.2, "n": 4})
    play(resumed, 1)
    resumed.close()
    code, out, err = run(capsys, "show", str(db), "m")
    assert code == 0, err
    lines = flat(out)
    start = lines.index("Training metrics (by step)")
    assert lines[start + 1] == "Metric Points First step Last step Last value"
    assert lines[start + 3 : start + 5] == ["loss 4 3 12 NaN", "value_loss 1 12 12 0.5"]
    start = lines.index("Config history")
    assert lines[start + 1].startswith("\u26a0 2 configs: the run was resumed with a different")
    assert lines[start + 2].startswith("1. 20") and lines[start + 2].endswith('{"lr": 0.1, "n": 4}')
    assert lines[start + 3].endswith('changed: {"lr": 0.2}')


def test_one_config_is_not_flagged(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    db = tmp_path / "metrics.db"
    for _ in range(2):  # resumed with the same config: nothing to flag
        env = SQLiteLoggerWrapper(ScriptedEnv(), db, experiment="same", config={"lr": 0.1})
        play(env, 1)
        env.close()
    with MetricsReader(db) as reader:
        assert len(reader.configs("same")) == 1
    code, out, _ = run(capsys, "show", str(db), "same")
    assert code == 0
    assert "Config history" not in out and "lr 0.1" in flat(out)
    assert "Training metrics" not in out


def test_every_view_reads_a_velora_file_and_leaves_it_alone(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    from test_queries import velora_db

    db = velora_db(tmp_path / "velora.db")
    before = db.read_bytes()
    code, out, err = run(capsys, "runs", str(db))
    assert code == 0, err
    row = out.splitlines()[3].split()
    # returns 0..4, window 100 (none stored): (0+1+2+3+4)/5 = 2
    assert row[4:8] == ["finished", "5", "60", "2"]
    code, out, err = run(capsys, "show", str(db), "1", "--by-worker")
    assert code == 0, err
    lines = flat(out)
    assert "Last avg100 2" in lines and lines[lines.index("Workers") + 3] == "0 5 60 2 2 finished"
    assert "Training metrics" not in out and "Config history" not in out
    for argv in (
        ["plot", str(db), "1", "-o", str(tmp_path / "p"), "--x", "time", "--by-worker"],
        ["report", str(db), "-o", str(tmp_path / "r.html")],
        ["export", str(db), "1", "--table", "metrics", "-o", str(tmp_path / "m.csv")],
        ["tensorboard", str(db), "1", "--logdir", str(tmp_path / "tb")],
    ):
        code, _, err = run(capsys, *argv)
        assert code == 0, (argv, err)
    assert (tmp_path / "m.csv").read_text() == "experiment_id,name,step,value,wall_time,worker\n"
    # velora's entropy_loss of 0.0 is "not reported": no chart of zeros
    assert not list((tmp_path / "p").glob("*entropy*"))
    assert db.read_bytes() == before
    assert sorted(p.name for p in tmp_path.iterdir() if p.name.startswith("velora")) == [
        "velora.db"
    ]
