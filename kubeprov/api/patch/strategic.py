"""Strategic merge patch, applied the way the Kubernetes API server applies it.

A strategic merge patch is a JSON merge patch that knows, per field of each built-in type,
whether a list is replaced (the default) or merged element by element on a key (``containers``
on ``name``, ``ports`` on ``containerPort``...). It also understands the directives kubectl
sends: ``$patch: replace|delete`` (in maps and list elements), ``$retainKeys``,
``$setElementOrder/<list>`` and ``$deleteFromPrimitiveList/<list>``; ``null`` deletes a key.

The per-type metadata below is the ``patchStrategy``/``patchMergeKey`` information of the
Kubernetes 1.32 API types. Custom resources have none, so the API server refuses strategic
merge patches for them (415); :class:`StrategicMergeUnsupported` carries that answer.
"""

from __future__ import annotations

import copy
from collections.abc import Iterable
from dataclasses import dataclass
from typing import Any

from kubeprov.api.fielderrors import go_float
from kubeprov.api.status import bad_request, failure, generic_server_response, unsupported_media_type

DIRECTIVE = "$patch"
RETAIN_KEYS = "$retainKeys"
SET_ELEMENT_ORDER = "$setElementOrder"
DELETE_FROM_PRIMITIVE_LIST = "$deleteFromPrimitiveList"

# The patch content types the API server accepts for a custom resource.
CUSTOM_RESOURCE_PATCH_TYPES = (
    "application/json-patch+json",
    "application/merge-patch+json",
    "application/apply-patch+yaml",
)

# Messages of Kubernetes' strategic merge patch errors.
ERR_BAD_JSON_DOC = "invalid JSON document"
ERR_NO_LIST_OF_LISTS = "lists of lists are not supported"
ERR_BAD_PRIMITIVE_LIST = "invalid patch format of primitive list"
ERR_BAD_RETAIN_KEYS = "invalid patch format of retainKeys"
ERR_BAD_SET_ELEMENT_ORDER = "invalid patch format of setElementOrder list"
ERR_UNSUPPORTED = "strategic merge patch format is not supported"


class StrategicMergePatchError(ValueError):
    """A patch the server rejects; ``code`` is the HTTP status it answers with."""

    def __init__(self, message: str, code: int = 500) -> None:
        super().__init__(message)
        self.code = code

    def to_status(self) -> dict[str, Any]:
        """The ``Status`` the API server sends for this error."""
        if self.code == 400:
            return bad_request(str(self))
        if self.code == 422:
            return generic_server_response(422, str(self))
        return failure(self.code, "", str(self))


class StrategicMergeUnsupported(StrategicMergePatchError):
    """Strategic merge patch sent for a kind without patch metadata (a custom resource)."""

    def __init__(self, kind: str, accepted: Iterable[str] = CUSTOM_RESOURCE_PATCH_TYPES) -> None:
        self.accepted = tuple(accepted)
        self.kind = kind
        types = ", ".join(self.accepted)
        super().__init__(
            f"the body of the request was in an unknown format - accepted media types include: {types}", 415
        )

    def to_status(self) -> dict[str, Any]:
        """415 Unsupported Media Type listing the patch types a custom resource accepts."""
        return unsupported_media_type(self.accepted)


# --------------------------------------------------------------------------- metadata


@dataclass(frozen=True)
class FieldMeta:
    """Patch metadata of one field: strategy (``merge``, ``replace``, ``retainKeys``...),
    the merge key of a merged list of objects, and the type name of the nested object."""

    strategy: str = ""
    merge_key: str = ""
    type: str = ""

    @property
    def merges(self) -> bool:
        """Whether a list at this field is merged rather than replaced."""
        return "merge" in self.strategy.split(",")

    @property
    def replaces(self) -> bool:
        """Whether a map at this field is replaced whole."""
        return "replace" in self.strategy.split(",")


_NONE = FieldMeta()


def _obj(type_name: str) -> FieldMeta:
    return FieldMeta(type=type_name)


def _merge(key: str = "", type_name: str = "", *, retain: bool = False) -> FieldMeta:
    return FieldMeta("merge,retainKeys" if retain else "merge", key, type_name)


