"""Recording and analytics settings, compatible with velora's state dataclasses.

:class:`RecordState` says where videos go and which episodes or steps to
record; :meth:`RecordState.to_wrapper` turns it into the keyword arguments of
:class:`gymnasium.wrappers.RecordVideo`. :class:`AnalyticsState` names a
Comet / Weights & Biases run. Both validate their input, are immutable and
picklable (as long as their triggers are).

>>> from gymscope.schedule import EpisodeCaptureSchedule
>>> state = RecordState.from_schedule("videos", EpisodeCaptureSchedule(every_n_episodes=100))
>>> sorted(state.to_wrapper()), state.method
(['episode_trigger', 'step_trigger', 'video_folder'], 'episode')
>>> AnalyticsState("cartpole").resolved("PPO", "CartPole-v1", 500).experiment_name
'PPO_CartPole-v1_500ep'
"""

from __future__ import annotations

import os
from collections.abc import Callable, Iterable
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Literal, get_args

from gymscope._checks import check_bool, check_int, check_str, check_strings
from gymscope.errors import ArgumentTypeError, InvalidArgumentError
from gymscope.schedule import EpisodeCaptureSchedule

__all__ = ["AnalyticsState", "RecordMethod", "RecordState"]

#: How RecordVideo decides when to start a video: per episode or per step.
RecordMethod = Literal["episode", "step"]

Trigger = Callable[[int], bool]


def _check_trigger(name: str, trigger: object, example: str) -> Trigger | None:
    if trigger is not None and not callable(trigger):
        raise ArgumentTypeError(
            f"{name} must be a callable int -> bool or None, got {trigger!r} "
            f"({type(trigger).__name__}); e.g. {name}={example}"
        )
    return trigger


