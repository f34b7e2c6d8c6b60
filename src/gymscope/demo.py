"""The agent and the env stack behind ``gymscope demo``.

A :class:`CrossEntropyAgent` searches the weights of a :class:`LinearPolicy`
(one score per action, ``argmax`` picks the action) with the cross-entropy
method: sample a population of weight vectors, play one episode with each,
refit a Gaussian to the best ones, repeat. It needs nothing but NumPy and
learns CartPole in a few hundred episodes.

The point of the demo is where the numbers come from: :func:`run_demo` never
adds up rewards itself. It reads each episode's return and the moving mean of
returns from ``info["episode"]``, which :class:`~gymscope.EpisodeStatsWrapper`
writes, exactly as a training loop written for gymnasium's
``RecordEpisodeStatistics`` would. The wrapper stack is built in one place,
:func:`build_env`, so every recording wrapper added there records the demo.

>>> import numpy as np
>>> agent = CrossEntropyAgent(obs_dim=4, n_actions=2, rng=0, population=10)
>>> candidates = agent.ask()
>>> candidates.shape
(10, 10)
>>> returns = [float(c[-1] - c[-2]) for c in candidates]  # prefer action 1
>>> agent.tell(candidates, returns)
>>> agent.iterations, agent.policy()(np.zeros(4))
(1, 1)
"""

from __future__ import annotations

import logging
import math
import os
import tempfile
import time
import warnings
from collections.abc import Sequence
from contextlib import nullcontext
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Any, cast

import gymnasium as gym
import numpy as np
import numpy.typing as npt

from gymscope._checks import check_int, check_number
from gymscope.errors import GymscopeError, InvalidArgumentError
from gymscope.schedule import EpisodeCaptureSchedule
from gymscope.wrappers.curves import CurveRecorderWrapper
from gymscope.wrappers.sqlite_logger import SQLiteLoggerWrapper
from gymscope.wrappers.stats import EpisodeStatsWrapper
from gymscope.wrappers.video import ScheduledRecordVideo

if TYPE_CHECKING:
    from rich.console import Console, RenderableType
    from rich.progress import Progress

__all__ = [
    "MOVING_WINDOW",
    "STATS_KEY",
    "CrossEntropyAgent",
    "DemoError",
    "DemoResult",
    "LinearPolicy",
    "build_env",
    "demo_paths",
    "prepare_out_dir",
    "render_summary",
    "run_demo",
]

logger = logging.getLogger(__name__)

#: Episodes spanned by the moving mean the demo shows (and its recorders use).
MOVING_WINDOW = 50
#: The ``info`` key EpisodeStatsWrapper writes and the training loop reads.
STATS_KEY = "episode"
#: Episode cap for envs registered without a time limit (a linear policy may
#: balance forever).
FALLBACK_MAX_EPISODE_STEPS = 1000

FloatArray = npt.NDArray[np.float64]


class DemoError(GymscopeError):
    """A problem with the demo's input (env id, env spaces, output folder).

    The message is one line, meant for the user.
    """


# -- the agent ---------------------------------------------------------------------------


class LinearPolicy:
    """Deterministic linear policy: ``start + argmax(obs @ weights + bias)``.

    Args:
        weights: ``(obs_dim, n_actions)`` array.
        bias: ``(n_actions,)`` array.
        start: First action of the ``Discrete`` space (usually 0).

    >>> policy = LinearPolicy(np.array([[1.0, -1.0]]), np.zeros(2))
    >>> policy(np.array([0.5])), policy(np.array([-0.5]))
    (0, 1)
    """

    __slots__ = ("bias", "start", "weights")

    def __init__(self, weights: FloatArray, bias: FloatArray, start: int = 0) -> None:
        self.weights = weights
        self.bias = bias
        self.start = start

    def __call__(self, obs: Any) -> int:
        scores = np.ravel(obs) @ self.weights + self.bias
        return self.start + int(np.argmax(scores))


