"""batch/v1: Jobs (with their generated selector) and CronJobs."""

from __future__ import annotations

import copy

from kubeprov.api.fielderrors import FieldError, Path, invalid, not_supported, required
from kubeprov.api.names import is_dns1123_label
from kubeprov.apiserver.strategy.cron import schedule_error, time_zone_error
from kubeprov.apiserver.strategy.podtemplate import default_template, selector_mismatch, template_errors
from kubeprov.apiserver.strategy.util import (
    MAX_INT32,
    Obj,
    as_map,
    as_str,
    check_nonneg,
    default,
    default_str,
    dig,
    enum,
    go_invalid,
    go_label_selector,
    immutable,
    is_int,
    label_selector,
    maps,
    sub,
)
from kubeprov.apiserver.strategy.workloads import WorkloadStrategy, immutable_selector

LEGACY_UID_LABEL = "controller-uid"
LEGACY_NAME_LABEL = "job-name"
UID_LABEL = "batch.kubernetes.io/controller-uid"
NAME_LABEL = "batch.kubernetes.io/job-name"
_SCHEDULING_FIELDS = ("nodeSelector", "tolerations", "affinity", "schedulingGates")


def default_job_spec(obj: Obj | None, spec: Obj) -> None:
    """``SetDefaults_Job`` (``obj`` is the Job, whose labels default to the template's)."""
    if spec.get("completions") is None and spec.get("parallelism") is None:
        spec["completions"] = 1
        spec["parallelism"] = 1
    default(spec, "parallelism", 1)
    if spec.get("backoffLimit") is None:
        spec["backoffLimit"] = MAX_INT32 if spec.get("backoffLimitPerIndex") is not None else 6
    if obj is not None:
        labels = as_map(as_map(spec.get("template")).get("metadata")).get("labels")
        meta = obj.get("metadata")
        if isinstance(labels, dict) and isinstance(meta, dict) and not meta.get("labels"):
            meta["labels"] = copy.deepcopy(labels)
    default(spec, "completionMode", "NonIndexed")
    default(spec, "suspend", False)
    default(spec, "manualSelector", False)
    if spec.get("podReplacementPolicy") is None:
        spec["podReplacementPolicy"] = "Failed" if spec.get("podFailurePolicy") is not None else "TerminatingOrFailed"


def generate_selector(job: Obj) -> None:
    """Label the template with the Job's name and uid and select on the uid."""
    meta = as_map(job.get("metadata"))
    spec = sub(job, "spec")
    if spec is None:
        return
    template = sub(spec, "template")
    if template is None:
        return
    tmeta = sub(template, "metadata")
    if tmeta is None:
        return
    labels = sub(tmeta, "labels")
    if labels is None:
        return
    name, uid = as_str(meta.get("name")), as_str(meta.get("uid"))
    for key in (LEGACY_NAME_LABEL, NAME_LABEL):
        labels.setdefault(key, name)
    for key in (LEGACY_UID_LABEL, UID_LABEL):
        labels.setdefault(key, uid)
    selector = sub(spec, "selector")
    if selector is None:
        return
    match = sub(selector, "matchLabels")
    if match is not None:
        match.setdefault(UID_LABEL, uid)


def _has_label(meta: Obj, key: str, expected: str, path: Path) -> list[FieldError]:
    """``ValidateHasLabel``."""
    labels = as_map(meta.get("labels"))
    if key not in labels:
        return [required(path.child("labels").key(key), f"must be '{expected}'")]
    if labels[key] != expected:
        return [invalid(path.child("labels").key(key), labels, f"must be '{expected}'")]
    return []


