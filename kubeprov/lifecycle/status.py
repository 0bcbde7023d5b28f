"""`kubeprov status`: machines, component health per machine, etcd members, nodes and the soonest
certificate expiry, gathered concurrently; every probe that fails says why instead of failing the report."""

from __future__ import annotations

import asyncio
import json
from dataclasses import asdict, dataclass, field
from datetime import UTC, datetime
from typing import Any

from kubeprov.lifecycle import health
from kubeprov.lifecycle.cluster import ClusterRef
from kubeprov.machinefiles import plan_cluster
from kubeprov.pki.expiry import list_certificates
from kubeprov.providers.base import Machine


@dataclass
class MachineStatus:
    name: str
    role: str
    address: str
    reachable: bool
    units: dict[str, str] = field(default_factory=dict)  # unit -> systemd active state
    error: str = ""


@dataclass
class ClusterStatus:
    cluster: str
    machines: list[MachineStatus] = field(default_factory=list)
    etcd: list[health.EtcdMemberHealth] = field(default_factory=list)
    apiservers: list[health.Probe] = field(default_factory=list)
    nodes: list[health.NodeHealth] = field(default_factory=list)
    soonest_expiry: dict[str, Any] | None = None
    problems: list[str] = field(default_factory=list)

    def to_json(self) -> dict[str, Any]:
        return json.loads(json.dumps(asdict(self), default=str))


def _units(ref: ClusterRef, machine: Machine) -> list[str]:
    services = ref.state.path / "rendered" / machine.name / "services.json"
    if not services.is_file():
        return []
    return [s["unit"] for s in json.loads(services.read_text())]


def machine_status(ref: ClusterRef, machine: Machine, timeout: float = 5.0) -> MachineStatus:
    """SSH in and ask systemd for the state of each of the machine's units."""
    import paramiko

    from kubeprov.preflight.remote import Session, Unreachable

    status = MachineStatus(machine.name, machine.role, machine.address, False)
    units = _units(ref, machine)
    try:
        with Session(machine, timeout) as session:
            status.reachable = True
            if units:
                states = session.run("systemctl is-active " + " ".join(units), timeout=timeout).stdout.split()
                status.units = dict(zip(units, states, strict=False))
    except Unreachable as exc:
        status.error = exc.reason
    except (OSError, paramiko.SSHException) as exc:
        status.error = str(exc) or type(exc).__name__
    return status


def cluster_status(ref: ClusterRef) -> ClusterStatus:
    report = ClusterStatus(ref.stack.name)
    inventory = ref.state.load_inventory() or {}
    machines = [Machine.from_json(m) for m in inventory.get("machines", []) if "role" in m]
    if not machines:
        report.problems.append("no machines recorded: run `kubeprov create`")
        return report

    async def gather() -> None:
        plan = plan_cluster(ref.stack, machines)
        probes = [asyncio.to_thread(machine_status, ref, m) for m in machines]
        results = await asyncio.gather(
            asyncio.gather(*probes), health.etcd_members(plan, ref.state.pki_dir),
            health.apiservers(plan, ref.state.pki_dir / "ca.crt"),
            health.nodes(ref.state.kubeconfig_dir / "admin.conf", "kubeprov-status"), return_exceptions=True)
        for name, value in zip(("machines", "etcd", "apiservers", "nodes"), results, strict=True):
            if isinstance(value, BaseException):
                report.problems.append(f"{name}: {value or type(value).__name__}")
            else:
                setattr(report, name, list(value))

    asyncio.run(gather())
    certs = list_certificates(ref.state.pki_dir, ref.state.kubeconfig_dir, datetime.now(UTC))
    if certs:
        soonest = min(certs, key=lambda c: c.not_after)
        report.soonest_expiry = {"name": soonest.name, "not_after": soonest.not_after.isoformat(),
                                 "days": soonest.residual.days}
    return report