_CONDITIONS = _merge("type")

TYPES: dict[str, dict[str, FieldMeta]] = {
    "Object": {"metadata": _obj("ObjectMeta")},
    "ObjectMeta": {"finalizers": _merge(), "ownerReferences": _merge("uid")},
    "ConditionsStatus": {"conditions": _CONDITIONS},
    # core/v1
    "Pod": {"metadata": _obj("ObjectMeta"), "spec": _obj("PodSpec"), "status": _obj("PodStatus")},
    "PodTemplateSpec": {"metadata": _obj("ObjectMeta"), "spec": _obj("PodSpec")},
    "PodSpec": {
        "volumes": _merge("name", retain=True),
        "initContainers": _merge("name", "Container"),
        "containers": _merge("name", "Container"),
        "ephemeralContainers": _merge("name", "Container"),
        "imagePullSecrets": _merge("name"),
        "hostAliases": _merge("ip"),
        "topologySpreadConstraints": _merge("topologyKey"),
        "schedulingGates": _merge("name"),
        "resourceClaims": _merge("name", retain=True),
    },
    "Container": {
        "ports": _merge("containerPort"),
        "env": _merge("name"),
        "volumeMounts": _merge("mountPath"),
        "volumeDevices": _merge("devicePath"),
    },
    "PodStatus": {
        "conditions": _CONDITIONS,
        "podIPs": _merge("ip"),
        "hostIPs": _merge("ip"),
        "resourceClaimStatuses": _merge("name", retain=True),
    },
    "PodTemplate": {"metadata": _obj("ObjectMeta"), "template": _obj("PodTemplateSpec")},
    "ReplicationController": {
        "metadata": _obj("ObjectMeta"),
        "spec": _obj("WorkloadSpec"),
        "status": _obj("ConditionsStatus"),
    },
    "Service": {
        "metadata": _obj("ObjectMeta"),
        "spec": _obj("ServiceSpec"),
        "status": _obj("ConditionsStatus"),
    },
    "ServiceSpec": {"ports": _merge("port")},
    "Node": {"metadata": _obj("ObjectMeta"), "spec": _obj("NodeSpec"), "status": _obj("NodeStatus")},
    "NodeSpec": {"podCIDRs": _merge()},
    "NodeStatus": {"conditions": _CONDITIONS, "addresses": _merge("type")},
    "WithConditions": {"metadata": _obj("ObjectMeta"), "status": _obj("ConditionsStatus")},
    "ServiceAccount": {"metadata": _obj("ObjectMeta"), "secrets": _merge("name")},
    # apps/v1, batch/v1
    "Workload": {
        "metadata": _obj("ObjectMeta"),
        "spec": _obj("WorkloadSpec"),
        "status": _obj("ConditionsStatus"),
    },
    "WorkloadSpec": {"template": _obj("PodTemplateSpec")},
    "Deployment": {
        "metadata": _obj("ObjectMeta"),
        "spec": _obj("DeploymentSpec"),
        "status": _obj("ConditionsStatus"),
    },
    "DeploymentSpec": {"template": _obj("PodTemplateSpec"), "strategy": FieldMeta("retainKeys")},
    "CronJob": {"metadata": _obj("ObjectMeta"), "spec": _obj("CronJobSpec")},
    "CronJobSpec": {"jobTemplate": _obj("JobTemplateSpec")},
    "JobTemplateSpec": {"metadata": _obj("ObjectMeta"), "spec": _obj("WorkloadSpec")},
    # policy/v1
    "PodDisruptionBudget": {
        "metadata": _obj("ObjectMeta"),
        "spec": _obj("PodDisruptionBudgetSpec"),
        "status": _obj("ConditionsStatus"),
    },
    "PodDisruptionBudgetSpec": {"selector": FieldMeta("replace")},
    # admissionregistration.k8s.io/v1
    "WebhookConfiguration": {"metadata": _obj("ObjectMeta"), "webhooks": _merge("name", "Webhook")},
    "Webhook": {"matchConditions": _merge("name")},
    "ValidatingAdmissionPolicy": {
        "metadata": _obj("ObjectMeta"),
        "spec": _obj("ValidatingAdmissionPolicySpec"),
        "status": _obj("ConditionsStatus"),
    },
    "ValidatingAdmissionPolicySpec": {"matchConditions": _merge("name"), "variables": _merge("name")},
    # storage.k8s.io/v1
    "CSINode": {"metadata": _obj("ObjectMeta"), "spec": _obj("CSINodeSpec")},
    "CSINodeSpec": {"drivers": _merge("name")},
}

