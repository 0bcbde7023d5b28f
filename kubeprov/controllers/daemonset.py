"""The DaemonSet controller: one pod per eligible node, rolled out revision by revision.

As in Kubernetes 1.32:

* A node is eligible when the template pod, with the tolerations the controller adds to every daemon
  pod (not-ready/unreachable NoExecute, disk/memory/pid-pressure and unschedulable NoSchedule, and
  network-unavailable for hostNetwork pods), fits its name, node selector, required node affinity and
  taints. A pod may stay on a node as long as no NoExecute taint is untolerated. Unschedulable nodes
  still get pods.
* Pods are pinned with required node affinity ``matchFields metadata.name In [node]`` and go through
  the scheduler named in the template. Missing pods are created (slow-start batches, expectations),
  surplus ones (several on a node, none wanted there, the node gone) deleted; failed pods are deleted
  and replaced with a per-node backoff (1 s doubling to 15 min) and a ``FailedDaemonPod`` warning.
* Each template is a ControllerRevision (:mod:`kubeprov.controllers.history`); pods carry
  ``controller-revision-hash`` and ``pod-template-generation``. ``RollingUpdate`` replaces old pods within
  ``maxUnavailable`` (or creates new ones first within ``maxSurge``); ``OnDelete`` waits for the user to
  delete them. Old revisions beyond ``revisionHistoryLimit`` that no pod uses are deleted.
* Status: desired/current/updated number scheduled, misscheduled, ready, available, unavailable,
  observedGeneration, collisionCount.

Not done: adopting orphan pods that match the selector, the DaemonSet's own conditions.
"""

from __future__ import annotations

import asyncio
import copy
import time
from datetime import UTC, datetime
from typing import Any

from kubeprov.api import labels as labelsel
from kubeprov.api.status import StatusError
from kubeprov.controllers import history
from kubeprov.controllers.base import Controller, key_of, meta
from kubeprov.controllers.claiming import controlled_by, owner_reference
from kubeprov.controllers.expectations import Expectations
from kubeprov.controllers.intstr import scaled_value
from kubeprov.controllers.podutil import controller_ref, is_available, is_ready, parse_time
from kubeprov.scheduler.plugins.node_affinity import required_matches
from kubeprov.scheduler.plugins.taint_toleration import first_untolerated

Obj = dict[str, Any]

TEMPLATE_GENERATION_LABEL = "pod-template-generation"
REVISION_HASH_LABEL = "controller-revision-hash"
FIELD_NAME = "metadata.name"


def _toleration(key: str, effect: str) -> Obj:
    return {"key": key, "operator": "Exists", "effect": effect}


def daemon_tolerations(pod_spec: Obj) -> list[Obj]:
    """The pod's tolerations plus the ones every daemon pod gets (added when missing)."""
    wanted = [_toleration("node.kubernetes.io/not-ready", "NoExecute"),
              _toleration("node.kubernetes.io/unreachable", "NoExecute"),
              _toleration("node.kubernetes.io/disk-pressure", "NoSchedule"),
              _toleration("node.kubernetes.io/memory-pressure", "NoSchedule"),
              _toleration("node.kubernetes.io/pid-pressure", "NoSchedule"),
              _toleration("node.kubernetes.io/unschedulable", "NoSchedule")]
    if pod_spec.get("hostNetwork"):
        wanted.append(_toleration("node.kubernetes.io/network-unavailable", "NoSchedule"))
    tolerations = list(pod_spec.get("tolerations") or [])
    for tol in wanted:
        if not any(t.get("key") == tol["key"] and t.get("effect") == tol["effect"] and
                   (t.get("operator") or "Equal") == "Exists" for t in tolerations):
            tolerations.append(tol)
    return tolerations


def pin_to_node(affinity: Obj | None, node: str) -> Obj:
    """Required node affinity ``metadata.name In [node]`` replacing any required terms (as Kubernetes does)."""
    affinity = copy.deepcopy(affinity or {})
    node_affinity = affinity.setdefault("nodeAffinity", {})
    node_affinity["requiredDuringSchedulingIgnoredDuringExecution"] = {"nodeSelectorTerms": [
        {"matchFields": [{"key": FIELD_NAME, "operator": "In", "values": [node]}]}]}
    return affinity


