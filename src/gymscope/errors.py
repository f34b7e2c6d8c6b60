"""gymscope's exceptions: one family under :class:`GymscopeError`.

Every public error derives from :class:`GymscopeError` *and* from the builtin
exception that fits it, so ``except gymscope.errors.GymscopeError`` catches
anything gymscope raises on purpose while ``except ValueError`` (or
``TypeError``, ``FileNotFoundError``...) keeps working as it always did.

>>> from gymscope.errors import GymscopeError, InvalidArgumentError
>>> issubclass(InvalidArgumentError, GymscopeError), issubclass(InvalidArgumentError, ValueError)
(True, True)
"""

from __future__ import annotations

from collections.abc import Sequence

__all__ = [
    "ArgumentTypeError",
    "CheckpointError",
    "CheckpointNotFoundError",
    "DatabaseNotFoundError",
    "DatabaseUnreachableError",
    "EpisodeWriteError",
    "ExperimentNotFoundError",
    "FolderNotWritableError",
    "GymscopeError",
    "IncompatibleSchemaError",
    "InvalidArgumentError",
    "NotAFolderError",
    "NotAMetricsDatabaseError",
    "OutputExistsError",
    "OutputWriteError",
    "RewardTypeError",
    "StatsKeyClashError",
    "UsageError",
    "VideoEncoderError",
    "WorkerInUseError",
]


class GymscopeError(Exception):
    """Base of every error gymscope raises on purpose; messages name the fix."""


# -- arguments -----------------------------------------------------------------------
class InvalidArgumentError(GymscopeError, ValueError):
    """An argument has the right type but a value gymscope cannot use."""


class ArgumentTypeError(GymscopeError, TypeError):
    """An argument has a type gymscope cannot use."""


class RewardTypeError(GymscopeError, TypeError):
    """An env returned a reward that is not a real number."""


class UsageError(GymscopeError, RuntimeError):
    """A call in the wrong state (``step()`` before ``reset()``, a write after ``close()``)."""


# -- files ---------------------------------------------------------------------------
class OutputExistsError(GymscopeError, FileExistsError):
    """An output would replace files that are already there."""


class NotAFolderError(GymscopeError, NotADirectoryError):
    """An output folder's path is taken by something that is not a folder."""


class FolderNotWritableError(GymscopeError, PermissionError):
    """An output folder cannot be written to."""


class OutputWriteError(GymscopeError, OSError):
    """Files of an output could still not be written when it was closed (disk
    full, folder gone or read-only); the message names them and the cause."""


class CheckpointError(GymscopeError, ValueError):
    """A curve checkpoint file is unreadable: not UTF-8, not gymscope's layout,
    or a line in the middle that is not a whole JSON record."""


class CheckpointNotFoundError(GymscopeError, FileNotFoundError):
    """No curve checkpoint file at the given path."""


# -- recording -----------------------------------------------------------------------
class StatsKeyClashError(GymscopeError, KeyError):
    """``info[stats_key]`` was already set by another wrapper."""

    def __str__(self) -> str:  # KeyError would show the message quoted
        return str(self.args[0])


class VideoEncoderError(GymscopeError, RuntimeError):
    """ffmpeg failed to write a video (its own error output is in the message)."""


# -- the metrics database ------------------------------------------------------------
class IncompatibleSchemaError(GymscopeError, RuntimeError):
    """The database was written by a newer gymscope, or by another program."""


class WorkerInUseError(GymscopeError, RuntimeError):
    """The requested worker number of the experiment is held by a live logger."""


class EpisodeWriteError(GymscopeError, RuntimeError):
    """Finished episodes (or a :class:`~gymscope.run_logger.RunLogger`'s metrics,
    texts and configs) could not be written to the metrics database."""


class DatabaseUnreachableError(GymscopeError, ConnectionError):
    """A database server cannot be used as configured: wrong host or port, no
    server listening, wrong user or password, a missing database, a client the
    server refuses. Raised when the writer is built (or, for a given Engine,
    when it first connects); the message names the URL, password hidden, and
    the fix. An outage *after* a first successful connection is not this
    error: the episodes wait in memory and are written when the server is back.
    """


class DatabaseNotFoundError(GymscopeError, FileNotFoundError):
    """A SQLite path with no file behind it (nothing is created)."""


class NotAMetricsDatabaseError(GymscopeError, ValueError):
    """The file or server holds no velora/gymscope ``experiment`` and ``episode`` tables."""


class ExperimentNotFoundError(GymscopeError, LookupError):
    """No experiment with that id or name.

    Attributes:
        reference: The id or name asked for.
        close_matches: ``(id, name)`` of the experiments whose names come closest.
    """

    def __init__(
        self, message: str, reference: int | str, close_matches: Sequence[tuple[int, str]]
    ) -> None:
        super().__init__(message)
        self.reference = reference
        self.close_matches = list(close_matches)
