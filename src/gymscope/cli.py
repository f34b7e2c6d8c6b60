"""The ``gymscope`` command.

Each subcommand is an ``_add_<name>(subparsers)`` function, listed in
``COMMANDS``, that declares the subcommand's arguments and sets ``handler`` to
the function running it; a handler takes the parsed arguments and returns the
exit code. User mistakes raise :class:`CommandError` (or fail argument
parsing) and end as one line on stderr with a non-zero exit code, never a
traceback: 1 for a failed command, 2 for a usage error, 130 for Ctrl-C.

Only the standard library is imported at module level so that
``gymscope --help`` starts fast; handlers import NumPy, gymnasium and rich
when they run.

>>> build_parser().parse_args(["demo", "--episodes", "40"]).episodes
40
"""

from __future__ import annotations

import argparse
import logging
import sys
from collections.abc import Callable, Iterator, Sequence
from contextlib import contextmanager
from typing import NoReturn

from gymscope import __version__

__all__ = ["COMMANDS", "CommandError", "build_parser", "main"]

PROG = "gymscope"
Handler = Callable[[argparse.Namespace], int]

# Exit codes
EXIT_OK = 0
EXIT_FAILED = 1
EXIT_USAGE = 2
EXIT_INTERRUPTED = 130


class CommandError(Exception):
    """A user mistake or an impossible request; reported as one line on stderr."""


def _print_error(prog: str, message: str) -> None:
    from rich.console import Console
    from rich.text import Text

    # soft_wrap: the message stays one line whatever the terminal width.
    console = Console(stderr=True, soft_wrap=True, highlight=False)
    console.print(Text.assemble(f"{prog}: ", ("error: ", "bold red"), message))


class _Parser(argparse.ArgumentParser):
    """argparse, with usage errors as one line (no usage dump)."""

    def error(self, message: str) -> NoReturn:
        _print_error(self.prog, f"{message} (see '{self.prog} --help')")
        self.exit(EXIT_USAGE)


class _HelpFormatter(argparse.RawDescriptionHelpFormatter):
    """Keeps the line breaks of descriptions and example epilogs."""


def _examples(*lines: str) -> str:
    return "example" + ("s" if len(lines) > 1 else "") + ":\n" + "\n".join(f"  {x}" for x in lines)


def _positive_int(text: str) -> int:
    try:
        value = int(text)
    except ValueError:
        value = 0
    if value < 1:
        raise argparse.ArgumentTypeError(f"expected a whole number >= 1, got {text!r}")
    return value


def _seed(text: str) -> int:
    try:
        value = int(text)
    except ValueError:
        value = -1
    if value < 0:
        raise argparse.ArgumentTypeError(f"expected a whole number >= 0, got {text!r}")
    return value


def _common_options() -> _Parser:
    common = _Parser(add_help=False)
    common.add_argument(
        "-v", "--verbose", action="store_true", help="show gymscope's log messages on stderr"
    )
    return common


def _add_command(
    subparsers: argparse._SubParsersAction[_Parser],
    name: str,
    *,
    summary: str,
    description: str,
    examples: Sequence[str],
    handler: Handler,
) -> argparse.ArgumentParser:
    parser = subparsers.add_parser(
        name,
        help=summary,
        description=description,
        epilog=_examples(*examples),
        formatter_class=_HelpFormatter,
        parents=[_common_options()],
    )
    parser.set_defaults(handler=handler, prog=parser.prog)
    return parser


# -- gymscope demo -------------------------------------------------------------------


def _add_demo(subparsers: argparse._SubParsersAction[_Parser]) -> None:
    parser = _add_command(
        subparsers,
        "demo",
        summary="train a small NumPy agent (CartPole by default) and record the run",
        description=(
            "Train a linear policy with the cross-entropy method (NumPy only) on a\n"
            "gymnasium env wrapped in gymscope's wrappers. The training loop reads\n"
            'each episode\'s return from info["episode"], written by\n'
            "EpisodeStatsWrapper, and shows the moving mean return as it learns."
        ),
        examples=(
            "gymscope demo",
            "gymscope demo --episodes 1000 --seed 3 --out runs/cartpole",
            "gymscope demo --env Acrobot-v1 --episodes 300",
        ),
        handler=_run_demo,
    )
    parser.add_argument(
        "--env",
        default="CartPole-v1",
        metavar="ID",
        help="gymnasium env id with Box observations and Discrete actions (default: %(default)s)",
    )
    parser.add_argument(
        "--episodes",
        type=_positive_int,
        default=500,
        metavar="N",
        help="episodes to train for (default: %(default)s)",
    )
    parser.add_argument(
        "--out",
        default="gymscope-demo",
        metavar="DIR",
        help="folder for the run's outputs, created if missing (default: ./%(default)s)",
    )
    parser.add_argument(
        "--seed",
        type=_seed,
        default=0,
        metavar="S",
        help="seed of the env and the agent; same seed, same run (default: %(default)s)",
    )


def _run_demo(args: argparse.Namespace) -> int:
    from rich.console import Console

    from gymscope.demo import DemoError, render_summary, run_demo

    console = Console()
    try:
        result = run_demo(args.env, args.episodes, args.out, args.seed, console=console)
    except DemoError as exc:
        raise CommandError(str(exc)) from exc
    console.print()
    unicode = console.encoding.lower().startswith("utf")
    console.print(render_summary(result, unicode=unicode), crop=False)
    return EXIT_OK


# -- the command -----------------------------------------------------------------------

#: One function per subcommand; each adds its parser to the subparsers.
COMMANDS: tuple[Callable[[argparse._SubParsersAction[_Parser]], None], ...] = (_add_demo,)


def build_parser() -> argparse.ArgumentParser:
    """The argument parser of the ``gymscope`` command, with every subcommand."""
    parser = _Parser(
        prog=PROG,
        description="gymscope: stackable gymnasium wrappers that record what an environment did.",
        epilog=_examples("gymscope demo", "gymscope demo --help"),
        formatter_class=_HelpFormatter,
    )
    parser.add_argument("--version", action="version", version=f"%(prog)s {__version__}")
    subparsers = parser.add_subparsers(title="commands", dest="command", metavar="COMMAND")
    for add_command in COMMANDS:
        add_command(subparsers)
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


def main(argv: list[str] | None = None) -> int:
    """Run the ``gymscope`` command with ``argv`` (default: ``sys.argv[1:]``).

    Returns the exit code instead of exiting, so tests can call it in-process.
    """
    parser = build_parser()
    try:
        args = parser.parse_args(argv)
    except SystemExit as exc:  # --help, --version and usage errors
        return _exit_code(exc.code)
    handler: Handler | None = getattr(args, "handler", None)
    if handler is None:
        parser.print_help()
        return EXIT_USAGE
    try:
        with _verbose_logging(args.verbose):
            return handler(args)
    except CommandError as exc:
        _print_error(args.prog, str(exc))
        return EXIT_FAILED
    except KeyboardInterrupt:
        _print_error(args.prog, "interrupted")
        return EXIT_INTERRUPTED


if __name__ == "__main__":
    sys.exit(main())