@dataclass(frozen=True, init=False)
class RecordState:
    """Where videos go and when ``RecordVideo`` starts one (velora's ``RecordState``).

    ``method`` says which trigger drives the recording, as in velora:

    - ``"episode"``: ``episode_trigger(episode_index)`` starts a video at the
      start of an episode. Without an ``episode_trigger``, ``RecordVideo``
      uses its default schedule (episodes 0, 1, 8, 27, ..., 729, then every
      1000th). ``step_trigger`` must be None.
    - ``"step"``: ``step_trigger(step_index)`` starts a video at a step
      (counted over all episodes). ``step_trigger`` is required, since
      without it ``RecordVideo`` would record by episode; ``episode_trigger``
      must be None.

    Args:
        dirpath: Folder the videos are written to (a str is converted to a
            :class:`~pathlib.Path`).
        method: ``"episode"`` or ``"step"``.
        episode_trigger: ``int -> bool``, True for the episodes to record.
        step_trigger: ``int -> bool``, True for the steps a video starts at.

    Raises:
        TypeError: ``dirpath`` is not a path or a trigger is not callable.
        ValueError: ``method`` is unknown or contradicts the triggers given.

    Example:
        >>> state = RecordState("videos", "step", step_trigger=lambda t: t % 1000 == 0)
        >>> kwargs = state.to_wrapper()
        >>> sorted(kwargs)
        ['episode_trigger', 'step_trigger', 'video_folder']
        >>> kwargs["video_folder"] == Path("videos"), kwargs["step_trigger"](2000)
        (True, True)

        ``"step"`` needs its trigger:

        >>> RecordState("videos", "step")  # doctest: +ELLIPSIS
        Traceback (most recent call last):
            ...
        gymscope.errors.InvalidArgumentError: method='step' needs a step_trigger (RecordVideo ...
    """

    dirpath: Path
    method: RecordMethod
    episode_trigger: Trigger | None
    step_trigger: Trigger | None

    def __init__(
        self,
        dirpath: str | os.PathLike[str],
        method: RecordMethod,
        episode_trigger: Trigger | None = None,
        step_trigger: Trigger | None = None,
    ) -> None:
        if not isinstance(dirpath, (str, os.PathLike)):
            raise ArgumentTypeError(
                f"dirpath must be a str or a path (pathlib.Path), got {dirpath!r} "
                f"({type(dirpath).__name__})"
            )
        path = Path(dirpath)
        if method not in get_args(RecordMethod):
            raise InvalidArgumentError(
                f"method must be 'episode' or 'step', got {method!r}; 'episode' records whole "
                "episodes chosen by episode_trigger, 'step' starts videos at steps chosen by "
                "step_trigger"
            )
        episode_trigger = _check_trigger(
            "episode_trigger",
            episode_trigger,
            "EpisodeCaptureSchedule(every_n_episodes=100).should_capture_episode",
        )
        step_trigger = _check_trigger(
            "step_trigger",
            step_trigger,
            "EpisodeCaptureSchedule(every_n_steps=1000).should_capture_step",
        )
        if method == "episode" and step_trigger is not None:
            raise InvalidArgumentError(
                f"method='episode' records by episode, but step_trigger={step_trigger!r} was "
                "given too; pass method='step' to record by step, or drop step_trigger"
            )
        if method == "step" and step_trigger is None:
            raise InvalidArgumentError(
                "method='step' needs a step_trigger (RecordVideo would record by episode "
                "without one); pass step_trigger=, e.g. "
                "EpisodeCaptureSchedule(every_n_steps=1000).should_capture_step"
            )
        if method == "step" and episode_trigger is not None:
            raise InvalidArgumentError(
                f"method='step' records by step, but episode_trigger={episode_trigger!r} was "
                "given too; pass method='episode' to record by episode, or drop episode_trigger"
            )
        object.__setattr__(self, "dirpath", path)
        object.__setattr__(self, "method", method)
        object.__setattr__(self, "episode_trigger", episode_trigger)
        object.__setattr__(self, "step_trigger", step_trigger)

    @classmethod
    def from_schedule(
        cls, dirpath: str | os.PathLike[str], schedule: EpisodeCaptureSchedule
    ) -> RecordState:
        """A RecordState that records what ``schedule`` captures.

        ``method`` is ``"episode"`` for a schedule of episodes and ``"step"``
        for a schedule of steps; the triggers are the schedule's bound
        methods, so the state stays picklable.

        Raises:
            TypeError: ``schedule`` is not an :class:`EpisodeCaptureSchedule`.
            ValueError: ``schedule`` captures nothing (``RecordVideo`` would
                fall back to its default schedule) or both episodes and steps
                (a RecordState has one method).

        >>> from gymscope.schedule import EpisodeCaptureSchedule
        >>> RecordState.from_schedule("videos", EpisodeCaptureSchedule.parse("steps:500")).method
        'step'
        """
        if not isinstance(schedule, EpisodeCaptureSchedule):
            raise ArgumentTypeError(
                f"schedule must be an EpisodeCaptureSchedule, got {schedule!r} "
                f"({type(schedule).__name__}); e.g. EpisodeCaptureSchedule.parse('every:100')"
            )
        if schedule.captures_episodes and schedule.captures_steps:
            raise InvalidArgumentError(
                f"schedule {str(schedule)!r} captures both episodes and steps, but a RecordState "
                "records by one method; split it into two schedules, or pass "
                "episode_trigger=schedule.episode_trigger, step_trigger=schedule.step_trigger "
                "to RecordVideo directly"
            )
        if schedule.captures_steps:
            return cls(dirpath, "step", step_trigger=schedule.should_capture_step)
        if schedule.captures_episodes:
            return cls(dirpath, "episode", episode_trigger=schedule.should_capture_episode)
        raise InvalidArgumentError(
            f"schedule {str(schedule)!r} captures nothing, and RecordVideo given no trigger "
            "records its default episodes instead; give the schedule a rule (e.g. "
            "'every:100'; 'cubic' for RecordVideo's default), or do not record"
        )

    def to_wrapper(self) -> dict[str, Any]:
        """The keyword arguments of :class:`gymnasium.wrappers.RecordVideo`.

        Exactly ``{"video_folder", "episode_trigger", "step_trigger"}``, as in
        velora: ``RecordVideo(env, name_prefix=..., **state.to_wrapper())``.
        """
        return {
            "video_folder": self.dirpath,
            "episode_trigger": self.episode_trigger,
            "step_trigger": self.step_trigger,
        }


def _check_tags(tags: object) -> list[str] | None:
    if tags is None:
        return None
    return check_strings("tags", tags, kind="a list of str or None", example="[{value!r}]")


