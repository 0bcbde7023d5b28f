"""The scheduler component: informers, the scheduling queue, one scheduling loop, parallel binds.

``Scheduler(config)`` watches pods, nodes, namespaces and the objects that select pods (services,
replication controllers, replica sets, stateful sets: the default topology spreading looks at them).
Pending pods that name this scheduler (``spec.schedulerName``), have no node, are not being deleted,
have not finished and carry no scheduling gates wait in the :class:`SchedulingQueue`.

Only the leader of the Lease ``lease_namespace/lease_name`` schedules (when ``leader_elect``); a standby
keeps its informers and queue warm and takes over when the lease expires or is released. The leader
pops one pod at a time, builds the node snapshot from the informer caches plus the pods it has *assumed*
(bound, but not yet seen bound by the informer, so two pods never take one free slot), runs
:func:`kubeprov.scheduler.schedule` and binds through ``pods/<name>/binding`` in the background (at most
``parallel_binds`` at once) while the next pod is scheduled.

A pod that does not fit gets a ``FailedScheduling`` Warning event, its ``PodScheduled`` condition set to
False/Unschedulable with the same message, and waits in the queue until the cluster changes (a node added
or changed, a pod deleted), with a backoff of 1 s doubling up to 10 s. A bound pod gets a ``Scheduled``
event. ``/healthz``, ``/readyz`` and ``/metrics`` are served on ``health_bind_address:health_port``.
"""

from __future__ import annotations

import asyncio
import bisect
import contextlib
import copy
import logging
import socket
import time
import uuid
from collections import defaultdict
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

from kubeprov.api.cache import key_of
from kubeprov.api.client import ApiClient
from kubeprov.api.events import EventRecorder
from kubeprov.api.informer import Informer, SharedInformerFactory
from kubeprov.api.leaderelection import LeaderElectionConfig, LeaderElector
from kubeprov.api.status import StatusError
from kubeprov.component import HealthServer, serve_until_signalled
from kubeprov.scheduler import NodeInfo, ScheduleResult, default_selector, schedule
from kubeprov.scheduler.config import SchedulerConfig
from kubeprov.scheduler.plugins import volume_binding
from kubeprov.scheduler.preemption import disruption_condition
from kubeprov.scheduler.queue import QueuedPodInfo, SchedulingQueue
from kubeprov.scheduler.snapshot import NodeInfoCache

__all__ = ["Scheduler", "SchedulerMetrics"]

log = logging.getLogger("kubeprov.scheduler")

Obj = dict[str, Any]
NODE_NAME_INDEX = "spec.nodeName"
LATENCY_BUCKETS = (0.001, 0.002, 0.004, 0.008, 0.016, 0.032, 0.064, 0.128, 0.256, 0.512, 1.024, 2.048, 4.096,
                   8.192, 16.384, 32.768, 65.536)
RESULTS = ("scheduled", "unschedulable", "error")
# pods rejected only by these wait for pods to be bound (or relabelled), not only for node changes
POD_AFFINITY_PLUGINS = frozenset({"InterPodAffinity", "PodTopologySpread"})
# pods rejected by this wait for claims, volumes or storage classes to change
VOLUME_PLUGINS = frozenset({volume_binding.NAME})


class InformerVolumes:
    """VolumeBinding's view of claims, volumes and classes: the scheduler's informer caches."""

    def __init__(self, claims: Informer, volumes: Informer, classes: Informer) -> None:
        self._claims, self._volumes, self._classes = claims, volumes, classes

    def claim(self, namespace: str, name: str) -> Obj | None:
        return self._claims.get(namespace, name)

    def volume(self, name: str) -> Obj | None:
        return self._volumes.get("", name)

    def storage_class(self, name: str) -> Obj | None:
        return self._classes.get("", name)

    def volumes(self) -> list[Obj]:
        return self._volumes.list()


def _node_name_index(pod: Obj) -> list[str]:
    node = (pod.get("spec") or {}).get("nodeName")
    return [node] if node else []


def _node_name(pod: Obj) -> str:
    return (pod.get("spec") or {}).get("nodeName") or ""


def _priority(pod: Obj) -> int:
    value = (pod.get("spec") or {}).get("priority")
    return value if isinstance(value, int) else 0


def _is_terminal(pod: Obj) -> bool:
    return (pod.get("status") or {}).get("phase") in ("Succeeded", "Failed")


