"""Top-level commands acting on one cluster: create, destroy, status, join, unjoin, upgrade, kubeconfig."""

from __future__ import annotations

from typing import Annotated

import typer

from kubeprov.cli.later import not_yet
from kubeprov.cli.options import (
    DEFAULT_STACK,
    DryRunOption,
    StackOption,
    StateDirOption,
    YesOption,
    confirm,
)
from kubeprov.cli.output import make_console
from kubeprov.errors import KubeprovError, UsageError
from kubeprov.lifecycle.cluster import open_cluster

OnlyOption = Annotated[
    list[str] | None,
    typer.Option("--only", help="Run only this phase (repeatable; a group runs its subtree)."),
]
SkipOption = Annotated[list[str] | None, typer.Option("--skip", help="Skip this phase (repeatable).")]
FreshOption = Annotated[
    bool, typer.Option("--fresh", help="Run every phase, even those an interrupted run completed.")
]


def create(
    stack: StackOption = DEFAULT_STACK,
    state_dir: StateDirOption = None,
    dry_run: DryRunOption = False,
    only: OnlyOption = None,
    skip: SkipOption = None,
    fresh: FreshOption = False,
) -> None:
    """Create the cluster described by the stack file (resumable: re-run after any failure)."""
    from kubeprov.lifecycle.create import create as run_create
    from kubeprov.phases import RunOptions

    ref = open_cluster(stack, state_dir)
    options = RunOptions(only=only or [], skip=skip or [], dry_run=dry_run, fresh=fresh)
    run_create(ref, options, make_console())


def destroy(
    stack: StackOption = DEFAULT_STACK, state_dir: StateDirOption = None, yes: YesOption = False
) -> None:
    """Destroy the cluster's machines and everything kubeprov created for it."""
    from kubeprov.lifecycle.destroy import destroy as run_destroy

    ref = open_cluster(stack, state_dir)
    confirm(f"destroy cluster {ref.stack.name!r} and all its machines", yes)
    console = make_console()
    removed = run_destroy(ref, console)
    console.print(f"destroyed cluster {ref.stack.name!r}: {len(removed)} things removed")


def status(
    stack: StackOption = DEFAULT_STACK,
    state_dir: StateDirOption = None,
    output: Annotated[str, typer.Option("--output", "-o", help="table or json.")] = "table",
) -> None:
    """Machines, component health, etcd members, nodes and the soonest certificate expiry."""
    from kubeprov.cli.status_view import show
    from kubeprov.lifecycle.status import cluster_status

    if output not in ("table", "json"):
        raise UsageError(f"unknown output format {output!r}", "use -o table or -o json")
    ref = open_cluster(stack, state_dir)
    show(cluster_status(ref), make_console(), output)


def join(stack: StackOption = DEFAULT_STACK, state_dir: StateDirOption = None) -> None:
    """Add the machines the stack file gained since the last create (workers or control plane)."""
    raise not_yet("join")


def unjoin(
    node: str = typer.Argument(..., help="Node to drain and remove."),
    stack: StackOption = DEFAULT_STACK,
    state_dir: StateDirOption = None,
    yes: YesOption = False,
) -> None:
    """Drain a node, remove it (and its etcd member) from the cluster, release its machine."""
    raise not_yet("unjoin")


def upgrade(
    stack: StackOption = DEFAULT_STACK,
    state_dir: StateDirOption = None,
    strategy: str = typer.Option("rolling", "--strategy", help="rolling or blue-green."),
    dry_run: DryRunOption = False,
    yes: YesOption = False,
) -> None:
    """Upgrade the cluster to the stack's kubeprov version, machine by machine or blue-green."""
    raise not_yet("upgrade")


def kubeconfig(
    stack: StackOption = DEFAULT_STACK,
    state_dir: StateDirOption = None,
    raw: bool = typer.Option(False, "--raw", help="Print the kubeconfig itself instead of its path."),
) -> None:
    """Print the path of the cluster's admin kubeconfig (or, with --raw, its content)."""
    ref = open_cluster(stack, state_dir)
    path = ref.state.kubeconfig_dir / "admin.conf"
    if not path.exists():
        raise KubeprovError(
            f"cluster {ref.stack.name!r} has no admin kubeconfig yet",
            f"run `kubeprov create -f {stack}` (or `kubeprov certs generate -f {stack}`) first",
        )
    typer.echo(path.read_text() if raw else str(path), nl=not raw)


def register(app: typer.Typer) -> None:
    for command in (create, destroy, status, join, unjoin, upgrade, kubeconfig):
        app.command(command.__name__)(command)
