"""The scheduler component against our API server: binding, FailedScheduling, retries, leader election.

Each test uses a scheduler name of its own (so it never schedules another test's pods) and labels its
nodes uniquely (so its pods only fit its own nodes); nodes are deleted at the end of each test.
"""

from __future__ import annotations

import asyncio
import json
import re
import signal
import sys
import uuid
from collections import Counter
from collections.abc import AsyncIterator, Callable

import aiohttp
import pytest
import yaml

from kubeprov.api.client import ApiClient
from kubeprov.api.status import StatusError
from kubeprov.etcd.local import free_port
from kubeprov.scheduler.config import SchedulerConfig
from kubeprov.scheduler.queue import SchedulingQueue
from kubeprov.scheduler.service import Scheduler
from tests.integration.apiserver_fixture import ApiServerForTest

pytestmark = [pytest.mark.integration, pytest.mark.timeout(60)]


class Env:
    """A namespace with its default service account, a scheduler name and a node label of its own."""

    def __init__(self, client: ApiClient) -> None:
        self.client = client
        tag = uuid.uuid4().hex[:8]
        self.ns = f"sched-{tag}"
        self.scheduler_name = f"test-sched-{tag}"
        self.label = {"test.kubeprov.io/pool": tag}
        self.nodes: list[str] = []
        self.schedulers: list[Scheduler] = []

    async def setup(self) -> None:
        await self.client.create("v1", "namespaces", {"apiVersion": "v1", "kind": "Namespace",
                                                      "metadata": {"name": self.ns}})
        await self.client.create("v1", "serviceaccounts", {"apiVersion": "v1", "kind": "ServiceAccount",
                                                           "metadata": {"name": "default"}}, self.ns)

    async def cleanup(self) -> None:
        for s in self.schedulers:
            await s.stop()
        for name in self.nodes:
            try:
                await self.client.delete("v1", "nodes", name)
            except StatusError:
                pass
        await self.client.delete("v1", "namespaces", self.ns)

    def config(self, **overrides: object) -> SchedulerConfig:
        values: dict = {"scheduler_name": self.scheduler_name, "leader_elect": False, "health_port": 0}
        values.update(overrides)
        return SchedulerConfig(**values)

    async def scheduler(self, **overrides: object) -> Scheduler:
        s = Scheduler(self.config(**overrides), client=self.client)
        self.schedulers.append(s)
        await s.start()
        return s

    async def node(self, suffix: str, cpu: str = "2", memory: str = "4Gi", pods: str = "110",
                   unschedulable: bool = False) -> str:
        name = f"{self.ns}-{suffix}"
        node = {
            "apiVersion": "v1", "kind": "Node",
            "metadata": {"name": name, "labels": {**self.label, "kubernetes.io/hostname": name}},
            "spec": {"unschedulable": True} if unschedulable else {},
            "status": {
                "capacity": {"cpu": cpu, "memory": memory, "pods": pods},
                "allocatable": {"cpu": cpu, "memory": memory, "pods": pods},
                "conditions": [{"type": "Ready", "status": "True", "reason": "KubeletReady",
                                "message": "kubelet is posting ready status"}],
            },
        }
        created = await self.client.create("v1", "nodes", node)
        self.nodes.append(name)
        if not (created.get("status") or {}).get("allocatable"):
            await self.client.update("v1", "nodes", {**created, "status": node["status"]}, subresource="status")
        return name

    async def pod(self, name: str, cpu: str = "100m", memory: str = "64Mi") -> dict:
        pod = {
            "apiVersion": "v1", "kind": "Pod", "metadata": {"name": name},
            "spec": {
                "schedulerName": self.scheduler_name,
                "nodeSelector": dict(self.label),
                "containers": [{"name": "c", "image": "busybox",
                                "resources": {"requests": {"cpu": cpu, "memory": memory}}}],
            },
        }
        return await self.client.create("v1", "pods", pod, self.ns)

    async def node_of(self, pod: str) -> str:
        obj = await self.client.get("v1", "pods", pod, self.ns)
        return (obj.get("spec") or {}).get("nodeName") or ""

    async def events(self, pod: str, reason: str) -> list[dict]:
        items, _ = await self.client.list_all("v1", "events", self.ns,
                                              field_selector=f"involvedObject.name={pod}")
        return [e for e in items if e.get("reason") == reason]


@pytest.fixture
async def env(client: ApiClient) -> AsyncIterator[Env]:
    e = Env(client)
    await e.setup()
    try:
        yield e
    finally:
        await e.cleanup()