# Root type of each built-in kind, by API group. Kinds that map to "Object" have no
# strategies beyond those of ObjectMeta.
_BUILTIN_KINDS: dict[str, dict[str, str]] = {
    "": {
        "Pod": "Pod",
        "PodTemplate": "PodTemplate",
        "ReplicationController": "ReplicationController",
        "Service": "Service",
        "Node": "Node",
        "Namespace": "WithConditions",
        "PersistentVolumeClaim": "WithConditions",
        "ComponentStatus": "WithConditions",
        "ServiceAccount": "ServiceAccount",
        "ConfigMap": "Object",
        "Secret": "Object",
        "Endpoints": "Object",
        "PersistentVolume": "Object",
        "ResourceQuota": "Object",
        "LimitRange": "Object",
        "Event": "Object",
        "Binding": "Object",
    },
    "apps": {
        "Deployment": "Deployment",
        "ReplicaSet": "Workload",
        "StatefulSet": "Workload",
        "DaemonSet": "Workload",
        "ControllerRevision": "Object",
    },
    "batch": {"Job": "Workload", "CronJob": "CronJob"},
    "autoscaling": {"HorizontalPodAutoscaler": "WithConditions", "Scale": "Object"},
    "policy": {"PodDisruptionBudget": "PodDisruptionBudget", "Eviction": "Object"},
    "networking.k8s.io": {
        "Ingress": "Object",
        "IngressClass": "Object",
        "NetworkPolicy": "Object",
        "ServiceCIDR": "Object",
        "IPAddress": "Object",
    },
    "rbac.authorization.k8s.io": {
        "Role": "Object",
        "RoleBinding": "Object",
        "ClusterRole": "Object",
        "ClusterRoleBinding": "Object",
    },
    "storage.k8s.io": {
        "StorageClass": "Object",
        "CSIDriver": "Object",
        "CSINode": "CSINode",
        "CSIStorageCapacity": "Object",
        "VolumeAttachment": "Object",
        "VolumeAttributesClass": "Object",
    },
    "coordination.k8s.io": {"Lease": "Object"},
    "discovery.k8s.io": {"EndpointSlice": "Object"},
    "events.k8s.io": {"Event": "Object"},
    "certificates.k8s.io": {"CertificateSigningRequest": "Object", "ClusterTrustBundle": "Object"},
    "admissionregistration.k8s.io": {
        "ValidatingWebhookConfiguration": "WebhookConfiguration",
        "MutatingWebhookConfiguration": "WebhookConfiguration",
        "ValidatingAdmissionPolicy": "ValidatingAdmissionPolicy",
        "ValidatingAdmissionPolicyBinding": "Object",
    },
    "apiextensions.k8s.io": {"CustomResourceDefinition": "Object"},
    "apiregistration.k8s.io": {"APIService": "WithConditions"},
    "scheduling.k8s.io": {"PriorityClass": "Object"},
    "node.k8s.io": {"RuntimeClass": "Object"},
    "flowcontrol.apiserver.k8s.io": {"FlowSchema": "Object", "PriorityLevelConfiguration": "Object"},
    "resource.k8s.io": {
        "ResourceClaim": "Object",
        "ResourceClaimTemplate": "Object",
        "DeviceClass": "Object",
        "ResourceSlice": "Object",
    },
}


def _root_type(kind: str, group: str | None) -> str | None:
    if group is not None:
        return _BUILTIN_KINDS.get(group, {}).get(kind)
    for kinds in _BUILTIN_KINDS.values():
        if kind in kinds:
            return kinds[kind]
    return None


def supports_strategic_merge(kind: str, group: str | None = None) -> bool:
    """Whether ``kind`` (in ``group``, when given) is a built-in type with patch metadata."""
    return _root_type(kind, group) is not None


