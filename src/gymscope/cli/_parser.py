"""The argparse side of the command: parser classes, argument types, exit codes.

Only the standard library (and gymscope's own light modules) is imported here:
every ``--help`` goes through this module.
"""

from __future__ import annotations

import argparse
from collections.abc import Callable, Sequence
from typing import TYPE_CHECKING, NoReturn, TypeAlias

from gymscope.errors import GymscopeError

__all__ = [
    "EXIT_FAILED",
    "EXIT_INTERRUPTED",
    "EXIT_OK",
    "EXIT_USAGE",
    "PROG",
    "CommandError",
    "Handler",
    "HelpFormatter",
    "Parser",
    "add_command",
    "add_db_and_experiment",
    "add_db_argument",
    "add_window_argument",
    "add_x_argument",
    "examples_epilog",
    "png_scale",
    "positive_int",
    "seed",
]

PROG = "gymscope"
Handler = Callable[[argparse.Namespace], int]

# Exit codes
EXIT_OK = 0
EXIT_FAILED = 1
EXIT_USAGE = 2
EXIT_INTERRUPTED = 130


class CommandError(GymscopeError):
    """A user mistake or an impossible request; reported as one line on stderr."""


class Parser(argparse.ArgumentParser):
    """argparse, with usage errors as one line (no usage dump)."""

    def error(self, message: str) -> NoReturn:
        from gymscope.cli._console import print_error

        print_error(self.prog, f"{message} (see '{self.prog} --help')")
        self.exit(EXIT_USAGE)


if TYPE_CHECKING:  # argparse's action is generic only in the stubs
    Subparsers: TypeAlias = argparse._SubParsersAction[Parser]


class HelpFormatter(argparse.RawDescriptionHelpFormatter):
    """Keeps the line breaks of descriptions and example epilogs."""


def examples_epilog(*lines: str) -> str:
    """The "examples:" section that ends a help page."""
    return "example" + ("s" if len(lines) > 1 else "") + ":\n" + "\n".join(f"  {x}" for x in lines)


def positive_int(text: str) -> int:
    """An argument that is a whole number >= 1."""
    return _whole_number(text, 1)


def seed(text: str) -> int:
    """A seed: a whole number >= 0."""
    return _whole_number(text, 0)


def _whole_number(text: str, minimum: int) -> int:
    from gymscope._checks import check_int

    try:
        return check_int("value", int(text), minimum)
    except ValueError:  # not a number, or below the minimum (InvalidArgumentError)
        raise argparse.ArgumentTypeError(
            f"expected a whole number >= {minimum}, got {text!r}"
        ) from None


def png_scale(text: str) -> float:
    """A PNG's resolution relative to the charts' size: a number in (0, 16]."""
    from gymscope._checks import check_number

    try:
        return check_number("--scale", float(text), low=0.0, high=16.0)
    except ValueError:  # not a number, NaN, or out of range (InvalidArgumentError)
        raise argparse.ArgumentTypeError(f"expected a number in (0, 16], got {text!r}") from None


def _common_options() -> Parser:
    common = Parser(add_help=False)
    common.add_argument(
        "-v", "--verbose", action="store_true", help="show gymscope's log messages on stderr"
    )
    return common


def add_command(
    subparsers: Subparsers,
    name: str,
    *,
    summary: str,
    description: str,
    examples: Sequence[str],
    handler: Handler,
) -> argparse.ArgumentParser:
    """Add the subcommand ``name``; running it calls ``handler(args)``."""
    parser = subparsers.add_parser(
        name,
        help=summary,
        description=description,
        epilog=examples_epilog(*examples),
        formatter_class=HelpFormatter,
        parents=[_common_options()],
    )
    parser.set_defaults(handler=handler, prog=parser.prog)
    return parser


_DB_HELP = (
    "the metrics database: a SQLite file, a folder holding metrics.db (such as a demo's "
    "output folder), or a SQLAlchemy URL like postgresql+psycopg://user@host/db "
    "(default: ./metrics.db)"
)
_EXPERIMENT_HELP = "an experiment's id or name (see 'gymscope runs')"


def add_db_argument(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("db", nargs="?", metavar="DB", help=_DB_HELP)


def add_db_and_experiment(parser: argparse.ArgumentParser) -> None:
    """``[DB] EXPERIMENT``: the arguments of a command about one run."""
    add_db_argument(parser)
    parser.add_argument("experiment", metavar="EXPERIMENT", help=_EXPERIMENT_HELP)


def add_window_argument(parser: argparse.ArgumentParser) -> None:
    parser.add_argument(
        "--window",
        type=positive_int,
        default=None,
        metavar="N",
        help="episodes in the charts' moving averages (default: each run's own window, "
        "the one its statistics were logged with; 100 when the database has none)",
    )


def add_x_argument(parser: argparse.ArgumentParser) -> None:
    parser.add_argument(
        "--x",
        choices=("episodes", "steps", "time"),
        default="episodes",
        help="what the x axis of the return and length charts counts: episodes ended, "
        "env steps taken by all workers, or seconds since the run started (default: "
        "%(default)s); metric charts are against env steps, or seconds with time",
    )
