"""`kubeprov certs`: generate the PKI, report expiry, renew leaf certificates."""

from __future__ import annotations

import json
from datetime import timedelta
from typing import Annotated

import typer
from rich.table import Table

from kubeprov.cli.options import DEFAULT_STACK, StackOption, StateDirOption
from kubeprov.cli.output import make_console
from kubeprov.errors import KubeprovError
from kubeprov.lifecycle.cluster import open_cluster
from kubeprov.lifecycle.pki_plan import pki_spec_for
from kubeprov.pki import expiring, generate_pki, list_certificates, renew_certificates

app = typer.Typer(help="Generate, inspect and renew the cluster's certificates.", no_args_is_help=True)


@app.command("generate")
def generate(stack: StackOption = DEFAULT_STACK, state_dir: StateDirOption = None) -> None:
    """Write the whole PKI for the stack; existing files are kept, missing ones added."""
    ref = open_cluster(stack, state_dir)
    with ref.state.lock():
        report = generate_pki(pki_spec_for(ref.stack, ref.state.load_inventory()),
                              ref.state.pki_dir, ref.state.kubeconfig_dir)
    console = make_console()
    console.print(
        f"PKI for cluster {ref.stack.name!r} in {ref.state.path}: "
        f"{len(report.created)} created, {len(report.reissued)} reissued, {len(report.kept)} kept"
    )
    for name in report.reissued:
        console.print(f"  reissued {name} (its names or issuer no longer matched the stack)")


def _residual(delta: timedelta) -> str:
    if delta.total_seconds() <= 0:
        return "expired"
    days = delta.days
    if days >= 365:
        return f"{days // 365}y {days % 365}d"
    if days >= 1:
        return f"{days}d"
    return f"{int(delta.total_seconds() // 3600)}h"


@app.command("check-expiration")
def check_expiration(
    stack: StackOption = DEFAULT_STACK,
    state_dir: StateDirOption = None,
    within_days: Annotated[
        int, typer.Option("--within-days", help="Fail when a certificate expires within this many days.")
    ] = 30,
    output: Annotated[str, typer.Option("--output", "-o", help="table or json.")] = "table",
) -> None:
    """Table of every certificate and kubeconfig with expiry; exit 1 when one expires soon."""
    ref = open_cluster(stack, state_dir)
    infos = list_certificates(ref.state.pki_dir, ref.state.kubeconfig_dir)
    if not infos:
        raise KubeprovError(
            f"cluster {ref.stack.name!r} has no certificates in {ref.state.pki_dir}",
            f"run `kubeprov certs generate -f {stack}` first",
        )
    soon = {info.name for info in expiring(infos, timedelta(days=within_days))}
    console = make_console()
    if output == "json":
        rows = [
            {"name": i.name, "kind": i.kind, "subject": i.subject, "issuer": i.issuer,
             "notAfter": i.not_after.isoformat(), "residualSeconds": int(i.residual.total_seconds()),
             "expiresSoon": i.name in soon}
            for i in infos
        ]
        typer.echo(json.dumps(rows, indent=2))
    elif output == "table":
        table = Table(title=f"certificates of cluster {ref.stack.name}")
        for column in ("NAME", "KIND", "SUBJECT", "EXPIRES", "RESIDUAL", "AUTHORITY"):
            table.add_column(column)
        for i in infos:
            style = "red" if i.name in soon else None
            table.add_row(i.name, i.kind, i.subject, i.not_after.strftime("%Y-%m-%d %H:%M UTC"),
                          _residual(i.residual), i.issuer, style=style)
        console.print(table)
    else:
        raise KubeprovError(f"unknown output format {output!r}", "use --output table or --output json")
    if soon:
        raise KubeprovError(
            f"{len(soon)} certificate(s) expire within {within_days} days: {', '.join(sorted(soon))}",
            f"renew them with `kubeprov certs renew --all -f {stack}`",
        )


@app.command("renew")
def renew(
    names: Annotated[
        list[str] | None, typer.Argument(help="Certificates to renew (see check-expiration).")
    ] = None,
    all_: Annotated[bool, typer.Option("--all", help="Renew every leaf certificate and kubeconfig.")] = False,
    rotate_keys: Annotated[bool, typer.Option("--rotate-keys", help="New private keys too.")] = False,
    stack: StackOption = DEFAULT_STACK,
    state_dir: StateDirOption = None,
) -> None:
    """Renew leaf certificates and kubeconfigs; certificate authorities are never touched."""
    if bool(names) == all_:
        raise KubeprovError("name the certificates to renew, or pass --all", "`kubeprov certs renew --all`")
    ref = open_cluster(stack, state_dir)
    with ref.state.lock():
        report = renew_certificates(ref.state.pki_dir, ref.state.kubeconfig_dir,
                                    None if all_ else list(names or []), rotate_keys=rotate_keys,
                                    validity_days=ref.stack.certificates.validity_days)
    make_console().print(
        f"renewed {len(report.renewed)} certificate(s) of cluster {ref.stack.name!r}"
        + (" with new keys" if rotate_keys else "")
    )
