"""`kubeprov dev up --hollow-nodes 5` as a test fixture: the acceptance bed judged by the real kubectl.

The cluster runs as separate processes (etcd, API server, scheduler, controller manager, hollow
nodes) exactly as a user starts it; tests talk to it only through kubectl, the official client or
our client, each in a namespace of its own. ``dev down`` stops it at the end of the session.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
import time
import uuid
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from kubeprov.etcd.local import free_port

KUBEPROV = Path(sys.executable).parent / "kubeprov"
HOLLOW_NODES = 5


def poll(check: Callable[[], Any], timeout: float = 60.0, interval: float = 0.3, what: str = "") -> Any:
    """Call ``check`` until it returns something truthy (returned); fail after ``timeout`` seconds."""
    deadline = time.monotonic() + timeout
    while True:
        result = check()
        if result:
            return result
        assert time.monotonic() < deadline, f"timed out after {timeout:g}s waiting for {what or check}"
        time.sleep(interval)


@dataclass
class DevClusterForTest:
    directory: Path
    home: Path

    @property
    def kubeconfig(self) -> Path:
        return self.directory / "admin.kubeconfig"

    def kubectl(self, *args: str, input: str | None = None, timeout: float = 90.0) -> subprocess.CompletedProcess[str]:
        env = {k: v for k, v in os.environ.items() if k != "KUBECONFIG"}
        env["HOME"] = str(self.home)
        return subprocess.run(["kubectl", "--kubeconfig", str(self.kubeconfig), *args], input=input,
                              capture_output=True, text=True, timeout=timeout, env=env, check=False)

    def ok(self, *args: str, input: str | None = None, timeout: float = 90.0) -> str:
        """kubectl that must succeed; its stdout."""
        out = self.kubectl(*args, input=input, timeout=timeout)
        assert out.returncode == 0, f"kubectl {' '.join(args)}: {out.stdout}{out.stderr}"
        return out.stdout

    def json(self, *args: str) -> Any:
        return json.loads(self.ok(*args, "-o", "json"))

    def namespace(self, prefix: str) -> str:
        """A namespace of the test's own, once the controller manager gave it its default ServiceAccount."""
        name = f"{prefix}-{uuid.uuid4().hex[:6]}"
        self.ok("create", "namespace", name)
        deadline = time.monotonic() + 30
        while self.kubectl("-n", name, "get", "serviceaccount", "default").returncode != 0:
            assert time.monotonic() < deadline, f"namespace {name} got no default ServiceAccount"
            time.sleep(0.3)
        return name

    def processes(self) -> dict[str, int]:
        """The PIDs `dev up` recorded in processes.json, by component name."""
        return {r["name"]: r["pid"] for r in json.loads((self.directory / "processes.json").read_text())}

    def log_text(self, component: str) -> str:
        return (self.directory / "logs" / f"{component}.log").read_text(errors="replace")

    def apply(self, namespace: str, manifest: dict[str, Any] | str) -> str:
        text = manifest if isinstance(manifest, str) else json.dumps(manifest)
        return self.ok("-n", namespace, "apply", "-f", "-", input=text)


def start_dev_cluster(root: Path, hollow_nodes: int = HOLLOW_NODES,
                      standby: bool = False) -> Iterator[DevClusterForTest]:
    """`kubeprov dev up` in ``root/dev`` (``--standby``: with a standby scheduler and controller manager)."""
    folder = root / "dev"
    up = subprocess.run([str(KUBEPROV), "dev", "up", "--dir", str(folder), "--port", str(free_port()),
                         "--hollow-nodes", str(hollow_nodes), *(["--standby"] if standby else [])],
                        capture_output=True, text=True, timeout=240)
    try:
        assert up.returncode == 0, up.stdout + up.stderr
        yield DevClusterForTest(folder, root)
    finally:
        subprocess.run([str(KUBEPROV), "dev", "down", "--dir", str(folder)], capture_output=True, timeout=60)
