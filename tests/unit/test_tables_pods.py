"""The pod row: READY, the STATUS reason, RESTARTS with the last restart, and the wide columns."""

from __future__ import annotations

from datetime import UTC, datetime

import pytest

from kubeprov.apiserver.resources import Registry, builtin_resources
from kubeprov.apiserver.tables import to_table

NOW = datetime(2025, 3, 1, 12, 0, 0, tzinfo=UTC)
CREATED = "2025-03-01T11:55:00Z"  # 5m before NOW
PODS = Registry(builtin_resources()).get("", "v1", "pods")


def pod(containers: int = 1, statuses: list[dict] | None = None, init: list[dict] | None = None,
        init_statuses: list[dict] | None = None, phase: str = "Running", **extra: object) -> dict:
    spec: dict = {"containers": [{"name": f"c{i}", "image": "busybox"} for i in range(containers)]}
    if init is not None:
        spec["initContainers"] = init
    status: dict = {"phase": phase}
    if statuses is not None:
        status["containerStatuses"] = statuses
    if init_statuses is not None:
        status["initContainerStatuses"] = init_statuses
    obj = {"apiVersion": "v1", "kind": "Pod", "spec": spec, "status": status,
           "metadata": {"name": "p", "namespace": "default", "creationTimestamp": CREATED}}
    for key, value in extra.items():
        section, _, field = key.partition("__")
        obj[section][field] = value
    return obj


def running(name: str = "c0", ready: bool = True, restarts: int = 0, **state: object) -> dict:
    return {"name": name, "ready": ready, "restartCount": restarts, "state": {"running": {}}, **state}


def waiting(reason: str, name: str = "c0", restarts: int = 0, **extra: object) -> dict:
    return {"name": name, "ready": False, "restartCount": restarts, "state": {"waiting": {"reason": reason}}, **extra}


def terminated(name: str = "c0", **fields: object) -> dict:
    return {"name": name, "ready": False, "restartCount": 0, "state": {"terminated": fields}}


def cells(obj: dict) -> list:
    assert PODS is not None
    return to_table(PODS, [obj], now=NOW)["rows"][0]["cells"]


def test_running_pod() -> None:
    obj = pod(statuses=[running()], spec__nodeName="node-1", status__podIP="10.244.0.5")
    assert cells(obj) == ["p", "1/1", "Running", "0", "5m", "10.244.0.5", "node-1", "<none>", "<none>"]


def test_pending_pod_without_statuses_counts_every_container() -> None:
    assert cells(pod(containers=2, phase="Pending"))[1:4] == ["0/2", "Pending", "0"]


def test_waiting_reason_replaces_the_phase() -> None:
    assert cells(pod(statuses=[waiting("ContainerCreating")], phase="Pending"))[2] == "ContainerCreating"


def test_crash_loop_shows_restarts_and_when_the_last_one_was() -> None:
    status = waiting("CrashLoopBackOff", restarts=5,
                     lastState={"terminated": {"exitCode": 1, "finishedAt": "2025-03-01T11:57:00Z"}})
    assert cells(pod(statuses=[status]))[1:4] == ["0/1", "CrashLoopBackOff", "5 (3m ago)"]


def test_restarts_without_a_finish_time_are_a_bare_count() -> None:
    assert cells(pod(statuses=[running(restarts=2)]))[3] == "2"


def test_completed_pod_and_its_row_condition() -> None:
    obj = pod(statuses=[terminated(exitCode=0, reason="Completed")], phase="Succeeded")
    table = to_table(PODS, [obj], now=NOW)
    assert table["rows"][0]["cells"][1:3] == ["0/1", "Completed"]
    assert table["rows"][0]["conditions"] == [{"type": "Completed", "status": "True", "reason": "Succeeded",
                                               "message": "The pod has completed successfully."}]


@pytest.mark.parametrize(("fields", "text"), [
    ({"exitCode": 1, "reason": "Error"}, "Error"),
    ({"exitCode": 137}, "ExitCode:137"),
    ({"exitCode": 0, "signal": 9}, "Signal:9"),
])
def test_terminated_container_reason(fields: dict, text: str) -> None:
    assert cells(pod(statuses=[terminated(**fields)], phase="Failed"))[2] == text


