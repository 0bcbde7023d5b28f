"""The pod row: READY, the STATUS reason kubectl users read (Init:0/1, CrashLoopBackOff, Completed,
Terminating...), RESTARTS with the time of the last restart, and the wide IP/NODE columns."""

from __future__ import annotations

from datetime import datetime
from typing import Any

from kubeprov.apiserver.tables.age import human_duration, parse_timestamp, since
from kubeprov.apiserver.tables.common import AGE, NAME, NONE, Column, Printer, creation, get, name_of, wide

NODE_UNREACHABLE_REASON = "NodeLost"


def _restartable(container: dict | None) -> bool:
    """A sidecar: an init container with restartPolicy Always keeps running beside the app containers."""
    return bool(container) and container.get("restartPolicy") == "Always"


def _condition_true(status: dict, kind: str) -> bool:
    return any(c.get("type") == kind and c.get("status") == "True" for c in status.get("conditions") or [])


def _later(current: datetime | None, candidate: Any) -> datetime | None:
    moment = parse_timestamp(candidate)
    if moment is None or (current is not None and moment <= current):
        return current
    return moment


def _terminated_reason(terminated: dict, prefix: str = "") -> str:
    if terminated.get("reason"):
        return prefix + terminated["reason"]
    if terminated.get("signal"):
        return f"{prefix}Signal:{terminated['signal']}"
    return f"{prefix}ExitCode:{terminated.get('exitCode', 0)}"


class _PodState:
    """Walks init and app container statuses the way kubectl's pod printer does."""

    def __init__(self, pod: dict) -> None:
        self.spec: dict = pod.get("spec") or {}
        self.status: dict = pod.get("status") or {}
        self.phase: str = self.status.get("phase") or ""
        self.reason: str = self.status.get("reason") or self.phase
        self.restarts = 0
        self.ready = 0
        self.total = len(self.spec.get("containers") or [])
        self.last_restart: datetime | None = None
        for condition in self.status.get("conditions") or []:
            if condition.get("type") == "PodScheduled" and condition.get("reason") == "SchedulingGated":
                self.reason = "SchedulingGated"

    def walk_init(self) -> tuple[bool, int, datetime | None]:
        """Returns (initializing, sidecar restarts, last sidecar restart)."""
        init_specs = {c.get("name"): c for c in self.spec.get("initContainers") or []}
        self.total += sum(1 for c in init_specs.values() if _restartable(c))
        sidecar_restarts, sidecar_last = 0, None
        statuses = self.status.get("initContainerStatuses") or []
        for index, cs in enumerate(statuses):
            count = int(cs.get("restartCount") or 0)
            finished = get(cs, "lastState", "terminated", "finishedAt")
            self.restarts += count
            self.last_restart = _later(self.last_restart, finished)
            sidecar = _restartable(init_specs.get(cs.get("name")))
            if sidecar:
                sidecar_restarts += count
                sidecar_last = _later(sidecar_last, finished)
            state = cs.get("state") or {}
            terminated, waiting = state.get("terminated"), state.get("waiting")
            if terminated is not None and int(terminated.get("exitCode") or 0) == 0:
                continue
            if sidecar and cs.get("started"):
                self.ready += 1 if cs.get("ready") else 0
                continue
            if terminated is not None:
                self.reason = _terminated_reason(terminated, "Init:")
            elif waiting is not None and waiting.get("reason") and waiting["reason"] != "PodInitializing":
                self.reason = "Init:" + waiting["reason"]
            else:
                self.reason = f"Init:{index}/{len(init_specs)}"
            return True, sidecar_restarts, sidecar_last
        return False, sidecar_restarts, sidecar_last

    def walk_containers(self) -> None:
        has_running = False
        for cs in reversed(self.status.get("containerStatuses") or []):
            self.restarts += int(cs.get("restartCount") or 0)
            self.last_restart = _later(self.last_restart, get(cs, "lastState", "terminated", "finishedAt"))
            state = cs.get("state") or {}
            waiting, terminated = state.get("waiting"), state.get("terminated")
            if waiting is not None and waiting.get("reason"):
                self.reason = waiting["reason"]
            elif terminated is not None:
                self.reason = _terminated_reason(terminated)
            elif cs.get("ready") and state.get("running") is not None:
                has_running = True
                self.ready += 1
        if self.reason == "Completed" and has_running:
            self.reason = "Running" if _condition_true(self.status, "Ready") else "NotReady"


def pod_status_reason(pod: dict) -> tuple[str, int, int, int, datetime | None]:
    """(STATUS, ready containers, total containers, restarts, last restart) as kubectl computes them."""
    state = _PodState(pod)
    initializing, sidecar_restarts, sidecar_last = state.walk_init()
    if not initializing or _condition_true(state.status, "Initialized"):
        state.restarts, state.last_restart = sidecar_restarts, sidecar_last
        state.walk_containers()
    if get(pod, "metadata", "deletionTimestamp"):
        if state.status.get("reason") == NODE_UNREACHABLE_REASON:
            state.reason = "Unknown"
        elif state.phase not in ("Succeeded", "Failed"):
            state.reason = "Terminating"
    return state.reason, state.ready, state.total, state.restarts, state.last_restart


def _readiness_gates(pod: dict) -> str:
    gates = get(pod, "spec", "readinessGates", default=[])
    if not gates:
        return NONE
    conditions = get(pod, "status", "conditions", default=[])
    passed = 0
    for gate in gates:
        for condition in conditions:
            if condition.get("type") == gate.get("conditionType"):
                passed += 1 if condition.get("status") == "True" else 0
                break
    return f"{passed}/{len(gates)}"


def pod_cells(pod: dict, now: datetime) -> list:
    reason, ready, total, restarts, last_restart = pod_status_reason(pod)
    restarts_text = str(restarts)
    if restarts and last_restart is not None:
        restarts_text = f"{restarts} ({human_duration(now - last_restart)} ago)"
    status = pod.get("status") or {}
    ip = status.get("podIP") or get(status, "podIPs", 0, "ip") or NONE
    return [
        name_of(pod), f"{ready}/{total}", reason, restarts_text, since(creation(pod), now),
        ip, get(pod, "spec", "nodeName") or NONE, status.get("nominatedNodeName") or NONE, _readiness_gates(pod),
    ]


def pod_conditions(pod: dict) -> list[dict]:
    """Row conditions marking finished pods, which clients may use to hide or grey them."""
    phase = get(pod, "status", "phase")
    if phase == "Succeeded":
        return [{"type": "Completed", "status": "True", "reason": "Succeeded",
                 "message": "The pod has completed successfully."}]
    if phase == "Failed":
        return [{"type": "Completed", "status": "True", "reason": "Failed", "message": "The pod failed."}]
    return []


POD = Printer(
    (
        NAME,
        Column("Ready", description="The aggregate readiness state of this pod for accepting traffic."),
        Column("Status", description="The aggregate status of the containers in this pod."),
        Column("Restarts", description="The number of times the containers in this pod have been restarted "
               "and when the last container in this pod has restarted."),
        AGE,
        wide("IP", "IP address allocated to the pod."),
        wide("Node", "The node the pod is bound to."),
        wide("Nominated Node", "The node the scheduler nominated for this pod while preempting others."),
        wide("Readiness Gates", "Readiness gates of the pod that report True, out of all."),
    ),
    pod_cells,
    pod_conditions,
)
