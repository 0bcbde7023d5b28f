"""Probes on a real node (`dev up --kubelet`), seen through the real kubectl: liveness restarts,
CrashLoopBackOff, and readiness taking a pod out of its Service's EndpointSlice and back."""

from __future__ import annotations

import os
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
# a shell that ends on SIGTERM at once (a PID 1 without a handler would wait out the grace period)
IDLE = 'trap "exit 0" TERM; while true; do sleep 1; done'


def pod(name: str, command: str, **container: Any) -> dict[str, Any]:
    return {"apiVersion": "v1", "kind": "Pod", "metadata": {"name": name, "labels": {"app": name}},
            "spec": {"terminationGracePeriodSeconds": 2,
                     "containers": [{"name": "main", "image": BUSYBOX, "command": ["sh", "-c", command],
                                     **container}]}}


def columns(cluster: KubeletClusterForTest, ns: str, name: str) -> dict[str, str]:
    """`kubectl get pod NAME` as the table a user reads: NAME READY STATUS RESTARTS AGE."""
    header, row = cluster.ok("-n", ns, "get", "pod", name).splitlines()[:2]
    names = header.split()
    values = row.split(None, len(names) - 1)
    return dict(zip(names, values, strict=False))


def test_a_liveness_probe_that_starts_failing_restarts_the_container(kubelet_cluster: KubeletClusterForTest
                                                                     ) -> None:
    ns = namespace_of(kubelet_cluster, "node-live")
    probe = {"exec": {"command": ["cat", "/tmp/healthy"]}, "periodSeconds": 1, "failureThreshold": 1}
    kubelet_cluster.apply(ns, pod("live", f"touch /tmp/healthy; sleep 4; rm /tmp/healthy; {IDLE}",
                                  livenessProbe=probe))
    kubelet_cluster.wait_ready(ns, "live")
    assert columns(kubelet_cluster, ns, "live")["RESTARTS"] == "0"
    poll(lambda: columns(kubelet_cluster, ns, "live")["RESTARTS"].split()[0] != "0", 60,
         what="RESTARTS to increment")
    status = kubelet_cluster.container_status(ns, "live")
    assert status["restartCount"] >= 1
    assert "terminated" in status["lastState"]


def test_a_crashing_container_shows_crash_loop_back_off(kubelet_cluster: KubeletClusterForTest) -> None:
    ns = namespace_of(kubelet_cluster, "node-crash")
    kubelet_cluster.apply(ns, pod("crash", "echo going down; exit 3"))
    poll(lambda: columns(kubelet_cluster, ns, "crash")["STATUS"] == "CrashLoopBackOff", 60,
         what="STATUS CrashLoopBackOff")
    status = kubelet_cluster.container_status(ns, "crash")
    assert status["state"]["waiting"]["reason"] == "CrashLoopBackOff"
    assert status["lastState"]["terminated"]["exitCode"] == 3


def ready_endpoints(cluster: KubeletClusterForTest, ns: str, service: str) -> list[bool]:
    slices = cluster.json("-n", ns, "get", "endpointslices", "-l", f"kubernetes.io/service-name={service}")
    return [bool((e.get("conditions") or {}).get("ready")) for s in slices["items"] for e in s.get("endpoints") or []]


def test_a_failing_readiness_probe_takes_the_pod_out_of_its_service_endpoints_and_back(
        kubelet_cluster: KubeletClusterForTest) -> None:
    ns = namespace_of(kubelet_cluster, "node-ready")
    probe = {"exec": {"command": ["cat", "/tmp/ready"]}, "periodSeconds": 1, "failureThreshold": 1}
    kubelet_cluster.apply(ns, pod("backend", f"touch /tmp/ready; {IDLE}", readinessProbe=probe))
    kubelet_cluster.apply(ns, {"apiVersion": "v1", "kind": "Service", "metadata": {"name": "backend"},
                               "spec": {"selector": {"app": "backend"}, "ports": [{"port": 80}]}})
    kubelet_cluster.wait_ready(ns, "backend")
    poll(lambda: ready_endpoints(kubelet_cluster, ns, "backend") == [True], 30, what="a ready endpoint")

    kubelet_cluster.ok("-n", ns, "exec", "backend", "--", "rm", "/tmp/ready")
    poll(lambda: ready_endpoints(kubelet_cluster, ns, "backend") == [False], 30, what="the endpoint not ready")
    assert columns(kubelet_cluster, ns, "backend")["READY"] == "0/1"

    kubelet_cluster.ok("-n", ns, "exec", "backend", "--", "touch", "/tmp/ready")
    poll(lambda: ready_endpoints(kubelet_cluster, ns, "backend") == [True], 30, what="the endpoint ready again")
