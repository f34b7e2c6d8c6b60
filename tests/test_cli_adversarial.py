"""Every subcommand, driven with the bad input a tester who sets out to break it
would type: each ends with one line on stderr, ``gymscope <cmd>: error: ...``,
exit code 1 (2 for a usage error), no traceback, and nothing touched."""

from __future__ import annotations

import os
import shutil
import socket
import stat
import subprocess
import sys
from collections.abc import Callable
from pathlib import Path

import pytest

from gymscope import SQLiteLoggerWrapper
from gymscope.cli import main
from gymscope.errors import GymscopeError, InvalidArgumentError, OutputExistsError
from gymscope.metrics.db import SQLITE_HEADER
from stubs import ScriptedEnv, play
from stubs_db import VELORA_SCHEMA

LONG = "n" * 300  # longer than any file system's name limit (255 bytes)


@pytest.fixture(autouse=True)
def _plain_console(monkeypatch: pytest.MonkeyPatch) -> None:
    for name in ("FORCE_COLOR", "TTY_COMPATIBLE", "TTY_INTERACTIVE", "COLUMNS", "LINES"):
        monkeypatch.delenv(name, raising=False)


@pytest.fixture
def db(tmp_path: Path) -> Path:
    """tmp_path/runs/metrics.db with one run, 'alpha', of 4 episodes."""
    path = tmp_path / "runs" / "metrics.db"
    path.parent.mkdir()
    env = SQLiteLoggerWrapper(ScriptedEnv(), path, "alpha")
    play(env, 4)
    env.close()
    return path


def run_cli(capsys: pytest.CaptureFixture[str], argv: list[str]) -> tuple[int, str, str]:
    code = main(argv)
    out, err = capsys.readouterr()
    return code, out, err


def assert_one_line_error(code: int, out: str, err: str, command: str, usage: bool = False) -> None:
    assert "Traceback" not in out + err
    assert code == (2 if usage else 1), (code, out, err)
    lines = err.splitlines()
    assert len(lines) == 1, err
    assert lines[0].startswith(f"gymscope {command}: error: "), err


# -- what a DB argument may name -----------------------------------------------------
def _bad_databases(tmp_path: Path, db: Path) -> dict[str, str]:
    """Each kind of thing that is not a metrics database, by name."""
    bad = tmp_path / "bad"
    bad.mkdir()
    (bad / "notes.txt").write_text("hello\n")
    (bad / "empty.db").write_bytes(b"")
    (bad / "folder").mkdir()
    damaged = bad / "damaged.db"
    damaged.write_bytes(SQLITE_HEADER + os.urandom(4096))
    cut = bad / "cut.db"
    cut.write_bytes(db.read_bytes()[:3000])
    os.mkfifo(bad / "pipe")
    return {
        "missing": str(bad / "missing.db"),
        "missing-no-suffix": str(bad / "missing"),
        "long-name": LONG,
        "long-name-db": str(bad / f"{LONG}.db"),
        "under-a-file": str(bad / "notes.txt" / "metrics.db"),
        "directory": str(bad / "folder"),
        "text-file": str(bad / "notes.txt"),
        "empty-file": str(bad / "empty.db"),
        "damaged": str(damaged),
        "cut-short": str(cut),
        "fifo": str(bad / "pipe"),
        "device": os.devnull,
        "bad-url": "postgresql+nosuchdriver://me@localhost/db",
    }


DB_KINDS = [
    "missing",
    "missing-no-suffix",
    "long-name",
    "long-name-db",
    "under-a-file",
    "directory",
    "text-file",
    "empty-file",
    "damaged",
    "cut-short",
    "fifo",
    "device",
    "bad-url",
]

DB_COMMANDS: dict[str, Callable[[str, Path], list[str]]] = {
    "runs": lambda d, t: ["runs", d],
    "show": lambda d, t: ["show", d, "alpha"],
    "export": lambda d, t: ["export", d, "alpha", "-o", str(t / "out.csv")],
    "plot": lambda d, t: ["plot", d, "alpha", "-o", str(t / "plots")],
    "report": lambda d, t: ["report", d, "-o", str(t / "r.html")],
    "tensorboard": lambda d, t: ["tensorboard", d, "alpha", "--logdir", str(t / "tb")],
}


