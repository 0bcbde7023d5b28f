"""The kubelet in-process against the session API server: its Node and Lease, and real pods under runc.

Each test runs a Kubelet with a node name, data/run directories, cgroup parent, CNI bridge and subnet
(10.198.<n>.0/24) of its own, pods bound to it by spec.nodeName, images from the ``oci_registry`` fixture;
everything it started is stopped and removed in a finally.
"""

from __future__ import annotations

import asyncio
import os
import subprocess
from collections.abc import AsyncIterator
from pathlib import Path
from typing import Any

import pytest

from kubeprov.api.client import ApiClient
from kubeprov.api.status import StatusError
from kubeprov.controllers.timestamps import parse_time
from kubeprov.kubelet.agent import Kubelet
from kubeprov.kubelet.runtime.logs import log_text
from tests.integration.controller_env import eventually
from tests.integration.kubelet_env import BUSYBOX, SLEEPER, WEB, Env, Obj, events_of, running_kubelet

pytestmark = [
    pytest.mark.integration,
    pytest.mark.timeout(120),
    pytest.mark.skipif(os.geteuid() != 0, reason="needs root: runc, mounts, namespaces and bridges"),
]

@pytest.fixture
async def env(api_client: ApiClient, oci_registry: Any, tmp_path: Path) -> AsyncIterator[Env]:
    async with running_kubelet(api_client, oci_registry, tmp_path) as environment:
        yield environment


def condition(obj: Obj, kind: str) -> Obj:
    return next((c for c in obj.get("status", {}).get("conditions") or [] if c["type"] == kind), {})


async def test_the_node_registers_ready_with_this_machines_capacity_and_renews_its_lease(env: Env) -> None:
    node = await env.client.get("v1", "nodes", env.kubelet.name)
    assert condition(node, "Ready")["status"] == "True"
    assert condition(node, "MemoryPressure")["status"] == "False"
    capacity = node["status"]["capacity"]
    assert capacity["cpu"] == str(os.cpu_count()) and capacity["pods"] == "110"
    assert node["metadata"]["labels"]["kubernetes.io/hostname"] == env.kubelet.name
    first = await env.client.get("coordination.k8s.io/v1", "leases", env.kubelet.name, "kube-node-lease")

    async def renewed() -> bool:
        lease = await env.client.get("coordination.k8s.io/v1", "leases", env.kubelet.name, "kube-node-lease")
        return parse_time(lease["spec"]["renewTime"]) > parse_time(first["spec"]["renewTime"])

    assert await eventually(renewed, timeout=20)


async def test_an_echo_pod_succeeds_with_exit_code_0_and_its_log_is_readable(env: Env) -> None:
    await env.create_pod("echo", [{"name": "c", "image": BUSYBOX, "command": ["echo", "hello kubelet"]}],
                         restartPolicy="Never")

    async def succeeded() -> Obj | None:
        pod = await env.pod("echo")
        return pod if pod["status"].get("phase") == "Succeeded" else None

    pod = await eventually(succeeded, timeout=60)
    status = pod["status"]["containerStatuses"][0]
    assert status["state"]["terminated"]["exitCode"] == 0
    assert status["state"]["terminated"]["reason"] == "Completed"
    cid = status["containerID"].split("://", 1)[1]
    runtime_status = await env.kubelet.runtime.container_status(cid)
    assert log_text(Path(runtime_status.log_path)) == "hello kubelet\n"


def http_get(ip: str) -> str:
    done = subprocess.run(["/bin/busybox", "nc", "-w", "2", ip, "8080"], input="GET / HTTP/1.0\r\n\r\n",
                          capture_output=True, text=True, timeout=10, check=False)
    return done.stdout


async def test_a_web_pod_runs_ready_reachable_and_deletion_stops_it_and_frees_its_address(env: Env) -> None:
    await env.create_pod("web", [{"name": "web", "image": WEB, "env": [{"name": "POD_NAME", "valueFrom": {
        "fieldRef": {"fieldPath": "metadata.name"}}}]}])

    async def ready() -> Obj | None:
        pod = await env.pod("web")
        return pod if condition(pod, "Ready").get("status") == "True" else None

    pod = await eventually(ready, timeout=60)
    assert pod["status"]["phase"] == "Running"
    ip = pod["status"]["podIP"]
    assert ip.startswith(env.kubelet.config.pod_cidr.rsplit(".", 1)[0])

    async def serves() -> bool:
        return "web version 1 pod web" in await asyncio.to_thread(http_get, ip)

    assert await eventually(serves, timeout=20)
    cid = pod["status"]["containerStatuses"][0]["containerID"].split("://", 1)[1]
    await env.client.delete("v1", "pods", "web", env.ns)

    async def gone() -> bool:
        try:
            await env.pod("web")
        except StatusError as exc:
            return exc.code == 404
        return False

    assert await eventually(gone, timeout=30)
    network = env.kubelet.network
    assert network is not None
    ipam = network.config.ipam_dir / network.config.network_name

    async def cleaned_up() -> bool:
        return (env.kubelet.runtime.get_sandbox(pod["metadata"]["uid"]) is None
                and not network.netns_path(pod).exists() and not (ipam / ip).exists())

    assert await eventually(cleaned_up, timeout=20)
    with pytest.raises(KeyError):
        await env.kubelet.runtime.container_status(cid)


