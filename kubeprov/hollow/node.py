"""One hollow node: a simulated kubelet that looks real from the API and runs its pods on paper.

A :class:`HollowNode` registers its ``Node`` (capacity, nodeInfo, addresses, conditions), renews
its ``Lease`` in ``kube-node-lease`` every ``lease_interval`` and posts its status every
``status_interval`` or when the API's copy disagrees with it (the node controller marked it
Unknown, the Node was deleted and must be registered again).

Pods bound to it get a pod worker each (as the kubelet has): the pod goes Pending -> Running with a
pod IP from the node's pod CIDR, its containers become ready after their readiness probe's
``initialDelaySeconds``, exit when told to, restart per ``restartPolicy`` (with a crash-loop
back-off), and a pod being deleted is stopped and removed with ``gracePeriodSeconds: 0``.
Admission is the kubelet's resource check: a pod that does not fit the node's cpu, memory or pod
count ends ``Failed`` (``OutOfcpu``, ``OutOfmemory``, ``OutOfpods``).

Containers exit when their command is ``["sh", "-c", "exit N"]`` or when the pod carries the
annotations ``hollow.kubeprov.dev/exit-code`` (``N``) and/or ``hollow.kubeprov.dev/run-seconds``
(after ``S`` seconds; exit code 0 when only the run time is given). Pod status goes through
``pods/status`` updates guarded by the resourceVersion (re-read and retried on a conflict).

Controls from outside (kubectl), for acceptance tests and demos:

* ``hollow.kubeprov.dev/dead: "true"`` on the **Node**: the node acts like a powered-off kubelet. It stops
  renewing its Lease and posting its status, and its pods stop moving (no phase changes, no deletions
  finished). Removing the annotation (or any other value) revives it: Lease and status are posted at once
  and the pods it holds carry on (pods deleted meanwhile are then removed).
* ``hollow.kubeprov.dev/fail: "<exit code>"`` on a **Pod**: its running containers exit now with that code
  (``restartPolicy`` applies), once per new value of the annotation.

Nodes get no watches of their own: :class:`~kubeprov.hollow.fleet.HollowFleet` feeds them events
from one shared pod informer and one node informer.
"""

from __future__ import annotations

import asyncio
import contextlib
import copy
import hashlib
import ipaddress
import logging
import random
import re
import uuid
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

from kubeprov.aio import cancel_and_wait
from kubeprov.api.client import ApiClient
from kubeprov.api.quantity import Quantity
from kubeprov.api.status import StatusError
from kubeprov.controllers.timestamps import micro_now_text, now_text

Obj = dict[str, Any]
log = logging.getLogger("kubeprov.hollow")

EXIT_CODE_ANNOTATION = "hollow.kubeprov.dev/exit-code"
RUN_SECONDS_ANNOTATION = "hollow.kubeprov.dev/run-seconds"
DEAD_ANNOTATION = "hollow.kubeprov.dev/dead"
FAIL_ANNOTATION = "hollow.kubeprov.dev/fail"
# "true" on a Pod: its readiness probes fail (containers not ready) until the annotation goes
UNREADY_ANNOTATION = "hollow.kubeprov.dev/unready"
LEASE_NAMESPACE = "kube-node-lease"
LEASE_DURATION_SECONDS = 40
KUBELET_VERSION = "v1.32.0"
KUBELET_PORT = 10250
MAX_RESTART_BACKOFF = 300.0
# a container that exits at once and always restarts must not spin: it waits at least this long
MIN_RESTART_DELAY = 0.1
WRITE_ATTEMPTS = 5
_SHELLS = ("sh", "/bin/sh", "bash", "/bin/bash")
_EXIT_COMMAND = re.compile(r"^\s*exit\s+(\d{1,3})\s*;?\s*$")
_OUR_POD_CONDITIONS = ("PodReadyToStartContainers", "Initialized", "ContainersReady", "Ready", "PodScheduled")


@dataclass
class HollowNodeSpec:
    """What one hollow node looks like; ``internal_ip``/``pod_cidr`` default from its fleet index."""

    name: str
    cpu: str = "4"
    memory: str = "16Gi"
    pods: int = 110
    labels: dict[str, str] = field(default_factory=dict)
    taints: list[Obj] = field(default_factory=list)
    zone: str | None = None
    ephemeral_storage: str = "100Gi"
    internal_ip: str | None = None
    pod_cidr: str | None = None


@dataclass(frozen=True)
class HollowConfig:
    """Timings shared by a fleet's nodes (seconds)."""

    lease_interval: float = 10.0
    status_interval: float = 60.0
    startup_delay: float = 0.0
    stop_delay: float = 0.0
    restart_backoff: float = 10.0


def default_internal_ip(index: int) -> str:
    """10.240.0.1, 10.240.0.2, ... (10.240.0.0/14, clear of the 10.244+ pod CIDRs)."""
    return str(ipaddress.IPv4Address("10.240.0.0") + index + 1)


