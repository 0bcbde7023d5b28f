"""Pod ``securityContext.fsGroup`` on real pods: volumes belong to the group, a non-root user can use them.

Busybox runs as user 1000, group 3000, with fsGroup 2000 (the kubelet adds it as a supplemental group) and
prints ``stat`` lines (``<tag> <uid> <gid> <octal mode>``) of an emptyDir, a configMap and a secret volume;
the tests read the container log. Persistent volumes are checked on the volume manager directly: a local
volume is given to the fsGroup (skipped under OnRootMismatch when its root matches), a hostPath one never.
"""

from __future__ import annotations

import base64
import os
import stat
from collections.abc import AsyncIterator
from pathlib import Path
from typing import Any

import pytest

from kubeprov.api.client import ApiClient
from kubeprov.kubelet.runtime.logs import log_text
from kubeprov.kubelet.volumes.manager import VolumeConfig, VolumeManager
from tests.integration.controller_env import delete_if_present, eventually
from tests.integration.kubelet_env import BUSYBOX, Env, Obj, running_kubelet

pytestmark = [
    pytest.mark.integration,
    pytest.mark.timeout(120),
    pytest.mark.skipif(os.geteuid() != 0, reason="needs root: runc, mounts, namespaces and bridges"),
]

FS_GROUP = 2000
SECURITY = {"runAsUser": 1000, "runAsGroup": 3000, "fsGroup": FS_GROUP}
VOLUMES = [{"name": "scratch", "emptyDir": {}}, {"name": "cfg", "configMap": {"name": "cfg"}},
           {"name": "sec", "secret": {"secretName": "sec", "defaultMode": 0o400}}]
MOUNTS = [{"name": "scratch", "mountPath": "/scratch"}, {"name": "cfg", "mountPath": "/cfg"},
          {"name": "sec", "mountPath": "/sec"}]


@pytest.fixture
async def env(api_client: ApiClient, oci_registry: Any, tmp_path: Path) -> AsyncIterator[Env]:
    async with running_kubelet(api_client, oci_registry, tmp_path, sync_frequency=1.0) as environment:
        await api_client.create("v1", "configmaps", {"metadata": {"name": "cfg"}, "data": {"app.conf": "v=1"}},
                                environment.ns)
        await api_client.create("v1", "secrets", {"metadata": {"name": "sec"},
                                                  "data": {"pw": base64.b64encode(b"hunter2").decode()}},
                                environment.ns)
        yield environment


async def run_script(env: Env, name: str, script: str, restart: str = "Never") -> None:
    container = {"name": "c", "image": BUSYBOX, "command": ["sh", "-c", script], "volumeMounts": MOUNTS}
    await env.create_pod(name, [container], restartPolicy=restart, securityContext=SECURITY, volumes=VOLUMES)


async def log_of(env: Env, name: str) -> str:
    status = await env.container_status(name)
    cid = ((status or {}).get("containerID") or "").split("://", 1)[-1]
    if not cid:
        return ""
    runtime_status = await env.kubelet.runtime.container_status(cid)
    return log_text(Path(runtime_status.log_path)) if runtime_status is not None else ""


async def finished_log(env: Env, name: str) -> dict[str, str]:
    """The log of a pod that succeeded, as ``{tag: rest of line}``."""
    async def succeeded() -> bool:
        return (await env.pod(name))["status"].get("phase") == "Succeeded"

    assert await eventually(succeeded, timeout=60), f"pod {name} did not succeed: {await env.pod(name)}"
    lines = (await log_of(env, name)).splitlines()
    return {line.split(" ", 1)[0]: line.split(" ", 1)[1] for line in lines if " " in line}


async def test_the_empty_dir_belongs_to_the_fs_group_with_setgid(env: Env) -> None:
    await run_script(env, "empty", "stat -c 'scratch %u %g %a' /scratch; ls -ln /")
    assert (await finished_log(env, "empty"))["scratch"] == f"0 {FS_GROUP} 2777"


async def test_files_the_non_root_user_writes_into_the_empty_dir_get_the_fs_group(env: Env) -> None:
    await run_script(env, "writer", "echo hi > /scratch/out && mkdir /scratch/d && "
                                    "stat -c 'out %u %g' /scratch/out && stat -c 'dir %u %g %a' /scratch/d")
    got = await finished_log(env, "writer")
    assert got["out"] == f"1000 {FS_GROUP}"
    assert got["dir"].startswith(f"1000 {FS_GROUP} 2")  # setgid is inherited by new directories


async def test_config_map_and_secret_volumes_are_group_readable_by_the_fs_group(env: Env) -> None:
    await run_script(env, "readers", "stat -L -c 'app.conf %u %g %a' /cfg/app.conf; "
                                     "stat -L -c 'pw %u %g %a' /sec/pw; stat -L -c 'cfgdir %g %a' /cfg/..data; "
                                     "echo \"secret $(cat /sec/pw)\"; ls -ln /cfg/..data/ /sec/..data/")
    got = await finished_log(env, "readers")
    assert got["app.conf"] == f"0 {FS_GROUP} 644"
    assert got["pw"] == f"0 {FS_GROUP} 440"  # defaultMode 0400 plus group read, no group write
    assert got["cfgdir"] == f"{FS_GROUP} 2755"
    assert got["secret"] == "hunter2"  # user 1000 reads a root-owned 0440 file through group 2000