def _field(type_name: str, key: str) -> FieldMeta:
    return TYPES.get(type_name, {}).get(key, _NONE)


# --------------------------------------------------------------------------- Go formatting


def _go_v(value: Any) -> str:
    """Go's ``%v`` of a decoded JSON value, as it appears in Kubernetes' patch errors."""
    if value is None:
        return "<nil>"
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, int):
        return str(value)
    if isinstance(value, float):
        return go_float(value)
    if isinstance(value, dict):
        return "map[" + " ".join(f"{k}:{_go_v(value[k])}" for k in sorted(value)) + "]"
    if isinstance(value, list):
        return "[" + " ".join(_go_v(v) for v in value) + "]"
    return str(value)


def _go_type(value: Any) -> str:
    if isinstance(value, dict):
        return "map[string]interface {}"
    if isinstance(value, list):
        return "[]interface {}"
    if isinstance(value, bool):
        return "bool"
    if isinstance(value, int):
        return "int64"
    if isinstance(value, float):
        return "float64"
    if isinstance(value, str):
        return "string"
    return "<nil>"


def _no_merge_key(value: Any, key: str) -> StrategicMergePatchError:
    return StrategicMergePatchError(f"map: {_go_v(value)} does not contain declared merge key: {key}")


def _bad_arg_type(expected: str, actual: Any) -> StrategicMergePatchError:
    return StrategicMergePatchError(f"expected a {expected}, but received a {_go_type(actual)}")


# --------------------------------------------------------------------------- helpers


def _same(a: Any, b: Any) -> bool:
    """Equality of decoded JSON scalars as Go compares interface values (type and value)."""
    if isinstance(a, bool) or isinstance(b, bool):
        return isinstance(a, bool) and isinstance(b, bool) and a == b
    if isinstance(a, (dict, list)) or isinstance(b, (dict, list)):
        return False
    if type(a) is not type(b):
        return False
    return bool(a == b)


def _category(value: Any) -> str:
    if isinstance(value, dict):
        return "map"
    if isinstance(value, list):
        return "list"
    if value is None:
        return "null"
    if isinstance(value, bool):
        return "bool"
    if isinstance(value, (int, float)):
        return "number"
    return "string"


_DROP = object()


def _clean(value: Any) -> Any:
    """Strip directives and null map values from a value taken from the patch as is.

    Returns ``_DROP`` when the value itself is a delete directive.
    """
    if isinstance(value, dict):
        directive = value.get(DIRECTIVE)
        if directive == "delete":
            return _DROP
        out: dict[str, Any] = {}
        for key, item in value.items():
            if key in (DIRECTIVE, RETAIN_KEYS) or key.startswith(
                (SET_ELEMENT_ORDER + "/", DELETE_FROM_PRIMITIVE_LIST + "/")
            ):
                continue
            if item is None:
                continue
            cleaned = _clean(item)
            if cleaned is not _DROP:
                out[key] = cleaned
        return out
    if isinstance(value, list):
        items: list[Any] = []
        for item in value:
            if isinstance(item, dict) and DIRECTIVE in item:
                cleaned = _clean(item)
                if cleaned is _DROP or not cleaned:
                    continue
                items.append(cleaned)
            else:
                items.append(_clean(item))
        return items
    return value


def _element_kind(*lists: list[Any]) -> str | None:
    """The category shared by all elements ("map" or a scalar kind), None when all empty."""
    found: str | None = None
    for items in lists:
        for item in items:
            category = _category(item)
            if found is None:
                if category == "list":
                    raise StrategicMergePatchError(ERR_NO_LIST_OF_LISTS, 422)
                found = category
            elif category != found:
                rendered = "[" + " ".join(_go_v(list(x)) for x in lists) + "]"
                raise StrategicMergePatchError(f"list element types are not identical: {rendered}")
    return found


def _key_of(item: Any, merge_key: str, kind: str) -> Any:
    if kind == "map":
        return item.get(merge_key) if isinstance(item, dict) else None
    return item


