"""PersistentVolumes and PersistentVolumeClaims."""

from __future__ import annotations

import copy
from datetime import UTC, datetime
from typing import ClassVar

from kubeprov.api.fielderrors import FieldError, Path, forbidden, go_json, invalid, not_supported, required
from kubeprov.api.names import name_is_dns_subdomain
from kubeprov.apiserver.strategy.base import Strategy
from kubeprov.apiserver.strategy.podspec import node_selector
from kubeprov.apiserver.strategy.util import (
    Obj,
    as_list,
    as_map,
    as_str,
    canonicalize_resources,
    check_list,
    default,
    dig,
    enum,
    immutable,
    msgs_to_errors,
    no_backsteps,
    quantity_of,
    resource_list,
    sub,
)
from kubeprov.apiserver.strategy.volumes import ACCESS_MODES, VOLUME_MODES, default_pvc_spec, pvc_spec_errors

RECLAIM_POLICIES = ("Delete", "Recycle", "Retain")
PV_SOURCES = (
    "hostPath",
    "gcePersistentDisk",
    "awsElasticBlockStore",
    "glusterfs",
    "flocker",
    "nfs",
    "rbd",
    "quobyte",
    "cephfs",
    "iscsi",
    "cinder",
    "fc",
    "flexVolume",
    "azureFile",
    "vsphereVolume",
    "photonPersistentDisk",
    "portworxVolume",
    "azureDisk",
    "scaleIO",
    "local",
    "storageos",
    "csi",
)
_PV_REQUIRED = {
    "local": ("path",),
    "csi": ("driver", "volumeHandle"),
    "nfs": ("server", "path"),
    "iscsi": ("targetPortal", "iqn"),
    "rbd": ("monitors", "image"),
    "glusterfs": ("endpoints", "path"),
    "cephfs": ("monitors",),
    "cinder": ("volumeID",),
    "gcePersistentDisk": ("pdName",),
    "awsElasticBlockStore": ("volumeID",),
    "azureFile": ("secretName", "shareName"),
    "azureDisk": ("diskName", "diskURI"),
    "vsphereVolume": ("volumePath",),
    "flexVolume": ("driver",),
}
PVC_SPEC_IMMUTABLE = (
    "spec is immutable after creation except resources.requests and volumeAttributesClassName for bound claims"
)


def _now() -> str:
    return datetime.now(UTC).strftime("%Y-%m-%dT%H:%M:%SZ")


def _diff(old: object, new: object) -> str:
    return f"  {go_json(old)}\n- {go_json(old)}\n+ {go_json(new)}\n"