def _pod_comparable(pod: Obj) -> Obj:
    """A pod without the parts whose changes never make it schedulable (status, bookkeeping metadata)."""
    meta = {k: v for k, v in (pod.get("metadata") or {}).items()
            if k not in ("resourceVersion", "managedFields", "generation")}
    return {"metadata": meta, "spec": pod.get("spec")}


def _node_comparable(node: Obj) -> Obj:
    """What a node update must change to matter to pods waiting for room (not its heartbeats)."""
    spec = node.get("spec") or {}
    status = node.get("status") or {}
    return {
        "labels": (node.get("metadata") or {}).get("labels"),
        "unschedulable": spec.get("unschedulable"),
        "taints": spec.get("taints"),
        "allocatable": status.get("allocatable"),
        "conditions": sorted((c.get("type"), c.get("status")) for c in status.get("conditions") or []),
    }


class SchedulerMetrics:
    """The scheduler's Prometheus metrics."""

    def __init__(self) -> None:
        self.attempts: dict[str, int] = dict.fromkeys(RESULTS, 0)
        self.e2e_counts: dict[str, list[int]] = defaultdict(lambda: [0] * (len(LATENCY_BUCKETS) + 1))
        self.e2e_sum: dict[str, float] = defaultdict(float)
        self.pending: dict[str, int] = {}
        self.is_leader = False

    def attempt(self, result: str, seconds: float) -> None:
        self.attempts[result] += 1
        self.e2e_counts[result][bisect.bisect_left(LATENCY_BUCKETS, seconds)] += 1
        self.e2e_sum[result] += seconds

    def render(self) -> str:
        lines = [
            "# HELP scheduler_schedule_attempts_total Number of attempts to schedule pods, by the result.",
            "# TYPE scheduler_schedule_attempts_total counter",
        ]
        lines += [f'scheduler_schedule_attempts_total{{result="{r}"}} {self.attempts[r]}' for r in RESULTS]
        lines += [
            "# HELP scheduler_pending_pods Number of pending pods, by the queue type.",
            "# TYPE scheduler_pending_pods gauge",
        ]
        lines += [f'scheduler_pending_pods{{queue="{q}"}} {n}' for q, n in sorted(self.pending.items())]
        lines += [
            "# HELP scheduler_e2e_scheduling_duration_seconds E2e scheduling latency in seconds (from when the "
            "pod was first queued to its binding or failed attempt).",
            "# TYPE scheduler_e2e_scheduling_duration_seconds histogram",
        ]
        for result in RESULTS:
            counts = self.e2e_counts[result]
            total = 0
            for bound, n in zip(LATENCY_BUCKETS, counts, strict=False):
                total += n
                lines.append(f'scheduler_e2e_scheduling_duration_seconds_bucket{{result="{result}",le="{bound}"}} '
                             f"{total}")
            total += counts[-1]
            lines.append(f'scheduler_e2e_scheduling_duration_seconds_bucket{{result="{result}",le="+Inf"}} {total}')
            lines.append(f'scheduler_e2e_scheduling_duration_seconds_sum{{result="{result}"}} '
                         f"{self.e2e_sum[result]}")
            lines.append(f'scheduler_e2e_scheduling_duration_seconds_count{{result="{result}"}} {total}')
        lines += [
            "# HELP scheduler_leader Whether this instance holds the scheduler's leader lease (1) or not (0).",
            "# TYPE scheduler_leader gauge",
            f"scheduler_leader {int(self.is_leader)}",
        ]
        return "\n".join(lines) + "\n"


