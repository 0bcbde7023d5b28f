"""`kubeprov federation`: run several clusters as one, Karmada-style."""

from __future__ import annotations

import typer

from kubeprov.cli.later import not_yet
from kubeprov.cli.options import DEFAULT_STACK, StackOption, StateDirOption, YesOption

app = typer.Typer(help="Federate clusters: join, unjoin and inspect members.", no_args_is_help=True)


@app.command("join")
def join(stack: StackOption = DEFAULT_STACK, state_dir: StateDirOption = None) -> None:
    """Register the stack's cluster with the federation named in its `federation` section."""
    raise not_yet("federation join")


@app.command("unjoin")
def unjoin(
    stack: StackOption = DEFAULT_STACK, state_dir: StateDirOption = None, yes: YesOption = False
) -> None:
    """Remove the stack's cluster from its federation; propagated workloads move elsewhere."""
    raise not_yet("federation unjoin")


@app.command("status")
def status(stack: StackOption = DEFAULT_STACK, state_dir: StateDirOption = None) -> None:
    """Member clusters, their health and what is propagated to each."""
    raise not_yet("federation status")
