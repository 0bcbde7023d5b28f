"""The Strategy of custom resources: their CRD version's schema instead of per-kind code.

What kube-apiserver's ``customResourceStrategy`` and ``statusStrategy`` do: writes are pruned
and defaulted, validated against the version's ``openAPIV3Schema`` (plus list-type and embedded
resource rules), the generation counts every change outside ``metadata``, and with a status
subresource the main resource cannot change ``status`` while ``/status`` can change nothing else.
The scale subresource reads and writes the CRD's ``specReplicasPath``/``statusReplicasPath``.
"""

from __future__ import annotations

import copy
import json
from typing import Any

from kubeprov.api.fielderrors import NEGATIVE_MSG, FieldError, Path, invalid, type_invalid
from kubeprov.apiserver.crd import spec
from kubeprov.apiserver.crd.defaulting import normalize
from kubeprov.apiserver.crd.validation import validate_embedded, validate_list_types, validate_schema
from kubeprov.apiserver.resources.types import ResourceType
from kubeprov.apiserver.strategy.base import Strategy
from kubeprov.apiserver.strategy.util import dedupe, guarded

Obj = dict[str, Any]
MAX_INT32 = 2**31 - 1
_GO_TYPES = {bool: "bool", str: "string", float: "float64", int: "int64", dict: "map[string]interface {}",
             list: "[]interface {}"}


def _go_type(value: Any) -> str:
    return _GO_TYPES.get(type(value), "<nil>")


def _go_value(value: Any) -> str:
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, dict | list):
        return json.dumps(value, separators=(",", ":"))
    return "<nil>" if value is None else str(value)


def rt_kind(rt: ResourceType | None) -> str:
    return rt.kind if rt is not None else "this resource"


def _fields(json_path: str) -> list[str]:
    return [part for part in json_path.lstrip(".").split(".") if part]


def nested(obj: Obj, json_path: str, expected: type) -> tuple[Any, bool, str]:
    """``unstructured.NestedInt64``/``NestedString``: (value, found, error message)."""
    fields = _fields(json_path)
    current: Any = obj
    for index, key in enumerate(fields):
        if not isinstance(current, dict):
            where = "." + ".".join(fields[:index])
            return None, False, (f"{where} accessor error: {_go_value(current)} is of the type {_go_type(current)}, "
                                 "expected map[string]interface{}")
        if key not in current:
            return None, False, ""
        current = current[key]
    wanted = "int64" if expected is int else "string"
    if not isinstance(current, expected) or isinstance(current, bool):
        return None, True, (f".{'.'.join(fields)} accessor error: {_go_value(current)} is of the type "
                            f"{_go_type(current)}, expected {wanted}")
    return current, True, ""


def _set_nested(obj: Obj, json_path: str, value: Any) -> None:
    fields = _fields(json_path)
    current = obj
    for key in fields[:-1]:
        child = current.get(key)
        if not isinstance(child, dict):
            child = current[key] = {}
        current = child
    current[fields[-1]] = value