async def until(predicate: Callable[[], object], timeout: float = 10.0, interval: float = 0.05) -> None:
    async with asyncio.timeout(timeout):
        while True:
            result = predicate()
            if asyncio.iscoroutine(result):
                result = await result
            if result:
                return
            await asyncio.sleep(interval)


# ---------------------------------------------------------------------------- the queue alone


async def test_queue_orders_by_priority_then_time_and_backs_off():
    now = [100.0]
    q = SchedulingQueue(clock=lambda: now[0])
    q.add("ns/low", 0)
    now[0] += 1
    q.add("ns/high", 1000)
    now[0] += 1
    q.add("ns/low2", 0)
    order = [(await q.pop()).key for _ in range(3)]
    assert order == ["ns/high", "ns/low", "ns/low2"]
    assert q.backoff_duration(1) == 1.0 and q.backoff_duration(2) == 2.0 and q.backoff_duration(5) == 10.0
    assert q.backoff_duration(9) == 10.0


async def test_queue_parks_unschedulable_pods_until_the_cluster_changes():
    q = SchedulingQueue(initial_backoff=0.05)
    q.add("ns/a")
    info = await q.pop()
    q.add_unschedulable(info)
    assert q.pending() == {"active": 0, "backoff": 0, "unschedulable": 1}
    with pytest.raises(TimeoutError):
        await asyncio.wait_for(q.pop(), 0.2)
    q.move_all_to_active()
    again = await asyncio.wait_for(q.pop(), 1.0)
    assert again.key == "ns/a" and again.attempts == 2
    # a cluster change during the cycle sends the pod to backoff instead of parking it
    q.move_all_to_active()
    q.add_unschedulable(again)
    assert q.pending()["backoff"] == 1
    third = await asyncio.wait_for(q.pop(), 1.0)
    assert third.attempts == 3
    q.done(third)
    assert len(q) == 0 and "ns/a" not in q


async def test_queue_moves_only_pods_a_change_can_help():
    q = SchedulingQueue(initial_backoff=0.01)
    q.add("ns/affinity")
    q.add("ns/cpu")
    first, second = await q.pop(), await q.pop()
    assert {first.key, second.key} == {"ns/affinity", "ns/cpu"}
    # a pod bound elsewhere (an affinity-only change) while the cpu pod is still in flight
    q.add_unschedulable(first if first.key == "ns/affinity" else second, frozenset({"InterPodAffinity"}))
    q.move_all_to_active(frozenset({"InterPodAffinity"}))
    cpu = second if second.key == "ns/cpu" else first
    q.add_unschedulable(cpu, frozenset({"NodeResourcesFit"}))
    assert q.pending()["unschedulable"] == 1  # the cpu pod: parked, the change does not help it
    retried = await asyncio.wait_for(q.pop(), 1.0)
    assert retried.key == "ns/affinity"
    q.move_all_to_active()
    assert (await asyncio.wait_for(q.pop(), 1.0)).key == "ns/cpu"


# ---------------------------------------------------------------------------- the component


async def test_pods_are_bound_to_feasible_nodes(env: Env):
    n1 = await env.node("a")
    n2 = await env.node("b")
    await env.node("cordoned", cpu="64", unschedulable=True)
    sched = await env.scheduler()
    for i in range(4):
        await env.pod(f"p{i}")
    for i in range(4):
        await until(lambda i=i: env.node_of(f"p{i}"))
        assert await env.node_of(f"p{i}") in (n1, n2)
    pod = await env.client.get("v1", "pods", "p0", env.ns)
    cond = [c for c in pod["status"]["conditions"] if c["type"] == "PodScheduled"]
    assert cond and cond[0]["status"] == "True"
    await until(lambda: env.events("p0", "Scheduled"))
    event = (await env.events("p0", "Scheduled"))[0]
    assert event["type"] == "Normal"
    assert event["message"] == f"Successfully assigned {env.ns}/p0 to {await env.node_of('p0')}"
    assert event["source"]["component"] == env.scheduler_name

    async with aiohttp.ClientSession() as http:
        base = f"http://127.0.0.1:{sched.health_port}"
        async with http.get(base + "/healthz") as r:
            assert r.status == 200 and await r.text() == "ok"
        async with http.get(base + "/readyz") as r:
            assert r.status == 200
        async with http.get(base + "/metrics") as r:
            text = await r.text()
    assert 'scheduler_schedule_attempts_total{result="scheduled"} 4' in text
    assert 'scheduler_schedule_attempts_total{result="unschedulable"} 0' in text
    assert 'scheduler_pending_pods{queue="active"} 0' in text
    assert 'scheduler_e2e_scheduling_duration_seconds_count{result="scheduled"} 4' in text


