"""EpisodeCaptureSchedule: which episodes and which steps to capture.

A schedule answers two questions, "capture episode ``i``?" and "start a
capture at step ``t``?", with methods that are plain ``int -> bool``
callables. They can be handed to :class:`gymnasium.wrappers.RecordVideo` as
``episode_trigger`` / ``step_trigger`` and, like the schedule itself, they
survive ``pickle`` and ``cloudpickle`` (what ``AsyncVectorEnv`` uses).

The CLI spells a schedule as a string, e.g. ``"every:100,last:1,at:0;5"``:

>>> schedule = EpisodeCaptureSchedule.parse("every:100,last:1,at:0;5", total_episodes=500)
>>> [i for i in range(500) if schedule.should_capture_episode(i)]
[0, 5, 100, 200, 300, 400, 499]
>>> str(schedule)
'every:100,last:1,at:0;5,total:500'
"""

from __future__ import annotations

import re
from collections.abc import Callable, Iterable
from dataclasses import dataclass
from typing import Any

from gymscope._checks import check_int
from gymscope.errors import ArgumentTypeError, InvalidArgumentError

__all__ = ["SCHEDULE_GRAMMAR", "EpisodeCaptureSchedule"]

#: What :meth:`EpisodeCaptureSchedule.parse` accepts (quoted in its errors).
SCHEDULE_GRAMMAR = "every:N, last:N, at:I;J;..., cubic, total:N, steps:N (comma-separated), or none"

# Episodes gymnasium's capped_cubic_video_schedule picks below 1000: k**3.
_CUBES = frozenset(k**3 for k in range(10))
_DIGITS = re.compile(r"[0-9]+")
_VALUED_KEYS = ("every", "last", "at", "total", "steps")
_FLAG_KEYS = ("cubic", "none")


def _check_indices(value: object) -> tuple[int, ...]:
    """Episode indices as a sorted tuple without duplicates."""
    if isinstance(value, (str, bytes)):
        raise ArgumentTypeError(
            f"episode_indices must be a collection of ints, got the string {value!r}; write "
            f"e.g. episode_indices=(0, 5), or EpisodeCaptureSchedule.parse('at:0;5')"
        )
    if not isinstance(value, Iterable):
        raise ArgumentTypeError(
            f"episode_indices must be a collection of ints, got {value!r} "
            f"({type(value).__name__}); write episode_indices=({value!r},) for a single episode"
        )
    indices = tuple(value)
    checked = {
        check_int(
            "episode_indices",
            index,
            0,
            f"episodes are numbered from 0 (in episode_indices={list(indices)!r})",
        )
        for index in indices
    }
    return tuple(sorted(checked))


def _is_capped_cubic(episode: int) -> bool:
    """gymnasium's default video schedule: 0, 1, 8, 27, ..., 729, then every 1000."""
    if episode < 1000:
        return episode in _CUBES
    return episode % 1000 == 0


