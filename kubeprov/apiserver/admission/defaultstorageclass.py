"""DefaultStorageClass: a new PersistentVolumeClaim that names no StorageClass gets the default one
(the class annotated ``storageclass.kubernetes.io/is-default-class: "true"``; the newest when
several are)."""

from __future__ import annotations

from typing import ClassVar

from kubeprov.apiserver.admission.attributes import CREATE, Attributes, mapping, meta
from kubeprov.apiserver.admission.plugin import Plugin

IS_DEFAULT = "storageclass.kubernetes.io/is-default-class"
BETA_IS_DEFAULT = "storageclass.beta.kubernetes.io/is-default-class"
BETA_CLASS_ANNOTATION = "volume.beta.kubernetes.io/storage-class"


def is_default_class(storage_class: dict) -> bool:
    annotations = mapping(meta(storage_class).get("annotations"))
    return annotations.get(IS_DEFAULT) == "true" or annotations.get(BETA_IS_DEFAULT) == "true"


def claim_has_class(claim: dict) -> bool:
    """An explicit class, even ``""`` (no class at all), or the beta annotation."""
    if mapping(claim.get("spec")).get("storageClassName") is not None:
        return True
    return BETA_CLASS_ANNOTATION in mapping(meta(claim).get("annotations"))


def default_class(classes: list[dict]) -> dict | None:
    """The newest default class; equally old ones by name."""
    defaults = [c for c in classes if is_default_class(c)]
    if not defaults:
        return None
    defaults.sort(key=lambda c: str(meta(c).get("name", "")))
    defaults.sort(key=lambda c: str(meta(c).get("creationTimestamp", "")), reverse=True)
    return defaults[0]


class DefaultStorageClass(Plugin):
    name: ClassVar[str] = "DefaultStorageClass"
    mutating: ClassVar[bool] = True

    async def admit(self, a: Attributes) -> None:
        if not a.is_core("persistentvolumeclaims") or a.subresource or a.operation != CREATE or a.obj is None:
            return
        if claim_has_class(a.obj):
            return
        chosen = default_class(await self.lookup.list("storage.k8s.io", "storageclasses", ""))
        if chosen is not None:
            a.obj.setdefault("spec", {})["storageClassName"] = meta(chosen).get("name", "")