class CrossEntropyAgent:
    """Cross-entropy method over the weights of a :class:`LinearPolicy`.

    Each iteration :meth:`ask` samples ``population`` parameter vectors from a
    diagonal Gaussian; the caller scores each (one episode's return) and hands
    the scores to :meth:`tell`, which refits the Gaussian's mean and standard
    deviation to the best ``elite_frac`` of them. ``noise_floor`` is added to
    the refitted spread (in quadrature) so the search never collapses onto a
    lucky candidate and keeps exploring.

    Args:
        obs_dim: Size of the flattened observation.
        n_actions: Number of discrete actions.
        rng: A NumPy ``Generator`` or a seed for one; the only randomness used.
        population: Candidates per iteration.
        elite_frac: Fraction of the population the Gaussian is refitted to.
        init_std: Initial standard deviation of every parameter.
        noise_floor: Standard deviation added to the refitted spread.
        action_start: First action of the ``Discrete`` space.

    Raises:
        TypeError, ValueError: A hyperparameter of the wrong type or range.

    >>> CrossEntropyAgent(obs_dim=4, n_actions=2, population=1)
    Traceback (most recent call last):
        ...
    gymscope.errors.InvalidArgumentError: population must be an int >= 2, got 1
    """

    def __init__(
        self,
        obs_dim: int,
        n_actions: int,
        *,
        rng: np.random.Generator | int | None = None,
        population: int = 30,
        elite_frac: float = 0.25,
        init_std: float = 2.0,
        noise_floor: float = 0.05,
        action_start: int = 0,
    ) -> None:
        self.obs_dim = check_int("obs_dim", obs_dim, 1)
        self.n_actions = check_int("n_actions", n_actions, 1)
        self.population = check_int("population", population, 2)
        self.elite_frac = check_number("elite_frac", elite_frac, low=0.0, high=1.0)
        init_std = check_number("init_std", init_std, low=0.0)
        self.noise_floor = check_number("noise_floor", noise_floor, low=-math.inf)
        if self.noise_floor < 0:
            raise InvalidArgumentError(f"noise_floor must be >= 0, got {noise_floor!r}")
        self.action_start = check_int("action_start", action_start)
        self.n_elite = max(2, round(self.population * self.elite_frac))
        self.rng = rng if isinstance(rng, np.random.Generator) else np.random.default_rng(rng)
        self.n_params = self.obs_dim * self.n_actions + self.n_actions
        self.mean: FloatArray = np.zeros(self.n_params)
        self.std: FloatArray = np.full(self.n_params, init_std)
        self.iterations = 0

    def ask(self) -> FloatArray:
        """Sample this iteration's candidates, shape ``(population, n_params)``."""
        noise = self.rng.standard_normal((self.population, self.n_params))
        candidates: FloatArray = self.mean + self.std * noise
        return candidates

    def tell(self, candidates: FloatArray, returns: Sequence[float] | FloatArray) -> None:
        """Refit the sampling distribution to the best-scoring candidates.

        NaN scores rank last. Fewer candidates than :meth:`ask` gave are fine
        (at least two are needed).
        """
        candidates = np.asarray(candidates, dtype=np.float64)
        scores = np.nan_to_num(np.asarray(returns, dtype=np.float64), nan=-np.inf)
        if candidates.ndim != 2 or candidates.shape[1] != self.n_params:
            raise InvalidArgumentError(
                f"candidates must have shape (k, {self.n_params}), got {candidates.shape}"
            )
        if scores.shape != (candidates.shape[0],):
            raise InvalidArgumentError(
                f"need one return per candidate: {candidates.shape[0]} candidates, "
                f"{scores.size} returns"
            )
        if scores.size < 2:
            raise InvalidArgumentError(f"need at least 2 scored candidates, got {scores.size}")
        n_elite = min(self.n_elite, scores.size)
        elite = candidates[np.argsort(scores, kind="stable")[-n_elite:]]
        self.mean = elite.mean(axis=0)
        self.std = np.sqrt(elite.var(axis=0) + self.noise_floor**2)
        self.iterations += 1

    def policy(self, params: FloatArray | None = None) -> LinearPolicy:
        """The policy for ``params`` (default: the current mean)."""
        flat = self.mean if params is None else np.asarray(params, dtype=np.float64)
        split = self.obs_dim * self.n_actions
        weights = flat[:split].reshape(self.obs_dim, self.n_actions)
        return LinearPolicy(weights, flat[split:], self.action_start)


# -- the env stack -------------------------------------------------------------------