@dataclass(frozen=True, init=False)
class EpisodeCaptureSchedule:
    """Which episodes (and steps) a recorder should capture.

    An episode ``i`` (counted from 0) is captured when any rule holds:

    - ``i`` is in ``episode_indices``;
    - ``every_n_episodes`` is set and ``i % every_n_episodes == 0``;
    - ``last_n_episodes > 0`` and ``i >= total_episodes - last_n_episodes``
      (episodes past ``total_episodes``, if the run goes on, count as "last"
      too);
    - ``cubic`` is set and ``i`` is in gymnasium's default video schedule
      (0, 1, 8, 27, ..., 729, then every 1000th episode).

    A capture starts at step ``t`` (counted from 0 over all episodes, as
    ``RecordVideo`` counts) when ``every_n_steps`` is set and
    ``t % every_n_steps == 0``.

    The default schedule captures nothing. Careful: ``RecordVideo`` given no
    trigger at all falls back to its own cubic schedule, so pass
    :attr:`episode_trigger` and :attr:`step_trigger`, which are None when
    their part of the schedule is empty, only when at least one is set (or
    use :meth:`gymscope.state.RecordState.from_schedule`, which checks).

    Args:
        episode_indices: Episodes to capture, any collection of ints >= 0;
            stored sorted without duplicates.
        every_n_episodes: Capture episodes 0, N, 2N, ...; None disables it.
        last_n_episodes: Capture the last N episodes of the run; needs
            ``total_episodes``. 0 disables it.
        total_episodes: Number of episodes in the run (needed by
            ``last_n_episodes``, informative otherwise).
        every_n_steps: Start a capture at steps 0, N, 2N, ...; None disables it.
        cubic: Also capture gymnasium's default episodes (see above).

    Raises:
        TypeError: An argument is not an int (bools and floats are refused).
        ValueError: A count is out of range, ``last_n_episodes`` is given
            without ``total_episodes`` or exceeds it.

    Example:
        >>> schedule = EpisodeCaptureSchedule(every_n_episodes=3, episode_indices=[4, 1, 4])
        >>> schedule.episode_indices
        (1, 4)
        >>> [i for i in range(8) if schedule.should_capture_episode(i)]
        [0, 1, 3, 4, 6]
        >>> schedule.episode_trigger == schedule.should_capture_episode, schedule.step_trigger
        (True, None)

        ``last_n_episodes`` needs to know where the run ends:

        >>> EpisodeCaptureSchedule(last_n_episodes=2)  # doctest: +ELLIPSIS
        Traceback (most recent call last):
            ...
        gymscope.errors.InvalidArgumentError: last_n_episodes=2 needs total_episodes= (the ...
    """

    episode_indices: tuple[int, ...]
    every_n_episodes: int | None
    last_n_episodes: int
    total_episodes: int | None
    every_n_steps: int | None
    cubic: bool

    def __init__(
        self,
        episode_indices: Iterable[int] = (),
        every_n_episodes: int | None = None,
        last_n_episodes: int = 0,
        total_episodes: int | None = None,
        every_n_steps: int | None = None,
        cubic: bool = False,
    ) -> None:
        indices = _check_indices(episode_indices)
        if every_n_episodes is not None:
            every_n_episodes = check_int(
                "every_n_episodes",
                every_n_episodes,
                1,
                "it captures episodes 0, N, 2N, ...; pass None to turn it off",
            )
        last_n_episodes = check_int("last_n_episodes", last_n_episodes, 0, "pass 0 to turn it off")
        if total_episodes is not None:
            total_episodes = check_int(
                "total_episodes",
                total_episodes,
                0,
                "it is the number of episodes in the run, or None when unknown",
            )
        if every_n_steps is not None:
            every_n_steps = check_int(
                "every_n_steps",
                every_n_steps,
                1,
                "it starts a capture at steps 0, N, 2N, ...; pass None to turn it off",
            )
        if not isinstance(cubic, bool):
            raise ArgumentTypeError(f"cubic must be a bool, got {cubic!r} ({type(cubic).__name__})")
        if last_n_episodes and total_episodes is None:
            raise InvalidArgumentError(
                f"last_n_episodes={last_n_episodes} needs total_episodes= (the number of "
                f"episodes in the run) to know where the last {last_n_episodes} start; pass "
                f"e.g. EpisodeCaptureSchedule(last_n_episodes={last_n_episodes}, "
                f"total_episodes=500)"
            )
        if total_episodes is not None and last_n_episodes > total_episodes:
            raise InvalidArgumentError(
                f"last_n_episodes={last_n_episodes} exceeds total_episodes={total_episodes}; "
                f"use last_n_episodes<={total_episodes} ({total_episodes} captures every episode)"
            )
        # Frozen dataclass: the validated values are set once, here.
        object.__setattr__(self, "episode_indices", indices)
        object.__setattr__(self, "every_n_episodes", every_n_episodes)
        object.__setattr__(self, "last_n_episodes", last_n_episodes)
        object.__setattr__(self, "total_episodes", total_episodes)
        object.__setattr__(self, "every_n_steps", every_n_steps)
        object.__setattr__(self, "cubic", cubic)

    # -- triggers ------------------------------------------------------------------
    def should_capture_episode(self, episode: int) -> bool:
        """Whether episode ``episode`` (counted from 0) is to be captured.

        Usable as ``RecordVideo(env, ..., episode_trigger=schedule.should_capture_episode)``.

        >>> EpisodeCaptureSchedule(last_n_episodes=2, total_episodes=10).should_capture_episode(8)
        True
        """
        if episode in self.episode_indices:
            return True
        every = self.every_n_episodes
        if every is not None and episode % every == 0:
            return True
        last, total = self.last_n_episodes, self.total_episodes
        if last and total is not None and episode >= total - last:
            return True
        return self.cubic and _is_capped_cubic(episode)

    def should_capture_step(self, step: int) -> bool:
        """Whether a capture starts at step ``step`` (counted from 0 across episodes).

        Usable as ``RecordVideo(env, ..., step_trigger=schedule.should_capture_step)``.

        >>> schedule = EpisodeCaptureSchedule(every_n_steps=1000)
        >>> schedule.should_capture_step(0), schedule.should_capture_step(999)
        (True, False)
        """
        every = self.every_n_steps
        return every is not None and step % every == 0

    @property
    def captures_episodes(self) -> bool:
        """Whether any episode rule is set (some episode may be captured)."""
        return bool(
            self.episode_indices
            or self.every_n_episodes is not None
            or self.last_n_episodes
            or self.cubic
        )

    @property
    def captures_steps(self) -> bool:
        """Whether the step rule is set."""
        return self.every_n_steps is not None

    @property
    def episode_trigger(self) -> Callable[[int], bool] | None:
        """:meth:`should_capture_episode`, or None when no episode rule is set."""
        return self.should_capture_episode if self.captures_episodes else None

    @property
    def step_trigger(self) -> Callable[[int], bool] | None:
        """:meth:`should_capture_step`, or None when no step rule is set."""
        return self.should_capture_step if self.captures_steps else None

    # -- string form ---------------------------------------------------------------
    def __str__(self) -> str:
        """The canonical string form: ``parse(str(schedule)) == schedule``.

        Keys come in the order every, last, at, cubic, total, steps; a
        schedule with no rule and no total is ``"none"``.

        >>> str(EpisodeCaptureSchedule(episode_indices=(5, 0), every_n_steps=1000))
        'at:0;5,steps:1000'
        >>> str(EpisodeCaptureSchedule())
        'none'
        """
        tokens: list[str] = []
        if self.every_n_episodes is not None:
            tokens.append(f"every:{self.every_n_episodes}")
        if self.last_n_episodes:
            tokens.append(f"last:{self.last_n_episodes}")
        if self.episode_indices:
            tokens.append("at:" + ";".join(map(str, self.episode_indices)))
        if self.cubic:
            tokens.append("cubic")
        if self.total_episodes is not None:
            tokens.append(f"total:{self.total_episodes}")
        if self.every_n_steps is not None:
            tokens.append(f"steps:{self.every_n_steps}")
        return ",".join(tokens) if tokens else "none"

    @classmethod
    def parse(cls, text: str, total_episodes: int | None = None) -> EpisodeCaptureSchedule:
        """Build a schedule from its string form (the CLI's ``--capture`` syntax).

        Comma-separated tokens, each at most once, in any order:

        - ``every:N``: every N-th episode (0, N, 2N, ...), N >= 1;
        - ``last:N``: the last N episodes; needs ``total:N`` or ``total_episodes``;
        - ``at:I;J;...``: these episodes (indices from 0);
        - ``cubic``: gymnasium's default episodes (0, 1, 8, ..., 729, then every 1000);
        - ``total:N``: number of episodes in the run;
        - ``steps:N``: start a capture every N steps (0, N, 2N, ...), N >= 1.

        ``"none"``, or an empty or blank string, is the schedule that captures
        nothing. Keys are case-insensitive, spaces around tokens are ignored.

        Args:
            text: The string form, e.g. ``"every:100,last:1,at:0;5"``.
            total_episodes: Number of episodes in the run, used when ``text``
                has no ``total:N`` (and checked against it when it has one).

        Raises:
            TypeError: ``text`` is not a str.
            ValueError: ``text`` is malformed; the message quotes the bad token
                and the grammar.

        Example:
            >>> schedule = EpisodeCaptureSchedule.parse("every:10, Steps:500")
            >>> schedule.every_n_episodes, schedule.every_n_steps, str(schedule)
            (10, 500, 'every:10,steps:500')
            >>> EpisodeCaptureSchedule.parse("evry:100")  # doctest: +ELLIPSIS
            Traceback (most recent call last):
                ...
            gymscope.errors.InvalidArgumentError: unknown key 'evry' in 'evry:100'; expected ...
        """
        if not isinstance(text, str):
            raise ArgumentTypeError(
                f"text must be a str such as 'every:100,last:1', got {text!r} "
                f"({type(text).__name__})"
            )
        if not text.strip():
            tokens: list[str] = []
        else:
            tokens = [token.strip() for token in text.split(",")]
        values: dict[str, Any] = {}
        for position, token in enumerate(tokens):
            previous = tokens[position - 1] if position else ""
            if _DIGITS.fullmatch(token) and previous.lower().startswith("at:"):
                raise InvalidArgumentError(
                    f"{token!r} after {previous!r} in {text!r} looks like another episode "
                    f"index: separate the indices of at: with ';' ({previous};{token}); "
                    "commas separate the parts of a schedule"
                )
            key, value = _parse_token(token, text)
            if key in values:
                raise InvalidArgumentError(
                    f"key {key!r} is given twice in {text!r}; give each of {SCHEDULE_GRAMMAR} "
                    "at most once"
                )
            values[key] = value
        if "none" in values and len(values) > 1:
            raise InvalidArgumentError(
                f"'none' cannot be combined with other keys in {text!r}; drop 'none' or the "
                f"other keys ({SCHEDULE_GRAMMAR})"
            )
        total = values.get("total")
        if total_episodes is not None:
            total_episodes = check_int(
                "total_episodes",
                total_episodes,
                0,
                "it is the number of episodes in the run, or None when unknown",
            )
            if total is not None and total != total_episodes:
                raise InvalidArgumentError(
                    f"total:{total} in {text!r} disagrees with total_episodes={total_episodes}; "
                    "drop one of them or make them equal"
                )
            total = total_episodes
        last = values.get("last", 0)
        if last and total is None:
            raise InvalidArgumentError(
                f"'last:{last}' in {text!r} needs the number of episodes in the run: add "
                f"total:N to the schedule or pass total_episodes="
            )
        try:
            return cls(
                episode_indices=values.get("at", ()),
                every_n_episodes=values.get("every"),
                last_n_episodes=last,
                total_episodes=total,
                every_n_steps=values.get("steps"),
                cubic="cubic" in values,
            )
        except ValueError as exc:
            raise InvalidArgumentError(f"invalid schedule {text!r}: {exc}") from exc


