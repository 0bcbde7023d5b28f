"""securityContext on real pods: each busybox pod prints what the test checks and exits; the test reads
the container's log (user and groups from ``id``, capabilities and no_new_privs from /proc/self/status,
mount flags from /proc/mounts)."""

from __future__ import annotations

import os
from collections.abc import AsyncIterator
from pathlib import Path
from typing import Any

import pytest

from kubeprov.api.client import ApiClient
from kubeprov.kubelet.runtime.logs import log_text
from tests.integration.controller_env import eventually
from tests.integration.kubelet_env import BUSYBOX, Env, Obj, running_kubelet

pytestmark = [
    pytest.mark.integration,
    pytest.mark.timeout(120),
    pytest.mark.skipif(os.geteuid() != 0, reason="needs root: runc, mounts, namespaces and bridges"),
]

NET_ADMIN_BIT = 1 << 12


@pytest.fixture
async def env(api_client: ApiClient, oci_registry: Any, tmp_path: Path) -> AsyncIterator[Env]:
    async with running_kubelet(api_client, oci_registry, tmp_path) as environment:
        yield environment


async def run_script(env: Env, name: str, script: str, security: Obj | None = None, **spec: Any) -> str:
    """Run ``sh -c script`` in a one-container pod (container securityContext ``security``, pod spec
    fields ``spec``), wait until it has finished (whatever its exit code) and return its log."""
    container: Obj = {"name": "c", "image": BUSYBOX, "command": ["sh", "-c", script]}
    if security is not None:
        container["securityContext"] = security
    container["volumeMounts"] = spec.pop("volumeMounts", [])
    await env.create_pod(name, [container], restartPolicy="Never", **spec)

    async def finished() -> Obj | None:
        pod = await env.pod(name)
        return pod if pod["status"].get("phase") in ("Succeeded", "Failed") else None

    try:
        pod = await eventually(finished, timeout=60)
    except TimeoutError:
        pytest.fail(f"pod {name} did not finish: {(await env.pod(name)).get('status')}")
    cid = pod["status"]["containerStatuses"][0]["containerID"].split("://", 1)[1]
    return log_text(Path((await env.kubelet.runtime.container_status(cid)).log_path))


def status_field(text: str, field: str) -> str:
    return next(line.split(":", 1)[1].strip() for line in text.splitlines() if line.startswith(f"{field}:"))


def own_bounding_set() -> int:
    return int(status_field(Path("/proc/self/status").read_text(), "CapBnd"), 16)


async def test_pod_run_as_user_and_group_set_the_process_ids(env: Env) -> None:
    out = await run_script(env, "ids", "id -u; id -g", securityContext={"runAsUser": 1234, "runAsGroup": 5678})
    assert out.split() == ["1234", "5678"]


async def test_the_containers_run_as_user_and_group_override_the_pods(env: Env) -> None:
    out = await run_script(env, "override", "id -u; id -g", {"runAsUser": 2000, "runAsGroup": 3000},
                           securityContext={"runAsUser": 1234, "runAsGroup": 5678})
    assert out.split() == ["2000", "3000"]


async def test_supplemental_groups_and_fs_group_are_the_processes_extra_groups(env: Env) -> None:
    out = await run_script(env, "groups", "id -G",
                           securityContext={"runAsUser": 1000, "runAsGroup": 1000, "supplementalGroups": [4000, 4001],
                                            "fsGroup": 2000})
    groups = out.split()
    assert groups[0] == "1000"
    assert set(groups) == {"1000", "2000", "4000", "4001"}


async def test_a_read_only_root_filesystem_refuses_writes_but_an_empty_dir_stays_writable(env: Env) -> None:
    script = ("if (echo x > /x) 2>/dev/null; then echo root-writable; else echo root-readonly; fi; "
              "echo data > /scratch/f && cat /scratch/f")
    out = await run_script(env, "readonly", script, {"readOnlyRootFilesystem": True},
                           volumes=[{"name": "scratch", "emptyDir": {}}],
                           volumeMounts=[{"name": "scratch", "mountPath": "/scratch"}])
    assert out.split() == ["root-readonly", "data"]


async def test_dropping_all_capabilities_leaves_an_empty_effective_set(env: Env) -> None:
    out = await run_script(env, "drop-all", "grep CapEff /proc/self/status", {"capabilities": {"drop": ["ALL"]}})
    assert int(status_field(out, "CapEff"), 16) == 0


async def test_an_added_capability_is_in_the_effective_set(env: Env) -> None:
    out = await run_script(env, "net-admin", "grep CapEff /proc/self/status",
                           {"capabilities": {"drop": ["ALL"], "add": ["NET_ADMIN"]}})
    assert int(status_field(out, "CapEff"), 16) == NET_ADMIN_BIT


async def test_a_default_container_has_no_net_admin_and_a_read_only_sys(env: Env) -> None:
    out = await run_script(env, "default", "grep CapEff /proc/self/status; grep ' /sys sysfs ' /proc/mounts")
    assert int(status_field(out, "CapEff"), 16) & NET_ADMIN_BIT == 0
    sys_line = next(line for line in out.splitlines() if " /sys sysfs " in line)
    assert sys_line.split()[3].split(",")[0] == "ro"


async def test_a_privileged_container_has_every_capability_and_a_writable_sys(env: Env) -> None:
    out = await run_script(env, "privileged", "grep CapEff /proc/self/status; grep ' /sys sysfs ' /proc/mounts",
                           {"privileged": True})
    assert int(status_field(out, "CapEff"), 16) == own_bounding_set()
    sys_line = next(line for line in out.splitlines() if " /sys sysfs " in line)
    assert sys_line.split()[3].split(",")[0] == "rw"


async def test_allow_privilege_escalation_false_sets_no_new_privs(env: Env) -> None:
    out = await run_script(env, "nnp", "grep NoNewPrivs /proc/self/status", {"allowPrivilegeEscalation": False})
    assert status_field(out, "NoNewPrivs") == "1"


async def test_privilege_escalation_is_allowed_by_default(env: Env) -> None:
    out = await run_script(env, "nnp-default", "grep NoNewPrivs /proc/self/status")
    assert status_field(out, "NoNewPrivs") == "0"


async def test_run_as_non_root_with_a_root_image_user_does_not_start_the_container(env: Env) -> None:
    await env.create_pod("nonroot", [{"name": "c", "image": BUSYBOX, "command": ["id", "-u"],
                                      "securityContext": {"runAsNonRoot": True}}], restartPolicy="Never")

    async def config_error() -> Obj | None:
        waiting = ((await env.container_status("nonroot")) or {}).get("state", {}).get("waiting") or {}
        return waiting if waiting.get("reason") == "CreateContainerConfigError" else None

    waiting = await eventually(config_error, timeout=60)
    uid = (await env.pod("nonroot"))["metadata"]["uid"]
    assert waiting["message"] == (f'container has runAsNonRoot and image will run as root '
                                  f'(pod: "nonroot_{env.ns}({uid})", container: c)')
    assert (await env.pod("nonroot"))["status"]["phase"] == "Pending"


async def test_run_as_non_root_with_a_non_root_run_as_user_starts(env: Env) -> None:
    out = await run_script(env, "nonroot-ok", "id -u", securityContext={"runAsNonRoot": True, "runAsUser": 1000})
    assert out.split() == ["1000"]
