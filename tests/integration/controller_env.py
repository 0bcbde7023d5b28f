"""A test bed for controllers against the session's API server.

:class:`ControllerEnv` gives a test a namespace of its own (with its ``default`` ServiceAccount), a
pool of hollow nodes labelled for that test only, a scheduler with a name of its own, and the
controllers the test asks for, restricted to the namespace, each with an event recorder. Workloads
built with :meth:`pod_spec` land only on the pool, so tests sharing the server never touch each other's
pods.
"""

from __future__ import annotations

import asyncio
import contextlib
import uuid
from collections.abc import AsyncIterator, Awaitable, Callable
from typing import Any

from kubeprov.api.client import ApiClient
from kubeprov.api.events import EventRecorder
from kubeprov.api.informer import SharedInformerFactory
from kubeprov.api.status import StatusError
from kubeprov.controllers.base import Controller
from kubeprov.controllers.identities import event_source
from kubeprov.hollow import HollowFleet, HollowNodeSpec
from kubeprov.scheduler.config import SchedulerConfig
from kubeprov.scheduler.service import Scheduler
from tests.integration.apiserver_fixture import ApiServerForTest

POOL_LABEL = "test.kubeprov.io/pool"


async def eventually(check: Callable[[], Awaitable[Any]], timeout: float = 20.0, interval: float = 0.1) -> Any:
    """Call ``check`` until it returns something truthy (a 404 counts as not yet); time out otherwise."""
    async with asyncio.timeout(timeout):
        while True:
            try:
                result = await check()
            except StatusError as exc:
                if exc.code != 404:
                    raise
                result = None
            if result:
                return result
            await asyncio.sleep(interval)


async def delete_if_present(client: ApiClient, api_version: str, resource: str, name: str,
                            namespace: str = "") -> None:
    """Delete, taking "already gone" (a controller got there first) as done."""
    try:
        await client.delete(api_version, resource, name, namespace)
    except StatusError as exc:
        if exc.code != 404:
            raise


async def new_namespace(client: ApiClient, prefix: str) -> str:
    """A fresh namespace with its ``default`` ServiceAccount (which pods need to be admitted)."""
    name = f"{prefix}-{uuid.uuid4().hex[:8]}"
    await client.create("v1", "namespaces", {"apiVersion": "v1", "kind": "Namespace", "metadata": {"name": name}})
    await client.create("v1", "serviceaccounts", {"metadata": {"name": "default"}}, name)
    return name


class ControllerEnv:
    """Namespace + hollow node pool + scheduler + the given controllers; see the module docstring."""

    def __init__(self, apiserver: ApiServerForTest, client: ApiClient, prefix: str = "ctl") -> None:
        self.apiserver = apiserver
        self.client = client
        self.prefix = prefix
        self.tag = uuid.uuid4().hex[:6]
        self.ns = ""
        self.scheduler_name = f"{prefix}-sched-{self.tag}"
        self.pool = {POOL_LABEL: self.tag}
        self.fleet: HollowFleet | None = None
        self.scheduler: Scheduler | None = None
        self.factory: SharedInformerFactory | None = None
        self.controllers: list[Controller] = []
        self.recorders: list[EventRecorder] = []

    def node_specs(self, count: int, **spec: Any) -> list[HollowNodeSpec]:
        labels = {**self.pool, **spec.pop("labels", {})}
        return [HollowNodeSpec(f"{self.prefix}-{self.tag}-{i}", labels=dict(labels), **spec) for i in range(count)]

    async def start(self, controllers: list[type[Controller]], *, nodes: int = 2,
                    node_specs: list[HollowNodeSpec] | None = None, scheduler: bool = True,
                    options: dict[type[Controller], dict[str, Any]] | None = None) -> None:
        """Create the namespace, start ``nodes`` hollow nodes (or ``node_specs``), the scheduler and
        ``controllers`` (``options`` gives a class its extra constructor keywords)."""
        self.ns = await new_namespace(self.client, self.prefix)
        specs = node_specs if node_specs is not None else self.node_specs(nodes)
        if specs:
            self.fleet = HollowFleet(self.client, specs, lease_interval=1.0, status_interval=5.0, stop_delay=0.0)
            await self.fleet.start()
        if scheduler:
            self.scheduler = Scheduler(SchedulerConfig(scheduler_name=self.scheduler_name, leader_elect=False,
                                                       health_port=0), client=self.client)
            await self.scheduler.start()
        self.factory = SharedInformerFactory(self.client)
        options = options or {}
        self.controllers = []
        for cls in controllers:
            # each controller records events under kube-controller-manager's name for it, unless told otherwise
            kwargs = dict(options.get(cls, {}))
            if "recorder" not in kwargs:
                kwargs["recorder"] = EventRecorder(self.client, event_source(cls.name), "test")
                await kwargs["recorder"].start()
                self.recorders.append(kwargs["recorder"])
            self.controllers.append(cls(self.client, self.factory, namespace_filter=self.wants, **kwargs))
        await self.factory.start()
        for controller in self.controllers:
            await controller.start(10)

    def wants(self, namespace: str) -> bool:
        return namespace == self.ns

    async def stop(self) -> None:
        for controller in self.controllers:
            await controller.stop()
        if self.factory is not None:
            await self.factory.stop()
        for recorder in self.recorders:
            await recorder.stop()
        if self.scheduler is not None:
            await self.scheduler.stop()
        if self.fleet is not None:
            await self.fleet.stop(delete_nodes=True)
        if self.ns:
            with contextlib.suppress(StatusError):
                await self.client.delete("v1", "namespaces", self.ns)

    def pod_spec(self, image: str = "registry.local/app:1", **spec: Any) -> dict[str, Any]:
        """A pod spec for this env's scheduler and node pool; ``spec`` adds or overrides fields."""
        body: dict[str, Any] = {"schedulerName": self.scheduler_name, "nodeSelector": dict(self.pool),
                                "terminationGracePeriodSeconds": 0,
                                "containers": [{"name": "c", "image": image}]}
        body.update(spec)
        return body

    async def pods(self, selector: str = "", active_only: bool = True) -> list[dict[str, Any]]:
        items, _ = await self.client.list_all("v1", "pods", self.ns, label_selector=selector or None)
        if active_only:
            items = [p for p in items if not p["metadata"].get("deletionTimestamp")]
        return items

    def kubectl(self, *args: str) -> Awaitable[Any]:
        """The real kubectl in this env's namespace (run in a thread so the event loop goes on)."""
        return asyncio.to_thread(self.apiserver.kubectl, "-n", self.ns, *args)


@contextlib.asynccontextmanager
async def controller_env(apiserver: ApiServerForTest, client: ApiClient, controllers: list[type[Controller]],
                         prefix: str = "ctl", **kwargs: Any) -> AsyncIterator[ControllerEnv]:
    env = ControllerEnv(apiserver, client, prefix)
    try:
        await env.start(controllers, **kwargs)
        yield env
    finally:
        await env.stop()