def _parse_number(token: str, key: str, raw: str, minimum: int, meaning: str) -> int:
    """A whole number >= ``minimum`` from the value part of ``token``."""
    raw = raw.strip()
    if not _DIGITS.fullmatch(raw) or int(raw) < minimum:
        raise InvalidArgumentError(
            f"bad value in {token!r}: {key}:N needs {meaning}, a whole number >= {minimum}; "
            f"expected {SCHEDULE_GRAMMAR}"
        )
    return int(raw)


def _parse_token(token: str, text: str) -> tuple[str, object]:
    """``(key, value)`` of one token of ``text``."""
    if not token:
        raise InvalidArgumentError(
            f"empty token in {text!r} (two commas in a row, or a leading or trailing comma); "
            f"expected {SCHEDULE_GRAMMAR}"
        )
    key, sep, raw = token.partition(":")
    key = key.strip().lower()
    if key in _FLAG_KEYS:
        if sep:
            raise InvalidArgumentError(f"{key!r} takes no value, got {token!r}; write just {key!r}")
        return key, True
    if key not in _VALUED_KEYS:
        raise InvalidArgumentError(f"unknown key {key!r} in {token!r}; expected {SCHEDULE_GRAMMAR}")
    if not sep:
        placeholder = "I;J;..." if key == "at" else "N"
        raise InvalidArgumentError(
            f"{key!r} needs a value, got {token!r}; write {key}:{placeholder}"
        )
    if key == "at":
        pieces = raw.split(";")
        if not all(_DIGITS.fullmatch(piece.strip()) for piece in pieces):
            raise InvalidArgumentError(
                f"bad value in {token!r}: at:I;J;... needs episode indices, whole numbers "
                f">= 0 separated by ';' (e.g. at:0;5); expected {SCHEDULE_GRAMMAR}"
            )
        return key, tuple(int(piece) for piece in pieces)
    meaning = {
        "every": "the episode interval",
        "last": "the number of final episodes",
        "total": "the number of episodes in the run",
        "steps": "the step interval",
    }[key]
    minimum = 1 if key in ("every", "steps") else 0
    return key, _parse_number(token, key, raw, minimum, meaning)
