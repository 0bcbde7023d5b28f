"""Hollow nodes against our API server: registration, heartbeats, pod lifecycles, deletion, scale."""

from __future__ import annotations

import asyncio
import time
import uuid
from collections.abc import AsyncIterator

import pytest

from kubeprov.api.client import ApiClient
from kubeprov.api.status import StatusError
from kubeprov.hollow import (
    DEAD_ANNOTATION,
    EXIT_CODE_ANNOTATION,
    FAIL_ANNOTATION,
    RUN_SECONDS_ANNOTATION,
    HollowFleet,
    HollowNodeSpec,
)
from tests.integration.apiserver_fixture import ApiServerForTest

pytestmark = [pytest.mark.integration, pytest.mark.timeout(60)]

LEASES = "coordination.k8s.io/v1"


@pytest.fixture
async def client(apiserver: ApiServerForTest) -> AsyncIterator[ApiClient]:
    async with ApiClient.from_kubeconfig(apiserver.kubeconfig, user_agent="kubeprov-hollow-test") as c:
        yield c


@pytest.fixture
async def namespace(apiserver: ApiServerForTest, client: ApiClient) -> str:
    ns = apiserver.namespace("hollow")
    await client.create("v1", "serviceaccounts", {"metadata": {"name": "default"}}, ns)
    return ns


def names(count: int = 1) -> list[str]:
    tag = uuid.uuid4().hex[:6]
    return [f"hollow-{tag}-{i}" for i in range(count)]


@pytest.fixture
async def fleet(client: ApiClient) -> AsyncIterator[HollowFleet]:
    fleet = HollowFleet(client, [HollowNodeSpec(n, zone="zone-a") for n in names(2)], lease_interval=0.3,
                        status_interval=1.0, restart_backoff=0.0, stop_delay=0.2)
    await fleet.start()
    yield fleet
    await fleet.stop(delete_nodes=True)


async def until(check, timeout: float = 15.0, interval: float = 0.1):
    """Call ``check`` (async) until it returns something truthy; return that."""
    async with asyncio.timeout(timeout):
        while True:
            result = await check()
            if result:
                return result
            await asyncio.sleep(interval)


def pod(name: str, *, annotations: dict | None = None, restart_policy: str = "Always", command: list | None = None,
        ready_delay: int | None = None, grace: int | None = None) -> dict:
    container: dict = {"name": "main", "image": "nginx:1.27"}
    if command:
        container["command"] = command
    if ready_delay is not None:
        container["readinessProbe"] = {"initialDelaySeconds": ready_delay, "tcpSocket": {"port": 80}}
    spec: dict = {"containers": [container], "restartPolicy": restart_policy}
    if grace is not None:
        spec["terminationGracePeriodSeconds"] = grace
    return {"apiVersion": "v1", "kind": "Pod", "metadata": {"name": name, "annotations": annotations or {}},
            "spec": spec}


async def run_pod(client: ApiClient, ns: str, node: str, manifest: dict) -> str:
    name = manifest["metadata"]["name"]
    await client.create("v1", "pods", manifest, ns)
    await client.create("v1", "pods", {"apiVersion": "v1", "kind": "Binding", "metadata": {"name": name},
                                       "target": {"apiVersion": "v1", "kind": "Node", "name": node}},
                        ns, name=name, subresource="binding")
    return name


def condition(obj: dict, kind: str) -> dict:
    return next((c for c in (obj.get("status") or {}).get("conditions") or [] if c.get("type") == kind), {})


