"""Every active namespace gets the ``default`` ServiceAccount, recreated when deleted
(Kubernetes' ServiceAccountsController)."""

from __future__ import annotations

from typing import Any

from kubeprov.api.status import StatusError
from kubeprov.controllers.base import Controller, Obj, meta

DEFAULT_SERVICE_ACCOUNT = "default"


class ServiceAccountsController(Controller):
    name = "serviceaccount"

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        self.namespaces = self.informer("v1", "namespaces")
        self.accounts = self.informer("v1", "serviceaccounts")
        self.namespaces.add_handler(on_add=self._namespace, on_update=lambda _old, new: self._namespace(new))
        self.accounts.add_handler(on_delete=self._account_deleted)

    def _namespace(self, ns: Obj) -> None:
        name = meta(ns).get("name", "")
        if self.wants(name):
            self.enqueue(name)

    def _account_deleted(self, sa: Obj) -> None:
        m = meta(sa)
        if m.get("name") == DEFAULT_SERVICE_ACCOUNT and self.wants(m.get("namespace", "")):
            self.enqueue(m.get("namespace", ""))

    async def sync(self, key: str) -> None:
        ns = self.namespaces.get("", key)
        if ns is None or meta(ns).get("deletionTimestamp") or (ns.get("status") or {}).get("phase") == "Terminating":
            return
        if self.accounts.get(key, DEFAULT_SERVICE_ACCOUNT) is not None:
            return
        sa = {"apiVersion": "v1", "kind": "ServiceAccount",
              "metadata": {"name": DEFAULT_SERVICE_ACCOUNT, "namespace": key}}
        try:
            await self.client.create("v1", "serviceaccounts", sa, key)
        except StatusError as exc:
            # AlreadyExists: the informer has not seen it yet; a terminating namespace refuses creates
            if exc.reason == "AlreadyExists" or (exc.code == 403 and "being terminated" in exc.message):
                return
            if exc.code == 404:
                return
            raise
        self.log.info("created ServiceAccount %s/%s", key, DEFAULT_SERVICE_ACCOUNT)