async def test_a_crashing_container_goes_crash_loop_back_off_with_restarts_counted(env: Env) -> None:
    await env.create_pod("crash", [{"name": "c", "image": BUSYBOX, "command": ["sh", "-c", "exit 3"]}])

    async def backing_off() -> Obj | None:
        status = await env.container_status("crash")
        waiting = (status or {}).get("state", {}).get("waiting") or {}
        return status if waiting.get("reason") == "CrashLoopBackOff" else None

    status = await eventually(backing_off, timeout=60)
    assert status["restartCount"] >= 1
    assert status["lastState"]["terminated"]["exitCode"] == 3
    assert "back-off 10s restarting failed container=c" in status["state"]["waiting"]["message"]

    async def restarted_again() -> bool:
        later = await env.container_status("crash")
        return bool(later) and later["restartCount"] > status["restartCount"]

    assert await eventually(restarted_again, timeout=40)


async def test_an_image_that_does_not_exist_shows_err_image_pull_then_image_pull_back_off(env: Env) -> None:
    await env.create_pod("missing", [{"name": "c", "image": "registry.local/nothing-here:1"}])
    seen: list[str] = []

    async def reasons() -> bool:
        status = await env.container_status("missing")
        reason = ((status or {}).get("state", {}).get("waiting") or {}).get("reason")
        if reason and (not seen or seen[-1] != reason):
            seen.append(reason)
        return "ImagePullBackOff" in seen

    assert await eventually(reasons, timeout=40, interval=0.05)
    assert seen[:2] == ["ErrImagePull", "ImagePullBackOff"] or seen[:3] == [
        "ContainerCreating", "ErrImagePull", "ImagePullBackOff"]
    assert (await env.pod("missing"))["status"]["phase"] == "Pending"


async def test_init_containers_run_in_order_before_the_container_sharing_an_empty_dir(env: Env) -> None:
    mount = [{"name": "work", "mountPath": "/work"}]
    await env.create_pod("init", [{"name": "main", "image": BUSYBOX, "command": ["cat", "/work/out"],
                                   "volumeMounts": mount}],
                         restartPolicy="Never", volumes=[{"name": "work", "emptyDir": {}}],
                         initContainers=[
                             {"name": "one", "image": BUSYBOX, "command": ["sh", "-c", "echo one > /work/out"],
                              "volumeMounts": mount},
                             {"name": "two", "image": BUSYBOX, "command": ["sh", "-c", "echo two >> /work/out"],
                              "volumeMounts": mount}])

    async def succeeded() -> Obj | None:
        pod = await env.pod("init")
        return pod if pod["status"].get("phase") == "Succeeded" else None

    pod = await eventually(succeeded, timeout=60)
    assert [s["state"]["terminated"]["exitCode"] for s in pod["status"]["initContainerStatuses"]] == [0, 0]
    assert condition(pod, "Initialized")["status"] == "True"
    cid = pod["status"]["containerStatuses"][0]["containerID"].split("://", 1)[1]
    assert log_text(Path((await env.kubelet.runtime.container_status(cid)).log_path)) == "one\ntwo\n"


async def test_events_tell_the_pull_create_and_start_of_each_container(env: Env) -> None:
    await env.create_pod("events", [{"name": "c", "image": BUSYBOX, "command": ["true"]}], restartPolicy="Never")

    async def recorded() -> list[tuple[str, str]] | None:
        events = await events_of(env, "events")
        return events if {"Pulled", "Created", "Started"} <= {r for r, _ in events} else None

    events = dict(await eventually(recorded, timeout=60))
    assert events["Created"] == "Created container c" and events["Started"] == "Started container c"
    assert BUSYBOX in events["Pulled"]


