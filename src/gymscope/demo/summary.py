"""What the demo tells the user at the end: its outputs and a rich summary of the run."""

from __future__ import annotations

from pathlib import Path
from typing import TYPE_CHECKING

from gymscope.demo.stack import demo_paths

if TYPE_CHECKING:
    from rich.console import RenderableType

    from gymscope.demo.run import DemoResult

__all__ = ["query_hint", "render_summary", "written_outputs"]


def written_outputs(out_dir: Path) -> dict[str, Path]:
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