def default_pod_cidr(index: int) -> str:
    """10.244.<index>.0/24, then 10.245.x.0/24 and so on."""
    return f"10.{244 + index // 256}.{index % 256}.0/24"


class _IPPool:
    """Pod IPs from one CIDR: lowest free host address, the first one (the gateway) kept back."""

    def __init__(self, cidr: str) -> None:
        self.network = ipaddress.ip_network(cidr, strict=False)
        self._used: set[int] = set()

    def allocate(self) -> str:
        base = int(self.network.network_address)
        for offset in range(2, self.network.num_addresses - 1):
            if offset not in self._used:
                self._used.add(offset)
                return str(ipaddress.ip_address(base + offset))
        raise RuntimeError(f"no free pod IP in {self.network}")

    def reserve(self, ip: str) -> bool:
        try:
            address = ipaddress.ip_address(ip)
        except ValueError:
            return False
        if address not in self.network:
            return False
        offset = int(address) - int(self.network.network_address)
        if offset in self._used:
            return False
        self._used.add(offset)
        return True

    def release(self, ip: str) -> None:
        with contextlib.suppress(ValueError):
            address = ipaddress.ip_address(ip)
            if address in self.network:
                self._used.discard(int(address) - int(self.network.network_address))


def _exit_plan(pod: Obj, container: Obj) -> tuple[int | None, float]:
    """(exit code or None for "runs until stopped", seconds it runs before exiting)."""
    annotations = (pod.get("metadata") or {}).get("annotations") or {}
    code: int | None = None
    argv = [str(a) for a in (container.get("command") or []) + (container.get("args") or [])]
    if len(argv) == 3 and argv[0] in _SHELLS and argv[1] == "-c":
        match = _EXIT_COMMAND.match(argv[2])
        if match:
            code = int(match.group(1))
    seconds = 0.0
    if RUN_SECONDS_ANNOTATION in annotations:
        try:
            seconds = max(0.0, float(annotations[RUN_SECONDS_ANNOTATION]))
            if code is None:
                code = 0
        except (TypeError, ValueError):
            log.warning("pod %s: bad %s annotation", (pod.get("metadata") or {}).get("name"), RUN_SECONDS_ANNOTATION)
    if EXIT_CODE_ANNOTATION in annotations:
        try:
            code = int(annotations[EXIT_CODE_ANNOTATION]) & 0xFF
        except (TypeError, ValueError):
            log.warning("pod %s: bad %s annotation", (pod.get("metadata") or {}).get("name"), EXIT_CODE_ANNOTATION)
    return code, seconds


def _quantity(text: Any) -> Quantity | None:
    try:
        return Quantity.parse(str(text))
    except (TypeError, ValueError):
        return None


def pod_requests(pod: Obj) -> dict[str, int]:
    """cpu (millicores) and memory (bytes) the pod asks for: the larger of its containers' sum and
    any one init container, plus its overhead, as the kubelet's admission counts them."""
    spec = pod.get("spec") or {}

    def of(containers: list[Obj]) -> list[dict[str, int]]:
        out = []
        for c in containers:
            requests = (c.get("resources") or {}).get("requests") or {}
            cpu, memory = _quantity(requests.get("cpu", "0")), _quantity(requests.get("memory", "0"))
            out.append({"cpu": cpu.milli_value() if cpu else 0, "memory": memory.value() if memory else 0})
        return out

    total = {"cpu": 0, "memory": 0}
    for entry in of(spec.get("containers") or []):
        for key in total:
            total[key] += entry[key]
    for entry in of(spec.get("initContainers") or []):
        for key in total:
            total[key] = max(total[key], entry[key])
    for key, text in (spec.get("overhead") or {}).items():
        q = _quantity(text)
        if key in total and q is not None:
            total[key] += q.milli_value() if key == "cpu" else q.value()
    return total


def _image_id(image: str) -> str:
    repo = image.split("@", 1)[0]
    if ":" in repo.rsplit("/", 1)[-1]:
        repo = repo.rsplit(":", 1)[0]
    if "/" not in repo:
        repo = f"docker.io/library/{repo}"
    return f"{repo}@sha256:{hashlib.sha256(image.encode()).hexdigest()}"


def _ready_of(status: Obj | None) -> str:
    """The status of a pod status's Ready condition ("" without one)."""
    for c in (status or {}).get("conditions") or []:
        if c.get("type") == "Ready":
            return str(c.get("status") or "")
    return ""


def _rv(obj: Obj | None) -> int:
    try:
        return int(((obj or {}).get("metadata") or {}).get("resourceVersion") or 0)
    except ValueError:
        return 0