async def test_a_readiness_probe_keeps_the_pod_unready_until_it_passes(env: Env) -> None:
    await env.create_pod("probe", [{"name": "c", "image": BUSYBOX, "command": SLEEPER, "readinessProbe": {
        "exec": {"command": ["cat", "/tmp/ready"]}, "periodSeconds": 1, "failureThreshold": 1}}])

    async def running_unready() -> Obj | None:
        pod = await env.pod("probe")
        status = (pod["status"].get("containerStatuses") or [{}])[0]
        return pod if "running" in status.get("state", {}) and condition(pod, "Ready").get("status") == "False" \
            else None

    pod = await eventually(running_unready, timeout=60)
    assert condition(pod, "Ready")["reason"] == "ContainersNotReady"
    cid = pod["status"]["containerStatuses"][0]["containerID"].split("://", 1)[1]
    assert (await env.kubelet.runtime.exec(cid, ["touch", "/tmp/ready"], timeout=10)).exit_code == 0

    async def ready() -> bool:
        return condition(await env.pod("probe"), "Ready").get("status") == "True"

    assert await eventually(ready, timeout=30)


async def test_a_failing_liveness_probe_restarts_the_container(env: Env) -> None:
    await env.create_pod("live", [{"name": "c", "image": BUSYBOX, "command": SLEEPER, "livenessProbe": {
        "exec": {"command": ["false"]}, "periodSeconds": 1, "failureThreshold": 2}}])

    async def restarted() -> bool:
        status = await env.container_status("live")
        return bool(status) and status["restartCount"] >= 1

    assert await eventually(restarted, timeout=60)
    reasons = {r for r, _ in await events_of(env, "live")}
    assert {"Unhealthy", "Killing"} <= reasons


async def test_the_default_service_account_token_is_mounted_where_clients_look_for_it(env: Env) -> None:
    body = {"apiVersion": "v1", "kind": "Pod", "metadata": {"name": "token", "namespace": env.ns},
            "spec": {"nodeName": env.kubelet.name, "restartPolicy": "Never", "containers": [
                {"name": "c", "image": BUSYBOX, "command": ["sh", "-c", "cat /var/run/secrets/kubernetes.io/"
                                                                          "serviceaccount/namespace"]}]}}
    # what the controller manager's root-ca-cert-publisher does in every namespace
    await env.client.create("v1", "configmaps", {"metadata": {"name": "kube-root-ca.crt"},
                                                 "data": {"ca.crt": "-----BEGIN CERTIFICATE-----\n"}}, env.ns)
    await env.client.create("v1", "pods", body, env.ns)

    async def succeeded() -> Obj | None:
        pod = await env.pod("token")
        return pod if pod["status"].get("phase") == "Succeeded" else None

    pod = await eventually(succeeded, timeout=60)
    cid = pod["status"]["containerStatuses"][0]["containerID"].split("://", 1)[1]
    assert log_text(Path((await env.kubelet.runtime.container_status(cid)).log_path)).rstrip("\n") == env.ns


async def test_a_restarted_kubelet_adopts_the_running_containers_instead_of_starting_new_ones(env: Env) -> None:
    await env.create_pod("keep", [{"name": "c", "image": BUSYBOX, "command": SLEEPER}])

    async def running() -> Obj | None:
        status = await env.container_status("keep")
        return status if status and "running" in status["state"] else None

    before = await eventually(running, timeout=60)
    await env.kubelet.stop()
    env.kubelet = Kubelet(env.kubelet.config, client=env.client, registry_hosts=env.kubelet.registry_hosts)
    await env.kubelet.start()

    async def adopted() -> bool:
        return any(w.key == f"{env.ns}/keep" and w.containers[0].cid for w in env.kubelet.workers.values())

    assert await eventually(adopted, timeout=30)
    after = await env.container_status("keep")
    assert after is not None
    assert (after["containerID"], after["restartCount"]) == (before["containerID"], 0)
    assert "running" in after["state"]


async def test_a_pod_deleted_while_the_kubelet_was_down_is_cleaned_up_when_it_starts(env: Env) -> None:
    pod = await env.create_pod("orphan", [{"name": "c", "image": BUSYBOX, "command": SLEEPER}])

    async def running() -> bool:
        status = await env.container_status("orphan")
        return bool(status) and "running" in status["state"]

    assert await eventually(running, timeout=60)
    await env.kubelet.stop()
    await env.client.delete("v1", "pods", "orphan", env.ns, grace_period_seconds=0)
    env.kubelet = Kubelet(env.kubelet.config, client=env.client, registry_hosts=env.kubelet.registry_hosts)
    await env.kubelet.start()
    network = env.kubelet.network
    assert network is not None
    assert env.kubelet.runtime.get_sandbox(pod["metadata"]["uid"]) is None
    assert await env.kubelet.runtime.list_containers(pod["metadata"]["uid"]) == []
    assert not network.netns_path(pod).exists()
