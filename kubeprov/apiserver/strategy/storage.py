"""storage.k8s.io/v1: StorageClasses."""

from __future__ import annotations

from kubeprov.api.fielderrors import FieldError, Path, forbidden, invalid, required, too_long, too_many, type_invalid
from kubeprov.apiserver.strategy.base import Strategy
from kubeprov.apiserver.strategy.util import Obj, as_map, as_str, default_str, enum, immutable, qualified_name

RECLAIM_POLICIES = ("Delete", "Retain")
BINDING_MODES = ("Immediate", "WaitForFirstConsumer")
MAX_PARAMETERS = 512
MAX_PARAMETERS_SIZE = 256 * 1024


class StorageClassStrategy(Strategy):
    """``StorageClass``: provisioner, parameters and reclaim policy are fixed once created."""

    kind = "StorageClass"

    def set_defaults(self, obj: Obj) -> None:
        default_str(obj, "reclaimPolicy", "Delete")
        default_str(obj, "volumeBindingMode", "Immediate")

    def validate_object(self, obj: Obj, old: Obj | None) -> list[FieldError]:
        errs: list[FieldError] = []
        provisioner = as_str(obj.get("provisioner"))
        if not provisioner:
            errs.append(required(Path("provisioner"), ""))
        else:
            errs.extend(qualified_name(provisioner.lower(), Path("provisioner")))
        params = obj.get("parameters")
        if params is not None and not isinstance(params, dict):
            errs.append(type_invalid(Path("parameters"), params, "must be an object"))
        params = as_map(params)
        if len(params) > MAX_PARAMETERS:
            errs.append(too_many(Path("parameters"), len(params), MAX_PARAMETERS))
        size = 0
        for key, value in params.items():
            if not key:
                errs.append(invalid(Path("parameters"), key, "field can not be empty."))
            if not isinstance(value, str):
                errs.append(type_invalid(Path("parameters").key(key), value, "must be a string"))
                continue
            size += len(key) + len(value)
        if size > MAX_PARAMETERS_SIZE:
            errs.append(too_long(Path("parameters"), MAX_PARAMETERS_SIZE))
        policy = obj.get("reclaimPolicy")
        if policy not in (None, ""):
            enum(policy, Path("reclaimPolicy"), RECLAIM_POLICIES, errs)
        enum(obj.get("volumeBindingMode"), Path("volumeBindingMode"), BINDING_MODES, errs)
        return errs

    def validate_changes(self, new: Obj, old: Obj) -> list[FieldError]:
        errs: list[FieldError] = []
        if as_map(new.get("parameters")) != as_map(old.get("parameters")):
            errs.append(forbidden(Path("parameters"), "updates to parameters are forbidden."))
        if new.get("provisioner") != old.get("provisioner"):
            errs.append(forbidden(Path("provisioner"), "updates to provisioner are forbidden."))
        if new.get("reclaimPolicy") != old.get("reclaimPolicy"):
            errs.append(forbidden(Path("reclaimPolicy"), "updates to reclaimPolicy are forbidden."))
        errs.extend(immutable(new.get("volumeBindingMode"), old.get("volumeBindingMode"), Path("volumeBindingMode")))
        return errs
