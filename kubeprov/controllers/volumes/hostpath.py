"""A hostPath provisioner for StorageClasses with ``provisioner: kubeprov.dev/hostpath``, and the
cluster's default StorageClass.

It behaves as an external provisioner does: it acts on a pending claim once the binder has found no
volume for it and annotated it ``volume.kubernetes.io/storage-provisioner: kubeprov.dev/hostpath``
(for ``WaitForFirstConsumer`` classes, once the claim has a selected node), and creates a
PersistentVolume ``pvc-<claim uid>`` pre-bound to the claim: the requested size, the claim's access
modes and volumeMode, the class's reclaim policy and mount options, a hostPath under ``base_dir``.
Only API objects are made: nodes are remote, so no directory is created here. It deletes the
volumes it provisioned once they are Released with reclaim policy Delete.

Unless ``create_default_storage_class`` is off, a cluster without a default class gets ``standard``
(this provisioner, Delete, Immediate), which the DefaultStorageClass admission plugin then gives to
claims that name no class.
"""

from __future__ import annotations

import posixpath
from typing import Any

from kubeprov.api.status import StatusError
from kubeprov.apiserver.admission.defaultstorageclass import IS_DEFAULT, is_default_class
from kubeprov.controllers.base import Controller, Obj, key_of, meta
from kubeprov.controllers.volumes.pvbinder import PROVISIONED_BY, STORAGE_PROVISIONER, claim_class, spec

PROVISIONER = "kubeprov.dev/hostpath"
DEFAULT_BASE_DIR = "/var/lib/kubeprov/volumes"
DEFAULT_CLASS_NAME = "standard"
SELECTED_NODE = "volume.kubernetes.io/selected-node"
_DEFAULT_CLASS_KEY = "storageclass:default"


def default_storage_class() -> Obj:
    return {"apiVersion": "storage.k8s.io/v1", "kind": "StorageClass",
            "metadata": {"name": DEFAULT_CLASS_NAME, "annotations": {IS_DEFAULT: "true"}},
            "provisioner": PROVISIONER, "reclaimPolicy": "Delete", "volumeBindingMode": "Immediate"}


def wants_volume(claim: Obj, storage_class: Obj | None) -> bool:
    """Whether this provisioner should make a volume for the claim now."""
    if storage_class is None or storage_class.get("provisioner") != PROVISIONER:
        return False
    if meta(claim).get("deletionTimestamp") or spec(claim).get("volumeName"):
        return False
    if (claim.get("status") or {}).get("phase", "Pending") != "Pending":
        return False
    annotations = meta(claim).get("annotations") or {}
    if annotations.get(STORAGE_PROVISIONER) != PROVISIONER:
        return False  # the binder has not given up on existing volumes yet
    if storage_class.get("volumeBindingMode") == "WaitForFirstConsumer" and not annotations.get(SELECTED_NODE):
        return False
    return True


def volume_name(claim: Obj) -> str:
    return f"pvc-{meta(claim)['uid']}"


def new_volume(claim: Obj, storage_class: Obj, base_dir: str) -> Obj:
    """The PersistentVolume that satisfies ``claim``, pre-bound to it."""
    m = meta(claim)
    name = volume_name(claim)
    request = ((spec(claim).get("resources") or {}).get("requests") or {}).get("storage", "1Gi")
    pv_spec: Obj = {
        "capacity": {"storage": request},
        "accessModes": list(spec(claim).get("accessModes") or ["ReadWriteOnce"]),
        "persistentVolumeReclaimPolicy": storage_class.get("reclaimPolicy") or "Delete",
        "storageClassName": meta(storage_class)["name"],
        "volumeMode": spec(claim).get("volumeMode") or "Filesystem",
        "hostPath": {"path": posixpath.join(base_dir, name), "type": "DirectoryOrCreate"},
        "claimRef": {"kind": "PersistentVolumeClaim", "apiVersion": "v1", "namespace": m["namespace"],
                     "name": m["name"], "uid": m["uid"], "resourceVersion": m.get("resourceVersion", "")},
    }
    if storage_class.get("mountOptions"):
        pv_spec["mountOptions"] = list(storage_class["mountOptions"])
    node = (m.get("annotations") or {}).get(SELECTED_NODE)
    if node:
        # a hostPath lives on one node: pods using it must go there
        pv_spec["nodeAffinity"] = {"required": {"nodeSelectorTerms": [{"matchExpressions": [
            {"key": "kubernetes.io/hostname", "operator": "In", "values": [node]}]}]}}
    return {"apiVersion": "v1", "kind": "PersistentVolume",
            "metadata": {"name": name, "annotations": {PROVISIONED_BY: PROVISIONER}}, "spec": pv_spec}


