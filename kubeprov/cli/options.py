"""Options shared by every command that acts on a cluster."""

from __future__ import annotations

import sys
from pathlib import Path
from typing import Annotated

import typer

from kubeprov.errors import UsageError
from kubeprov.state.store import ENV_STATE_DIR

DEFAULT_STACK = Path("stacks/local.yaml")

StackOption = Annotated[
    Path,
    typer.Option("--file", "-f", help="Stack file describing the cluster.", show_default=True),
]
StateDirOption = Annotated[
    Path | None,
    typer.Option(
        "--state-dir",
        envvar=ENV_STATE_DIR,
        help="State store folder (default: the user's XDG state folder, kubeprov/).",
    ),
]
YesOption = Annotated[bool, typer.Option("--yes", "-y", help="Do not ask for confirmation.")]
DryRunOption = Annotated[bool, typer.Option("--dry-run", help="Show what would be done, change nothing.")]


def confirm(action: str, yes: bool) -> None:
    """Ask before a destructive action; ``--yes`` skips the question, a non-interactive stdin refuses."""
    if yes:
        return
    if not sys.stdin.isatty():
        raise UsageError(f"refusing to {action} without confirmation", "pass --yes to confirm")
    if not typer.confirm(f"{action[0].upper()}{action[1:]}?", default=False):
        raise UsageError(f"did not {action}: not confirmed")
