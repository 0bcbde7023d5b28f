"""Jobs (generated selector, restart policy, immutable template) and CronJobs (schedules)."""

from __future__ import annotations

import copy
from typing import Any

import pytest

from kubeprov.apiserver.resources.builtin import builtin_resources
from kubeprov.apiserver.strategy import strategy_for
from kubeprov.apiserver.strategy.cron import schedule_error

JOBS = next(rt for rt in builtin_resources() if rt.resource == "jobs")
CRONJOBS = next(rt for rt in builtin_resources() if rt.resource == "cronjobs")
UID = "9f1b5b64-7c1d-4c2e-9b8a-0a1b2c3d4e5f"
POD = {"containers": [{"name": "pi", "image": "perl"}], "restartPolicy": "Never"}


def job(spec: dict[str, Any] | None = None) -> dict[str, Any]:
    return {
        "apiVersion": "batch/v1",
        "kind": "Job",
        "metadata": {"name": "pi", "namespace": "default", "uid": UID},
        "spec": {"template": {"spec": copy.deepcopy(POD)}, **(spec or {})},
    }


def create(obj: dict[str, Any], rt: Any = JOBS) -> dict[str, Any]:
    s = strategy_for(rt)
    s.default(obj)
    s.prepare_for_create(obj)
    return obj


def errors(obj: dict[str, Any], rt: Any = JOBS) -> list[str]:
    return [str(e) for e in strategy_for(rt).validate(create(obj, rt))]


def test_job_defaults_and_generated_selector() -> None:
    obj = create(job())
    spec = obj["spec"]
    assert {
        k: spec[k]
        for k in (
            "completions",
            "parallelism",
            "backoffLimit",
            "completionMode",
            "suspend",
            "manualSelector",
            "podReplacementPolicy",
        )
    } == {
        "completions": 1,
        "parallelism": 1,
        "backoffLimit": 6,
        "completionMode": "NonIndexed",
        "suspend": False,
        "manualSelector": False,
        "podReplacementPolicy": "TerminatingOrFailed",
    }
    assert spec["selector"] == {"matchLabels": {"batch.kubernetes.io/controller-uid": UID}}
    assert spec["template"]["metadata"]["labels"] == {
        "batch.kubernetes.io/controller-uid": UID,
        "batch.kubernetes.io/job-name": "pi",
        "controller-uid": UID,
        "job-name": "pi",
    }
    assert obj["metadata"]["labels"] == spec["template"]["metadata"]["labels"]
    assert obj["status"] == {}
    assert strategy_for(JOBS).validate(obj) == []


def test_parallelism_alone_leaves_completions_unset() -> None:
    spec = create(job({"parallelism": 3}))["spec"]
    assert spec["parallelism"] == 3 and "completions" not in spec


def test_pod_failure_policy_changes_the_replacement_default() -> None:
    obj = create(
        job({"podFailurePolicy": {"rules": [{"action": "FailJob", "onExitCodes": {"operator": "In", "values": [42]}}]}})
    )
    assert obj["spec"]["podReplacementPolicy"] == "Failed"


def test_job_template_restart_policy_must_be_on_failure_or_never() -> None:
    obj = job()
    del obj["spec"]["template"]["spec"]["restartPolicy"]
    assert errors(obj) == ['spec.template.spec.restartPolicy: Required value: valid values: "OnFailure", "Never"']
    obj = job()
    obj["spec"]["template"]["spec"]["restartPolicy"] = "Sometimes"
    msgs = errors(obj)
    assert (
        'spec.template.spec.restartPolicy: Unsupported value: "Sometimes": supported values: "OnFailure", "Never"'
        in msgs
    )


def test_a_wrong_selector_is_not_auto_generated() -> None:
    msgs = errors(job({"selector": {"matchLabels": {"batch.kubernetes.io/controller-uid": "other"}}}))
    assert (
        'spec.selector: Invalid value: v1.LabelSelector{MatchLabels:map[string]string{"batch.kubernetes.io/'
        'controller-uid":"other"}, MatchExpressions:[]v1.LabelSelectorRequirement(nil)}: '
        "`selector` not auto-generated"
    ) in msgs


def test_manual_selector_must_match_the_template() -> None:
    obj = job({"manualSelector": True, "selector": {"matchLabels": {"app": "x"}}})
    assert errors(obj) == [
        "spec.template.metadata.labels: Invalid value: map[string]string(nil): `selector` does not match template "
        "`labels`"
    ]


def test_negative_counts() -> None:
    assert errors(job({"backoffLimit": -1})) == [
        "spec.backoffLimit: Invalid value: -1: must be greater than or equal to 0"
    ]


