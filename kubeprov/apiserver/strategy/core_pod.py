"""Pods: defaults, initial status (phase and QoS class) and the narrow set of allowed updates."""

from __future__ import annotations

import copy
from typing import Any

from kubeprov.api.fielderrors import FieldError, Path, forbidden, go_json, invalid, required
from kubeprov.apiserver.strategy.base import Strategy
from kubeprov.apiserver.strategy.containers import duplicate_port_warnings
from kubeprov.apiserver.strategy.podspec import default_pod_spec, pod_spec_errors, tolerations_errors
from kubeprov.apiserver.strategy.util import (
    MAX_INT32,
    Obj,
    as_list,
    as_map,
    as_str,
    dig,
    immutable,
    inclusive_range_error,
    ip_errors,
    is_int,
    maps,
    qualified_name,
    quantity_of,
    sub,
)

UPDATABLE_POD_SPEC_FIELDS = (
    "`spec.containers[*].image`",
    "`spec.initContainers[*].image`",
    "`spec.activeDeadlineSeconds`",
    "`spec.tolerations` (only additions to existing tolerations)",
    "`spec.terminationGracePeriodSeconds` (allow it to be set to 1 if it was previously negative)",
)
POD_UPDATE_FORBIDDEN = "pod updates may not change fields other than " + ",".join(UPDATABLE_POD_SPEC_FIELDS)
DELETION_COST = "controller.kubernetes.io/pod-deletion-cost"
MIRROR_POD = "kubernetes.io/config.mirror"
_SYSTEM_CONDITIONS = ("PodScheduled", "Ready", "Initialized")


def qos_class(spec: Any) -> str:
    """``ComputePodQOS``: Guaranteed, Burstable or BestEffort from cpu/memory requests and limits."""
    requests: dict[str, Any] = {}
    limits: dict[str, Any] = {}
    guaranteed = True
    containers = [c for _, c in maps(as_map(spec).get("containers"))]
    containers += [c for _, c in maps(as_map(spec).get("initContainers"))]
    for c in containers:
        resources = as_map(c.get("resources"))
        for name, raw in as_map(resources.get("requests")).items():
            q = quantity_of(raw)
            if name in ("cpu", "memory") and q is not None and q.sign() > 0:
                requests[name] = requests[name] + q if name in requests else q
        found: set[str] = set()
        for name, raw in as_map(resources.get("limits")).items():
            q = quantity_of(raw)
            if name in ("cpu", "memory") and q is not None and q.sign() > 0:
                found.add(name)
                limits[name] = limits[name] + q if name in limits else q
        if not {"cpu", "memory"} <= found:
            guaranteed = False
    if not requests and not limits:
        return "BestEffort"
    if guaranteed:
        for name, req in requests.items():
            if name not in limits or limits[name] != req:
                guaranteed = False
                break
    if guaranteed and len(requests) == len(limits):
        return "Guaranteed"
    return "Burstable"


def _go_field(name: str) -> str:
    return name[:1].upper() + name[1:]


def spec_diff(old: Obj, new: Obj) -> str:
    """A short ``cmp.Diff``-like listing of the top-level spec fields that differ."""
    lines = ["  core.PodSpec{"]
    for key in sorted(set(old) | set(new)):
        if old.get(key) == new.get(key):
            continue
        if key in old:
            lines.append(f"- \t{_go_field(key)}: {go_json(old[key])},")
        if key in new:
            lines.append(f"+ \t{_go_field(key)}: {go_json(new[key])},")
    lines.append("  }")
    return "\n".join(lines) + "\n"


def _toleration_key(tol: Any) -> Any:
    if not isinstance(tol, dict):
        return tol
    return {k: v for k, v in tol.items() if k != "tolerationSeconds"}


