"""The gymscope command: in-process through main(), and the real script for --help."""

from __future__ import annotations

import csv
import json
import logging
import os
import subprocess
import sys
from pathlib import Path
from typing import Any

import pytest

from gymscope import __version__
from gymscope import demo as demo_module
from gymscope.cli import COMMANDS, build_parser, main


@pytest.fixture(autouse=True)
def _plain_console(monkeypatch: pytest.MonkeyPatch) -> None:
    """rich must see a non-terminal with default width, whatever the CI sets."""
    for name in ("FORCE_COLOR", "TTY_COMPATIBLE", "TTY_INTERACTIVE", "COLUMNS", "LINES"):
        monkeypatch.delenv(name, raising=False)


def run(capsys: pytest.CaptureFixture[str], *argv: str) -> tuple[int, str, str]:
    code = main(list(argv))
    out, err = capsys.readouterr()
    return code, out, err


# -- gymscope demo -----------------------------------------------------------------------


def test_demo_trains_and_prints_a_summary(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    out_dir = tmp_path / "demo-out"
    code, out, err = run(capsys, "demo", "--episodes", "40", "--out", str(out_dir), "--seed", "1")
    assert code == 0, err
    assert err == ""
    assert out_dir.is_dir()
    assert "Training a linear policy on CartPole-v1" in out
    assert "40/40 episodes" in out  # the progress bar's final state, printed once
    assert "gymscope demo: CartPole-v1, seed 1" in out
    assert "Episodes            40 (1 cross-entropy iteration of 30 candidates)" in out
    for label in ("Steps", "Moving mean return  best ", "Learning curve", "Wall time"):
        assert label in out
    assert f"Output folder       {out_dir}\n" in out
    assert "\x1b[" not in out  # not a terminal: no escape codes


def test_demo_defaults_to_gymscope_demo_folder_in_cwd(
    tmp_path: Path, capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.chdir(tmp_path)
    code, out, _ = run(capsys, "demo", "--episodes", "30")
    assert code == 0
    assert (tmp_path / "gymscope-demo").is_dir()
    assert f"{tmp_path / 'gymscope-demo'}\n" in out


def test_demo_same_seed_same_summary_numbers(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    def numbers(seed: str) -> list[str]:
        code, out, _ = run(
            capsys, "demo", "--episodes", "35", "--out", str(tmp_path), "--seed", seed
        )
        assert code == 0
        return [line for line in out.splitlines() if line.startswith(("Steps", "Moving mean"))]

    assert numbers("5") == numbers("5")
    assert numbers("5") != numbers("6")


def test_demo_long_output_path_stays_on_one_line(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    out_dir = tmp_path / ("a-rather-long-folder-name-for-the-demo-" * 3)
    code, out, _ = run(capsys, "demo", "--episodes", "30", "--out", str(out_dir))
    assert code == 0
    assert str(out_dir) in out.splitlines()[-1]


def test_demo_verbose_logs_iterations_to_stderr(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    code, _, err = run(capsys, "demo", "-v", "--episodes", "30", "--out", str(tmp_path))
    assert code == 0
    assert "iteration 1: mean return" in err
    assert not logging.getLogger("gymscope").handlers  # the handler is removed afterwards


@pytest.mark.parametrize(
    ("argv", "exit_code", "message"),
    [
        (["demo", "--episodes", "0"], 2, "argument --episodes: expected a whole number >= 1"),
        (["demo", "--episodes", "ten"], 2, "expected a whole number >= 1, got 'ten'"),
        (["demo", "--episodes", "-5"], 2, "expected a whole number >= 1, got '-5'"),
        (["demo", "--seed", "-1"], 2, "argument --seed: expected a whole number >= 0"),
        (["demo", "--env", "NoSuchEnv-v0"], 1, "unknown environment 'NoSuchEnv-v0'"),
        (["demo", "--env", "cartpole-v1"], 1, "Did you mean: `CartPole`?"),
        (["demo", "--env", "Pendulum-v1"], 1, "needs a Box observation space and a Discrete"),
        (["frobnicate"], 2, "invalid choice: 'frobnicate'"),
        (["demo", "--frobnicate"], 2, "unrecognized arguments: --frobnicate"),
    ],
)
def test_user_mistakes_are_one_line_errors(
    tmp_path: Path,
    capsys: pytest.CaptureFixture[str],
    argv: list[str],
    exit_code: int,
    message: str,
) -> None:
    code, out, err = run(capsys, *argv, *(["--out", str(tmp_path)] if argv[0] == "demo" else []))
    assert code == exit_code
    assert message in err
    assert err.startswith("gymscope") and ": error: " in err
    assert err.count("\n") == 1, err
    assert "Traceback" not in out + err


def test_unwritable_out_is_a_one_line_error(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    a_file = tmp_path / "not-a-dir"
    a_file.write_text("")
    for out_dir, message in (
        (a_file, "exists and is not a directory"),
        (a_file / "sub", "cannot write to output directory"),
    ):
        code, out, err = run(capsys, "demo", "--episodes", "5", "--out", str(out_dir))
        assert code == 1
        assert err.startswith("gymscope demo: error: ")
        assert message in err and str(out_dir) in err
        assert err.count("\n") == 1
        assert "Traceback" not in out + err


def test_ctrl_c_is_reported_without_traceback(
    tmp_path: Path, capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch
) -> None:
    def interrupted(*args: Any, **kwargs: Any) -> None:
        raise KeyboardInterrupt

    monkeypatch.setattr(demo_module, "run_demo", interrupted)
    code, _, err = run(capsys, "demo", "--out", str(tmp_path))
    assert code == 130
    assert err == "gymscope demo: error: interrupted\n"


# -- help, version, no command -------------------------------------------------------


def test_help_shows_commands_and_an_example(capsys: pytest.CaptureFixture[str]) -> None:
    code, out, _ = run(capsys, "--help")
    assert code == 0
    assert "usage: gymscope" in out
    assert "demo" in out
    assert "examples:\n  gymscope demo" in out


def test_every_command_help_has_an_example(capsys: pytest.CaptureFixture[str]) -> None:
    subparsers = build_parser()._subparsers
    assert subparsers is not None
    (action,) = subparsers._group_actions
    names = list(action.choices)  # type: ignore[arg-type]
    assert len(names) == len(COMMANDS)
    for name in names:
        code, out, _ = run(capsys, name, "--help")
        assert code == 0
        assert f"usage: gymscope {name}" in out
        assert "example" in out and f"\n  gymscope {name}" in out


def test_demo_help_documents_its_options(capsys: pytest.CaptureFixture[str]) -> None:
    code, out, _ = run(capsys, "demo", "--help")
    assert code == 0
    for option in ("--env ID", "--episodes N", "--out DIR", "--seed S", "--verbose"):
        assert option in out
    flat = " ".join(out.split())  # argparse wraps to the terminal width
    assert "(default: CartPole-v1)" in flat and "(default: ./gymscope-demo)" in flat
    assert "(default: 500)" in flat and "(default: 0)" in flat


def test_no_command_prints_help_and_fails(capsys: pytest.CaptureFixture[str]) -> None:
    code, out, _ = run(capsys)
    assert code == 2
    assert "usage: gymscope" in out


def test_version(capsys: pytest.CaptureFixture[str]) -> None:
    code, out, _ = run(capsys, "--version")
    assert code == 0
    assert out == f"gymscope {__version__}\n"


# -- the real command ----------------------------------------------------------------


def _script(*argv: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run(argv, capture_output=True, text=True, timeout=120, check=False)


@pytest.mark.parametrize(
    "command",
    [
        [sys.executable, "-m", "gymscope.cli"],
        [sys.executable, "-m", "gymscope"],
        [str(Path(sys.executable).with_name("gymscope"))],
    ],
    ids=["-m gymscope.cli", "-m gymscope", "console script"],
)
def test_help_from_the_real_command(command: list[str]) -> None:
    if not Path(command[0]).exists():
        pytest.skip(f"{command[0]} is not installed")
    result = _script(*command, "demo", "--help")
    assert result.returncode == 0, result.stderr
    assert result.stdout.startswith("usage: gymscope demo")
    assert "gymscope demo --episodes" in result.stdout
    assert result.stderr == ""


def test_help_imports_nothing_heavy() -> None:
    probe = (
        "import sys\nfrom gymscope.cli import main\ncode = main(['demo', '--help'])\n"
        "heavy = {'numpy', 'gymnasium', 'rich'} & {m.split('.')[0] for m in sys.modules}\n"
        "print(sorted(heavy), code, file=sys.stderr)"
    )
    result = _script(sys.executable, "-c", probe)
    assert result.stderr == "[] 0\n"


def test_demo_through_a_pipe(tmp_path: Path) -> None:
    """CI runs the demo with stdout not a terminal: output stays plain text."""
    result = _script(
        sys.executable, "-m", "gymscope", "demo", "--episodes", "30", "--out", str(tmp_path)
    )
    assert result.returncode == 0, result.stderr
    assert "30/30 episodes" in result.stdout
    assert f"Output folder       {tmp_path}\n" in result.stdout
    assert "\x1b[" not in result.stdout


# -- reading a metrics database: fixtures ----------------------------------------------

SCRIPT_RETURNS = (1.5, 1.0, 6.0, 2.0)


def _log(db: Path, name: str, episodes: int, **kwargs: Any) -> None:
    from gymscope.wrappers.sqlite_logger import SQLiteLoggerWrapper
    from stubs import ScriptedEnv, play
    from stubs_db import SCRIPT

    env = SQLiteLoggerWrapper(ScriptedEnv(SCRIPT), db, experiment=name, window_size=2, **kwargs)
    play(env, episodes)
    env.close()


@pytest.fixture
def runs_db(tmp_path: Path) -> Path:
    """Two runs in tmp_path/runs/metrics.db: 'alpha' (12 episodes) and 'beta' (3)."""
    folder = tmp_path / "runs"
    folder.mkdir()
    db = folder / "metrics.db"
    _log(db, "alpha", 12, agent="PPO", config={"lr": 0.0003, "net": [64, 64], "note": "x"})
    _log(db, "beta", 3)
    return db


@pytest.fixture
def wide(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("COLUMNS", "200")


# -- gymscope runs -------------------------------------------------------------------


@pytest.mark.usefixtures("wide")
def test_runs_lists_every_experiment(runs_db: Path, capsys: pytest.CaptureFixture[str]) -> None:
    code, out, err = run(capsys, "runs", str(runs_db))
    assert code == 0 and err == ""
    lines = out.splitlines()
    assert lines[0] == f"2 runs in {runs_db}"
    header = lines[1].split()
    # no best moving average: it needs every episode of a run (gymscope show has it)
    assert header == ["ID", "Name", "Env", "Agent", "Status", "Episodes", "Steps", "Last", "avg2",
                      "Started", "Duration", "Last", "activity"]  # fmt: skip
    alpha = lines[3].split()
    assert alpha[:7] == ["1", "alpha", "ScriptedEnv", "PPO", "finished", "12", "24"]
    assert alpha[7:8] == ["4"]  # the last moving average (window 2)
    beta = lines[4].split()
    assert beta[:6] == ["2", "beta", "ScriptedEnv", "\u2013", "finished", "3"]
    assert "\x1b[" not in out


def test_runs_on_a_narrow_terminal_stacks_cells(
    runs_db: Path, capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("COLUMNS", "80")
    code, out, _ = run(capsys, "runs", str(runs_db))
    assert code == 0
    assert max(len(line) for line in out.splitlines()[1:]) <= 80  # the title is one line
    assert "Name / env, agent" in out and "ScriptedEnv, PPO" in out
    assert "finished, last " in out


def test_piped_runs_keep_one_line_per_run(
    runs_db: Path, capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.delenv("COLUMNS", raising=False)
    code, out, _ = run(capsys, "runs", str(runs_db))
    assert code == 0
    rows = [line for line in out.splitlines()[3:] if line.strip()]
    assert len(rows) == 2  # one line per run: grep-able
    assert "Name / env, agent" not in out


def test_runs_reads_metrics_db_in_a_folder_and_by_default(
    runs_db: Path, capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch
) -> None:
    code, out, _ = run(capsys, "runs", str(runs_db.parent))
    assert code == 0 and out.startswith(f"2 runs in {runs_db}")
    monkeypatch.chdir(runs_db.parent)
    code, out, _ = run(capsys, "runs")
    assert code == 0 and out.startswith("2 runs in ")
    code, out, _ = run(capsys, "runs", f"sqlite:///{runs_db}")
    assert code == 0 and "alpha" in out


def test_runs_of_an_empty_database(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    from gymscope.metrics import get_db_engine

    get_db_engine(tmp_path / "empty.db").dispose()
    code, out, _ = run(capsys, "runs", str(tmp_path / "empty.db"))
    assert code == 0 and out == f"No runs in {tmp_path / 'empty.db'} yet.\n"


# -- gymscope show -------------------------------------------------------------------


def test_show_prints_config_statistics_sparkline_and_last_episodes(
    runs_db: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    code, out, err = run(capsys, "show", str(runs_db), "alpha", "--last", "3")
    assert code == 0 and err == ""
    assert out.startswith("Experiment 1 \u00b7 alpha\nScriptedEnv \u00b7 PPO \u00b7 gymscope ")
    flat = [" ".join(line.split()) for line in out.splitlines()]
    assert "Episodes 12" in flat and "Steps 24" in flat
    assert "Return mean 2.625 \u00b1 1.98, min 1, max 6 (episode 2)" in flat
    assert "Best avg2 4" in flat and "Last avg2 4" in flat
    assert flat[flat.index("Summary") + 1].startswith("Status finished, last activity 20")
    assert "Endings 12 terminated, 0 truncated" in flat
    assert "lr 0.0003" in flat and "net [64, 64]" in flat and "note x" in flat
    spark = flat[flat.index("Moving-average return (avg2)") + 1]
    blocks, _, span = spark.partition(" ")
    assert len(blocks) == 12 and set(blocks) <= set(
        "\u2581\u2582\u2583\u2584\u2585\u2586\u2587\u2588"
    )
    assert span == "1.5 \u2192 4"
    table = out[out.index("Last 3 of 12 episodes") :].splitlines()
    assert table[1].split() == ["Episode", "Return", "Length", "Avg2", "Ended", "Took",
                                "How"]  # fmt: skip
    assert [row.split()[:4] for row in table[3:6]] == [
        ["9", "1", "2", "1.25"],
        ["10", "6", "3", "3.5"],
        ["11", "2", "2", "4"],
    ]
    assert all(row.split()[-1] == "terminated" for row in table[3:6])


def test_show_finds_experiments_by_id_in_the_default_database(
    runs_db: Path, capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.chdir(runs_db.parent)
    code, out, _ = run(capsys, "show", "2")
    assert code == 0 and out.startswith("Experiment 2 \u00b7 beta")
    assert "(none stored)" in out  # no config


def test_show_draws_ascii_when_the_terminal_cannot_show_blocks(runs_db: Path) -> None:
    env = {**os.environ, "PYTHONIOENCODING": "ascii", "COLUMNS": "100"}
    result = subprocess.run(
        [sys.executable, "-m", "gymscope", "show", str(runs_db), "1"],
        capture_output=True,
        text=True,
        timeout=120,
        env=env,
        check=False,
    )
    assert result.returncode == 0, result.stderr
    assert result.stdout.isascii()
    assert "Experiment 1 - alpha" in result.stdout and "1.5 -> 4" in result.stdout
    assert "mean 2.625 +- 1.98" in result.stdout


# -- gymscope export -----------------------------------------------------------------


@pytest.mark.parametrize("fmt", ["csv", "jsonl", "monitor"])
def test_export_to_stdout_and_to_a_file(
    runs_db: Path, tmp_path: Path, capsys: pytest.CaptureFixture[str], fmt: str
) -> None:
    code, out, err = run(capsys, "export", str(runs_db), "beta", "--format", fmt)
    assert code == 0 and err == ""
    lines = out.splitlines()
    if fmt == "csv":
        assert lines[0].startswith("experiment_id,episode_num,") and len(lines) == 4
    elif fmt == "jsonl":
        assert [json.loads(line)["reward"] for line in lines] == [1.5, 1.0, 6.0]
    else:
        assert lines[0].startswith('#{"t_start": ') and lines[1] == "r,l,t" and len(lines) == 5
    target = tmp_path / f"beta.{fmt}"
    code, out, _ = run(capsys, "export", str(runs_db), "2", "--format", fmt, "-o", str(target))
    assert code == 0
    assert out == f"Wrote 3 episodes of experiment 2 ({fmt}) to {target}\n"
    assert target.read_text().splitlines() == lines


def test_export_monitor_reads_back_with_the_csv_module(
    runs_db: Path, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    target = tmp_path / "monitor.csv"
    assert (
        run(capsys, "export", str(runs_db), "1", "--format", "monitor", "-o", str(target))[0] == 0
    )
    with target.open(newline="") as file:
        header = json.loads(file.readline()[1:])
        rows = list(csv.DictReader(file))
    assert header["env_id"] == "ScriptedEnv" and isinstance(header["t_start"], float)
    assert [float(r["r"]) for r in rows] == [SCRIPT_RETURNS[i % 4] for i in range(12)]
    assert [float(r["t"]) for r in rows] == sorted(float(r["t"]) for r in rows)


# -- gymscope plot -------------------------------------------------------------------


def test_plot_one_and_several_runs(
    runs_db: Path,
    tmp_path: Path,
    capsys: pytest.CaptureFixture[str],
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    out_dir = tmp_path / "plots"
    code, out, _ = run(capsys, "plot", str(runs_db), "alpha", "-o", str(out_dir), "--window", "3")
    assert code == 0
    assert sorted(p.name for p in out_dir.iterdir()) == [
        "alpha_length_curve.png", "alpha_length_curve.svg",
        "alpha_reward_curve.png", "alpha_reward_curve.svg",
    ]  # fmt: skip
    assert out.splitlines()[0] == f"Wrote 4 files (2 charts) to {out_dir}:"
    monkeypatch.chdir(runs_db.parent)  # default database; the first word is an experiment
    code, out, _ = run(capsys, "plot", "1", "beta", "-o", str(tmp_path / "cmp"))
    assert code == 0
    names = sorted(p.name for p in (tmp_path / "cmp").iterdir())
    assert "compare_reward_curve.svg" in names and "compare_length_curve.png" in names
    assert "alpha_reward_curve.svg" in names and "beta_length_curve.svg" in names
    svg = (tmp_path / "cmp" / "compare_reward_curve.svg").read_text()
    assert 'data-label="#1 alpha"' in svg and 'data-label="#2 beta"' in svg


def test_plot_keeps_file_names_apart(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    db = tmp_path / "metrics.db"
    _log(db, "compare", 2)
    _log(db, "run/1", 2)
    _log(db, "run_1", 2)
    code, _, _ = run(capsys, "plot", str(db), "1", "2", "3", "-o", str(tmp_path / "p"))
    assert code == 0
    stems = {p.name.removesuffix(".svg") for p in (tmp_path / "p").glob("*.svg")}
    assert {"compare_reward_curve", "compare_2_reward_curve", "run_1_reward_curve",
            "run_1_2_reward_curve"} <= stems  # fmt: skip


# -- gymscope report -----------------------------------------------------------------


def test_report_writes_one_html_file(
    runs_db: Path, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    target = tmp_path / "site" / "index.html"
    code, out, err = run(capsys, "report", str(runs_db), "-o", str(target), "--title", "My <sweep>")
    assert code == 0 and err == ""
    assert out == f"Wrote the report of 2 runs (0 videos) to {target}\n"
    page = target.read_text(encoding="utf-8")
    assert "<title>My &lt;sweep&gt;</title>" in page and page.count('class="card run"') == 2


def test_report_defaults_to_report_html_here(
    runs_db: Path, capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.chdir(runs_db.parent)
    code, _, _ = run(capsys, "report")
    assert code == 0 and (runs_db.parent / "report.html").is_file()


# -- gymscope tensorboard ------------------------------------------------------------


def test_tensorboard_converts_a_stored_run(
    runs_db: Path, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    pytest.importorskip("tensorboardX")
    pytest.importorskip("gymscope.tensorboard")
    logdir = tmp_path / "tb"
    code, out, err = run(capsys, "tensorboard", str(runs_db), "alpha", "--logdir", str(logdir))
    assert code == 0, err
    folder = logdir / "alpha"
    assert out == (
        f"Wrote TensorBoard event files of experiment 1 to {folder}; view them with: "
        f"tensorboard --logdir {logdir}\n"
    )
    (events,) = folder.iterdir()
    assert events.name.startswith("events.out.tfevents.")
    code, _, err = run(capsys, "tensorboard", str(runs_db), "1", "--logdir", str(logdir))
    assert code == 1 and "already holds TensorBoard event files" in err and err.count("\n") == 1
    code, _, _ = run(
        capsys, "tensorboard", str(runs_db), "1", "--logdir", str(logdir), "--overwrite"
    )
    assert code == 0 and len(list(folder.iterdir())) == 1


# -- mistakes are one-line errors ----------------------------------------------------


@pytest.mark.parametrize(
    ("argv", "exit_code", "message"),
    [
        (["runs"], 1, "no metrics database at '{tmp}/metrics.db'; pass the database as the"),
        (["runs", "{tmp}/nope.db"], 1, "no metrics database at '{tmp}/nope.db'; check the path"),
        (["runs", "{tmp}"], 1, "'{tmp}' is a directory; give the database file in it"),
        (["runs", "{tmp}/text.db"], 1, "'{tmp}/text.db' is not a SQLite database"),
        (["runs", "nosuch://x"], 1, "names an unknown database backend 'nosuch'"),
        (["show", "{db}", "gamma"], 1, "no experiment 'gamma' in the database; known (id and"),
        (["show", "{db}", "alph"], 1, "close matches: 1 ('alpha') ('gymscope runs {db}' lists"),
        (["show", "{db}"], 1, "missing EXPERIMENT after the database '{db}'"),
        (["show", "{db}", "1", "2"], 2, "unrecognized arguments: 2"),
        (["show", "{db}", "1", "--last", "0"], 2, "argument --last: expected a whole number"),
        (["export", "{db}", "1", "--format", "xml"], 2, "invalid choice: 'xml'"),
        (["export", "{db}", "1", "-o", "{tmp}/text.db/x.csv"], 1, "a part of its folder is not"),
        (["export", "{db}", "1", "-o", "{tmp}"], 1, "output '{tmp}' is a directory"),
        (["plot", "{db}", "1", "alpha", "-o", "{tmp}/p"], 1, "experiment 1 is given twice"),
        (["plot", "{db}", "1"], 2, "the following arguments are required: -o/--output"),
        (["plot", "{db}", "-o", "{tmp}/p"], 1, "missing EXPERIMENT after the database"),
        (["plot", "{db}", "1", "-o", "{tmp}/text.db"], 1, "is not a writable directory"),
        (["report", "{db}", "-o", "{tmp}"], 1, "output '{tmp}' is a directory"),
        (["report", "{db}", "--media", "{tmp}/none"], 1, "--media '{tmp}/none' does not exist"),
        (["tensorboard", "{db}", "1"], 2, "the following arguments are required: --logdir"),
        (["tensorboard", "{db}", "9", "--logdir", "{tmp}"], 1, "no experiment '9'"),
    ],
)
def test_database_mistakes_are_one_line_errors(
    runs_db: Path,
    tmp_path: Path,
    capsys: pytest.CaptureFixture[str],
    argv: list[str],
    exit_code: int,
    message: str,
) -> None:
    (tmp_path / "text.db").write_text("not a database")
    values = {"db": str(runs_db), "tmp": str(tmp_path)}
    code, out, err = run(capsys, *(a.format(**values) for a in argv))
    assert code == exit_code
    assert message.format(**values) in err
    # argparse reports words it cannot place as the top-level command's mistake
    assert err.startswith(f"gymscope {argv[0]}: error: " if exit_code == 1 else "gymscope")
    assert ": error: " in err
    assert err.count("\n") == 1, err
    assert "Traceback" not in out + err
    assert not (tmp_path / "metrics.db").exists()  # a missing database is never created


def test_export_into_a_closed_pipe_is_quiet(runs_db: Path) -> None:
    script = Path(sys.executable).with_name("gymscope")
    command = [str(script)] if script.exists() else [sys.executable, "-m", "gymscope"]
    big = runs_db.parent / "big.db"
    _log(big, "long", 3000)
    result = subprocess.run(
        f"{' '.join(command)} export {big} 1 --format jsonl | head -1",
        shell=True,
        capture_output=True,
        text=True,
        timeout=120,
        check=False,
    )
    assert result.returncode == 0
    assert json.loads(result.stdout)["episode_num"] == 0
    assert result.stderr == ""


# -- every subcommand's --help is fast to load ----------------------------------------


@pytest.mark.parametrize("name", ["runs", "show", "export", "plot", "report", "tensorboard"])
def test_every_help_imports_nothing_heavy(name: str) -> None:
    probe = (
        f"import sys\nfrom gymscope.cli import main\ncode = main([{name!r}, '--help'])\n"
        "heavy = {'numpy', 'gymnasium', 'rich', 'sqlalchemy', 'sqlmodel'} & "
        "{m.split('.')[0] for m in sys.modules}\nprint(sorted(heavy), code, file=sys.stderr)"
    )
    result = _script(sys.executable, "-c", probe)
    assert result.stderr == "[] 0\n"


def test_startup_benchmark_runs(capsys: pytest.CaptureFixture[str]) -> None:
    from stubs import load_script

    module = load_script("benchmarks/cli_startup.py")
    module.main(["--quick"])
    out = capsys.readouterr().out
    assert "python -c pass" in out and "gymscope report --help" in out
    assert "gymscope --help: " in out and " ms, ratio " in out and "target < 300 ms" in out
