"""The SSH provider: machines that already exist (bare metal, VMs managed elsewhere), listed in the stack.

Nothing is created, powered or wiped: provisioning means proving kubeprov can log in to every host and
recording them, so later phases read the same machine list as with any other provider.
"""

from __future__ import annotations

import json
from concurrent.futures import ThreadPoolExecutor
from typing import Any

import paramiko

from kubeprov.errors import KubeprovError
from kubeprov.preflight.remote import Session, Unreachable, target
from kubeprov.providers.base import Machine, Progress, ProvisionResult
from kubeprov.stack import Stack, plan_machines
from kubeprov.state.store import ClusterState

MACHINES_FILE = "machines.json"
MAX_PARALLEL = 8


class SshProvider:
    """Provider over the stack's ``provider.hosts``; see :class:`kubeprov.providers.base.Provider`."""

    def __init__(self, stack: Stack, state: ClusterState) -> None:
        if stack.provider.type != "ssh":
            raise KubeprovError(f"stack {stack.name!r} uses provider {stack.provider.type!r}, not ssh",
                                "use the provider the stack names")  # fmt: skip
        self.stack = stack
        self.state = state

    def wanted(self) -> list[Machine]:
        """The stack's hosts as machines, keys expanded (``~`` means the operator's home)."""
        machines = []
        for planned in plan_machines(self.stack):
            assert planned.address is not None  # ssh hosts always carry their address
            machines.append(
                Machine(
                    name=planned.name, role=planned.role, address=planned.address, ssh_port=planned.ssh_port,
                    ssh_user=planned.ssh_user, ssh_key=planned.ssh_key.expanduser(), become=planned.become,
                    pool=planned.pool, labels=dict(planned.labels), taints=[dict(t) for t in planned.taints],
                )
            )  # fmt: skip
        return machines

    def plan(self) -> list[str]:
        lines = []
        for machine in self.wanted():
            sudo = " with sudo" if machine.become else ""
            lines.append(
                f"use existing host {machine.name} ({machine.role}) at {target(machine)}{sudo}, key {machine.ssh_key}"
            )
        return lines

    def provision(self, progress: Progress) -> ProvisionResult:
        """Log in to every host (all at once); record them. Every host that fails is named in one error."""
        machines = self.wanted()
        failures = self._unreachable(machines, progress)
        if failures:
            lines = "\n".join(f"  - {failure.machine.name} ({target(failure.machine)}): {failure.reason}"
                              for failure in failures)  # fmt: skip
            hints = sorted({failure.hint for failure in failures if failure.hint})
            raise KubeprovError(
                f"cannot log in to {len(failures)} of {len(machines)} host(s):\n{lines}", "; ".join(hints)
            )
        changed = self._recorded() != machines
        if changed:
            self.state.write(MACHINES_FILE, json.dumps({"machines": [m.to_json() for m in machines]}, indent=2)
                             + "\n", mode=0o600)  # fmt: skip
            message = f"recorded {len(machines)} existing host(s)"
        else:
            message = f"{len(machines)} existing host(s) already recorded"
        progress(message)
        return ProvisionResult(machines, changed, [message])

    def machines(self) -> list[Machine]:
        return self._recorded() or []

    def power_off(self, name: str, progress: Progress) -> None:
        raise self._no_power(name, "off")

    def power_on(self, name: str, progress: Progress) -> None:
        raise self._no_power(name, "on")

    def destroy(self, progress: Progress) -> list[str]:
        """Forget the hosts; the machines themselves keep everything installed on them."""
        recorded = self._recorded()
        path = self.state.path / MACHINES_FILE
        if recorded is None:
            return ["no hosts recorded; nothing to forget (kubeprov never wipes existing hosts)"]
        path.unlink(missing_ok=True)
        lines = [f"forgot host {m.name} ({target(m)}); the host itself was not touched" for m in recorded]
        lines.append(
            "kubeprov does not wipe existing hosts: stop the kubeprov-*.service units and remove /etc/kubeprov, "
            "/var/lib/kubeprov and /opt/kubeprov on each host yourself if you want them clean"
        )
        for line in lines:
            progress(line)
        return lines

    def _recorded(self) -> list[Machine] | None:
        path = self.state.path / MACHINES_FILE
        if not path.exists():
            return None
        try:
            data: dict[str, Any] = json.loads(path.read_text())
            return [Machine.from_json(item) for item in data["machines"]]
        except (ValueError, KeyError, TypeError) as exc:
            raise KubeprovError(
                f"{path} is damaged ({exc})", "delete it and run `kubeprov create` again: it is rebuilt from the stack"
            ) from exc

    def _unreachable(self, machines: list[Machine], progress: Progress) -> list[Unreachable]:
        if not machines:
            return []
        with ThreadPoolExecutor(max_workers=min(MAX_PARALLEL, len(machines))) as pool:
            outcomes = list(pool.map(_try_login, machines))
        for machine, outcome in zip(machines, outcomes, strict=True):
            progress(f"host {machine.name}: " + ("SSH ok" if outcome is None else "cannot log in"))
        return [outcome for outcome in outcomes if outcome is not None]

    def _no_power(self, name: str, state: str) -> KubeprovError:
        return KubeprovError(
            f"kubeprov cannot power {state} {name}: it is an existing host of provider ssh, which kubeprov does "
            "not power",
            f"power it {state} yourself (IPMI, your hypervisor or the machine's button), then re-run the command",
        )


def _try_login(machine: Machine) -> Unreachable | None:
    """None when ``true`` runs on the host; the failure otherwise."""
    try:
        with Session(machine) as session:
            result = session.run("true", timeout=30)
    except Unreachable as exc:
        return exc
    except (OSError, EOFError, paramiko.SSHException) as exc:  # the connection dropped after logging in
        return Unreachable(machine, f"the connection dropped: {exc}", "check the machine and the network")
    if result.status != 0:
        return Unreachable(machine, f"`true` exited {result.status}: {result.stderr.strip()[:200]}",
                           "check the user's login shell on the machine")  # fmt: skip
    return None
