"""apps/v1: Deployments, ReplicaSets, StatefulSets, DaemonSets and ControllerRevisions."""

from __future__ import annotations

import copy
from typing import ClassVar

from kubeprov.api.fielderrors import FieldError, Path, forbidden, invalid, not_supported, required
from kubeprov.api.names import name_is_dns_label, validate_annotations
from kubeprov.apiserver.strategy.base import Strategy
from kubeprov.apiserver.strategy.core_storage import default_claim_template
from kubeprov.apiserver.strategy.podtemplate import controller_template_errors, selector_mismatch
from kubeprov.apiserver.strategy.util import (
    Obj,
    as_map,
    check_nonneg,
    default,
    default_str,
    dig,
    go_invalid,
    go_label_selector,
    go_str_map,
    immutable,
    int_or_percent,
    int_or_percent_value,
    is_int,
    labels_map,
    maps,
    not_more_than_100_percent,
    sub,
    type_invalid,
)
from kubeprov.apiserver.strategy.workloads import (
    WorkloadStrategy,
    collision_count_errors,
    status_counter_errors,
    workload_selector,
)

TEMPLATE_GENERATION = "deprecated.daemonset.template.generation"
STATEFULSET_FORBIDDEN = (
    "updates to statefulset spec for fields other than 'replicas', 'ordinals', 'template', 'updateStrategy', "
    "'persistentVolumeClaimRetentionPolicy' and 'minReadySeconds' are forbidden"
)


def _rolling_update_deployment(ru: Obj, path: Path) -> list[FieldError]:
    """``ValidateRollingUpdateDeployment``."""
    unavailable, surge = ru.get("maxUnavailable"), ru.get("maxSurge")
    errs = int_or_percent(unavailable, path.child("maxUnavailable"))
    errs.extend(int_or_percent(surge, path.child("maxSurge")))
    if int_or_percent_value(unavailable) == 0 and int_or_percent_value(surge) == 0:
        errs.append(
            invalid(
                path.child("maxUnavailable"),
                unavailable if unavailable is not None else 0,
                "may not be 0 when `maxSurge` is 0",
            )
        )
    errs.extend(not_more_than_100_percent(unavailable, path.child("maxUnavailable")))
    return errs


class DeploymentStrategy(WorkloadStrategy):
    """``Deployment``: generation also moves with annotations (they are copied to ReplicaSets)."""

    kind = "Deployment"
    has_scale = True
    generation_fields: ClassVar[tuple[str, ...]] = ("spec",)

    def set_spec_defaults(self, obj: Obj, spec: Obj) -> None:
        default(spec, "replicas", 1)
        strategy = sub(spec, "strategy")
        if strategy is not None:
            default_str(strategy, "type", "RollingUpdate")
            if strategy.get("type") == "RollingUpdate":
                rolling = sub(strategy, "rollingUpdate")
                if rolling is not None:
                    default(rolling, "maxUnavailable", "25%")
                    default(rolling, "maxSurge", "25%")
        default(spec, "revisionHistoryLimit", 10)
        default(spec, "progressDeadlineSeconds", 600)

    def prepare_for_update(self, new: dict, old: dict) -> None:
        super().prepare_for_update(new, old)
        meta, old_meta = as_map(new.get("metadata")), as_map(old.get("metadata"))
        if meta and new.get("spec") == old.get("spec") and meta.get("annotations") != old_meta.get("annotations"):
            old_gen = old_meta.get("generation")
            meta["generation"] = (old_gen if is_int(old_gen) else 0) + 1

    def validate_object(self, obj: Obj, old: Obj | None) -> list[FieldError]:
        spec = as_map(obj.get("spec"))
        path = Path("spec")
        errs: list[FieldError] = []
        check_nonneg(spec, "replicas", path.child("replicas"), errs)
        sel_errs, selector = workload_selector(spec, path, "deployment")
        errs.extend(sel_errs)
        if selector is not None:
            errs.extend(
                controller_template_errors(spec.get("template"), selector, path.child("template"), "ReplicaSet")
            )
        strategy = as_map(spec.get("strategy"))
        spath = path.child("strategy")
        stype = strategy.get("type")
        if stype == "Recreate":
            if strategy.get("rollingUpdate") is not None:
                errs.append(
                    forbidden(spath.child("rollingUpdate"), "may not be specified when strategy `type` is 'Recreate'")
                )
        elif stype == "RollingUpdate":
            rolling = strategy.get("rollingUpdate")
            if not isinstance(rolling, dict):
                errs.append(required(spath.child("rollingUpdate"), "this should be defaulted and never be nil"))
            else:
                errs.extend(_rolling_update_deployment(rolling, spath.child("rollingUpdate")))
        else:
            errs.append(not_supported(spath, strategy, ("Recreate", "RollingUpdate")))
        min_ready = check_nonneg(spec, "minReadySeconds", path.child("minReadySeconds"), errs) or 0
        check_nonneg(spec, "revisionHistoryLimit", path.child("revisionHistoryLimit"), errs)
        deadline = check_nonneg(spec, "progressDeadlineSeconds", path.child("progressDeadlineSeconds"), errs)
        if deadline is not None and deadline <= min_ready:
            errs.append(
                invalid(path.child("progressDeadlineSeconds"), deadline, "must be greater than minReadySeconds")
            )
        return errs

    def validate_status(self, new: Obj, old: Obj) -> list[FieldError]:
        errs = status_counter_errors(
            as_map(new.get("status")), Path("status"), ("updatedReplicas", "readyReplicas", "availableReplicas")
        )
        check_nonneg(as_map(new.get("status")), "unavailableReplicas", Path("status", "unavailableReplicas"), errs)
        return errs + collision_count_errors(new, old)


