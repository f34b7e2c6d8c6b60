"""AnalyticsWrapper: every finished episode handed to W&B, MLflow or Comet.

A driver of :class:`~gymscope.trackers.sink.TrackerSink`, which ``gymscope
push`` also feeds from the metrics database, so a live run and a pushed one
look the same in the tracker. The tracker's SDK is an optional dependency
(``pip install "gymscope[wandb]"``, ``[mlflow]``, ``[comet]``), imported when
the tracker run starts, never by ``import gymscope``.
"""

from __future__ import annotations

import os
from collections.abc import Iterable, Mapping, Sequence
from typing import Any

import gymnasium as gym
from gymnasium.core import ActType, ObsType

from gymscope.episode import StatsConfig, check_alpha, check_info_keys, check_window_size
from gymscope.state import AnalyticsState
from gymscope.trackers._client import TrackerClient
from gymscope.trackers.sink import TrackerSink
from gymscope.wrappers.base import GymscopeWrapper, check_env

__all__ = ["AnalyticsWrapper", "stack_video_folders"]


def stack_video_folders(env: object) -> list[str]:
    """The video folders of the gymscope video wrappers inside ``env``'s stack."""
    from gymscope.sinks.video import VideoSink

    folders: list[str] = []
    while isinstance(env, gym.Wrapper):
        for sink in getattr(env, "sinks", ()) if isinstance(env, GymscopeWrapper) else ():
            if isinstance(sink, VideoSink) and sink.video_folder not in folders:
                folders.append(sink.video_folder)
        env = env.env
    return folders


def _env_name(env: Any) -> str:
    """The env's id, else its class name (for the run's name and tags)."""
    spec = getattr(env, "spec", None)
    return str(getattr(spec, "id", "") or type(env.unwrapped).__name__)


def analytics_sink(
    env: Any,
    state: AnalyticsState,
    backend: str | TrackerClient,
    *,
    stack_folders: list[str],
    video_folders: Iterable[str | os.PathLike[str]],
    run_level: bool = False,
    **options: Any,
) -> TrackerSink:
    """The TrackerSink of an AnalyticsWrapper (single-env or vector) around
    ``env``: the stack's video folders, then the caller's; the env's name;
    ``options`` are TrackerSink's (config, agent, episodes, uri, ...)."""
    extra = [video_folders] if isinstance(video_folders, (str, os.PathLike)) else video_folders
    return TrackerSink(
        backend,
        state,
        video_folders=[*stack_folders, *extra],
        env_name=_env_name(env),
        run_level=run_level,
        owner="AnalyticsWrapper",
        **options,
    )


