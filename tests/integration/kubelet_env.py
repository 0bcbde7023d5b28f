"""A kubelet in-process against the session API server, for tests that need real pods.

``running_kubelet`` starts a Kubelet with a node name, data/run directories, cgroup parent, CNI bridge and
subnet (10.198.<n>.0/24) of its own, images from the ``oci_registry`` fixture, and on exit stops and
removes everything it started (pods, namespaces, bridge, NAT rules, cgroups, Node, Lease). ``Env`` is the
test's handle: its namespace, the kubelet and pod helpers.
"""

from __future__ import annotations

import asyncio
import contextlib
import io
import secrets
import subprocess
from collections.abc import AsyncIterator
from pathlib import Path
from typing import Any

from kubeprov.api.client import ApiClient
from kubeprov.kubelet.agent import Kubelet
from kubeprov.kubelet.config import KubeletConfig
from kubeprov.kubelet.images.hosts import RegistryHosts
from kubeprov.kubelet.network import netns
from kubeprov.kubelet.runtime.manager import remove_cgroup
from tests.integration.controller_env import delete_if_present, new_namespace
from tests.integration.test_kubelet_network import nat_rules, remove_new_cni_rules

Obj = dict[str, Any]
# a clean-up step that takes longer has hung: report what every task waits for instead of a bare timeout
STEP_TIMEOUT = 60.0
BUSYBOX = "registry.local/busybox:1"
WEB = "registry.local/web:1"
# a container that runs until SIGTERM, and then exits 0 at once
SLEEPER = ["sh", "-c", "trap 'exit 0' TERM; while true; do sleep 1; done"]


class Env:
    def __init__(self, client: ApiClient, kubelet: Kubelet, namespace: str) -> None:
        self.client = client
        self.kubelet = kubelet
        self.ns = namespace

    async def create_pod(self, name: str, containers: list[Obj], **spec: Any) -> Obj:
        body = {"apiVersion": "v1", "kind": "Pod", "metadata": {"name": name, "namespace": self.ns},
                "spec": {"nodeName": self.kubelet.name, "automountServiceAccountToken": False,
                         "terminationGracePeriodSeconds": 5, "containers": containers, **spec}}
        return await self.client.create("v1", "pods", body, self.ns)

    async def pod(self, name: str) -> Obj:
        return await self.client.get("v1", "pods", name, self.ns)

    async def container_status(self, name: str) -> Obj | None:
        statuses = (await self.pod(name)).get("status", {}).get("containerStatuses") or []
        return statuses[0] if statuses else None


@contextlib.asynccontextmanager
async def running_kubelet(api_client: ApiClient, oci_registry: Any, tmp_path: Path,
                          registry_hosts: RegistryHosts | None = None, **overrides: Any) -> AsyncIterator[Env]:
    """A started kubelet (``overrides`` are KubeletConfig fields) and a namespace; all removed on exit.
    ``registry_hosts`` replaces the ``oci_registry`` aliases (e.g. to add a second, private registry)."""
    tag = secrets.token_hex(3)
    config = KubeletConfig(node_name=f"kpk-{tag}", node_ip="", root_dir=str(tmp_path / "root"),
                           run_dir=str(tmp_path / "run"), cgroup_parent=f"/kubeprov-kpk-{tag}",
                           pod_cidr=f"10.198.{secrets.randbelow(250) + 1}.0/24", cni_bridge=f"kpk{tag}",
                           cni_network=f"kpk{tag}", node_lease_renew_interval=1.0,
                           node_status_update_frequency=5.0, pod_sync_interval=1.0, port=0, health_port=0)
    for key, value in overrides.items():
        setattr(config, key, value)
    kubelet = Kubelet(config, client=api_client, registry_hosts=registry_hosts or oci_registry.hosts)
    before = nat_rules()
    namespace = await new_namespace(api_client, "kubelet")
    environment = Env(api_client, kubelet, namespace)
    try:
        await kubelet.start()
        yield environment
    finally:
        await _clean_up(api_client, environment.kubelet, config, namespace, before)  # a test may have restarted it


def _task_stacks() -> str:
    """Every task's stack, to tell from a CI log what a hung clean-up was waiting for."""
    out = io.StringIO()
    for task in asyncio.all_tasks():
        task.print_stack(limit=8, file=out)
    return out.getvalue()


async def _clean_up(api_client: ApiClient, kubelet: Kubelet, config: KubeletConfig, namespace: str,
                    nat_before: set[str]) -> None:
    """Run every clean-up step even when one fails (a half-done teardown leaks bridges and cgroups), then
    raise the first failure so the test run still shows it."""
    failures: list[BaseException] = []

    async def step(action: Any) -> None:
        try:
            result = action()
            if asyncio.iscoroutine(result):
                await asyncio.wait_for(result, STEP_TIMEOUT)
        except TimeoutError:
            failures.append(TimeoutError(f"clean-up step {action} hung; tasks:\n{_task_stacks()}"))
        except Exception as exc:
            failures.append(exc)

    await step(kubelet.remove_all_pods)
    await step(kubelet.stop)
    if kubelet.network is not None:
        network = kubelet.network
        for name in netns.list_names(network.config.netns_dir):
            await step(lambda name=name: network.teardown({"metadata": {"uid": name}, "spec": {}}))
    await step(lambda: subprocess.run(["ip", "link", "del", config.cni_bridge], capture_output=True, check=False))
    await step(lambda: remove_new_cni_rules(nat_before, config.cni_network))
    await step(lambda: remove_cgroup(config.cgroup_parent))
    await step(lambda: delete_if_present(api_client, "v1", "namespaces", namespace))
    await step(lambda: delete_if_present(api_client, "coordination.k8s.io/v1", "leases", kubelet.name,
                                         "kube-node-lease"))
    await step(lambda: delete_if_present(api_client, "v1", "nodes", kubelet.name))
    if failures:
        raise failures[0]


async def events_of(env: Env, pod: str) -> list[tuple[str, str]]:
    """(reason, message) of every event about ``pod`` in the test's namespace."""
    items = (await env.client.list("v1", "events", env.ns)).get("items") or []
    return [(e["reason"], e.get("message", "")) for e in items if e["involvedObject"].get("name") == pod]
