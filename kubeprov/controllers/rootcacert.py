"""Publish the cluster CA as ConfigMap ``kube-root-ca.crt`` in every namespace
(Kubernetes' root-ca-certificate-publisher controller)."""

from __future__ import annotations

import base64
import copy
from pathlib import Path
from typing import Any

import yaml

from kubeprov.api.status import StatusError
from kubeprov.controllers.base import Controller, Obj, meta

CONFIGMAP_NAME = "kube-root-ca.crt"
DATA_KEY = "ca.crt"
DESCRIPTION_ANNOTATION = "kubernetes.io/description"
DESCRIPTION = ("Contains a CA bundle that can be used to verify the kube-apiserver when using internal endpoints "
               "such as the internal service IP or kubernetes.default.svc. No other usage is guaranteed across "
               "distributions of Kubernetes clusters.")


def kubeconfig_ca(path: str) -> str | None:
    """The CA bundle the kubeconfig trusts for its current cluster (PEM), if any."""
    try:
        doc = yaml.safe_load(Path(path).read_text()) or {}
        current = doc.get("current-context")
        contexts = {c.get("name"): c.get("context") or {} for c in doc.get("contexts") or []}
        cluster_name = contexts.get(current, {}).get("cluster")
        clusters = {c.get("name"): c.get("cluster") or {} for c in doc.get("clusters") or []}
        cluster = clusters.get(cluster_name) or next(iter(clusters.values()), {})
        if cluster.get("certificate-authority-data"):
            return base64.b64decode(cluster["certificate-authority-data"]).decode()
        if cluster.get("certificate-authority"):
            ca = Path(cluster["certificate-authority"])
            return (ca if ca.is_absolute() else Path(path).parent / ca).read_text()
    except (OSError, ValueError, yaml.YAMLError):
        return None
    return None


class RootCACertPublisher(Controller):
    name = "root-ca-cert-publisher"

    @classmethod
    def options(cls, config: Any) -> dict[str, Any] | None:
        if config.ca_file:
            return {"ca_file": config.ca_file}
        ca = kubeconfig_ca(config.kubeconfig) if config.kubeconfig else None
        return {"ca_data": ca} if ca is not None else None

    def __init__(self, *args: Any, ca_file: str | Path | None = None, ca_data: str | None = None,
                 **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        if ca_data is None:
            if not ca_file:
                raise ValueError("the root CA publisher needs ca_file")
            ca_data = Path(ca_file).read_text()
        self.ca_data = ca_data
        self.namespaces = self.informer("v1", "namespaces")
        self.configmaps = self.informer("v1", "configmaps", field_selector=f"metadata.name={CONFIGMAP_NAME}")
        self.namespaces.add_handler(on_add=self._namespace, on_update=lambda _old, new: self._namespace(new))
        self.configmaps.add_handler(on_add=self._configmap, on_update=lambda _old, new: self._configmap(new),
                                    on_delete=self._configmap)

    def _namespace(self, ns: Obj) -> None:
        name = meta(ns).get("name", "")
        if self.wants(name):
            self.enqueue(name)

    def _configmap(self, cm: Obj) -> None:
        m = meta(cm)
        if m.get("name") == CONFIGMAP_NAME and self.wants(m.get("namespace", "")):
            self.enqueue(m.get("namespace", ""))

    async def sync(self, key: str) -> None:
        ns = self.namespaces.get("", key)
        if ns is None or meta(ns).get("deletionTimestamp"):
            return
        data = {DATA_KEY: self.ca_data}
        cm = self.configmaps.get(key, CONFIGMAP_NAME)
        try:
            if cm is None:
                await self.client.create("v1", "configmaps", {
                    "apiVersion": "v1", "kind": "ConfigMap",
                    "metadata": {"name": CONFIGMAP_NAME, "namespace": key,
                                 "annotations": {DESCRIPTION_ANNOTATION: DESCRIPTION}},
                    "data": data}, key)
                self.log.info("created ConfigMap %s/%s", key, CONFIGMAP_NAME)
                return
            annotations = meta(cm).get("annotations") or {}
            if cm.get("data") == data and not cm.get("binaryData") and DESCRIPTION_ANNOTATION in annotations:
                return
            new = copy.deepcopy(cm)
            new["data"] = data
            new.pop("binaryData", None)
            new["metadata"].setdefault("annotations", {})[DESCRIPTION_ANNOTATION] = DESCRIPTION
            await self.client.update("v1", "configmaps", new, key)
            self.log.info("updated ConfigMap %s/%s", key, CONFIGMAP_NAME)
        except StatusError as exc:
            if exc.reason == "AlreadyExists" or exc.code == 404 or (exc.code == 403 and "terminat" in exc.message):
                return
            raise
