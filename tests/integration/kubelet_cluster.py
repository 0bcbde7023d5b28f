"""`kubeprov dev up --kubelet` as a session fixture: a real node on this host, judged with the real kubectl.

The cluster runs on its own folder and port, with no hollow nodes, so every pod lands on the node ``dev``
(kubelet, node-local DNS and image registry as processes, pods under runc on the bridge of its slot).
``dev down`` at the end stops it and removes its pods, interfaces and cgroups; the fixture checks that.
"""

from __future__ import annotations

import shutil
import subprocess
import tempfile
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from kubeprov.etcd.local import free_port
from kubeprov.lifecycle.devhost import NodeHost, link_exists, mounts_under
from tests.integration.dev_cluster import KUBEPROV, DevClusterForTest, poll

NEEDS_ROOT = "needs root: dev up --kubelet runs a real kubelet (runc, mounts, namespaces, bridges)"


@dataclass
class KubeletClusterForTest(DevClusterForTest):
    host: NodeHost | None = None

    @property
    def node(self) -> NodeHost:
        assert self.host is not None
        return self.host

    @property
    def kubelet_root(self) -> Path:
        return self.directory / "kubelet"

    def pod(self, namespace: str, name: str) -> dict[str, Any]:
        return self.json("-n", namespace, "get", "pod", name)

    def wait_ready(self, namespace: str, *pods: str, timeout: int = 60) -> None:
        self.ok("-n", namespace, "wait", "--for=condition=Ready", *(f"pod/{p}" for p in pods),
                f"--timeout={timeout}s", timeout=timeout + 30)

    def container_status(self, namespace: str, pod: str, container: str = "") -> dict[str, Any]:
        statuses = self.pod(namespace, pod).get("status", {}).get("containerStatuses") or []
        return next((s for s in statuses if not container or s["name"] == container), {})

    def http_get(self, address: str, port: int = 8080, path: str = "/", timeout: float = 5.0) -> str:
        """An HTTP/1.0 GET from the host with busybox nc (the page body, '' when nothing answered)."""
        request = f"GET {path} HTTP/1.0\r\nHost: {address}\r\n\r\n"
        try:
            out = subprocess.run(["busybox", "nc", "-w", "3", address, str(port)], input=request,
                                 capture_output=True, text=True, timeout=timeout, check=False)
        except subprocess.TimeoutExpired:
            return ""
        # text mode turned the CRLFs into newlines
        return out.stdout.split("\n\n", 1)[1] if out.stdout.startswith("HTTP/1.1 200") else ""


def host_leftovers(host: NodeHost) -> list[str]:
    """What of the node's slot is still on the host (interfaces, run dir, mounts, cgroups)."""
    found = [name for name in (host.bridge, host.host_link) if link_exists(name)]
    if host.run_dir.exists():
        found.append(str(host.run_dir))
    mounts = Path("/proc/mounts").read_text()
    found += [line.split()[1] for line in mounts.splitlines() if f"{host.directory}/" in line.split()[1]]
    found += [str(p) for p in Path("/sys/fs/cgroup").glob(f"*{host.cgroup_parent}")]
    return found


def start_kubelet_cluster(home: Path) -> Iterator[KubeletClusterForTest]:
    """`kubeprov dev up --kubelet` in a folder of its own; `dev down` afterwards, asserting it left nothing
    behind. Not under pytest's basetemp: other sessions on the machine prune old basetemps, and deleting a
    running node's folder would strand its pods. ``home`` is kubectl's $HOME."""
    root = Path(tempfile.mkdtemp(prefix="kubeprov-node-test-"))
    folder = root / "dev"
    up = subprocess.run([str(KUBEPROV), "dev", "up", "--dir", str(folder), "--port", str(free_port()), "--kubelet"],
                        capture_output=True, text=True, timeout=300)
    host = NodeHost.load(folder)
    try:
        assert up.returncode == 0, up.stdout + up.stderr
        cluster = KubeletClusterForTest(folder, home, host)
        yield cluster
    finally:
        down = subprocess.run([str(KUBEPROV), "dev", "down", "--dir", str(folder)], capture_output=True, text=True,
                              timeout=180)
    assert down.returncode == 0, down.stdout + down.stderr
    if host is not None:
        assert host_leftovers(host) == []
    if not mounts_under(root):
        shutil.rmtree(root)


def namespace_of(cluster: KubeletClusterForTest, prefix: str) -> str:
    """A namespace whose default ServiceAccount and kube-root-ca.crt exist (pods mount its token)."""
    name = cluster.namespace(prefix)
    poll(lambda: cluster.kubectl("-n", name, "get", "configmap", "kube-root-ca.crt").returncode == 0, 30,
         what=f"kube-root-ca.crt in {name}")
    return name

