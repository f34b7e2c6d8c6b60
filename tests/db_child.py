"""A training loop over a logged env, run in a child process by the durability tests.

After every ``step()`` that ends an episode *has returned*, the loop appends
``"<index> <return> <length>"`` to the report file (one ``write`` on an
``O_APPEND`` descriptor), so the report lists exactly the episodes the
program knew to be finished. It can stop itself with a signal before a given
step, make the env raise at a given step, or exit without ``close()``.

Run as a script (a real interpreter exit, with atexit handlers), call
:func:`run` in a forked process, or run several scripted programs at once
with ``--many SPEC.json``: one interpreter imports everything, then forks a
child per program; each child runs :func:`main` and ends as a script would
(uncaught exceptions, KeyboardInterrupt and atexit handlers included, see
:func:`_exit_like_a_script`), which spares the tests an interpreter start-up
per program.
"""

from __future__ import annotations

import argparse
import atexit
import contextlib
import json
import os
import signal
import sys
import traceback
from pathlib import Path
from typing import Any, NoReturn

sys.path.insert(0, str(Path(__file__).parent))

from gymscope.wrappers.sqlite_logger import SQLiteLoggerWrapper
from stubs import ScriptedEnv
from stubs_db import SCRIPT, FailingEnv

SIGNALS = {"KILL": signal.SIGKILL, "TERM": signal.SIGTERM, "INT": signal.SIGINT}


def run(
    url: str,
    experiment: str,
    report: str,
    *,
    episodes: int | None = None,
    signal_name: str | None = None,
    signal_at: int | None = None,
    fail_at: int | None = None,
    flush_every: int | None = None,
    close: bool = True,
) -> None:
    """Play episodes of :data:`SCRIPT` with action 0, reporting each finished one."""
    signal.signal(signal.SIGTERM, signal.SIG_DFL)
    base: Any = FailingEnv(fail_at, episodes=SCRIPT) if fail_at is not None else ScriptedEnv(SCRIPT)
    env = SQLiteLoggerWrapper(base, url, experiment, flush_every=flush_every)
    fd = os.open(report, os.O_WRONLY | os.O_APPEND | os.O_CREAT, 0o644)
    steps = finished = length = 0
    episode_return = 0.0
    env.reset()
    while episodes is None or finished < episodes:
        if steps == signal_at and signal_name is not None:
            os.kill(os.getpid(), SIGNALS[signal_name])
        _, reward, terminated, truncated, _ = env.step(0)
        steps += 1
        length += 1
        episode_return += float(reward)
        if terminated or truncated:
            os.write(fd, f"{finished} {episode_return!r} {length}\n".encode())
            finished += 1
            episode_return, length = 0.0, 0
            env.reset()
    os.close(fd)
    if close:
        env.close()


def read_report(report: str | Path) -> list[tuple[float, int]]:
    """(return, length) of every episode a child reported, in order."""
    path = Path(report)
    if not path.exists():
        return []
    rows = []
    for line in path.read_text().splitlines():
        _, episode_return, length = line.split()
        rows.append((float(episode_return), int(length)))
    return rows


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("url")
    parser.add_argument("experiment")
    parser.add_argument("report")
    parser.add_argument("--episodes", type=int)
    parser.add_argument("--signal", choices=sorted(SIGNALS))
    parser.add_argument("--signal-at", type=int)
    parser.add_argument("--fail-at", type=int)
    parser.add_argument("--flush-every", type=int)
    parser.add_argument("--no-close", action="store_true")
    args = parser.parse_args(argv)
    run(
        args.url,
        args.experiment,
        args.report,
        episodes=args.episodes,
        signal_name=args.signal,
        signal_at=args.signal_at,
        fail_at=args.fail_at,
        flush_every=args.flush_every,
        close=not args.no_close,
    )


def _exit_like_a_script(argv: list[str]) -> NoReturn:
    """Run :func:`main` and end the process as the interpreter ends a script:
    traceback of an uncaught exception, atexit handlers, then exit code 1 (or
    death by SIGINT after a KeyboardInterrupt). The interpreter's teardown
    after the atexit handlers is skipped: in a forked child it only costs
    seconds of copy-on-write, and gymscope relies on nothing after atexit."""
    code = 0
    try:
        main(argv)
    except KeyboardInterrupt:
        traceback.print_exc()
        code = -signal.SIGINT
    except BaseException:
        traceback.print_exc()
        code = 1
    atexit._run_exitfuncs()
    sys.stdout.flush()
    sys.stderr.flush()
    if code == -signal.SIGINT:
        signal.signal(signal.SIGINT, signal.SIG_DFL)
        os.kill(os.getpid(), signal.SIGINT)
    os._exit(code)


def many(spec_path: str, deadline_s: float = 420.0) -> None:
    """Fork one child per program of the spec and wait for them.

    The spec maps names to ``{"argv": [...], "output": path}``; the exit codes
    (negative: killed by that signal) are written to ``spec_path + ".out"``.
    A child still running after ``deadline_s`` is killed and its code is
    ``null``, so one hung program fails its own test, not the whole module.
    """
    import time

    import gymscope.metrics  # noqa: F401  (once here rather than in every child)

    with contextlib.suppress(ImportError):
        import sqlalchemy.dialects.postgresql.psycopg  # noqa: F401

    specs = json.loads(Path(spec_path).read_text())
    children = {}
    for name, spec in specs.items():
        sys.stdout.flush()
        sys.stderr.flush()
        pid = os.fork()
        if pid == 0:
            out = os.open(spec["output"], os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o644)
            os.dup2(out, 1)
            os.dup2(out, 2)
            _exit_like_a_script(spec["argv"])
        children[pid] = name
    codes: dict[str, int | None] = {}
    end = time.monotonic() + deadline_s
    while children and time.monotonic() < end:
        pid, status = os.waitpid(-1, os.WNOHANG)
        if pid == 0:
            time.sleep(0.02)
        elif pid in children:
            codes[children.pop(pid)] = os.waitstatus_to_exitcode(status)
    for pid, name in children.items():  # hung past the deadline
        with contextlib.suppress(ProcessLookupError):
            os.kill(pid, signal.SIGKILL)
        os.waitpid(pid, 0)
        codes[name] = None
    Path(spec_path + ".out").write_text(json.dumps(codes))


if __name__ == "__main__":
    if sys.argv[1:2] == ["--many"]:
        many(sys.argv[2])
    else:
        main()
