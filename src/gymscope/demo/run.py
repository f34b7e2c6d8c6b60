"""The demo's training loop: :func:`run_demo` and the :class:`DemoResult` it returns.

:func:`run_demo` never adds up rewards itself. It reads each episode's return
and the moving mean of returns from ``info["episode"]``, which
:class:`~gymscope.EpisodeStatsWrapper` writes, exactly as a training loop
written for gymnasium's ``RecordEpisodeStatistics`` would.
"""

from __future__ import annotations

import logging
import math
import os
import time
from contextlib import nullcontext
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Any, cast

import gymnasium as gym
import numpy as np

from gymscope._checks import check_int
from gymscope.demo.agent import CrossEntropyAgent, LinearPolicy
from gymscope.demo.stack import MOVING_WINDOW, STATS_KEY, DemoError, build_env, demo_paths
from gymscope.demo.summary import written_outputs

if TYPE_CHECKING:
    from rich.console import Console
    from rich.progress import Progress

__all__ = ["DemoResult", "run_demo"]

logger = logging.getLogger(__name__)


@dataclass(frozen=True)
class DemoResult:
    """What a demo run did, read from the wrapper's ``info["episode"]``.

    Attributes:
        env_id: The environment trained on.
        seed: The seed of the run.
        episodes: Episodes played.
        total_steps: Environment steps taken (sum of ``info["episode"]["l"]``).
        iterations: Cross-entropy updates made.
        population: Candidates per iteration.
        window_size: Episodes spanned by the moving mean.
        returns: ``info["episode"]["r"]`` of every episode.
        moving_means: ``info["episode"]["r_mean"]`` of every episode.
        wall_time_s: Seconds the run took.
        out_dir: Absolute path of the output folder.
        outputs: What the recording wrappers wrote, by description.
        agent: The trained agent (``agent.policy()`` is its mean policy).
    """

    env_id: str
    seed: int
    episodes: int
    total_steps: int
    iterations: int
    population: int
    window_size: int
    returns: tuple[float, ...] = field(repr=False)
    moving_means: tuple[float, ...] = field(repr=False)
    wall_time_s: float
    out_dir: Path
    outputs: dict[str, Path] = field(default_factory=dict)
    agent: CrossEntropyAgent | None = field(default=None, repr=False, compare=False)

    @property
    def best_moving_mean(self) -> float:
        """Highest moving mean return reached."""
        return max(self.moving_means, default=math.nan)

    @property
    def last_moving_mean(self) -> float:
        """Moving mean return at the last episode."""
        return self.moving_means[-1] if self.moving_means else math.nan

    def moving_mean_milestones(self, parts: int = 4) -> list[float]:
        """Moving mean at the first episode and after each ``1/parts`` of the run."""
        n = len(self.moving_means)
        if n == 0:
            return []
        return [self.moving_means[round(i * (n - 1) / parts)] for i in range(parts + 1)]


def _play_episode(env: gym.Env[Any, Any], policy: LinearPolicy, seed: int | None) -> Any:
    obs, _ = env.reset(seed=seed)
    while True:
        obs, _, terminated, truncated, info = env.step(policy(obs))
        if terminated or truncated:
            return info[STATS_KEY]


def _start_progress(console: Console, env_id: str, episodes: int) -> Progress:
    from rich.markup import escape
    from rich.progress import (
        BarColumn,
        MofNCompleteColumn,
        Progress,
        TextColumn,
        TimeElapsedColumn,
    )

    console.print(
        f"Training a linear policy on [bold]{escape(env_id)}[/] with the cross-entropy "
        f"method ({episodes:,} episodes). Returns come from EpisodeStatsWrapper's "
        'info["episode"].',
        highlight=False,
    )
    progress = Progress(
        TextColumn(f"[bold]{escape(env_id)}"),
        BarColumn(),
        MofNCompleteColumn(),
        TextColumn("episodes"),
        TextColumn("moving mean return [bold cyan]{task.fields[mean]}"),
        TimeElapsedColumn(),
        console=console,
    )
    progress.add_task("train", total=episodes, mean="-")
    return progress


