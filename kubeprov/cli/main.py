"""The ``kubeprov`` command: parse, call the lifecycle, render. No lifecycle logic lives here."""

from __future__ import annotations

import sys

import typer

from kubeprov import __version__
from kubeprov.cli import certs, cluster, dev, etcd, federation, stack
from kubeprov.cli.output import print_error
from kubeprov.errors import KubeprovError

app = typer.Typer(
    name="kubeprov",
    help="Provision machines and run the whole life of a Kubernetes-compatible cluster.",
    no_args_is_help=True,
    add_completion=False,
    pretty_exceptions_show_locals=False,  # locals may hold private keys
)


def _version(value: bool) -> None:
    if value:
        typer.echo(f"kubeprov {__version__}")
        raise typer.Exit()


@app.callback()
def _root(
    version: bool = typer.Option(
        False, "--version", callback=_version, is_eager=True, help="Print the version and exit."
    ),
) -> None:
    """kubeprov: create, grow, upgrade, back up and federate clusters from declarative stack files."""


cluster.register(app)
app.add_typer(stack.app, name="stack")
app.add_typer(certs.app, name="certs")
app.add_typer(etcd.app, name="etcd")
app.add_typer(federation.app, name="federation")
app.add_typer(dev.app, name="dev")


def main(argv: list[str] | None = None) -> int:
    """Run the CLI and return its exit code; user errors become one message, not a traceback."""
    try:
        app(args=argv, prog_name="kubeprov")
    except SystemExit as done:  # typer ends every run, good or bad usage, with SystemExit
        code = done.code
        return code if isinstance(code, int) else (0 if code is None else 1)
    except KubeprovError as err:
        print_error(err.message, err.hint)
        return err.exit_code
    except KeyboardInterrupt:
        print_error("interrupted", "re-run the same command: completed phases are kept")
        return 130
    return 0


def run() -> None:
    sys.exit(main())