class ReplicaSetStrategy(WorkloadStrategy):
    """``ReplicaSet``."""

    kind = "ReplicaSet"
    has_scale = True
    initial_status: ClassVar[Obj | None] = {"replicas": 0}

    def set_spec_defaults(self, obj: Obj, spec: Obj) -> None:
        default(spec, "replicas", 1)

    def validate_object(self, obj: Obj, old: Obj | None) -> list[FieldError]:
        spec = as_map(obj.get("spec"))
        path = Path("spec")
        errs: list[FieldError] = []
        check_nonneg(spec, "replicas", path.child("replicas"), errs)
        check_nonneg(spec, "minReadySeconds", path.child("minReadySeconds"), errs)
        sel_errs, selector = workload_selector(spec, path, "deployment")
        errs.extend(sel_errs)
        if selector is not None:
            errs.extend(
                controller_template_errors(spec.get("template"), selector, path.child("template"), "ReplicaSet")
            )
        return errs

    def validate_status(self, new: Obj, old: Obj) -> list[FieldError]:
        return status_counter_errors(
            as_map(new.get("status")), Path("status"), ("fullyLabeledReplicas", "readyReplicas", "availableReplicas")
        )


class StatefulSetStrategy(WorkloadStrategy):
    """``StatefulSet``: most of the spec is fixed after creation."""

    kind = "StatefulSet"
    has_scale = True
    immutable_selector = False
    initial_status: ClassVar[Obj | None] = {"replicas": 0, "availableReplicas": 0}
    name_validator = staticmethod(name_is_dns_label)

    def set_spec_defaults(self, obj: Obj, spec: Obj) -> None:
        default_str(spec, "podManagementPolicy", "OrderedReady")
        strategy = sub(spec, "updateStrategy")
        if strategy is not None:
            if strategy.get("type") in (None, ""):
                strategy["type"] = "RollingUpdate"
                default(strategy, "rollingUpdate", {})
            rolling = strategy.get("rollingUpdate")
            if strategy.get("type") == "RollingUpdate" and isinstance(rolling, dict):
                default(rolling, "partition", 0)
        policy = sub(spec, "persistentVolumeClaimRetentionPolicy")
        if policy is not None:
            default_str(policy, "whenDeleted", "Retain")
            default_str(policy, "whenScaled", "Retain")
        default(spec, "replicas", 1)
        default(spec, "revisionHistoryLimit", 10)
        for _, template in maps(spec.get("volumeClaimTemplates")):
            default_claim_template(template)

    def validate_object(self, obj: Obj, old: Obj | None) -> list[FieldError]:
        spec = as_map(obj.get("spec"))
        path = Path("spec")
        errs: list[FieldError] = []
        policy = spec.get("podManagementPolicy")
        if policy in (None, ""):
            errs.append(required(path.child("podManagementPolicy"), ""))
        elif policy not in ("OrderedReady", "Parallel"):
            errs.append(invalid(path.child("podManagementPolicy"), policy, "must be 'OrderedReady' or 'Parallel'"))
        errs.extend(self._update_strategy_errors(as_map(spec.get("updateStrategy")), path.child("updateStrategy")))
        retention = spec.get("persistentVolumeClaimRetentionPolicy")
        if isinstance(retention, dict):
            for key in ("whenDeleted", "whenScaled"):
                value = retention.get(key)
                if value not in ("Retain", "Delete"):
                    errs.append(
                        not_supported(
                            path.child("persistentVolumeClaimRetentionPolicy", key),
                            value if value is not None else "",
                            ("Retain", "Delete"),
                        )
                    )
        check_nonneg(spec, "replicas", path.child("replicas"), errs)
        check_nonneg(spec, "minReadySeconds", path.child("minReadySeconds"), errs)
        ordinals = spec.get("ordinals")
        if isinstance(ordinals, dict):
            check_nonneg(ordinals, "start", path.child("ordinals.start"), errs)
        sel_errs, selector = workload_selector(spec, path, "statefulset")
        errs.extend(sel_errs)
        template = as_map(spec.get("template"))
        tpath = path.child("template")
        if selector is not None:
            errs.extend(selector_mismatch(template, selector, tpath))
            tmeta = as_map(template.get("metadata"))
            errs.extend(labels_map(tmeta.get("labels"), tpath.child("labels")))
            if isinstance(tmeta.get("annotations"), dict):
                errs.extend(validate_annotations(tmeta["annotations"], tpath.child("annotations")))
        tspec = as_map(template.get("spec"))
        restart = tspec.get("restartPolicy")
        if restart != "Always":
            errs.append(
                not_supported(tpath.child("spec", "restartPolicy"), restart if restart is not None else "", ("Always",))
            )
        if tspec.get("activeDeadlineSeconds") is not None:
            errs.append(
                forbidden(
                    tpath.child("spec", "activeDeadlineSeconds"),
                    "activeDeadlineSeconds in StatefulSet is not Supported",
                )
            )
        return errs

    @staticmethod
    def _update_strategy_errors(strategy: Obj, path: Path) -> list[FieldError]:
        stype = strategy.get("type")
        rolling = strategy.get("rollingUpdate")
        if stype in (None, ""):
            return [required(path, "")]
        if stype == "OnDelete":
            if rolling is not None:
                return [
                    invalid(path.child("rollingUpdate"), rolling, "only allowed for updateStrategy 'RollingUpdate'")
                ]
            return []
        if stype != "RollingUpdate":
            return [invalid(path, strategy, "must be 'RollingUpdate' or 'OnDelete'")]
        if not isinstance(rolling, dict):
            return []
        errs: list[FieldError] = []
        rpath = path.child("rollingUpdate")
        check_nonneg(rolling, "partition", rpath.child("partition"), errs)
        unavailable = rolling.get("maxUnavailable")
        if unavailable is not None:
            errs.extend(int_or_percent(unavailable, rpath.child("maxUnavailable")))
            if int_or_percent_value(unavailable) == 0:
                errs.append(invalid(rpath.child("maxUnavailable"), unavailable, "cannot be 0"))
            errs.extend(not_more_than_100_percent(unavailable, rpath.child("maxUnavailable")))
        return errs

    def check_update(self, new: Obj, old: Obj) -> list[FieldError]:
        # the name is not re-validated on update (older objects may have subdomain names)
        return self.validate_object(new, old) + self.validate_changes(new, old)

    def validate_changes(self, new: Obj, old: Obj) -> list[FieldError]:
        spec, old_spec = copy.deepcopy(as_map(new.get("spec"))), as_map(old.get("spec"))
        for key in (
            "replicas",
            "template",
            "updateStrategy",
            "minReadySeconds",
            "ordinals",
            "persistentVolumeClaimRetentionPolicy",
        ):
            if key in old_spec:
                spec[key] = old_spec[key]
            else:
                spec.pop(key, None)
        if spec != old_spec:
            return [forbidden(Path("spec"), STATEFULSET_FORBIDDEN)]
        return []

    def validate_status(self, new: Obj, old: Obj) -> list[FieldError]:
        status = as_map(new.get("status"))
        errs = status_counter_errors(
            status, Path("status"), ("readyReplicas", "currentReplicas", "updatedReplicas", "availableReplicas")
        )
        return errs + collision_count_errors(new, old)


