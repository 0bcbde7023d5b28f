"""imagePullSecrets against a real registry that wants credentials.

A second docker-registry of this module's own asks for basic auth (htpasswd, bcrypt); the busybox test
image is pushed into it with credentials as ``private.local/team/busybox:1``, and the kubelet's registry
hosts alias ``private.local`` to it next to ``registry.local``. Each test runs a kubelet of its own, so
no image is on the node before the pod asks for it.
"""

from __future__ import annotations

import asyncio
import base64
import dataclasses
import json
import os
from collections.abc import AsyncIterator, Iterator
from pathlib import Path
from typing import Any

import pytest

from kubeprov.api.client import ApiClient
from kubeprov.kubelet.images.hosts import RegistryHosts
from kubeprov.kubelet.images.localregistry import LocalRegistry
from kubeprov.kubelet.images.registry import RegistryClient
from kubeprov.kubelet.images.testimages import build_test_images, push_image
from kubeprov.kubelet.runtime.logs import log_text
from tests.integration.controller_env import eventually
from tests.integration.kubelet_env import Env, Obj, running_kubelet

pytestmark = [
    pytest.mark.integration,
    pytest.mark.timeout(120),
    pytest.mark.skipif(os.geteuid() != 0, reason="needs root: runc, mounts, namespaces and bridges"),
]

PRIVATE = "private.local"
PRIVATE_IMAGE = f"{PRIVATE}/team/busybox:1"
USER, PASSWORD = "puller", "pull-s3cret"


@dataclasses.dataclass
class PrivateRegistry:
    registry: LocalRegistry

    def hosts(self, oci_registry: Any) -> RegistryHosts:
        """``registry.local`` (the session registry) and ``private.local`` (this one), both plain HTTP."""
        return RegistryHosts.from_config({**{name: e[0].url for name, e in oci_registry.hosts.hosts.items()},
                                          PRIVATE: self.registry.url})


async def _push_private(address: str) -> None:
    busybox = next(i for i in build_test_images() if i.name.endswith("/busybox:1"))
    image = dataclasses.replace(busybox, name=PRIVATE_IMAGE)
    async with RegistryClient(RegistryHosts.from_config({PRIVATE: f"http://{address}"})) as client:
        await push_image(client, image, {PRIVATE: (USER, PASSWORD)})


@pytest.fixture(scope="module")
def private_registry(tmp_path_factory: pytest.TempPathFactory) -> Iterator[PrivateRegistry]:
    registry = LocalRegistry(tmp_path_factory.mktemp("private-registry"), users={USER: PASSWORD}).start()
    try:
        asyncio.run(_push_private(registry.address))
        yield PrivateRegistry(registry)
    finally:
        registry.stop()


@pytest.fixture
async def env(api_client: ApiClient, oci_registry: Any, private_registry: PrivateRegistry,
              tmp_path: Path) -> AsyncIterator[Env]:
    async with running_kubelet(api_client, oci_registry, tmp_path,
                               registry_hosts=private_registry.hosts(oci_registry)) as environment:
        yield environment


def docker_config_secret(name: str, user: str, password: str) -> Obj:
    """What ``kubectl create secret docker-registry NAME --docker-server=private.local ...`` makes."""
    auth = base64.b64encode(f"{user}:{password}".encode()).decode()
    config = {"auths": {PRIVATE: {"username": user, "password": password, "auth": auth}}}
    return {"apiVersion": "v1", "kind": "Secret", "metadata": {"name": name},
            "type": "kubernetes.io/dockerconfigjson",
            "data": {".dockerconfigjson": base64.b64encode(json.dumps(config).encode()).decode()}}


async def create_private_pod(env: Env, name: str, *secrets: str) -> Obj:
    return await env.create_pod(name, [{"name": "c", "image": PRIVATE_IMAGE, "command": ["echo", "private ok"]}],
                                restartPolicy="Never", imagePullSecrets=[{"name": s} for s in secrets])


async def succeeded_log(env: Env, name: str) -> str:
    async def succeeded() -> Obj | None:
        pod = await env.pod(name)
        return pod if pod["status"].get("phase") == "Succeeded" else None

    pod = await eventually(succeeded, timeout=60)
    cid = pod["status"]["containerStatuses"][0]["containerID"].split("://", 1)[1]
    return log_text(Path((await env.kubelet.runtime.container_status(cid)).log_path))


async def waiting(env: Env, name: str, reason: str) -> Obj:
    async def check() -> Obj | None:
        status = await env.container_status(name)
        state = (status or {}).get("state", {}).get("waiting") or {}
        return state if state.get("reason") == reason else None

    return await eventually(check, timeout=60)


