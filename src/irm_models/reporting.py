"""Terminal output shared by the stages: progress bars and summary tables (rich)."""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from rich.console import Console
from rich.progress import BarColumn, MofNCompleteColumn, Progress, TextColumn, TimeElapsedColumn
from rich.table import Table


def progress(console: Console) -> Progress:
    return Progress(
        TextColumn("{task.description}"),
        BarColumn(),
        MofNCompleteColumn(),
        TimeElapsedColumn(),
        console=console,
        transient=True,
    )


def summary_table(title: str, rows: Mapping[str, Any]) -> Table:
    table = Table(title=title, show_header=False, title_justify="left")
    table.add_column(style="bold")
    table.add_column()
    for key, value in rows.items():
        table.add_row(key, str(value))
    return table


def print_wide(console: Console, renderable: Any, width: int = 150) -> None:
    """Print on a console at least ``width`` wide (a wide table wraps unreadably at 80)."""
    Console(width=max(console.width, width), highlight=False, file=console.file).print(renderable)


def pts(x: float | None) -> str:
    return "n/a" if x is None else f"{100 * x:+.1f} pts"


def lift_text(lift: Mapping[str, Any]) -> str:
    """A lift with its bootstrap CI, in points: ``+3.0 pts (95% CI +2.3 pts to +3.6 pts)``."""
    low, high = lift["ci95"]
    return f"{pts(lift['value'])} (95% CI {pts(low)} to {pts(high)})"