@dataclass
class _Container:
    name: str
    image: str
    exit_code: int | None
    run_seconds: float
    ready_delay: float
    restart_count: int = 0
    state: str = "waiting"  # waiting | running | terminated
    reason: str = "ContainerCreating"
    message: str = ""
    container_id: str = ""
    started_at: str = ""
    ready: bool = False
    ready_at: float | None = None
    exit_at: float | None = None
    restart_at: float | None = None
    forced_code: int | None = None
    terminated: Obj | None = None
    last_terminated: Obj | None = None

    def start(self, now: float) -> None:
        self.state, self.reason, self.message = "running", "", ""
        self.container_id = f"hollow://{uuid.uuid4().hex}"
        self.started_at = now_text()
        self.ready = False
        self.ready_at = now + self.ready_delay
        self.exit_at = None if self.exit_code is None else now + self.run_seconds
        self.restart_at = None
        self.terminated = None

    def stop(self, code: int, reason: str = "") -> None:
        self.state, self.ready = "terminated", False
        self.ready_at = self.exit_at = None
        self.terminated = {"exitCode": code, "reason": reason or ("Completed" if code == 0 else "Error"),
                           "startedAt": self.started_at or now_text(), "finishedAt": now_text(),
                           "containerID": self.container_id}

    def status(self) -> Obj:
        if self.state == "running":
            state: Obj = {"running": {"startedAt": self.started_at}}
        elif self.state == "terminated":
            state = {"terminated": dict(self.terminated or {})}
        else:
            state = {"waiting": {"reason": self.reason, **({"message": self.message} if self.message else {})}}
        out: Obj = {"name": self.name, "state": state,
                    "lastState": {"terminated": dict(self.last_terminated)} if self.last_terminated else {},
                    "ready": self.ready, "restartCount": self.restart_count, "image": self.image,
                    "imageID": _image_id(self.image) if self.container_id else "",
                    "started": self.state == "running"}
        if self.container_id:
            out["containerID"] = self.container_id
        return out


