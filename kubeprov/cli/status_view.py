"""Render `kubeprov status` as rich tables (or JSON)."""

from __future__ import annotations

import json

from rich.console import Console
from rich.table import Table

from kubeprov.lifecycle.status import ClusterStatus

OK, BAD = "[green]ok[/]", "[red]down[/]"


def show(status: ClusterStatus, console: Console, output: str) -> None:
    if output == "json":
        console.print_json(json.dumps(status.to_json()))
        return
    machines = Table(title=f"cluster {status.cluster}: machines", title_justify="left")
    for column in ("machine", "role", "address", "ssh", "components"):
        machines.add_column(column)
    for m in status.machines:
        units = ", ".join(f"{u.removeprefix('kubeprov-').removesuffix('.service')}"
                          f"{'' if state == 'active' else f' ({state})'}" for u, state in m.units.items())
        machines.add_row(m.name, m.role, m.address, OK if m.reachable else f"{BAD} {m.error}", units or "-")
    console.print(machines)
    if status.etcd:
        etcd = Table(title="etcd members", title_justify="left")
        for column in ("member", "endpoint", "health", "leader", "db size", "version"):
            etcd.add_column(column)
        for e in status.etcd:
            etcd.add_row(e.name, e.endpoint, OK if e.healthy else f"{BAD} {e.error}", "*" if e.leader else "",
                         f"{e.db_size / 2**20:.1f} MiB", e.version)
        console.print(etcd)
    if status.apiservers:
        api = Table(title="API servers", title_justify="left")
        for column in ("apiserver", "url", "ready"):
            api.add_column(column)
        for p in status.apiservers:
            api.add_row(p.name, p.url, OK if p.ok else f"{BAD} {p.detail}")
        console.print(api)
    if status.nodes:
        nodes = Table(title="nodes", title_justify="left")
        for column in ("node", "ready", "roles", "version", "taints"):
            nodes.add_column(column)
        for n in status.nodes:
            nodes.add_row(n.name, OK if n.ready else "[red]NotReady[/]", n.roles, n.version, str(n.taints))
        console.print(nodes)
    if status.soonest_expiry:
        e = status.soonest_expiry
        console.print(f"soonest certificate expiry: {e['name']} in {e['days']} days ({e['not_after']})")
    for problem in status.problems:
        console.print(f"[yellow]problem:[/] {problem}", markup=True)