def pod_update_errors(new_spec: Obj, old_spec: Obj) -> list[FieldError]:
    """``ValidatePodUpdate``: only images, activeDeadlineSeconds, added tolerations and a few more."""
    spec_path = Path("spec")
    errs: list[FieldError] = []
    for key in ("containers", "initContainers"):
        new_list, old_list = as_list(new_spec.get(key)), as_list(old_spec.get(key))
        if len(new_list) != len(old_list):
            errs.append(forbidden(spec_path.child(key), "pod updates may not add or remove containers"))
            return errs
        for i, c in enumerate(new_list):
            image = as_str(as_map(c).get("image"))
            if not image:
                errs.append(required(spec_path.child(key).index(i).child("image"), ""))
            if image.strip() != image:
                errs.append(
                    invalid(
                        spec_path.child(key).index(i).child("image"),
                        image,
                        "must not have leading or trailing whitespace",
                    )
                )
    new_deadline, old_deadline = new_spec.get("activeDeadlineSeconds"), old_spec.get("activeDeadlineSeconds")
    deadline_path = spec_path.child("activeDeadlineSeconds")
    if new_deadline is not None:
        if not is_int(new_deadline) or not 0 <= new_deadline <= MAX_INT32:
            errs.append(invalid(deadline_path, new_deadline, inclusive_range_error(0, MAX_INT32)))
            return errs
        if is_int(old_deadline) and old_deadline < new_deadline:
            errs.append(invalid(deadline_path, new_deadline, "must be less than or equal to previous value"))
            return errs
    elif old_deadline is not None:
        errs.append(invalid(deadline_path, None, "must not update from a positive integer to nil value"))
    new_tols = [_toleration_key(t) for t in as_list(new_spec.get("tolerations"))]
    for old_tol in as_list(old_spec.get("tolerations")):
        if _toleration_key(old_tol) not in new_tols:
            errs.append(
                forbidden(
                    spec_path.child("tolerations"),
                    "existing toleration can not be modified except its tolerationSeconds",
                )
            )
            break
    else:
        errs.extend(tolerations_errors(new_spec.get("tolerations"), spec_path.child("tolerations")))
    old_gates = {as_str(g.get("name")) for _, g in maps(old_spec.get("schedulingGates"))}
    for i, gate in maps(new_spec.get("schedulingGates")):
        name = as_str(gate.get("name"))
        if name not in old_gates:
            errs.append(
                forbidden(
                    spec_path.child("schedulingGates").index(i).child("name"),
                    f"only deletion is allowed, but found new scheduling gate '{name}'",
                )
            )
    if new_spec == old_spec:
        return errs
    munged = copy.deepcopy(new_spec)
    for key in ("containers", "initContainers"):
        for c, old_c in zip(as_list(munged.get(key)), as_list(old_spec.get(key)), strict=False):
            if isinstance(c, dict) and isinstance(old_c, dict):
                if "image" in old_c:
                    c["image"] = old_c["image"]
                else:
                    c.pop("image", None)
    for key in ("activeDeadlineSeconds", "schedulingGates", "tolerations"):
        if key in old_spec:
            munged[key] = copy.deepcopy(old_spec[key])
        else:
            munged.pop(key, None)
    old_grace = old_spec.get("terminationGracePeriodSeconds")
    if is_int(old_grace) and old_grace < 0 and munged.get("terminationGracePeriodSeconds") == 1:
        munged["terminationGracePeriodSeconds"] = old_grace
    if old_gates:
        old_selector = as_map(old_spec.get("nodeSelector"))
        new_selector = as_map(munged.get("nodeSelector"))
        if all(new_selector.get(k) == v for k, v in old_selector.items()):
            munged["nodeSelector"] = copy.deepcopy(old_spec.get("nodeSelector"))
            if "nodeSelector" not in old_spec:
                munged.pop("nodeSelector", None)
    if munged != old_spec:
        errs.append(forbidden(spec_path, POD_UPDATE_FORBIDDEN + "\n" + spec_diff(old_spec, munged)))
    return errs