@pytest.mark.parametrize("kind", DB_KINDS)
@pytest.mark.parametrize("command", list(DB_COMMANDS))
def test_a_bad_database_is_one_line_and_left_alone(
    db: Path, tmp_path: Path, capsys: pytest.CaptureFixture[str], command: str, kind: str
) -> None:
    given = _bad_databases(tmp_path, db)[kind]
    before = sorted(p.name for p in (tmp_path / "bad").iterdir())
    code, out, err = run_cli(capsys, DB_COMMANDS[command](given, tmp_path))
    assert_one_line_error(code, out, err, command)
    assert sorted(p.name for p in (tmp_path / "bad").iterdir()) == before
    assert stat.S_ISFIFO(os.lstat(tmp_path / "bad" / "pipe").st_mode)
    for written in ("out.csv", "plots", "r.html", "tb"):
        assert not (tmp_path / written).exists()


@pytest.mark.parametrize("kind", ["missing-no-suffix", "directory", "under-a-file"])
@pytest.mark.parametrize("command", ["show", "export", "plot", "tensorboard"])
def test_a_mistyped_database_is_named_as_typed(
    db: Path, tmp_path: Path, capsys: pytest.CaptureFixture[str], command: str, kind: str
) -> None:
    # ./metrics.db does not exist: the error names what was typed, not it
    given = _bad_databases(tmp_path, db)[kind]
    code, out, err = run_cli(capsys, DB_COMMANDS[command](given, tmp_path))
    assert_one_line_error(code, out, err, command)
    assert repr(given) in err or repr(str(Path(given).absolute())) in err, err


def test_plot_names_the_first_word_it_could_not_read(
    capsys: pytest.CaptureFixture[str], tmp_path: Path
) -> None:
    code, out, err = run_cli(capsys, ["plot", "sb3ot", "1", "-o", str(tmp_path / "p")])
    assert_one_line_error(code, out, err, "plot")
    assert "'sb3ot'" in err


@pytest.mark.parametrize("experiment", ["nope", "999", "0", LONG, "", "alpha'; DROP TABLE x"])
@pytest.mark.parametrize("command", ["show", "export", "plot", "tensorboard"])
def test_an_unknown_experiment_is_one_line(
    db: Path, tmp_path: Path, capsys: pytest.CaptureFixture[str], command: str, experiment: str
) -> None:
    argv = DB_COMMANDS[command](str(db), tmp_path)
    argv[2] = experiment
    before = db.read_bytes()
    code, out, err = run_cli(capsys, argv)
    assert_one_line_error(code, out, err, command)
    assert db.read_bytes() == before


# -- output paths --------------------------------------------------------------------
@pytest.fixture
def places(tmp_path: Path, db: Path) -> dict[str, Path]:
    """Each kind of output path that must be refused, made in tmp_path/out."""
    out = tmp_path / "out"
    out.mkdir()
    (out / "file.txt").write_text("keep me\n")
    os.mkfifo(out / "pipe")
    (out / "folder").mkdir()
    (out / "link").symlink_to(out / "file.txt")
    (out / "dangling").symlink_to(out / "nowhere.csv")
    shutil.copyfile(db, out / "victim.db")
    shutil.copyfile(db, out / "victim.csv")  # a database whatever its name
    sock = socket.socket(socket.AF_UNIX)
    sock.bind(str(out / "sock"))
    sock.close()
    return {
        "existing-file": out / "file.txt",
        "fifo": out / "pipe",
        "directory": out / "folder",
        "symlink": out / "link",
        "dangling-symlink": out / "dangling",
        "database": out / "victim.db",
        "database-other-name": out / "victim.csv",
        "socket": out / "sock",
        "char-device": Path(os.devnull),
        "full-device": Path("/dev/full"),
        "long-name": out / f"{LONG}.csv",
        "under-a-file": out / "file.txt" / "x.csv",
    }


