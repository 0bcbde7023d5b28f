"""ResourceQuotas and LimitRanges: per-namespace resource policy."""

from __future__ import annotations

from typing import Any, ClassVar

from kubeprov.api.fielderrors import (
    FieldError,
    Path,
    duplicate,
    forbidden,
    invalid,
    required,
)
from kubeprov.api.names import is_qualified_name
from kubeprov.apiserver.strategy.base import Strategy
from kubeprov.apiserver.strategy.containers import (
    container_resource_name_errors,
    overcommit_allowed,
    quantity_value_errors,
)
from kubeprov.apiserver.strategy.util import (
    Obj,
    as_list,
    as_map,
    as_str,
    canonicalize_resources,
    go_invalid,
    go_str_list,
    maps,
    msgs_to_errors,
    resource_list,
    sub,
)

SCOPES_TYPE = "[]core.ResourceQuotaScope"
QUOTA_SCOPES = (
    "Terminating",
    "NotTerminating",
    "BestEffort",
    "NotBestEffort",
    "PriorityClass",
    "CrossNamespacePodAffinity",
)
_STANDARD_RESOURCES = frozenset(
    {
        "cpu",
        "memory",
        "ephemeral-storage",
        "requests.cpu",
        "requests.memory",
        "requests.ephemeral-storage",
        "limits.cpu",
        "limits.memory",
        "limits.ephemeral-storage",
        "pods",
        "resourcequotas",
        "services",
        "replicationcontrollers",
        "secrets",
        "persistentvolumeclaims",
        "storage",
        "requests.storage",
        "services.nodeports",
        "services.loadbalancers",
        "configmaps",
    }
)
_QUOTA_RESOURCES = frozenset(
    {
        "cpu",
        "memory",
        "ephemeral-storage",
        "requests.cpu",
        "requests.memory",
        "requests.storage",
        "requests.ephemeral-storage",
        "limits.cpu",
        "limits.memory",
        "limits.ephemeral-storage",
        "pods",
        "resourcequotas",
        "services",
        "replicationcontrollers",
        "secrets",
        "persistentvolumeclaims",
        "configmaps",
        "services.nodeports",
        "services.loadbalancers",
    }
)


# LimitRange values that must not exceed one another, in Kubernetes' order: (smaller, larger, the field the
# error is reported at, the field whose value it shows, the message)
LIMIT_ORDERINGS = (
    ("min", "max", "min", "min", "min value {low} is greater than max value {high}"),
    ("min", "defaultRequest", "defaultRequest", "defaultRequest",
     "min value {low} is greater than default request value {high}"),
    ("defaultRequest", "max", "defaultRequest", "defaultRequest",
     "default request value {low} is greater than max value {high}"),
    ("defaultRequest", "default", "defaultRequest", "defaultRequest",
     "default request value {low} is greater than default limit value {high}"),
    ("min", "default", "default", "min", "min value {low} is greater than default value {high}"),
    ("default", "max", "default", "max", "default value {low} is greater than max value {high}"),
)

def resource_name_errors(name: str, path: Path) -> list[FieldError]:
    """``validateResourceName``: qualified; unprefixed names must be standard."""
    errs = msgs_to_errors(path, name, is_qualified_name(name))
    if errs:
        return errs
    if (
        "/" not in name
        and name not in _STANDARD_RESOURCES
        and not name.startswith(("hugepages-", "requests.hugepages-"))
    ):
        return [invalid(path, name, "must be a standard resource type or fully qualified")]
    return []


# --------------------------------------------------------------------------- ResourceQuota


def quota_resource_errors(name: str, path: Path) -> list[FieldError]:
    """``ValidateResourceQuotaResourceName``."""
    errs = resource_name_errors(name, path)
    if errs:
        return errs
    if "/" not in name and name not in _QUOTA_RESOURCES and not name.startswith("requests.hugepages-"):
        return [invalid(path, name, "must be a standard resource for quota")]
    return []


def _hard_errors(value: Any, path: Path) -> list[FieldError]:
    errs: list[FieldError] = []
    for name, q in resource_list(value, path, errs).items():
        errs.extend(quota_resource_errors(name, path.key(name)))
        errs.extend(quantity_value_errors(name, q, path.key(name)))
    return errs


class ResourceQuotaStrategy(Strategy):
    """``ResourceQuota``: hard limits per resource; the quota controller writes the status."""

    kind = "ResourceQuota"
    has_status = True
    initial_status: ClassVar[Obj | None] = {}

    def set_defaults(self, obj: Obj) -> None:
        canonicalize_resources(obj.get("spec"), "hard")
        canonicalize_resources(obj.get("status"), "hard", "used")

    def validate_object(self, obj: Obj, old: Obj | None) -> list[FieldError]:
        spec = as_map(obj.get("spec"))
        path = Path("spec")
        errs = _hard_errors(spec.get("hard"), path.child("hard"))
        scopes = as_list(spec.get("scopes"))
        for scope in scopes:
            if scope not in QUOTA_SCOPES:
                errs.append(go_invalid(path.child("scopes"), go_str_list(scopes, SCOPES_TYPE), "unsupported scope"))
        for pair in (("BestEffort", "NotBestEffort"), ("Terminating", "NotTerminating")):
            if all(p in scopes for p in pair):
                errs.append(go_invalid(path.child("scopes"), go_str_list(scopes, SCOPES_TYPE), "conflicting scopes"))
        if old is None:
            status = as_map(obj.get("status"))
            errs.extend(_hard_errors(status.get("hard"), Path("status", "hard")))
            errs.extend(_hard_errors(status.get("used"), Path("status", "used")))
        return errs

    def validate_changes(self, new: Obj, old: Obj) -> list[FieldError]:
        scopes = as_list(as_map(new.get("spec")).get("scopes"))
        old_scopes = as_list(as_map(old.get("spec")).get("scopes"))
        if {str(s) for s in scopes} != {str(s) for s in old_scopes}:
            return [go_invalid(Path("spec", "scopes"), go_str_list(scopes, SCOPES_TYPE), "field is immutable")]
        return []

    def validate_status(self, new: Obj, old: Obj) -> list[FieldError]:
        status = as_map(new.get("status"))
        return _hard_errors(status.get("hard"), Path("status", "hard")) + _hard_errors(
            status.get("used"), Path("status", "used")
        )


