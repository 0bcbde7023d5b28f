"""`kubeprov dev up|down`: a control plane in the background that the real kubectl can use."""

from __future__ import annotations

import json
import os
import subprocess
import sys
import time
from pathlib import Path

import pytest

from kubeprov.etcd.local import free_port
from kubeprov.lifecycle.devprocs import ProcessTable, is_ours

pytestmark = pytest.mark.integration
KUBEPROV = Path(sys.executable).parent / "kubeprov"


def test_dev_up_serves_kubectl_and_dev_down_stops_exactly_its_processes(tmp_path: Path) -> None:
    folder = tmp_path / "dev"
    up = subprocess.run([str(KUBEPROV), "dev", "up", "--dir", str(folder), "--port", str(free_port())],
                        capture_output=True, text=True, timeout=120)
    assert up.returncode == 0, up.stdout + up.stderr
    records = ProcessTable(folder / "processes.json").load()
    try:
        assert {r.name for r in records} == {"etcd", "apiserver", "scheduler", "controller-manager"}
        env = {**os.environ, "HOME": str(tmp_path)}
        got = subprocess.run(["kubectl", "--kubeconfig", str(folder / "admin.kubeconfig"), "get", "namespaces",
                              "-o", "name"], capture_output=True, text=True, timeout=60, env=env)
        assert got.returncode == 0, got.stderr
        assert "namespace/kube-system" in got.stdout.split()
    finally:
        down = subprocess.run([str(KUBEPROV), "dev", "down", "--dir", str(folder)], capture_output=True, text=True,
                              timeout=60)
    assert down.returncode == 0, down.stderr
    assert all(name in down.stdout for name in ("apiserver", "etcd", "scheduler", "controller-manager"))
    assert not any(is_ours(r) for r in records)
    assert not (folder / "processes.json").exists()


def test_dev_down_on_an_empty_folder_stops_nothing(tmp_path: Path) -> None:
    down = subprocess.run([str(KUBEPROV), "dev", "down", "--dir", str(tmp_path)], capture_output=True, text=True,
                          timeout=30)
    assert down.returncode == 0
    assert "nothing was running" in down.stdout


def test_dev_up_with_hollow_nodes_runs_a_pod_created_by_kubectl(tmp_path: Path) -> None:
    folder = tmp_path / "dev"
    up = subprocess.run([str(KUBEPROV), "dev", "up", "--dir", str(folder), "--port", str(free_port()),
                         "--hollow-nodes", "2"], capture_output=True, text=True, timeout=180)
    assert up.returncode == 0, up.stdout + up.stderr
    env = {**os.environ, "HOME": str(tmp_path)}

    def kubectl(*args: str) -> subprocess.CompletedProcess[str]:
        return subprocess.run(["kubectl", "--kubeconfig", str(folder / "admin.kubeconfig"), *args],
                              capture_output=True, text=True, timeout=60, env=env)

    try:
        assert kubectl("wait", "--for=condition=Ready", "node", "--all", "--timeout=60s").returncode == 0
        # the controller manager gives the namespace its default ServiceAccount, which pods need
        deadline = time.monotonic() + 30
        while kubectl("get", "serviceaccount", "default").returncode != 0 and time.monotonic() < deadline:
            time.sleep(0.5)
        created = kubectl("run", "web", "--image=registry.local/web:1", "--restart=Never")
        assert created.returncode == 0, created.stderr
        ready = kubectl("wait", "--for=condition=Ready", "pod/web", "--timeout=60s")
        assert ready.returncode == 0, ready.stdout + ready.stderr
        pod = json.loads(kubectl("get", "pod", "web", "-o", "json").stdout)
        assert pod["spec"]["nodeName"].startswith("hollow-")
        assert pod["status"]["phase"] == "Running"
    finally:
        subprocess.run([str(KUBEPROV), "dev", "down", "--dir", str(folder)], capture_output=True, timeout=60)


