"""The metrics database as a command-line argument.

``DB`` is optional and comes first: a SQLite file, a folder holding
``metrics.db``, or a SQLAlchemy URL; without it ``./metrics.db`` is read.
:func:`reading` opens it read-only and turns database trouble into one line.
The argument itself is declared in ``_parser``: this module is imported only
when a command runs, never for ``--help``.
"""

from __future__ import annotations

import argparse
import os
import sqlite3
import sys
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import TYPE_CHECKING

from gymscope.cli._parser import CommandError
from gymscope.errors import DatabaseNotFoundError, ExperimentNotFoundError, GymscopeError

if TYPE_CHECKING:
    from gymscope.metrics.reader import MetricsReader

__all__ = [
    "DEFAULT_DB",
    "db_and_experiment",
    "db_and_experiments",
    "db_path",
    "describe",
    "is_db_argument",
    "reading",
]

#: The database the commands read when none is given (as the logger's default).
DEFAULT_DB = "metrics.db"


def _is_file(path: Path) -> bool:
    try:
        return path.is_file()
    except OSError:  # a name too long for a file, a loop of links: not one
        return False


def is_db_argument(text: str) -> bool:
    """A URL, a SQLite-looking path, an existing file, or a folder with metrics.db."""
    from gymscope.metrics.reader import looks_like_database

    return looks_like_database(text) or _is_file(Path(text).expanduser() / DEFAULT_DB)


def _looks_like_path(text: str) -> bool:
    """Typed as a path: it has a folder separator, or something is there."""
    return "/" in text or os.sep in text or os.path.lexists(Path(text).expanduser())


def db_path(text: str | None) -> str:
    """The database a DB argument means: a folder stands for its metrics.db."""
    if text is None:
        return DEFAULT_DB
    if "://" not in text:
        folder = Path(text).expanduser()
        if _is_file(folder / DEFAULT_DB):
            return str(folder / DEFAULT_DB)
    return text


def db_and_experiments(
    args: argparse.Namespace, experiments: list[str]
) -> tuple[str | None, list[str]]:
    """Split ``[DB] EXPERIMENT...``: argparse hands the first of several words to DB,
    which is right only when that word names a database."""
    db: str | None = args.db
    moved = False
    if db is not None and args.command == "plot" and not is_db_argument(db):
        experiments, db, moved = [db, *experiments], None, True
    given = experiments[0]
    if db is None and len(experiments) == 1 and is_db_argument(given):
        raise CommandError(
            f"missing EXPERIMENT after the database {given!r}: e.g. "
            f"'gymscope {args.command} {given} 1'; 'gymscope runs {given}' lists them"
        )
    if db is None and (moved or _looks_like_path(given)) and not _is_file(Path(DEFAULT_DB)):
        # what was typed is more likely a mistyped database than an experiment:
        # name it, not the ./metrics.db nobody typed
        what = (
            f"{given!r} is a folder without {DEFAULT_DB}"
            if os.path.isdir(given)
            else f"no metrics database at {given!r}"
        )
        raise CommandError(
            f"{what} (and no ./{DEFAULT_DB}, read when the first argument is an "
            "experiment); check the path, or run 'gymscope demo' to make one"
        )
    return db, experiments


def db_and_experiment(args: argparse.Namespace) -> tuple[str | None, str]:
    """The database and the experiment of a command about one run."""
    db, (experiment,) = db_and_experiments(args, [args.experiment])
    return db, experiment


@contextmanager
def reading(db_arg: str | None) -> Iterator[MetricsReader]:
    """Open the database read-only; database problems become one-line errors.

    A SQLite file is read without SQLAlchemy or gymnasium (see
    :mod:`gymscope.metrics.source`): their errors are recognised only if
    they were imported.
    """
    from gymscope.metrics.reader import MetricsReader

    target = db_path(db_arg)
    shown = target if db_arg is None or "://" not in db_arg else describe(db_arg)
    try:
        reader = MetricsReader(target)
    except DatabaseNotFoundError as exc:
        hint = (
            "pass the database as the first argument (e.g. gymscope-demo/metrics.db), "
            "or run 'gymscope demo' to make one"
            if db_arg is None
            else "check the path"
        )
        raise CommandError(f"{exc}; {hint}") from None
    except GymscopeError:
        raise  # not a metrics database, a malformed URL: main prints the message
    except (TypeError, ValueError) as exc:
        raise CommandError(str(exc)) from None  # a URL SQLAlchemy refuses
    except OSError as exc:  # a name too long, a permission: the OS's reason, on one line
        raise CommandError(f"cannot open the database {shown!r}: {exc.strerror or exc}") from None
    except Exception as exc:
        if _missing_dependency(exc):
            raise CommandError(str(exc)) from None  # a missing driver
        if _database_error(exc):
            raise _unreadable(shown, exc) from None
        raise
    with reader:
        try:
            yield reader
        except ExperimentNotFoundError as exc:
            listing = "gymscope runs" + ("" if db_arg is None else f" {db_arg}")
            raise CommandError(f"{exc} ('{listing}' lists them)") from None
        except Exception as exc:
            if _database_error(exc):
                raise _unreadable(shown, exc) from None
            raise


def _database_error(exc: BaseException) -> bool:
    """An error of the stdlib sqlite3 module or of SQLAlchemy (if imported)."""
    if isinstance(exc, sqlite3.Error):
        return True
    sa = sys.modules.get("sqlalchemy")
    return sa is not None and isinstance(exc, sa.exc.SQLAlchemyError)


def _missing_dependency(exc: BaseException) -> bool:
    """gymnasium's DependencyNotInstalled (a database driver), if gymnasium is imported."""
    error = sys.modules.get("gymnasium.error")
    return error is not None and isinstance(exc, error.DependencyNotInstalled)


def describe(db: str) -> str:
    """``db`` as messages name it (a URL without its password)."""
    from gymscope.metrics.reader import describe_target

    return describe_target(db)


def _unreadable(shown: str, exc: BaseException) -> CommandError:
    """The error for a database that cannot be read: the driver's reason, on one line."""
    orig = getattr(exc, "orig", None)
    reason = " ".join(str(orig if orig is not None else exc).split()) or type(exc).__name__
    return CommandError(f"cannot read the database {shown!r}: {reason}")