# --------------------------------------------------------------------------- LimitRange


class LimitRangeStrategy(Strategy):
    """``LimitRange``: min <= defaultRequest <= default <= max per resource and type."""

    kind = "LimitRange"

    def set_defaults(self, obj: Obj) -> None:
        for _, item in maps(as_map(obj.get("spec")).get("limits")):
            if item.get("type") == "Container":
                default_limits = sub(item, "default")
                default_requests = sub(item, "defaultRequest")
                if default_limits is not None and default_requests is not None:
                    for name, value in as_map(item.get("max")).items():
                        default_limits.setdefault(name, value)
                    for name, value in default_limits.items():
                        default_requests.setdefault(name, value)
                    for name, value in as_map(item.get("min")).items():
                        default_requests.setdefault(name, value)
            canonicalize_resources(item, "max", "min", "default", "defaultRequest", "maxLimitRequestRatio")

    def validate_object(self, obj: Obj, old: Obj | None) -> list[FieldError]:
        errs: list[FieldError] = []
        path = Path("spec", "limits")
        seen_types: set[str] = set()
        for i, item in maps(as_map(obj.get("spec")).get("limits")):
            errs.extend(self._item_errors(item, path.index(i), seen_types))
        return errs

    @staticmethod
    def _item_errors(item: Obj, path: Path, seen_types: set[str]) -> list[FieldError]:
        errs: list[FieldError] = []
        ltype = as_str(item.get("type"))
        type_msgs = is_qualified_name(ltype)
        if type_msgs:
            errs.extend(msgs_to_errors(path.child("type"), ltype, type_msgs))
        elif "/" not in ltype and ltype not in ("Pod", "Container", "PersistentVolumeClaim"):
            errs.append(invalid(path.child("type"), ltype, "must be a standard limit type or fully qualified"))
        if ltype in seen_types:
            errs.append(duplicate(path.child("type"), ltype))
        seen_types.add(ltype)

        def name_errors(name: str, npath: Path) -> list[FieldError]:
            if ltype in ("Pod", "Container"):
                return container_resource_name_errors(name, npath)
            return resource_name_errors(name, npath)

        lists: dict[str, dict[str, Any]] = {}
        keys = ["max", "min", "maxLimitRequestRatio"]
        if ltype == "Pod":
            for key in ("default", "defaultRequest"):
                if as_map(item.get(key)):
                    errs.append(forbidden(path.child(key), "may not be specified when `type` is 'Pod'"))
        else:
            keys += ["default", "defaultRequest"]
        for key in keys:
            lists[key] = resource_list(item.get(key), path.child(key), errs)
            for name in lists[key]:
                errs.extend(name_errors(name, path.child(key).key(name)))
        if (
            ltype == "PersistentVolumeClaim"
            and "storage" not in lists.get("min", {})
            and "storage" not in lists.get("max", {})
        ):
            errs.append(
                required(
                    path.child("limits"),
                    "either minimum or maximum storage value is required, but neither was provided",
                )
            )
        names = set().union(*(set(v) for v in lists.values()))
        for name in sorted(names):
            lo, hi = lists.get("min", {}).get(name), lists.get("max", {}).get(name)
            dflt, dreq = lists.get("default", {}).get(name), lists.get("defaultRequest", {}).get(name)
            ratio = lists.get("maxLimitRequestRatio", {}).get(name)
            for smaller, larger, at, shown, wording in LIMIT_ORDERINGS:
                low, high = lists.get(smaller, {}).get(name), lists.get(larger, {}).get(name)
                if low is not None and high is not None and low > high:
                    value = lists[shown][name]
                    errs.append(invalid(path.child(at).key(name), str(value), wording.format(low=low, high=high)))
            if ratio is not None and ratio.amount < 1:
                errs.append(
                    invalid(path.child("maxLimitRequestRatio").key(name), str(ratio), f"ratio {ratio} is less than 1")
                )
            if ratio is not None and lo is not None and hi is not None and lo.amount > 0:
                limit = hi.amount / lo.amount
                if ratio.amount > limit:
                    errs.append(
                        invalid(
                            path.child("maxLimitRequestRatio").key(name),
                            str(ratio),
                            f"ratio {ratio} is greater than max/min = {float(limit):f}",
                        )
                    )
            if not overcommit_allowed(name) and dflt is not None and dreq is not None and dflt != dreq:
                errs.append(
                    invalid(
                        path.child("defaultRequest").key(name),
                        str(dreq),
                        f"default value {dflt} must equal to defaultRequest value {dreq} in {name}",
                    )
                )
        return errs