class HostPathProvisioner(Controller):
    name = "hostpath-provisioner"

    @classmethod
    def options(cls, config: Any) -> dict[str, Any] | None:
        return {"base_dir": getattr(config, "hostpath_base_dir", DEFAULT_BASE_DIR) or DEFAULT_BASE_DIR,
                "create_default_class": bool(getattr(config, "create_default_storage_class", True))}

    def __init__(self, *args: Any, base_dir: str = DEFAULT_BASE_DIR, create_default_class: bool = True,
                 **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        self.base_dir = base_dir
        self.create_default_class = create_default_class
        self.claims = self.informer("v1", "persistentvolumeclaims")
        self.classes = self.informer("storage.k8s.io/v1", "storageclasses")
        self.volumes = self.informer("v1", "persistentvolumes")
        self.claims.add_handler(on_add=self._claim_changed, on_update=lambda _o, n: self._claim_changed(n))
        self.classes.add_handler(on_add=self._class_changed, on_update=lambda _o, n: self._class_changed(n),
                                 on_delete=self._class_changed)
        self.volumes.add_handler(on_add=self._volume_changed, on_update=lambda _o, n: self._volume_changed(n))

    def _claim_changed(self, claim: Obj) -> None:
        if self.wants(meta(claim).get("namespace", "")):
            self.enqueue("pvc:" + key_of(claim))

    def _class_changed(self, _sc: Obj) -> None:
        if self.create_default_class:
            self.enqueue(_DEFAULT_CLASS_KEY)

    def _volume_changed(self, pv: Obj) -> None:
        if (meta(pv).get("annotations") or {}).get(PROVISIONED_BY) != PROVISIONER:
            return
        if self.wants((spec(pv).get("claimRef") or {}).get("namespace", "")):
            self.enqueue("pv:" + meta(pv)["name"])

    async def start(self, sync_timeout: float | None = None) -> None:
        await super().start(sync_timeout)
        if self.create_default_class:
            self.enqueue(_DEFAULT_CLASS_KEY)

    async def sync(self, key: str) -> None:
        kind, _, rest = key.partition(":")
        if key == _DEFAULT_CLASS_KEY:
            await self._ensure_default_class()
        elif kind == "pvc":
            await self._provision(rest)
        elif kind == "pv":
            await self._delete_released(rest)

    async def _ensure_default_class(self) -> None:
        if any(is_default_class(sc) for sc in self.classes.list()):
            return
        try:
            await self.client.create("storage.k8s.io/v1", "storageclasses", default_storage_class())
        except StatusError as exc:
            if exc.code != 409:  # a class of that name exists (not default): the operator's choice
                raise
            return
        self.log.info("created the default StorageClass %s", DEFAULT_CLASS_NAME)

    async def _provision(self, key: str) -> None:
        namespace, name = key.split("/", 1)
        claim = self.claims.get(namespace, name)
        if claim is None:
            return
        storage_class = self.classes.get("", claim_class(claim)) if claim_class(claim) else None
        if not wants_volume(claim, storage_class) or storage_class is None:
            return
        if self.volumes.get("", volume_name(claim)) is not None:
            return
        self.event(claim, "Normal", "Provisioning",
                   f'External provisioner is provisioning volume for claim "{namespace}/{name}"')
        pv = new_volume(claim, storage_class, self.base_dir)
        try:
            await self.client.create("v1", "persistentvolumes", pv)
        except StatusError as exc:
            if exc.code == 409:
                return
            self.event(claim, "Warning", "ProvisioningFailed", f"failed to provision volume with StorageClass "
                                                               f'"{meta(storage_class)["name"]}": {exc.message}')
            raise
        self.event(claim, "Normal", "ProvisioningSucceeded", f"Successfully provisioned volume {meta(pv)['name']}")

    async def _delete_released(self, name: str) -> None:
        pv = self.volumes.get("", name)
        if pv is None or meta(pv).get("deletionTimestamp"):
            return
        if (pv.get("status") or {}).get("phase") != "Released" or \
                spec(pv).get("persistentVolumeReclaimPolicy") != "Delete":
            return
        try:
            await self.client.delete("v1", "persistentvolumes", name)
        except StatusError as exc:
            if exc.code != 404:
                raise
        self.log.info("deleted volume %s (released, reclaim policy Delete)", name)