async def test_nodes_register_ready_with_capacity_and_a_lease(client, fleet):
    name = fleet.nodes[0].name
    node = await client.get("v1", "nodes", name)
    labels = node["metadata"]["labels"]
    assert labels["kubernetes.io/hostname"] == name
    assert labels["kubernetes.io/os"] == "linux" and labels["kubernetes.io/arch"] == "amd64"
    assert labels["topology.kubernetes.io/zone"] == "zone-a"
    status = node["status"]
    assert status["capacity"]["cpu"] == "4" and status["capacity"]["memory"] == "16Gi"
    assert status["allocatable"]["pods"] == "110"
    assert status["nodeInfo"]["kubeletVersion"] == "v1.32.0"
    assert status["nodeInfo"]["containerRuntimeVersion"] == "hollow://1.0"
    assert {a["type"] for a in status["addresses"]} == {"InternalIP", "Hostname"}
    ready = condition(node, "Ready")
    assert ready["status"] == "True" and ready["reason"] == "KubeletReady"
    assert ready["message"] == "kubelet is posting ready status"
    for kind in ("MemoryPressure", "DiskPressure", "PIDPressure"):
        assert condition(node, kind)["status"] == "False"
    assert status["daemonEndpoints"]["kubeletEndpoint"]["Port"] == 10250
    lease = await client.get(LEASES, "leases", name, "kube-node-lease")
    assert lease["spec"]["holderIdentity"] == name and lease["spec"]["leaseDurationSeconds"] == 40
    assert lease["metadata"]["ownerReferences"][0]["uid"] == node["metadata"]["uid"]
    ips = {fleet.node(n.name).internal_ip for n in fleet.nodes}
    assert len(ips) == 2


async def test_leases_renew_and_status_heartbeats_advance(client, fleet):
    name = fleet.nodes[1].name
    first = await client.get(LEASES, "leases", name, "kube-node-lease")
    beat = condition(await client.get("v1", "nodes", name), "Ready")["lastHeartbeatTime"]

    async def renewed():
        lease = await client.get(LEASES, "leases", name, "kube-node-lease")
        return lease["spec"]["renewTime"] > first["spec"]["renewTime"]

    await until(renewed, 5)

    async def beaten():
        return condition(await client.get("v1", "nodes", name), "Ready")["lastHeartbeatTime"] > beat

    await until(beaten, 5)


async def test_bound_pod_runs_then_becomes_ready(client, fleet, namespace):
    node = fleet.nodes[0]
    name = await run_pod(client, namespace, node.name, pod("web", ready_delay=1))

    async def running():
        p = await client.get("v1", "pods", name, namespace)
        return p if p["status"].get("phase") == "Running" else None

    p = await until(running)
    st = p["status"]
    assert st["podIP"].startswith(node.pod_cidr.rsplit(".", 1)[0] + ".")
    assert st["hostIP"] == node.internal_ip and st["startTime"]
    cs = st["containerStatuses"][0]
    assert cs["state"].get("running") and cs["restartCount"] == 0 and cs["image"] == "nginx:1.27"
    assert cs["containerID"].startswith("hollow://") and cs["imageID"]
    assert cs["ready"] is False and condition(p, "Ready")["status"] == "False"
    assert {c["type"] for c in st["conditions"]} >= {"PodReadyToStartContainers", "Initialized", "ContainersReady",
                                                      "Ready", "PodScheduled"}

    async def ready():
        p = await client.get("v1", "pods", name, namespace)
        return p if condition(p, "Ready").get("status") == "True" else None

    p = await until(ready)
    assert p["status"]["containerStatuses"][0]["ready"] is True
    assert p["status"]["podIP"] == st["podIP"]


async def phase_of(client: ApiClient, ns: str, name: str, *phases: str) -> dict | None:
    p = await client.get("v1", "pods", name, ns)
    return p if p["status"].get("phase") in phases else None


async def test_exit_annotations_and_commands_end_succeeded_or_failed(client, fleet, namespace):
    node = fleet.nodes[0].name
    ok = await run_pod(client, namespace, node, pod("ok", restart_policy="Never",
                                                    annotations={RUN_SECONDS_ANNOTATION: "0.5"}))
    bad = await run_pod(client, namespace, node, pod("bad", restart_policy="Never",
                                                     annotations={EXIT_CODE_ANNOTATION: "3"}))
    cmd = await run_pod(client, namespace, node, pod("cmd", restart_policy="OnFailure",
                                                     command=["sh", "-c", "exit 0"]))
    p = await until(lambda: phase_of(client, namespace, ok, "Succeeded", "Failed"))
    assert p["status"]["phase"] == "Succeeded"
    term = p["status"]["containerStatuses"][0]["state"]["terminated"]
    assert term["exitCode"] == 0 and term["reason"] == "Completed"
    p = await until(lambda: phase_of(client, namespace, bad, "Succeeded", "Failed"))
    assert p["status"]["phase"] == "Failed"
    assert p["status"]["containerStatuses"][0]["state"]["terminated"]["exitCode"] == 3
    assert condition(p, "Ready")["reason"] == "PodCompleted"
    p = await until(lambda: phase_of(client, namespace, cmd, "Succeeded", "Failed"))
    assert p["status"]["phase"] == "Succeeded"


