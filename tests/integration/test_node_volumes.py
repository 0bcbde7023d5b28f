"""Pod features on a real node (`dev up --kubelet`) through the real kubectl: configMap and secret
volumes and env, an emptyDir two containers share, init containers, a preStop hook, a memory limit."""

from __future__ import annotations

import base64
import os
from pathlib import Path
from typing import Any

import pytest

from tests.integration.dev_cluster import poll
from tests.integration.kubelet_cluster import NEEDS_ROOT, KubeletClusterForTest, namespace_of

pytestmark = [
    pytest.mark.integration,
    pytest.mark.timeout(300),
    pytest.mark.skipif(os.geteuid() != 0, reason=NEEDS_ROOT),
]
BUSYBOX = "registry.local/busybox:1"
IDLE = 'trap "exit 0" TERM; while true; do sleep 1; done'


def container(name: str, command: str, **extra: Any) -> dict[str, Any]:
    return {"name": name, "image": BUSYBOX, "command": ["sh", "-c", command], **extra}


def pod(name: str, containers: list[dict[str, Any]], **spec: Any) -> dict[str, Any]:
    return {"apiVersion": "v1", "kind": "Pod", "metadata": {"name": name},
            "spec": {"terminationGracePeriodSeconds": 5, "containers": containers, **spec}}


def logs(cluster: KubeletClusterForTest, ns: str, name: str, container: str = "") -> str:
    out = cluster.kubectl("-n", ns, "logs", name, *(["-c", container] if container else []))
    return out.stdout if out.returncode == 0 else ""


def test_configmap_and_secret_reach_the_container_as_files_and_env(kubelet_cluster: KubeletClusterForTest) -> None:
    ns = namespace_of(kubelet_cluster, "node-cfg")
    kubelet_cluster.apply(ns, {"apiVersion": "v1", "kind": "ConfigMap", "metadata": {"name": "settings"},
                               "data": {"greeting": "hello"}})
    kubelet_cluster.apply(ns, {"apiVersion": "v1", "kind": "Secret", "metadata": {"name": "creds"},
                               "data": {"password": base64.b64encode(b"s3cret").decode()}})
    main = container("main", f'echo "files $(cat /cfg/greeting) $(cat /sec/password)"; '
                             f'echo "env $GREETING $PASSWORD"; {IDLE}',
                     env=[{"name": "GREETING",
                           "valueFrom": {"configMapKeyRef": {"name": "settings", "key": "greeting"}}},
                          {"name": "PASSWORD", "valueFrom": {"secretKeyRef": {"name": "creds", "key": "password"}}}],
                     volumeMounts=[{"name": "cfg", "mountPath": "/cfg"}, {"name": "sec", "mountPath": "/sec"}])
    kubelet_cluster.apply(ns, pod("cfg", [main], volumes=[{"name": "cfg", "configMap": {"name": "settings"}},
                                                         {"name": "sec", "secret": {"secretName": "creds"}}]))
    kubelet_cluster.wait_ready(ns, "cfg")
    out = poll(lambda: logs(kubelet_cluster, ns, "cfg").count("\n") >= 2 and logs(kubelet_cluster, ns, "cfg"), 30)
    assert out.splitlines()[:2] == ["files hello s3cret", "env hello s3cret"]


def test_an_init_container_and_two_containers_share_an_empty_dir(kubelet_cluster: KubeletClusterForTest) -> None:
    ns = namespace_of(kubelet_cluster, "node-share")
    mount = [{"name": "shared", "mountPath": "/shared"}]
    init = container("init", "echo from-init > /shared/init", volumeMounts=mount)
    writer = container("writer", f"echo from-writer > /shared/msg.tmp; mv /shared/msg.tmp /shared/msg; {IDLE}",
                       volumeMounts=mount)
    reader = container("reader", "until [ -f /shared/msg ]; do sleep 0.2; done; "
                                 f'echo "$(cat /shared/init) $(cat /shared/msg)"; {IDLE}', volumeMounts=mount)
    kubelet_cluster.apply(ns, pod("share", [writer, reader], initContainers=[init],
                                  volumes=[{"name": "shared", "emptyDir": {}}]))
    kubelet_cluster.wait_ready(ns, "share")
    out = poll(lambda: logs(kubelet_cluster, ns, "share", "reader"), 30, what="the reader's line")
    assert out.strip() == "from-init from-writer"
    init_status = kubelet_cluster.pod(ns, "share")["status"]["initContainerStatuses"][0]
    assert init_status["state"]["terminated"]["reason"] == "Completed"


def test_a_pre_stop_hook_runs_before_the_container_stops(kubelet_cluster: KubeletClusterForTest,
                                                         tmp_path: Path) -> None:
    ns = namespace_of(kubelet_cluster, "node-hook")
    marker = tmp_path / "hook" / "prestop"
    main = container("main", IDLE, volumeMounts=[{"name": "hook", "mountPath": "/hook"}],
                     lifecycle={"preStop": {"exec": {"command": ["sh", "-c", "echo stopping > /hook/prestop"]}}})
    kubelet_cluster.apply(ns, pod("hook", [main], volumes=[
        {"name": "hook", "hostPath": {"path": str(marker.parent), "type": "DirectoryOrCreate"}}]))
    kubelet_cluster.wait_ready(ns, "hook")
    assert not marker.exists()
    kubelet_cluster.ok("-n", ns, "delete", "pod", "hook", "--wait=true", timeout=120)
    assert marker.read_text() == "stopping\n"


def memory_controller_writable() -> bool:
    """cgroup v1's memory hierarchy or cgroup v2 with the memory controller, writable by us."""
    v1 = Path("/sys/fs/cgroup/memory")
    if (v1 / "memory.limit_in_bytes").exists():
        return os.access(v1, os.W_OK)
    controllers = Path("/sys/fs/cgroup/cgroup.controllers")
    return controllers.exists() and "memory" in controllers.read_text().split() and os.access(
        controllers.parent, os.W_OK)


def test_a_container_over_its_memory_limit_is_oom_killed(kubelet_cluster: KubeletClusterForTest) -> None:
    assert memory_controller_writable(), "this host's memory cgroup controller is not writable"
    ns = namespace_of(kubelet_cluster, "node-oom")
    # dd's 256 MiB block buffer is touched on the first read: far over a 32 MiB limit (runc init fits under it)
    hog = container("hog", "dd if=/dev/zero of=/dev/null bs=256M count=2",
                    resources={"limits": {"memory": "32Mi"}, "requests": {"memory": "32Mi"}})
    kubelet_cluster.apply(ns, pod("hog", [hog], restartPolicy="Never"))

    def terminated() -> dict[str, Any]:
        return (kubelet_cluster.container_status(ns, "hog").get("state") or {}).get("terminated") or {}

    state = poll(terminated, 60, what="the hog to end")
    assert state["reason"] == "OOMKilled"
    assert state["exitCode"] == 137
    assert kubelet_cluster.pod(ns, "hog")["status"]["phase"] == "Failed"