def _state(path: Path) -> tuple[int, bytes | str | None]:
    """What is at ``path``, to compare before and after."""
    try:
        info = os.lstat(path)
    except OSError:
        return (0, None)
    if stat.S_ISLNK(info.st_mode):
        return (info.st_mode, os.readlink(path))
    if stat.S_ISREG(info.st_mode):
        return (info.st_mode, path.read_bytes())
    return (info.st_mode, None)


OUTPUT_COMMANDS: dict[str, Callable[[Path, str], list[str]]] = {
    "export": lambda d, o: ["export", str(d), "alpha", "-o", o],
    "export-jsonl": lambda d, o: ["export", str(d), "alpha", "--format", "jsonl", "-o", o],
    "report": lambda d, o: ["report", str(d), "-o", o],
}


@pytest.mark.parametrize("overwrite", [False, True])
@pytest.mark.parametrize(
    "kind",
    [
        "existing-file",
        "fifo",
        "directory",
        "symlink",
        "dangling-symlink",
        "database",
        "database-other-name",
        "socket",
        "char-device",
        "full-device",
        "long-name",
        "under-a-file",
    ],
)
@pytest.mark.parametrize("command", list(OUTPUT_COMMANDS))
def test_an_output_path_never_destroys_what_is_there(
    db: Path,
    places: dict[str, Path],
    capsys: pytest.CaptureFixture[str],
    command: str,
    kind: str,
    overwrite: bool,
) -> None:
    target = places[kind]
    if overwrite and kind == "existing-file":
        pytest.skip("replacing a regular file is what --overwrite is for (tested below)")
    if not os.path.exists("/dev/full") and kind == "full-device":
        pytest.skip("no /dev/full here")
    watched = {p: _state(p) for p in (*places.values(), places["existing-file"])}
    argv = OUTPUT_COMMANDS[command](db, str(target)) + (["--overwrite"] if overwrite else [])
    code, out, err = run_cli(capsys, argv)
    assert_one_line_error(code, out, err, argv[0])
    assert "-o/--output" in err
    assert {p: _state(p) for p in watched} == watched
    assert not any(p.name.endswith(".tmp") for p in places["existing-file"].parent.iterdir())


@pytest.mark.parametrize("command", list(OUTPUT_COMMANDS))
def test_overwrite_replaces_a_regular_file_only_when_asked(
    db: Path, tmp_path: Path, capsys: pytest.CaptureFixture[str], command: str
) -> None:
    target = tmp_path / "old.out"
    target.write_text("old\n")
    argv = OUTPUT_COMMANDS[command](db, str(target))
    code, out, err = run_cli(capsys, argv)
    assert_one_line_error(code, out, err, argv[0])
    assert "pass --overwrite to replace it" in err and "overwrite=True" not in err
    assert target.read_text() == "old\n"
    code, out, err = run_cli(capsys, [*argv, "--overwrite"])
    assert code == 0 and err == "", err
    assert target.read_text() != "old\n"


@pytest.mark.parametrize("command", list(OUTPUT_COMMANDS))
def test_every_output_creates_its_missing_folders(
    db: Path, tmp_path: Path, capsys: pytest.CaptureFixture[str], command: str
) -> None:
    target = tmp_path / "logs" / "deeper" / "out.file"
    code, _, err = run_cli(capsys, OUTPUT_COMMANDS[command](db, str(target)))
    assert code == 0, err
    assert target.is_file()


@pytest.mark.parametrize("command", ["export", "report"])
def test_dash_streams_to_stdout_and_writes_no_file(
    db: Path, tmp_path: Path, capsys: pytest.CaptureFixture[str], command: str
) -> None:
    code, out, err = run_cli(capsys, OUTPUT_COMMANDS[command](db, "-"))
    assert code == 0 and err == ""
    assert out.startswith("experiment_id," if command == "export" else "<!DOCTYPE html>")
    assert not (tmp_path / "-").exists()