class PersistentVolumeStrategy(Strategy):
    """``PersistentVolume``: exactly one source, a storage capacity, an immutable source."""

    kind = "PersistentVolume"
    has_status = True

    def set_defaults(self, obj: Obj) -> None:
        spec = sub(obj, "spec")
        if spec is None:
            return
        if spec.get("persistentVolumeReclaimPolicy") in (None, ""):
            spec["persistentVolumeReclaimPolicy"] = "Retain"
        default(spec, "volumeMode", "Filesystem")
        canonicalize_resources(spec, "capacity")
        if isinstance(spec.get("hostPath"), dict):
            default(spec["hostPath"], "type", "")
        status = obj.get("status")
        if isinstance(status, dict) and not status.get("phase"):
            status["phase"] = "Pending"

    def on_create(self, obj: Obj) -> None:
        obj["status"] = {"phase": "Pending", "lastPhaseTransitionTime": _now()}

    def validate_object(self, obj: Obj, old: Obj | None) -> list[FieldError]:
        spec = as_map(obj.get("spec"))
        path = Path("spec")
        errs: list[FieldError] = []
        modes = check_list(spec, "accessModes", path.child("accessModes"), errs)
        if not modes:
            errs.append(required(path.child("accessModes"), ""))
        for mode in modes:
            if mode not in ACCESS_MODES:
                errs.append(not_supported(path.child("accessModes"), mode, ACCESS_MODES))
        if "ReadWriteOncePod" in modes and any(m in ACCESS_MODES and m != "ReadWriteOncePod" for m in modes):
            errs.append(forbidden(path.child("accessModes"), "may not use ReadWriteOncePod with other access modes"))
        capacity_raw = as_map(spec.get("capacity"))
        if not capacity_raw:
            errs.append(required(path.child("capacity"), ""))
        if "storage" not in capacity_raw or len(capacity_raw) > 1:
            errs.append(not_supported(path.child("capacity"), capacity_raw, ("storage",)))
        for name, q in resource_list(spec.get("capacity"), path.child("capacity"), errs).items():
            if q.value() < 0:
                errs.append(invalid(path.child("capacity").key(name), q.value(), "must be a valid resource quantity"))
            if q.sign() <= 0:
                errs.append(invalid(path.child("capacity").key(name), str(q), "must be greater than zero"))
        policy = spec.get("persistentVolumeReclaimPolicy")
        if policy not in (None, ""):
            enum(policy, path.child("persistentVolumeReclaimPolicy"), RECLAIM_POLICIES, errs)
        has_affinity = False
        if spec.get("nodeAffinity") is not None:
            has_affinity = True
            affinity = as_map(spec.get("nodeAffinity"))
            if affinity.get("required") is None:
                errs.append(required(path.child("nodeAffinity", "required"), "must specify required node constraints"))
            else:
                errs.extend(node_selector(affinity["required"], path.child("nodeAffinity", "required")))
        count = 0
        for kind in PV_SOURCES:
            source = spec.get(kind)
            if source is None:
                continue
            if count > 0:
                errs.append(forbidden(path.child(kind), "may not specify more than 1 volume type"))
                continue
            count += 1
            source = as_map(source)
            for field in _PV_REQUIRED.get(kind, ()):
                if not source.get(field):
                    errs.append(required(path.child(kind, field), ""))
            if kind in ("hostPath", "local") and as_str(source.get("path")):
                errs.extend(no_backsteps(as_str(source["path"]), path.child(kind, "path")))
            if kind == "local" and not has_affinity:
                errs.append(required(path.child("nodeAffinity"), "Local volume requires node affinity"))
        if count == 0:
            errs.append(required(path, "must specify a volume type"))
        host_path = as_str(as_map(spec.get("hostPath")).get("path"))
        if host_path.rstrip("/") == "" and host_path and policy == "Recycle":
            errs.append(
                forbidden(
                    path.child("persistentVolumeReclaimPolicy"), "may not be 'recycle' for a hostPath mount of '/'"
                )
            )
        class_name = as_str(spec.get("storageClassName"))
        if class_name:
            errs.extend(
                msgs_to_errors(path.child("storageClassName"), class_name, name_is_dns_subdomain(class_name, False))
            )
        if spec.get("volumeMode") is not None:
            enum(spec.get("volumeMode"), path.child("volumeMode"), VOLUME_MODES, errs, required_=False)
        return errs

    def validate_changes(self, new: Obj, old: Obj) -> list[FieldError]:
        spec, old_spec = as_map(new.get("spec")), as_map(old.get("spec"))
        source = {k: spec.get(k) for k in PV_SOURCES if spec.get(k) is not None}
        old_source = {k: old_spec.get(k) for k in PV_SOURCES if old_spec.get(k) is not None}
        csi, old_csi = as_map(source.get("csi")), as_map(old_source.get("csi"))
        if csi and old_csi and "controllerExpandSecretRef" not in old_csi:
            source["csi"] = {k: v for k, v in csi.items() if k != "controllerExpandSecretRef"}
        errs: list[FieldError] = []
        if source != old_source:
            errs.append(
                forbidden(
                    Path("spec", "persistentvolumesource"),
                    "spec.persistentvolumesource is immutable after creation\n" + _diff(old_source, source),
                )
            )
        errs.extend(immutable(spec.get("volumeMode"), old_spec.get("volumeMode"), Path("volumeMode")))
        if old_spec.get("nodeAffinity") is not None:
            errs.extend(immutable(spec.get("nodeAffinity"), old_spec.get("nodeAffinity"), Path("nodeAffinity")))
        return errs


