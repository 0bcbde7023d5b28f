"""Startup/readiness/liveness probes and postStart/preStop hooks of real pods under the in-process kubelet."""

from __future__ import annotations

import os
import time
from collections.abc import AsyncIterator
from pathlib import Path
from typing import Any

import pytest

from kubeprov.api.client import ApiClient
from kubeprov.api.status import StatusError
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


def condition(pod: Obj, kind: str) -> Obj:
    return next((c for c in pod.get("status", {}).get("conditions") or [] if c["type"] == kind), {})


async def running_status(env: Env, name: str) -> Obj | None:
    status = await env.container_status(name)
    return status if status and "running" in status["state"] else None


async def gone(env: Env, name: str) -> bool:
    try:
        await env.pod(name)
    except StatusError as exc:
        return exc.code == 404
    return False


def cid_of(status: Obj) -> str:
    return str(status["containerID"]).split("://", 1)[1]


# ---------------------------------------------------------------------------------------------- probes


async def test_liveness_and_readiness_wait_until_the_startup_probe_succeeds(env: Env) -> None:
    await env.create_pod("slow", [{"name": "c", "image": BUSYBOX, "command": SLEEPER,
                                   "startupProbe": {"exec": {"command": ["cat", "/tmp/started"]},
                                                    "periodSeconds": 1, "failureThreshold": 60},
                                   "livenessProbe": {"exec": {"command": ["cat", "/tmp/started"]},
                                                     "periodSeconds": 1, "failureThreshold": 1}}])

    async def startup_failed_thrice() -> Obj | None:
        failures = [m for r, m in await events_of(env, "slow") if m.startswith("Startup probe failed")]
        status = await running_status(env, "slow")
        return status if failures and status else None

    status = await eventually(startup_failed_thrice, timeout=60)
    assert (status["started"], status["ready"], status["restartCount"]) == (False, False, 0)
    assert not [m for _, m in await events_of(env, "slow") if m.startswith("Liveness probe")]
    assert (await env.kubelet.runtime.exec(cid_of(status), ["touch", "/tmp/started"], timeout=10)).exit_code == 0

    async def started() -> Obj | None:
        later = await env.container_status("slow")
        return later if later and later["started"] and later["ready"] else None

    later = await eventually(started, timeout=30)
    assert later["restartCount"] == 0


async def test_a_startup_probe_failing_past_its_threshold_restarts_the_container(env: Env) -> None:
    await env.create_pod("nostart", [{"name": "c", "image": BUSYBOX, "command": SLEEPER, "startupProbe": {
        "exec": {"command": ["false"]}, "periodSeconds": 1, "failureThreshold": 2}}])

    async def restarted() -> bool:
        status = await env.container_status("nostart")
        return bool(status) and status["restartCount"] >= 1

    assert await eventually(restarted, timeout=60)
    events = await events_of(env, "nostart")
    assert ("Killing", "Container c failed startup probe, will be restarted") in events
    assert any(r == "Unhealthy" and m.startswith("Startup probe failed") for r, m in events)


async def test_an_http_probe_by_port_name_with_a_host_header_makes_the_pod_ready(env: Env) -> None:
    await env.create_pod("http", [{"name": "web", "image": WEB, "ports": [{"name": "http", "containerPort": 8080}],
                                   "readinessProbe": {"httpGet": {"port": "http", "path": "/", "httpHeaders": [
                                       {"name": "Host", "value": "example.test"}]}, "periodSeconds": 1}}])

    async def ready() -> bool:
        return condition(await env.pod("http"), "Ready").get("status") == "True"

    assert await eventually(ready, timeout=60)


async def test_an_http_probe_answered_404_fails_with_the_status_code(env: Env) -> None:
    await env.create_pod("notfound", [{"name": "web", "image": WEB, "readinessProbe": {
        "httpGet": {"port": 8080, "path": "/no-such-page"}, "periodSeconds": 1}}])

    async def failed() -> list[str] | None:
        found = [m for r, m in await events_of(env, "notfound") if r == "Unhealthy"]
        return found or None

    messages = await eventually(failed, timeout=60)
    assert "Readiness probe failed: HTTP probe failed with statuscode: 404" in messages
    assert condition(await env.pod("notfound"), "Ready")["status"] == "False"


async def test_a_tcp_probe_to_a_closed_port_keeps_the_pod_unready(env: Env) -> None:
    await env.create_pod("tcp", [{"name": "web", "image": WEB, "readinessProbe": {
        "tcpSocket": {"port": 9}, "periodSeconds": 1}}])

    async def failed() -> bool:
        return any(m.startswith("Readiness probe failed") for _, m in await events_of(env, "tcp"))

    assert await eventually(failed, timeout=60)
    status = await env.container_status("tcp")
    assert status is not None and status["ready"] is False


# ---------------------------------------------------------------------------------------------- hooks


async def test_the_container_is_running_only_once_its_post_start_hook_returned(env: Env) -> None:
    await env.create_pod("poststart", [{"name": "c", "image": BUSYBOX, "command": SLEEPER, "lifecycle": {
        "postStart": {"exec": {"command": ["sh", "-c", "sleep 2; echo done > /tmp/hook"]}}}}])
    status = await eventually(lambda: running_status(env, "poststart"), timeout=60, interval=0.05)
    result = await env.kubelet.runtime.exec(cid_of(status), ["cat", "/tmp/hook"], timeout=10)
    assert result.stdout == b"done\n"


