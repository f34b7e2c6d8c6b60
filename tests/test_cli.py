"""The gymscope command: in-process through main(), and the real script for --help."""

from __future__ import annotations

import logging
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