def _index(items: list[Any], value: Any, merge_key: str, kind: str) -> int:
    wanted = _key_of(value, merge_key, kind)
    for i, item in enumerate(items):
        if _same(wanted, _key_of(item, merge_key, kind)):
            return i
    return -1


def _find_by_key(items: list[Any], merge_key: str, value: Any) -> int:
    for i, item in enumerate(items):
        if not isinstance(item, dict):
            raise StrategicMergePatchError(f"value for key {i} is not a map.")
        if merge_key in item and _same(item[merge_key], value):
            return i
    return -1


def _require_merge_keys(merge_key: str, *lists: list[Any]) -> None:
    for items in lists:
        for item in items:
            if not isinstance(item, dict):
                raise _bad_arg_type("map[string]interface {}", item)
            if merge_key not in item:
                raise _no_merge_key(item, merge_key)


def _partition(merged: list[Any], by: list[Any], merge_key: str, kind: str) -> tuple[list[Any], list[Any]]:
    """Split into (items present in ``by``, the others), keeping order."""
    present: list[Any] = []
    others: list[Any] = []
    for item in merged:
        if kind == "map":
            if not isinstance(item, dict):
                raise _bad_arg_type("map[string]interface {}", item)
            if merge_key not in item:
                raise _no_merge_key(item, merge_key)
            found = _find_by_key(by, merge_key, item[merge_key]) >= 0
        else:
            found = any(_same(item, other) for other in by)
        (present if found else others).append(item)
    return present, others


def _sort_by(items: list[Any], order: list[Any], merge_key: str, kind: str) -> list[Any]:
    def position(item: Any) -> int:
        i = _index(order, item, merge_key, kind)
        return i if i >= 0 else len(order)

    return sorted(items, key=position)


def _normalize_order(
    patch_items: list[Any],
    server_only: list[Any],
    patch_order: list[Any],
    server_order: list[Any],
    merge_key: str,
    kind: str,
) -> list[Any]:
    """Order patch items by ``patch_order`` and server-only items by the live order, then
    interleave them: a server-only item goes first only when it precedes the patch item in
    the live list (new patch items, absent from the live list, come first)."""
    if kind == "map":
        _require_merge_keys(merge_key, patch_items, patch_order)
        _require_merge_keys(merge_key, server_only, server_order)
    left = _sort_by(server_only, server_order, merge_key, kind)
    right = _sort_by(patch_items, patch_order, merge_key, kind)
    out: list[Any] = []
    i = j = 0
    while i < len(left) or j < len(right):
        if j >= len(right):
            out.append(left[i])
            i += 1
        elif i >= len(left):
            out.append(right[j])
            j += 1
        else:
            li = _index(server_order, left[i], merge_key, kind)
            ri = _index(server_order, right[j], merge_key, kind)
            if li >= 0 and ri >= 0 and li < ri:
                out.append(left[i])
                i += 1
            else:
                out.append(right[j])
                j += 1
    return out


# --------------------------------------------------------------------------- merging


def _merge_map(original: dict[str, Any], patch: dict[str, Any], type_name: str) -> dict[str, Any]:
    if DIRECTIVE in patch:
        directive = patch[DIRECTIVE]
        if directive == "replace":
            cleaned = _clean({k: v for k, v in patch.items() if k != DIRECTIVE})
            return cleaned if isinstance(cleaned, dict) else {}
        if directive == "delete":
            return {}
        raise StrategicMergePatchError(f"unknown patch type: {_go_v(directive)} in map: {_go_v(patch)}")
    _apply_retain_keys(original, patch)
    _apply_set_element_order(original, patch, type_name)
    for key, value in list(patch.items()):
        is_delete_list = False
        if key.startswith(DELETE_FROM_PRIMITIVE_LIST):
            key = _directive_target(key, DELETE_FROM_PRIMITIVE_LIST, ERR_BAD_PRIMITIVE_LIST)
            is_delete_list = True
        if value is None:
            original.pop(key, None)
            continue
        if key not in original or _category(original[key]) != _category(value):
            if not is_delete_list:
                cleaned = _clean(value)
                if cleaned is _DROP:
                    original.pop(key, None)
                else:
                    original[key] = cleaned
            continue
        meta = _field(type_name, key)
        current = original[key]
        if isinstance(current, dict):
            original[key] = _clean(value) if meta.replaces else _merge_map(current, value, meta.type)
        elif isinstance(current, list):
            if meta.merges or is_delete_list:
                original[key] = _merge_list(current, value, meta, is_delete_list)
            else:
                original[key] = _clean(value)
        else:
            original[key] = value
    return original