@pytest.mark.parametrize(
    "kind", ["fifo", "existing-file", "char-device", "long-name", "under-a-file", "symlink"]
)
@pytest.mark.parametrize("command", ["plot", "tensorboard"])
def test_an_output_folder_that_cannot_be_one_is_one_line(
    db: Path,
    places: dict[str, Path],
    capsys: pytest.CaptureFixture[str],
    command: str,
    kind: str,
) -> None:
    target = places[kind]
    watched = {p: _state(p) for p in places.values()}
    flag = "-o" if command == "plot" else "--logdir"
    code, out, err = run_cli(capsys, [command, str(db), "alpha", flag, str(target)])
    assert_one_line_error(code, out, err, command)  # a link to a file: not a folder either
    assert {p: _state(p) for p in watched} == watched


@pytest.fixture
def read_only_folder(read_only_mount: tuple[Path, Callable[[], None]]) -> Path:
    """An empty folder on a read-only file system (root only: permission bits do
    not stop root)."""
    folder, freeze = read_only_mount
    freeze()
    return folder


@pytest.mark.parametrize(
    "argv",
    [
        ["export", "{db}", "alpha", "-o", "{ro}/out.csv"],
        ["export", "{db}", "alpha", "-o", "{ro}/sub/out.csv"],
        ["report", "{db}", "-o", "{ro}/r.html"],
        ["plot", "{db}", "alpha", "-o", "{ro}/plots"],
        ["tensorboard", "{db}", "alpha", "--logdir", "{ro}/tb"],
        ["demo", "--episodes", "2", "--out", "{ro}/demo"],
        ["runs", "{ro}/metrics.db"],
    ],
)
def test_a_read_only_place_is_one_line(
    db: Path,
    read_only_folder: Path,
    capsys: pytest.CaptureFixture[str],
    argv: list[str],
) -> None:
    values = {"db": str(db), "ro": str(read_only_folder)}
    code, out, err = run_cli(capsys, [a.format(**values) for a in argv])
    assert_one_line_error(code, out, err, argv[0])
    assert list(read_only_folder.iterdir()) == []


# -- report media --------------------------------------------------------------------
@pytest.mark.parametrize("media", ["{tmp}/nonexistent", "{tmp}/runs/metrics.db", LONG])
def test_report_media_that_is_not_a_folder_is_an_error(
    db: Path, tmp_path: Path, capsys: pytest.CaptureFixture[str], media: str
) -> None:
    given = media.format(tmp=tmp_path)
    code, out, err = run_cli(
        capsys, ["report", str(db), "-o", str(tmp_path / "r.html"), "--media", given]
    )
    assert_one_line_error(code, out, err, "report")
    assert "--media" in err
    assert not (tmp_path / "r.html").exists()


# -- new options with values that cannot work ----------------------------------------
@pytest.mark.parametrize(
    ("argv", "says"),
    [
        (
            ["export", "{db}", "alpha", "--table", "metrics", "--format", "monitor"],
            "--format monitor writes episodes; --table metrics is written as csv or jsonl",
        ),
        (["plot", "{nameless}", "1", "-o", "{tmp}/p", "--x", "time"], "--x time: experiment 1"),
    ],
)
def test_an_impossible_combination_is_one_line(
    db: Path, tmp_path: Path, capsys: pytest.CaptureFixture[str], argv: list[str], says: str
) -> None:
    import sqlite3

    nameless = tmp_path / "velora.db"  # a velora file without end times
    with sqlite3.connect(nameless) as conn:
        conn.executescript(VELORA_SCHEMA + "INSERT INTO experiment (id) VALUES (1);")
        conn.execute(
            "INSERT INTO episode (experiment_id, episode_num, reward, length) VALUES (1, 0, 1, 1)"
        )
    conn.close()
    args = [a.format(db=db, tmp=tmp_path, nameless=nameless) for a in argv]
    before = nameless.read_bytes()
    code, out, err = run_cli(capsys, args)
    assert_one_line_error(code, out, err, args[0])
    assert says in err, err
    assert nameless.read_bytes() == before
    assert not (tmp_path / "p").exists()  # nothing written


