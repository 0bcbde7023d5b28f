"""A StatefulSet with a headless Service and a volumeClaimTemplate on `kubeprov dev up --hollow-nodes 5`,
judged by the real kubectl only: ordered creation (seen through `kubectl get -w`), rollout status, claims
bound to volumes of the default StorageClass, rollout history and an image update."""

from __future__ import annotations

import json
import os
import subprocess
import threading
from collections.abc import Iterator
from typing import Any

import pytest
import yaml

from tests.integration.dev_cluster import DevClusterForTest, poll

pytestmark = [pytest.mark.integration, pytest.mark.timeout(240)]


def manifests(ready_delay: int) -> str:
    service = {"apiVersion": "v1", "kind": "Service", "metadata": {"name": "web", "labels": {"app": "web"}},
               "spec": {"clusterIP": "None", "selector": {"app": "web"}, "ports": [{"name": "http", "port": 80}]}}
    container = {"name": "nginx", "image": "nginx:1.26", "ports": [{"name": "http", "containerPort": 80}],
                 "readinessProbe": {"httpGet": {"path": "/", "port": 80}, "initialDelaySeconds": ready_delay},
                 "volumeMounts": [{"name": "www", "mountPath": "/usr/share/nginx/html"}]}
    sts = {"apiVersion": "apps/v1", "kind": "StatefulSet", "metadata": {"name": "web"},
           "spec": {"serviceName": "web", "replicas": 3, "selector": {"matchLabels": {"app": "web"}},
                    "template": {"metadata": {"labels": {"app": "web"}},
                                 "spec": {"terminationGracePeriodSeconds": 0, "containers": [container]}},
                    "volumeClaimTemplates": [{"metadata": {"name": "www"}, "spec": {
                        "accessModes": ["ReadWriteOnce"], "resources": {"requests": {"storage": "1Gi"}}}}]}}
    return yaml.safe_dump_all([service, sts])


class PodWatch:
    """`kubectl get pods -w --output-watch-events -o json` in the background; the events in order."""

    def __init__(self, cluster: DevClusterForTest, ns: str) -> None:
        env = {k: v for k, v in os.environ.items() if k != "KUBECONFIG"}
        env["HOME"] = str(cluster.home)
        self.proc = subprocess.Popen(
            ["kubectl", "--kubeconfig", str(cluster.kubeconfig), "-n", ns, "get", "pods", "-l", "app=web", "-w",
             "--output-watch-events", "-o", "json"], stdout=subprocess.PIPE, stderr=subprocess.DEVNULL, text=True,
            env=env)
        # read as it comes: a full pipe would block kubectl and lose the events after it
        self.chunks: list[str] = []
        self.reader = threading.Thread(target=self._read, daemon=True)
        self.reader.start()

    def _read(self) -> None:
        assert self.proc.stdout is not None
        for line in self.proc.stdout:
            self.chunks.append(line)

    def stop(self) -> list[dict[str, Any]]:
        self.proc.terminate()
        self.proc.wait(timeout=30)
        self.reader.join(timeout=30)
        out = "".join(self.chunks)
        decoder, events, pos = json.JSONDecoder(), [], 0
        while True:
            while pos < len(out) and out[pos].isspace():
                pos += 1
            if pos >= len(out):
                return events
            event, pos = decoder.raw_decode(out, pos)
            events.append(event)


def ready(pod: dict[str, Any]) -> bool:
    status = pod.get("status") or {}
    return status.get("phase") == "Running" and any(
        c.get("type") == "Ready" and c.get("status") == "True" for c in status.get("conditions") or [])


@pytest.fixture
def ns(dev_cluster: DevClusterForTest) -> Iterator[str]:
    name = dev_cluster.namespace("sts")
    yield name
    dev_cluster.kubectl("delete", "namespace", name, "--wait=false")


