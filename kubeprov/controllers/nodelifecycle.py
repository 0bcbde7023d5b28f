"""The node lifecycle controller: node health from Leases, condition taints, taint-based eviction.

As in Kubernetes 1.32:

* every ``monitor_period`` each node's health is checked: the probe time moves whenever the
  kubelet renews ``kube-node-lease/<node>`` or posts a new Ready heartbeat; a node not heard from
  for ``node_monitor_grace_period`` (``node_startup_grace_period`` if it never posted a Ready
  condition) gets its Ready, MemoryPressure, DiskPressure and PIDPressure
  conditions set to Unknown (``NodeStatusUnknown``, "Kubelet stopped posting node status.");
* pods on a node whose Ready condition is not True are marked NotReady (pod condition Ready=False);
* NoSchedule taints follow the node's conditions (``node.kubernetes.io/not-ready``, ``unreachable``,
  ``memory-pressure``, ``disk-pressure``, ``pid-pressure``, ``network-unavailable``,
  ``unschedulable``);
* the NoExecute taints ``not-ready``/``unreachable`` (with ``timeAdded``) are added through a per-zone
  queue rate-limited to ``eviction_rate`` nodes per second (``secondary_eviction_rate`` in a large zone
  in partial disruption, none in a small one); when every zone is fully disrupted no node is tainted
  and existing NoExecute taints are removed. A recovered node loses them at once;
* taint eviction (the taint-eviction controller's work): a pod that does not tolerate one of its
  node's NoExecute taints is deleted at once, one that tolerates them all for at most
  ``tolerationSeconds`` is deleted that long after the controller saw it tainted, with a
  ``DisruptionTarget`` condition added first.

``node_filter`` restricts the controller to the nodes whose name it accepts.
"""

from __future__ import annotations

import asyncio
import contextlib
import copy
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

from kubeprov.api.status import StatusError
from kubeprov.controllers.base import Controller, Obj, key_of, meta, split_key
from kubeprov.controllers.timestamps import now_text

LEASE_NAMESPACE = "kube-node-lease"
NOT_READY = "node.kubernetes.io/not-ready"
UNREACHABLE = "node.kubernetes.io/unreachable"
UNSCHEDULABLE = "node.kubernetes.io/unschedulable"
NO_SCHEDULE, NO_EXECUTE = "NoSchedule", "NoExecute"
# condition type -> {status: taint key} for the NoSchedule taints that mirror conditions
CONDITION_TAINTS: dict[str, dict[str, str]] = {
    "Ready": {"False": NOT_READY, "Unknown": UNREACHABLE},
    "MemoryPressure": {"True": "node.kubernetes.io/memory-pressure"},
    "DiskPressure": {"True": "node.kubernetes.io/disk-pressure"},
    "NetworkUnavailable": {"True": "node.kubernetes.io/network-unavailable"},
    "PIDPressure": {"True": "node.kubernetes.io/pid-pressure"},
}
MANAGED_NO_SCHEDULE = {k for m in CONDITION_TAINTS.values() for k in m.values()} | {UNSCHEDULABLE}
KUBELET_CONDITIONS = ("Ready", "MemoryPressure", "DiskPressure", "PIDPressure")
ZONE_LABELS = (("topology.kubernetes.io/region", "failure-domain.beta.kubernetes.io/region"),
               ("topology.kubernetes.io/zone", "failure-domain.beta.kubernetes.io/zone"))
NODE_NAME_INDEX = "spec.nodeName"
TAINTING_PERIOD = 0.1
CONFLICT_ATTEMPTS = 5

STATE_NORMAL, STATE_PARTIAL, STATE_FULL = "Normal", "PartialDisruption", "FullDisruption"


def condition(obj: Obj, kind: str) -> Obj | None:
    for cond in (obj.get("status") or {}).get("conditions") or []:
        if cond.get("type") == kind:
            return cond
    return None


def ready_status(node: Obj) -> str:
    cond = condition(node, "Ready")
    return (cond or {}).get("status") or "Unknown"


def zone_of(node: Obj) -> str:
    """Kubernetes' zone key: region and zone labels joined by ``:\\x00:`` (empty when unlabelled)."""
    node_labels = meta(node).get("labels") or {}
    region, zone = (node_labels.get(ga) or node_labels.get(beta) or "" for ga, beta in ZONE_LABELS)
    return f"{region}:\x00:{zone}" if region or zone else ""