async def test_unschedulable_pod_waits_then_fits_on_a_new_node(env: Env):
    await env.node("small-1", cpu="1")
    await env.node("small-2", cpu="1")
    await env.scheduler()
    await env.pod("big", cpu="4")
    await until(lambda: env.events("big", "FailedScheduling"))
    event = (await env.events("big", "FailedScheduling"))[0]
    assert event["type"] == "Warning"
    message = event["message"]
    nodes, _ = await env.client.list_all("v1", "nodes")
    total = len(nodes)
    if total == 2:
        assert message == ("0/2 nodes are available: 2 Insufficient cpu. preemption: 0/2 nodes are available: "
                           "2 No preemption victims found for incoming pod.")
    else:  # other nodes in the shared cluster fail the node selector
        assert re.match(rf"0/{total} nodes are available: .*\b2 Insufficient cpu\b", message), message
    pod = await env.client.get("v1", "pods", "big", env.ns)
    assert not pod["spec"].get("nodeName")
    assert pod["status"].get("phase", "Pending") == "Pending"
    await until(lambda: _condition(env, "big"))
    cond = await _condition(env, "big")
    assert cond["status"] == "False" and cond["reason"] == "Unschedulable" and cond["message"] == message

    big = await env.node("big", cpu="8")
    await until(lambda: env.node_of("big"), timeout=15)
    assert await env.node_of("big") == big


async def _condition(env: Env, pod: str) -> dict | None:
    obj = await env.client.get("v1", "pods", pod, env.ns)
    for c in (obj.get("status") or {}).get("conditions") or []:
        if c.get("type") == "PodScheduled" and c.get("status") == "False":
            return c
    return None


async def test_assumed_pods_do_not_overcommit(env: Env):
    a = await env.node("a", cpu="1")
    b = await env.node("b", cpu="1")
    await env.scheduler()
    await asyncio.gather(*(env.pod(f"p{i}", cpu="200m") for i in range(10)))
    for i in range(10):
        await until(lambda i=i: env.node_of(f"p{i}"), timeout=15)
    placed = Counter([await env.node_of(f"p{i}") for i in range(10)])
    assert placed == {a: 5, b: 5}
    await env.pod("extra", cpu="200m")
    await until(lambda: env.events("extra", "FailedScheduling"))
    assert await env.node_of("extra") == ""


async def test_leader_election_one_binds_and_the_standby_takes_over(env: Env):
    await env.node("a", cpu="4")
    lease = f"sched-{uuid.uuid4().hex[:8]}"
    settings = {"leader_elect": True, "lease_name": lease, "lease_duration": 2.0, "renew_deadline": 1.5,
                "retry_period": 0.4}
    first = await env.scheduler(**settings)
    second = await env.scheduler(**settings)
    await until(lambda: first.is_leader or second.is_leader, timeout=10)
    leader, standby = (first, second) if first.is_leader else (second, first)
    await env.pod("one")
    await until(lambda: env.node_of("one"))
    await asyncio.sleep(0.3)
    assert leader.metrics.attempts["scheduled"] == 1
    assert standby.metrics.attempts["scheduled"] == 0 and not standby.is_leader
    obj = await env.client.get("coordination.k8s.io/v1", "leases", lease, "kube-system")
    assert obj["spec"]["holderIdentity"] == leader.identity

    await leader.stop()
    await until(lambda: standby.is_leader, timeout=10)
    await env.pod("two")
    await until(lambda: env.node_of("two"))
    assert standby.metrics.attempts["scheduled"] == 1
    await env.client.delete("coordination.k8s.io/v1", "leases", lease, "kube-system")


async def test_config_loads_from_yaml(tmp_path):
    path = tmp_path / "scheduler.yaml"
    path.write_text("kubeconfig: /etc/kubeprov/scheduler.conf\nhealth-port: 0\nleader_elect: false\n")
    config = SchedulerConfig.load(path)
    assert config.kubeconfig == "/etc/kubeprov/scheduler.conf"
    assert config.scheduler_name == "default-scheduler" and config.health_port == 0 and not config.leader_elect
    assert (config.lease_namespace, config.lease_name) == ("kube-system", "kube-scheduler")
    path.write_text("bogus: 1\n")
    from kubeprov.errors import KubeprovError

    with pytest.raises(KubeprovError):
        SchedulerConfig.load(path)