class PersistentVolumeClaimStrategy(Strategy):
    """``PersistentVolumeClaim``: a request for storage; only the size may grow once bound."""

    kind = "PersistentVolumeClaim"
    has_status = True
    initial_status: ClassVar[Obj | None] = {"phase": "Pending"}

    def set_defaults(self, obj: Obj) -> None:
        spec = sub(obj, "spec")
        if spec is not None:
            default_pvc_spec(spec)
        status = obj.get("status")
        if isinstance(status, dict):
            if not status.get("phase"):
                status["phase"] = "Pending"
            canonicalize_resources(status, "capacity", "allocatedResources")

    def validate_object(self, obj: Obj, old: Obj | None) -> list[FieldError]:
        return pvc_spec_errors(obj.get("spec"), Path("spec"))

    def validate_changes(self, new: Obj, old: Obj) -> list[FieldError]:
        spec, old_spec = copy.deepcopy(as_map(new.get("spec"))), copy.deepcopy(as_map(old.get("spec")))
        if not as_str(old_spec.get("volumeName")):
            if "volumeName" in spec:
                old_spec["volumeName"] = spec["volumeName"]
            else:
                old_spec.pop("volumeName", None)
        if old_spec.get("storageClassName") is None and spec.get("storageClassName") is not None:
            old_spec["storageClassName"] = spec["storageClassName"]
        bound = dig(new, "status", "phase") == "Bound"
        requests = as_map(as_map(spec.get("resources")).get("requests"))
        old_requests = as_map(as_map(old_spec.get("resources")).get("requests"))
        if bound and requests:
            if "storage" in old_requests:
                requests["storage"] = old_requests["storage"]
            else:
                requests.pop("storage", None)
            if "volumeAttributesClassName" in old_spec:
                spec["volumeAttributesClassName"] = old_spec["volumeAttributesClassName"]
        errs: list[FieldError] = []
        if spec != old_spec:
            errs.append(forbidden(Path("spec"), PVC_SPEC_IMMUTABLE + "\n" + _diff(old_spec, spec)))
        new_size = quantity_of(dig(new, "spec", "resources", "requests", "storage"))
        old_size = quantity_of(dig(old, "spec", "resources", "requests", "storage"))
        status_size = quantity_of(dig(old, "status", "capacity", "storage"))
        if new_size is not None and old_size is not None and new_size < old_size:
            if status_size is None or new_size <= status_size:
                errs.append(
                    forbidden(
                        Path("spec", "resources", "requests", "storage"), "field can not be less than status.capacity"
                    )
                )
        errs.extend(immutable(dig(new, "spec", "volumeMode"), dig(old, "spec", "volumeMode"), Path("volumeMode")))
        return errs

    def validate_status(self, new: Obj, old: Obj) -> list[FieldError]:
        errs: list[FieldError] = []
        if not as_list(dig(new, "spec", "accessModes")):
            errs.append(required(Path("Spec", "accessModes"), ""))
        for name, q in resource_list(dig(new, "status", "capacity"), Path("status", "capacity"), errs).items():
            if q.value() < 0:
                errs.append(
                    invalid(Path("status", "capacity").key(name), q.value(), "must be a valid resource quantity")
                )
        return errs


def default_claim_template(template: object) -> None:
    """A StatefulSet ``volumeClaimTemplates`` entry as Kubernetes 1.32 stores it."""
    if not isinstance(template, dict):
        return
    template.setdefault("apiVersion", "v1")
    template.setdefault("kind", "PersistentVolumeClaim")
    meta = template.get("metadata")
    if meta is None:
        meta = template["metadata"] = {}
    if isinstance(meta, dict):
        meta.setdefault("creationTimestamp", None)
    spec = template.get("spec")
    if spec is None:
        spec = template["spec"] = {}
    default_pvc_spec(spec)
    status = template.get("status")
    if status is None:
        status = template["status"] = {}
    if isinstance(status, dict) and not status.get("phase"):
        status["phase"] = "Pending"
