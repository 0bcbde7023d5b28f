"""`kubeprov dev`: a control plane on loopback for development and integration tests."""

from __future__ import annotations

from pathlib import Path

import typer

from kubeprov.cli.later import not_yet

app = typer.Typer(help="Run a development control plane on this machine.", no_args_is_help=True)


@app.command("up")
def up(
    directory: Path = typer.Option(
        ..., "--dir", help="Folder for etcd data, PKI, logs and admin.kubeconfig."
    ),
    port: int = typer.Option(6443, "--port", help="Port of the API server on 127.0.0.1."),
) -> None:
    """Start etcd and every control-plane component in the background; return when ready."""
    raise not_yet("dev up")


@app.command("down")
def down(directory: Path = typer.Option(..., "--dir", help="Folder given to `kubeprov dev up`.")) -> None:
    """Stop exactly the processes `kubeprov dev up` started in DIR."""
    raise not_yet("dev down")