async def test_standby_takes_over_an_expired_lease(env: Env):
    """A leader that died without releasing: its lease expires and the candidate takes it."""
    await env.node("a")
    lease = f"sched-{uuid.uuid4().hex[:8]}"
    await env.client.create("coordination.k8s.io/v1", "leases", {
        "apiVersion": "coordination.k8s.io/v1", "kind": "Lease", "metadata": {"name": lease},
        "spec": {"holderIdentity": "dead-leader", "leaseDurationSeconds": 2,
                 "acquireTime": "2026-01-01T00:00:00.000000Z", "renewTime": "2026-01-01T00:00:00.000000Z",
                 "leaseTransitions": 0}}, "kube-system")
    sched = await env.scheduler(leader_elect=True, lease_name=lease, lease_duration=2.0, renew_deadline=1.5,
                                retry_period=0.4)
    await env.pod("p")
    await asyncio.sleep(1.0)
    assert not sched.is_leader and await env.node_of("p") == ""
    await until(lambda: env.node_of("p"), timeout=10)
    assert sched.is_leader
    obj = await env.client.get("coordination.k8s.io/v1", "leases", lease, "kube-system")
    assert obj["spec"]["holderIdentity"] == sched.identity and obj["spec"]["leaseTransitions"] == 1
    await sched.stop()
    await env.client.delete("coordination.k8s.io/v1", "leases", lease, "kube-system")


async def test_module_entry_point_schedules_and_logs_json(env: Env, apiserver: ApiServerForTest, tmp_path):
    await env.node("a")
    port = free_port()
    config = tmp_path / "scheduler.yaml"
    config.write_text(yaml.safe_dump({"kubeconfig": str(apiserver.kubeconfig), "scheduler_name": env.scheduler_name,
                                      "leader_elect": False, "health_port": port}))
    proc = await asyncio.create_subprocess_exec(sys.executable, "-m", "kubeprov.scheduler", "--config", str(config),
                                                stdout=asyncio.subprocess.PIPE, stderr=asyncio.subprocess.PIPE)
    try:
        async with aiohttp.ClientSession() as http:
            async def ready() -> bool:
                try:
                    async with http.get(f"http://127.0.0.1:{port}/readyz") as r:
                        return r.status == 200
                except aiohttp.ClientError:
                    return False

            await until(ready, timeout=20, interval=0.1)
        await env.pod("p")
        await until(lambda: env.node_of("p"), timeout=10)
    finally:
        proc.send_signal(signal.SIGTERM)
        _, stderr = await asyncio.wait_for(proc.communicate(), 15)
    assert proc.returncode == 0, stderr.decode()
    lines = [json.loads(line) for line in stderr.decode().splitlines() if line.strip()]
    assert any(f"assigned {env.ns}/p" in entry["msg"] for entry in lines)
    assert all({"ts", "level", "logger", "msg"} <= set(entry) for entry in lines)


async def test_module_entry_point_rejects_a_bad_config(tmp_path):
    config = tmp_path / "scheduler.yaml"
    config.write_text("scheduler_name: x\n")
    proc = await asyncio.create_subprocess_exec(sys.executable, "-m", "kubeprov.scheduler", "--config", str(config),
                                                stdout=asyncio.subprocess.PIPE, stderr=asyncio.subprocess.PIPE)
    _, stderr = await asyncio.wait_for(proc.communicate(), 15)
    assert proc.returncode == 2 and b"kubeconfig is required" in stderr


async def test_pod_waiting_for_affinity_is_retried_when_its_peer_is_bound(env: Env):
    await env.node("a")
    await env.node("b")
    await env.scheduler()
    follower = {
        "apiVersion": "v1", "kind": "Pod", "metadata": {"name": "follower"},
        "spec": {
            "schedulerName": env.scheduler_name, "nodeSelector": dict(env.label),
            "affinity": {"podAffinity": {"requiredDuringSchedulingIgnoredDuringExecution": [{
                "labelSelector": {"matchLabels": {"app": "leader"}}, "topologyKey": "kubernetes.io/hostname"}]}},
            "containers": [{"name": "c", "image": "busybox"}],
        },
    }
    await env.client.create("v1", "pods", follower, env.ns)
    await until(lambda: env.events("follower", "FailedScheduling"))
    leader = {"apiVersion": "v1", "kind": "Pod", "metadata": {"name": "leader", "labels": {"app": "leader"}},
              "spec": {"schedulerName": env.scheduler_name, "nodeSelector": dict(env.label),
                       "containers": [{"name": "c", "image": "busybox"}]}}
    await env.client.create("v1", "pods", leader, env.ns)
    await until(lambda: env.node_of("follower"), timeout=10)
    assert await env.node_of("follower") == await env.node_of("leader")
