"""The env stack behind ``gymscope demo``: the env, its recording wrappers, where they write.

:func:`build_env` is the one place the demo's wrappers are chosen, so every
recording wrapper added there records the demo.
"""

from __future__ import annotations

import logging
import os
import tempfile
import warnings
from pathlib import Path
from typing import Any

import gymnasium as gym
import numpy as np

from gymscope.errors import GymscopeError
from gymscope.schedule import EpisodeCaptureSchedule
from gymscope.wrappers.curves import CurveRecorderWrapper
from gymscope.wrappers.sqlite_logger import SQLiteLoggerWrapper
from gymscope.wrappers.stats import EpisodeStatsWrapper
from gymscope.wrappers.video import ScheduledRecordVideo

__all__ = [
    "FALLBACK_MAX_EPISODE_STEPS",
    "MOVING_WINDOW",
    "STATS_KEY",
    "DemoError",
    "build_env",
    "demo_paths",
    "prepare_out_dir",
    "video_schedule",
]

logger = logging.getLogger(__name__)

#: Episodes spanned by the moving mean the demo shows (and its recorders use).
MOVING_WINDOW = 50
#: The ``info`` key EpisodeStatsWrapper writes and the training loop reads.
STATS_KEY = "episode"
#: Episode cap for envs registered without a time limit (a linear policy may
#: balance forever).
FALLBACK_MAX_EPISODE_STEPS = 1000


class DemoError(GymscopeError):
    """A problem with the demo's input (env id, env spaces, output folder).

    The message is one line, meant for the user.
    """


def prepare_out_dir(out_dir: str | os.PathLike[str]) -> Path:
    """Create ``out_dir`` if needed, check it is writable, return it absolute.

    Raises:
        DemoError: ``out_dir`` is a file, or cannot be created or written to.
    """
    path = Path(out_dir).expanduser()
    # lexists/isdir never raise (a name too long is "not there"): mkdir says why
    if os.path.lexists(path) and not os.path.isdir(path):
        raise DemoError(f"output directory '{path}' exists and is not a directory")
    try:
        path.mkdir(parents=True, exist_ok=True)
        with tempfile.TemporaryFile(dir=path):
            pass
    except OSError as exc:
        reason = exc.strerror or str(exc)
        raise DemoError(f"cannot write to output directory '{path}': {reason}") from exc
    return path.resolve()


def _one_line(text: str) -> str:
    return " ".join(text.split())


def _describe_space(space: gym.Space[Any]) -> str:
    if isinstance(space, gym.spaces.Box):
        return f"Box{space.shape}"
    if isinstance(space, gym.spaces.Discrete):
        return f"Discrete({int(space.n)})"
    return type(space).__name__


def _make(env_id: str, render_mode: str | None = None) -> gym.Env[Any, Any]:
    try:
        if render_mode is None:  # not every env takes a render_mode argument
            return gym.make(env_id)
        return gym.make(env_id, render_mode=render_mode)
    except gym.error.UnregisteredEnv as exc:
        raise DemoError(f"unknown environment {env_id!r}: {_one_line(str(exc))}") from exc
    except (gym.error.Error, ImportError) as exc:
        raise DemoError(f"cannot make environment {env_id!r}: {_one_line(str(exc))}") from exc


def _renders_rgb(env_id: str) -> bool:
    """Whether ``env_id`` can draw ``rgb_array`` frames here (CartPole needs
    pygame, which the ``classic-control`` extra installs)."""
    try:
        probe = gym.make(env_id, render_mode="rgb_array")
    except Exception:  # no rgb_array mode, or the env cannot be made that way
        return False
    try:
        probe.reset(seed=0)
        frame = probe.render()
        return isinstance(frame, np.ndarray) and frame.ndim == 3
    except Exception as exc:
        logger.info("%s cannot render rgb_array frames (%s): no videos", env_id, exc)
        return False
    finally:
        probe.close()


def demo_paths(out_dir: str | os.PathLike[str]) -> dict[str, Path]:
    """Where the demo's recording wrappers write, by what they hold."""
    root = Path(out_dir).expanduser().resolve()
    return {
        "Metrics database": root / "metrics.db",
        "Videos": root / "videos",
        "Curves": root / "curves",
        "Report": root / "report.html",
    }