def _directive_target(key: str, prefix: str, error: str) -> str:
    """The list a ``<prefix>/<list>`` directive key refers to."""
    head, sep, target = key.partition("/")
    if not sep or head != prefix:
        raise StrategicMergePatchError(error, 400)
    return target


def _apply_retain_keys(original: dict[str, Any], patch: dict[str, Any]) -> None:
    if RETAIN_KEYS not in patch:
        return
    retain = patch.pop(RETAIN_KEYS)
    if not isinstance(retain, list):
        raise StrategicMergePatchError(ERR_BAD_RETAIN_KEYS, 400)
    keep = {k for k in retain if isinstance(k, str)}
    for key, value in patch.items():
        if value is None or key.startswith((DELETE_FROM_PRIMITIVE_LIST, SET_ELEMENT_ORDER)):
            continue
        if key not in keep:
            raise StrategicMergePatchError(ERR_BAD_RETAIN_KEYS, 400)
    for key in [k for k in original if k not in keep]:
        del original[key]


def _apply_set_element_order(original: dict[str, Any], patch: dict[str, Any], type_name: str) -> None:
    """Process ``$setElementOrder/<list>`` with its list: merge, then impose the given order
    on the patch's items while server-only items keep their live positions."""
    for directive_key in [k for k in patch if k.startswith(SET_ELEMENT_ORDER)]:
        order = patch.pop(directive_key)
        if not isinstance(order, list):
            raise _bad_arg_type("[]interface {}", order)
        list_key = _directive_target(directive_key, SET_ELEMENT_ORDER, ERR_BAD_SET_ELEMENT_ORDER)
        found_original = list_key in original
        found_patch = list_key in patch
        original_list = original.get(list_key) if found_original else []
        patch_list = patch.get(list_key) if found_patch else []
        if found_original and not isinstance(original_list, list):
            raise _bad_arg_type("[]interface {}", original_list)
        if found_patch and not isinstance(patch_list, list):
            raise _bad_arg_type("[]interface {}", patch_list)
        assert isinstance(original_list, list) and isinstance(patch_list, list)
        meta = _field(type_name, list_key)
        _check_against_order(patch_list, order, meta.merge_key)
        if found_original and found_patch:
            merged = (
                _merge_list(original_list, patch_list, meta, False) if meta.merges else _clean(patch_list)
            )
        elif found_patch:
            merged = _clean(patch_list)
        elif found_original:
            merged = original_list
        else:
            continue
        patch.pop(list_key, None)
        kind = _element_kind(merged) or _element_kind(original_list, patch_list)
        if kind is None or (kind == "map" and not meta.merge_key):
            original[list_key] = merged
            continue
        patch_items, server_only = _partition(merged, order, meta.merge_key, kind)
        original[list_key] = _normalize_order(
            patch_items, server_only, order, original_list, meta.merge_key, kind
        )


def _check_against_order(patch_list: list[Any], order: list[Any], merge_key: str) -> None:
    """The patch's items (deletions aside) must appear in the order list, in the same order."""
    if not patch_list or not order:
        return
    if merge_key:
        for item in patch_list:
            if not isinstance(item, dict):
                raise _bad_arg_type("map[string]interface {}", item)
        items = [i for i in patch_list if i.get(DIRECTIVE) != "delete"]
    else:
        items = list(patch_list)
    pi = oi = 0
    while pi < len(items) and oi < len(order):
        item = items[pi]
        if isinstance(item, dict) and DIRECTIVE in item:
            pi += 1
            continue
        if merge_key:
            if not isinstance(order[oi], dict):
                raise _bad_arg_type("map[string]interface {}", order[oi])
            if merge_key not in item:
                raise _no_merge_key(item, merge_key)
            if merge_key not in order[oi]:
                raise _no_merge_key(order[oi], merge_key)
            equal = _same(item[merge_key], order[oi][merge_key])
        else:
            equal = _same(item, order[oi])
        if equal:
            pi += 1
        oi += 1
    if pi < len(items) and oi >= len(order):
        raise StrategicMergePatchError(
            f"The order in patch list:\n{_go_v(patch_list)}\n doesn't match "
            f"{SET_ELEMENT_ORDER} list:\n{_go_v(order)}\n"
        )


