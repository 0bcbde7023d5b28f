"""coordination.k8s.io/v1: Leases used for leader election and node heartbeats."""

from __future__ import annotations

from kubeprov.api.fielderrors import NEGATIVE_MSG, FieldError, Path, invalid
from kubeprov.apiserver.strategy.base import Strategy
from kubeprov.apiserver.strategy.util import Obj, as_map, check_int, check_str


class LeaseStrategy(Strategy):
    """``Lease``: a positive duration and a non-negative transition count."""

    kind = "Lease"

    def set_defaults(self, obj: Obj) -> None:
        if obj.get("spec") is None:
            obj["spec"] = {}

    def validate_object(self, obj: Obj, old: Obj | None) -> list[FieldError]:
        spec = as_map(obj.get("spec"))
        path = Path("spec")
        errs: list[FieldError] = []
        check_str(spec, "holderIdentity", path.child("holderIdentity"), errs)
        duration = check_int(spec, "leaseDurationSeconds", path.child("leaseDurationSeconds"), errs)
        if duration is not None and duration <= 0:
            errs.append(invalid(path.child("leaseDurationSeconds"), duration, "must be greater than 0"))
        transitions = check_int(spec, "leaseTransitions", path.child("leaseTransitions"), errs)
        if transitions is not None and transitions < 0:
            errs.append(invalid(path.child("leaseTransitions"), transitions, NEGATIVE_MSG))
        for key in ("acquireTime", "renewTime"):
            check_str(spec, key, path.child(key), errs)
        return errs