def test_dev_up_on_a_busy_port_says_so_in_one_sentence(tmp_path: Path) -> None:
    import socket

    with socket.socket() as taken:
        taken.bind(("127.0.0.1", 0))
        taken.listen()
        port = taken.getsockname()[1]
        up = subprocess.run([str(KUBEPROV), "dev", "up", "--dir", str(tmp_path / "dev"), "--port", str(port)],
                            capture_output=True, text=True, timeout=60)
    assert up.returncode != 0
    assert f"port {port} on 127.0.0.1 is already in use" in up.stderr
    assert "Traceback" not in up.stdout + up.stderr
    assert not (tmp_path / "dev" / "processes.json").exists()


def test_dev_up_kubelet_as_a_normal_user_says_it_needs_root(monkeypatch: pytest.MonkeyPatch) -> None:
    from kubeprov.errors import KubeprovError
    from kubeprov.lifecycle import devnode

    monkeypatch.setattr(devnode.os, "geteuid", lambda: 1000)
    with pytest.raises(KubeprovError, match="must run as root"):
        devnode.preflight()


def test_dev_up_kubelet_without_runc_says_so(monkeypatch: pytest.MonkeyPatch) -> None:
    from kubeprov.errors import KubeprovError
    from kubeprov.lifecycle import devnode

    monkeypatch.setattr(devnode.os, "geteuid", lambda: 0)
    monkeypatch.setattr(devnode, "RUNC", ("/nonexistent/runc",))
    monkeypatch.setattr(devnode.shutil, "which", lambda name: None)
    with pytest.raises(KubeprovError, match="runc is not installed"):
        devnode.preflight()


@pytest.mark.timeout(300)
@pytest.mark.skipif(os.geteuid() != 0, reason="needs root: dev up --kubelet runs a real kubelet")
def test_dev_down_after_dev_up_kubelet_leaves_nothing_on_the_host(tmp_path: Path) -> None:
    import shutil
    import tempfile

    from kubeprov.lifecycle.devhost import NodeHost
    from tests.integration.kubelet_cluster import host_leftovers

    # outside pytest's basetemp, which other sessions prune
    folder = Path(tempfile.mkdtemp(prefix="kubeprov-devup-test-")) / "dev"
    up = subprocess.run([str(KUBEPROV), "dev", "up", "--dir", str(folder), "--port", str(free_port()), "--kubelet"],
                        capture_output=True, text=True, timeout=240)
    host = NodeHost.load(folder)
    records = ProcessTable(folder / "processes.json").load()
    try:
        assert up.returncode == 0, up.stdout + up.stderr
        assert host is not None
        assert {"registry", "dns", "kubelet"} <= {r.name for r in records}
        env = {**os.environ, "HOME": str(tmp_path)}
        run = subprocess.run(["kubectl", "--kubeconfig", str(folder / "admin.kubeconfig"), "run", "idle",
                              "--image=registry.local/busybox:1", "--", "sleep", "3600"],
                             capture_output=True, text=True, timeout=60, env=env)
        assert run.returncode == 0, run.stderr
        ready = subprocess.run(["kubectl", "--kubeconfig", str(folder / "admin.kubeconfig"), "wait",
                                "--for=condition=Ready", "pod/idle", "--timeout=60s"],
                               capture_output=True, text=True, timeout=90, env=env)
        assert ready.returncode == 0, ready.stdout + ready.stderr
    finally:
        down = subprocess.run([str(KUBEPROV), "dev", "down", "--dir", str(folder)], capture_output=True, text=True,
                              timeout=180)
    assert down.returncode == 0, down.stdout + down.stderr
    assert "removed 1 pod sandboxes" in down.stdout
    assert f"interface {host.host_link}" in down.stdout
    assert not any(is_ours(r) for r in records)
    assert host_leftovers(host) == []
    shutil.rmtree(folder.parent)
