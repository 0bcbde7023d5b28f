"""NamespaceLifecycle: no content in a namespace that does not exist, no new content in one being
deleted, and the system namespaces (default, kube-system, kube-public) cannot be deleted."""

from __future__ import annotations

import time
from typing import ClassVar

from kubeprov.api import status
from kubeprov.api.status import StatusError
from kubeprov.apiserver.admission.attributes import CREATE, DELETE, Attributes, mapping, meta
from kubeprov.apiserver.admission.lookup import Lookup
from kubeprov.apiserver.admission.plugin import Plugin

IMMORTAL_NAMESPACES = frozenset({"default", "kube-system", "kube-public"})
# how long after a namespace delete this server reads the namespace from etcd, not the cache
FORCE_LIVE_LOOKUP_SECONDS = 30.0
# resources that reveal permissions, not content: a missing namespace must not show
ACCESS_REVIEWS = frozenset({("authorization.k8s.io", "localsubjectaccessreviews")})


def is_terminating(namespace: dict) -> bool:
    return mapping(namespace.get("status")).get("phase") == "Terminating"


class NamespaceLifecycle(Plugin):
    name: ClassVar[str] = "NamespaceLifecycle"
    mutating: ClassVar[bool] = True
    validating: ClassVar[bool] = True

    def __init__(self, lookup: Lookup) -> None:
        super().__init__(lookup)
        self._force_live: dict[str, float] = {}

    async def admit(self, a: Attributes) -> None:
        await self._check(a)

    async def validate(self, a: Attributes) -> None:
        # Kubernetes checks once, in the mutating phase; checking again here covers a request that
        # reaches validation without the mutating phase, and costs one cache read.
        await self._check(a)

    async def validate_delete(self, a: Attributes) -> None:
        if not a.is_core("namespaces"):
            return
        name = a.name or meta(a.obj).get("name", "")
        if name in IMMORTAL_NAMESPACES:
            raise a.forbidden_named(name, "this namespace may not be deleted")
        # the cache may still show it Active for a moment: read etcd for creates into it
        self._force_live[name] = time.monotonic() + FORCE_LIVE_LOOKUP_SECONDS

    def _forced(self, namespace: str) -> bool:
        deadline = self._force_live.get(namespace)
        if deadline is None:
            return False
        if deadline < time.monotonic():
            del self._force_live[namespace]
            return False
        return True

    async def _check(self, a: Attributes) -> None:
        if a.operation == DELETE or a.is_core("namespaces"):
            return
        if not a.namespace or (a.group, a.resource) in ACCESS_REVIEWS:
            return
        namespace = self.lookup.cached("", "namespaces", "", a.namespace)
        if namespace is None or (self._forced(a.namespace) and not is_terminating(namespace)):
            namespace = await self.lookup.live("", "namespaces", "", a.namespace)
        if namespace is None:
            raise StatusError(status.not_found("namespaces", a.namespace))
        if a.operation == CREATE and is_terminating(namespace):
            err = a.forbidden(f"unable to create new content in namespace {a.namespace} because it is being terminated")
            details = err.status.setdefault("details", {})
            details.setdefault("causes", []).append({
                "reason": "NamespaceTerminating",
                "message": f"namespace {a.namespace} is being terminated",
                "field": "metadata.namespace",
            })
            raise err