def prepare_out_dir(out_dir: str | os.PathLike[str]) -> Path:
    """Create ``out_dir`` if needed, check it is writable, return it absolute.

    Raises:
        DemoError: ``out_dir`` is a file, or cannot be created or written to.
    """
    path = Path(out_dir).expanduser()
    if path.exists() and not path.is_dir():
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


# -- the training loop ---------------------------------------------------------------


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
        outputs=_written_outputs(out_path),
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
        )
    except OSError as exc:
        raise DemoError(f"cannot write the report {str(paths['Report'])!r}: {exc}") from exc


def _written_outputs(out_dir: Path) -> dict[str, Path]:
    """What the recording wrappers left in ``out_dir``, labelled for the summary."""
    paths = demo_paths(out_dir)
    outputs: dict[str, Path] = {}
    if paths["Metrics database"].is_file():
        outputs["Metrics database"] = paths["Metrics database"]
    if paths["Videos"].is_dir():
        mp4s = sorted(paths["Videos"].glob("*.mp4"))
        gifs = sorted(paths["Videos"].glob("*.gif"))
        if mp4s:
            outputs[f"Videos ({len(mp4s)} MP4)"] = paths["Videos"]
        for gif in gifs:
            outputs["GIF"] = gif
    curves = sorted(paths["Curves"].glob("*_reward_curve.png"))
    if curves:
        outputs["Reward curve"] = curves[0]
    if paths["Report"].is_file():
        outputs["Report"] = paths["Report"]
    return outputs


def query_hint(db: Path) -> str:
    """A copyable command that reads the last episodes from the metrics database."""
    sql = "SELECT episode_num, reward, reward_moving_avg FROM episode ORDER BY id DESC LIMIT 5"
    return (
        f'python -c "import sqlite3; '
        f"print(*sqlite3.connect(r'{db}').execute('{sql}'), sep=chr(10))\""
    )


def render_summary(result: DemoResult, *, unicode: bool = True) -> RenderableType:
    """A short rich summary of ``result``, ending with where its outputs went.

    Print it with ``console.print(summary, crop=False)``: output paths are
    never wrapped or cropped, so they can be copied from the terminal.
    ``unicode=False`` draws arrows in ASCII.
    """
    from rich.console import Group
    from rich.table import Table
    from rich.text import Text

    arrow = " \u2192 " if unicode else " -> "
    steps_per_s = result.total_steps / result.wall_time_s if result.wall_time_s > 0 else 0.0
    rows: list[tuple[str, str | Text]] = [
        (
            "Episodes",
            f"{result.episodes:,} ({result.iterations} cross-entropy "
            f"{'iteration' if result.iterations == 1 else 'iterations'} "
            f"of {result.population} candidates)",
        ),
        ("Steps", f"{result.total_steps:,}"),
        (
            "Moving mean return",
            Text.assemble(
                "best ",
                (f"{result.best_moving_mean:.1f}", "bold green"),
                ", last ",
                (f"{result.last_moving_mean:.1f}", "bold green"),
                f" (over {result.window_size} episodes)",
            ),
        ),
        (
            "Learning curve",
            arrow.join(f"{m:.0f}" for m in result.moving_mean_milestones())
            + " (moving mean at 0/25/50/75/100%)",
        ),
        ("Wall time", f"{result.wall_time_s:.1f} s ({steps_per_s:,.0f} steps/s)"),
    ]
    outputs = {"Output folder": result.out_dir, **result.outputs}
    width = max(len(label) for label in [*(label for label, _ in rows), *outputs])
    grid = Table.grid(padding=(0, 2))
    grid.add_column(style="bold", min_width=width)
    grid.add_column()
    for label, value in rows:
        grid.add_row(label, value)
    paths = [
        Text.assemble(
            (label.ljust(width), "bold"), "  ", str(path), no_wrap=True, overflow="ignore"
        )
        for label, path in outputs.items()
    ]
    title = Text.assemble(("gymscope demo", "bold"), f": {result.env_id}, seed {result.seed}")
    db = result.outputs.get("Metrics database")
    if db is None:
        return Group(title, grid, *paths)
    hint = Text.assemble(
        ("Query the database", "bold"),
        " (tables experiment and episode, velora's columns), e.g.:\n  ",
        query_hint(db),
        no_wrap=True,
        overflow="ignore",
    )
    return Group(title, grid, *paths, hint)
