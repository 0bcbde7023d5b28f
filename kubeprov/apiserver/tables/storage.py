"""Printer of storage.k8s.io/v1 storage classes."""

from __future__ import annotations

from kubeprov.apiserver.tables.age import since
from kubeprov.apiserver.tables.common import AGE, NAME, Column, Printer, creation, get, name_of

DEFAULT_CLASS_ANNOTATIONS = ("storageclass.kubernetes.io/is-default-class",
                             "storageclass.beta.kubernetes.io/is-default-class")


def storage_class_name(sc: dict) -> str:
    """The name, marked `` (default)`` when the class is annotated as the cluster default."""
    annotations = get(sc, "metadata", "annotations", default={})
    is_default = any(annotations.get(key) == "true" for key in DEFAULT_CLASS_ANNOTATIONS)
    return f"{name_of(sc)} (default)" if is_default else name_of(sc)


STORAGE_CLASS = Printer(
    (NAME, Column("Provisioner", description="The volume plugin that provisions volumes of this class."),
     Column("ReclaimPolicy", description="Reclaim policy of volumes provisioned for this class."),
     Column("VolumeBindingMode", description="When volumes are bound and provisioned."),
     Column("AllowVolumeExpansion", description="Whether volumes of this class may be expanded."), AGE),
    lambda sc, now: [storage_class_name(sc), sc.get("provisioner", ""), sc.get("reclaimPolicy") or "Delete",
                     sc.get("volumeBindingMode") or "Immediate", bool(sc.get("allowVolumeExpansion")),
                     since(creation(sc), now)],
)
