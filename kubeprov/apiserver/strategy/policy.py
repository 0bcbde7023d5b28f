"""policy/v1: PodDisruptionBudgets."""

from __future__ import annotations

from typing import ClassVar

from kubeprov.api.fielderrors import FieldError, Path, invalid, not_supported
from kubeprov.apiserver.strategy.base import Strategy
from kubeprov.apiserver.strategy.util import (
    Obj,
    as_map,
    check_nonneg,
    int_or_percent,
    label_selector,
    not_more_than_100_percent,
)

EVICTION_POLICIES = ("AlwaysAllow", "IfHealthyBudget")


class PodDisruptionBudgetStrategy(Strategy):
    """``PodDisruptionBudget``: minAvailable or maxUnavailable (not both), as a count or percent."""

    kind = "PodDisruptionBudget"
    has_status = True
    tracks_generation = True
    initial_status: ClassVar[Obj | None] = {
        "currentHealthy": 0,
        "desiredHealthy": 0,
        "disruptionsAllowed": 0,
        "expectedPods": 0,
    }

    def validate_object(self, obj: Obj, old: Obj | None) -> list[FieldError]:
        spec = as_map(obj.get("spec"))
        path = Path("spec")
        errs: list[FieldError] = []
        if spec.get("minAvailable") is not None and spec.get("maxUnavailable") is not None:
            errs.append(invalid(path, spec, "minAvailable and maxUnavailable cannot be both set"))
        for key in ("minAvailable", "maxUnavailable"):
            value = spec.get(key)
            if value is not None:
                errs.extend(int_or_percent(value, path.child(key)))
                errs.extend(not_more_than_100_percent(value, path.child(key)))
        sel_errs, _ = label_selector(spec.get("selector"), path.child("selector"))
        errs.extend(sel_errs)
        policy = spec.get("unhealthyPodEvictionPolicy")
        if policy is not None and policy not in EVICTION_POLICIES:
            errs.append(not_supported(path.child("unhealthyPodEvictionPolicy"), policy, EVICTION_POLICIES))
        return errs

    def validate_status(self, new: Obj, old: Obj) -> list[FieldError]:
        status = as_map(new.get("status"))
        errs: list[FieldError] = []
        for key in ("disruptionsAllowed", "currentHealthy", "desiredHealthy", "expectedPods", "observedGeneration"):
            check_nonneg(status, key, Path("status", key), errs)
        return errs
