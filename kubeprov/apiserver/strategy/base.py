"""The Strategy every resource gets: metadata validation, status and generation bookkeeping.

Mirrors kube-apiserver's ``RESTCreateStrategy``/``RESTUpdateStrategy``: the generic REST layer
owns identity metadata (uid, resourceVersion, timestamps) and calls these hooks for everything
kind-specific. Subclasses override the small ``set_defaults``/``validate_object``/... methods;
the public methods wrap them so malformed input yields field errors instead of exceptions.
"""

from __future__ import annotations

import copy
from typing import Any, ClassVar

from kubeprov.api.fielderrors import NEGATIVE_MSG, FieldError, Path, invalid, type_invalid
from kubeprov.api.names import NameValidator, name_is_dns_subdomain, validate_object_meta
from kubeprov.apiserver.resources.types import ResourceType
from kubeprov.apiserver.strategy.util import (
    Obj,
    as_map,
    dedupe,
    dig,
    guarded,
    is_int,
    keep_old,
    selector_string,
)

# Metadata a /status write may not change (``metav1.ResetObjectMetaForStatus``).
_STATUS_RESET_META = (
    "labels",
    "annotations",
    "finalizers",
    "ownerReferences",
    "deletionTimestamp",
    "generation",
)
_META_SHAPES: dict[str, type] = {
    "labels": dict,
    "annotations": dict,
    "finalizers": list,
    "ownerReferences": list,
}


def metadata_errors(
    meta: Any,
    namespaced: bool,
    name_validator: NameValidator = name_is_dns_subdomain,
    path: Path | None = None,
    *,
    kube_finalizer_rules: bool = True,
) -> list[FieldError]:
    """``ValidateObjectMeta``, tolerating wrongly typed metadata parts (reported, not raised)."""
    path = path if path is not None else Path("metadata")
    if meta is None:
        meta = {}
    if not isinstance(meta, dict):
        return [type_invalid(path, meta, "must be an object")]
    errs: list[FieldError] = []
    clean = dict(meta)
    for key, shape in _META_SHAPES.items():
        value = clean.get(key)
        if value is not None and not isinstance(value, shape):
            errs.append(type_invalid(path.child(key), value, f"must be {'an object' if shape is dict else 'an array'}"))
            clean[key] = None
    if isinstance(clean.get("finalizers"), list):
        clean["finalizers"] = [f for f in clean["finalizers"] if isinstance(f, str)]
    generation = clean.get("generation")
    if generation is not None and not is_int(generation):
        errs.append(type_invalid(path.child("generation"), generation, "must be an integer"))
        clean["generation"] = None
    errs.extend(
        validate_object_meta(clean, namespaced, path, name_validator, kube_finalizer_rules=kube_finalizer_rules)
    )
    return errs


