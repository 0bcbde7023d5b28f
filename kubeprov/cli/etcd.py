"""`kubeprov etcd`: members, health, backups and restores of the cluster's etcd."""

from __future__ import annotations

from pathlib import Path

import typer

from kubeprov.cli.later import not_yet
from kubeprov.cli.options import DEFAULT_STACK, StackOption, StateDirOption, YesOption

app = typer.Typer(help="Inspect etcd, take backups and restore them.", no_args_is_help=True)


@app.command("status")
def status(stack: StackOption = DEFAULT_STACK, state_dir: StateDirOption = None) -> None:
    """Members, leader, database size and health of every etcd member."""
    raise not_yet("etcd status")


@app.command("backup")
def backup(
    stack: StackOption = DEFAULT_STACK,
    state_dir: StateDirOption = None,
    output: Path | None = typer.Option(None, "--output", "-o", help="Snapshot file to write."),
) -> None:
    """Take a consistent etcd snapshot and store it in the state folder (or --output)."""
    raise not_yet("etcd backup")


@app.command("restore")
def restore(
    snapshot: Path = typer.Argument(..., help="Snapshot file taken by `kubeprov etcd backup`."),
    stack: StackOption = DEFAULT_STACK,
    state_dir: StateDirOption = None,
    yes: YesOption = False,
) -> None:
    """Restore every etcd member from a snapshot (the cluster is stopped meanwhile)."""
    raise not_yet("etcd restore")
