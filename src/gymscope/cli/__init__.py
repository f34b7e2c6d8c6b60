"""The ``gymscope`` command.

Each subcommand is a module of this package (``runs``, ``show``, ``export``,
``plot``, ``report``, ``tensorboard``, ``push``, ``demo``) with a ``register(subparsers)``
function, listed in :data:`COMMANDS`, that declares the subcommand's
arguments and sets ``handler`` to its ``run(args)``, which returns the exit
code. What they share lives beside them: ``_parser`` (argparse, argument
types, exit codes), ``_database`` (what the ``DB`` argument names),
``_console`` (rich output) and ``_output`` (the files written); only
``_parser`` and the command modules load for ``--help``.

User mistakes raise :class:`CommandError`, or any other
:class:`~gymscope.errors.GymscopeError`, or fail argument parsing, and end
as one line on stderr with a non-zero exit code, never a traceback: 1 for a
failed command, 2 for a usage error, 130 for Ctrl-C.

Only the standard library is imported when the package loads so that
``gymscope --help`` starts fast; handlers import NumPy, gymnasium and rich
when they run.

>>> build_parser().parse_args(["demo", "--episodes", "40"]).episodes
40
"""

from __future__ import annotations

import argparse
import logging
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from typing import TYPE_CHECKING

from gymscope._version import __version__
from gymscope.cli import demo, export, plot, push, report, runs, show, tensorboard
from gymscope.cli._parser import (
    EXIT_FAILED,
    EXIT_INTERRUPTED,
    EXIT_OK,
    EXIT_USAGE,
    PROG,
    CommandError,
    Handler,
    HelpFormatter,
    Parser,
    examples_epilog,
)
from gymscope.errors import GymscopeError

if TYPE_CHECKING:
    from gymscope.cli._parser import Subparsers

__all__ = ["COMMANDS", "CommandError", "build_parser", "main"]

#: One function per subcommand; each adds its parser to the subparsers.
COMMANDS: tuple[Callable[[Subparsers], None], ...] = (
    demo.register,
    runs.register,
    show.register,
    export.register,
    plot.register,
    report.register,
    tensorboard.register,
    push.register,
)


def build_parser() -> argparse.ArgumentParser:
    """The argument parser of the ``gymscope`` command, with every subcommand."""
    parser = Parser(
        prog=PROG,
        description="gymscope: stackable gymnasium wrappers that record what an environment did.",
        epilog=examples_epilog(
            "gymscope demo",
            "gymscope runs gymscope-demo",
            "gymscope show gymscope-demo 1",
            "gymscope report gymscope-demo -o report.html",
            "gymscope COMMAND --help",
        ),
        formatter_class=HelpFormatter,
    )
    parser.add_argument("--version", action="version", version=f"%(prog)s {__version__}")
    subparsers = parser.add_subparsers(title="commands", dest="command", metavar="COMMAND")
    for register in COMMANDS:
        register(subparsers)
    return parser


@contextmanager
def _verbose_logging(enabled: bool) -> Iterator[None]:
    """Show gymscope's log records on stderr for the duration of one command."""
    if not enabled:
        yield
        return
    from rich.console import Console
    from rich.logging import RichHandler

    package_logger = logging.getLogger("gymscope")
    handler = RichHandler(console=Console(stderr=True), show_path=False)
    old_level = package_logger.level
    package_logger.addHandler(handler)
    package_logger.setLevel(logging.DEBUG)
    try:
        yield
    finally:
        package_logger.removeHandler(handler)
        package_logger.setLevel(old_level)


def _exit_code(code: str | int | None) -> int:
    if code is None:
        return EXIT_OK
    return code if isinstance(code, int) else EXIT_FAILED


def _in_flags(message: str, args: argparse.Namespace) -> str:
    """A library message as the command says it: ``overwrite=True`` is the
    ``--overwrite`` flag of the commands that have one."""
    if hasattr(args, "overwrite"):
        return message.replace("overwrite=True", "--overwrite")
    return message


def _os_error(exc: OSError) -> str:
    """An ``OSError`` that no command turned into its own message, as one line
    naming the path (the last net: every path is a user's input)."""
    reason = exc.strerror or str(exc) or type(exc).__name__
    paths = [str(p) for p in (exc.filename, exc.filename2) if p is not None]
    return f"{reason}: " + " -> ".join(repr(p) for p in paths) if paths else reason


def main(argv: list[str] | None = None) -> int:
    """Run the ``gymscope`` command with ``argv`` (default: ``sys.argv[1:]``).

    Returns the exit code instead of exiting, so tests can call it in-process.
    """
    parser = build_parser()
    try:
        args, extra = parser.parse_known_args(argv)
        if extra:  # named by the subcommand's prog, as its other usage errors are
            Parser(prog=getattr(args, "prog", PROG)).error(
                f"unrecognized arguments: {' '.join(extra)}"
            )
    except SystemExit as exc:  # --help, --version and usage errors
        return _exit_code(exc.code)
    handler: Handler | None = getattr(args, "handler", None)
    if handler is None:
        parser.print_help()
        return EXIT_USAGE
    try:
        with _verbose_logging(args.verbose):
            return handler(args)
    except GymscopeError as exc:  # CommandError and every library error: one line
        message, code = _in_flags(str(exc), args), EXIT_FAILED
    except OSError as exc:  # the file system refused a path the user gave
        message, code = _os_error(exc), EXIT_FAILED
    except KeyboardInterrupt:
        message, code = "interrupted", EXIT_INTERRUPTED
    from gymscope.cli._console import print_error

    print_error(args.prog, message)
    return code
