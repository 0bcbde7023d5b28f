"""Namespaces (always finalized by ``kubernetes``) and ServiceAccounts."""

from __future__ import annotations

import copy
from typing import ClassVar

from kubeprov.api.fielderrors import (
    FieldError,
    Path,
    invalid,
)
from kubeprov.api.names import name_is_dns_label
from kubeprov.apiserver.strategy.base import Strategy
from kubeprov.apiserver.strategy.util import (
    Obj,
    as_list,
    as_map,
    as_str,
    keep_old,
    qualified_name,
    sub,
)

NAMESPACE_NAME_LABEL = "kubernetes.io/metadata.name"
STANDARD_FINALIZERS = ("kubernetes", "orphan", "foregroundDeletion")


def finalizer_name_errors(name: str, path: Path) -> list[FieldError]:
    """``validateFinalizerName``: qualified, and unprefixed ones must be standard."""
    errs = qualified_name(name, path)
    if "/" not in name and name not in STANDARD_FINALIZERS:
        errs.append(invalid(path, name, "name is neither a standard finalizer name nor is it fully qualified"))
    return errs


# --------------------------------------------------------------------------- Namespace


class NamespaceStrategy(Strategy):
    """``Namespace``: always carries the ``kubernetes`` finalizer and a name label."""

    kind = "Namespace"
    has_status = True
    initial_status: ClassVar[Obj | None] = {"phase": "Active"}
    name_validator = staticmethod(name_is_dns_label)

    def set_defaults(self, obj: Obj) -> None:
        meta = obj.get("metadata")
        if isinstance(meta, dict) and isinstance(meta.get("name"), str) and meta["name"]:
            labels = meta.get("labels")
            if labels is None:
                labels = meta["labels"] = {}
            if isinstance(labels, dict):
                labels[NAMESPACE_NAME_LABEL] = meta["name"]
        status = obj.get("status")
        if isinstance(status, dict) and not status.get("phase"):
            status["phase"] = "Active"

    def on_create(self, obj: Obj) -> None:
        spec = sub(obj, "spec")
        if spec is None:
            obj["spec"] = spec = {}
        finalizers = spec.get("finalizers")
        if not isinstance(finalizers, list):
            finalizers = spec["finalizers"] = []
        if "kubernetes" not in finalizers:
            finalizers.append("kubernetes")

    def on_update(self, new: Obj, old: Obj) -> None:
        keep_old(new, old, "spec")

    def validate_object(self, obj: Obj, old: Obj | None) -> list[FieldError]:
        errs: list[FieldError] = []
        for name in as_list(as_map(obj.get("spec")).get("finalizers")):
            errs.extend(finalizer_name_errors(as_str(name), Path("spec", "finalizers")))
        return errs

    def validate_status(self, new: Obj, old: Obj) -> list[FieldError]:
        phase = as_map(new.get("status")).get("phase")
        if not as_map(new.get("metadata")).get("deletionTimestamp"):
            if phase != "Active":
                return [invalid(Path("status", "Phase"), phase, "may only be 'Active' if `deletionTimestamp` is empty")]
        elif phase != "Terminating":
            return [
                invalid(Path("status", "Phase"), phase, "may only be 'Terminating' if `deletionTimestamp` is not empty")
            ]
        return []

    def prepare_for_subresource_update(self, subresource: str, new: dict, old: dict) -> None:
        """``/finalize`` changes only ``spec.finalizers``."""
        if subresource != "finalize":
            super().prepare_for_subresource_update(subresource, new, old)
            return
        finalizers = as_map(new.get("spec")).get("finalizers")
        for key in list(new):
            if key not in ("apiVersion", "kind", "metadata"):
                del new[key]
        for key, value in old.items():
            if key not in ("apiVersion", "kind", "metadata"):
                new[key] = copy.deepcopy(value)
        spec = new.setdefault("spec", {})
        if isinstance(spec, dict):
            spec["finalizers"] = finalizers if isinstance(finalizers, list) else []

    def validate_subresource_update(self, subresource: str, new: dict, old: dict) -> list[FieldError]:
        if subresource != "finalize":
            return super().validate_subresource_update(subresource, new, old)
        errs: list[FieldError] = []
        for i, name in enumerate(as_list(as_map(new.get("spec")).get("finalizers"))):
            errs.extend(finalizer_name_errors(as_str(name), Path("spec", "finalizers").index(i)))
        return errs


class ServiceAccountStrategy(Strategy):
    """``ServiceAccount``: metadata only."""

    kind = "ServiceAccount"