async def test_restart_policy_always_restarts_and_fail_pod(client, fleet, namespace):
    node = fleet.nodes[1]
    crashy = await run_pod(client, namespace, node.name,
                           pod("crashy", annotations={EXIT_CODE_ANNOTATION: "1", RUN_SECONDS_ANNOTATION: "0.3"}))

    async def restarted():
        p = await client.get("v1", "pods", crashy, namespace)
        statuses = p["status"].get("containerStatuses") or [{}]
        return p if statuses[0].get("restartCount", 0) >= 2 else None

    p = await until(restarted)
    assert p["status"]["phase"] == "Running"
    assert p["status"]["containerStatuses"][0]["lastState"]["terminated"]["exitCode"] == 1

    steady = await run_pod(client, namespace, node.name, pod("steady", restart_policy="OnFailure"))
    await until(lambda: phase_of(client, namespace, steady, "Running"))

    async def known():
        return f"{namespace}/{steady}" in node.workers

    await until(known)
    node.fail_pod(namespace, steady, exit_code=2)

    async def recovered():
        p = await client.get("v1", "pods", steady, namespace)
        cs = p["status"]["containerStatuses"][0]
        return p if cs["restartCount"] == 1 and cs.get("state", {}).get("running") else None

    p = await until(recovered)
    assert p["status"]["containerStatuses"][0]["lastState"]["terminated"]["exitCode"] == 2
    with pytest.raises(LookupError):
        node.fail_pod(namespace, "no-such-pod")


async def test_graceful_delete_removes_the_pod_shortly(client, fleet, namespace):
    node = fleet.nodes[0].name
    name = await run_pod(client, namespace, node, pod("doomed", grace=30))
    await until(lambda: phase_of(client, namespace, name, "Running"))
    started = time.monotonic()
    await client.delete("v1", "pods", name, namespace)  # grace 30 s: the kubelet finishes it early

    async def gone():
        try:
            await client.get("v1", "pods", name, namespace)
        except StatusError as exc:
            return exc.code == 404
        return False

    await until(gone, 10)
    assert time.monotonic() - started < 10


async def test_die_stops_lease_renewal_and_revive_resumes(client, fleet):
    node = fleet.nodes[0]
    node.die()
    await asyncio.sleep(0.5)  # let an in-flight renewal land
    before = (await client.get(LEASES, "leases", node.name, "kube-node-lease"))["spec"]["renewTime"]
    await asyncio.sleep(1.2)
    after = (await client.get(LEASES, "leases", node.name, "kube-node-lease"))["spec"]["renewTime"]
    assert after == before
    node.revive()

    async def renewed():
        lease = await client.get(LEASES, "leases", node.name, "kube-node-lease")
        return lease["spec"]["renewTime"] > before

    await until(renewed, 5)


async def test_deleted_node_registers_again(client, fleet):
    node = fleet.nodes[1]
    old_uid = (await client.get("v1", "nodes", node.name))["metadata"]["uid"]
    await client.delete("v1", "nodes", node.name)

    async def back():
        try:
            obj = await client.get("v1", "nodes", node.name)
        except StatusError:
            return None
        return obj if obj["metadata"]["uid"] != old_uid else None

    obj = await until(back, 10)
    assert condition(obj, "Ready")["status"] == "True"


