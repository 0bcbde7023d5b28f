"""Kubelet features of real pods: activeDeadlineSeconds, resourceFieldRef env and $(VAR) expansion, termination
messages, API-backed volumes kept current, image garbage collection and node status."""

from __future__ import annotations

import os
from collections.abc import AsyncIterator
from pathlib import Path
from typing import Any

import pytest

from kubeprov.api.client import ApiClient
from kubeprov.api.quantity import Quantity
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


async def finished(env: Env, name: str) -> Obj:
    async def terminal() -> Obj | None:
        pod = await env.pod(name)
        return pod if pod["status"].get("phase") in ("Succeeded", "Failed") else None

    return await eventually(terminal, timeout=60)


async def output_of(env: Env, pod: Obj) -> str:
    cid = pod["status"]["containerStatuses"][0]["containerID"].split("://", 1)[1]
    return log_text(Path((await env.kubelet.runtime.container_status(cid)).log_path))


async def test_a_pod_past_its_active_deadline_is_killed_and_failed_with_deadline_exceeded(env: Env) -> None:
    await env.create_pod("deadline", [{"name": "c", "image": BUSYBOX, "command": SLEEPER}],
                         activeDeadlineSeconds=3, restartPolicy="Never")
    pod = await finished(env, "deadline")
    assert pod["status"]["phase"] == "Failed"
    assert pod["status"]["reason"] == "DeadlineExceeded"
    assert pod["status"]["message"] == "Pod was active on the node longer than the specified deadline"
    assert "terminated" in pod["status"]["containerStatuses"][0]["state"]
    assert ("DeadlineExceeded", "Pod was active on the node longer than the specified deadline") in \
        await events_of(env, "deadline")


async def test_resource_field_refs_give_limits_requests_and_the_nodes_allocatable(env: Env) -> None:
    def ref(resource: str, divisor: str = "") -> Obj:
        return {"resourceFieldRef": {"resource": resource, **({"divisor": divisor} if divisor else {})}}

    await env.create_pod("resources", [{
        "name": "c", "image": BUSYBOX, "command": ["sh", "-c", "echo $MEM $REQ_CPU $CPU"],
        "resources": {"limits": {"memory": "64Mi"}, "requests": {"cpu": "100m", "memory": "32Mi"}},
        "env": [{"name": "MEM", "valueFrom": ref("limits.memory", "1Mi")},
                {"name": "REQ_CPU", "valueFrom": ref("requests.cpu", "1m")},
                {"name": "CPU", "valueFrom": ref("limits.cpu")}]}], restartPolicy="Never")
    pod = await finished(env, "resources")
    assert await output_of(env, pod) == f"64 100 {os.cpu_count()}\n"


async def test_env_values_command_and_args_expand_variables_and_keep_escaped_dollars(env: Env) -> None:
    await env.create_pod("expand", [{
        "name": "c", "image": BUSYBOX, "command": ["echo", "$(GREETING)"], "args": ["$$(GREETING)", "$(NOPE)"],
        "env": [{"name": "NAME", "value": "world"}, {"name": "GREETING", "value": "hello-$(NAME)"}]}],
        restartPolicy="Never")
    pod = await finished(env, "expand")
    assert await output_of(env, pod) == "hello-world $(GREETING) $(NOPE)\n"


async def test_the_termination_message_file_becomes_the_terminated_message(env: Env) -> None:
    await env.create_pod("message", [{"name": "c", "image": BUSYBOX, "command": [
        "sh", "-c", "echo -n all done > /dev/termination-log"]}], restartPolicy="Never")
    pod = await finished(env, "message")
    assert pod["status"]["containerStatuses"][0]["state"]["terminated"]["message"] == "all done"


async def test_fallback_to_logs_on_error_reports_the_log_tail_of_a_failed_container(env: Env) -> None:
    await env.create_pod("fallback", [{"name": "c", "image": BUSYBOX, "terminationMessagePolicy":
                                       "FallbackToLogsOnError", "command": ["sh", "-c", "echo it broke; exit 4"]}],
                         restartPolicy="Never")
    pod = await finished(env, "fallback")
    terminated = pod["status"]["containerStatuses"][0]["state"]["terminated"]
    assert (terminated["exitCode"], terminated["message"]) == (4, "it broke\n")


# ---------------------------------------------------------------------------------------------- volumes


@pytest.fixture
async def fast_env(api_client: ApiClient, oci_registry: Any, tmp_path: Path) -> AsyncIterator[Env]:
    async with running_kubelet(api_client, oci_registry, tmp_path, sync_frequency=1.0) as environment:
        yield environment


async def read_in(env: Env, pod: str, path: str) -> str:
    status = await env.container_status(pod)
    if not status or "running" not in status["state"]:
        return "<not running>"
    result = await env.kubelet.runtime.exec(status["containerID"].split("://", 1)[1], ["cat", path], timeout=10)
    return result.stdout.decode()


async def test_config_map_and_secret_volumes_follow_their_objects_but_sub_path_mounts_do_not(fast_env: Env) -> None:
    env = fast_env
    await env.client.create("v1", "configmaps", {"metadata": {"name": "conf"}, "data": {"k": "one"}}, env.ns)
    await env.client.create("v1", "secrets", {"metadata": {"name": "sec"}, "stringData": {"s": "first"}}, env.ns)
    await env.create_pod("vols", [{"name": "c", "image": BUSYBOX, "command": SLEEPER, "volumeMounts": [
        {"name": "conf", "mountPath": "/conf"}, {"name": "sec", "mountPath": "/sec"},
        {"name": "conf", "mountPath": "/pinned", "subPath": "k"}]}],
        volumes=[{"name": "conf", "configMap": {"name": "conf"}}, {"name": "sec", "secret": {"secretName": "sec"}}])

    async def shows(path: str, text: str) -> bool:
        return await read_in(env, "vols", path) == text

    assert await eventually(lambda: shows("/conf/k", "one"), timeout=60)
    assert await shows("/sec/s", "first")
    await env.client.patch("v1", "configmaps", "conf", {"data": {"k": "two"}}, env.ns)
    await env.client.patch("v1", "secrets", "sec", {"stringData": {"s": "second"}}, env.ns)
    assert await eventually(lambda: shows("/conf/k", "two"), timeout=30)
    assert await eventually(lambda: shows("/sec/s", "second"), timeout=30)
    assert await shows("/pinned", "one")