class Strategy:
    """Generic (metadata-only) behaviour; per-kind strategies override the hooks below."""

    kind: ClassVar[str] = ""
    tracks_generation: ClassVar[bool] = False
    has_scale: ClassVar[bool] = False
    # status is written through /status only: reset on create, kept from the old object on update
    has_status: ClassVar[bool] = False
    # what a new object's status starts as (None: no status field at all)
    initial_status: ClassVar[Obj | None] = None
    # top-level fields whose change bumps metadata.generation
    generation_fields: ClassVar[tuple[str, ...]] = ("spec",)
    name_validator: ClassVar[NameValidator] = staticmethod(name_is_dns_subdomain)

    def __init__(self, rt: ResourceType | None = None) -> None:
        self.rt = rt
        self.namespaced = rt.namespaced if rt is not None else True

    # ------------------------------------------------------------------ public API

    def default(self, obj: dict) -> None:
        """Kubernetes defaulting (``SetDefaults_*``), in place, for create and update bodies."""
        if isinstance(obj, dict):
            self.set_defaults(obj)

    def prepare_for_create(self, obj: dict) -> None:
        """Reset what users may not set on create (status) and start the generation at 1."""
        if not isinstance(obj, dict):
            return
        if self.has_status:
            if self.initial_status is None:
                obj.pop("status", None)
            else:
                obj["status"] = copy.deepcopy(self.initial_status)
        if self.tracks_generation and isinstance(obj.get("metadata"), dict):
            obj["metadata"]["generation"] = 1
        self.on_create(obj)

    def prepare_for_update(self, new: dict, old: dict) -> None:
        """Keep the stored status and bump the generation when the spec changed."""
        if not isinstance(new, dict) or not isinstance(old, dict):
            return
        if self.has_status:
            keep_old(new, old, "status")
        self.on_update(new, old)
        if self.tracks_generation and isinstance(new.get("metadata"), dict):
            old_gen = dig(old, "metadata", "generation")
            old_gen = old_gen if is_int(old_gen) else 0
            changed = any(new.get(f) != old.get(f) for f in self.generation_fields)
            new["metadata"]["generation"] = old_gen + 1 if changed else old_gen

    def prepare_for_status_update(self, new: dict, old: dict) -> None:
        """A /status write changes only ``status``: everything else comes from the old object."""
        if not isinstance(new, dict) or not isinstance(old, dict):
            return
        status = new.get("status")
        new_meta = as_map(new.get("metadata"))
        for key in list(new):
            if key not in ("apiVersion", "kind", "metadata"):
                del new[key]
        for key, value in old.items():
            if key not in ("apiVersion", "kind", "metadata", "status"):
                new[key] = copy.deepcopy(value)
        if status is not None:
            new["status"] = status
        meta = dict(new_meta)
        old_meta = as_map(old.get("metadata"))
        for key in _STATUS_RESET_META:
            keep_old(meta, old_meta, key)
        new["metadata"] = meta
        self.on_status_update(new, old)

    def validate(self, obj: dict) -> list[FieldError]:
        """Full validation of a new object."""
        if not isinstance(obj, dict):
            return [type_invalid(Path(), obj, "must be an object")]
        return dedupe(guarded(lambda: self.check_create(obj)))

    def validate_update(self, new: dict, old: dict) -> list[FieldError]:
        """Validation of an updated object, including the kind's immutability rules."""
        if not isinstance(new, dict):
            return [type_invalid(Path(), new, "must be an object")]
        old = old if isinstance(old, dict) else {}
        return dedupe(guarded(lambda: self.check_update(new, old)))

    def validate_status_update(self, new: dict, old: dict) -> list[FieldError]:
        """Validation of a /status write."""
        if not isinstance(new, dict):
            return [type_invalid(Path(), new, "must be an object")]
        old = old if isinstance(old, dict) else {}
        return dedupe(guarded(lambda: self.check_status_update(new, old)))

    def prepare_for_subresource_update(self, subresource: str, new: dict, old: dict) -> None:
        """Other writable subresources (``approval``, ``finalize``...); status by default."""
        if subresource == "status":
            self.prepare_for_status_update(new, old)
        else:
            self.prepare_for_update(new, old)

    def validate_subresource_update(self, subresource: str, new: dict, old: dict) -> list[FieldError]:
        """Validation matching :meth:`prepare_for_subresource_update`."""
        if subresource == "status":
            return self.validate_status_update(new, old)
        return self.validate_update(new, old)

    def warnings(self, obj: dict) -> list[str]:
        """Warnings sent back with a successful write (deprecated fields...)."""
        if not isinstance(obj, dict):
            return []
        try:
            return self.object_warnings(obj)
        except (TypeError, AttributeError, KeyError, ValueError):
            return []

    # ------------------------------------------------------------------ scale

    def to_scale(self, obj: dict) -> dict:
        """The ``autoscaling/v1`` Scale view of a scalable object."""
        if not self.has_scale:
            raise NotImplementedError(f"{self.kind or 'this resource'} has no scale subresource")
        meta = as_map(obj.get("metadata"))
        scale_meta = {
            k: meta[k] for k in ("name", "namespace", "uid", "resourceVersion", "creationTimestamp") if k in meta
        }
        replicas = dig(obj, "spec", "replicas")
        status_replicas = dig(obj, "status", "replicas")
        return {
            "kind": "Scale",
            "apiVersion": "autoscaling/v1",
            "metadata": scale_meta,
            "spec": {"replicas": replicas if is_int(replicas) else 0},
            "status": {
                "replicas": status_replicas if is_int(status_replicas) else 0,
                "selector": self.scale_selector(obj),
            },
        }

    def apply_scale(self, obj: dict, scale: dict) -> list[FieldError]:
        """Copy ``scale.spec.replicas`` into the object; errors when the Scale is invalid."""
        if not self.has_scale:
            raise NotImplementedError(f"{self.kind or 'this resource'} has no scale subresource")
        replicas = dig(scale, "spec", "replicas")
        if replicas is None:
            replicas = 0
        if not is_int(replicas):
            return [type_invalid(Path("spec", "replicas"), replicas, "must be an integer")]
        if replicas < 0:
            return [invalid(Path("spec", "replicas"), replicas, NEGATIVE_MSG)]
        spec = obj.get("spec")
        if not isinstance(spec, dict):
            spec = obj["spec"] = {}
        spec["replicas"] = replicas
        return []

    def scale_selector(self, obj: Obj) -> str:
        """``Scale.status.selector``: the object's label selector as a string."""
        return selector_string(dig(obj, "spec", "selector"))

    # ------------------------------------------------------------------ hooks

    def set_defaults(self, obj: Obj) -> None:
        """Kind defaults; ``obj`` is a dict but its parts may have any JSON type."""

    def on_create(self, obj: Obj) -> None:
        """Kind-specific ``PrepareForCreate`` after the generic status/generation handling."""

    def on_update(self, new: Obj, old: Obj) -> None:
        """Kind-specific ``PrepareForUpdate`` before the generation is computed."""

    def on_status_update(self, new: Obj, old: Obj) -> None:
        """Kind-specific tweaks of a /status write."""

    def check_create(self, obj: Obj) -> list[FieldError]:
        return self.metadata_errors(obj) + self.validate_object(obj, None)

    def check_update(self, new: Obj, old: Obj) -> list[FieldError]:
        return self.metadata_errors(new) + self.validate_object(new, old) + self.validate_changes(new, old)

    def check_status_update(self, new: Obj, old: Obj) -> list[FieldError]:
        return self.metadata_errors(new) + self.validate_status(new, old)

    def metadata_errors(self, obj: Obj) -> list[FieldError]:
        # built-in kinds also require unprefixed finalizers to be standard ones; custom resources do not
        custom = self.rt is not None and self.rt.custom
        return metadata_errors(
            obj.get("metadata"), self.namespaced, self.name_validator, kube_finalizer_rules=not custom
        )

    def validate_object(self, obj: Obj, old: Obj | None) -> list[FieldError]:
        """Kind validation beyond metadata; ``old`` is the stored object on update."""
        return []

    def validate_changes(self, new: Obj, old: Obj) -> list[FieldError]:
        """Immutability rules of the kind."""
        return []

    def validate_status(self, new: Obj, old: Obj) -> list[FieldError]:
        """Validation of the status written through /status."""
        return []

    def object_warnings(self, obj: Obj) -> list[str]:
        return []