def run_demo(
    env_id: str,
    episodes: int,
    out_dir: str | os.PathLike[str],
    seed: int,
    console: Console | None = None,
) -> DemoResult:
    """Train a :class:`CrossEntropyAgent` on ``env_id`` for ``episodes`` episodes.

    Each candidate policy plays one episode; its score is the return the
    stack's :class:`~gymscope.EpisodeStatsWrapper` reports in
    ``info["episode"]["r"]``. The first reset is seeded with ``seed`` and so
    is the agent's NumPy generator, so a run is reproducible from its seed.

    Args:
        env_id: Gymnasium id (``Box`` observations, ``Discrete`` actions).
        episodes: Episodes to play (the budget of the search).
        out_dir: Folder the recording wrappers write into.
        seed: Seed of the env and the agent.
        console: A rich console to show a progress bar on; ``None`` shows
            nothing (progress is then only logged at DEBUG level).

    After each update the agent's training losses (see
    :meth:`CrossEntropyAgent.tell`) are logged by env step with the stack's
    ``log_metrics(step=...)``, so the database, the report and TensorBoard
    get them as ``train/...`` curves.

    When the run is over, ``out_dir/report.html`` is (re)written: the HTML
    report (:func:`gymscope.report.write_report`) of every run in
    ``out_dir/metrics.db``, with the videos in ``out_dir/videos``.

    Raises:
        DemoError: See :func:`build_env`; or the report cannot be written.
    """
    episodes = check_int("episodes", episodes, 1)
    seed = check_int("seed", seed, 0)
    config = {"env": env_id, "seed": seed, "episodes": episodes, "agent": "CrossEntropyAgent"}
    env = build_env(env_id, out_dir, seed, episodes=episodes, config=config)
    out_path = Path(out_dir).expanduser().resolve()
    start = time.perf_counter()
    returns: list[float] = []
    moving_means: list[float] = []
    total_steps = 0
    try:
        # build_env checked the spaces
        obs_space = cast(gym.spaces.Box, env.observation_space)
        act_space = cast(gym.spaces.Discrete, env.action_space)
        agent = CrossEntropyAgent(
            obs_dim=int(np.prod(obs_space.shape)),
            n_actions=int(act_space.n),
            action_start=int(act_space.start),
            rng=np.random.default_rng(seed),
        )
        log_metrics = env.get_wrapper_attr("log_metrics")
        progress = None if console is None else _start_progress(console, env_id, episodes)
        with progress if progress is not None else nullcontext():
            reset_seed: int | None = seed
            while len(returns) < episodes:
                candidates = agent.ask()[: episodes - len(returns)]
                scores: list[float] = []
                for params in candidates:
                    stats = _play_episode(env, agent.policy(params), reset_seed)
                    reset_seed = None  # seed once; later resets continue the env's RNG
                    scores.append(float(stats["r"]))
                    moving_means.append(float(stats["r_mean"]))
                    total_steps += int(stats["l"])
                    if progress is not None:
                        mean = f"{stats['r_mean']:7.1f}"
                        progress.update(progress.task_ids[0], advance=1, mean=mean)
                returns.extend(scores)
                if len(scores) == agent.population:
                    agent.tell(candidates, scores)
                    # the update's losses, keyed by the env steps taken so far
                    log_metrics(step=total_steps, **agent.last_losses)
                    logger.debug(
                        "iteration %d: mean return %.1f, best %.1f, moving mean %.1f",
                        agent.iterations,
                        np.mean(scores),
                        max(scores),
                        moving_means[-1],
                    )
    finally:
        env.close()
    _write_report(out_path, env_id)
    return DemoResult(
        outputs=written_outputs(out_path),
        env_id=env_id,
        seed=seed,
        episodes=len(returns),
        total_steps=total_steps,
        iterations=agent.iterations,
        population=agent.population,
        window_size=MOVING_WINDOW,
        returns=tuple(returns),
        moving_means=tuple(moving_means),
        wall_time_s=time.perf_counter() - start,
        out_dir=out_path,
        agent=agent,
    )


def _write_report(out_dir: Path, env_id: str) -> None:
    """The HTML report of every run in the folder's database, with its videos."""
    from gymscope.report import write_report

    paths = demo_paths(out_dir)
    if not paths["Metrics database"].is_file():
        return
    try:
        write_report(
            paths["Metrics database"],
            paths["Report"],
            title=f"gymscope demo: {env_id}",
            window_size=MOVING_WINDOW,
            overwrite=True,  # the demo's own page, remade with every run
        )
    except OSError as exc:
        raise DemoError(f"cannot write the report {str(paths['Report'])!r}: {exc}") from exc