# -- bad flags -----------------------------------------------------------------------
@pytest.mark.parametrize(
    "argv",
    [
        ["runs", "--bogus"],
        ["show", "{db}", "alpha", "--window", "3"],
        ["show", "{db}"],
        ["export", "{db}", "alpha", "--format", "xml"],
        ["export", "{db}", "alpha", "--table", "losses"],
        ["export", "{db}", "alpha", "--table"],
        ["show", "{db}", "alpha", "--by-worker", "2"],
        ["plot", "{db}", "alpha", "-o", "p", "--x", "wall"],
        ["plot", "{db}", "alpha", "-o", "p", "--x"],
        ["plot", "{db}", "alpha", "-o", "p", "--by-worker", "yes"],
        ["export", "{db}", "alpha", "-o"],
        ["plot", "{db}", "alpha"],
        ["plot", "{db}", "alpha", "-o", "p", "--window", "0"],
        ["plot", "{db}", "alpha", "-o", "p", "--window", "x"],
        ["plot", "{db}", "alpha", "-o", "p", "--scale", "0"],
        ["plot", "{db}", "alpha", "-o", "p", "--scale", "nan"],
        ["plot", "{db}", "alpha", "-o", "p", "--scale", "1e9"],
        ["report", "{db}", "--window", "-1"],
        ["report", "{db}", "--media"],
        ["tensorboard", "{db}", "alpha"],
        ["demo", "--episodes", "0"],
        ["demo", "--episodes", "-3"],
        ["demo", "--episodes", "1.5"],
        ["demo", "--seed", "x"],
        ["demo", "--seed", "-1"],
        ["demo", "extra"],
    ],
)
def test_a_bad_flag_is_a_one_line_usage_error(
    db: Path, capsys: pytest.CaptureFixture[str], argv: list[str]
) -> None:
    args = [a.format(db=db) for a in argv]
    code, out, err = run_cli(capsys, args)
    if args[:2] == ["show", str(db)] and len(args) == 2:  # a database and no experiment
        assert_one_line_error(code, out, err, "show")
        return
    assert_one_line_error(code, out, err, args[0], usage=True)


@pytest.mark.parametrize(
    "argv",
    [
        ["demo", "--env", "NoSuchEnv-v0", "--episodes", "2"],
        ["demo", "--env", "Pendulum-v1", "--episodes", "2"],
        ["demo", "--episodes", "2", "--out", "{tmp}/file.txt"],
        ["demo", "--episodes", "2", "--out", "{tmp}/file.txt/demo"],
        ["demo", "--episodes", "2", "--out", os.devnull],
        ["demo", "--episodes", "2", "--out", f"{{tmp}}/{LONG}"],
    ],
)
def test_demo_mistakes_are_one_line(
    tmp_path: Path, capsys: pytest.CaptureFixture[str], argv: list[str]
) -> None:
    (tmp_path / "file.txt").write_text("keep me\n")
    code, out, err = run_cli(capsys, [a.format(tmp=tmp_path) for a in argv])
    assert_one_line_error(code, out, err, "demo")
    assert (tmp_path / "file.txt").read_text() == "keep me\n"


# -- the library functions behind -o -------------------------------------------------
@pytest.mark.parametrize("kind", ["fifo", "directory", "symlink", "database", "socket"])
def test_library_writers_refuse_what_the_command_refuses(
    db: Path, places: dict[str, Path], kind: str
) -> None:
    from gymscope.metrics.export import export_episodes
    from gymscope.report import write_report

    target = places[kind]
    before = _state(target)
    for write in (
        lambda: export_episodes(db, "alpha", target, overwrite=True),
        lambda: write_report(db, target, overwrite=True),
    ):
        with pytest.raises(GymscopeError) as info:
            write()
        assert isinstance(info.value, (InvalidArgumentError, OutputExistsError))
        assert "output" in str(info.value) and str(target) in str(info.value)
        assert _state(target) == before


def test_library_writers_name_overwrite_true(db: Path, tmp_path: Path) -> None:
    from gymscope.metrics.export import export_episodes
    from gymscope.report import write_report

    (tmp_path / "x").write_text("old")
    with pytest.raises(FileExistsError, match=r"pass overwrite=True"):
        export_episodes(db, "alpha", tmp_path / "x")
    with pytest.raises(FileExistsError, match=r"pass overwrite=True"):
        write_report(db, tmp_path / "x")
    with pytest.raises(NotADirectoryError, match=r"media_dirs '.*nothere' does not exist"):
        write_report(db, tmp_path / "y.html", media_dirs=[tmp_path / "nothere"])
    assert (tmp_path / "x").read_text() == "old"