def job_spec_errors(spec: Obj, path: Path) -> list[FieldError]:
    """``validateJobSpec``: counts, completion mode, policies and the pod template."""
    errs: list[FieldError] = []
    for key in (
        "parallelism",
        "completions",
        "activeDeadlineSeconds",
        "backoffLimit",
        "ttlSecondsAfterFinished",
        "backoffLimitPerIndex",
        "maxFailedIndexes",
    ):
        check_nonneg(spec, key, path.child(key), errs)
    if spec.get("maxFailedIndexes") is not None and spec.get("backoffLimitPerIndex") is None:
        errs.append(required(path.child("backoffLimitPerIndex"), "when maxFailedIndexes is specified"))
    mode = spec.get("completionMode")
    if mode is not None:
        if mode not in ("NonIndexed", "Indexed"):
            errs.append(not_supported(path.child("completionMode"), mode, ("NonIndexed", "Indexed")))
        if mode == "Indexed":
            if spec.get("completions") is None:
                errs.append(required(path.child("completions"), "when completion mode is Indexed"))
            parallelism = spec.get("parallelism")
            if is_int(parallelism) and parallelism > 100000:
                errs.append(
                    invalid(
                        path.child("parallelism"),
                        parallelism,
                        "must be less than or equal to 100000 when completion mode is Indexed",
                    )
                )
    if mode in (None, "NonIndexed"):
        for key in ("backoffLimitPerIndex", "maxFailedIndexes"):
            if spec.get(key) is not None:
                errs.append(invalid(path.child(key), spec[key], "requires indexed completion mode"))
    if spec.get("successPolicy") is not None and mode != "Indexed":
        errs.append(invalid(path.child("successPolicy"), spec["successPolicy"], "requires indexed completion mode"))
    replacement = spec.get("podReplacementPolicy")
    if replacement is not None:
        allowed = ("Failed",) if spec.get("podFailurePolicy") is not None else ("Failed", "TerminatingOrFailed")
        if replacement not in allowed:
            errs.append(not_supported(path.child("podReplacementPolicy"), replacement, allowed))
    failure = spec.get("podFailurePolicy")
    if isinstance(failure, dict):
        for i, rule in maps(failure.get("rules")):
            action = rule.get("action")
            actions = ("Count", "FailIndex", "FailJob", "Ignore")
            rpath = path.child("podFailurePolicy", "rules").index(i)
            if action in (None, ""):
                errs.append(required(rpath.child("action"), 'valid values: ["Count" "FailIndex" "FailJob" "Ignore"]'))
            elif action not in actions:
                errs.append(not_supported(rpath.child("action"), action, actions))
    template = spec.get("template")
    errs.extend(template_errors(template if template is not None else {}, path.child("template")))
    restart = as_map(as_map(template).get("spec")).get("restartPolicy")
    restart_path = path.child("template", "spec", "restartPolicy")
    if restart in ("Always", "", None):
        errs.append(required(restart_path, 'valid values: "OnFailure", "Never"'))
    elif restart not in ("OnFailure", "Never"):
        errs.append(not_supported(restart_path, restart, ("OnFailure", "Never")))
    elif failure is not None and restart != "Never":
        errs.append(invalid(restart_path, restart, 'only "Never" is supported when podFailurePolicy is specified'))
    return errs