class DaemonSetStrategy(WorkloadStrategy):
    """``DaemonSet``: template changes also bump the legacy template-generation annotation."""

    kind = "DaemonSet"
    initial_status: ClassVar[Obj | None] = {
        "currentNumberScheduled": 0,
        "desiredNumberScheduled": 0,
        "numberMisscheduled": 0,
        "numberReady": 0,
    }

    def set_spec_defaults(self, obj: Obj, spec: Obj) -> None:
        strategy = sub(spec, "updateStrategy")
        if strategy is not None:
            default_str(strategy, "type", "RollingUpdate")
            if strategy.get("type") == "RollingUpdate":
                rolling = sub(strategy, "rollingUpdate")
                if rolling is not None:
                    default(rolling, "maxUnavailable", 1)
                    default(rolling, "maxSurge", 0)
        default(spec, "revisionHistoryLimit", 10)

    def on_create(self, obj: Obj) -> None:
        meta = obj.get("metadata")
        if isinstance(meta, dict):
            annotations = meta.get("annotations")
            if not isinstance(annotations, dict):
                annotations = meta["annotations"] = {}
            annotations[TEMPLATE_GENERATION] = "1"

    def on_update(self, new: Obj, old: Obj) -> None:
        meta = new.get("metadata")
        if not isinstance(meta, dict):
            return
        old_value = dig(old, "metadata", "annotations", TEMPLATE_GENERATION)
        try:
            generation = int(old_value) if isinstance(old_value, str) else 0
        except ValueError:
            generation = 0
        if dig(new, "spec", "template") != dig(old, "spec", "template"):
            generation += 1
        annotations = meta.get("annotations")
        if not isinstance(annotations, dict):
            annotations = meta["annotations"] = {}
        annotations[TEMPLATE_GENERATION] = str(generation)

    def validate_object(self, obj: Obj, old: Obj | None) -> list[FieldError]:
        spec = as_map(obj.get("spec"))
        path = Path("spec")
        errs: list[FieldError] = []
        sel = spec.get("selector")
        from kubeprov.apiserver.strategy.util import is_empty_selector, label_selector

        sel_errs, selector = label_selector(sel, path.child("selector"))
        errs.extend(sel_errs)
        template = spec.get("template")
        if sel is None:
            labels = as_map(as_map(template).get("metadata")).get("labels")
            errs.append(
                go_invalid(
                    path.child("template", "metadata", "labels"),
                    go_str_map(labels),
                    "`selector` does not match template `labels`",
                )
            )
        elif selector is not None:
            errs.extend(selector_mismatch(template, selector, path.child("template")))
        if isinstance(sel, dict) and is_empty_selector(sel):
            errs.append(
                go_invalid(path.child("selector"), go_label_selector(sel), "empty selector is invalid for daemonset")
            )
        template_errs = controller_template_errors(template, None, path.child("template"), "DaemonSet")
        errs.extend(template_errs)
        check_nonneg(spec, "minReadySeconds", path.child("minReadySeconds"), errs)
        errs.extend(self._update_strategy_errors(spec.get("updateStrategy"), path.child("updateStrategy")))
        check_nonneg(spec, "revisionHistoryLimit", path.child("revisionHistoryLimit"), errs)
        return errs

    @staticmethod
    def _update_strategy_errors(strategy: object, path: Path) -> list[FieldError]:
        if not isinstance(strategy, dict):
            return [type_invalid(path, strategy, "must be an object")] if strategy is not None else []
        stype = strategy.get("type")
        if stype == "OnDelete":
            return []
        if stype != "RollingUpdate":
            return [not_supported(path, strategy, ("RollingUpdate", "OnDelete"))]
        rolling = strategy.get("rollingUpdate")
        rpath = path.child("rollingUpdate")
        if not isinstance(rolling, dict):
            return [required(rpath, "")]
        unavailable, surge = rolling.get("maxUnavailable"), rolling.get("maxSurge")
        errs = int_or_percent(unavailable, rpath.child("maxUnavailable"))
        errs.extend(int_or_percent(surge, rpath.child("maxSurge")))
        errs.extend(not_more_than_100_percent(unavailable, rpath.child("maxUnavailable")))
        errs.extend(not_more_than_100_percent(surge, rpath.child("maxSurge")))
        has_unavailable = int_or_percent_value(unavailable) != 0
        has_surge = int_or_percent_value(surge) != 0
        if has_unavailable and has_surge:
            errs.append(invalid(rpath.child("maxSurge"), surge, "may not be set when maxUnavailable is non-zero"))
        elif not has_unavailable and not has_surge:
            errs.append(required(rpath.child("maxUnavailable"), "cannot be 0 when maxSurge is 0"))
        return errs

    def validate_status(self, new: Obj, old: Obj) -> list[FieldError]:
        status = as_map(new.get("status"))
        errs: list[FieldError] = []
        for key in (
            "currentNumberScheduled",
            "numberMisscheduled",
            "desiredNumberScheduled",
            "numberReady",
            "observedGeneration",
            "updatedNumberScheduled",
            "numberAvailable",
            "numberUnavailable",
            "collisionCount",
        ):
            check_nonneg(status, key, Path("status", key), errs)
        return errs + collision_count_errors(new, old)


class ControllerRevisionStrategy(Strategy):
    """``ControllerRevision``: an immutable snapshot of a controller's template."""

    kind = "ControllerRevision"

    def validate_object(self, obj: Obj, old: Obj | None) -> list[FieldError]:
        errs: list[FieldError] = []
        if obj.get("data") is None:
            errs.append(required(Path("data"), "data is mandatory"))
        check_nonneg(obj, "revision", Path("revision"), errs)
        return errs

    def validate_changes(self, new: Obj, old: Obj) -> list[FieldError]:
        return immutable(new.get("data"), old.get("data"), Path("data"))
