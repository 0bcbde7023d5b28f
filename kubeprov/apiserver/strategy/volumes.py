"""Pod volumes and PersistentVolumeClaim specs: defaults and validation.

PVC specs live here too because pods embed them (generic ephemeral volumes) as well as
PersistentVolumeClaims and StatefulSet claim templates.
"""

from __future__ import annotations

from typing import Any

from kubeprov.api.fielderrors import (
    FieldError,
    Path,
    duplicate,
    forbidden,
    invalid,
    not_supported,
    required,
    type_invalid,
)
from kubeprov.api.names import name_is_dns_subdomain, validate_annotations
from kubeprov.apiserver.strategy.util import (
    Obj,
    as_list,
    as_map,
    as_str,
    canonicalize_resources,
    check_int,
    check_list,
    check_str,
    default,
    default_str,
    dns_label,
    enum,
    is_int,
    label_selector,
    labels_map,
    local_non_reserved_path,
    maps,
    msgs_to_errors,
    no_backsteps,
    quantity_of,
    resource_list,
)

VOLUME_SOURCES = (
    "emptyDir",
    "hostPath",
    "gitRepo",
    "gcePersistentDisk",
    "awsElasticBlockStore",
    "secret",
    "nfs",
    "iscsi",
    "glusterfs",
    "flocker",
    "persistentVolumeClaim",
    "rbd",
    "cinder",
    "cephfs",
    "quobyte",
    "downwardAPI",
    "fc",
    "flexVolume",
    "configMap",
    "azureFile",
    "vsphereVolume",
    "photonPersistentDisk",
    "portworxVolume",
    "azureDisk",
    "storageos",
    "projected",
    "scaleIO",
    "csi",
    "ephemeral",
    "image",
)
ACCESS_MODES = ("ReadOnlyMany", "ReadWriteMany", "ReadWriteOnce", "ReadWriteOncePod")
VOLUME_MODES = ("Block", "Filesystem")
HOST_PATH_TYPES = ("", "BlockDevice", "CharDevice", "Directory", "DirectoryOrCreate", "File", "FileOrCreate", "Socket")
FILE_MODE_MSG = "must be a number between 0 and 0777 (octal), both inclusive"
_VOLUME_FIELD_PATHS = ("metadata.annotations", "metadata.labels", "metadata.name", "metadata.namespace", "metadata.uid")

# Sources whose only checks are required sub-fields: source -> ((field, path name), ...).
_REQUIRED_FIELDS: dict[str, tuple[tuple[str, str], ...]] = {
    "gitRepo": (("repository", "repository"),),
    "gcePersistentDisk": (("pdName", "pdName"),),
    "awsElasticBlockStore": (("volumeID", "volumeID"),),
    "iscsi": (("targetPortal", "targetPortal"), ("iqn", "iqn")),
    "glusterfs": (("endpoints", "endpoints"), ("path", "path")),
    "rbd": (("monitors", "monitors"), ("image", "image")),
    "cinder": (("volumeID", "volumeID"),),
    "cephfs": (("monitors", "monitors"),),
    "quobyte": (("registry", "registry"), ("volume", "volume")),
    "flexVolume": (("driver", "driver"),),
    "azureFile": (("secretName", "secretName"), ("shareName", "shareName")),
    "vsphereVolume": (("volumePath", "volumePath"),),
    "photonPersistentDisk": (("pdID", "pdID"),),
    "portworxVolume": (("volumeID", "volumeID"),),
    "azureDisk": (("diskName", "diskName"), ("diskURI", "diskURI")),
    "scaleIO": (("gateway", "gateway"), ("system", "system"), ("volumeName", "volumeName")),
    "storageos": (("volumeName", "volumeName"),),
    "csi": (("driver", "driver"),),
}
# Kubernetes validates these sources under a differently spelled path.
_PATH_NAMES = {"gcePersistentDisk": "persistentDisk"}


# --------------------------------------------------------------------------- defaults


def default_pvc_spec(spec: Any) -> None:
    """``SetDefaults_PersistentVolumeClaimSpec``: volumeMode Filesystem; canonical quantities."""
    if not isinstance(spec, dict):
        return
    default(spec, "volumeMode", "Filesystem")
    canonicalize_resources(spec.get("resources"), "limits", "requests")


