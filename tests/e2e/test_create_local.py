"""The main job, end to end: the README's `make create` on stacks/local.yaml (3 control-plane machines,
2 workers and the load balancer), judged by the real kubectl and the official Python client.

One cluster serves the whole module (creating it is the expensive part); the HA test powers a
control-plane machine off and on again, so it runs after the tests that need every machine up.
"""

from __future__ import annotations

import os
import socket
import threading
import time
import uuid
from collections.abc import Iterator
from dataclasses import dataclass, field

import pytest
from kubernetes.client import ApiClient as K8sApiClient
from kubernetes.client import Configuration, CoreV1Api
from kubernetes.client.exceptions import ApiException
from kubernetes.config import load_kube_config
from urllib3.exceptions import HTTPError

from kubeprov.providers.sshkeys import run
from tests.e2e.created import REPO, CreatedCluster, eventually, leaves_nothing_behind, make_create, ready_nodes

pytestmark = pytest.mark.e2e

CONTROL_PLANE = ["local-cp-1", "local-cp-2", "local-cp-3"]
WORKERS = ["local-workers-1", "local-workers-2"]
MACHINES = [*CONTROL_PLANE, *WORKERS, "local-lb"]


@pytest.fixture(scope="module")
def cluster(tmp_path_factory: pytest.TempPathFactory) -> Iterator[CreatedCluster]:
    if os.geteuid() != 0:
        pytest.skip("local machines need root (bridge, mounts, systemd-nspawn)")
    created = CreatedCluster(REPO / "stacks" / "local.yaml", tmp_path_factory.mktemp("local-state"), "local")
    try:
        make_create(created)
        yield created
    finally:
        created.kubeprov("destroy", "--yes", check=False, timeout=600)
        left = leaves_nothing_behind(created.state_dir, "kp-local", MACHINES)
        assert not left, f"destroy left behind: {left}"


def test_the_readme_command_ends_with_five_ready_nodes_three_of_them_control_plane(cluster: CreatedCluster) -> None:
    assert "kubectl --kubeconfig" in cluster.create_output
    nodes = cluster.kubectl_json("get", "nodes")["items"]
    assert ready_nodes(cluster) == set(CONTROL_PLANE + WORKERS)
    control = {n["metadata"]["name"] for n in nodes
               if "node-role.kubernetes.io/control-plane" in n["metadata"]["labels"]}
    assert control == set(CONTROL_PLANE)
    tainted = {n["metadata"]["name"] for n in nodes
               if any(t["key"] == "node-role.kubernetes.io/control-plane" for t in n["spec"].get("taints", []))}
    assert tainted == set(CONTROL_PLANE)


def test_every_component_runs_and_etcd_has_three_healthy_members(cluster: CreatedCluster) -> None:
    status = cluster.status()
    assert not status["problems"]
    inactive = {m["name"]: {u: s for u, s in m["units"].items() if s != "active"} for m in status["machines"]}
    assert {name: units for name, units in inactive.items() if units} == {}
    expected = {"kubeprov-etcd.service", "kubeprov-apiserver.service", "kubeprov-scheduler.service",
                "kubeprov-controller-manager.service", "kubeprov-kubelet.service", "kubeprov-proxy.service",
                "kubeprov-dns.service"}
    for machine in status["machines"]:
        if machine["role"] == "control-plane":
            assert expected <= set(machine["units"]), machine
    assert [m["healthy"] for m in status["etcd"]] == [True, True, True]
    assert sum(m["leader"] for m in status["etcd"]) == 1
    assert all(p["ok"] for p in status["apiservers"])
    componentstatuses = cluster.kubectl("get", "--raw", "/readyz?verbose")
    assert "readyz check passed" in componentstatuses


WEB = """
apiVersion: apps/v1
kind: Deployment
metadata: {name: web, namespace: demo}
spec:
  replicas: 3
  selector: {matchLabels: {app: web}}
  template:
    metadata: {labels: {app: web}}
    spec:
      topologySpreadConstraints:
        # the tainted control-plane nodes are no domain of this spread (nodeTaintsPolicy: Honor)
        - {maxSkew: 1, topologyKey: kubernetes.io/hostname, whenUnsatisfiable: DoNotSchedule, nodeTaintsPolicy: Honor,
           labelSelector: {matchLabels: {app: web}}}
      containers:
        - name: web
          image: registry.local/web:1
          ports: [{containerPort: 8080}]
          readinessProbe: {tcpSocket: {port: 8080}, periodSeconds: 2}
---
apiVersion: v1
kind: Service
metadata: {name: web, namespace: demo}
spec:
  type: NodePort
  selector: {app: web}
  ports: [{port: 80, targetPort: 8080}]
---
apiVersion: v1
kind: Pod
metadata: {name: client, namespace: demo}
spec:
  containers: [{name: c, image: "registry.local/busybox:1", command: [sleep, "3600"]}]
"""


def http_get(address: str, port: int) -> str:
    with socket.create_connection((address, port), timeout=5) as sock:
        sock.sendall(b"GET / HTTP/1.0\r\nHost: web\r\n\r\n")
        reply = b""
        while chunk := sock.recv(4096):
            reply += chunk
    return reply.decode(errors="replace")