def target_node(pod: Obj) -> str:
    """The node a daemon pod is for: its nodeName, or the node its required affinity pins it to."""
    spec = pod.get("spec") or {}
    if spec.get("nodeName"):
        return str(spec["nodeName"])
    required = ((spec.get("affinity") or {}).get("nodeAffinity") or {}).get(
        "requiredDuringSchedulingIgnoredDuringExecution") or {}
    for term in required.get("nodeSelectorTerms") or []:
        for field in term.get("matchFields") or []:
            if field.get("key") == FIELD_NAME and field.get("operator") == "In" and len(field.get("values") or []) == 1:
                return str(field["values"][0])
    return ""


def template_pod(ds: Obj) -> Obj:
    """The DaemonSet's template as a pod, with the daemon tolerations (what eligibility is judged on)."""
    template = copy.deepcopy((ds.get("spec") or {}).get("template") or {})
    spec = template.get("spec") or {}
    spec["tolerations"] = daemon_tolerations(spec)
    return {"metadata": template.get("metadata") or {}, "spec": spec}


def should_run(pod: Obj, node: Obj) -> tuple[bool, bool]:
    """(should run a daemon pod there, may keep one running there) for a template pod and a node."""
    spec = pod.get("spec") or {}
    name = (node.get("metadata") or {}).get("name")
    if spec.get("nodeName") and spec["nodeName"] != name:
        return False, False
    if not required_matches(pod, node):
        return False, False
    taints = list((node.get("spec") or {}).get("taints") or [])
    tolerations = list(spec.get("tolerations") or [])
    if first_untolerated(taints, tolerations, ("NoSchedule", "NoExecute")) is None:
        return True, True
    return False, first_untolerated(taints, tolerations, ("NoExecute",)) is None


def update_bounds(ds: Obj, desired: int) -> tuple[int, int]:
    """(maxSurge, maxUnavailable) of a RollingUpdate DaemonSet for ``desired`` nodes (never both 0)."""
    rolling = ((ds.get("spec") or {}).get("updateStrategy") or {}).get("rollingUpdate") or {}
    surge = scaled_value(rolling.get("maxSurge"), desired, True, default=0)
    unavailable = scaled_value(rolling.get("maxUnavailable"), desired, True, default=1)
    if surge == 0 and unavailable == 0:
        unavailable = 1
    return surge, unavailable


def is_updated(pod: Obj, hash_: str, generation: int | None) -> bool:
    labels = (pod.get("metadata") or {}).get("labels") or {}
    if hash_ and labels.get(REVISION_HASH_LABEL) == hash_:
        return True
    return generation is not None and labels.get(TEMPLATE_GENERATION_LABEL) == str(generation)


def oldest_first(pods: list[Obj]) -> list[Obj]:
    """Kubernetes' podByCreationTimestampAndPhase: older first, running before pending on a tie."""
    return sorted(pods, key=lambda p: (parse_time((p.get("metadata") or {}).get("creationTimestamp")),
                                       0 if (p.get("status") or {}).get("phase") == "Running" else 1,
                                       (p.get("metadata") or {}).get("name", "")))


BURST = 250
FAILED_BACKOFF_INITIAL = 1.0
FAILED_BACKOFF_MAX = 900.0
DEFAULT_HISTORY_LIMIT = 10