def _default_items_field_refs(items: Any) -> None:
    for _, item in maps(items):
        ref = item.get("fieldRef")
        if isinstance(ref, dict):
            default_str(ref, "apiVersion", "v1")


def default_volume(volume: Any) -> None:
    """``SetDefaults_Volume`` and the defaults of the volume sources."""
    if not isinstance(volume, dict):
        return
    if not any(volume.get(key) is not None for key in VOLUME_SOURCES):
        volume["emptyDir"] = {}
    for key in ("secret", "configMap", "downwardAPI", "projected"):
        source = volume.get(key)
        if isinstance(source, dict):
            default(source, "defaultMode", 420)
    host_path = volume.get("hostPath")
    if isinstance(host_path, dict):
        default(host_path, "type", "")
    _default_items_field_refs(as_map(volume.get("downwardAPI")).get("items"))
    for _, src in maps(as_map(volume.get("projected")).get("sources")):
        _default_items_field_refs(as_map(src.get("downwardAPI")).get("items"))
        token = src.get("serviceAccountToken")
        if isinstance(token, dict):
            default(token, "expirationSeconds", 3600)
    template = as_map(volume.get("ephemeral")).get("volumeClaimTemplate")
    if isinstance(template, dict):
        default_pvc_spec(template.get("spec"))
    for key, values in _SOURCE_DEFAULTS.items():
        source = volume.get(key)
        if isinstance(source, dict):
            for field, value in values.items():
                default(source, field, value)
    image = volume.get("image")
    if isinstance(image, dict) and not image.get("pullPolicy"):
        from kubeprov.apiserver.strategy.containers import image_tag

        image["pullPolicy"] = "Always" if image_tag(as_str(image.get("reference"))) == "latest" else "IfNotPresent"


_SOURCE_DEFAULTS: dict[str, dict[str, Any]] = {
    "iscsi": {"iscsiInterface": "default"},
    "rbd": {"pool": "rbd", "user": "admin", "keyring": "/etc/ceph/keyring"},
    "azureDisk": {"cachingMode": "ReadWrite", "fsType": "ext4", "readOnly": False, "kind": "Shared"},
    "scaleIO": {"storageMode": "ThinProvisioned", "fsType": "xfs"},
}


# --------------------------------------------------------------------------- validation


def _mode(obj: Obj, key: str, path: Path, errs: list[FieldError]) -> None:
    value = check_int(obj, key, path, errs)
    if value is not None and not 0 <= value <= 0o777:
        errs.append(invalid(path, value, FILE_MODE_MSG))


def _key_to_path(item: Obj, path: Path) -> list[FieldError]:
    """``validateKeyToPath``."""
    errs: list[FieldError] = []
    if not as_str(item.get("key")):
        errs.append(required(path.child("key"), ""))
    target = as_str(item.get("path"))
    if not target:
        errs.append(required(path.child("path"), ""))
    errs.extend(local_non_reserved_path(target, path.child("path")))
    _mode(item, "mode", path.child("mode"), errs)
    return errs


def _items(source: Obj, path: Path) -> list[FieldError]:
    errs: list[FieldError] = []
    for i, item in enumerate(check_list(source, "items", path.child("items"), errs)):
        if isinstance(item, dict):
            errs.extend(_key_to_path(item, path.child("items").index(i)))
        else:
            errs.append(type_invalid(path.child("items").index(i), item, "must be an object"))
    return errs