def test_job_template_and_completions_are_immutable() -> None:
    s = strategy_for(JOBS)
    old = create(job())
    new = copy.deepcopy(old)
    new["spec"]["template"]["spec"]["containers"][0]["image"] = "python"
    new["spec"]["completions"] = 3
    s.prepare_for_update(new, old)
    msgs = [str(e) for e in s.validate_update(new, old)]
    assert "spec.completions: Invalid value: 3: field is immutable" in msgs
    assert any(m.startswith("spec.template: Invalid value: {") and m.endswith(": field is immutable") for m in msgs)


def test_a_suspended_job_may_change_its_scheduling_directives() -> None:
    s = strategy_for(JOBS)
    old = create(job({"suspend": True}))
    new = copy.deepcopy(old)
    new["spec"]["template"]["spec"]["nodeSelector"] = {"zone": "a"}
    s.prepare_for_update(new, old)
    assert s.validate_update(new, old) == []


def cronjob(schedule: str = "*/1 * * * *", **spec: Any) -> dict[str, Any]:
    return {
        "apiVersion": "batch/v1",
        "kind": "CronJob",
        "metadata": {"name": "tick", "namespace": "default"},
        "spec": {"schedule": schedule, "jobTemplate": {"spec": {"template": {"spec": copy.deepcopy(POD)}}}, **spec},
    }


def test_cronjob_defaults_leave_the_job_spec_alone() -> None:
    obj = create(cronjob(), CRONJOBS)
    spec = obj["spec"]
    assert {
        k: spec[k] for k in ("concurrencyPolicy", "suspend", "successfulJobsHistoryLimit", "failedJobsHistoryLimit")
    } == {"concurrencyPolicy": "Allow", "suspend": False, "successfulJobsHistoryLimit": 3, "failedJobsHistoryLimit": 1}
    job_spec = spec["jobTemplate"]["spec"]
    assert "backoffLimit" not in job_spec
    assert job_spec["template"]["spec"]["dnsPolicy"] == "ClusterFirst"


@pytest.mark.parametrize(
    "schedule", ["@hourly", "@daily", "0 */2 * * 1-5", "5 4 * jan,jul sun", "*/15 0-6 1 * *", "@every 1h30m"]
)
def test_valid_schedules(schedule: str) -> None:
    assert schedule_error(schedule) == ""


@pytest.mark.parametrize(
    ("schedule", "message"),
    [
        ("* * * *", "expected exactly 5 fields, found 4: [* * * *]"),
        ("@fortnightly", "unrecognized descriptor: @fortnightly"),
        ("x * * * *", 'failed to parse int from x: strconv.Atoi: parsing "x": invalid syntax'),
        ("0 24 * * *", "end of range (24) above maximum (23): 24"),
        ("0 0 0 * *", "beginning of range (0) below minimum (1): 0"),
        ("5-1 * * * *", "beginning of range (5) beyond end of range (1): 5-1"),
        ("*/0 * * * *", "step of range should be a positive number: */0"),
    ],
)
def test_invalid_schedules(schedule: str, message: str) -> None:
    assert schedule_error(schedule) == message


def test_cronjob_validation_messages() -> None:
    assert errors(cronjob(""), CRONJOBS) == ["spec.schedule: Required value"]
    msgs = errors(cronjob("TZ=UTC 0 * * * *", concurrencyPolicy="Sometimes", timeZone="Mars/Olympus"), CRONJOBS)
    assert (
        'spec.schedule: Invalid value: "TZ=UTC 0 * * * *": cannot use TZ or CRON_TZ in schedule, use timeZone '
        "field instead"
    ) in msgs
    assert 'spec.timeZone: Invalid value: "Mars/Olympus": unknown time zone Mars/Olympus' in msgs
    assert (
        'spec.concurrencyPolicy: Unsupported value: "Sometimes": supported values: "Allow", "Forbid", "Replace"' in msgs
    )


def test_cronjob_names_are_at_most_52_characters_and_selectors_are_generated() -> None:
    obj = cronjob()
    obj["metadata"]["name"] = "a" * 53
    obj["spec"]["jobTemplate"]["spec"]["selector"] = {"matchLabels": {"a": "b"}}
    msgs = errors(obj, CRONJOBS)
    assert f'metadata.name: Invalid value: "{"a" * 53}": must be no more than 52 characters' in msgs
    assert (
        'spec.jobTemplate.spec.selector: Invalid value: {"matchLabels":{"a":"b"}}: `selector` will be auto-generated'
    ) in msgs


def test_a_job_name_that_is_not_a_dns_label_only_warns() -> None:
    obj = job()
    obj["metadata"]["name"] = "pi.v1"
    obj = create(obj)
    assert strategy_for(JOBS).validate(obj) == []
    assert strategy_for(JOBS).warnings(obj) == [
        "metadata.name: this is used in Pod names and hostnames, which can result in surprising behavior; a DNS label "
        "is recommended: [must not contain dots]"
    ]