def test_a_web_deployment_spreads_over_both_workers_and_its_service_answers_by_name_and_node_port(
        cluster: CreatedCluster) -> None:
    cluster.kubectl("create", "namespace", "demo")
    cluster.kubectl("apply", "-f", "-", stdin=WEB)
    cluster.kubectl("-n", "demo", "rollout", "status", "deployment/web", "--timeout=180s", timeout=200)
    cluster.kubectl("-n", "demo", "wait", "--for=condition=Ready", "pod/client", "--timeout=120s", timeout=130)
    pods = cluster.kubectl_json("-n", "demo", "get", "pods", "-l", "app=web")["items"]
    assert {p["spec"]["nodeName"] for p in pods} == set(WORKERS)
    # from a pod, by the Service's DNS name (cluster DNS, then the proxy's ClusterIP rules)
    page = cluster.kubectl("-n", "demo", "exec", "client", "--", "sh", "-c",
                           'printf "GET / HTTP/1.0\\r\\n\\r\\n" | nc web.demo.svc.cluster.local 80')
    assert "web version 1 pod web-" in page
    # from this host, through a NodePort on every worker
    port = cluster.kubectl_json("-n", "demo", "get", "service", "web")["spec"]["ports"][0]["nodePort"]
    addresses = {n["metadata"]["name"]: n["status"]["addresses"][0]["address"]
                 for n in cluster.kubectl_json("get", "nodes")["items"]}
    for worker in WORKERS:
        assert "web version 1 pod web-" in http_get(addresses[worker], port)


def test_running_create_again_on_the_finished_cluster_changes_nothing(cluster: CreatedCluster) -> None:
    output = cluster.kubeprov("create")
    assert "create: 15 phases, 0 changed" in output, output[-3000:]


@dataclass
class Writer:
    """Writes a ConfigMap through the load balancer every 100 ms and records what was acknowledged."""

    api: CoreV1Api
    namespace: str
    acknowledged: list[str] = field(default_factory=list)
    successes: list[float] = field(default_factory=list)
    errors: int = 0
    stop: threading.Event = field(default_factory=threading.Event)

    def run(self) -> None:
        while not self.stop.is_set():
            name = f"w-{uuid.uuid4().hex[:10]}"
            body = {"metadata": {"name": name}, "data": {"at": str(time.time())}}
            try:
                self.api.create_namespaced_config_map(self.namespace, body, _request_timeout=3)
                self.acknowledged.append(name)
                self.successes.append(time.monotonic())
            except (ApiException, HTTPError, OSError):
                self.errors += 1
            self.stop.wait(0.1)

    def longest_gap(self) -> float:
        return max((b - a for a, b in zip(self.successes, self.successes[1:], strict=False)), default=0.0)


def lease_holder(cluster: CreatedCluster, name: str) -> str:
    lease = cluster.kubectl_json("-n", "kube-system", "get", "lease", name)
    return lease["spec"].get("holderIdentity", "").split("_")[0]


def gather_leaders_on(cluster: CreatedCluster, victim: str) -> None:
    """Make ``victim`` lead the controller managers too: stop the others (a graceful stop releases the
    Lease), wait for the victim's to take over, start them again as standbys."""
    if lease_holder(cluster, "kube-controller-manager") == victim:
        return
    machines = {m["name"]: m for m in cluster.status()["machines"]}
    key = cluster.state_dir / "ssh" / "id_ed25519"
    others = [name for name in CONTROL_PLANE if name != victim]
    for name in others:
        status, out = run(machines[name]["address"], key, "systemctl stop kubeprov-controller-manager")
        assert status == 0, out
    try:
        assert eventually(lambda: lease_holder(cluster, "kube-controller-manager") == victim, 90)
    finally:
        for name in others:
            run(machines[name]["address"], key, "systemctl start kubeprov-controller-manager")


def test_powering_off_a_control_plane_machine_keeps_the_api_up_and_leaders_fail_over(
        cluster: CreatedCluster) -> None:
    victim = lease_holder(cluster, "kube-scheduler")
    assert victim in CONTROL_PLANE
    gather_leaders_on(cluster, victim)
    namespace = f"writes-{uuid.uuid4().hex[:6]}"
    cluster.kubectl("create", "namespace", namespace)
    configuration = Configuration()
    load_kube_config(config_file=str(cluster.kubeconfig), client_configuration=configuration)
    client = K8sApiClient(configuration)
    # a new connection per write, as separate kubectl runs make: one kept-alive connection would stay on
    # one apiserver behind the balancer and never meet the powered-off one
    client.set_default_header("Connection", "close")
    writer = Writer(CoreV1Api(client), namespace)
    thread = threading.Thread(target=writer.run, daemon=True)
    thread.start()
    time.sleep(3)
    provider = cluster.provider()
    provider.power_off(victim, lambda line: None)
    try:
        assert eventually(lambda: lease_holder(cluster, "kube-scheduler") not in ("", victim), 90)
        assert eventually(lambda: lease_holder(cluster, "kube-controller-manager") not in ("", victim), 90)
        time.sleep(10)
    finally:
        writer.stop.set()
        thread.join(10)
    gap = writer.longest_gap()
    print(f"\nHA: {victim} powered off; {len(writer.acknowledged)} writes acknowledged, {writer.errors} failed, "
          f"longest gap between acknowledged writes {gap:.2f} s")
    assert len(writer.acknowledged) > 50
    assert gap < 30, f"the API was unavailable for {gap:.1f} s"
    stored = {c["metadata"]["name"] for c in cluster.kubectl_json("-n", namespace, "get", "configmaps")["items"]}
    lost = [name for name in writer.acknowledged if name not in stored]
    assert lost == []
    provider.power_on(victim, lambda line: None)
    assert eventually(lambda: victim in ready_nodes(cluster), 240, 3)

    def healthy() -> bool:
        status = cluster.status()
        return all(m["healthy"] for m in status["etcd"]) and all(p["ok"] for p in status["apiservers"])

    assert eventually(healthy, 180, 3)