class Scheduler:
    """The scheduler component; see the module docstring.

    ``client`` (optional) is used instead of one made from ``config.kubeconfig`` and is not closed by
    :meth:`stop`. ``identity`` defaults to ``<hostname>_<uuid>``.
    """

    def __init__(self, config: SchedulerConfig, *, client: ApiClient | None = None,
                 identity: str | None = None) -> None:
        self.config = config
        self.identity = identity or f"{socket.gethostname()}_{uuid.uuid4()}"
        self.metrics = SchedulerMetrics()
        self.queue = self._new_queue()
        self._client = client
        self._own_client = client is None
        self._factory: SharedInformerFactory | None = None
        self._pods: Informer | None = None
        self._nodes: Informer | None = None
        self._namespaces: Informer | None = None
        self._selecting: dict[str, Informer] = {}
        self._volumes: InformerVolumes | None = None
        self._pdbs: Informer | None = None
        self._nominated: dict[str, Obj] = {}  # pod key -> pending pod that preempted room on its nominated node
        self._recorder: EventRecorder | None = None
        self._assumed: dict[str, Obj] = {}  # pod key -> the pod as bound, until the informer shows it bound
        self._node_infos = NodeInfoCache()
        self._bind_slots = asyncio.Semaphore(config.parallel_binds)
        self._bind_tasks: set[asyncio.Task[None]] = set()
        self._status_tasks: set[asyncio.Task[None]] = set()
        self._main_task: asyncio.Task[None] | None = None
        self._health: HealthServer | None = None
        self._leading = False
        self._stopping = False
        self._started = False
        self._next_start_index = 0

    # -- properties --------------------------------------------------------------------------

    @property
    def client(self) -> ApiClient:
        if self._client is None:
            raise RuntimeError("the scheduler is not started")
        return self._client

    @property
    def health_port(self) -> int:
        """The port /healthz, /readyz and /metrics are served on (the chosen one when configured as 0)."""
        return self._health.port if self._health is not None else 0

    @property
    def is_leader(self) -> bool:
        """Whether this instance is running the scheduling loop now."""
        return self._leading

    @property
    def ready(self) -> bool:
        return self._factory is not None and all(i.has_synced for i in self._factory.informers)

    # -- lifecycle ---------------------------------------------------------------------------

    async def start(self) -> None:
        """Start informers, the health server and leader election (or the scheduling loop); returns at once."""
        if self._started:
            return
        self._started = True
        self._stopping = False
        if self.queue.closed:
            self.queue = self._new_queue()
        if self._client is None:
            if not self.config.kubeconfig:
                raise ValueError("the scheduler config names no kubeconfig")
            self._client = ApiClient.from_kubeconfig(Path(self.config.kubeconfig), user_agent="kube-scheduler")
        client = self._client
        factory = self._factory = SharedInformerFactory(client)
        self._pods = factory.informer("v1", "pods", indexers={NODE_NAME_INDEX: _node_name_index})
        self._nodes = factory.informer("v1", "nodes")
        self._namespaces = factory.informer("v1", "namespaces")
        self._selecting = {
            "Service": factory.informer("v1", "services"),
            "ReplicationController": factory.informer("v1", "replicationcontrollers"),
            "ReplicaSet": factory.informer("apps/v1", "replicasets"),
            "StatefulSet": factory.informer("apps/v1", "statefulsets"),
        }
        claims = factory.informer("v1", "persistentvolumeclaims")
        volumes = factory.informer("v1", "persistentvolumes")
        classes = factory.informer("storage.k8s.io/v1", "storageclasses")
        self._volumes = InformerVolumes(claims, volumes, classes)
        self._pdbs = factory.informer("policy/v1", "poddisruptionbudgets")
        for informer in (claims, volumes, classes):
            informer.add_handler(self._on_volume_event, lambda _old, new: self._on_volume_event(new),
                                 self._on_volume_event)
        self._pods.add_handler(self._on_pod_add, self._on_pod_update, self._on_pod_delete)
        self._nodes.add_handler(self._on_node_add, self._on_node_update, self._on_node_delete)
        self._recorder = EventRecorder(client, self.config.scheduler_name)
        await self._recorder.start()
        await self._start_health_server()
        await factory.start()
        if self.config.leader_elect:
            self._main_task = asyncio.create_task(self._election_loop(), name="scheduler leader election")
        else:
            self._main_task = asyncio.create_task(self._lead(), name="scheduler loop")
        log.info("scheduler %s started (identity %s, health port %d)", self.config.scheduler_name, self.identity,
                 self.health_port)

    async def stop(self) -> None:
        """Stop scheduling (releasing the lease when leading), the informers and the health server."""
        if not self._started:
            return
        self._stopping = True
        task, self._main_task = self._main_task, None
        if task is not None:
            task.cancel()
            await asyncio.gather(task, return_exceptions=True)
        await self._cancel_background()
        self.queue.close()
        if self._factory is not None:
            await self._factory.stop()
        if self._recorder is not None:
            await self._recorder.stop()
        if self._health is not None:
            await self._health.stop()
            self._health = None
        if self._own_client and self._client is not None:
            await self._client.close()
            self._client = None
        self._started = False
        log.info("scheduler %s stopped", self.config.scheduler_name)

    async def _cancel_background(self) -> None:
        tasks = list(self._bind_tasks) + list(self._status_tasks)
        for t in tasks:
            t.cancel()
        await asyncio.gather(*tasks, return_exceptions=True)

    # -- leadership --------------------------------------------------------------------------

    async def _election_loop(self) -> None:
        cfg = self.config
        while not self._stopping:
            elector = LeaderElector(
                self.client,
                LeaderElectionConfig(cfg.lease_namespace, cfg.lease_name, self.identity, cfg.lease_duration,
                                     cfg.renew_deadline, cfg.retry_period),
                on_started_leading=self._lead,
                on_stopped_leading=lambda: None,
                on_new_leader=self._on_new_leader,
            )
            try:
                await elector.run()
            except asyncio.CancelledError:
                raise
            except Exception:
                log.exception("leader election failed")
            if not self._stopping:
                log.error("leader election lost; standing by as a candidate again")
                await asyncio.sleep(cfg.retry_period)

    def _on_new_leader(self, identity: str) -> None:
        if identity == self.identity:
            log.info("this instance (%s) is the leader", identity)
        elif identity:
            log.info("new leader elected: %s", identity)

    async def _lead(self) -> None:
        """The scheduling loop, run while leading."""
        self._leading = self.metrics.is_leader = True
        try:
            assert self._factory is not None
            await self._factory.wait_synced()
            log.info("scheduling as %s", self.config.scheduler_name)
            queue = self.queue
            while True:
                info = await queue.pop()
                if info is None:
                    return
                try:
                    await self._schedule_one(queue, info)
                except asyncio.CancelledError:
                    raise
                except Exception:
                    log.exception("scheduling %s failed", info.key)
                    self.metrics.attempt("error", time.monotonic() - info.initial_attempt)
                    queue.add_backoff(info)
        finally:
            self._leading = self.metrics.is_leader = False
            await self._cancel_background()
            self._assumed.clear()
            self._nominated.clear()
            if not self._stopping:
                self._reset_queue()

    def _new_queue(self) -> SchedulingQueue:
        return SchedulingQueue(initial_backoff=self.config.initial_backoff_seconds,
                               max_backoff=self.config.max_backoff_seconds)

    def _reset_queue(self) -> None:
        """A fresh queue holding every pending pod (after leadership is lost, state is rebuilt from the cache)."""
        self.queue.close()
        self.queue = self._new_queue()
        if self._pods is not None:
            for pod in self._pods.list():
                if self._wants(pod):
                    self.queue.add(key_of(pod), _priority(pod))

    # -- informer handlers -------------------------------------------------------------------

    def _wants(self, pod: Obj) -> bool:
        """A pod this scheduler should place."""
        spec = pod.get("spec") or {}
        return (
            (spec.get("schedulerName") or "default-scheduler") == self.config.scheduler_name
            and not spec.get("nodeName")
            and not (pod.get("metadata") or {}).get("deletionTimestamp")
            and (pod.get("status") or {}).get("phase") not in ("Succeeded", "Failed")
            and not spec.get("schedulingGates")
        )

    def _track_nominated(self, key: str, pod: Obj) -> None:
        """Remember pending pods nominated to a node (their room is held there for them)."""
        if self._wants(pod) and (pod.get("status") or {}).get("nominatedNodeName"):
            self._nominated[key] = pod
        else:
            self._nominated.pop(key, None)

    def _on_pod_add(self, pod: Obj) -> None:
        key = key_of(pod)
        self._track_nominated(key, pod)
        self._node_infos.invalidate(_node_name(pod))
        if _node_name(pod):
            self._assumed.pop(key, None)
            self.queue.delete(key)
            self.queue.move_all_to_active(POD_AFFINITY_PLUGINS)  # a new neighbour may satisfy affinity/spread
        elif self._wants(pod):
            self.queue.add(key, _priority(pod))

    def _on_pod_update(self, old: Obj, new: Obj) -> None:
        key = key_of(new)
        self._track_nominated(key, new)
        self._node_infos.invalidate(_node_name(old), _node_name(new))
        if _node_name(new):
            self._assumed.pop(key, None)
            self.queue.delete(key)
            if _is_terminal(new) and not _is_terminal(old):
                self.queue.move_all_to_active()  # a finished pod's room is free
            elif not _node_name(old) or old["metadata"].get("labels") != new["metadata"].get("labels"):
                self.queue.move_all_to_active(POD_AFFINITY_PLUGINS)
        elif not self._wants(new):
            self.queue.delete(key)
        elif key not in self.queue or _pod_comparable(old) != _pod_comparable(new):
            # status-only updates (our own PodScheduled condition among them) do not make a pod fit
            self.queue.add(key, _priority(new))

    def _on_pod_delete(self, pod: Obj) -> None:
        key = key_of(pod)
        self._node_infos.invalidate(_node_name(pod))
        was_assumed = self._assumed.pop(key, None) is not None
        self._nominated.pop(key, None)
        self.queue.delete(key)
        if _node_name(pod) or was_assumed:
            self.queue.move_all_to_active()  # its room is free now

    def _on_volume_event(self, _obj: Obj) -> None:
        self.queue.move_all_to_active(VOLUME_PLUGINS)

    def _on_node_add(self, node: Obj) -> None:
        self._node_infos.nodes_changed()
        self.queue.move_all_to_active()

    def _on_node_delete(self, node: Obj) -> None:
        self._node_infos.nodes_changed()

    def _on_node_update(self, old: Obj, new: Obj) -> None:
        self._node_infos.invalidate(new["metadata"]["name"])
        if _node_comparable(old) != _node_comparable(new):
            self.queue.move_all_to_active()

    # -- one scheduling cycle ----------------------------------------------------------------

    def _snapshot(self) -> list[NodeInfo]:
        nodes, pods = self._nodes, self._pods
        assert nodes is not None and pods is not None
        return self._node_infos.snapshot(nodes.list, lambda name: nodes.get("", name),
                                         lambda name: pods.by_index(NODE_NAME_INDEX, name), self._assumed)

    def _spread_selector(self, pod: Obj) -> dict | None:
        ns = (pod.get("metadata") or {}).get("namespace") or ""
        services = self._selecting["Service"].list(ns)
        controllers = [obj for kind, inf in self._selecting.items() if kind != "Service" for obj in inf.list(ns)]
        return default_selector(pod, services=services, controllers=controllers)

    def _namespace_labels(self) -> dict[str, dict[str, str]]:
        assert self._namespaces is not None
        return {ns["metadata"]["name"]: (ns["metadata"].get("labels") or {}) for ns in self._namespaces.list()}

    async def _schedule_one(self, queue: SchedulingQueue, info: QueuedPodInfo) -> None:
        assert self._pods is not None
        namespace, _, name = info.key.partition("/")
        pod = self._pods.get(namespace, name)
        if pod is None or not self._wants(pod) or info.key in self._assumed:
            queue.done(info)
            return
        nodes = self._snapshot()
        pdbs = self._pdbs
        result = schedule(pod, nodes, percentage_of_nodes_to_score=self.config.percentage_of_nodes_to_score,
                          default_spread_selector=self._spread_selector(pod),
                          namespace_labels=self._namespace_labels(), start_index=self._next_start_index,
                          volumes=self._volumes, pdbs=pdbs.list if pdbs is not None else (),
                          nominated=self._nominated_by_node())
        if nodes:
            self._next_start_index = (self._next_start_index + result.processed) % len(nodes)
        if result.node is None:
            self.metrics.attempt("unschedulable", time.monotonic() - info.initial_attempt)
            log.info("unable to schedule pod %s: %s", info.key, result.message)
            if result.nominated_node is not None:
                await self._preempt(pod, result)
            queue.add_unschedulable(info, frozenset(st.plugin for st in result.statuses.values() if st.plugin))
            self._record(pod, "Warning", "FailedScheduling", result.message)
            self._spawn_status(self._set_unschedulable(pod, result.message, result.nominated_node))
            self._update_pending()
            return
        bound = {**pod, "spec": {**(pod.get("spec") or {}), "nodeName": result.node}}
        self._assumed[info.key] = bound
        await self._bind_slots.acquire()
        task = asyncio.create_task(self._bind(queue, info, pod, result.node), name=f"bind {info.key}")
        self._bind_tasks.add(task)
        task.add_done_callback(self._bind_tasks.discard)

    async def _bind(self, queue: SchedulingQueue, info: QueuedPodInfo, pod: Obj, node: str) -> None:
        namespace, _, name = info.key.partition("/")
        binding = {"apiVersion": "v1", "kind": "Binding", "metadata": {"name": name, "namespace": namespace},
                   "target": {"apiVersion": "v1", "kind": "Node", "name": node}}
        try:
            await self._pre_bind_volumes(pod, node)
            await self.client.create("v1", "pods", binding, namespace=namespace, name=name, subresource="binding")
        except asyncio.CancelledError:
            self._assumed.pop(info.key, None)
            raise
        except Exception as exc:
            if self._assumed.get(info.key, {}).get("spec", {}).get("nodeName") == node:
                del self._assumed[info.key]
            self.metrics.attempt("error", time.monotonic() - info.initial_attempt)
            if isinstance(exc, StatusError) and exc.code in (404, 409):
                # gone, or bound by someone else: nothing left to do for this pod
                log.info("binding %s to %s rejected: %s", info.key, node, exc)
                queue.done(info)
            else:
                log.warning("binding %s to %s failed: %s", info.key, node, exc)
                self._record(pod, "Warning", "FailedScheduling", f"Binding rejected: {exc}")
                queue.add_backoff(info)
            queue.move_all_to_active()  # the room the pod was assumed to take is free again
            return
        finally:
            self._bind_slots.release()
        self.metrics.attempt("scheduled", time.monotonic() - info.initial_attempt)
        queue.done(info)
        self._update_pending()
        log.info("successfully assigned %s to %s", info.key, node)
        self._record(pod, "Normal", "Scheduled", f"Successfully assigned {info.key} to {node}")

    def _nominated_by_node(self) -> dict[str, list[Obj]] | None:
        if not self._nominated:
            return None
        out: dict[str, list[Obj]] = defaultdict(list)
        for pod in self._nominated.values():
            out[(pod.get("status") or {}).get("nominatedNodeName") or ""].append(pod)
        return out

    async def _pre_bind_volumes(self, pod: Obj, node: str) -> None:
        """VolumeBinding's PreBind: pre-bind chosen static volumes to their claims, mark the others for the node."""
        if self._volumes is None or self._nodes is None or not volume_binding.claim_names(pod):
            return
        node_obj = self._nodes.get("", node)
        if node_obj is None:
            return
        for action in volume_binding.prebind_actions(pod, node_obj, self._volumes):
            claim_meta = action.claim["metadata"]
            if action.volume is not None:
                pv = copy.deepcopy(action.volume)
                pv["spec"]["claimRef"] = {"kind": "PersistentVolumeClaim", "apiVersion": "v1",
                                          "namespace": claim_meta["namespace"], "name": claim_meta["name"],
                                          "uid": claim_meta.get("uid"),
                                          "resourceVersion": claim_meta.get("resourceVersion", "")}
                pv["metadata"].setdefault("annotations", {})["pv.kubernetes.io/bound-by-controller"] = "yes"
                await self.client.update("v1", "persistentvolumes", pv)
            elif (claim_meta.get("annotations") or {}).get(volume_binding.SELECTED_NODE) != node:
                patch = {"metadata": {"annotations": {volume_binding.SELECTED_NODE: node}}}
                await self.client.patch("v1", "persistentvolumeclaims", claim_meta["name"], patch,
                                        claim_meta["namespace"], patch_type="merge")

    async def _preempt(self, pod: Obj, result: ScheduleResult) -> None:
        """DefaultPreemption's PostFilter outcome: mark and delete the victims, nominate the node for the pod."""
        node = result.nominated_node or ""
        meta = pod.get("metadata") or {}
        now = datetime.now(UTC).strftime("%Y-%m-%dT%H:%M:%SZ")
        for victim in result.victims:
            vmeta = victim.get("metadata") or {}
            condition = disruption_condition(self.config.scheduler_name, now)
            try:
                await self.client.patch("v1", "pods", vmeta.get("name", ""),
                                        {"metadata": {"uid": vmeta.get("uid")}, "status": {"conditions": [condition]}},
                                        vmeta.get("namespace", ""), patch_type="strategic", subresource="status")
                await self.client.delete("v1", "pods", vmeta.get("name", ""), vmeta.get("namespace", ""))
            except asyncio.CancelledError:
                raise
            except Exception as exc:  # gone already, or the API failed: the next attempt looks again
                log.warning("could not preempt %s/%s: %s", vmeta.get("namespace"), vmeta.get("name"), exc)
                continue
            log.info("preempted %s/%s on %s for %s/%s", vmeta.get("namespace"), vmeta.get("name"), node,
                     meta.get("namespace"), meta.get("name"))
            self._record(victim, "Normal", "Preempted", f"Preempted by pod {meta.get('uid')} on node {node}")
        # lower-priority pods nominated to this node lose their claim on it
        prio = _priority(pod)
        for key, other in list(self._nominated.items()):
            if (other.get("status") or {}).get("nominatedNodeName") == node and _priority(other) < prio:
                del self._nominated[key]
                self._spawn_status(self._set_nominated(other, None))
        nominated = {**pod, "status": {**(pod.get("status") or {}), "nominatedNodeName": node}}
        self._nominated[key_of(pod)] = nominated

    async def _set_nominated(self, pod: Obj, node: str | None) -> None:
        meta = pod.get("metadata") or {}
        try:
            await self.client.patch("v1", "pods", meta.get("name", ""), {"status": {"nominatedNodeName": node}},
                                    meta.get("namespace", ""), patch_type="merge", subresource="status")
        except StatusError as exc:
            log.info("could not clear the nominated node of %s/%s: %s", meta.get("namespace"), meta.get("name"), exc)

    def _record(self, pod: Obj, type_: str, reason: str, message: str) -> None:
        if self._recorder is not None:
            self._recorder.event({"apiVersion": "v1", "kind": "Pod", **pod}, type_, reason, message)

    def _spawn_status(self, coro: Any) -> None:
        task = asyncio.create_task(coro)
        self._status_tasks.add(task)
        task.add_done_callback(self._status_tasks.discard)

    async def _set_unschedulable(self, pod: Obj, message: str, nominated_node: str | None = None) -> None:
        """Set the pod's PodScheduled condition to False/Unschedulable (a strategic merge on status), and its
        ``status.nominatedNodeName`` when preemption made room for it."""
        current = next((c for c in (pod.get("status") or {}).get("conditions") or []
                        if c.get("type") == "PodScheduled"), None)
        same_node = nominated_node is None or (pod.get("status") or {}).get("nominatedNodeName") == nominated_node
        if current and current.get("status") == "False" and current.get("reason") == "Unschedulable" \
                and current.get("message") == message and same_node:
            return
        transition = current.get("lastTransitionTime") if current and current.get("status") == "False" else None
        condition = {"type": "PodScheduled", "status": "False", "reason": "Unschedulable", "message": message,
                     "lastProbeTime": None,
                     "lastTransitionTime": transition or datetime.now(UTC).strftime("%Y-%m-%dT%H:%M:%SZ")}
        meta = pod.get("metadata") or {}
        patch: Obj = {"metadata": {"uid": meta.get("uid")}, "status": {"conditions": [condition]}}
        if nominated_node is not None:
            patch["status"]["nominatedNodeName"] = nominated_node
        try:
            await self.client.patch("v1", "pods", meta.get("name", ""), patch, meta.get("namespace", ""),
                                    patch_type="strategic", subresource="status")
        except asyncio.CancelledError:
            raise
        except Exception as exc:
            log.warning("could not update the PodScheduled condition of %s/%s: %s", meta.get("namespace"),
                        meta.get("name"), exc)

    def _update_pending(self) -> None:
        self.metrics.pending = self.queue.pending()

    # -- health and metrics ------------------------------------------------------------------

    async def _start_health_server(self) -> None:
        self._health = HealthServer(self.config.health_bind_address, self.config.health_port,
                                    healthy=self._unhealthy, ready=self._unready, metrics=self._metrics_text)
        await self._health.start()

    def _unhealthy(self) -> str | None:
        return "stopping" if self._stopping or not self._started else None

    def _unready(self) -> str | None:
        return "informers not synced" if self._stopping or not self.ready else None

    def _metrics_text(self) -> str:
        self._update_pending()
        return self.metrics.render()


@contextlib.asynccontextmanager
async def running(config: SchedulerConfig, **kwargs: Any) -> Any:
    """``async with running(config) as scheduler``: start, then stop on exit."""
    scheduler = Scheduler(config, **kwargs)
    await scheduler.start()
    try:
        yield scheduler
    finally:
        await scheduler.stop()


async def serve_forever(config: SchedulerConfig) -> None:
    """Run until SIGTERM/SIGINT (what ``python -m kubeprov.scheduler`` does)."""
    await serve_until_signalled(Scheduler(config))