async def test_a_hundred_nodes_register_and_heartbeat_from_one_fleet(client):
    specs = [HollowNodeSpec(n, zone=f"zone-{i % 3}") for i, n in enumerate(names(100))]
    fleet = HollowFleet(client, specs, lease_interval=1.0, status_interval=5.0)
    started = time.monotonic()
    await fleet.start()
    try:
        took = time.monotonic() - started
        assert took < 15, took
        nodes, _ = await client.list_all("v1", "nodes")
        ours = {n["metadata"]["name"]: n for n in nodes if n["metadata"]["name"] in {s.name for s in specs}}
        assert len(ours) == 100
        assert all(condition(n, "Ready")["status"] == "True" for n in ours.values())
        leases, _ = await client.list_all(LEASES, "leases", "kube-node-lease")
        first = {item["metadata"]["name"]: item["spec"]["renewTime"] for item in leases}
        assert all(s.name in first for s in specs)
        await asyncio.sleep(2.0)
        leases, _ = await client.list_all(LEASES, "leases", "kube-node-lease")
        now = {item["metadata"]["name"]: item["spec"]["renewTime"] for item in leases}
        renewed = [s.name for s in specs if now[s.name] > first[s.name]]
        assert len(renewed) == 100, len(renewed)
        assert len({fleet.node(s.name).internal_ip for s in specs}) == 100
    finally:
        await fleet.stop(delete_nodes=True)


async def test_startup_delay_shows_pending_then_running(client, namespace):
    [name] = names()
    fleet = HollowFleet(client, [HollowNodeSpec(name)], lease_interval=1.0, startup_delay=1.0)
    await fleet.start()
    try:
        pod_name = await run_pod(client, namespace, name, pod("slow"))

        async def reported():
            p = await client.get("v1", "pods", pod_name, namespace)
            return p if p["status"].get("containerStatuses") else None

        p = await reported() or await until(reported)
        if p["status"]["phase"] == "Pending":
            waiting = p["status"]["containerStatuses"][0]["state"]["waiting"]
            assert waiting["reason"] == "ContainerCreating"
            assert p["status"]["hostIP"] == fleet.node(name).internal_ip
        await until(lambda: phase_of(client, namespace, pod_name, "Running"))
    finally:
        await fleet.stop(delete_nodes=True)


async def test_status_is_posted_again_when_the_api_says_unknown(client):
    [name] = names()
    fleet = HollowFleet(client, [HollowNodeSpec(name)], lease_interval=1.0, status_interval=60.0)
    await fleet.start()
    try:
        obj = await client.get("v1", "nodes", name)
        conditions = [dict(c, status="Unknown", reason="NodeStatusUnknown",
                           message="Kubelet stopped posting node status.") if c["type"] == "Ready" else c
                      for c in obj["status"]["conditions"]]
        await client.patch("v1", "nodes", name, {"status": {"conditions": conditions}}, subresource="status")

        async def ready_again():
            return condition(await client.get("v1", "nodes", name), "Ready")["status"] == "True"

        await until(ready_again, 5)  # long before the 60 s status interval
    finally:
        await fleet.stop(delete_nodes=True)


async def test_pod_ips_are_unique_and_from_each_nodes_cidr(client, fleet, namespace):
    placed = {}
    for i, node in enumerate([fleet.nodes[0]] * 3 + [fleet.nodes[1]]):
        placed[await run_pod(client, namespace, node.name, pod(f"p{i}"))] = node
    ips = {}
    for name, node in placed.items():
        p = await until(lambda name=name: phase_of(client, namespace, name, "Running"))
        ips[name] = p["status"]["podIP"]
        assert p["status"]["podIPs"] == [{"ip": ips[name]}]
        assert ips[name].rsplit(".", 1)[0] == node.pod_cidr.rsplit(".", 1)[0]
    assert len(set(ips.values())) == 4


