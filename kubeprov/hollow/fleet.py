"""Many hollow nodes in one process: one client, one pod informer, one node informer.

The pod informer watches every bound pod (``spec.nodeName!=``) and indexes them by node name;
its events go straight to the node a pod is bound to (a dict lookup), so a fleet of 1,000 nodes
holds two watch connections, not 1,000. Heartbeats are spread over the lease interval by jitter
and the order in which nodes registered.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
from typing import Any

from kubeprov.api.client import ApiClient
from kubeprov.api.informer import Informer
from kubeprov.api.status import StatusError
from kubeprov.hollow.node import LEASE_NAMESPACE, HollowConfig, HollowNode, HollowNodeSpec

Obj = dict[str, Any]
log = logging.getLogger("kubeprov.hollow")

NODE_NAME_INDEX = "spec.nodeName"
SYNC_TIMEOUT = 60.0


def node_name_index(pod: Obj) -> list[str]:
    name = (pod.get("spec") or {}).get("nodeName")
    return [name] if name else []


class HollowFleet:
    """``specs`` as hollow nodes sharing ``client`` (which the caller owns and closes)."""

    def __init__(self, client: ApiClient, specs: list[HollowNodeSpec], *, lease_interval: float = 10.0,
                 status_interval: float = 60.0, startup_delay: float = 0.0, stop_delay: float = 0.0,
                 restart_backoff: float = 10.0, register_concurrency: int = 64) -> None:
        names = [s.name for s in specs]
        if len(set(names)) != len(names):
            raise ValueError("hollow node names must be unique")
        self.client = client
        self.config = HollowConfig(lease_interval=lease_interval, status_interval=status_interval,
                                   startup_delay=startup_delay, stop_delay=stop_delay,
                                   restart_backoff=restart_backoff)
        self.register_concurrency = max(1, register_concurrency)
        self.pods = Informer(client, "v1", "pods", field_selector="spec.nodeName!=",
                             indexers={NODE_NAME_INDEX: node_name_index})
        self.node_informer = Informer(client, "v1", "nodes")
        self._nodes = {spec.name: HollowNode(client, spec, i, self.config, self.pods.get)
                       for i, spec in enumerate(specs)}
        self.pods.add_handler(on_add=self._pod_changed, on_update=lambda _old, new: self._pod_changed(new),
                              on_delete=self._pod_deleted)
        self.node_informer.add_handler(on_add=self._node_changed, on_update=lambda _old, new: self._node_changed(new),
                                       on_delete=self._node_deleted)
        self._started = False

    # ---- access ----------------------------------------------------------------------------

    def node(self, name: str) -> HollowNode:
        return self._nodes[name]

    @property
    def nodes(self) -> list[HollowNode]:
        return list(self._nodes.values())

    def __len__(self) -> int:
        return len(self._nodes)

    def pods_on(self, name: str) -> list[Obj]:
        """The bound pods the informer holds for node ``name``."""
        return self.pods.by_index(NODE_NAME_INDEX, name)

    # ---- informer events -------------------------------------------------------------------

    def _owner(self, pod: Obj) -> HollowNode | None:
        node = self._nodes.get((pod.get("spec") or {}).get("nodeName") or "")
        return node if node is not None and node.started else None

    def _pod_changed(self, pod: Obj) -> None:
        node = self._owner(pod)
        if node is not None:
            node.pod_event(pod)

    def _pod_deleted(self, pod: Obj) -> None:
        node = self._owner(pod)
        if node is not None:
            node.pod_deleted(pod)

    def _node_changed(self, obj: Obj) -> None:
        node = self._nodes.get((obj.get("metadata") or {}).get("name") or "")
        if node is not None:
            node.node_event(obj)

    def _node_deleted(self, obj: Obj) -> None:
        node = self._nodes.get((obj.get("metadata") or {}).get("name") or "")
        if node is not None:
            node.node_deleted(obj)

    # ---- lifecycle -------------------------------------------------------------------------

    async def start(self) -> None:
        """Sync the informers, register every node (Node, Lease, status) and start heartbeating."""
        if self._started:
            return
        self._started = True
        await self.pods.start()
        await self.node_informer.start()
        if not (await self.pods.wait_synced(SYNC_TIMEOUT) and await self.node_informer.wait_synced(SYNC_TIMEOUT)):
            await self.stop()
            raise TimeoutError("the hollow fleet's informers did not sync")
        gate = asyncio.Semaphore(self.register_concurrency)

        async def start_one(node: HollowNode) -> None:
            async with gate:
                await node.start()
            existing = self.node_informer.get("", node.name)
            if existing is not None:  # a Node already annotated (e.g. dead) before this fleet started
                node.node_event(existing)
            for pod in self.pods_on(node.name):
                node.pod_event(pod)

        await asyncio.gather(*(start_one(n) for n in self._nodes.values()))

    async def stop(self, delete_nodes: bool = False) -> None:
        """Stop heartbeats, pod workers and informers; with ``delete_nodes``, delete Nodes and Leases."""
        await asyncio.gather(*(n.stop() for n in self._nodes.values()))
        await self.pods.stop()
        await self.node_informer.stop()
        self._started = False
        if delete_nodes:
            gate = asyncio.Semaphore(self.register_concurrency)

            async def delete_one(node: HollowNode) -> None:
                async with gate:
                    for api, resource, namespace in (("v1", "nodes", ""),
                                                     ("coordination.k8s.io/v1", "leases", LEASE_NAMESPACE)):
                        with contextlib.suppress(StatusError):
                            await self.client.delete(api, resource, node.name, namespace)
                    node.registered = False
                    node.uid = ""

            await asyncio.gather(*(delete_one(n) for n in self._nodes.values()))