class DaemonSetController(Controller):
    name = "daemonset"

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        self.expectations = Expectations()
        # (daemonset key, node) -> (delay, when the last failed pod was deleted)
        self.failed_backoff: dict[tuple[str, str], tuple[float, float]] = {}
        self.sets = self.informer("apps/v1", "daemonsets")
        self.pods = self.informer("v1", "pods")
        self.nodes = self.informer("v1", "nodes")
        self.revisions = self.informer("apps/v1", "controllerrevisions")
        self.sets.add_handler(on_add=self._set_changed, on_update=lambda _o, n: self._set_changed(n),
                              on_delete=self._set_deleted)
        self.pods.add_handler(on_add=self._pod_added, on_update=self._pod_updated, on_delete=self._pod_deleted)
        self.nodes.add_handler(on_add=lambda _n: self._all(), on_update=self._node_updated,
                               on_delete=lambda _n: self._all())

    # ---- event handlers --------------------------------------------------------------------

    def _set_changed(self, ds: Obj) -> None:
        if self.wants(meta(ds).get("namespace", "")):
            self.enqueue(key_of(ds))

    def _set_deleted(self, ds: Obj) -> None:
        if self.wants(meta(ds).get("namespace", "")):
            self.expectations.forget(key_of(ds))
            self.enqueue(key_of(ds))

    def _all(self) -> None:
        for ds in self.sets.list():
            self._set_changed(ds)

    def _node_updated(self, old: Obj, new: Obj) -> None:
        if (meta(old).get("labels") != meta(new).get("labels") or old.get("spec") != new.get("spec")):
            self._all()

    def _owner_key(self, pod: Obj) -> str | None:
        ref = controller_ref(pod)
        if ref is None or ref.get("kind") != "DaemonSet" or not self.wants(meta(pod).get("namespace", "")):
            return None
        return f"{meta(pod).get('namespace', '')}/{ref.get('name', '')}"

    def _pod_added(self, pod: Obj) -> None:
        owner = self._owner_key(pod)
        if owner is not None:
            self.expectations.creation_observed(owner)
            self.enqueue(owner)

    def _pod_updated(self, old: Obj, new: Obj) -> None:
        owner = self._owner_key(new)
        if owner is None:
            return
        if meta(new).get("deletionTimestamp") and not meta(old).get("deletionTimestamp"):
            self.expectations.deletion_observed_of(owner, key_of(new))
        self.enqueue(owner)

    def _pod_deleted(self, pod: Obj) -> None:
        owner = self._owner_key(pod)
        if owner is not None:
            self.expectations.deletion_observed_of(owner, key_of(pod))
            self.enqueue(owner)

    # ---- sync ------------------------------------------------------------------------------

    async def sync(self, key: str) -> None:
        namespace, name = key.split("/", 1)
        ds = self.sets.get(namespace, name)
        if ds is None:
            self.expectations.forget(key)
            for node_key in [k for k in self.failed_backoff if k[0] == key]:
                del self.failed_backoff[node_key]
            return
        if meta(ds).get("deletionTimestamp"):
            return
        try:
            selector = labelsel.from_label_selector((ds.get("spec") or {}).get("selector"))
        except labelsel.SelectorError:
            return
        if selector.is_empty():
            return
        ds = copy.deepcopy(ds)
        current, old_revisions = await self.construct_history(ds)
        hash_ = (meta(current).get("labels") or {}).get(history.REVISION_HASH_LABEL, "")
        pods = self.daemon_pods(ds)
        by_node = _by_node(pods)
        nodes = self.nodes.list()
        if self.expectations.satisfied(key):
            await self.manage(ds, key, hash_, by_node, nodes)
            strategy = ((ds.get("spec") or {}).get("updateStrategy") or {}).get("type") or "RollingUpdate"
            if strategy == "RollingUpdate" and self.expectations.satisfied(key):
                await self.rolling_update(ds, key, hash_, _by_node(self.daemon_pods(ds)), nodes)
            await self.cleanup_history(ds, old_revisions)
        await self.update_status(ds, hash_, _by_node(self.daemon_pods(ds)), nodes)

    def daemon_pods(self, ds: Obj) -> list[Obj]:
        return controlled_by(self.pods.list(meta(ds).get("namespace", "")), meta(ds).get("uid"))

    # ---- revisions -------------------------------------------------------------------------

    async def construct_history(self, ds: Obj) -> tuple[Obj, list[Obj]]:
        """The revision of the current template (created or renumbered as needed) and the other revisions."""
        uid = meta(ds).get("uid")
        revisions = controlled_by(self.revisions.list(meta(ds).get("namespace", "")), uid)
        data = history.template_patch(ds)
        same = history.sort_revisions([r for r in revisions if (r.get("data") or {}) == data])
        others = [r for r in revisions if (r.get("data") or {}) != data]
        top = max((history.revision_number(r) for r in revisions), default=0)
        if not same:
            collisions = int((ds.get("status") or {}).get("collisionCount") or 0)
            current, collisions = await history.create_revision(self.client, ds, "DaemonSet", top + 1, collisions)
            if collisions:
                ds.setdefault("status", {})["collisionCount"] = collisions
            return current, others
        current = same[-1]
        for dup in same[:-1]:  # equal templates kept twice: one is enough
            await self._delete_revision(dup)
        if history.revision_number(current) < top:
            fresh = copy.deepcopy(current)
            fresh["revision"] = top + 1
            try:
                current = await self.client.update("apps/v1", "controllerrevisions", fresh)
            except StatusError as exc:
                if exc.code not in (404, 409):
                    raise
                raise RuntimeError("revision changed while renumbering; retrying") from exc
        return current, others

    async def _delete_revision(self, revision: Obj) -> None:
        try:
            await self.client.delete("apps/v1", "controllerrevisions", meta(revision)["name"],
                                     meta(revision).get("namespace", ""))
        except StatusError as exc:
            if exc.code != 404:
                raise

    async def cleanup_history(self, ds: Obj, old_revisions: list[Obj]) -> None:
        limit = (ds.get("spec") or {}).get("revisionHistoryLimit")
        limit = DEFAULT_HISTORY_LIMIT if limit is None else int(limit)
        live = {(meta(p).get("labels") or {}).get(history.REVISION_HASH_LABEL) for p in self.daemon_pods(ds)}
        unused = [r for r in history.sort_revisions(old_revisions)
                  if (meta(r).get("labels") or {}).get(history.REVISION_HASH_LABEL) not in live]
        for revision in unused[:max(0, len(unused) - limit)]:
            await self._delete_revision(revision)

    # ---- pods per node ---------------------------------------------------------------------

    async def manage(self, ds: Obj, key: str, hash_: str, by_node: dict[str, list[Obj]], nodes: list[Obj]) -> None:
        template = template_pod(ds)
        surge, _ = update_bounds(ds, len(nodes))
        rolling = (((ds.get("spec") or {}).get("updateStrategy") or {}).get("type") or "RollingUpdate") == \
            "RollingUpdate"
        now = time.monotonic()
        to_create: list[str] = []
        to_delete: list[Obj] = []
        node_names = set()
        for node in nodes:
            node_name = meta(node)["name"]
            node_names.add(node_name)
            run, keep = should_run(template, node)
            present = [p for p in by_node.get(node_name, []) if not (
                meta(p).get("deletionTimestamp") and (p.get("status") or {}).get("phase") in ("Succeeded", "Failed"))]
            pods = [p for p in present if not meta(p).get("deletionTimestamp")]
            if run and not present:
                to_create.append(node_name)
            elif keep:
                running: list[Obj] = []
                for pod in pods:
                    phase = (pod.get("status") or {}).get("phase")
                    if phase == "Failed":
                        if not self._failed_pod_may_go(key, node_name, now):
                            continue
                        self.event(ds, "Warning", "FailedDaemonPod", f"Found failed daemon pod "
                                   f"{meta(pod).get('namespace')}/{meta(pod)['name']} on node {node_name}, "
                                   "will try to kill it")
                        to_delete.append(pod)
                    elif phase == "Succeeded":
                        to_delete.append(pod)
                    else:
                        running.append(pod)
                to_delete.extend(_extra_pods(running, hash_, surge if rolling else 0))
            else:
                to_delete.extend(pods)
        # pods for nodes that are gone
        for node_name, pods in by_node.items():
            if node_name not in node_names:
                to_delete.extend(p for p in pods if not meta(p).get("deletionTimestamp"))
        await self.sync_nodes(ds, key, to_delete, to_create, hash_)

    def _failed_pod_may_go(self, key: str, node: str, now: float) -> bool:
        """Whether a failed pod on ``node`` may be replaced now (else the DaemonSet is looked at later)."""
        delay, since = self.failed_backoff.get((key, node), (0.0, 0.0))
        if delay and now < since + delay:
            self.queue.add_after(key, since + delay - now)
            return False
        nxt = FAILED_BACKOFF_INITIAL if not delay else min(delay * 2, FAILED_BACKOFF_MAX)
        if delay and now - since > 2 * FAILED_BACKOFF_MAX:
            nxt = FAILED_BACKOFF_INITIAL
        self.failed_backoff[(key, node)] = (nxt, now)
        return True

    async def sync_nodes(self, ds: Obj, key: str, to_delete: list[Obj], to_create: list[str], hash_: str) -> None:
        to_create = to_create[:BURST]
        to_delete = list({key_of(p): p for p in to_delete}.values())[:BURST]
        self.expectations.expect_deletions(key, [key_of(p) for p in to_delete])
        self.expectations.expect(key, add=len(to_create), delete=len(to_delete))
        errors: list[Exception] = []
        batch, done = 1, 0
        while done < len(to_create):
            chunk = to_create[done:done + batch]
            results = await asyncio.gather(*(self.create_pod(ds, n, hash_) for n in chunk), return_exceptions=True)
            failed = [r for r in results if isinstance(r, Exception)]
            done += len(chunk)
            if failed:
                errors.extend(failed)
                # the failed ones and the ones never tried will not be observed
                self.expectations.lower(key, add=len(failed) + len(to_create) - done)
                break
            batch *= 2
        results = await asyncio.gather(*(self.delete_pod(ds, key, p) for p in to_delete), return_exceptions=True)
        errors.extend(r for r in results if isinstance(r, Exception))
        if errors:
            raise errors[0]

    def pod_body(self, ds: Obj, node: str, hash_: str) -> Obj:
        m = meta(ds)
        template = copy.deepcopy((ds.get("spec") or {}).get("template") or {})
        tmeta = template.get("metadata") or {}
        spec = template.get("spec") or {}
        spec["tolerations"] = daemon_tolerations(spec)
        spec["affinity"] = pin_to_node(spec.get("affinity"), node)
        labels = dict(tmeta.get("labels") or {})
        labels[TEMPLATE_GENERATION_LABEL] = str(m.get("generation", 1))
        if hash_:
            labels[REVISION_HASH_LABEL] = hash_
        body: Obj = {"apiVersion": "v1", "kind": "Pod",
                     "metadata": {"generateName": f"{m['name']}-", "namespace": m["namespace"], "labels": labels,
                                  "ownerReferences": [owner_reference(ds, "apps/v1", "DaemonSet")]},
                     "spec": spec}
        for field in ("annotations", "finalizers"):
            if tmeta.get(field):
                body["metadata"][field] = tmeta[field]
        return body

    async def create_pod(self, ds: Obj, node: str, hash_: str) -> None:
        try:
            created = await self.client.create("v1", "pods", self.pod_body(ds, node, hash_), meta(ds)["namespace"])
        except StatusError as exc:
            if exc.code == 403 and "terminat" in exc.message:
                return
            self.event(ds, "Warning", "FailedCreate", f"Error creating: {exc.message}")
            raise
        self.event(ds, "Normal", "SuccessfulCreate", f"Created pod: {meta(created).get('name')}")

    async def delete_pod(self, ds: Obj, key: str, pod: Obj) -> None:
        try:
            await self.client.delete("v1", "pods", meta(pod)["name"], meta(pod).get("namespace", ""))
        except StatusError as exc:
            self.expectations.deletion_observed_of(key, key_of(pod))
            if exc.code == 404:
                return
            self.event(ds, "Warning", "FailedDelete", f"Error deleting: {exc.message}")
            raise
        self.event(ds, "Normal", "SuccessfulDelete", f"Deleted pod: {meta(pod)['name']}")

    # ---- rolling update ----------------------------------------------------------------------

    async def rolling_update(self, ds: Obj, key: str, hash_: str, by_node: dict[str, list[Obj]],
                             nodes: list[Obj]) -> None:
        """Replace old pods within maxUnavailable, or surge new ones first within maxSurge."""
        template = template_pod(ds)
        desired = sum(1 for n in nodes if should_run(template, n)[0])
        surge, unavailable = update_bounds(ds, desired)
        min_ready = int((ds.get("spec") or {}).get("minReadySeconds") or 0)
        generation = meta(ds).get("generation")
        now = utc_now()
        known = {meta(n)["name"] for n in nodes}
        to_delete: list[Obj] = []
        to_create: list[str] = []
        if surge == 0:
            num_unavailable = 0
            allowed: list[Obj] = []
            candidates: list[Obj] = []
            for node_name in sorted(by_node):
                if node_name not in known:
                    continue
                new, old, ok = _split(by_node[node_name], hash_, generation)
                if not ok or (new is None) == (old is None):
                    num_unavailable += 1
                elif new is not None:
                    if not is_available(new, min_ready, now):
                        num_unavailable += 1
                elif not is_available(old, min_ready, now):
                    allowed.append(old)
                elif num_unavailable < unavailable:
                    candidates.append(old)
            room = max(0, min(unavailable - num_unavailable, len(candidates)))
            to_delete = allowed + candidates[:room]
        else:
            num_surge = 0
            allowed_nodes: list[str] = []
            candidate_nodes: list[str] = []
            for node_name in sorted(by_node):
                if node_name not in known:
                    continue
                new, old, ok = _split(by_node[node_name], hash_, generation)
                if not ok or old is None:
                    continue
                if new is None:
                    if not is_available(old, min_ready, now):
                        allowed_nodes.append(node_name)
                    elif num_surge < surge:
                        candidate_nodes.append(node_name)
                elif not is_available(new, min_ready, now):
                    num_surge += 1
                else:
                    to_delete.append(old)
            room = max(0, min(surge - num_surge, len(candidate_nodes)))
            to_create = allowed_nodes + candidate_nodes[:room]
        if to_delete or to_create:
            await self.sync_nodes(ds, key, to_delete, to_create, hash_)
        if min_ready > 0:
            self.queue.add_after(key, float(min_ready))

    # ---- status ------------------------------------------------------------------------------

    async def update_status(self, ds: Obj, hash_: str, by_node: dict[str, list[Obj]], nodes: list[Obj]) -> None:
        template = template_pod(ds)
        min_ready = int((ds.get("spec") or {}).get("minReadySeconds") or 0)
        generation = meta(ds).get("generation")
        now = utc_now()
        desired = current = misscheduled = ready = available = updated = 0
        for node in nodes:
            run, _ = should_run(template, node)
            pods = oldest_first([p for p in by_node.get(meta(node)["name"], [])
                                 if not meta(p).get("deletionTimestamp")])
            if not run:
                misscheduled += 1 if pods else 0
                continue
            desired += 1
            if not pods:
                continue
            current += 1
            pod = pods[0]
            if is_ready(pod):
                ready += 1
                if is_available(pod, min_ready, now):
                    available += 1
            if is_updated(pod, hash_, generation):
                updated += 1
        status = copy.deepcopy(ds.get("status") or {})
        status.update({"currentNumberScheduled": current, "numberMisscheduled": misscheduled,
                       "desiredNumberScheduled": desired, "numberReady": ready, "updatedNumberScheduled": updated,
                       "numberAvailable": available, "numberUnavailable": desired - available,
                       "observedGeneration": generation or 0})
        for field in ("updatedNumberScheduled", "numberAvailable", "numberUnavailable"):
            if not status[field]:
                status.pop(field)
        cached = self.sets.get(meta(ds).get("namespace", ""), meta(ds)["name"]) or ds
        if status == (cached.get("status") or {}):
            return
        if await self.write_status(cached, status, "apps/v1", "daemonsets") is None:
            return
        if min_ready > 0 and ready != available:
            self.queue.add_after(key_of(ds), float(min_ready))


