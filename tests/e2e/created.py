"""Clusters made by the real `kubeprov create` (the README's command) for end-to-end tests, and the
ways tests look at them: the real kubectl, `kubeprov status -o json`, the provider for power actions."""

from __future__ import annotations

import json
import os
import subprocess
import time
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from kubeprov.providers import local_cgroups
from kubeprov.providers.local import LocalProvider, cgroup_leaf
from kubeprov.stack.loader import load_stack
from kubeprov.state.store import StateStore

REPO = Path(__file__).resolve().parents[2]
KUBEPROV = REPO / ".venv" / "bin" / "kubeprov"
CREATE_TIMEOUT = 1800.0


@dataclass
class CreatedCluster:
    stack_file: Path
    state_root: Path
    name: str
    create_output: str = ""

    @property
    def env(self) -> dict[str, str]:
        return {**os.environ, "KUBEPROV_STATE_DIR": str(self.state_root), "NO_COLOR": "1"}

    @property
    def kubeconfig(self) -> Path:
        return self.state_root / "clusters" / self.name / "kubeconfigs" / "admin.conf"

    @property
    def state_dir(self) -> Path:
        return self.state_root / "clusters" / self.name

    def kubeprov(self, *args: str, timeout: float = CREATE_TIMEOUT, check: bool = True) -> str:
        done = subprocess.run([str(KUBEPROV), *args, "-f", str(self.stack_file)], env=self.env, cwd=REPO,
                              capture_output=True, text=True, timeout=timeout)
        if check:
            assert done.returncode == 0, f"kubeprov {' '.join(args)} exited {done.returncode}:\n" \
                                         f"{done.stdout[-3000:]}\n{done.stderr[-3000:]}"
        return done.stdout + done.stderr

    def kubectl(self, *args: str, stdin: str | None = None, timeout: float = 120.0) -> str:
        done = subprocess.run(["kubectl", "--kubeconfig", str(self.kubeconfig), *args], input=stdin,
                              capture_output=True, text=True, timeout=timeout)
        assert done.returncode == 0, f"kubectl {' '.join(args)} exited {done.returncode}: {done.stderr}"
        return done.stdout

    def kubectl_json(self, *args: str) -> Any:
        return json.loads(self.kubectl(*args, "-o", "json"))

    def status(self) -> dict[str, Any]:
        return json.loads(self.kubeprov("status", "-o", "json", timeout=120))

    def provider(self) -> LocalProvider:
        stack = load_stack(self.stack_file)
        return LocalProvider(stack, StateStore(self.state_root).cluster(stack.name))


def make_create(cluster: CreatedCluster) -> str:
    """The README's first command, with the state kept in the test's folder."""
    done = subprocess.run(["make", "create", f"STACK={cluster.stack_file}"], env=cluster.env, cwd=REPO,
                          capture_output=True, text=True, timeout=CREATE_TIMEOUT)
    assert done.returncode == 0, f"make create exited {done.returncode}:\n{done.stdout[-4000:]}\n{done.stderr[-4000:]}"
    cluster.create_output = done.stdout + done.stderr
    return cluster.create_output


def eventually(check: Callable[[], bool], timeout: float, interval: float = 2.0) -> bool:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        try:
            if check():
                return True
        except (AssertionError, subprocess.SubprocessError, OSError, ValueError):
            pass
        time.sleep(interval)
    return False


def ready_nodes(cluster: CreatedCluster) -> set[str]:
    nodes = cluster.kubectl_json("get", "nodes")["items"]
    return {n["metadata"]["name"] for n in nodes
            if any(c["type"] == "Ready" and c["status"] == "True" for c in n["status"].get("conditions", []))}


def leaves_nothing_behind(state_dir: Path, bridge: str, machines: list[str]) -> list[str]:
    """What a destroyed cluster left on this host: mounts, its bridge, processes, machine cgroups."""
    left = []
    mounts = Path("/proc/mounts").read_text()
    left += [f"mount {line.split()[1]}" for line in mounts.splitlines() if str(state_dir) in line]
    if Path(f"/sys/class/net/{bridge}").exists():
        left.append(f"bridge {bridge}")
    for proc in Path("/proc").iterdir():
        if proc.name.isdigit():
            try:
                cmdline = (proc / "cmdline").read_bytes().replace(b"\0", b" ").decode(errors="replace")
            except OSError:
                continue
            if str(state_dir) in cmdline:
                left.append(f"process {proc.name}: {cmdline[:120]}")
    for machine in machines:
        left += [f"cgroup {d}" for d in local_cgroups.planned_dirs(cgroup_leaf(machine)) if d.exists()]
    return left
