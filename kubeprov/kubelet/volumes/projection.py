"""Payloads (path -> bytes + mode) for configMap, secret and downwardAPI sources, from objects already read.

Pure functions: the manager fetches the objects; these apply ``items``, ``defaultMode``/``mode`` and
``optional`` with the kubelet's rules and messages.
"""

from __future__ import annotations

import base64
from typing import Any

from kubeprov.kubelet.env import resource_field_value
from kubeprov.kubelet.volumes.atomic_writer import FileProjection, Payload
from kubeprov.kubelet.volumes.errors import VolumeError

Obj = dict[str, Any]
DEFAULT_MODE = 0o644


def config_map_data(config_map: Obj) -> dict[str, bytes]:
    data = {key: value.encode() for key, value in (config_map.get("data") or {}).items()}
    data.update({key: base64.b64decode(value) for key, value in (config_map.get("binaryData") or {}).items()})
    return data


def secret_data(secret: Obj) -> dict[str, bytes]:
    data = {key: base64.b64decode(value) for key, value in (secret.get("data") or {}).items()}
    data.update({key: value.encode() for key, value in (secret.get("stringData") or {}).items()})
    return data


def keyed_payload(kind: str, name: str, data: dict[str, bytes] | None, source: Obj,
                  default_mode: int | None = None) -> Payload:
    """configMap/secret files: every key, or just ``items`` (key -> path, optional per-item mode).

    ``data`` None means the object does not exist: fine (empty payload) only when the source is optional.
    """
    optional = bool(source.get("optional"))
    mode = source.get("defaultMode", default_mode if default_mode is not None else DEFAULT_MODE)
    if data is None:
        if optional:
            return {}
        raise VolumeError(f'{kind} "{name}" not found')
    items = source.get("items")
    if not items:
        return {key: FileProjection(value, mode) for key, value in data.items()}
    payload: Payload = {}
    for item in items:
        key = item.get("key", "")
        if key not in data:
            if optional:
                continue
            raise VolumeError(f"{kind} references non-existent {kind} key: {key}")
        payload[item.get("path") or key] = FileProjection(data[key], item.get("mode", mode))
    return payload


def _label_lines(values: dict[str, str]) -> bytes:
    """Labels and annotations as the kubelet writes them: ``key="value"`` lines, sorted, values quoted."""
    return "\n".join(f'{key}="{_quote(value)}"' for key, value in sorted(values.items())).encode()


def _quote(value: str) -> str:
    return value.replace("\\", "\\\\").replace('"', '\\"').replace("\n", "\\n")


def field_value(pod: Obj, field_path: str) -> str | bytes:
    """A fieldRef's value; the paths the downward API allows in volumes."""
    meta = pod.get("metadata") or {}
    spec = pod.get("spec") or {}
    status = pod.get("status") or {}
    simple = {
        "metadata.name": meta.get("name", ""), "metadata.namespace": meta.get("namespace", ""),
        "metadata.uid": meta.get("uid", ""), "spec.nodeName": spec.get("nodeName", ""),
        "spec.serviceAccountName": spec.get("serviceAccountName", ""),
        "status.podIP": status.get("podIP", ""), "status.hostIP": status.get("hostIP", ""),
    }
    if field_path in simple:
        return simple[field_path]
    if field_path == "status.podIPs":
        return ",".join(entry.get("ip", "") for entry in status.get("podIPs") or [])
    if field_path == "metadata.labels":
        return _label_lines(meta.get("labels") or {})
    if field_path == "metadata.annotations":
        return _label_lines(meta.get("annotations") or {})
    for prefix, values in (("metadata.labels", meta.get("labels")), ("metadata.annotations", meta.get("annotations"))):
        if field_path.startswith(prefix + "['") and field_path.endswith("']"):
            return (values or {}).get(field_path[len(prefix) + 2:-2], "")
    raise VolumeError(f"unsupported fieldPath: {field_path}")


def resource_value(pod: Obj, ref: Obj, node_allocatable: dict[str, str]) -> str:
    """A resourceFieldRef's value: the container's limit (node allocatable when unset) or request, over divisor,
    rounded up like the kubelet (cpu in cores by default, memory in bytes)."""
    resource = ref.get("resource", "")
    container_name = ref.get("containerName", "")
    spec = pod.get("spec") or {}
    containers = [*(spec.get("containers") or []), *(spec.get("initContainers") or [])]
    container = next((c for c in containers if c.get("name") == container_name), None)
    if container is None:
        raise VolumeError(f"container {container_name!r} not found for resourceFieldRef {resource}")
    try:
        return resource_field_value(ref, container, node_allocatable)
    except ValueError as exc:
        raise VolumeError(str(exc)) from None


def downward_payload(pod: Obj, items: list[Obj], default_mode: int, node_allocatable: dict[str, str]) -> Payload:
    payload: Payload = {}
    for item in items:
        if item.get("fieldRef"):
            value = field_value(pod, item["fieldRef"].get("fieldPath", ""))
        elif item.get("resourceFieldRef"):
            value = resource_value(pod, item["resourceFieldRef"], node_allocatable)
        else:
            raise VolumeError(f"downwardAPI item {item.get('path')!r} has neither fieldRef nor resourceFieldRef")
        payload[item.get("path", "")] = FileProjection(value if isinstance(value, bytes) else value.encode(),
                                                       item.get("mode", default_mode))
    return payload