def _downward_file(item: Obj, path: Path) -> list[FieldError]:
    """``validateDownwardAPIVolumeFile`` (errors reported at the volume's path, like Kubernetes)."""
    from kubeprov.apiserver.strategy.containers import RESOURCE_FIELD_PATHS

    errs: list[FieldError] = []
    target = as_str(item.get("path"))
    if not target:
        errs.append(required(path.child("path"), ""))
    errs.extend(local_non_reserved_path(target, path.child("path")))
    field_ref = item.get("fieldRef")
    resource_ref = item.get("resourceFieldRef")
    if isinstance(field_ref, dict):
        fp = as_str(field_ref.get("fieldPath"))
        base = fp.split("[", 1)[0]
        if not as_str(field_ref.get("apiVersion")):
            errs.append(required(path.child("fieldRef", "apiVersion"), ""))
        elif not fp:
            errs.append(required(path.child("fieldRef", "fieldPath"), ""))
        elif base not in _VOLUME_FIELD_PATHS:
            errs.append(not_supported(path.child("fieldRef", "fieldPath"), fp, _VOLUME_FIELD_PATHS))
        if resource_ref is not None:
            errs.append(invalid(path, "resource", "fieldRef and resourceFieldRef can not be specified simultaneously"))
    elif isinstance(resource_ref, dict):
        rpath = path.child("resourceFieldRef")
        resource = as_str(resource_ref.get("resource"))
        if not as_str(resource_ref.get("containerName")):
            errs.append(required(rpath.child("containerName"), ""))
        elif not resource:
            errs.append(required(rpath.child("resource"), ""))
        elif resource not in RESOURCE_FIELD_PATHS and not resource.startswith(
            ("requests.hugepages-", "limits.hugepages-")
        ):
            errs.append(not_supported(rpath.child("resource"), resource, RESOURCE_FIELD_PATHS))
    else:
        errs.append(required(path, "one of fieldRef and resourceFieldRef is required"))
    _mode(item, "mode", path.child("mode"), errs)
    return errs


def _projected(source: Obj, path: Path) -> list[FieldError]:
    """``validateProjectedVolumeSource``."""
    errs: list[FieldError] = []
    _mode(source, "defaultMode", path.child("defaultMode"), errs)
    seen: set[str] = set()

    def track(target: str, name: str) -> None:
        if target:
            if target in seen:
                errs.append(invalid(path, name, "conflicting duplicate paths"))
            seen.add(target)

    for i, src in enumerate(check_list(source, "sources", path.child("sources"), errs)):
        spath = path.child("sources").index(i)
        if not isinstance(src, dict):
            errs.append(type_invalid(spath, src, "must be an object"))
            continue
        count = 0
        for kind in ("secret", "configMap"):
            ref = src.get(kind)
            if not isinstance(ref, dict):
                continue
            count += 1
            if not as_str(ref.get("name")):
                errs.append(required(spath.child(kind, "name"), ""))
            for j, item in maps(ref.get("items")):
                errs.extend(_key_to_path(item, spath.child(kind, "items").index(j)))
                track(as_str(item.get("path")), as_str(ref.get("name")))
        downward = src.get("downwardAPI")
        if isinstance(downward, dict):
            count += 1
            for _, item in maps(downward.get("items")):
                errs.extend(_downward_file(item, spath.child("downwardAPI")))
                track(as_str(item.get("path")), as_str(item.get("path")))
        token = src.get("serviceAccountToken")
        if isinstance(token, dict):
            count += 1
            tpath = spath.child("serviceAccountToken")
            expiration = token.get("expirationSeconds")
            if is_int(expiration) and expiration < 600:
                errs.append(
                    invalid(
                        tpath.child("expirationSeconds"), expiration, "may not specify a duration less than 10 minutes"
                    )
                )
            if is_int(expiration) and expiration > 1 << 32:
                errs.append(
                    invalid(
                        tpath.child("expirationSeconds"),
                        expiration,
                        "may not specify a duration larger than 2^32 seconds",
                    )
                )
            target = as_str(token.get("path"))
            if not target:
                errs.append(required(path.child("path"), ""))
            else:
                errs.extend(local_non_reserved_path(target, path.child("path")))
        if isinstance(src.get("clusterTrustBundle"), dict):
            count += 1
        if count > 1:
            errs.append(forbidden(spath, "may not specify more than 1 volume type per source"))
    return errs


