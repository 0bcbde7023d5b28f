"""ReplicationControllers: the core/v1 ancestor of ReplicaSets, with a map selector."""

from __future__ import annotations

import copy
from typing import ClassVar

from kubeprov.api.fielderrors import FieldError, Path, required
from kubeprov.api.labels import selector_from_set
from kubeprov.apiserver.strategy.podtemplate import controller_template_errors
from kubeprov.apiserver.strategy.util import Obj, as_map, check_nonneg, default, labels_map, str_map
from kubeprov.apiserver.strategy.workloads import WorkloadStrategy, status_counter_errors


class ReplicationControllerStrategy(WorkloadStrategy):
    """``ReplicationController``: the selector and labels default to the template's labels."""

    kind = "ReplicationController"
    has_scale = True
    immutable_selector = False
    initial_status: ClassVar[Obj | None] = {"replicas": 0}

    def set_spec_defaults(self, obj: Obj, spec: Obj) -> None:
        labels = as_map(spec.get("template")).get("metadata", {})
        labels = as_map(labels).get("labels")
        if isinstance(labels, dict):
            if not spec.get("selector"):
                spec["selector"] = copy.deepcopy(labels)
            meta = obj.get("metadata")
            if isinstance(meta, dict) and not meta.get("labels"):
                meta["labels"] = copy.deepcopy(labels)
        default(spec, "replicas", 1)

    def validate_object(self, obj: Obj, old: Obj | None) -> list[FieldError]:
        spec = as_map(obj.get("spec"))
        path = Path("spec")
        errs: list[FieldError] = []
        check_nonneg(spec, "minReadySeconds", path.child("minReadySeconds"), errs)
        selector_map = spec.get("selector")
        selector = None
        if not str_map(selector_map):
            errs.append(required(path.child("selector"), ""))
        else:
            errs.extend(labels_map(selector_map, path.child("selector")))
            selector = selector_from_set(str_map(selector_map))
        check_nonneg(spec, "replicas", path.child("replicas"), errs)
        errs.extend(
            controller_template_errors(spec.get("template"), selector, path.child("template"), "ReplicationController")
        )
        return errs

    def validate_status(self, new: Obj, old: Obj) -> list[FieldError]:
        return status_counter_errors(
            as_map(new.get("status")), Path("status"), ("fullyLabeledReplicas", "readyReplicas", "availableReplicas")
        )

    def scale_selector(self, obj: Obj) -> str:
        return str(selector_from_set(str_map(as_map(obj.get("spec")).get("selector"))))