class _PodWorker:
    """Drives one pod's life on its node; see the module docstring."""

    def __init__(self, node: HollowNode, pod: Obj) -> None:
        meta, spec = pod["metadata"], pod.get("spec") or {}
        self.node = node
        self.namespace, self.name, self.uid = meta.get("namespace", ""), meta["name"], meta.get("uid", "")
        self.pod = pod
        self.restart_policy = spec.get("restartPolicy") or "Always"
        self.containers = []
        for c in spec.get("containers") or []:
            code, seconds = _exit_plan(pod, c)
            delay = float(((c.get("readinessProbe") or {}).get("initialDelaySeconds")) or 0)
            self.containers.append(_Container(c["name"], c.get("image", ""), code, seconds, delay))
        self.init_containers = [(c["name"], c.get("image", "")) for c in spec.get("initContainers") or []]
        self.wake = asyncio.Event()
        loop = asyncio.get_running_loop()
        self.start_at = loop.time() + node.config.startup_delay
        self.started = False
        self.gone = False
        self.phase = "Pending"
        self.pod_ip = ""
        self.start_time = ""
        self.delete_at: float | None = None
        self.written: Obj | None = None
        # the last hollow.kubeprov.dev/fail value acted on
        self.fail_seen: str | None = None
        # the unready annotation: readiness probes fail
        self.probes_failing = ((pod.get("metadata") or {}).get("annotations") or {}).get(UNREADY_ANNOTATION) == "true"
        self.pending_fail: int | None = None
        # a pod that already ended (seen again only because it is being deleted) is just removed
        self.finished = (pod.get("status") or {}).get("phase") in ("Succeeded", "Failed")
        self.terminal = self.finished
        self.requests = pod_requests(pod)
        # (reason, message) when the node's admission refused the pod (OutOfcpu, OutOfpods, ...)
        self.rejected: tuple[str, str] | None = None if self.finished else node.admit(self)
        self._adopt(pod)
        self.start_time = self.start_time or now_text()
        self.task = asyncio.create_task(self._run(), name=f"hollow pod {self.namespace}/{self.name}")

    def _adopt(self, pod: Obj) -> None:
        """Carry over what an earlier kubelet (another fleet run) already reported: IP, start, restarts."""
        status = pod.get("status") or {}
        ip = status.get("podIP") or ""
        if ip and not self.finished and self.node.ip_pool.reserve(ip):
            self.pod_ip = ip
        self.start_time = status.get("startTime") or ""
        counts = {s.get("name"): int(s.get("restartCount") or 0) for s in status.get("containerStatuses") or []}
        for c in self.containers:
            c.restart_count = counts.get(c.name, 0)

    # ---- events from the node --------------------------------------------------------------

    def update(self, pod: Obj) -> None:
        if _rv(pod) >= _rv(self.pod):
            self.pod = pod
            if self.written is not None and _ready_of(pod.get("status")) != _ready_of(self.written):
                # someone else changed what we own (the node controller marked the pod NotReady while this
                # node was dead): post our status again, as the kubelet's status manager does
                self.written = None
                self.wake.set()
        meta = pod.get("metadata") or {}
        self._fail_on_request(meta.get("annotations") or {})
        unready = (meta.get("annotations") or {}).get(UNREADY_ANNOTATION) == "true"
        if unready != self.probes_failing:
            self.probes_failing = unready
            self.wake.set()
        if meta.get("deletionTimestamp") and self.delete_at is None:
            grace = float(meta.get("deletionGracePeriodSeconds") or 0)
            self.delete_at = asyncio.get_running_loop().time() + min(grace, self.node.config.stop_delay)
            self.wake.set()

    def _fail_on_request(self, annotations: dict[str, str]) -> None:
        """The ``hollow.kubeprov.dev/fail`` annotation: fail once per new value (the first one seen included)."""
        value = annotations.get(FAIL_ANNOTATION)
        if value is None or value == self.fail_seen:
            return
        self.fail_seen = value
        try:
            code = int(value) & 0xFF
        except ValueError:
            log.warning("pod %s/%s: bad %s annotation", self.namespace, self.name, FAIL_ANNOTATION)
            return
        self.fail(code)

    def fail(self, exit_code: int) -> None:
        """Running containers exit with ``exit_code`` now; before they started, as soon as they start."""
        running = [c for c in self.containers if c.state == "running"]
        if not running:
            self.pending_fail = exit_code
        for c in running:
            c.forced_code = exit_code
            c.exit_at = asyncio.get_running_loop().time()
        self.wake.set()

    async def cancel(self) -> None:
        self.task.cancel()
        with contextlib.suppress(asyncio.CancelledError):
            await self.task

    # ---- the state machine -----------------------------------------------------------------

    def _advance(self, now: float) -> None:
        if self.terminal:
            return
        if self.rejected is not None:
            self.phase, self.terminal = "Failed", True
            return
        if not self.started:
            if now < self.start_at:
                return
            self.started = True
            if not self.pod_ip:
                self.pod_ip = self.node.ip_pool.allocate()
            self.start_time = self.start_time or now_text()
            for c in self.containers:
                c.start(now)
        if self.pending_fail is not None and any(c.state == "running" for c in self.containers):
            code, self.pending_fail = self.pending_fail, None
            for c in self.containers:
                if c.state == "running":
                    c.forced_code, c.exit_at = code, now
        for c in self.containers:
            if c.state == "running" and c.exit_at is not None and now >= c.exit_at:
                code = c.exit_code if c.forced_code is None else c.forced_code
                c.forced_code = None
                c.stop(code or 0)
                if self.restart_policy == "Always" or (self.restart_policy == "OnFailure" and code != 0):
                    delay = max(min(self.node.config.restart_backoff * 2 ** c.restart_count, MAX_RESTART_BACKOFF),
                                MIN_RESTART_DELAY)
                    c.restart_at = now + delay
                    if delay > 0:
                        c.last_terminated, c.terminated = c.terminated, None
                        c.state, c.reason = "waiting", "CrashLoopBackOff"
                        c.message = (f"back-off {int(delay)}s restarting failed container={c.name} "
                                     f"pod={self.name}_{self.namespace}({self.uid})")
            if c.restart_at is not None and now >= c.restart_at:
                c.last_terminated = c.terminated or c.last_terminated
                c.restart_count += 1
                c.start(now)
            if c.state == "running" and not c.ready and c.ready_at is not None and now >= c.ready_at \
                    and not self.probes_failing:
                c.ready = True
            elif c.ready and self.probes_failing:
                c.ready = False
        if all(c.state == "terminated" and c.restart_at is None for c in self.containers):
            failed = any((c.terminated or {}).get("exitCode") for c in self.containers)
            self.phase = "Failed" if failed else "Succeeded"
            self.terminal = True
            self.node.ip_pool.release(self.pod_ip)
        else:
            self.phase = "Running"

    def _next_wake(self) -> float | None:
        times = [] if self.started else [self.start_at]
        if self.delete_at is not None:
            times.append(self.delete_at)
        if not self.terminal:
            for c in self.containers:
                times.extend(t for t in (c.exit_at, c.restart_at, None if c.ready else c.ready_at) if t is not None)
        return min(times) if times else None

    def _desired(self) -> Obj:
        """The status fields this kubelet owns (conditions without transition times)."""
        if self.rejected is not None:
            reason, message = self.rejected
            return {"phase": "Failed", "reason": reason, "message": message, "startTime": self.start_time,
                    "conditions": [{"type": "PodScheduled", "status": "True", "lastProbeTime": None}]}
        statuses = [c.status() for c in self.containers]
        unready = [c.name for c in self.containers if not c.ready]
        gates = [g.get("conditionType") for g in (self.pod.get("spec") or {}).get("readinessGates") or []]
        existing = {c.get("type"): c.get("status") for c in (self.pod.get("status") or {}).get("conditions") or []}
        gates_ok = all(existing.get(g) == "True" for g in gates)
        conditions: list[Obj] = []

        def cond(kind: str, ok: bool, reason: str = "", message: str = "") -> None:
            entry: Obj = {"type": kind, "status": "True" if ok else "False", "lastProbeTime": None}
            if not ok and reason:
                entry["reason"] = reason
                if message:
                    entry["message"] = message
            conditions.append(entry)

        cond("PodReadyToStartContainers", self.started and not self.terminal)
        pending_init = [n for n, _ in self.init_containers] if not self.started else []
        cond("Initialized", not pending_init, "ContainersNotInitialized",
             f"containers with incomplete status: [{' '.join(pending_init)}]")
        not_ready = "PodCompleted" if self.terminal else "ContainersNotReady"
        message = "" if self.terminal else f"containers with unready status: [{' '.join(unready)}]"
        cond("ContainersReady", not unready, not_ready, message)
        if not unready and not gates_ok:
            cond("Ready", False, "ReadinessGatesNotReady", "the status of pod readiness gate is not \"True\"")
        else:
            cond("Ready", not unready, not_ready, message)
        cond("PodScheduled", True)
        host_ip = self.node.internal_ip
        status: Obj = {"phase": self.phase, "conditions": conditions, "hostIP": host_ip,
                       "hostIPs": [{"ip": host_ip}], "startTime": self.start_time,
                       "containerStatuses": statuses}
        if self.pod_ip:
            status["podIP"] = self.pod_ip
            status["podIPs"] = [{"ip": self.pod_ip}]
        if self.init_containers:
            status["initContainerStatuses"] = [
                {"name": n, "image": image, "imageID": _image_id(image) if self.started else "",
                 "ready": self.started, "restartCount": 0, "started": False,
                 "state": {"terminated": {"exitCode": 0, "reason": "Completed", "startedAt": self.start_time,
                                          "finishedAt": self.start_time}} if self.started
                 else {"waiting": {"reason": "PodInitializing"}}, "lastState": {}}
                for n, image in self.init_containers]
        return status

    # ---- API writes ------------------------------------------------------------------------

    def _latest(self) -> Obj:
        cached = self.node.cached_pod(self.namespace, self.name)
        if cached is not None and (cached.get("metadata") or {}).get("uid") == self.uid and _rv(cached) > _rv(self.pod):
            self.pod = cached
        return self.pod

    def _merge(self, pod: Obj, desired: Obj) -> Obj:
        status = copy.deepcopy(pod.get("status") or {})
        before = {c.get("type"): c for c in status.get("conditions") or []}
        stamp = now_text()
        ours = []
        for c in desired["conditions"]:
            old = before.get(c["type"]) or {}
            transition = old.get("lastTransitionTime") if old.get("status") == c["status"] else None
            ours.append({**c, "lastTransitionTime": transition or stamp})
        others = [c for c in status.get("conditions") or [] if c.get("type") not in _OUR_POD_CONDITIONS]
        status.update(desired)
        status["conditions"] = ours + others
        return {**pod, "status": status}

    async def _write(self, desired: Obj) -> None:
        client = self.node.client
        pod = self._latest()
        for _ in range(WRITE_ATTEMPTS):
            try:
                self.pod = await client.update("v1", "pods", self._merge(pod, desired), self.namespace,
                                               subresource="status")
                self.written = desired
                return
            except StatusError as exc:
                if exc.code == 404:
                    self.gone = True
                    return
                if exc.code != 409:
                    raise
            pod = await client.get("v1", "pods", self.name, self.namespace)
            if (pod.get("metadata") or {}).get("uid") != self.uid:
                self.gone = True
                return
            self.pod = pod
        raise RuntimeError(f"pod {self.namespace}/{self.name}: status update kept conflicting")

    async def _finish_deletion(self) -> None:
        """Stop what still runs, report it, then remove the pod for good (grace 0)."""
        if self.started and not self.terminal and not self.finished:
            for c in self.containers:
                if c.state == "running":
                    c.stop(0)
                c.restart_at = None
                if c.state != "terminated":
                    c.state, c.terminated = "terminated", c.terminated or c.last_terminated or {
                        "exitCode": 0, "reason": "Completed", "startedAt": self.start_time or now_text(),
                        "finishedAt": now_text(), "containerID": c.container_id}
            self._advance(asyncio.get_running_loop().time())
            with contextlib.suppress(StatusError):
                await self._write(self._desired())
        if self.gone:
            return
        try:
            await self.node.client.delete("v1", "pods", self.name, self.namespace, grace_period_seconds=0,
                                          preconditions={"uid": self.uid})
        except StatusError as exc:
            if exc.code not in (404, 409):
                raise
        self.gone = True

    async def _run(self) -> None:
        loop = asyncio.get_running_loop()
        failures = 0
        while not self.gone:
            self.wake.clear()
            await self.node.alive_event.wait()
            try:
                now = loop.time()
                self._advance(now)
                if self.delete_at is not None and now >= self.delete_at:
                    await self._finish_deletion()
                    return
                desired = None if self.finished else self._desired()
                if desired is not None and desired != self.written:
                    await self._write(desired)
                failures = 0
            except asyncio.CancelledError:
                raise
            except Exception as exc:  # an API hiccup: retry with backoff, as the kubelet does
                failures += 1
                log.warning("hollow pod %s/%s: %r", self.namespace, self.name, exc)
                await asyncio.sleep(min(0.2 * 2 ** failures, 5.0))
                continue
            wake_at = self._next_wake()
            timeout = None if wake_at is None else max(0.0, wake_at - loop.time())
            with contextlib.suppress(TimeoutError):
                await asyncio.wait_for(self.wake.wait(), timeout)


