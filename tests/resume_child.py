"""A full gymscope stack over a scripted env, run in a child process by the resume tests.

Database, episode statistics, curves, videos and TensorBoard on one
:class:`~stubs.ScriptedEnv`. After every ``step()`` that ends an episode the
loop appends one JSON line to the report file (one ``write`` on an
``O_APPEND`` descriptor): the episode's index, return and length and what
the program saw of the statistics (``info["episode"]``, the deques). It can
SIGKILL itself at the first step of a given episode, or play a number of
episodes and close.
"""

from __future__ import annotations

import json
import os
import signal
import sys
import warnings
from pathlib import Path
from typing import Any

import numpy as np

sys.path.insert(0, str(Path(__file__).parent))

from gymscope.wrappers.curves import CurveRecorderWrapper
from gymscope.wrappers.sqlite_logger import SQLiteLoggerWrapper
from gymscope.wrappers.stats import EpisodeStatsWrapper
from gymscope.wrappers.tensorboard import TensorBoardWrapper
from gymscope.wrappers.video import ScheduledRecordVideo
from stubs import ScriptedEnv

#: Episodes of 1 to 3 steps with rewards that do not add up exactly in binary.
SCRIPT: tuple[tuple[float, ...], ...] = (
    (0.1,),
    (0.2, 0.7),
    (1.3, -0.4, 2.9),
    (5.5,),
    (-1.1, 0.3),
    (3.3, 3.3, 0.01),
    (0.7,),
)


def run(
    url: str,
    experiment: str,
    out: str,
    report: str,
    *,
    episodes: int | None = None,
    kill_in: int | None = None,
    video_every: int = 50,
    checkpoint_every: int = 7,
    flush_every: int | None = None,
    journal: bool = True,
    full: bool = True,
    barrier: Any = None,
) -> None:
    """Play :data:`SCRIPT` with action 0 in ``out`` (the working directory).

    Args:
        episodes: Episodes to play, then close; None for no limit.
        kill_in: SIGKILL this process at the first step of this episode
            (counted in this process, from 0), once the videos that ended
            are saved: a video of this episode may be running.
        video_every: Record episodes whose index is a multiple of this.
        full: The whole stack; False for the database and statistics only.
        barrier: A ``multiprocessing.Barrier`` waited at after the first
            ``reset()`` (the worker is leased then), so that processes
            started together all hold their leases before any plays.
    """
    signal.signal(signal.SIGTERM, signal.SIG_DFL)
    # pytest's filterwarnings=error came with the fork; a resumed stack warns
    # about the earlier attempt's videos (and files it puts aside) by design
    warnings.resetwarnings()
    warnings.simplefilter("default")
    os.chdir(out)  # TensorBoard's default folder is runs/... in the working directory
    env: Any = SQLiteLoggerWrapper(
        ScriptedEnv(SCRIPT, render_mode="rgb_array"),
        url,
        experiment,
        flush_every=flush_every,
        journal=journal,
    )
    env = EpisodeStatsWrapper(env)
    if full:
        env = CurveRecorderWrapper(env, "curves", checkpoint_every=checkpoint_every)
        env = video = ScheduledRecordVideo(
            env, "videos", episode_trigger=lambda i: i % video_every == 0
        )
        env = TensorBoardWrapper(env, flush_secs=1e-9)  # default folder; every event written
    env.action_space.seed(0)
    stats = env.get_wrapper_attr("return_queue")
    fd = os.open(report, os.O_WRONLY | os.O_APPEND | os.O_CREAT, 0o644)
    finished = 0
    env.reset()
    if barrier is not None:
        barrier.wait(60)
    tracker = env.get_wrapper_attr("tracker")
    while episodes is None or finished < episodes:
        if finished == kill_in:
            if full:  # the videos that ended are complete; the running one is not
                video.flush()
            os.kill(os.getpid(), signal.SIGKILL)
        _, _, terminated, truncated, info = env.step(0)
        if terminated or truncated:
            line = {
                "index": tracker.episode_count - 1,
                "total_steps": tracker.total_steps,
                "worker": env.get_wrapper_attr("run_info").worker,
                "count": env.get_wrapper_attr("episode_count"),
                "queue_mean": float(np.mean(stats)),
                "queue_len": len(stats),
                **{k: info["episode"][k] for k in ("r", "l", "r_mean", "r_std", "r_ema")},
            }
            os.write(fd, (json.dumps(line) + "\n").encode())
            finished += 1
            env.reset()
    os.close(fd)
    env.close()


def read_report(report: str | Path) -> list[dict[str, Any]]:
    """The JSON lines a child reported, in order."""
    path = Path(report)
    if not path.exists():
        return []
    return [json.loads(line) for line in path.read_text().splitlines()]