@dataclass(frozen=True, init=False)
class AnalyticsState:
    """The name and tags of a Comet / Weights & Biases run (velora's ``AnalyticsState``).

    A missing ``experiment_name`` or ``tags`` is filled in by
    :meth:`resolved` once the agent, env and run length are known, as velora
    does: name ``{agent}_{env}_{episodes}ep``, tags ``[agent, env]``. An
    explicit empty ``tags=[]`` means "no tags" and is kept. ``tags`` stays a
    list, as in velora, so the state compares by value but is not hashable.

    The keyword-only fields are what a tracker run needs beyond velora's
    three (see :class:`gymscope.AnalyticsWrapper` and the "Trackers" docs
    pages); velora's positional ``AnalyticsState(project, name, tags)`` is
    unchanged.

    Args:
        project_name: The project the run belongs to (W&B project, MLflow
            experiment, Comet project).
        experiment_name: The run's name; None to derive it.
        tags: The run's tags (any iterable of str, stored as a new list);
            None to derive them.
        entity: W&B entity / Comet workspace; None for the tracker's default.
        run_id: The tracker's id of a run to continue; None to create one
            (or to continue the one the metrics database names, see
            ``gymscope push``).
        offline: Write the tracker's files locally only (W&B
            ``mode="offline"``, Comet ``OfflineExperiment``; MLflow's
            tracking URI already says where runs go).
        directory: Where the tracker keeps its files (W&B ``dir``, Comet
            ``offline_directory``); None for the tracker's default.

    Raises:
        TypeError: An argument has the wrong type.
        ValueError: A name or tag is empty.

    Example:
        >>> AnalyticsState("rl", tags=["v1"]).resolved("DQN", "Pong", 5)  # doctest: +ELLIPSIS
        AnalyticsState(project_name='rl', experiment_name='DQN_Pong_5ep', tags=['v1'], ...)
        >>> AnalyticsState("")
        Traceback (most recent call last):
            ...
        gymscope.errors.InvalidArgumentError: project_name must be a non-empty str, got ''
    """

    project_name: str
    experiment_name: str | None
    tags: list[str] | None
    entity: str | None
    run_id: str | None
    offline: bool
    directory: Path | None

    def __init__(
        self,
        project_name: str,
        experiment_name: str | None = None,
        tags: Iterable[str] | None = None,
        *,
        entity: str | None = None,
        run_id: str | None = None,
        offline: bool = False,
        directory: str | os.PathLike[str] | None = None,
    ) -> None:
        project_name = check_str("project_name", project_name)
        if experiment_name is not None:
            experiment_name = check_str("experiment_name", experiment_name)
        if entity is not None:
            entity = check_str(
                "entity", entity, fix="pass the W&B entity / Comet workspace, or None"
            )
        if run_id is not None:
            run_id = check_str(
                "run_id", run_id, fix="pass the tracker's id of the run to continue, or None"
            )
        offline = check_bool("offline", offline)
        if directory is not None:
            if not isinstance(directory, (str, os.PathLike)) or isinstance(
                os.fspath(directory), bytes
            ):
                raise ArgumentTypeError(
                    f"directory must be a str or path (the folder of the tracker's files), "
                    f"or None; got {directory!r} ({type(directory).__name__})"
                )
            if not os.fspath(directory).strip():
                raise InvalidArgumentError(
                    f"directory must be a folder path, or None for the tracker's default; "
                    f"got {directory!r}"
                )
            directory = Path(directory)
        object.__setattr__(self, "project_name", project_name)
        object.__setattr__(self, "experiment_name", experiment_name)
        object.__setattr__(self, "tags", _check_tags(tags))
        object.__setattr__(self, "entity", entity)
        object.__setattr__(self, "run_id", run_id)
        object.__setattr__(self, "offline", offline)
        object.__setattr__(self, "directory", directory)

    def resolved(self, agent: str, env: str, episodes: int) -> AnalyticsState:
        """A copy with the missing name and tags filled in, as velora does.

        Args:
            agent: The agent's name, e.g. its class name ``"PPO"``.
            env: The environment's name, e.g. ``"CartPole-v1"``.
            episodes: Number of episodes of the run.

        >>> AnalyticsState("cartpole").resolved("PPO", "CartPole-v1", 500).tags
        ['PPO', 'CartPole-v1']
        """
        agent = check_str("agent", agent)
        env = check_str("env", env)
        count = check_int("episodes", episodes, 0)
        name = self.experiment_name
        return AnalyticsState(
            self.project_name,
            name if name is not None else f"{agent}_{env}_{count}ep",
            self.tags if self.tags is not None else [agent, env],
            entity=self.entity,
            run_id=self.run_id,
            offline=self.offline,
            directory=self.directory,
        )
