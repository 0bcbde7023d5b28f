"""Console output shared by every command: rich on a terminal, plain lines in CI and pipes."""

from __future__ import annotations

from rich.console import Console
from rich.text import Text


def make_console(stderr: bool = False) -> Console:
    # soft_wrap keeps file:line:col messages on one line so editors and CI logs can parse them;
    # off a terminal (CI logs, pipes) rich would assume 80 columns and truncate table cells
    console = Console(stderr=stderr, soft_wrap=True, highlight=False)
    if not console.is_terminal:
        console = Console(stderr=stderr, soft_wrap=True, highlight=False, width=200)
    return console


def print_error(message: str, hint: str | None = None) -> None:
    """One clear error on stderr, never a traceback. Messages are printed literally (no markup)."""
    err = make_console(stderr=True)
    err.print(Text.assemble(("error: ", "bold red"), message))
    if hint:
        err.print(Text.assemble(("hint: ", "yellow"), hint))
