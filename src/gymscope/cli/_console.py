"""Where the command's output goes: rich consoles, their width and glyphs, errors.

rich is imported inside the functions: ``--help`` never loads it.
"""

from __future__ import annotations

import os
import re
import sys
from collections.abc import Iterator
from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from rich.console import Console, ConsoleOptions, ConsoleRenderable, RenderHook
    from rich.segment import Segment

__all__ = ["PIPE_WIDTH", "Glyphs", "console", "print_error", "print_line"]

#: Console width for output that does not go to a terminal.
PIPE_WIDTH = 200


def print_error(prog: str, message: str) -> None:
    """``prog: error: message`` on stderr, as one line."""
    from rich.console import Console
    from rich.text import Text

    # soft_wrap: the message stays one line whatever the terminal width.
    stderr = Console(stderr=True, soft_wrap=True, highlight=False)
    stderr.print(Text.assemble(f"{prog}: ", ("error: ", "bold red"), message))


def console(*, stderr: bool = False) -> Console:
    """A console on stdout (or stderr) that never crashes on a character and
    keeps one line per table row when piped."""
    from rich.console import Console

    stream = sys.stderr if stderr else sys.stdout
    encoding = (getattr(stream, "encoding", None) or "").lower().replace("-", "")
    if encoding != "utf8" and callable(getattr(stream, "reconfigure", None)):
        # A name the terminal's encoding lacks is shown as "?", not a crash.
        stream.reconfigure(errors="replace")  # type: ignore[union-attr]
    # Piped or redirected output (logs, grep) is not cut to 80 columns:
    # tables keep one line per row there, unless COLUMNS says otherwise.
    isatty = getattr(stream, "isatty", None)
    piped = not (callable(isatty) and isatty()) and "COLUMNS" not in os.environ
    out = Console(stderr=stderr, highlight=False, width=PIPE_WIDTH if piped else None)
    out.push_render_hook(_printable_hook())
    return out


# Characters a terminal acts on (C0 and C1 controls but tab and newline): in a
# run's name, an env id or a config value they would reach the terminal as
# commands (ESC [2J clears it). rich's own styling never goes through the text.
_CONTROL = re.compile("[\x00-\x08\x0b-\x1f\x7f-\x9f]")


def _printable_hook() -> RenderHook:
    """A render hook that shows the control characters of everything printed
    as U+FFFD, whatever the renderable (text, tables, panels)."""
    from rich.console import RenderHook
    from rich.segment import Segment

    class Printable:
        def __init__(self, inner: ConsoleRenderable) -> None:
            self.inner = inner

        def __rich_console__(self, console: Console, options: ConsoleOptions) -> Iterator[Segment]:
            for segment in console.render(self.inner, options):
                if segment.control or not _CONTROL.search(segment.text):
                    yield segment
                else:
                    yield Segment(_CONTROL.sub("\ufffd", segment.text), segment.style)

    class Hook(RenderHook):
        def process_renderables(
            self, renderables: list[ConsoleRenderable]
        ) -> list[ConsoleRenderable]:
            return [Printable(r) for r in renderables]

    return Hook()


def print_line(out: Console, message: str, style: str = "") -> None:
    """``message`` as plain text (no markup), on one line however long."""
    from rich.text import Text

    out.print(Text(message, style=style), soft_wrap=True)


class Glyphs:
    """The characters a view draws with: Unicode where the console's encoding
    has them, ASCII otherwise."""

    def __init__(self, unicode: bool) -> None:
        self.unicode = unicode
        #: Stands for a value that is not there.
        self.missing = "\u2013" if unicode else "-"
        #: Separates facts on one line.
        self.dot = " \u00b7 " if unicode else " - "
        self.arrow = " \u2192 " if unicode else " -> "
        self.plus_minus = "\u00b1" if unicode else "+-"
        self.warning = "\u26a0 " if unicode else "! "

    @classmethod
    def of(cls, out: Console) -> Glyphs:
        return cls(out.encoding.lower().startswith("utf"))
