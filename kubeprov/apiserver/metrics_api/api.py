"""``metrics.k8s.io/v1beta1`` served by the API server itself: NodeMetrics and PodMetrics, get and list.

The objects are built on every request from the scraped usage and the current Node and Pod objects
(whose labels they carry and are selected by), as metrics-server does; nothing is stored.
"""

from __future__ import annotations

import time
from collections.abc import Callable
from typing import Any

from aiohttp import web

from kubeprov.api import status
from kubeprov.api.quantity import Quantity
from kubeprov.api.status import StatusError
from kubeprov.apiserver.metrics_api.formats import cpu_quantity, go_duration, memory_quantity, rfc3339
from kubeprov.apiserver.metrics_api.usage import Usage, UsageStore
from kubeprov.apiserver.resources import ResourceType
from kubeprov.apiserver.rest import negotiate
from kubeprov.apiserver.rest.call import Call
from kubeprov.apiserver.rest.selectors import build_predicate
from kubeprov.apiserver.tables.common import NAME, Column

GROUP = "metrics.k8s.io"
VERSION = "v1beta1"
API_VERSION = f"{GROUP}/{VERSION}"
Obj = dict[str, Any]
# objects of a core resource: (resource, namespace or "" for all) -> objects
ObjectLister = Callable[[str, str], list[Obj]]

_COLUMNS = (NAME, Column("CPU", description="CPU usage"), Column("Memory", description="Memory usage"),
            Column("Window", description="Interval over which the usage was measured"))


def resource_types() -> list[ResourceType]:
    """The two resources, for the registry (and so for discovery); ``stored=False``: never in etcd."""
    return [
        ResourceType(GROUP, VERSION, "nodes", "NodeMetrics", namespaced=False, verbs=("get", "list"), stored=False),
        ResourceType(GROUP, VERSION, "pods", "PodMetrics", namespaced=True, verbs=("get", "list"), stored=False),
    ]


def _usage(u: Usage) -> dict[str, str]:
    return {"cpu": cpu_quantity(u.cpu_nanocores), "memory": memory_quantity(u.memory_bytes)}


def _metadata(obj: Obj, now: float) -> Obj:
    meta = obj.get("metadata") or {}
    out: Obj = {"name": meta.get("name", "")}
    if meta.get("namespace"):
        out["namespace"] = meta["namespace"]
    out["creationTimestamp"] = rfc3339(now)
    if meta.get("labels"):
        out["labels"] = dict(meta["labels"])
    return out


def node_metrics(node: Obj, usage: Usage, now: float) -> Obj:
    return {"kind": "NodeMetrics", "apiVersion": API_VERSION, "metadata": _metadata(node, now),
            "timestamp": rfc3339(usage.timestamp), "window": go_duration(usage.window), "usage": _usage(usage)}


def pod_metrics(pod: Obj, store: UsageStore, now: float) -> Obj | None:
    meta = pod.get("metadata") or {}
    usage = store.pod(meta.get("namespace", ""), meta.get("name", ""))
    if usage is None:
        return None
    return {"kind": "PodMetrics", "apiVersion": API_VERSION, "metadata": _metadata(pod, now),
            "timestamp": rfc3339(usage.timestamp), "window": go_duration(usage.window),
            "containers": [{"name": name, "usage": _usage(u)} for name, u in usage.containers]}


def _table_cells(obj: Obj) -> list[Any]:
    if obj["kind"] == "NodeMetrics":
        usage = obj["usage"]
        return [obj["metadata"]["name"], usage["cpu"], usage["memory"], obj["window"]]
    cpu = sum(_nanocores(c["usage"]["cpu"]) for c in obj["containers"])
    memory = sum(_bytes(c["usage"]["memory"]) for c in obj["containers"])
    return [obj["metadata"]["name"], cpu_quantity(cpu), memory_quantity(memory), obj["window"]]


def _nanocores(text: str) -> int:
    return int(Quantity.parse(text).milli_value() * 1_000_000)


def _bytes(text: str) -> int:
    return -(-Quantity.parse(text).milli_value() // 1000)


def table(objects: list[Obj], include_object: str) -> Obj:
    rows = []
    for obj in objects:
        row_object: Obj | None = {"kind": "PartialObjectMetadata", "apiVersion": "meta.k8s.io/v1",
                                  "metadata": obj["metadata"]}
        if include_object == "Object":
            row_object = obj
        elif include_object == "None":
            row_object = None
        rows.append({"cells": _table_cells(obj), "object": row_object})
    return {"kind": "Table", "apiVersion": "meta.k8s.io/v1", "metadata": {},
            "columnDefinitions": [c.definition() for c in _COLUMNS], "rows": rows}


class MetricsApi:
    """Answers get/list of NodeMetrics and PodMetrics from ``store`` and the objects ``lister`` gives."""

    def __init__(self, store: UsageStore, lister: ObjectLister, core_types: Callable[[str], ResourceType]) -> None:
        self.store = store
        self.lister = lister
        self.core_types = core_types

    async def serve(self, request: web.Request, call: Call) -> web.Response:
        info, rt = call.info, call.rt
        if info.subresource or info.verb not in ("get", "list"):
            raise StatusError(status.method_not_supported(rt.group_resource, info.verb))
        now = time.time()
        core = self.core_types(rt.resource)
        predicate = build_predicate(core, call.query, info.name if info.verb == "get" else "")
        objects = [o for o in self.lister(rt.resource, info.namespace) if predicate is None or predicate(o)]
        items = [m for m in (self._metrics(rt.resource, o, now) for o in objects) if m is not None]
        if info.verb == "get":
            if not items:
                singular = "nodemetrics" if rt.resource == "nodes" else "podmetrics"
                raise StatusError(status.not_found(f"{singular}.{GROUP}", info.name))
            doc = items[0]
            if call.accept.as_kind == "Table":
                doc = table([doc], call.query.get("includeObject", "Metadata"))
        elif call.accept.as_kind == "Table":
            doc = table(items, call.query.get("includeObject", "Metadata"))
        else:
            doc = {"kind": f"{rt.kind}List", "apiVersion": API_VERSION, "metadata": {}, "items": items}
        body, content_type = negotiate.encode(doc, call.accept)
        return web.Response(body=body, content_type=content_type)

    def _metrics(self, resource: str, obj: Obj, now: float) -> Obj | None:
        if resource == "pods":
            return pod_metrics(obj, self.store, now)
        usage = self.store.node((obj.get("metadata") or {}).get("name", ""))
        return node_metrics(obj, usage, now) if usage is not None else None