class HollowNode:
    """One simulated kubelet; made and driven by :class:`~kubeprov.hollow.fleet.HollowFleet`."""

    def __init__(self, client: ApiClient, spec: HollowNodeSpec, index: int, config: HollowConfig,
                 cached_pod: Callable[[str, str], Obj | None] | None = None) -> None:
        self.client = client
        self.spec = spec
        self.name = spec.name
        self.index = index
        self.config = config
        self.internal_ip = spec.internal_ip or default_internal_ip(index)
        self.pod_cidr = spec.pod_cidr or default_pod_cidr(index)
        self.ip_pool = _IPPool(self.pod_cidr)
        self._cached_pod = cached_pod
        self.boot_id = str(uuid.uuid4())
        self.uid = ""
        self.registered = False
        self.api_node: Obj | None = None
        self.alive_event = asyncio.Event()
        self.alive_event.set()
        self.dead_by_annotation = False
        self.workers: dict[str, _PodWorker] = {}
        self.lease_renewals = 0
        self.status_updates = 0
        self.registrations = 0
        self._lease: Obj | None = None
        self._wake = asyncio.Event()
        self._status_needed = False
        self._renew_now = False
        self._task: asyncio.Task[None] | None = None
        self.started = False

    def __repr__(self) -> str:
        return f"<HollowNode {self.name}>"

    @property
    def alive(self) -> bool:
        return self.alive_event.is_set()

    def cached_pod(self, namespace: str, name: str) -> Obj | None:
        return self._cached_pod(namespace, name) if self._cached_pod is not None else None

    # ---- the Node object -------------------------------------------------------------------

    def labels(self) -> dict[str, str]:
        labels = {"kubernetes.io/hostname": self.name, "kubernetes.io/os": "linux", "kubernetes.io/arch": "amd64",
                  "beta.kubernetes.io/os": "linux", "beta.kubernetes.io/arch": "amd64"}
        if self.spec.zone:
            labels["topology.kubernetes.io/zone"] = self.spec.zone
        labels.update(self.spec.labels)
        return labels

    def _conditions(self) -> list[Obj]:
        beat = now_text()
        before = {c.get("type"): c for c in ((self.api_node or {}).get("status") or {}).get("conditions") or []}
        out = []
        for kind, ok, reason, message in (
            ("MemoryPressure", "False", "KubeletHasSufficientMemory", "kubelet has sufficient memory available"),
            ("DiskPressure", "False", "KubeletHasNoDiskPressure", "kubelet has no disk pressure"),
            ("PIDPressure", "False", "KubeletHasSufficientPID", "kubelet has sufficient PID available"),
            ("Ready", "True", "KubeletReady", "kubelet is posting ready status"),
        ):
            old = before.get(kind) or {}
            transition = old.get("lastTransitionTime") if old.get("status") == ok else None
            out.append({"type": kind, "status": ok, "lastHeartbeatTime": beat,
                        "lastTransitionTime": transition or beat, "reason": reason, "message": message})
        return out

    def node_status(self) -> Obj:
        capacity = {"cpu": self.spec.cpu, "memory": self.spec.memory, "pods": str(self.spec.pods),
                    "ephemeral-storage": self.spec.ephemeral_storage, "hugepages-1Gi": "0", "hugepages-2Mi": "0"}
        machine = hashlib.md5(self.name.encode(), usedforsecurity=False).hexdigest()
        return {
            "capacity": capacity,
            "allocatable": dict(capacity),
            "conditions": self._conditions(),
            "addresses": [{"type": "InternalIP", "address": self.internal_ip},
                          {"type": "Hostname", "address": self.name}],
            "daemonEndpoints": {"kubeletEndpoint": {"Port": KUBELET_PORT}},
            "nodeInfo": {"machineID": machine, "systemUUID": str(uuid.UUID(machine)), "bootID": self.boot_id,
                         "kernelVersion": "6.1.0-hollow", "osImage": "kubeprov hollow",
                         "containerRuntimeVersion": "hollow://1.0", "kubeletVersion": KUBELET_VERSION,
                         "kubeProxyVersion": "", "operatingSystem": "linux", "architecture": "amd64"},
            "images": [],
        }

    def node_object(self) -> Obj:
        spec: Obj = {}
        if self.spec.taints:
            spec["taints"] = [dict(t) for t in self.spec.taints]
        return {"apiVersion": "v1", "kind": "Node",
                "metadata": {"name": self.name, "labels": self.labels(),
                             "annotations": {"node.alpha.kubernetes.io/ttl": "0",
                                             "volumes.kubernetes.io/controller-managed-attach-detach": "true"}},
                "spec": spec, "status": self.node_status()}

    # ---- API writes ------------------------------------------------------------------------

    async def register(self) -> None:
        """Create the Node, or take over an existing one of the same name and post its status."""
        try:
            created = await self.client.create("v1", "nodes", self.node_object())
            self._took(created)
        except StatusError as exc:
            if exc.code != 409:
                raise
            existing = await self.client.get("v1", "nodes", self.name)
            self._took(existing)
            await self.post_status()
        await self.renew_lease()
        self.registered = True
        self.registrations += 1

    def _took(self, node: Obj) -> None:
        self.api_node = node
        self.uid = node["metadata"].get("uid", "")
        cidr = (node.get("spec") or {}).get("podCIDR")
        if cidr and cidr != self.pod_cidr and not self.workers and not self.spec.pod_cidr:
            self.pod_cidr = cidr
            self.ip_pool = _IPPool(cidr)

    async def post_status(self) -> None:
        patch = {"status": self.node_status()}
        try:
            node = await self.client.patch("v1", "nodes", self.name, patch, subresource="status")
        except StatusError as exc:
            if exc.code == 404:
                self.registered = False
            raise
        self.api_node = node
        self.status_updates += 1
        self._status_needed = False

    async def renew_lease(self) -> None:
        """Update ``kube-node-lease/<node>`` with a new renewTime (created when missing)."""
        api = "coordination.k8s.io/v1"
        owner = [{"apiVersion": "v1", "kind": "Node", "name": self.name, "uid": self.uid}] if self.uid else []
        for _ in range(3):
            lease = self._lease
            if lease is None:
                try:
                    lease = await self.client.get(api, "leases", self.name, LEASE_NAMESPACE)
                except StatusError as exc:
                    if exc.code != 404:
                        raise
                    body = {"apiVersion": api, "kind": "Lease",
                            "metadata": {"name": self.name, "namespace": LEASE_NAMESPACE, "ownerReferences": owner},
                            "spec": {"holderIdentity": self.name, "leaseDurationSeconds": LEASE_DURATION_SECONDS,
                                     "renewTime": micro_now_text()}}
                    try:
                        self._lease = await self.client.create(api, "leases", body, LEASE_NAMESPACE)
                        self.lease_renewals += 1
                        return
                    except StatusError as exc2:
                        if exc2.code != 409:
                            raise
                        continue
            meta = dict(lease.get("metadata") or {})
            if owner:
                meta["ownerReferences"] = owner
            body = {**lease, "apiVersion": api, "kind": "Lease", "metadata": meta,
                    "spec": {**(lease.get("spec") or {}), "holderIdentity": self.name,
                             "leaseDurationSeconds": LEASE_DURATION_SECONDS, "renewTime": micro_now_text()}}
            try:
                self._lease = await self.client.update(api, "leases", body, LEASE_NAMESPACE)
                self.lease_renewals += 1
                return
            except StatusError as exc:
                if exc.code not in (404, 409):
                    raise
                self._lease = None
        raise RuntimeError(f"node {self.name}: could not renew its lease")

    # ---- lifecycle -------------------------------------------------------------------------

    async def start(self) -> None:
        """Register (Node, status, Lease; errors are raised) and start the heartbeat loop."""
        if self._task is not None:
            return
        await self.register()
        self.started = True
        self._task = asyncio.create_task(self._run(), name=f"hollow node {self.name}")

    async def stop(self) -> None:
        tasks = [w.cancel() for w in self.workers.values()]
        await asyncio.gather(*tasks)
        self.workers.clear()
        await cancel_and_wait(self._task)
        self._task = None
        self.started = False

    async def _run(self) -> None:
        loop = asyncio.get_running_loop()
        next_lease = loop.time() + self._jitter(self.config.lease_interval)
        next_status = loop.time() + self.config.status_interval
        failures = 0
        while True:
            await self.alive_event.wait()
            self._wake.clear()
            now = loop.time()
            try:
                if not self.registered:
                    await self.register()
                    next_lease = loop.time() + self._jitter(self.config.lease_interval)
                    next_status = loop.time() + self.config.status_interval
                if now >= next_lease or self._renew_now:
                    self._renew_now = False
                    await self.renew_lease()
                    next_lease = now + self._jitter(self.config.lease_interval)
                if now >= next_status or self._status_needed:
                    await self.post_status()
                    next_status = now + self.config.status_interval
                failures = 0
            except asyncio.CancelledError:
                raise
            except Exception as exc:  # keep heartbeating through API trouble
                failures += 1
                log.warning("hollow node %s: %r", self.name, exc)
                await asyncio.sleep(min(0.2 * 2 ** failures, 7.0, self.config.lease_interval))
                continue
            timeout = max(0.0, min(next_lease, next_status) - loop.time())
            with contextlib.suppress(TimeoutError):
                await asyncio.wait_for(self._wake.wait(), timeout)

    @staticmethod
    def _jitter(interval: float) -> float:
        return interval * random.uniform(0.96, 1.0)

    # ---- test controls ---------------------------------------------------------------------

    def die(self) -> None:
        """Stop heartbeats, status updates and pod work (the node controller will mark it NotReady)."""
        self.alive_event.clear()
        self._wake.set()

    def revive(self) -> None:
        """Heartbeat again at once (lease and status)."""
        self.dead_by_annotation = False
        self._status_needed = self._renew_now = True
        self.alive_event.set()
        self._wake.set()

    def fail_pod(self, namespace: str, name: str, exit_code: int = 1) -> None:
        """Make the pod's running containers exit with ``exit_code`` now (restartPolicy applies)."""
        worker = self.workers.get(f"{namespace}/{name}")
        if worker is None:
            raise LookupError(f"pod {namespace}/{name} does not run on {self.name}")
        worker.fail(exit_code)

    def admit(self, worker: _PodWorker) -> tuple[str, str] | None:
        """The kubelet's resource admission: None, or (reason, message) for a pod that does not fit."""
        active = [w for w in self.workers.values() if w is not worker and not w.terminal]
        capacity = {"pods": self.spec.pods}
        for key, text in (("cpu", self.spec.cpu), ("memory", self.spec.memory)):
            q = _quantity(text)
            capacity[key] = (q.milli_value() if key == "cpu" else q.value()) if q is not None else 0
        wanted = {"pods": 1, **worker.requests}
        for key in ("pods", "cpu", "memory"):
            used = len(active) if key == "pods" else sum(w.requests[key] for w in active)
            if wanted[key] and used + wanted[key] > capacity[key]:
                return (f"OutOf{key}", f"Pod was rejected: Node didn't have enough resource: {key}, requested: "
                                     f"{wanted[key]}, used: {used}, capacity: {capacity[key]}")
        return None

    # ---- events from the fleet's informers -------------------------------------------------

    def pod_event(self, pod: Obj) -> None:
        meta = pod.get("metadata") or {}
        key = f"{meta.get('namespace', '')}/{meta.get('name', '')}"
        worker = self.workers.get(key)
        if worker is not None and worker.uid != meta.get("uid"):
            self._drop(key)
            worker = None
        if worker is None:
            if (pod.get("status") or {}).get("phase") in ("Succeeded", "Failed") and not meta.get(
                    "deletionTimestamp"):
                return
            worker = self.workers[key] = _PodWorker(self, pod)
        worker.update(pod)

    def pod_deleted(self, pod: Obj) -> None:
        meta = pod.get("metadata") or {}
        key = f"{meta.get('namespace', '')}/{meta.get('name', '')}"
        worker = self.workers.get(key)
        if worker is not None and worker.uid == meta.get("uid"):
            self._drop(key)

    def _drop(self, key: str) -> None:
        worker = self.workers.pop(key)
        worker.gone = True
        worker.task.cancel()
        if not worker.terminal:
            self.ip_pool.release(worker.pod_ip)

    def node_event(self, node: Obj) -> None:
        """The API's copy changed: post status if it no longer says what we say (e.g. Unknown)."""
        if not self.started or (node.get("metadata") or {}).get("uid") != self.uid:
            return
        self.api_node = node
        dead = ((node.get("metadata") or {}).get("annotations") or {}).get(DEAD_ANNOTATION) == "true"
        if dead and self.alive:
            log.info("hollow node %s: told to die (%s)", self.name, DEAD_ANNOTATION)
            self.die()
            self.dead_by_annotation = True
        elif not dead and self.dead_by_annotation:
            # only a death the annotation caused is undone by removing it (die() from code stays)
            log.info("hollow node %s: revived", self.name)
            self.revive()
        ready = [c for c in (node.get("status") or {}).get("conditions") or [] if c.get("type") == "Ready"]
        if self.alive and (not ready or ready[0].get("status") != "True"):
            self._status_needed = True
            self._wake.set()

    def node_deleted(self, node: Obj) -> None:
        if (node.get("metadata") or {}).get("uid") == self.uid and self.started:
            self.registered = False
            self.api_node = None
            self._lease = None
            self._wake.set()