def tolerates(toleration: Obj, taint: Obj) -> bool:
    """``ToleratesTaint``: effect (empty matches all), key (empty with Exists matches all), operator."""
    if toleration.get("effect") and toleration.get("effect") != taint.get("effect"):
        return False
    if toleration.get("key") and toleration.get("key") != taint.get("key"):
        return False
    operator = toleration.get("operator") or "Equal"
    if operator == "Exists":
        return True
    if operator == "Equal":
        return (toleration.get("value") or "") == (taint.get("value") or "")
    return False


def matching_tolerations(tolerations: list[Obj], taints: list[Obj]) -> list[Obj] | None:
    """The first toleration matching each taint, or None when some taint is not tolerated."""
    used = []
    for taint in taints:
        match = next((t for t in tolerations if tolerates(t, taint)), None)
        if match is None:
            return None
        used.append(match)
    return used


def min_toleration_seconds(tolerations: list[Obj]) -> float | None:
    """The shortest ``tolerationSeconds`` (negative counts as 0); None when all tolerate forever."""
    seconds = [max(0, int(t["tolerationSeconds"])) for t in tolerations if t.get("tolerationSeconds") is not None]
    return float(min(seconds)) if seconds else None


def compute_zone_state(ready: list[str], threshold: float) -> str:
    ready_nodes = sum(1 for s in ready if s == "True")
    not_ready = len(ready) - ready_nodes
    if ready_nodes == 0 and not_ready > 0:
        return STATE_FULL
    if not_ready > 2 and not_ready / len(ready) >= threshold:
        return STATE_PARTIAL
    return STATE_NORMAL


class TokenBucket:
    """A token bucket of ``qps`` (0: never) with ``burst`` tokens, full when made."""

    def __init__(self, qps: float, burst: int = 1) -> None:
        self.qps, self.burst = qps, burst
        self.tokens = float(burst)
        self.last = 0.0

    def try_accept(self, now: float) -> bool:
        if self.qps <= 0:
            return False
        if self.last:
            self.tokens = min(float(self.burst), self.tokens + (now - self.last) * self.qps)
        self.last = now
        if self.tokens >= 1.0:
            self.tokens -= 1.0
            return True
        return False


@dataclass
class _Health:
    probe: float
    renew_time: str = ""
    heartbeat: str = ""
    ready: str = ""


@dataclass
class _Zone:
    limiter: TokenBucket
    state: str = STATE_NORMAL
    queue: dict[str, None] = field(default_factory=dict)  # nodes waiting for a NoExecute taint, in order