def _source_errors(kind: str, source: Any, path: Path, pod_name: str, volume_name: str) -> list[FieldError]:
    """The checks of one volume source."""
    if not isinstance(source, dict):
        return [type_invalid(path, source, "must be an object")]
    errs: list[FieldError] = []
    if kind == "emptyDir":
        limit = quantity_of(source.get("sizeLimit"))
        if limit is not None and limit.sign() < 0:
            errs.append(forbidden(path.child("sizeLimit"), "SizeLimit field must be a valid resource quantity"))
    elif kind == "hostPath":
        host = as_str(source.get("path"))
        if not host:
            return [required(path.child("path"), "")]
        errs.extend(no_backsteps(host, path.child("path")))
        htype = source.get("type")
        if htype is not None and htype not in HOST_PATH_TYPES:
            errs.append(not_supported(path.child("type"), htype, HOST_PATH_TYPES))
    elif kind == "secret":
        if not as_str(source.get("secretName")):
            errs.append(required(path.child("secretName"), ""))
        _mode(source, "defaultMode", path.child("defaultMode"), errs)
        errs.extend(_items(source, path))
    elif kind == "configMap":
        if not as_str(source.get("name")):
            errs.append(required(path.child("name"), ""))
        _mode(source, "defaultMode", path.child("defaultMode"), errs)
        errs.extend(_items(source, path))
    elif kind == "persistentVolumeClaim":
        if not as_str(source.get("claimName")):
            errs.append(required(path.child("claimName"), ""))
    elif kind == "nfs":
        if not as_str(source.get("server")):
            errs.append(required(path.child("server"), ""))
        nfs_path = as_str(source.get("path"))
        if not nfs_path:
            errs.append(required(path.child("path"), ""))
        if not nfs_path.startswith("/"):
            errs.append(invalid(path.child("path"), nfs_path, "must be an absolute path"))
    elif kind == "downwardAPI":
        _mode(source, "defaultMode", path.child("defaultMode"), errs)
        for _, item in maps(source.get("items")):
            errs.extend(_downward_file(item, path))
    elif kind == "projected":
        errs.extend(_projected(source, path))
    elif kind == "ephemeral":
        template = source.get("volumeClaimTemplate")
        if not isinstance(template, dict):
            errs.append(required(path.child("volumeClaimTemplate"), ""))
        else:
            tpath = path.child("volumeClaimTemplate")
            errs.extend(template_meta_errors(template.get("metadata"), tpath.child("metadata")))
            errs.extend(pvc_spec_errors(template.get("spec"), tpath.child("spec")))
            if pod_name and volume_name:
                pvc_name = f"{pod_name}-{volume_name}"
                for msg in name_is_dns_subdomain(pvc_name, False):
                    errs.append(invalid(path.child("name"), volume_name, f'PVC name "{pvc_name}": {msg}'))
    elif kind == "flocker":
        name, uuid = as_str(source.get("datasetName")), as_str(source.get("datasetUUID"))
        if not name and not uuid:
            errs.append(required(path, "one of datasetName and datasetUUID is required"))
        if name and uuid:
            errs.append(invalid(path, "resource", "datasetName and datasetUUID can not be specified simultaneously"))
    elif kind == "fc":
        wwns, wwids = as_list(source.get("targetWWNs")), as_list(source.get("wwids"))
        if not wwns and not wwids:
            errs.append(required(path.child("targetWWNs"), "must specify either targetWWNs or wwids, but not both"))
        if wwns and wwids:
            errs.append(
                invalid(path.child("targetWWNs"), wwns, "targetWWNs and wwids can not be specified simultaneously")
            )
    for field, name in _REQUIRED_FIELDS.get(kind, ()):
        value = source.get(field)
        if not value:
            errs.append(required(path.child(name), ""))
    return errs


