"""scheduling.k8s.io/v1: PriorityClasses."""

from __future__ import annotations

from kubeprov.api.fielderrors import FieldError, Path, forbidden
from kubeprov.apiserver.strategy.base import Strategy
from kubeprov.apiserver.strategy.util import Obj, as_map, as_str, check_int, default_str, enum, immutable

HIGHEST_USER_PRIORITY = 1_000_000_000
SYSTEM_PREFIX = "system-"
SYSTEM_CLASSES = {"system-node-critical": 2_000_001_000, "system-cluster-critical": 2_000_000_000}


class PriorityClassStrategy(Strategy):
    """``PriorityClass``: user values up to one billion; ``system-`` names are reserved."""

    kind = "PriorityClass"

    def set_defaults(self, obj: Obj) -> None:
        default_str(obj, "preemptionPolicy", "PreemptLowerPriority")

    def validate_object(self, obj: Obj, old: Obj | None) -> list[FieldError]:
        errs: list[FieldError] = []
        value = check_int(obj, "value", Path("value"), errs) or 0
        name = as_str(as_map(obj.get("metadata")).get("name"))
        system = SYSTEM_CLASSES.get(name) == value
        if name.startswith(SYSTEM_PREFIX) and not system:
            errs.append(
                forbidden(
                    Path("metadata", "name"),
                    "priority class names with 'system-' prefix are reserved for system use only",
                )
            )
        if value > HIGHEST_USER_PRIORITY and not system:
            errs.append(
                forbidden(Path("value"), f"maximum allowed value of a user defined priority is {HIGHEST_USER_PRIORITY}")
            )
        enum(obj.get("preemptionPolicy"), Path("preemptionPolicy"), ("PreemptLowerPriority", "Never"), errs)
        return errs

    def validate_changes(self, new: Obj, old: Obj) -> list[FieldError]:
        errs: list[FieldError] = []
        if new.get("value") != old.get("value"):
            errs.append(forbidden(Path("value"), "may not be changed in an update."))
        errs.extend(immutable(new.get("preemptionPolicy"), old.get("preemptionPolicy"), Path("preemptionPolicy")))
        return errs