def _pod_annotations(meta: Obj, spec: Obj) -> list[FieldError]:
    """``ValidatePodSpecificAnnotations``: mirror pods need a node, deletion cost is an int32."""
    errs: list[FieldError] = []
    annotations = as_map(meta.get("annotations"))
    path = Path("metadata", "annotations")
    if MIRROR_POD in annotations and not as_str(spec.get("nodeName")):
        errs.append(
            invalid(
                path.key(MIRROR_POD), annotations[MIRROR_POD], "must set spec.nodeName if mirror pod annotation is set"
            )
        )
    if DELETION_COST in annotations:
        value = annotations[DELETION_COST]
        try:
            ok = isinstance(value, str) and value.strip() == value and -(2**31) <= int(value) < 2**31
        except ValueError:
            ok = False
        if not ok:
            errs.append(invalid(path.key(DELETION_COST), value, "must be a 32bit integer"))
    return errs


class PodStrategy(Strategy):
    """``Pod``: status starts Pending with its QoS class; the spec is almost immutable."""

    kind = "Pod"
    has_status = True

    def set_defaults(self, obj: Obj) -> None:
        spec = sub(obj, "spec")
        if spec is not None:
            default_pod_spec(spec, is_pod=True)

    def on_create(self, obj: Obj) -> None:
        spec = as_map(obj.get("spec"))
        status: Obj = {"phase": "Pending", "qosClass": qos_class(spec)}
        if as_list(spec.get("schedulingGates")):
            status["conditions"] = [
                {
                    "type": "PodScheduled",
                    "status": "False",
                    "lastProbeTime": None,
                    "lastTransitionTime": None,
                    "reason": "SchedulingGated",
                    "message": "Scheduling is blocked due to non-empty scheduling gates",
                }
            ]
        obj["status"] = status

    def validate_object(self, obj: Obj, old: Obj | None) -> list[FieldError]:
        spec = obj.get("spec")
        meta = as_map(obj.get("metadata"))
        errs = _pod_annotations(meta, as_map(spec))
        errs.extend(pod_spec_errors(spec, Path("spec"), is_pod=True, pod_name=as_str(meta.get("name"))))
        spec = as_map(spec)
        if not as_str(spec.get("serviceAccountName")):
            for vi, volume in maps(spec.get("volumes")):
                for si, source in maps(as_map(volume.get("projected")).get("sources")):
                    if source.get("serviceAccountToken") is not None:
                        errs.append(
                            forbidden(
                                Path("spec", "volumes")
                                .index(vi)
                                .child("projected", "sources")
                                .index(si)
                                .child("serviceAccountToken"),
                                "must not be specified when serviceAccountName is not set",
                            )
                        )
        for key in ("containers", "initContainers"):
            for i, c in maps(spec.get(key)):
                image = c.get("image")
                if isinstance(image, str) and image and image.strip() != image:
                    errs.append(
                        invalid(
                            Path("spec", key).index(i).child("image"),
                            image,
                            "must not have leading or trailing whitespace",
                        )
                    )
        return errs

    def validate_changes(self, new: Obj, old: Obj) -> list[FieldError]:
        return pod_update_errors(as_map(new.get("spec")), as_map(old.get("spec")))

    def validate_status(self, new: Obj, old: Obj) -> list[FieldError]:
        status, path = as_map(new.get("status")), Path("status")
        errs = immutable(status.get("qosClass"), dig(old, "status", "qosClass"), path.child("qosClass"))
        for i, cond in maps(status.get("conditions")):
            ctype = as_str(cond.get("type"))
            if ctype not in _SYSTEM_CONDITIONS:
                errs.extend(qualified_name(ctype, Path("metadata", "conditions").index(i).child("Type")))
        for key in ("podIPs", "hostIPs"):
            for i, entry in maps(status.get(key)):
                errs.extend(ip_errors(entry.get("ip", ""), path.child(key).index(i)))
        return errs

    def object_warnings(self, obj: Obj) -> list[str]:
        return duplicate_port_warnings(as_map(obj.get("spec")), Path("spec"))