def test_statefulset_web_rolls_out_in_order_with_bound_claims(dev_cluster: DevClusterForTest, ns: str):
    watch = PodWatch(dev_cluster, ns)
    try:
        dev_cluster.apply(ns, manifests(ready_delay=2))
        out = dev_cluster.ok("-n", ns, "rollout", "status", "statefulset/web", "--timeout=150s", timeout=180)
        assert "roll out complete: 3 new pods have been updated" in out, out
    finally:
        events = watch.stop()

    # every pod appears only once its predecessor was seen Running and Ready
    latest: dict[str, dict[str, Any]] = {}
    created: list[str] = []
    for event in events:
        pod = event["object"]
        name = pod["metadata"]["name"]
        if event["type"] == "ADDED" and name not in latest:
            ordinal = int(name.rsplit("-", 1)[1])
            if ordinal > 0:
                before = latest.get(f"web-{ordinal - 1}")
                assert before is not None and ready(before), f"{name} was created before web-{ordinal - 1} was Ready"
            created.append(name)
        latest[name] = pod
    assert created == ["web-0", "web-1", "web-2"]

    pods = {p["metadata"]["name"]: p for p in dev_cluster.json("-n", ns, "get", "pods", "-l", "app=web")["items"]}
    assert sorted(pods) == ["web-0", "web-1", "web-2"]
    for i in range(1, 3):
        previous_ready = next(c["lastTransitionTime"] for c in pods[f"web-{i - 1}"]["status"]["conditions"]
                              if c["type"] == "Ready")
        assert pods[f"web-{i}"]["metadata"]["creationTimestamp"] >= previous_ready
    assert pods["web-2"]["spec"]["hostname"] == "web-2" and pods["web-2"]["spec"]["subdomain"] == "web"

    claims = dev_cluster.json("-n", ns, "get", "pvc")["items"]
    assert sorted(c["metadata"]["name"] for c in claims) == ["www-web-0", "www-web-1", "www-web-2"]
    assert all(c["status"]["phase"] == "Bound" and c["spec"]["storageClassName"] == "standard" for c in claims)
    table = dev_cluster.ok("-n", ns, "get", "pvc")
    assert table.count("Bound") == 3, table
    classes = dev_cluster.ok("get", "storageclass", "standard")
    assert "(default)" in classes and "kubeprov.dev/hostpath" in classes, classes
    volume = dev_cluster.json("get", "pv", claims[0]["spec"]["volumeName"])
    assert volume["spec"]["hostPath"]["path"] == f"/var/lib/kubeprov/volumes/{volume['metadata']['name']}"

    history = dev_cluster.ok("-n", ns, "rollout", "history", "statefulset/web")
    assert [line.split()[0] for line in history.splitlines()[2:] if line.strip()] == ["1"], history
    dev_cluster.ok("-n", ns, "set", "image", "statefulset/web", "nginx=nginx:1.27")
    dev_cluster.ok("-n", ns, "rollout", "status", "statefulset/web", "--timeout=150s", timeout=180)
    images = dev_cluster.ok("-n", ns, "get", "pods", "-l", "app=web", "-o",
                            "jsonpath={range .items[*]}{.spec.containers[0].image}{'\\n'}{end}")
    assert images.split() == ["nginx:1.27"] * 3, images
    history = dev_cluster.ok("-n", ns, "rollout", "history", "statefulset/web")
    assert [line.split()[0] for line in history.splitlines()[2:] if line.strip()] == ["1", "2"], history
    status = dev_cluster.json("-n", ns, "get", "statefulset", "web")["status"]
    assert status["currentRevision"] == status["updateRevision"]
    assert (status["replicas"], status["readyReplicas"], status["updatedReplicas"]) == (3, 3, 3)


def test_static_volume_binds_releases_and_unmatched_claim_reports(dev_cluster: DevClusterForTest, ns: str):
    pv_name = f"static-{ns}"
    volume = {"apiVersion": "v1", "kind": "PersistentVolume", "metadata": {"name": pv_name},
              "spec": {"capacity": {"storage": "2Gi"}, "accessModes": ["ReadWriteOnce"], "storageClassName": "",
                       "persistentVolumeReclaimPolicy": "Retain", "hostPath": {"path": f"/tmp/{pv_name}"}}}
    dev_cluster.apply(ns, volume)
    try:
        assert poll(lambda: dev_cluster.json("get", "pv", pv_name)["status"]["phase"] == "Available")
        claim = {"apiVersion": "v1", "kind": "PersistentVolumeClaim", "metadata": {"name": "mine"},
                 "spec": {"accessModes": ["ReadWriteOnce"], "storageClassName": "",
                          "resources": {"requests": {"storage": "1Gi"}}}}
        dev_cluster.apply(ns, claim)
        assert poll(lambda: dev_cluster.json("-n", ns, "get", "pvc", "mine")["status"]["phase"] == "Bound")
        assert dev_cluster.json("-n", ns, "get", "pvc", "mine")["spec"]["volumeName"] == pv_name
        too_big = {**claim, "metadata": {"name": "huge"},
                   "spec": {**claim["spec"], "resources": {"requests": {"storage": "100Gi"}}}}
        dev_cluster.apply(ns, too_big)
        assert poll(lambda: "no persistent volumes available for this claim and no storage class is set" in
                    dev_cluster.ok("-n", ns, "describe", "pvc", "huge"))
        assert dev_cluster.json("-n", ns, "get", "pvc", "huge")["status"]["phase"] == "Pending"
        dev_cluster.ok("-n", ns, "delete", "pvc", "mine")
        assert poll(lambda: dev_cluster.json("get", "pv", pv_name)["status"]["phase"] == "Released")
    finally:
        dev_cluster.kubectl("delete", "pv", pv_name, "--wait=false")