async def test_admission_rejects_pods_that_do_not_fit(client, namespace):
    [name] = names()
    fleet = HollowFleet(client, [HollowNodeSpec(name, cpu="1", pods=1)], lease_interval=1.0)
    await fleet.start()
    try:
        big = pod("big")
        big["spec"]["containers"][0]["resources"] = {"requests": {"cpu": "2"}}
        await run_pod(client, namespace, name, big)
        p = await until(lambda: phase_of(client, namespace, "big", "Failed"))
        assert p["status"]["reason"] == "OutOfcpu"
        assert "requested: 2000, used: 0, capacity: 1000" in p["status"]["message"]
        await run_pod(client, namespace, name, pod("first"))
        await until(lambda: phase_of(client, namespace, "first", "Running"))
        await run_pod(client, namespace, name, pod("second"))
        p = await until(lambda: phase_of(client, namespace, "second", "Failed"))
        assert p["status"]["reason"] == "OutOfpods"
    finally:
        await fleet.stop(delete_nodes=True)


async def test_dead_annotation_stops_heartbeats_and_removing_it_revives(client, fleet):
    node = fleet.nodes[1]
    await client.patch("v1", "nodes", node.name, {"metadata": {"annotations": {DEAD_ANNOTATION: "true"}}})
    await until(lambda: asyncio.sleep(0, result=not node.alive))
    await asyncio.sleep(0.5)  # let an in-flight renewal land
    before = (await client.get(LEASES, "leases", node.name, "kube-node-lease"))["spec"]["renewTime"]
    await asyncio.sleep(1.2)
    assert (await client.get(LEASES, "leases", node.name, "kube-node-lease"))["spec"]["renewTime"] == before
    await client.patch("v1", "nodes", node.name, {"metadata": {"annotations": {DEAD_ANNOTATION: None}}})

    async def renewed():
        lease = await client.get(LEASES, "leases", node.name, "kube-node-lease")
        return lease["spec"]["renewTime"] > before

    await until(renewed, 5)


async def test_dead_annotation_freezes_the_nodes_pods(client, fleet, namespace):
    node = fleet.nodes[0]
    await client.patch("v1", "nodes", node.name, {"metadata": {"annotations": {DEAD_ANNOTATION: "true"}}})
    try:
        await until(lambda: asyncio.sleep(0, result=not node.alive))
        name = await run_pod(client, namespace, node.name, pod("frozen"))
        await asyncio.sleep(1.0)
        assert (await client.get("v1", "pods", name, namespace)).get("status", {}).get("phase") == "Pending"
    finally:
        await client.patch("v1", "nodes", node.name, {"metadata": {"annotations": {DEAD_ANNOTATION: None}}})
    await until(lambda: phase_of(client, namespace, name, "Running"))


async def test_fail_annotation_makes_containers_exit_with_its_code(client, fleet, namespace):
    node = fleet.nodes[0]
    name = await run_pod(client, namespace, node.name, pod("failing", restart_policy="Never"))
    await until(lambda: phase_of(client, namespace, name, "Running"))
    await client.patch("v1", "pods", name, {"metadata": {"annotations": {FAIL_ANNOTATION: "3"}}}, namespace)
    await until(lambda: phase_of(client, namespace, name, "Failed"))
    p = await client.get("v1", "pods", name, namespace)
    assert p["status"]["containerStatuses"][0]["state"]["terminated"]["exitCode"] == 3


async def test_revived_node_restores_pod_readiness_changed_while_it_was_dead(client, fleet, namespace):
    node = fleet.nodes[1]
    name = await run_pod(client, namespace, node.name, pod("steady"))

    async def ready():
        p = await client.get("v1", "pods", name, namespace)
        return p if condition(p, "Ready").get("status") == "True" else None

    p = await until(ready)
    await client.patch("v1", "nodes", node.name, {"metadata": {"annotations": {DEAD_ANNOTATION: "true"}}})
    await until(lambda: asyncio.sleep(0, result=not node.alive))
    for c in p["status"]["conditions"]:  # what the node lifecycle controller does to a dead node's pods
        if c["type"] == "Ready":
            c["status"] = "False"
    await client.update("v1", "pods", p, namespace, subresource="status")
    await client.patch("v1", "nodes", node.name, {"metadata": {"annotations": {DEAD_ANNOTATION: None}}})
    await until(ready)