# -- the real command ----------------------------------------------------------------
def _gymscope(*argv: str, cwd: Path) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, "-m", "gymscope", *argv], capture_output=True, text=True, cwd=cwd
    )


@pytest.mark.slow
@pytest.mark.parametrize(
    "argv",
    [
        ["runs", LONG],
        ["export", "{db}", "alpha", "-o", f"{LONG}.csv"],
        ["report", "{db}", "-o", f"{LONG}.html"],
        ["export", "{db}", "alpha", "-o", "{db}"],
        ["show", "{db}", "nope"],
        ["plot", "sb3ot", "1", "-o", "p"],
    ],
)
def test_the_real_command_prints_one_line(db: Path, tmp_path: Path, argv: list[str]) -> None:
    before = db.read_bytes()
    done = _gymscope(*(a.format(db=db) for a in argv), cwd=tmp_path)
    assert "Traceback" not in done.stdout + done.stderr
    assert done.returncode == 1
    assert done.stderr.count("\n") == 1 and done.stderr.startswith(f"gymscope {argv[0]}: error:")
    assert db.read_bytes() == before


@pytest.mark.slow
def test_the_demo_says_nothing_about_sdl(tmp_path: Path) -> None:
    env = {k: v for k, v in os.environ.items() if not k.startswith(("SDL_", "XDG_RUNTIME"))}
    done = subprocess.run(
        [sys.executable, "-m", "gymscope", "demo", "--episodes", "31", "--out", "d"],
        capture_output=True,
        text=True,
        cwd=tmp_path,
        env=env,
    )
    assert done.returncode == 0, done.stderr
    assert "XDG_RUNTIME_DIR" not in done.stdout + done.stderr
    assert done.stderr == ""
    assert list((tmp_path / "d" / "videos").glob("*.mp4"))


@pytest.mark.parametrize("kind", ["fifo", "directory", "symlink", "database"])
def test_plot_replaces_its_own_charts_and_nothing_else(
    db: Path, places: dict[str, Path], tmp_path: Path, capsys: pytest.CaptureFixture[str], kind: str
) -> None:
    plots = tmp_path / "plots"
    code, out, err = run_cli(capsys, ["plot", str(db), "alpha", "-o", str(plots)])
    assert code == 0, err
    code, out, err = run_cli(capsys, ["plot", str(db), "alpha", "-o", str(plots)])
    assert code == 0, err  # charts of an earlier plot are replaced
    chart = sorted(plots.glob("*.svg"))[0]
    chart.unlink()
    os.rename(places[kind], chart)
    before = _state(chart)
    code, out, err = run_cli(capsys, ["plot", str(db), "alpha", "-o", str(plots)])
    assert_one_line_error(code, out, err, "plot")
    assert "chart file" in err and _state(chart) == before


@pytest.mark.parametrize("char", ["\x1b", "\x00", "\r", "\x07", "\x9b"])
@pytest.mark.parametrize("command", ["runs", "show"])
def test_control_characters_in_stored_names_never_reach_the_terminal(
    db: Path,
    capsys: pytest.CaptureFixture[str],
    monkeypatch: pytest.MonkeyPatch,
    char: str,
    command: str,
) -> None:
    import sqlite3

    with sqlite3.connect(db) as conn:
        conn.execute(
            "UPDATE experiment SET name = ?, agent = ?", (f"a{char}[2Jb", f"c{char}]0;titled")
        )
    conn.close()
    monkeypatch.setenv("COLUMNS", "200")
    code, out, err = run_cli(capsys, [command, str(db), *(["1"] if command == "show" else [])])
    assert code == 0, err
    assert char not in out
    assert "a\ufffd[2Jb" in out or "a[2Jb" in out  # shown as U+FFFD, or dropped (rich: \r, \a)