class AnalyticsWrapper(
    GymscopeWrapper[ObsType, ActType],
    gym.utils.RecordConstructorArgs,
):
    """Hands every finished episode to an experiment tracker: W&B, MLflow or Comet.

    ``AnalyticsWrapper(env, AnalyticsState("cartpole", tags=["ppo"]),
    backend="mlflow", uri="sqlite:///mlflow.db")``: the tracker run gets, at
    env steps (the step axis of TensorBoard, CleanRL and SB3), the keys of
    :class:`~gymscope.wrappers.tensorboard.TensorBoardWrapper`:
    ``episode/return``, ``episode/length``, their EMAs
    (``episode/return_ema_{alpha}``), the moving mean and std
    (``episode/return_mean_{window}``), ``info/<key>``,
    ``episode_metrics/<name>``, and ``train/<name>`` for
    ``log_metrics(step=..., name=value)``; the ``config`` as the tracker's
    config (MLflow params); the videos of the gymscope video wrappers inside
    the stack (and of ``video_folders``) with their returns. The "Trackers"
    docs pages say where each tracker shows them.

    Naming, where the state leaves it open (velora's rule): the run is
    ``{agent}_{env}_{episodes}ep`` with tags ``[agent, env]``; ``agent`` is
    the argument, else the agent of the stack's database wrapper, and
    ``episodes`` the planned number of episodes when given; a part that is
    not known is left out (``CartPole-v1`` for a run with neither).

    Points are sent in batches (every ``flush_every`` episodes, at the first
    episode ``flush_secs`` after the last send, and at ``close()``), not per
    episode. A tracker that fails is warned about once and not called again;
    ``step()`` never raises for it. With a database wrapper in the stack
    (:class:`~gymscope.SQLiteLoggerWrapper`), the tracker run's id is kept in
    the database: resuming the run continues the same tracker run without
    going back in steps, and ``gymscope push`` later sends what the tracker
    missed, into the same run.

    Args:
        env: The environment to wrap.
        state: Project, name, tags, entity, run id, offline flag and folder
            of the tracker run (:class:`~gymscope.AnalyticsState`).
        backend: ``"wandb"``, ``"mlflow"``, ``"comet"``, or a TrackerClient.
        config: The run's configuration (hyperparameters), nested mappings allowed.
        agent: The agent's name, for the run's name and tags.
        episodes: The planned number of episodes, for the run's name.
        uri: MLflow tracking URI (``sqlite:///mlflow.db``).
        settings: Backend-specific keyword arguments, passed through.
        alpha: Weight of the newest episode in the EMAs, in (0, 1].
        window_size: Episodes spanned by the moving mean and std.
        info_keys: Keys of the final step's ``info`` to log as ``info/<key>``.
        flush_every: Episodes kept before they are sent.
        flush_secs: Seconds after which kept episodes are sent at the next one.
        video_folders: More folders whose new videos (with sidecars naming
            this run) are attached, e.g. of a video wrapper outside this one.

    Raises:
        gymnasium.error.DependencyNotInstalled: the tracker's SDK is missing
            (``pip install "gymscope[mlflow]"``, ...).
        TypeError, ValueError: a bad argument.
    """

    def __init__(
        self,
        env: gym.Env[ObsType, ActType],
        state: AnalyticsState,
        backend: str | TrackerClient = "wandb",
        *,
        config: Mapping[str, Any] | None = None,
        agent: str | None = None,
        episodes: int | None = None,
        uri: str | None = None,
        settings: Mapping[str, Any] | None = None,
        alpha: float = 0.1,
        window_size: int = 100,
        info_keys: Sequence[str] = (),
        flush_every: int = 50,
        flush_secs: float = 10.0,
        video_folders: Iterable[str | os.PathLike[str]] = (),
    ) -> None:
        check_env(env)
        alpha = check_alpha(alpha)
        window_size = check_window_size(window_size)
        keys = check_info_keys(info_keys)
        sink = analytics_sink(
            env,
            state,
            backend,
            stack_folders=stack_video_folders(env),
            video_folders=video_folders,
            config=config,
            agent=agent,
            episodes=episodes,
            uri=uri,
            settings=settings,
            flush_every=flush_every,
            flush_secs=flush_secs,
        )
        gym.utils.RecordConstructorArgs.__init__(
            self,
            state=state,
            backend=backend if isinstance(backend, str) else sink.backend,
            config=config,
            agent=agent,
            episodes=episodes,
            uri=uri,
            settings=settings,
            alpha=alpha,
            window_size=window_size,
            info_keys=keys,
            flush_every=flush_every,
            flush_secs=flush_secs,
        )
        super().__init__(env, sink, stats=StatsConfig(window_size, alpha), info_keys=keys)
        self._tracker_sink = sink

    @property
    def tracker_sink(self) -> TrackerSink:
        """The sink that feeds the tracker."""
        return self._tracker_sink

    @property
    def tracker_run_id(self) -> str | None:
        """The tracker's id of the run (None until its first send)."""
        return self._tracker_sink.run_id

    def close(self) -> None:
        """Close the env first (inner wrappers finish their videos and rows),
        then send what is kept and end the tracker run. Safe to call twice."""
        if getattr(self, "_closed", True):
            return
        try:
            self.env.close()
        finally:
            self._close_owned()