def _merge_list(original: list[Any], patch: list[Any], meta: FieldMeta, is_delete_list: bool) -> list[Any]:
    if not original and not patch:
        return original
    kind = _element_kind(original, patch)
    assert kind is not None
    if kind != "map":
        if is_delete_list:
            return [item for item in original if not any(_same(item, gone) for gone in patch)]
        merged: list[Any] = []
        for item in original + patch:
            if not any(_same(item, seen) for seen in merged):
                merged.append(item)
        patch_items, server_only = _partition(merged, patch, "", kind)
        return _normalize_order(patch_items, server_only, patch, original, "", kind)
    merge_key = meta.merge_key
    if not merge_key:
        raise StrategicMergePatchError(f"cannot merge lists without merge key for {meta.type or 'list'}")
    original, patch = _apply_list_directives(original, patch, merge_key)
    merged = list(original)
    for item in patch:
        if merge_key not in item:
            raise _no_merge_key(item, merge_key)
        index = _find_by_key(merged, merge_key, item[merge_key])
        if index >= 0:
            merged[index] = _merge_map(merged[index], item, meta.type)
        else:
            cleaned = _clean(item)
            if cleaned is not _DROP:
                merged.append(cleaned)
    patch_items, server_only = _partition(merged, patch, merge_key, kind)
    return _normalize_order(patch_items, server_only, patch, original, merge_key, kind)


def _apply_list_directives(
    original: list[Any], patch: list[Any], merge_key: str
) -> tuple[list[Any], list[Any]]:
    """Handle elements carrying ``$patch``: ``delete`` removes matching live elements,
    ``replace`` makes the rest of the patch list the whole list."""
    plain: list[Any] = []
    replace = False
    for item in patch:
        if not isinstance(item, dict):
            raise _bad_arg_type("map[string]interface {}", item)
        if DIRECTIVE not in item:
            plain.append(item)
            continue
        directive = item[DIRECTIVE]
        if directive == "delete":
            if merge_key not in item:
                raise _no_merge_key(item, merge_key)
            value = item[merge_key]
            original = [
                o
                for o in original
                if not (isinstance(o, dict) and merge_key in o and _same(o[merge_key], value))
            ]
        elif directive == "replace":
            replace = True
        elif directive == "merge":
            raise StrategicMergePatchError("merging lists cannot yet be specified in the patch")
        else:
            raise StrategicMergePatchError(f"unknown patch type: {_go_v(directive)} in map: {_go_v(item)}")
    if replace:
        return [c for c in (_clean(p) for p in plain) if c is not _DROP], []
    return original, plain


def strategic_merge(
    original: dict[str, Any], patch: Any, kind: str, group: str | None = None
) -> dict[str, Any]:
    """Apply a strategic merge patch to an object of a built-in ``kind``; inputs are not modified.

    Raises :class:`StrategicMergeUnsupported` for kinds without patch metadata (custom
    resources) and :class:`StrategicMergePatchError` (with the HTTP ``code``) for bad patches.
    """
    root = _root_type(kind, group)
    if root is None:
        raise StrategicMergeUnsupported(kind)
    if not isinstance(patch, dict):
        raise StrategicMergePatchError(
            f"json: cannot unmarshal {_json_kind(patch)} into Go value of type map[string]interface {{}}", 400
        )
    result = _merge_map(copy.deepcopy(original), copy.deepcopy(patch), root)
    return result


def _json_kind(value: Any) -> str:
    if isinstance(value, list):
        return "array"
    if isinstance(value, str):
        return "string"
    if isinstance(value, bool):
        return "bool"
    if isinstance(value, (int, float)):
        return "number"
    return "null"
