"""Nodes (registered by kubelets) and core/v1 Events."""

from __future__ import annotations

import copy
from typing import Any

from kubeprov.api.fielderrors import (
    ErrorType,
    FieldError,
    Path,
    duplicate,
    forbidden,
    invalid,
    required,
)
from kubeprov.apiserver.strategy.base import Strategy
from kubeprov.apiserver.strategy.containers import (
    quantity_value_errors,
)
from kubeprov.apiserver.strategy.util import (
    Obj,
    as_list,
    as_map,
    as_str,
    canonicalize_resources,
    check_list,
    cidr_errors,
    dns_subdomain,
    enum,
    go_invalid,
    go_str_list,
    keep_old,
    label_value,
    parse_cidr,
    qualified_name,
    resource_list,
    sub,
)

TAINT_EFFECTS = ("NoSchedule", "PreferNoSchedule", "NoExecute")
_NODE_INFO_FIELDS = (
    "machineID",
    "systemUUID",
    "bootID",
    "kernelVersion",
    "osImage",
    "containerRuntimeVersion",
    "kubeletVersion",
    "kubeProxyVersion",
    "operatingSystem",
    "architecture",
)


# --------------------------------------------------------------------------- Node


def taints_errors(taints: list[Any], path: Path) -> list[FieldError]:
    """``validateNodeTaints``."""
    errs: list[FieldError] = []
    seen: set[tuple[str, str]] = set()
    for i, taint in enumerate(taints):
        ipath = path.index(i)
        if not isinstance(taint, dict):
            errs.append(invalid(ipath, taint, "must be an object"))
            continue
        key, effect = as_str(taint.get("key")), as_str(taint.get("effect"))
        errs.extend(qualified_name(key, ipath.child("key")))
        value_msgs = label_value(as_str(taint.get("value")), ipath.child("value"))
        if value_msgs:
            errs.append(
                invalid(ipath.child("value"), as_str(taint.get("value")), ";".join(e.detail for e in value_msgs))
            )
        enum(effect, ipath.child("effect"), TAINT_EFFECTS, errs)
        if (key, effect) in seen:
            errs.append(
                FieldError(ErrorType.DUPLICATE, str(ipath), taint, "taints must be unique by key and effect pair")
            )
            continue
        seen.add((key, effect))
    return errs


