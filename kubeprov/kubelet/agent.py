"""The kubelet: registers its Node, keeps its Lease and status fresh, and runs a worker per pod bound to it.

Its libraries (images, runtime, network, volumes) do the work; this module only wires them to the API:
an informer on pods with ``spec.nodeName=<node>`` starts, updates and forgets workers.
"""

from __future__ import annotations

import asyncio
import logging
from pathlib import Path
from typing import Any

from kubeprov.aio import cancel_and_wait
from kubeprov.api.client import ApiClient
from kubeprov.api.events import EventRecorder
from kubeprov.api.informer import Informer
from kubeprov.kubelet.config import KubeletConfig
from kubeprov.kubelet.image_gc import ImageGC, node_reference
from kubeprov.kubelet.images.hosts import RegistryHosts
from kubeprov.kubelet.images.registry import RegistryClient
from kubeprov.kubelet.images.service import ImageService
from kubeprov.kubelet.network import dns
from kubeprov.kubelet.network.pod_network import NetworkConfig, PodNetwork
from kubeprov.kubelet.node_status import KUBELET_PORT, NodeStatus, default_node_ip
from kubeprov.kubelet.pod_worker import PodDeps, PodWorker
from kubeprov.kubelet.runtime.manager import ContainerNotFound, ContainerRuntime, ContainerStatus
from kubeprov.kubelet.server.app import KubeletServer
from kubeprov.kubelet.volumes.manager import VolumeConfig, VolumeManager

Obj = dict[str, Any]
log = logging.getLogger(__name__)


