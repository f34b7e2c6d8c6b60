"""A writer "host" of the multi-host tests, run inside a network namespace.

``write``: a gymscope stack (``SQLiteLoggerWrapper`` on the scripted env of
the database tests) joins one run on a PostgreSQL server in another
namespace and plays episodes until a stop file appears, then closes. After
every ``step()`` that ended an episode *has returned*, it appends
``"<worker> <episode> <return> <length>"`` to the report (one ``write`` on an
``O_APPEND`` descriptor): the report lists exactly the episodes the program
knew to be finished. Every 5th episode it also logs a step-keyed metric and
reports it as ``"M <step> <value>"``. At the end it writes a JSON summary
(episodes, the longest ``step()``) to ``<report>.json``.

``probe``: build the stack once and print the error it raises (if any) and
how long construction took, as JSON.

Run as a script under ``ip netns exec NS``, or call :func:`in_namespace` in
a process forked from the tests (no interpreter start-up: seconds on a busy
machine), which moves the process into namespace NS first.
"""

from __future__ import annotations

import argparse
import ctypes
import json
import os
import sys
import time
import traceback
from collections.abc import Callable
from pathlib import Path
from typing import Any

sys.path.insert(0, str(Path(__file__).parent))

from gymscope.wrappers.sqlite_logger import SQLiteLoggerWrapper
from stubs import ScriptedEnv
from stubs_db import SCRIPT


def write(url: str, experiment: str, report: str, stop: str, flush_every: int | None) -> None:
    env = SQLiteLoggerWrapper(ScriptedEnv(SCRIPT), url, experiment, flush_every=flush_every)
    fd = os.open(report, os.O_WRONLY | os.O_APPEND | os.O_CREAT, 0o644)
    finished = length = 0
    episode_return = 0.0
    longest = 0.0
    env.reset()
    worker = env.worker
    stop_path = Path(stop)
    while not stop_path.exists():
        start = time.monotonic()
        _, reward, terminated, truncated, _ = env.step(0)
        longest = max(longest, time.monotonic() - start)
        length += 1
        episode_return += float(reward)
        if terminated or truncated:
            os.write(fd, f"{worker} {finished} {episode_return!r} {length}\n".encode())
            if finished % 5 == 0:
                env.log_metrics(step=finished, loss=finished / 10)
                os.write(fd, f"M {finished} {finished / 10!r}\n".encode())
            finished += 1
            episode_return, length = 0.0, 0
            start = time.monotonic()
            env.reset()
            longest = max(longest, time.monotonic() - start)
            time.sleep(0.005)  # a few hundred episodes in the seconds a test lasts
    os.close(fd)
    env.close()
    summary = {"worker": worker, "finished": finished, "longest_step_s": round(longest, 3)}
    Path(f"{report}.json").write_text(json.dumps(summary))


def probe(url: str) -> None:
    start = time.monotonic()
    try:
        SQLiteLoggerWrapper(ScriptedEnv(SCRIPT), url, "probe").close()
        error, kind = "", ""
    except Exception as exc:
        error, kind = str(exc), type(exc).__name__
    elapsed = round(time.monotonic() - start, 2)
    print(json.dumps({"error": error, "type": kind, "seconds": elapsed}))


CLONE_NEWNET = 0x40000000


def enter(ns: str) -> None:
    """Move this process into network namespace ``ns`` (made by ``ip netns add``)."""
    libc = ctypes.CDLL(None, use_errno=True)
    fd = os.open(f"/run/netns/{ns}", os.O_RDONLY)
    try:
        if libc.setns(fd, CLONE_NEWNET) != 0:
            error = ctypes.get_errno()
            raise OSError(error, f"setns into {ns}: {os.strerror(error)}")
    finally:
        os.close(fd)


def in_namespace(ns: str, log: str, function: Callable[..., None], *args: Any) -> None:
    """In a forked process: output to ``log``, enter ``ns``, run ``function``;
    end the process with 0, or 1 after printing the traceback."""
    out = os.open(log, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o644)
    os.dup2(out, 1)
    os.dup2(out, 2)
    # pytest's capture may have replaced sys.stdout with a file of its own
    sys.stdout = open(1, "w", buffering=1, closefd=False)  # noqa: SIM115
    sys.stderr = open(2, "w", buffering=1, closefd=False)  # noqa: SIM115
    code = 0
    try:
        enter(ns)
        function(*args)
    except BaseException:
        traceback.print_exc()
        code = 1
    sys.stdout.flush()
    sys.stderr.flush()
    os._exit(code)


def main() -> None:
    parser = argparse.ArgumentParser()
    sub = parser.add_subparsers(dest="mode", required=True)
    w = sub.add_parser("write")
    w.add_argument("url")
    w.add_argument("experiment")
    w.add_argument("report")
    w.add_argument("stop")
    w.add_argument("--flush-every", type=int)
    p = sub.add_parser("probe")
    p.add_argument("url")
    args = parser.parse_args()
    if args.mode == "write":
        write(args.url, args.experiment, args.report, args.stop, args.flush_every)
    else:
        probe(args.url)


if __name__ == "__main__":
    main()