def volumes_errors(volumes: Any, path: Path, pod_name: str = "") -> tuple[dict[str, Obj], list[FieldError]]:
    """``ValidateVolumes``: the valid volumes by name (for mount checks) and the errors."""
    if volumes is None:
        return {}, []
    if not isinstance(volumes, list):
        return {}, [type_invalid(path, volumes, "must be an array")]
    errs: list[FieldError] = []
    names: dict[str, Obj] = {}
    for i, volume in enumerate(volumes):
        vpath = path.index(i)
        if not isinstance(volume, dict):
            errs.append(type_invalid(vpath, volume, "must be an object"))
            continue
        own: list[FieldError] = []
        name = check_str(volume, "name", vpath.child("name"), own)
        count = 0
        for kind in VOLUME_SOURCES:
            if volume.get(kind) is None:
                continue
            if count > 0:
                own.append(forbidden(vpath.child(kind), "may not specify more than 1 volume type"))
                continue
            count += 1
            spath = vpath.child(_PATH_NAMES.get(kind, kind))
            own.extend(_source_errors(kind, volume[kind], spath, pod_name, name))
        if count == 0:
            own.append(required(vpath, "must specify a volume type"))
        if not name:
            own.append(required(vpath.child("name"), ""))
        else:
            own.extend(dns_label(name, vpath.child("name")))
        if name in names:
            own.append(duplicate(vpath.child("name"), name))
        if own:
            errs.extend(own)
        else:
            names[name] = volume
    return names, errs


# --------------------------------------------------------------------------- PVC specs


def template_meta_errors(meta: Any, path: Path) -> list[FieldError]:
    """``ValidateTemplateObjectMeta``: only labels and annotations may be set."""
    if meta is None:
        return []
    if not isinstance(meta, dict):
        return [type_invalid(path, meta, "must be an object")]
    errs = labels_map(meta.get("labels"), path.child("labels"))
    annotations = meta.get("annotations")
    if isinstance(annotations, dict):
        errs.extend(validate_annotations(annotations, path.child("annotations")))
    elif annotations is not None:
        errs.append(type_invalid(path.child("annotations"), annotations, "must be an object"))
    for key, value in meta.items():
        if key not in ("labels", "annotations", "creationTimestamp") and value not in (None, "", {}, []):
            errs.append(forbidden(path.child(key), "cannot be set"))
    return errs


def pvc_spec_errors(spec: Any, path: Path) -> list[FieldError]:
    """``ValidatePersistentVolumeClaimSpec``."""
    if spec is None:
        spec = {}
    if not isinstance(spec, dict):
        return [type_invalid(path, spec, "must be an object")]
    errs: list[FieldError] = []
    modes = check_list(spec, "accessModes", path.child("accessModes"), errs)
    if not modes:
        errs.append(required(path.child("accessModes"), "at least 1 access mode is required"))
    sel_errs, _ = label_selector(spec.get("selector"), path.child("selector"))
    errs.extend(sel_errs)
    rwop = other = False
    for mode in modes:
        if mode not in ACCESS_MODES:
            errs.append(not_supported(path.child("accessModes"), mode, ACCESS_MODES))
        elif mode == "ReadWriteOncePod":
            rwop = True
        else:
            other = True
    if rwop and other:
        errs.append(forbidden(path.child("accessModes"), "may not use ReadWriteOncePod with other access modes"))
    resources = as_map(spec.get("resources"))
    requests = resource_list(resources.get("requests"), path.child("resources", "requests"), errs)
    storage_path = path.child("resources").key("storage")
    storage = requests.get("storage")
    if storage is None:
        if "storage" not in as_map(resources.get("requests")):
            errs.append(required(storage_path, ""))
    elif storage.sign() <= 0:
        errs.append(invalid(storage_path, str(storage), "must be greater than zero"))
    class_name = spec.get("storageClassName")
    if isinstance(class_name, str) and class_name:
        errs.extend(
            msgs_to_errors(path.child("storageClassName"), class_name, name_is_dns_subdomain(class_name, False))
        )
    if spec.get("volumeMode") is not None:
        enum(spec.get("volumeMode"), path.child("volumeMode"), VOLUME_MODES, errs, required_=False)
    for key in ("dataSource", "dataSourceRef"):
        ref = spec.get(key)
        if isinstance(ref, dict):
            rpath = path.child(key)
            if not as_str(ref.get("name")):
                errs.append(required(rpath.child("name"), ""))
            kind = as_str(ref.get("kind"))
            if not kind:
                errs.append(required(rpath.child("kind"), ""))
            if not as_str(ref.get("apiGroup")) and kind != "PersistentVolumeClaim":
                errs.append(
                    invalid(rpath, kind, "must be 'PersistentVolumeClaim' when referencing the default apiGroup")
                )
    return errs