def test_completed_with_a_running_container_is_running_when_ready() -> None:
    statuses = [running("c1"), terminated("c0", exitCode=0, reason="Completed")]
    ready = pod(containers=2, statuses=statuses, status__conditions=[{"type": "Ready", "status": "True"}])
    not_ready = pod(containers=2, statuses=statuses)
    assert cells(ready)[1:3] == ["1/2", "Running"]
    assert cells(not_ready)[2] == "NotReady"


@pytest.mark.parametrize(("init_statuses", "text"), [
    ([running("i0", ready=False), waiting("PodInitializing", "i1")], "Init:0/2"),
    ([terminated("i0", exitCode=0, reason="Completed"), running("i1", ready=False)], "Init:1/2"),
    ([waiting("CrashLoopBackOff", "i0", restarts=3)], "Init:CrashLoopBackOff"),
    ([terminated("i0", exitCode=1, reason="Error")], "Init:Error"),
    ([terminated("i0", exitCode=2)], "Init:ExitCode:2"),
])
def test_init_container_progress(init_statuses: list[dict], text: str) -> None:
    init = [{"name": "i0", "image": "busybox"}, {"name": "i1", "image": "busybox"}]
    obj = pod(init=init, init_statuses=init_statuses, statuses=[waiting("PodInitializing")], phase="Pending")
    assert cells(obj)[2] == text


def test_initializing_pod_counts_init_restarts() -> None:
    init = [{"name": "i0", "image": "busybox"}]
    obj = pod(init=init, init_statuses=[waiting("CrashLoopBackOff", "i0", restarts=4)],
              statuses=[waiting("PodInitializing", restarts=0)], phase="Pending")
    assert cells(obj)[2:4] == ["Init:CrashLoopBackOff", "4"]


def test_started_sidecar_counts_as_a_ready_container() -> None:
    init = [{"name": "proxy", "image": "envoy", "restartPolicy": "Always"}]
    sidecar = {**running("proxy"), "started": True}
    obj = pod(init=init, init_statuses=[sidecar], statuses=[running()],
              status__conditions=[{"type": "Initialized", "status": "True"}])
    assert cells(obj)[1:3] == ["2/2", "Running"]


def test_deleted_pod_is_terminating() -> None:
    obj = pod(statuses=[running()])
    obj["metadata"]["deletionTimestamp"] = "2025-03-01T11:59:00Z"
    assert cells(obj)[2] == "Terminating"


def test_deleted_pod_on_a_lost_node_is_unknown() -> None:
    obj = pod(statuses=[running()], status__reason="NodeLost")
    obj["metadata"]["deletionTimestamp"] = "2025-03-01T11:59:00Z"
    assert cells(obj)[2] == "Unknown"


def test_finished_pod_being_deleted_keeps_its_reason() -> None:
    obj = pod(statuses=[terminated(exitCode=0, reason="Completed")], phase="Succeeded")
    obj["metadata"]["deletionTimestamp"] = "2025-03-01T11:59:00Z"
    assert cells(obj)[2] == "Completed"


def test_pod_reason_like_evicted_wins_over_phase() -> None:
    assert cells(pod(phase="Failed", status__reason="Evicted"))[2] == "Evicted"


def test_scheduling_gated_pod() -> None:
    obj = pod(phase="Pending", status__conditions=[{"type": "PodScheduled", "status": "False",
                                                    "reason": "SchedulingGated"}])
    assert cells(obj)[2] == "SchedulingGated"


def test_wide_columns_show_nominated_node_and_readiness_gates() -> None:
    obj = pod(statuses=[running()], spec__readinessGates=[{"conditionType": "a"}, {"conditionType": "b"}],
              status__nominatedNodeName="node-2",
              status__conditions=[{"type": "a", "status": "True"}, {"type": "b", "status": "False"}],
              status__podIPs=[{"ip": "fd00::5"}])
    assert cells(obj)[5:] == ["fd00::5", "<none>", "node-2", "1/2"]


def test_pod_columns_and_their_priorities() -> None:
    assert PODS is not None
    columns = to_table(PODS, [], now=NOW)["columnDefinitions"]
    assert [(c["name"], c["priority"]) for c in columns] == [
        ("Name", 0), ("Ready", 0), ("Status", 0), ("Restarts", 0), ("Age", 0), ("IP", 1), ("Node", 1),
        ("Nominated Node", 1), ("Readiness Gates", 1)]
    assert columns[0]["format"] == "name"
