"""Job controller arithmetic (kubeprov/controllers/job_util.py) and the TTL controller's clock."""

from __future__ import annotations

from hypothesis import given
from hypothesis import strategies as st

from kubeprov.controllers import job_util as ju
from kubeprov.controllers.ttlafterfinished import expires_in


def job(**spec: object) -> dict:
    return {"metadata": {"name": "j"}, "spec": spec, "status": {}}


def test_wanted_active_is_bounded_by_parallelism_and_remaining_completions():
    assert ju.wanted_active(job(completions=5, parallelism=2), succeeded=0) == 2
    assert ju.wanted_active(job(completions=5, parallelism=2), succeeded=4) == 1
    assert ju.wanted_active(job(completions=5, parallelism=2), succeeded=5) == 0


def test_work_queue_job_stops_starting_pods_after_one_success():
    assert ju.wanted_active(job(parallelism=3), succeeded=0) == 3
    assert ju.wanted_active(job(parallelism=3), succeeded=1) == 0


def test_completion():
    assert ju.is_complete(job(completions=2), succeeded=2, active=0, completed_indexes=set())
    assert not ju.is_complete(job(completions=2), succeeded=1, active=1, completed_indexes=set())
    assert ju.is_complete(job(parallelism=2), succeeded=1, active=0, completed_indexes=set())
    assert not ju.is_complete(job(parallelism=2), succeeded=1, active=1, completed_indexes=set())
    indexed = job(completions=3, completionMode="Indexed")
    assert ju.is_complete(indexed, succeeded=0, active=0, completed_indexes={0, 1, 2})
    assert not ju.is_complete(indexed, succeeded=5, active=0, completed_indexes={0, 2})


def test_backoff_doubles_from_ten_seconds_up_to_six_minutes():
    assert [ju.backoff_delay(n) for n in range(7)] == [0, 10, 20, 40, 80, 160, 320]
    assert ju.backoff_delay(7) == ju.backoff_delay(100) == 360
    assert ju.backoff_delay(3, base=0.5, cap=1.0) == 1.0


@given(st.sets(st.integers(0, 200)))
def test_completed_indexes_round_trip(indexes: set[int]):
    text = ju.format_indexes(indexes)
    assert ju.parse_indexes(text, 201) == indexes


def test_completed_indexes_text():
    assert ju.format_indexes({0, 1, 2, 5, 7, 8}) == "0-2,5,7-8"
    assert ju.parse_indexes("0-2,9", 5) == {0, 1, 2}


def test_deleted_pods_count_as_failed_unless_only_failed_pods_are_replaced():
    pod = {"metadata": {"deletionTimestamp": "2024-01-01T00:00:00Z"}, "status": {"phase": "Running"}}
    assert ju.is_failed(pod, job())
    assert not ju.is_failed(pod, job(podReplacementPolicy="Failed"))
    assert not ju.is_active(pod)
    done = {"metadata": {"deletionTimestamp": "2024-01-01T00:00:00Z"}, "status": {"phase": "Succeeded"}}
    assert not ju.is_failed(done, job())


def test_deadline_counts_from_start_time_and_not_while_suspended():
    j = {"spec": {"activeDeadlineSeconds": 10}, "status": {"startTime": "2024-01-01T00:00:00Z"}}
    start = ju.parse_time("2024-01-01T00:00:00Z")
    assert not ju.past_deadline(j, start + 9) and ju.past_deadline(j, start + 10)
    assert not ju.past_deadline({**j, "spec": {"activeDeadlineSeconds": 10, "suspend": True}}, start + 20)


def test_set_condition_keeps_transition_time_when_status_unchanged():
    first = ju.new_condition("Suspended", "JobSuspended", "Job suspended", 0)
    again = ju.new_condition("Suspended", "JobSuspended", "Job suspended", 100)
    assert ju.set_condition([first], again) == [first]
    resumed = ju.new_condition("Suspended", "JobResumed", "Job resumed", 100, status="False")
    assert ju.set_condition([first], resumed) == [resumed]


def test_ttl_runs_from_completion_time_or_failure():
    done = {"spec": {"ttlSecondsAfterFinished": 30},
            "status": {"completionTime": "2024-01-01T00:00:10Z",
                       "conditions": [{"type": "Complete", "status": "True",
                                       "lastTransitionTime": "2024-01-01T00:00:09Z"}]}}
    t0 = ju.parse_time("2024-01-01T00:00:10Z")
    assert expires_in(done, t0) == 30
    failed = {"spec": {"ttlSecondsAfterFinished": 0},
              "status": {"conditions": [{"type": "Failed", "status": "True",
                                         "lastTransitionTime": "2024-01-01T00:00:10Z"}]}}
    assert expires_in(failed, t0 + 5) == -5
    assert expires_in({"spec": {"ttlSecondsAfterFinished": 5}, "status": {}}, t0) is None
    assert expires_in({"spec": {}, "status": done["status"]}, t0) is None


def failed_pod(code: int, container: str = "c", conditions: list | None = None) -> dict:
    return {"metadata": {"namespace": "ns", "name": "p"},
            "status": {"phase": "Failed", "conditions": conditions or [],
                       "containerStatuses": [{"name": container, "state": {"terminated": {"exitCode": code}}}]}}


def test_pod_failure_policy_first_matching_rule_wins():
    j = job(podFailurePolicy={"rules": [
        {"action": "Ignore", "onPodConditions": [{"type": "DisruptionTarget"}]},
        {"action": "FailJob", "onExitCodes": {"containerName": "c", "operator": "In", "values": [42]}},
        {"action": "Count", "onExitCodes": {"operator": "NotIn", "values": [0]}}]})
    action, message = ju.failure_policy_action(j, failed_pod(42))
    assert action == "FailJob"
    assert message == "Container c for pod ns/p failed with exit code 42 matching FailJob rule at index 1"
    assert ju.failure_policy_action(j, failed_pod(1))[0] == "Count"
    assert ju.failure_policy_action(j, failed_pod(42, container="other"))[0] == "Count"
    disrupted = failed_pod(42, conditions=[{"type": "DisruptionTarget", "status": "True"}])
    assert ju.failure_policy_action(j, disrupted)[0] == "Ignore"


def test_pod_failure_policy_without_rules_or_failure_counts():
    assert ju.failure_policy_action(job(), failed_pod(42)) == ("Count", "")
    running = {"metadata": {}, "status": {"phase": "Running"}}
    assert ju.failure_policy_action(job(podFailurePolicy={"rules": []}), running) == ("Count", "")