def video_schedule(episodes: int) -> EpisodeCaptureSchedule:
    """Episode 0, about five evenly spaced episodes and the last one."""
    return EpisodeCaptureSchedule(
        episode_indices=(0,),
        every_n_episodes=max(1, episodes // 5),
        last_n_episodes=1,
        total_episodes=episodes,
    )


def build_env(
    env_id: str,
    out_dir: str | os.PathLike[str],
    seed: int,
    *,
    episodes: int = 500,
    window_size: int = MOVING_WINDOW,
    record: bool = True,
    config: dict[str, Any] | None = None,
) -> gym.Env[Any, Any]:
    """Make ``env_id`` and wrap it in the demo's recording stack.

    This is the only place the demo's wrappers are chosen: everything the demo
    records (into ``out_dir``) is recorded because a wrapper here sees it. The
    stack, innermost first: MP4 videos of episode 0, every ``episodes // 5``-th
    and the last episode, a GIF of the last episode (both only when the env
    can render ``rgb_array`` frames), every episode into ``metrics.db``,
    reward/length curves into ``curves/`` (saved on close), and
    :class:`~gymscope.EpisodeStatsWrapper` outermost, writing
    ``info["episode"]`` with a moving mean over ``window_size`` episodes. All
    are gymscope wrappers, so they share one episode tracker.

    Args:
        env_id: A registered gymnasium id with a ``Box`` observation space
            and a ``Discrete`` action space.
        out_dir: Folder for the run's outputs (created if missing).
        seed: Seeds the action and observation spaces (the caller seeds resets).
        episodes: Episodes the run will play (places the "last episode" video).
        window_size: Episodes spanned by the moving statistics.
        record: Add the database and video wrappers (False: statistics only).
        config: Stored with the run's experiment row in the database.

    Raises:
        DemoError: Unknown env id, env that cannot be made, unsupported spaces,
            or an output folder that cannot be written.
    """
    prepare_out_dir(out_dir)
    videos = record and _renders_rgb(env_id)
    env = _make(env_id, render_mode="rgb_array" if videos else None)
    obs_space, act_space = env.observation_space, env.action_space
    if not isinstance(obs_space, gym.spaces.Box) or not isinstance(act_space, gym.spaces.Discrete):
        env.close()
        raise DemoError(
            f"the demo's linear policy needs a Box observation space and a Discrete action "
            f"space, but {env_id!r} has {_describe_space(obs_space)} observations and "
            f"{_describe_space(act_space)} actions; try --env CartPole-v1 or Acrobot-v1"
        )
    if env.spec is None or env.spec.max_episode_steps is None:
        logger.info(
            "%s has no time limit; capping episodes at %d steps",
            env_id,
            FALLBACK_MAX_EPISODE_STEPS,
        )
        env = gym.wrappers.TimeLimit(env, FALLBACK_MAX_EPISODE_STEPS)
    env.action_space.seed(seed)
    env.observation_space.seed(seed)
    if record:
        paths = demo_paths(out_dir)
        prefix = env_id.replace("/", "_")
        if videos:
            with warnings.catch_warnings():
                # a re-run into the same folder replaces the demo's own videos
                warnings.filterwarnings("ignore", message=".* already holds .* video")
                env = ScheduledRecordVideo(
                    env,
                    paths["Videos"],
                    schedule=video_schedule(episodes),
                    name_prefix=prefix,
                    window_size=window_size,
                )
                env = ScheduledRecordVideo(
                    env,
                    paths["Videos"],
                    schedule=EpisodeCaptureSchedule(last_n_episodes=1, total_episodes=episodes),
                    name_prefix=prefix,
                    format="gif",
                    scale=0.5,
                    max_frames=300,
                    window_size=window_size,
                )
        env = SQLiteLoggerWrapper(
            env,
            paths["Metrics database"],
            agent="CrossEntropyAgent",
            config=config,
            window_size=window_size,
        )
        env = CurveRecorderWrapper(env, paths["Curves"], prefix=prefix, window_size=window_size)
    return EpisodeStatsWrapper(env, stats_key=STATS_KEY, window_size=window_size)