async def test_secret_volumes_are_tmpfs_mounts(env: Env) -> None:
    await env.client.create("v1", "secrets", {"metadata": {"name": "sec"}, "stringData": {"s": "x"}}, env.ns)
    await env.create_pod("tmpfs", [{"name": "c", "image": BUSYBOX, "command": SLEEPER,
                                    "volumeMounts": [{"name": "sec", "mountPath": "/sec"}]}],
                         volumes=[{"name": "sec", "secret": {"secretName": "sec"}}])

    async def mounts_when_running(env: Env) -> str | None:
        table = await read_in(env, "tmpfs", "/proc/mounts")
        return None if table == "<not running>" else table

    table = await eventually(lambda: mounts_when_running(env), timeout=60)
    assert any(line.split()[1:3] == ["/sec", "tmpfs"] for line in table.splitlines())


async def test_downward_api_label_files_follow_the_pods_labels(fast_env: Env) -> None:
    env = fast_env
    await env.create_pod("labels", [{"name": "c", "image": BUSYBOX, "command": SLEEPER,
                                     "volumeMounts": [{"name": "info", "mountPath": "/info"}]}],
                         volumes=[{"name": "info", "downwardAPI": {"items": [
                             {"path": "labels", "fieldRef": {"fieldPath": "metadata.labels"}}]}}])

    async def shows(text: str) -> bool:
        return await read_in(env, "labels", "/info/labels") == text

    assert await eventually(lambda: shows(""), timeout=60)
    await env.client.patch("v1", "pods", "labels", {"metadata": {"labels": {"tier": "web"}}}, env.ns)
    assert await eventually(lambda: shows('tier="web"'), timeout=30)


# ---------------------------------------------------------------------------------------------- images, node


async def node_events(env: Env) -> list[tuple[str, str]]:
    items = (await env.client.list("v1", "events", "default")).get("items") or []
    return [(e["reason"], e.get("message", "")) for e in items
            if e["involvedObject"].get("kind") == "Node" and e["involvedObject"].get("name") == env.kubelet.name]


@pytest.fixture
async def gc_env(api_client: ApiClient, oci_registry: Any, tmp_path: Path) -> AsyncIterator[Env]:
    async with running_kubelet(api_client, oci_registry, tmp_path, image_gc_high_threshold_percent=0,
                               image_gc_low_threshold_percent=0, image_minimum_gc_age=0.0,
                               image_gc_period=1.0) as environment:
        yield environment


async def test_image_gc_removes_unused_images_and_keeps_those_of_running_containers(gc_env: Env) -> None:
    env = gc_env
    await env.create_pod("once", [{"name": "c", "image": WEB, "command": ["true"]}], restartPolicy="Never")
    await finished(env, "once")
    await env.client.delete("v1", "pods", "once", env.ns)
    await env.create_pod("stays", [{"name": "c", "image": BUSYBOX, "command": SLEEPER}])
    images = env.kubelet._deps.images if env.kubelet._deps else None
    assert images is not None

    async def collected() -> bool:
        return images.lookup(WEB) is None and images.lookup(BUSYBOX) is not None

    assert await eventually(collected, timeout=60)
    # thresholds of 0% can never be met: the shortfall is reported on the Node
    assert await eventually(lambda: has_reason(env, "FreeDiskSpaceFailed"), timeout=30)


async def has_reason(env: Env, reason: str) -> bool:
    return any(r == reason for r, _ in await node_events(env))


async def test_the_node_lists_its_images_with_names_and_sizes(env: Env) -> None:
    await env.create_pod("pull", [{"name": "c", "image": BUSYBOX, "command": ["true"]}], restartPolicy="Never")
    await finished(env, "pull")
    assert env.kubelet.node_status is not None
    await env.kubelet.node_status.post_status(force=True)
    node = await env.client.get("v1", "nodes", env.kubelet.name)
    entry = next(i for i in node["status"]["images"] if BUSYBOX in i["names"])
    assert entry["sizeBytes"] > 0
    assert any(name.startswith("registry.local/busybox@sha256:") for name in entry["names"])


@pytest.fixture
async def pressed_env(api_client: ApiClient, oci_registry: Any, tmp_path: Path) -> AsyncIterator[Env]:
    thresholds = {"memory.available": "100%", "nodefs.available": "100%", "pid.available": "100%"}
    async with running_kubelet(api_client, oci_registry, tmp_path, eviction_hard=thresholds) as environment:
        yield environment


async def test_eviction_thresholds_above_what_is_available_report_every_pressure(pressed_env: Env) -> None:
    node = await pressed_env.client.get("v1", "nodes", pressed_env.kubelet.name)
    status = {c["type"]: c["status"] for c in node["status"]["conditions"]}
    assert status == {"MemoryPressure": "True", "DiskPressure": "True", "PIDPressure": "True", "Ready": "True"}
    assert Quantity.parse(node["status"]["allocatable"]["memory"]).is_zero()