async def test_a_refreshed_config_map_keeps_the_fs_group(env: Env) -> None:
    await run_script(env, "watcher", "while true; do echo \"cfg $(cat /cfg/app.conf) "
                                     "$(stat -L -c '%g %a' /cfg/app.conf)\"; sleep 1; done", restart="Always")

    async def printed(line: str) -> bool:
        return line in (await log_of(env, "watcher")).splitlines()

    assert await eventually(lambda: printed(f"cfg v=1 {FS_GROUP} 644"), timeout=60)
    await env.client.patch("v1", "configmaps", "cfg", {"data": {"app.conf": "v=2"}}, env.ns)
    assert await eventually(lambda: printed(f"cfg v=2 {FS_GROUP} 644"), timeout=60)


async def test_without_fs_group_the_empty_dir_keeps_root_group_and_no_setgid(env: Env) -> None:
    container = {"name": "c", "image": BUSYBOX, "command": ["stat", "-c", "scratch %g %a", "/scratch"],
                 "volumeMounts": MOUNTS[:1]}
    await env.create_pod("plain", [container], restartPolicy="Never", volumes=VOLUMES[:1],
                         securityContext={"runAsUser": 1000})
    assert (await finished_log(env, "plain"))["scratch"] == "0 777"


async def test_a_projected_token_is_0640_owned_by_the_pods_user_and_the_fs_group(env: Env) -> None:
    await env.client.create("v1", "serviceaccounts", {"metadata": {"name": "robot"}}, env.ns)
    volume = {"name": "api", "projected": {"sources": [{"serviceAccountToken": {"path": "token"}}]}}
    container = {"name": "c", "image": BUSYBOX, "command": ["sh", "-c", "stat -L -c 'token %u %g %a' /api/token"],
                 "volumeMounts": [{"name": "api", "mountPath": "/api"}]}
    await env.create_pod("token", [container], restartPolicy="Never", securityContext=SECURITY, volumes=[volume],
                         serviceAccountName="robot")
    assert (await finished_log(env, "token"))["token"] == f"1000 {FS_GROUP} 640"


async def bound_claim(client: ApiClient, ns: str, pv_name: str, source: Obj) -> None:
    """A PersistentVolume (``source``: its hostPath/local part) and a claim in ``ns`` bound to it."""
    await client.create("v1", "persistentvolumes", {"metadata": {"name": pv_name}, "spec": {
        "capacity": {"storage": "1Gi"}, "accessModes": ["ReadWriteOnce"], "storageClassName": "", **source}})
    await client.create("v1", "persistentvolumeclaims", {"metadata": {"name": pv_name}, "spec": {
        "accessModes": ["ReadWriteOnce"], "storageClassName": "", "volumeName": pv_name,
        "resources": {"requests": {"storage": "1Gi"}}}}, ns)
    await client.patch("v1", "persistentvolumeclaims", pv_name, {"status": {"phase": "Bound"}}, ns,
                       subresource="status")


def claim_pod(ns: str, claim: str, **security: Any) -> Obj:
    return {"metadata": {"name": "p", "namespace": ns, "uid": f"uid-{claim}"}, "spec": {
        "securityContext": {"fsGroup": FS_GROUP, **security},
        "volumes": [{"name": "data", "persistentVolumeClaim": {"claimName": claim}}],
        "containers": [{"name": "c", "image": BUSYBOX}]}}


@pytest.fixture
async def claims(env: Env, tmp_path: Path) -> AsyncIterator[tuple[VolumeManager, list[str]]]:
    """A volume manager of its own, and the names of the PersistentVolumes a test made (deleted afterwards)."""
    made: list[str] = []
    try:
        yield VolumeManager(env.client, VolumeConfig(root=tmp_path / "volumes-root")), made
    finally:
        for name in made:
            await delete_if_present(env.client, "v1", "persistentvolumes", name)


LOCAL_AFFINITY = {"nodeAffinity": {"required": {"nodeSelectorTerms": [{"matchExpressions": [
    {"key": "kubernetes.io/hostname", "operator": "In", "values": ["somewhere"]}]}]}}}


async def test_a_local_persistent_volume_is_given_to_the_fs_group(env: Env, tmp_path: Path,
                                                                   claims: tuple[VolumeManager, list[str]]) -> None:
    manager, made = claims
    data = tmp_path / "local-data"
    (data / "old").mkdir(parents=True)
    name = f"local-{env.ns}"
    made.append(name)
    await bound_claim(env.client, env.ns, name, {"local": {"path": str(data)}, **LOCAL_AFFINITY})
    await manager.setup(claim_pod(env.ns, name))
    assert data.stat().st_gid == FS_GROUP and (data / "old").stat().st_gid == FS_GROUP
    assert stat.S_IMODE((data / "old").stat().st_mode) & 0o2070 == 0o2070


async def test_on_root_mismatch_leaves_a_local_volume_alone_when_its_root_matches(
        env: Env, tmp_path: Path, claims: tuple[VolumeManager, list[str]]) -> None:
    manager, made = claims
    data = tmp_path / "local-data"
    (data / "old").mkdir(parents=True)
    os.chown(data, -1, FS_GROUP)
    os.chmod(data, 0o2770)
    name = f"lroot-{env.ns}"
    made.append(name)
    await bound_claim(env.client, env.ns, name, {"local": {"path": str(data)}, **LOCAL_AFFINITY})
    await manager.setup(claim_pod(env.ns, name, fsGroupChangePolicy="OnRootMismatch"))
    assert (data / "old").stat().st_gid == 0


async def test_a_host_path_persistent_volume_keeps_its_ownership(env: Env, tmp_path: Path,
                                                                 claims: tuple[VolumeManager, list[str]]) -> None:
    manager, made = claims
    data = tmp_path / "host-data"
    data.mkdir()
    name = f"host-{env.ns}"
    made.append(name)
    await bound_claim(env.client, env.ns, name, {"hostPath": {"path": str(data)}})
    await manager.setup(claim_pod(env.ns, name))
    assert data.stat().st_gid == 0