class CustomResourceStrategy(Strategy):
    """Behaviour of one served version of a CRD (``rt.extra["crd"]`` holds the CRD)."""

    tracks_generation = True

    def __init__(self, rt: ResourceType) -> None:
        super().__init__(rt)
        crd = rt.extra.get("crd")
        self.crd: Obj = crd if isinstance(crd, dict) else {}
        self.version = spec.version(self.crd, rt.version)
        self.schema = spec.schema(self.version)
        self.status_enabled = spec.has_status(self.version)
        self.scale = spec.scale(self.version)

    # ------------------------------------------------------------------ writes

    def default(self, obj: dict) -> None:
        """Prune unknown fields, drop meaningless nulls and apply schema defaults (decoding a write)."""
        if isinstance(obj, dict):
            normalize(obj, self.schema)

    def prepare_for_create(self, obj: dict) -> None:
        if not isinstance(obj, dict):
            return
        if self.status_enabled:
            obj.pop("status", None)
        if isinstance(obj.get("metadata"), dict):
            obj["metadata"]["generation"] = 1

    def prepare_for_update(self, new: dict, old: dict) -> None:
        if not isinstance(new, dict) or not isinstance(old, dict):
            return
        if self.status_enabled:
            if "status" in old:
                new["status"] = copy.deepcopy(old["status"])
            else:
                new.pop("status", None)
        changed = {k: v for k, v in new.items() if k != "metadata"} != {k: v for k, v in old.items() if k != "metadata"}
        meta = new.get("metadata")
        if isinstance(meta, dict):
            old_generation = (old.get("metadata") or {}).get("generation")
            old_generation = old_generation if isinstance(old_generation, int) else 0
            meta["generation"] = old_generation + 1 if changed else old_generation

    def prepare_for_status_update(self, new: dict, old: dict) -> None:
        """Everything but ``status`` (and the managedFields just computed) comes from the stored object."""
        if not isinstance(new, dict) or not isinstance(old, dict):
            return
        has_status, status = "status" in new, new.get("status")
        managed = (new.get("metadata") or {}).get("managedFields")
        new.clear()
        new.update(copy.deepcopy(old))
        meta = new.setdefault("metadata", {})
        if managed is not None:
            meta["managedFields"] = managed
        else:
            meta.pop("managedFields", None)
        if has_status:
            new["status"] = status
        else:
            new.pop("status", None)

    def prepare_for_subresource_update(self, subresource: str, new: dict, old: dict) -> None:
        if subresource == "status":
            self.prepare_for_status_update(new, old)
        else:
            self.prepare_for_update(new, old)

    # ------------------------------------------------------------------ validation

    def validate(self, obj: dict) -> list[FieldError]:
        if not isinstance(obj, dict):
            return [type_invalid(Path(), obj, "must be an object")]
        return dedupe(guarded(lambda: self._errors(obj, status_only=False)))

    def validate_update(self, new: dict, old: dict) -> list[FieldError]:
        if not isinstance(new, dict):
            return [type_invalid(Path(), new, "must be an object")]
        old = old if isinstance(old, dict) else {}
        return dedupe(guarded(lambda: self._errors(new, status_only=False, old=old)))

    def validate_status_update(self, new: dict, old: dict) -> list[FieldError]:
        if not isinstance(new, dict):
            return [type_invalid(Path(), new, "must be an object")]
        old = old if isinstance(old, dict) else {}
        return dedupe(guarded(lambda: self._errors(new, status_only=True, old=old)))

    def type_meta_errors(self, obj: Obj) -> list[FieldError]:
        """apiVersion and kind must be this version's (the REST layer usually fills them in)."""
        assert self.rt is not None
        errs: list[FieldError] = []
        kind, api_version = obj.get("kind"), obj.get("apiVersion")
        if kind != self.rt.kind:
            errs.append(invalid(Path("kind"), kind if kind is not None else "", f"must be {self.rt.kind}"))
        if api_version != self.rt.api_version:
            errs.append(invalid(Path("apiVersion"), api_version if api_version is not None else "",
                                f"must be {self.rt.api_version}"))
        return errs

    def _errors(self, obj: Obj, *, status_only: bool, old: Obj | None = None) -> list[FieldError]:
        errs = self.type_meta_errors(obj)
        if errs:
            return errs
        errs = self.metadata_errors(obj)
        errs.extend(validate_schema(obj, self.schema))
        if not status_only:
            errs.extend(self.scale_spec_errors(obj))
        errs.extend(self.scale_status_errors(obj))
        errs.extend(validate_embedded(obj, self.schema))
        # list-type rules ratchet: an update need not fix a stored object that already broke them
        if old is None or not validate_list_types(old, self.schema):
            errs.extend(validate_list_types(obj, self.schema))
        # x-kubernetes-validations (CEL) rules are accepted in CRDs but not evaluated here
        return errs

    # ------------------------------------------------------------------ scale

    def _replicas_errors(self, obj: Obj, json_path: str) -> list[FieldError]:
        value, _, error = nested(obj, json_path, int)
        if error:
            return [invalid(json_path, 0, error)]
        if value is None:
            return []
        if value < 0:
            return [invalid(json_path, value, "should be a non-negative integer")]
        if value > MAX_INT32:
            return [invalid(json_path, value, f"should be less than or equal to {MAX_INT32}")]
        return []

    def scale_spec_errors(self, obj: Obj) -> list[FieldError]:
        if self.scale is None:
            return []
        return self._replicas_errors(obj, str(self.scale.get("specReplicasPath") or ""))

    def scale_status_errors(self, obj: Obj) -> list[FieldError]:
        if self.scale is None:
            return []
        errs = self._replicas_errors(obj, str(self.scale.get("statusReplicasPath") or ""))
        selector_path = self.scale.get("labelSelectorPath")
        if isinstance(selector_path, str) and selector_path:
            _, _, error = nested(obj, selector_path, str)
            if error:
                errs.append(invalid(selector_path, "", error))
        return errs

    def to_scale(self, obj: dict) -> dict:
        """``autoscaling/v1`` Scale of a custom resource, read through the CRD's paths."""
        if self.scale is None:
            raise NotImplementedError(f"{rt_kind(self.rt)} has no scale subresource")
        meta = obj.get("metadata") or {}
        replicas, _, _ = nested(obj, str(self.scale.get("specReplicasPath") or ""), int)
        status_replicas, _, _ = nested(obj, str(self.scale.get("statusReplicasPath") or ""), int)
        selector = ""
        selector_path = self.scale.get("labelSelectorPath")
        if isinstance(selector_path, str) and selector_path:
            selector = nested(obj, selector_path, str)[0] or ""
        return {
            "kind": "Scale",
            "apiVersion": "autoscaling/v1",
            "metadata": {k: meta[k] for k in ("name", "namespace", "uid", "resourceVersion", "creationTimestamp")
                         if k in meta},
            "spec": {"replicas": replicas or 0},
            "status": {"replicas": status_replicas or 0, "selector": selector},
        }

    def apply_scale(self, obj: dict, scale: dict) -> list[FieldError]:
        """Write ``scale.spec.replicas`` to the CRD's specReplicasPath."""
        if self.scale is None:
            raise NotImplementedError(f"{rt_kind(self.rt)} has no scale subresource")
        replicas = ((scale.get("spec") or {}) if isinstance(scale, dict) else {}).get("replicas")
        replicas = 0 if replicas is None else replicas
        if not isinstance(replicas, int) or isinstance(replicas, bool):
            return [type_invalid(Path("spec", "replicas"), replicas, "must be an integer")]
        if replicas < 0:
            return [invalid(Path("spec", "replicas"), replicas, NEGATIVE_MSG)]
        _set_nested(obj, str(self.scale.get("specReplicasPath") or ".spec.replicas"), replicas)
        return []