class NodeLifecycleController(Controller):
    name = "nodelifecycle"

    def __init__(self, *args: Any, node_monitor_grace_period: float = 40.0, node_monitor_period: float = 5.0,
                 node_startup_grace_period: float = 60.0,
                 eviction_rate: float = 0.1, secondary_eviction_rate: float = 0.01,
                 large_cluster_threshold: int = 50, unhealthy_zone_threshold: float = 0.55,
                 node_filter: Callable[[str], bool] | None = None, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        self.grace = node_monitor_grace_period
        self.startup_grace = node_startup_grace_period
        self.monitor_period = node_monitor_period
        self.eviction_rate = eviction_rate
        self.secondary_eviction_rate = secondary_eviction_rate
        self.large_cluster_threshold = large_cluster_threshold
        self.unhealthy_zone_threshold = unhealthy_zone_threshold
        self.node_filter = node_filter
        self.health: dict[str, _Health] = {}
        self.zones: dict[str, _Zone] = {}
        self.evictions: dict[str, tuple[float, float]] = {}  # pod key -> (start, trigger) on the loop clock
        self.disruption_mode = False
        self._taint_locks: dict[str, asyncio.Lock] = {}  # one read-modify-write of a node's taints at a time
        self.nodes = self.informer("v1", "nodes")
        self.leases = self.informer("coordination.k8s.io/v1", "leases", namespace=LEASE_NAMESPACE)
        self.pods = self.informer("v1", "pods", indexers={NODE_NAME_INDEX: _node_name_index})
        self.nodes.add_handler(on_add=self._node_changed, on_update=self._node_updated, on_delete=self._node_deleted)
        self.pods.add_handler(on_add=self._pod_changed, on_update=lambda _old, new: self._pod_changed(new),
                              on_delete=self._pod_deleted)
        self._loops: list[asyncio.Task[None]] = []

    # ---- filters and event handlers ----------------------------------------------------------

    def wants_node(self, name: str) -> bool:
        return bool(name) and (self.node_filter is None or self.node_filter(name))

    def _pods_on(self, node: str) -> list[Obj]:
        return [p for p in self.pods.by_index(NODE_NAME_INDEX, node) if self.wants(meta(p).get("namespace", ""))]

    def _node_changed(self, node: Obj) -> None:
        name = meta(node).get("name", "")
        if self.wants_node(name):
            self.enqueue(f"node:{name}")
            for pod in self._pods_on(name):
                self.enqueue(f"pod:{key_of(pod)}")

    def _node_updated(self, old: Obj, new: Obj) -> None:
        name = meta(new).get("name", "")
        if not self.wants_node(name):
            return
        if (old.get("spec") or {}) != (new.get("spec") or {}) or \
                (old.get("status") or {}).get("conditions") != (new.get("status") or {}).get("conditions"):
            self.enqueue(f"node:{name}")
        if _no_execute(old) != _no_execute(new):
            for pod in self._pods_on(name):
                self.enqueue(f"pod:{key_of(pod)}")

    def _node_deleted(self, node: Obj) -> None:
        name = meta(node).get("name", "")
        self.health.pop(name, None)
        self._taint_locks.pop(name, None)
        for zone in self.zones.values():
            zone.queue.pop(name, None)

    def _pod_changed(self, pod: Obj) -> None:
        node = (pod.get("spec") or {}).get("nodeName") or ""
        if self.wants_node(node) and self.wants(meta(pod).get("namespace", "")):
            self.enqueue(f"pod:{key_of(pod)}")

    def _pod_deleted(self, pod: Obj) -> None:
        self.evictions.pop(key_of(pod), None)

    # ---- lifecycle -------------------------------------------------------------------------

    async def start(self, sync_timeout: float | None = None) -> None:
        await super().start(sync_timeout)
        self._loops = [asyncio.create_task(self._monitor_loop(), name="nodelifecycle-monitor"),
                       asyncio.create_task(self._tainting_loop(), name="nodelifecycle-tainting")]

    async def stop(self) -> None:
        loops, self._loops = self._loops, []
        for task in loops:
            task.cancel()
        await asyncio.gather(*loops, return_exceptions=True)
        await super().stop()

    def _now(self) -> float:
        return asyncio.get_running_loop().time()

    async def _monitor_loop(self) -> None:
        while True:
            try:
                await self.monitor_node_health()
            except asyncio.CancelledError:
                raise
            except Exception as exc:
                self.log.warning("monitoring node health failed: %s", exc)
            await asyncio.sleep(self.monitor_period)

    async def _tainting_loop(self) -> None:
        while True:
            try:
                await self.no_execute_tainting_pass()
            except asyncio.CancelledError:
                raise
            except Exception as exc:
                self.log.warning("NoExecute tainting failed: %s", exc)
            await asyncio.sleep(TAINTING_PERIOD)

    # ---- node health -----------------------------------------------------------------------

    async def monitor_node_health(self) -> None:
        nodes = [n for n in self.nodes.list() if self.wants_node(meta(n).get("name", ""))]
        zone_ready: dict[str, list[str]] = {}
        for node in nodes:
            name = meta(node)["name"]
            try:
                node = await self._update_health(node)
            except StatusError as exc:
                self.log.warning("node %s: could not update its health: %s", name, exc.message)
            ready = ready_status(node)
            zone_ready.setdefault(zone_of(node), []).append(ready)
            if ready != "True":
                await self._mark_pods_not_ready(name)
            if not self.disruption_mode:
                self._process_taint_based_eviction(node, ready)
        self._handle_disruption(zone_ready, nodes)

    async def _update_health(self, node: Obj) -> Obj:
        name = meta(node)["name"]
        now = self._now()
        health = self.health.get(name)
        if health is None:
            health = self.health[name] = _Health(probe=now)
        lease = self.leases.get(LEASE_NAMESPACE, name)
        renew = ((lease or {}).get("spec") or {}).get("renewTime") or ""
        if renew and renew != health.renew_time:
            health.renew_time, health.probe = renew, now
        ready = condition(node, "Ready") or {}
        beat = f"{ready.get('lastHeartbeatTime')}/{ready.get('status')}"
        if beat != health.heartbeat:
            # a kubelet status post (not our own Unknown, which keeps the heartbeat time)
            if health.heartbeat and ready.get("reason") != "NodeStatusUnknown":
                health.probe = now
            health.heartbeat = beat
        # a node that never posted a Ready condition gets the (longer) startup grace period
        grace = self.grace if condition(node, "Ready") is not None else self.startup_grace
        if now <= health.probe + grace:
            return node
        if all((condition(node, k) or {}).get("status") == "Unknown" for k in KUBELET_CONDITIONS):
            return node
        return await self._set_unknown(node)

    async def _set_unknown(self, node: Obj) -> Obj:
        name = meta(node)["name"]
        for _ in range(CONFLICT_ATTEMPTS):
            new = copy.deepcopy(node)
            stamp = now_text()
            conditions = (new.setdefault("status", {})).setdefault("conditions", [])
            for kind in KUBELET_CONDITIONS:
                cond = next((c for c in conditions if c.get("type") == kind), None)
                if cond is None:
                    conditions.append({"type": kind, "status": "Unknown", "reason": "NodeStatusNeverUpdated",
                                       "message": "Kubelet never posted node status.",
                                       "lastHeartbeatTime": meta(node).get("creationTimestamp"),
                                       "lastTransitionTime": stamp})
                elif cond.get("status") != "Unknown":
                    cond.update(status="Unknown", reason="NodeStatusUnknown",
                                message="Kubelet stopped posting node status.", lastTransitionTime=stamp)
            try:
                updated = await self.client.update("v1", "nodes", new, subresource="status")
            except StatusError as exc:
                if exc.code != 409:
                    raise
                node = await self.client.get("v1", "nodes", name)
                if ready_status(node) == "Unknown":
                    return node
                continue
            self.log.info("node %s: Kubelet stopped posting node status; Ready is Unknown", name)
            self.event(node, "Normal", "NodeNotReady", f"Node {name} status is now: NodeNotReady")
            return updated
        raise RuntimeError(f"node {name}: too many conflicts")

    async def _mark_pods_not_ready(self, node_name: str) -> None:
        for pod in self._pods_on(node_name):
            cond = condition(pod, "Ready")
            if cond is None or cond.get("status") == "False" or meta(pod).get("deletionTimestamp"):
                continue
            new = copy.deepcopy(pod)
            for c in new["status"]["conditions"]:
                if c.get("type") == "Ready":
                    c["status"] = "False"
                    c["lastTransitionTime"] = now_text()
            try:
                await self.client.update("v1", "pods", new, meta(pod)["namespace"], subresource="status")
            except StatusError as exc:
                if exc.code not in (404, 409):
                    self.log.warning("pod %s: could not mark it NotReady: %s", key_of(pod), exc.message)
                continue
            self.event(pod, "Warning", "NodeNotReady", "Node is not ready")

    # ---- zones and NoExecute taints ----------------------------------------------------------

    def _zone(self, name: str) -> _Zone:
        zone = self.zones.get(name)
        if zone is None:
            zone = self.zones[name] = _Zone(TokenBucket(self.eviction_rate))
        return zone

    def _zone_qps(self, state: str, size: int) -> float:
        if state == STATE_PARTIAL:
            return self.secondary_eviction_rate if size > self.large_cluster_threshold else 0.0
        return self.eviction_rate

    def _process_taint_based_eviction(self, node: Obj, ready: str) -> None:
        name = meta(node)["name"]
        zone = self._zone(zone_of(node))
        if ready in ("False", "Unknown"):
            wanted = NOT_READY if ready == "False" else UNREACHABLE
            if not _has_taint(node, wanted, NO_EXECUTE):
                zone.queue.setdefault(name, None)
        else:
            zone.queue.pop(name, None)
            if _has_taint(node, NOT_READY, NO_EXECUTE) or _has_taint(node, UNREACHABLE, NO_EXECUTE):
                self.enqueue(f"untaint:{name}")

    def _handle_disruption(self, zone_ready: dict[str, list[str]], nodes: list[Obj]) -> None:
        states = {zone: compute_zone_state(ready, self.unhealthy_zone_threshold) for zone, ready in zone_ready.items()}
        all_full = bool(states) and all(s == STATE_FULL for s in states.values())
        if all_full and not self.disruption_mode:
            self.log.warning("all nodes are not Ready: entering disruption mode, no NoExecute tainting")
            self.disruption_mode = True
            for node in nodes:
                self.enqueue(f"untaint:{meta(node)['name']}")
            for zone in self.zones.values():
                zone.queue.clear()
        elif not all_full and self.disruption_mode:
            self.log.info("some nodes are Ready again: leaving disruption mode")
            self.disruption_mode = False
            for zone_name in states:
                zone = self._zone(zone_name)
                zone.state = states[zone_name]
                zone.limiter = TokenBucket(self._zone_qps(zone.state, len(zone_ready[zone_name])))
            return
        if self.disruption_mode:
            # keep every node free of NoExecute taints (also ones a racing tainting pass just wrote)
            for node in nodes:
                if _has_taint(node, NOT_READY, NO_EXECUTE) or _has_taint(node, UNREACHABLE, NO_EXECUTE):
                    self.enqueue(f"untaint:{meta(node)['name']}")
            return
        for zone_name, state in states.items():
            zone = self._zone(zone_name)
            if state != zone.state:
                self.log.info("zone %r: %s -> %s", zone_name.replace("\x00", ""), zone.state, state)
                zone.state = state
                zone.limiter = TokenBucket(self._zone_qps(state, len(zone_ready[zone_name])))

    async def no_execute_tainting_pass(self) -> None:
        now = self._now()
        for zone in list(self.zones.values()):
            while zone.queue and not self.disruption_mode:
                name = next(iter(zone.queue))
                node = self.nodes.get("", name)
                if node is None or not self.wants_node(name):
                    zone.queue.pop(name)
                    continue
                swap = _has_taint(node, NOT_READY, NO_EXECUTE) or _has_taint(node, UNREACHABLE, NO_EXECUTE)
                if not swap and not zone.limiter.try_accept(now):
                    break  # a node already tainted for the other reason is swapped without waiting
                zone.queue.pop(name)
                ready = ready_status(node)
                if ready == "False":
                    await self._swap_no_execute(name, add=NOT_READY, remove=UNREACHABLE)
                elif ready == "Unknown":
                    await self._swap_no_execute(name, add=UNREACHABLE, remove=NOT_READY)

    async def _swap_no_execute(self, name: str, *, add: str | None, remove: str | tuple[str, ...]) -> None:
        removed = (remove,) if isinstance(remove, str) else remove

        def change(taints: list[Obj]) -> list[Obj]:
            if add and self.disruption_mode:
                return taints
            kept = [t for t in taints if not (t.get("key") in removed and t.get("effect") == NO_EXECUTE)]
            if add and not any(t.get("key") == add and t.get("effect") == NO_EXECUTE for t in kept):
                kept.append({"key": add, "effect": NO_EXECUTE, "timeAdded": now_text()})
            return kept
        if await self._patch_taints(name, change):
            self.log.info("node %s: NoExecute taints now %s", name, f"+{add}" if add else f"-{'/'.join(removed)}")

    # ---- sync: NoSchedule taints, untainting, pod eviction -----------------------------------

    async def sync(self, key: str) -> None:
        action, _, rest = key.partition(":")
        if action == "node":
            await self._sync_no_schedule(rest)
        elif action == "untaint":
            node = self.nodes.get("", rest)
            if node is not None and (self.disruption_mode or ready_status(node) == "True"):
                await self._swap_no_execute(rest, add=None, remove=(NOT_READY, UNREACHABLE))
        elif action == "pod":
            await self._sync_pod(rest)

    async def _sync_no_schedule(self, name: str) -> None:
        node = self.nodes.get("", name)
        if node is None or not self.wants_node(name):
            return
        if ready_status(node) == "True":
            # a recovered node loses its NoExecute taints at once, not at the next monitor pass
            for zone in self.zones.values():
                zone.queue.pop(name, None)
            if _has_taint(node, NOT_READY, NO_EXECUTE) or _has_taint(node, UNREACHABLE, NO_EXECUTE):
                await self._swap_no_execute(name, add=None, remove=(NOT_READY, UNREACHABLE))
        wanted = set()
        for cond in (node.get("status") or {}).get("conditions") or []:
            taint = CONDITION_TAINTS.get(cond.get("type", ""), {}).get(cond.get("status", ""))
            if taint:
                wanted.add(taint)
        if (node.get("spec") or {}).get("unschedulable"):
            wanted.add(UNSCHEDULABLE)
        have = {t.get("key") for t in (node.get("spec") or {}).get("taints") or []
                if t.get("effect") == NO_SCHEDULE and t.get("key") in MANAGED_NO_SCHEDULE}
        if wanted == have:
            return

        def change(taints: list[Obj]) -> list[Obj]:
            kept = [t for t in taints if not (t.get("effect") == NO_SCHEDULE and t.get("key") in MANAGED_NO_SCHEDULE
                                              and t.get("key") not in wanted)]
            present = {t.get("key") for t in kept if t.get("effect") == NO_SCHEDULE}
            kept += [{"key": k, "effect": NO_SCHEDULE} for k in sorted(wanted - present)]
            return kept
        await self._patch_taints(name, change)

    async def _patch_taints(self, name: str, change: Callable[[list[Obj]], list[Obj]]) -> bool:
        """Read the live node, write ``change(taints)`` with its resourceVersion; True if it changed."""
        async with self._taint_locks.setdefault(name, asyncio.Lock()):
            return await self._patch_taints_locked(name, change)

    async def _patch_taints_locked(self, name: str, change: Callable[[list[Obj]], list[Obj]]) -> bool:
        for _ in range(CONFLICT_ATTEMPTS):
            try:
                live = await self.client.get("v1", "nodes", name)
            except StatusError as exc:
                if exc.code == 404:
                    return False
                raise
            taints = (live.get("spec") or {}).get("taints") or []
            new = change(copy.deepcopy(taints))
            if new == taints:
                return False
            patch = {"metadata": {"resourceVersion": meta(live)["resourceVersion"]}, "spec": {"taints": new or None}}
            try:
                await self.client.patch("v1", "nodes", name, patch)
                return True
            except StatusError as exc:
                if exc.code == 404:
                    return False
                if exc.code != 409:
                    raise
        raise RuntimeError(f"node {name}: too many conflicts")

    async def _sync_pod(self, key: str) -> None:
        namespace, name = split_key(key)
        pod = self.pods.get(namespace, name)
        node_name = ((pod or {}).get("spec") or {}).get("nodeName") or ""
        node = self.nodes.get("", node_name) if node_name else None
        if pod is None or node is None or meta(pod).get("deletionTimestamp") or not self.wants_node(node_name):
            self.evictions.pop(key, None)
            return
        taints = _no_execute(node)
        if not taints:
            self.evictions.pop(key, None)
            return
        used = matching_tolerations((pod.get("spec") or {}).get("tolerations") or [], taints)
        if used is None:
            await self._evict(pod, node_name)
            return
        seconds = min_toleration_seconds(used)
        if seconds is None:
            self.evictions.pop(key, None)
            return
        now = self._now()
        start, _ = self.evictions.get(key, (now, 0.0))
        trigger = start + seconds
        self.evictions[key] = (start, trigger)
        if now >= trigger:
            await self._evict(pod, node_name)
        else:
            self.queue.add_after(f"pod:{key}", trigger - now)

    async def _evict(self, pod: Obj, node_name: str) -> None:
        key = key_of(pod)
        namespace, name = meta(pod)["namespace"], meta(pod)["name"]
        self.log.info("evicting pod %s from node %s (NoExecute taint)", key, node_name)
        self.event(pod, "Normal", "TaintManagerEviction", f"Marking for deletion Pod {key}")
        if condition(pod, "DisruptionTarget") is None:
            new = copy.deepcopy(pod)
            new.setdefault("status", {}).setdefault("conditions", []).append(
                {"type": "DisruptionTarget", "status": "True", "reason": "DeletionByTaintManager",
                 "message": "Taint manager: deleting due to NoExecute taint", "lastTransitionTime": now_text()})
            with contextlib.suppress(StatusError):
                await self.client.update("v1", "pods", new, namespace, subresource="status")
        try:
            await self.client.delete("v1", "pods", name, namespace,
                                     preconditions={"uid": meta(pod).get("uid")})
        except StatusError as exc:
            if exc.code not in (404, 409):
                raise
        self.evictions.pop(key, None)


def _node_name_index(pod: Obj) -> list[str]:
    name = (pod.get("spec") or {}).get("nodeName")
    return [name] if name else []


def _has_taint(node: Obj, key: str, effect: str) -> bool:
    return any(t.get("key") == key and t.get("effect") == effect for t in (node.get("spec") or {}).get("taints") or [])


def _no_execute(node: Obj) -> list[Obj]:
    return [t for t in (node.get("spec") or {}).get("taints") or [] if t.get("effect") == NO_EXECUTE]