def utc_now() -> float:
    return datetime.now(UTC).timestamp()


def _by_node(pods: list[Obj]) -> dict[str, list[Obj]]:
    out: dict[str, list[Obj]] = {}
    for pod in pods:
        node = target_node(pod)
        if node:
            out.setdefault(node, []).append(pod)
    return out


def _split(pods: list[Obj], hash_: str, generation: int | None) -> tuple[Obj | None, Obj | None, bool]:
    """(the updated pod, the old pod, False when the node has more than one of either) among live pods."""
    new: Obj | None = None
    old: Obj | None = None
    for pod in pods:
        if meta(pod).get("deletionTimestamp"):
            continue
        if is_updated(pod, hash_, generation):
            if new is not None:
                return None, None, False
            new = pod
        else:
            if old is not None:
                return None, None, False
            old = pod
    return new, old, True


def _extra_pods(running: list[Obj], hash_: str, surge: int) -> list[Obj]:
    """Pods to delete from a node running several: all but the oldest, or with surge, an old and a new
    one while the new is not ready yet."""
    if len(running) <= 1:
        return []
    ordered = oldest_first(running)
    if surge == 0:
        return ordered[1:]
    extra: list[Obj] = []
    oldest_new: Obj | None = None
    oldest_old: Obj | None = None
    for pod in ordered:
        if (meta(pod).get("labels") or {}).get(REVISION_HASH_LABEL) == hash_:
            if oldest_new is None:
                oldest_new = pod
                continue
        elif oldest_old is None:
            oldest_old = pod
            continue
        extra.append(pod)
    if oldest_new is not None and oldest_old is not None and (not is_ready(oldest_old) or is_ready(oldest_new)):
        extra.append(oldest_old)
    return extra
