"""Pieces shared by the replicated workload kinds (ReplicationController and apps/v1)."""

from __future__ import annotations

from typing import ClassVar

from kubeprov.api.fielderrors import IMMUTABLE_MSG, FieldError, Path, invalid, required
from kubeprov.api.labels import Selector
from kubeprov.apiserver.strategy.base import Strategy
from kubeprov.apiserver.strategy.podtemplate import default_template
from kubeprov.apiserver.strategy.util import (
    Obj,
    as_map,
    check_nonneg,
    go_invalid,
    go_label_selector,
    is_empty_selector,
    label_selector,
    sub,
)

CANNOT_EXCEED_REPLICAS = "cannot be greater than status.replicas"


def status_counter_errors(status: Obj, path: Path, counters: tuple[str, ...]) -> list[FieldError]:
    """Non-negative counters, none above ``replicas``, available not above ready."""
    errs: list[FieldError] = []
    for key in ("replicas", "observedGeneration", "collisionCount", *counters):
        check_nonneg(status, key, path.child(key), errs)
    replicas = status.get("replicas", 0)
    replicas = replicas if isinstance(replicas, int) else 0
    for key in counters:
        value = status.get(key)
        if isinstance(value, int) and not isinstance(value, bool) and value > replicas:
            errs.append(invalid(path.child(key), value, CANNOT_EXCEED_REPLICAS))
    available, ready = status.get("availableReplicas"), status.get("readyReplicas", 0)
    if isinstance(available, int) and isinstance(ready, int) and "readyReplicas" in counters and available > ready:
        errs.append(invalid(path.child("availableReplicas"), available, "cannot be greater than readyReplicas"))
    return errs


def collision_count_errors(new: Obj, old: Obj) -> list[FieldError]:
    """``status.collisionCount`` may only grow."""
    new_count = as_map(new.get("status")).get("collisionCount")
    old_count = as_map(old.get("status")).get("collisionCount")
    if isinstance(old_count, int) and (not isinstance(new_count, int) or new_count < old_count):
        return [
            invalid(
                Path("status", "collisionCount"),
                new_count if isinstance(new_count, int) else 0,
                "cannot be decremented",
            )
        ]
    return []


def workload_selector(
    spec: Obj, path: Path, kind_label: str, *, required_: bool = True
) -> tuple[list[FieldError], Selector | None]:
    """The strict selector checks of apps/v1 controllers, and the parsed selector."""
    sel = spec.get("selector")
    if sel is None:
        # a missing selector selects nothing, so the template labels are reported too
        return ([required(path.child("selector"), "")] if required_ else []), Selector.nothing()
    errs, selector = label_selector(sel, path.child("selector"))
    if isinstance(sel, dict) and is_empty_selector(sel):
        errs.append(
            go_invalid(path.child("selector"), go_label_selector(sel), f"empty selector is invalid for {kind_label}")
        )
    if selector is None and isinstance(sel, dict):
        errs.append(go_invalid(path.child("selector"), go_label_selector(sel), "invalid label selector"))
    return errs, selector


class WorkloadStrategy(Strategy):
    """Common behaviour: template defaults, status from /status only, generation tracking."""

    has_status = True
    tracks_generation = True
    initial_status: ClassVar[Obj | None] = {}
    immutable_selector: ClassVar[bool] = True

    def set_defaults(self, obj: Obj) -> None:
        spec = sub(obj, "spec")
        if spec is None:
            return
        if spec.get("template") is None:
            spec["template"] = {}
        default_template(spec.get("template"))
        self.set_spec_defaults(obj, spec)

    def set_spec_defaults(self, obj: Obj, spec: Obj) -> None:
        """Kind defaults of ``spec`` (template defaults are already applied)."""

    def validate_changes(self, new: Obj, old: Obj) -> list[FieldError]:
        if not self.immutable_selector:
            return []
        return immutable_selector(as_map(new.get("spec")).get("selector"), as_map(old.get("spec")).get("selector"))


def immutable_selector(new: object, old: object) -> list[FieldError]:
    """``spec.selector`` may not change; Kubernetes shows the new selector in Go syntax."""
    if new == old:
        return []
    rendered = go_label_selector(new) if isinstance(new, dict) else '"null"'
    return [go_invalid(Path("spec", "selector"), rendered, IMMUTABLE_MSG)]