class NodeStrategy(Strategy):
    """``Node``: created by kubelets with their status; the spec is mostly free to change."""

    kind = "Node"

    def set_defaults(self, obj: Obj) -> None:
        status = obj.get("status")
        if not isinstance(status, dict):
            return
        if status.get("allocatable") is None and isinstance(status.get("capacity"), dict):
            status["allocatable"] = copy.deepcopy(status["capacity"])
        canonicalize_resources(status, "capacity", "allocatable")

    def on_create(self, obj: Obj) -> None:
        status = sub(obj, "status")
        if status is None:
            return
        endpoints = sub(status, "daemonEndpoints")
        if endpoints is not None:
            endpoints.setdefault("kubeletEndpoint", {"Port": 0})
        info = sub(status, "nodeInfo")
        if info is not None:
            for key in _NODE_INFO_FIELDS:
                info.setdefault(key, "")

    def on_update(self, new: Obj, old: Obj) -> None:
        keep_old(new, old, "status")

    def validate_object(self, obj: Obj, old: Obj | None) -> list[FieldError]:
        spec = as_map(obj.get("spec"))
        errs: list[FieldError] = []
        errs.extend(taints_errors(check_list(spec, "taints", Path("spec", "taints"), errs), Path("metadata", "taints")))
        status = as_map(obj.get("status"))
        for key in ("capacity", "allocatable"):
            for name, q in resource_list(status.get(key), Path("status", key), errs).items():
                errs.extend(quantity_value_errors(name, q, Path("status", key, name)))
        cidrs = as_list(spec.get("podCIDRs"))
        cidrs_path = Path("spec", "podCIDRs")
        for i, cidr in enumerate(cidrs):
            errs.extend(cidr_errors(cidr, cidrs_path.index(i)))
        if len(cidrs) > 1:
            parsed = [parse_cidr(c) for c in cidrs]
            if all(p is not None for p in parsed):
                versions = {p.version for p in parsed if p is not None}
                if len(versions) != 2 or len(cidrs) > 2:
                    errs.append(
                        go_invalid(
                            cidrs_path, go_str_list(cidrs), "may specify no more than one CIDR for each IP family"
                        )
                    )
            seen: set[Any] = set()
            for i, cidr in enumerate(cidrs):
                if isinstance(cidr, str) and cidr in seen:
                    errs.append(duplicate(cidrs_path.index(i), cidr))
                if isinstance(cidr, str):
                    seen.add(cidr)
        return errs

    def validate_changes(self, new: Obj, old: Obj) -> list[FieldError]:
        spec, old_spec = as_map(new.get("spec")), as_map(old.get("spec"))
        errs: list[FieldError] = []
        old_cidrs = as_list(old_spec.get("podCIDRs"))
        if old_cidrs and old_cidrs != as_list(spec.get("podCIDRs")):
            errs.append(
                forbidden(Path("spec", "podCIDRs"), 'node updates may not change podCIDR except from "" to valid')
            )
        old_provider = as_str(old_spec.get("providerID"))
        if old_provider and old_provider != spec.get("providerID"):
            errs.append(
                forbidden(Path("spec", "providerID"), 'node updates may not change providerID except from "" to valid')
            )
        if spec.get("externalID") != old_spec.get("externalID"):
            errs.append(forbidden(Path("spec", "externalID"), "may not be updated"))
        errs.extend(self._address_errors(new))
        return errs

    def validate_status(self, new: Obj, old: Obj) -> list[FieldError]:
        errs: list[FieldError] = []
        status = as_map(new.get("status"))
        for key in ("capacity", "allocatable"):
            for name, q in resource_list(status.get(key), Path("status", key), errs).items():
                errs.extend(quantity_value_errors(name, q, Path("status", key, name)))
        errs.extend(self._address_errors(new))
        return errs

    @staticmethod
    def _address_errors(node: Obj) -> list[FieldError]:
        errs: list[FieldError] = []
        seen: list[Any] = []
        for i, address in enumerate(as_list(as_map(node.get("status")).get("addresses"))):
            if address in seen:
                errs.append(duplicate(Path("status", "addresses").index(i), address))
            seen.append(address)
        return errs


# --------------------------------------------------------------------------- Event


class EventStrategy(Strategy):
    """``Event`` (core/v1): the legacy rules, lenient for old-style events."""

    kind = "Event"

    def set_defaults(self, obj: Obj) -> None:
        for key in ("eventTime", "firstTimestamp", "lastTimestamp"):
            obj.setdefault(key, None)
        for key in ("reportingComponent", "reportingInstance"):
            obj.setdefault(key, "")
        obj.setdefault("involvedObject", {})
        obj.setdefault("source", {})

    def validate_object(self, obj: Obj, old: Obj | None) -> list[FieldError]:
        errs: list[FieldError] = []
        namespace = as_str(as_map(obj.get("metadata")).get("namespace"))
        involved_ns = as_str(as_map(obj.get("involvedObject")).get("namespace"))
        mismatch = invalid(Path("involvedObject", "namespace"), involved_ns, "does not match event.namespace")
        if not obj.get("eventTime"):
            if not involved_ns:
                if namespace not in ("", "default"):
                    errs.append(mismatch)
            elif namespace != involved_ns:
                errs.append(mismatch)
        else:
            if not involved_ns and namespace not in ("default", "kube-system"):
                errs.append(mismatch)
            controller = as_str(obj.get("reportingComponent"))
            if not controller:
                errs.append(required("reportingController", ""))
            errs.extend(qualified_name(controller, Path("reportingController")))
            for key, limit in (("reportingInstance", 128), ("action", 128), ("reason", 128)):
                value = as_str(obj.get(key))
                if not value:
                    errs.append(required(key, ""))
                if len(value) > limit:
                    errs.append(invalid(key, "", f"can have at most {limit} characters"))
            if len(as_str(obj.get("message"))) > 1024:
                errs.append(invalid("message", "", "can have at most 1024 characters"))
        if namespace:
            errs.extend(dns_subdomain(namespace, Path("namespace")))
        return errs