class JobStrategy(WorkloadStrategy):
    """``Job``: a selector and pod labels are generated from the uid unless ``manualSelector``."""

    kind = "Job"
    immutable_selector = False

    def set_spec_defaults(self, obj: Obj, spec: Obj) -> None:
        default_job_spec(obj, spec)

    def on_create(self, obj: Obj) -> None:
        if dig(obj, "spec", "manualSelector") is not True:
            generate_selector(obj)
        # Kubernetes defaults again when reading the stored Job, so the generated template
        # labels also become the Job's labels when it has none of its own.
        labels = dig(obj, "spec", "template", "metadata", "labels")
        meta = obj.get("metadata")
        if isinstance(labels, dict) and labels and isinstance(meta, dict) and not meta.get("labels"):
            meta["labels"] = copy.deepcopy(labels)

    def validate_object(self, obj: Obj, old: Obj | None) -> list[FieldError]:
        spec = as_map(obj.get("spec"))
        meta = as_map(obj.get("metadata"))
        path = Path("spec")
        errs: list[FieldError] = []
        require_prefixed = True
        if old is not None:
            old_labels = as_map(dig(old, "spec", "template", "metadata", "labels"))
            require_prefixed = NAME_LABEL in old_labels and UID_LABEL in old_labels
        errs.extend(self._generated_selector_errors(obj, require_prefixed))
        errs.extend(job_spec_errors(spec, path))
        sel = spec.get("selector")
        if sel is None:
            errs.append(required(path.child("selector"), ""))
        sel_errs, selector = label_selector(sel, path.child("selector"))
        errs.extend(sel_errs)
        if sel is not None and selector is not None:
            errs.extend(selector_mismatch(spec.get("template"), selector, path.child("template")))
        completions = spec.get("completions")
        name = as_str(meta.get("name"))
        if spec.get("completionMode") == "Indexed" and is_int(completions) and completions > 0 and name:
            hostname = f"{name}-{completions - 1}"
            if is_dns1123_label(hostname):
                errs.append(
                    invalid(
                        Path("metadata", "name"),
                        name,
                        f"will not able to create pod with invalid DNS label: {hostname}",
                    )
                )
        return errs

    @staticmethod
    def _generated_selector_errors(job: Obj, require_prefixed: bool) -> list[FieldError]:
        """``validateGeneratedSelector``."""
        spec = as_map(job.get("spec"))
        if spec.get("manualSelector") is True or spec.get("selector") is None:
            return []
        meta = as_map(job.get("metadata"))
        uid, name = as_str(meta.get("uid")), as_str(meta.get("name"))
        errs: list[FieldError] = []
        if not uid:
            errs.append(required(Path("metadata", "uid"), ""))
        tmeta = as_map(as_map(spec.get("template")).get("metadata"))
        tpath = Path("spec", "template", "metadata")
        errs.extend(_has_label(tmeta, LEGACY_UID_LABEL, uid, tpath))
        errs.extend(_has_label(tmeta, LEGACY_NAME_LABEL, name, tpath))
        expected = {LEGACY_UID_LABEL: uid, LEGACY_NAME_LABEL: name}
        if require_prefixed:
            errs.extend(_has_label(tmeta, UID_LABEL, uid, tpath))
            errs.extend(_has_label(tmeta, NAME_LABEL, name, tpath))
            expected |= {UID_LABEL: uid, NAME_LABEL: name}
        _, selector = label_selector(spec.get("selector"), Path("spec", "selector"))
        if selector is not None and not selector.matches(expected):
            errs.append(
                go_invalid(
                    Path("spec", "selector"), go_label_selector(spec.get("selector")), "`selector` not auto-generated"
                )
            )
        return errs

    def validate_changes(self, new: Obj, old: Obj) -> list[FieldError]:
        spec, old_spec = as_map(new.get("spec")), as_map(old.get("spec"))
        path = Path("spec")
        errs: list[FieldError] = []
        indexed = spec.get("completionMode") == "Indexed"
        if not indexed or spec.get("completions") != old_spec.get("completions"):
            if not indexed:
                errs.extend(immutable(spec.get("completions"), old_spec.get("completions"), path.child("completions")))
            elif spec.get("completions") is not None and spec.get("completions") != spec.get("parallelism"):
                errs.append(
                    invalid(
                        path.child("completions"),
                        spec.get("completions"),
                        "can only be modified in tandem with spec.parallelism",
                    )
                )
        errs.extend(immutable_selector(spec.get("selector"), old_spec.get("selector")))
        template, old_template = spec.get("template"), copy.deepcopy(old_spec.get("template"))
        suspended_unstarted = old_spec.get("suspend") is True and dig(old, "status", "startTime") is None
        if suspended_unstarted and isinstance(template, dict) and isinstance(old_template, dict):
            tspec, old_tspec = as_map(template.get("spec")), old_template.get("spec")
            if isinstance(old_tspec, dict):
                for key in _SCHEDULING_FIELDS:
                    if key in tspec:
                        old_tspec[key] = tspec[key]
                    else:
                        old_tspec.pop(key, None)
            old_meta = old_template.get("metadata")
            if isinstance(old_meta, dict):
                for key in ("labels", "annotations"):
                    old_meta[key] = as_map(template.get("metadata")).get(key)
                    if old_meta[key] is None:
                        del old_meta[key]
        errs.extend(immutable(template, old_template, path.child("template")))
        for key in ("completionMode", "podFailurePolicy", "backoffLimitPerIndex", "managedBy", "successPolicy"):
            errs.extend(immutable(spec.get(key), old_spec.get(key), path.child(key)))
        return errs

    def object_warnings(self, obj: Obj) -> list[str]:
        name = as_str(as_map(obj.get("metadata")).get("name"))
        msgs = is_dns1123_label(name) if name else []
        if not msgs:
            return []
        return [
            "metadata.name: this is used in Pod names and hostnames, which can result in surprising behavior; "
            f"a DNS label is recommended: [{' '.join(msgs)}]"
        ]

    def validate_status(self, new: Obj, old: Obj) -> list[FieldError]:
        status = as_map(new.get("status"))
        errs: list[FieldError] = []
        for key in ("active", "succeeded", "failed", "ready", "terminating"):
            check_nonneg(status, key, Path("status", key), errs)
        return errs