async def test_a_failing_post_start_hook_kills_the_container(env: Env) -> None:
    await env.create_pod("badhook", [{
        "name": "c", "image": BUSYBOX, "command": ["sh", "-c", "trap 'exit 1' TERM; while true; do sleep 1; done"],
        "lifecycle": {"postStart": {"exec": {"command": ["sh", "-c", "echo nope; exit 3"]}}}}], restartPolicy="Never")

    async def terminated() -> Obj | None:
        status = await env.container_status("badhook")
        return status if status and "terminated" in status["state"] else None

    await eventually(terminated, timeout=60)
    events = await events_of(env, "badhook")
    failed = [m for r, m in events if r == "FailedPostStartHook"]
    assert failed and "exited with 3: nope" in failed[0]
    assert ("Killing", "FailedPostStartHook") in events
    assert (await env.pod("badhook"))["status"]["phase"] == "Failed"


async def test_the_pre_stop_hook_runs_before_sigterm_on_deletion(env: Env, tmp_path: Path) -> None:
    out = tmp_path / "hookout"
    out.mkdir()
    await env.create_pod("prestop", [{"name": "c", "image": BUSYBOX, "volumeMounts": [
        {"name": "out", "mountPath": "/out"}],
        "command": ["sh", "-c", "trap 'echo term >> /out/log; exit 0' TERM; while true; do sleep 1; done"],
        "lifecycle": {"preStop": {"exec": {"command": ["sh", "-c", "echo prestop >> /out/log"]}}}}],
        volumes=[{"name": "out", "hostPath": {"path": str(out)}}])
    await eventually(lambda: running_status(env, "prestop"), timeout=60)
    await env.client.delete("v1", "pods", "prestop", env.ns)
    assert await eventually(lambda: gone(env, "prestop"), timeout=30)
    assert (out / "log").read_text() == "prestop\nterm\n"


async def test_a_failing_pre_stop_hook_is_reported_and_the_container_still_stops(env: Env) -> None:
    await env.create_pod("badstop", [{"name": "c", "image": BUSYBOX, "command": SLEEPER, "lifecycle": {
        "preStop": {"httpGet": {"port": 9, "path": "/bye"}}}}])
    await eventually(lambda: running_status(env, "badstop"), timeout=60)
    await env.client.delete("v1", "pods", "badstop", env.ns)
    assert await eventually(lambda: gone(env, "badstop"), timeout=30)
    failed = [m for r, m in await events_of(env, "badstop") if r == "FailedPreStopHook"]
    assert failed and failed[0].startswith('HTTP lifecycle hook (/bye) for Container "c" in Pod "badstop_')


async def test_a_pre_stop_hook_longer_than_the_grace_period_is_cut_short(env: Env) -> None:
    await env.create_pod("longstop", [{"name": "c", "image": BUSYBOX,
                                       "command": ["sh", "-c", "trap '' TERM; while true; do sleep 1; done"],
                                       "lifecycle": {"preStop": {"exec": {"command": ["sleep", "60"]}}}}],
                         terminationGracePeriodSeconds=2)
    await eventually(lambda: running_status(env, "longstop"), timeout=60)
    began = time.monotonic()
    await env.client.delete("v1", "pods", "longstop", env.ns)
    assert await eventually(lambda: gone(env, "longstop"), timeout=40)
    # grace (2 s) for the hook, then the kubelet's minimum 2 s before SIGKILL: far from the hook's 60 s
    assert time.monotonic() - began < 30


async def test_deleting_a_pod_whose_post_start_hook_hangs_does_not_wait_for_the_hook(env: Env) -> None:
    await env.create_pod("hangs", [{"name": "c", "image": BUSYBOX, "command": SLEEPER, "lifecycle": {
        "postStart": {"exec": {"command": ["sleep", "600"]}}}}])

    async def created() -> bool:
        return any(r == "Started" for r, _ in await events_of(env, "hangs"))

    assert await eventually(created, timeout=60)
    await env.client.delete("v1", "pods", "hangs", env.ns)
    assert await eventually(lambda: gone(env, "hangs"), timeout=40)


async def test_a_liveness_restart_runs_the_pre_stop_hook_first(env: Env, tmp_path: Path) -> None:
    out = tmp_path / "restartout"
    out.mkdir()
    await env.create_pod("relive", [{"name": "c", "image": BUSYBOX, "command": SLEEPER,
                                     "volumeMounts": [{"name": "out", "mountPath": "/out"}],
                                     "livenessProbe": {"exec": {"command": ["false"]}, "periodSeconds": 1,
                                                       "failureThreshold": 1},
                                     "lifecycle": {"preStop": {"exec": {"command": [
                                         "sh", "-c", "echo prestop >> /out/log"]}}}}],
                         volumes=[{"name": "out", "hostPath": {"path": str(out)}}])

    async def restarted() -> bool:
        status = await env.container_status("relive")
        return bool(status) and status["restartCount"] >= 1

    assert await eventually(restarted, timeout=60)
    assert (out / "log").read_text().startswith("prestop\n")