async def events_of(env: Env, pod: str) -> list[tuple[str, str, str]]:
    items = (await env.client.list("v1", "events", env.ns)).get("items") or []
    return [(e["type"], e["reason"], e.get("message", "")) for e in items if e["involvedObject"].get("name") == pod]


async def test_a_dockerconfigjson_secret_lets_the_pod_pull_from_the_private_registry_and_run(env: Env) -> None:
    await env.client.create("v1", "secrets", docker_config_secret("regcred", USER, PASSWORD), env.ns)
    await create_private_pod(env, "with-secret", "regcred")
    assert await succeeded_log(env, "with-secret") == "private ok\n"


async def test_without_a_secret_the_pull_is_unauthorized_then_backs_off(env: Env) -> None:
    await create_private_pod(env, "no-secret")
    failed = await waiting(env, "no-secret", "ErrImagePull")
    assert failed["message"].startswith(f'failed to pull and unpack image "{PRIVATE_IMAGE}"')
    assert "authorization failed" in failed["message"]
    backoff = await waiting(env, "no-secret", "ImagePullBackOff")
    assert backoff["message"] == f'Back-off pulling image "{PRIVATE_IMAGE}"'
    assert (await env.pod("no-secret"))["status"]["phase"] == "Pending"


async def test_a_secret_with_a_wrong_password_is_unauthorized(env: Env) -> None:
    await env.client.create("v1", "secrets", docker_config_secret("wrong", USER, "not-the-password"), env.ns)
    await create_private_pod(env, "wrong-password", "wrong")
    failed = await waiting(env, "wrong-password", "ErrImagePull")
    assert "authorization failed" in failed["message"]

    async def failed_event() -> list[str]:
        return [m for t, r, m in await events_of(env, "wrong-password")
                if (t, r) == ("Warning", "Failed") and m.startswith(f'Failed to pull image "{PRIVATE_IMAGE}"')]

    assert "authorization failed" in (await eventually(failed_event, timeout=30))[0]


async def test_a_missing_secret_is_a_warning_and_the_next_secret_is_still_used(env: Env) -> None:
    await env.client.create("v1", "secrets", docker_config_secret("regcred", USER, PASSWORD), env.ns)
    await create_private_pod(env, "missing", "absent", "regcred")
    assert await succeeded_log(env, "missing") == "private ok\n"
    message = ("Unable to retrieve some image pull secrets (absent); attempting to pull the image may not "
               "succeed.")
    assert ("Warning", "FailedToRetrieveImagePullSecret", message) in await events_of(env, "missing")


async def test_the_secret_kubectl_create_secret_docker_registry_makes_works(env: Env, apiserver: Any) -> None:
    done = await asyncio.to_thread(
        apiserver.kubectl, "create", "secret", "docker-registry", "kubectl-cred", "-n", env.ns,
        f"--docker-server={PRIVATE}", f"--docker-username={USER}", f"--docker-password={PASSWORD}",
        "--docker-email=puller@example.com", "--dry-run=client", "-o", "json")
    assert done.returncode == 0, done.stderr
    secret = json.loads(done.stdout)
    assert secret["type"] == "kubernetes.io/dockerconfigjson"
    await env.client.create("v1", "secrets", secret, env.ns)
    await create_private_pod(env, "kubectl-secret", "kubectl-cred")
    assert await succeeded_log(env, "kubectl-secret") == "private ok\n"


async def test_the_service_accounts_pull_secrets_are_used_for_its_pods(env: Env) -> None:
    await env.client.create("v1", "secrets", docker_config_secret("sa-cred", USER, PASSWORD), env.ns)
    account = {"apiVersion": "v1", "kind": "ServiceAccount", "metadata": {"name": "puller"},
               "imagePullSecrets": [{"name": "sa-cred"}]}
    await env.client.create("v1", "serviceaccounts", account, env.ns)
    container = {"name": "c", "image": PRIVATE_IMAGE, "command": ["echo", "private ok"]}
    pod = await env.create_pod("via-account", [container], restartPolicy="Never", serviceAccountName="puller")
    assert pod["spec"]["imagePullSecrets"] == [{"name": "sa-cred"}]
    assert await succeeded_log(env, "via-account") == "private ok\n"


async def test_a_legacy_dockercfg_secret_works_too(env: Env) -> None:
    cfg = {f"https://{PRIVATE}": {"username": USER, "password": PASSWORD, "email": "puller@example.com"}}
    secret = {"apiVersion": "v1", "kind": "Secret", "metadata": {"name": "legacy"}, "type": "kubernetes.io/dockercfg",
              "data": {".dockercfg": base64.b64encode(json.dumps(cfg).encode()).decode()}}
    await env.client.create("v1", "secrets", secret, env.ns)
    await create_private_pod(env, "legacy", "legacy")
    assert await succeeded_log(env, "legacy") == "private ok\n"