class CronJobStrategy(WorkloadStrategy):
    """``CronJob``: a schedule and a job template (whose JobSpec is not defaulted)."""

    kind = "CronJob"
    immutable_selector = False

    def set_defaults(self, obj: Obj) -> None:
        spec = sub(obj, "spec")
        if spec is None:
            return
        default_str(spec, "concurrencyPolicy", "Allow")
        default(spec, "suspend", False)
        default(spec, "successfulJobsHistoryLimit", 3)
        default(spec, "failedJobsHistoryLimit", 1)
        job_template = sub(spec, "jobTemplate")
        if job_template is None:
            return
        jmeta = job_template.get("metadata")
        if jmeta is None:
            jmeta = job_template["metadata"] = {}
        if isinstance(jmeta, dict):
            jmeta.setdefault("creationTimestamp", None)
        job_spec = sub(job_template, "spec")
        if job_spec is None:
            return
        if job_spec.get("template") is None:
            job_spec["template"] = {}
        default_template(job_spec.get("template"))

    def validate_object(self, obj: Obj, old: Obj | None) -> list[FieldError]:
        spec = as_map(obj.get("spec"))
        path = Path("spec")
        errs: list[FieldError] = []
        schedule = spec.get("schedule")
        if not isinstance(schedule, str) or not schedule:
            errs.append(required(path.child("schedule"), ""))
        else:
            why = schedule_error(schedule)
            if why:
                errs.append(invalid(path.child("schedule"), schedule, why))
            old_schedule = as_str(dig(old, "spec", "schedule")) if old is not None else ""
            allow_tz = "TZ" in old_schedule
            if allow_tz and "TZ" in schedule and spec.get("timeZone") is not None:
                errs.append(
                    invalid(
                        path.child("schedule"), schedule, "cannot use both timeZone field and TZ or CRON_TZ in schedule"
                    )
                )
            elif not allow_tz and "TZ" in schedule:
                errs.append(
                    invalid(
                        path.child("schedule"),
                        schedule,
                        "cannot use TZ or CRON_TZ in schedule, use timeZone field instead",
                    )
                )
        check_nonneg(spec, "startingDeadlineSeconds", path.child("startingDeadlineSeconds"), errs)
        zone = spec.get("timeZone")
        if zone is not None and (old is None or zone != dig(old, "spec", "timeZone")):
            why = time_zone_error(as_str(zone))
            if why:
                errs.append(invalid(path.child("timeZone"), zone, why))
        enum(spec.get("concurrencyPolicy"), path.child("concurrencyPolicy"), ("Allow", "Forbid", "Replace"), errs)
        job_spec = as_map(as_map(spec.get("jobTemplate")).get("spec"))
        jpath = path.child("jobTemplate", "spec")
        errs.extend(job_spec_errors(job_spec, jpath))
        if job_spec.get("selector") is not None:
            errs.append(invalid(jpath.child("selector"), job_spec["selector"], "`selector` will be auto-generated"))
        if job_spec.get("manualSelector") is True:
            errs.append(not_supported(jpath.child("manualSelector"), True, ("nil", "false")))
        check_nonneg(spec, "successfulJobsHistoryLimit", path.child("successfulJobsHistoryLimit"), errs)
        check_nonneg(spec, "failedJobsHistoryLimit", path.child("failedJobsHistoryLimit"), errs)
        name = as_str(as_map(obj.get("metadata")).get("name"))
        if old is None and len(name) > 52:
            errs.append(invalid(Path("metadata", "name"), name, "must be no more than 52 characters"))
        return errs
