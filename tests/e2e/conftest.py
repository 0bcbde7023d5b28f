"""End-to-end fixtures: real local machines (systemd-nspawn) made by the local provider.

One small cluster (``e2emach``: one control plane, one worker, bridge kp-e2emach, 10.216.0.0/24) is
provisioned once per module that asks for it: a machine boots in seconds, but the first base image build
of a run takes about a minute and is then cached.
"""

from __future__ import annotations

import os
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import pytest

from kubeprov.providers.base import Machine, ProvisionResult
from kubeprov.providers.local import LocalProvider
from kubeprov.providers.sshkeys import run
from kubeprov.stack.loader import parse_stack
from kubeprov.state.store import StateStore

E2E_STACK = """\
apiVersion: kubeprov.dev/v1alpha1
kind: Stack
name: e2emach
provider:
  type: local
  bridge: kp-e2emach
controlPlane:
  count: 1
workers:
  - name: workers
    count: 1
network:
  machineSubnet: 10.216.0.0/24
"""


@dataclass
class LocalCluster:
    """The module's machines, the provider that made them and what the first ``provision`` said."""

    provider: LocalProvider
    state_root: Path
    first: ProvisionResult
    progress: list[str]

    @property
    def machines(self) -> list[Machine]:
        return self.first.machines

    def machine(self, role: str) -> Machine:
        return next(m for m in self.machines if m.role == role)

    def ssh(self, machine: Machine, command: str, timeout: float = 60.0) -> tuple[int, str]:
        return run(machine.address, machine.ssh_key, command, timeout=timeout)

    def check(self, machine: Machine, command: str, timeout: float = 60.0) -> str:
        status, out = self.ssh(machine, command, timeout)
        assert status == 0, f"{command!r} on {machine.name} exited {status}: {out}"
        return out


def make_provider(state_root: Path) -> LocalProvider:
    stack = parse_stack(E2E_STACK, "e2emach.yaml")
    return LocalProvider(stack, StateStore(state_root).cluster(stack.name), stop_timeout=20.0)


@pytest.fixture(scope="module")
def local_cluster(tmp_path_factory: pytest.TempPathFactory) -> Iterator[LocalCluster]:
    if os.geteuid() != 0:
        pytest.skip("local machines need root (bridge, mounts, systemd-nspawn)")
    state_root = tmp_path_factory.mktemp("e2emach-state")
    provider = make_provider(state_root)
    lines: list[str] = []
    try:
        first = provider.provision(lines.append)
        yield LocalCluster(provider, state_root, first, lines)
    finally:
        provider.destroy(lines.append)  # safe after the destroy test too