class Kubelet:
    """``start`` registers and begins serving pods; ``stop`` ends the loops (containers keep running, as a
    restarted kubelet's would); ``remove_all_pods`` stops and cleans up every pod this kubelet runs."""

    def __init__(self, config: KubeletConfig, *, client: ApiClient | None = None,
                 registry_hosts: RegistryHosts | None = None) -> None:
        self.config = config
        self.name = config.name
        self._client = client
        self._own_client = client is None
        self.registry_hosts = registry_hosts or RegistryHosts.from_config(config.registries)
        self.node_ip = config.node_ip or default_node_ip()
        root, run = Path(config.root_dir), Path(config.run_dir)
        self.root = root
        self.runtime = ContainerRuntime(state_dir=root / "runtime", runc_root=run / "runc",
                                        netns_dir=run / "sandboxes", cgroup_parent=config.cgroup_parent)
        self.workers: dict[str, PodWorker] = {}
        self.node_status: NodeStatus | None = None
        self.network: PodNetwork | None = None
        self._registry: RegistryClient | None = None
        self._informer: Informer | None = None
        self._recorder: EventRecorder | None = None
        self._deps: PodDeps | None = None
        self._task: asyncio.Task[None] | None = None
        self.lease_renewals = 0
        self.image_gc: ImageGC | None = None
        self.server: KubeletServer | None = None

    @property
    def client(self) -> ApiClient:
        if self._client is None:
            self._client = ApiClient.from_kubeconfig(Path(self.config.kubeconfig), user_agent="kubeprov-kubelet")
        return self._client

    def _network_config(self, node: Obj) -> NetworkConfig:
        spec = node.get("spec") or {}
        cidrs = tuple(spec.get("podCIDRs") or ([spec["podCIDR"]] if spec.get("podCIDR") else []))
        if not cidrs:
            if not self.config.pod_cidr:
                raise RuntimeError(f"node {self.name} has no spec.podCIDR and the config no pod_cidr")
            cidrs = (self.config.pod_cidr,)
        cni = self.root / "cni"
        run = Path(self.config.run_dir)
        return NetworkConfig(cidrs, bridge=self.config.cni_bridge, network_name=self.config.cni_network,
                             netns_dir=run / "netns", ipam_dir=cni / "networks", cache_dir=cni / "cache")

    async def start(self) -> None:
        client = self.client
        self.node_status = NodeStatus(client, self.name, node_ip=self.node_ip, data_dir=self.root,
                                      labels=dict(self.config.node_labels), max_pods=self.config.max_pods,
                                      taints=list(self.config.register_with_taints),
                                      lease_duration=self.config.node_lease_duration_seconds,
                                      kubelet_port=self.config.port or KUBELET_PORT,
                                      eviction_hard=self.config.eviction_hard, images_dir=self.root / "images",
                                      images=lambda: self._deps.images.store.list() if self._deps else [])
        node = await self.node_status.register()
        await self.node_status.renew_lease()
        self.lease_renewals += 1
        self.network = PodNetwork(self._network_config(node))
        self._registry = RegistryClient(self.registry_hosts)
        await self.runtime.start()
        self._recorder = EventRecorder(client, "kubelet", self.name)
        await self._recorder.start()
        if self.node_status.limits_problem:
            self._recorder.event(node_reference(self.name), "Warning", "ResourceLimitsNotEnforced",
                                 f"{self.node_status.limits_problem}: cpu and memory limits are not enforced")
        host_resolv = dns.parse_resolv_conf(Path("/etc/resolv.conf").read_text())
        self._deps = PodDeps(
            client=client, runtime=self.runtime, images=ImageService(self.root / "images", self._registry),
            network=self.network, volumes=VolumeManager(client, VolumeConfig(
                self.root, dict((node.get("status") or {}).get("allocatable") or {}))),
            recorder=self._recorder, node_name=self.name, node_ip=self.node_ip, root=self.root,
            cluster_dns=dns.ClusterDNS(tuple(self.config.cluster_dns), self.config.cluster_domain, host_resolv),
            sync_interval=self.config.pod_sync_interval, volume_refresh=self.config.sync_frequency)
        self._informer = Informer(client, "v1", "pods", field_selector=f"spec.nodeName={self.name}")
        self._informer.add_handler(self._on_pod, lambda _old, new: self._on_pod(new), self._on_pod_deleted)
        await self._informer.start()
        await self._informer.wait_synced()
        await self._start_server()
        await self.remove_orphans()
        self._task = asyncio.create_task(self._heartbeat(), name=f"kubelet {self.name} heartbeat")
        self.image_gc = ImageGC.for_kubelet(self, self._deps.images)
        self.image_gc.start()

    async def _start_server(self) -> None:
        """The HTTPS server; a port already taken is logged, not fatal (pods keep being run), and the Node
        advertises the port actually bound."""
        server = KubeletServer(self, self.config)
        try:
            await server.start()
        except OSError as exc:
            log.error("node %s: kubelet server not started on %s:%s: %s", self.name, self.config.address,
                      self.config.port, exc)
            return
        self.server = server
        assert self.node_status is not None
        self.node_status.kubelet_port = server.port
        await self.node_status.post_status()

    async def stop(self) -> None:
        if self.image_gc is not None:
            await self.image_gc.stop()
        if self.server is not None:
            await self.server.stop()
            self.server = None
        await cancel_and_wait(self._task)
        self._task = None
        if self._informer is not None:
            await self._informer.stop()
        await asyncio.gather(*(w.cancel() for w in self.workers.values()))
        self.workers.clear()
        if self._recorder is not None:
            await self._recorder.stop()
        if self._registry is not None:
            await self._registry.close()
            self._registry = None
        if self._own_client and self._client is not None:
            await self._client.close()

    async def remove_all_pods(self) -> None:
        """Stop every pod's containers at once and free their sandboxes, networks and volumes (no API writes)."""
        workers = list(self.workers.values())
        for worker in workers:
            await worker.cancel()
            if worker.done:
                continue
            worker.removed = True
            await worker.terminate()
        self.workers.clear()
        for sandbox in self.runtime.list_sandboxes():
            await self.runtime.remove_sandbox(sandbox.id)

    async def remove_orphans(self) -> None:
        """Free the sandboxes of pods no longer bound here (deleted while the kubelet was down)."""
        assert self._informer is not None and self.network is not None and self._deps is not None
        bound = {(p.get("metadata") or {}).get("uid") for p in self._informer.list()}
        for sandbox in self.runtime.list_sandboxes():
            if sandbox.id in bound:
                continue
            log.info("node %s: removing the sandbox of pod %s, no longer bound here", self.name, sandbox.id)
            await self.runtime.remove_sandbox(sandbox.id)
            await self.network.teardown({"metadata": {"uid": sandbox.id}, "spec": {"hostNetwork": False}})
            await asyncio.to_thread(self._deps.volumes.teardown, sandbox.id)

    # ------------------------------------------------------------------ pods

    def _on_pod(self, pod: Obj) -> None:
        meta = pod.get("metadata") or {}
        key = f"{meta.get('namespace')}/{meta.get('name')}"
        worker = self.workers.get(key)
        if worker is not None and worker.uid != meta.get("uid"):
            worker.forget()
            worker = None
        if worker is None:
            if self._deps is None:
                return
            worker = self.workers[key] = PodWorker(self._deps, pod)
            worker.start()
        else:
            worker.update(pod)

    def _on_pod_deleted(self, pod: Obj) -> None:
        meta = pod.get("metadata") or {}
        worker = self.workers.get(f"{meta.get('namespace')}/{meta.get('name')}")
        if worker is not None and worker.uid == meta.get("uid") and not worker.done:
            worker.forget()

    # ------------------------------------------------------------------ lookups (server, streaming)

    def pod_worker(self, namespace: str, name: str) -> PodWorker | None:
        return self.workers.get(f"{namespace}/{name}")

    async def find_container(self, namespace: str, pod: str, container: str = "",
                             previous: bool = False) -> ContainerStatus | None:
        """The runtime's container behind ``namespace/pod``'s ``container`` (the only one when empty),
        or with ``previous`` the instance before it; None when there is no such pod or container."""
        worker = self.pod_worker(namespace, pod)
        if worker is None:
            return None
        names = [c.name for c in worker.containers if not c.init]
        wanted = container or (names[0] if len(names) == 1 else "")
        for c in worker.containers:
            if c.name != wanted:
                continue
            cid = c.previous if previous else c.cid
            if not cid:
                return None
            try:
                return await self.runtime.container_status(cid)
            except ContainerNotFound:
                return None
        return None

    def pod_netns(self, namespace: str, pod: str) -> Path | None:
        """The network namespace file of a running pod (port-forward dials from inside it)."""
        worker = self.pod_worker(namespace, pod)
        if worker is None or self.network is None or not worker.sandbox_ready:
            return None
        return self.network.netns_path(worker.pod)

    # ------------------------------------------------------------------ node heartbeat

    async def _heartbeat(self) -> None:
        assert self.node_status is not None
        loop = asyncio.get_running_loop()
        next_status = loop.time() + self.config.node_status_update_frequency
        while True:
            await asyncio.sleep(self.config.node_lease_renew_interval)
            try:
                await self.node_status.renew_lease()
                self.lease_renewals += 1
                force = loop.time() >= next_status
                if await self.node_status.post_status(force=force) or force:
                    next_status = loop.time() + self.config.node_status_update_frequency
            except Exception:
                log.exception("node %s: heartbeat failed", self.name)
            for key in [k for k, w in self.workers.items() if w.done]:
                self.workers.pop(key, None)
