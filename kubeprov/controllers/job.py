"""The Job controller: run pods to ``completions`` (``parallelism`` at a time) and report the outcome.

As in Kubernetes 1.32:

* Pods carry the ``batch.kubernetes.io/job-tracking`` finalizer. A finished pod is counted exactly once:
  its uid is first written to ``status.uncountedTerminatedPods``, then its finalizer is removed, then
  the uid moves into ``status.succeeded``/``failed``. A deleted pod that did not succeed counts as a
  failure (default ``podReplacementPolicy: TerminatingOrFailed``). Pods whose Job is gone lose the
  finalizer so they can go.
* Failures beyond ``backoffLimit`` or running past ``activeDeadlineSeconds`` put the ``FailureTarget``
  condition, delete the active pods, and once every pod is accounted for, ``Failed`` (reasons
  ``BackoffLimitExceeded``/``DeadlineExceeded``). Success is ``SuccessCriteriaMet`` then ``Complete``
  with ``completionTime``.
* New pods after failures wait 10 s, 20 s, 40 s ... (at most 6 minutes; ``backoff_base``/``backoff_max``
  options for tests). ``suspend`` deletes the active pods; resuming resets ``startTime``.
* ``completionMode: Indexed`` gives each pod an index (annotation + label
  ``batch.kubernetes.io/job-completion-index``, ``JOB_COMPLETION_INDEX`` env, hostname ``<job>-<i>``)
  and tracks ``status.completedIndexes``.

``podFailurePolicy`` rules (onExitCodes, onPodConditions) with FailJob (reason ``PodFailurePolicy``), Ignore
and Count; ``podReplacementPolicy: Failed`` waits for terminating pods to fail before replacing them.

Not done: successPolicy, backoffLimitPerIndex/FailIndex (counted as Count), adoption of orphan pods.
"""

from __future__ import annotations

import asyncio
import copy
import time
from collections.abc import Callable
from typing import Any

from kubeprov.api.status import StatusError
from kubeprov.controllers import job_util as ju
from kubeprov.controllers.base import Controller, Obj, key_of, meta
from kubeprov.controllers.claiming import controlled_by
from kubeprov.controllers.expectations import Expectations
from kubeprov.controllers.podutil import controller_ref, is_active, is_ready
from kubeprov.controllers.replicaset import deletion_rank

ORPHAN_PREFIX = "orphan-pod:"


class _Backoff:
    """Failures since the last success and when the last one was seen (per Job, in memory)."""

    def __init__(self) -> None:
        self.failures = 0
        self.last_failure = 0.0


class JobController(Controller):
    name = "job"

    @classmethod
    def options(cls, config: Any) -> dict[str, Any] | None:
        return {}

    def __init__(self, *args: Any, clock: Callable[[], float] = time.time, backoff_base: float = ju.DEFAULT_BACKOFF,
                 backoff_max: float = ju.MAX_BACKOFF, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        self.clock = clock
        self.backoff_base = backoff_base
        self.backoff_max = backoff_max
        self.expectations = Expectations()
        self.backoffs: dict[str, _Backoff] = {}
        # the Job as this controller last wrote it: newer than the cache until the watch catches up
        self.written: dict[str, Obj] = {}
        self.jobs = self.informer("batch/v1", "jobs")
        self.pods = self.informer("v1", "pods")
        self.jobs.add_handler(on_add=self._job_changed, on_update=lambda _o, n: self._job_changed(n),
                              on_delete=self._job_deleted)
        self.pods.add_handler(on_add=self._pod_added, on_update=self._pod_updated, on_delete=self._pod_deleted)

    # ---- event handlers --------------------------------------------------------------------

    def _job_changed(self, job: Obj) -> None:
        if self.wants(meta(job).get("namespace", "")):
            self.enqueue(key_of(job))

    def _job_deleted(self, job: Obj) -> None:
        if not self.wants(meta(job).get("namespace", "")):
            return
        key = key_of(job)
        self.expectations.forget(key)
        self.backoffs.pop(key, None)
        for pod in self.pods.list(meta(job).get("namespace", "")):
            if ju.has_finalizer(pod) and (controller_ref(pod) or {}).get("uid") == meta(job).get("uid"):
                self.enqueue(ORPHAN_PREFIX + key_of(pod))

    def _owner_key(self, pod: Obj) -> str | None:
        ref = controller_ref(pod)
        if ref is None or ref.get("kind") != "Job" or not str(ref.get("apiVersion", "")).startswith("batch/"):
            return None
        return f"{meta(pod).get('namespace', '')}/{ref.get('name', '')}"

    def _route(self, pod: Obj) -> str | None:
        """The Job key to sync for ``pod`` (or an orphan key when its Job is gone)."""
        owner = self._owner_key(pod)
        if owner is None:
            return None
        ns, name = owner.split("/", 1)
        job = self.jobs.get(ns, name)
        if job is None or meta(job).get("uid") != (controller_ref(pod) or {}).get("uid"):
            if ju.has_finalizer(pod):
                self.enqueue(ORPHAN_PREFIX + key_of(pod))
            return None
        return owner

    def _pod_added(self, pod: Obj) -> None:
        if not self.wants(meta(pod).get("namespace", "")):
            return
        owner = self._route(pod)
        if owner is not None:
            self.expectations.creation_observed(owner)
            if meta(pod).get("deletionTimestamp"):
                self.expectations.deletion_observed_of(owner, key_of(pod))
            self.enqueue(owner)

    def _pod_updated(self, old: Obj, new: Obj) -> None:
        if not self.wants(meta(new).get("namespace", "")):
            return
        owner = self._route(new)
        if owner is None:
            return
        if meta(new).get("deletionTimestamp") and not meta(old).get("deletionTimestamp"):
            self.expectations.deletion_observed_of(owner, key_of(new))
        self.enqueue(owner)

    def _pod_deleted(self, pod: Obj) -> None:
        if not self.wants(meta(pod).get("namespace", "")):
            return
        owner = self._owner_key(pod)
        if owner is not None:
            self.expectations.deletion_observed_of(owner, key_of(pod))
            self.enqueue(owner)

    # ---- sync ------------------------------------------------------------------------------

    async def sync(self, key: str) -> None:
        if key.startswith(ORPHAN_PREFIX):
            await self._sync_orphan(key[len(ORPHAN_PREFIX):])
            return
        namespace, name = key.split("/", 1)
        job = self.jobs.get(namespace, name)
        if job is None:
            self.expectations.forget(key)
            self.backoffs.pop(key, None)
            self.written.pop(key, None)
            return
        mine = self.written.get(key)
        if mine is not None and meta(mine).get("uid") == meta(job).get("uid") and _rv(mine) > _rv(job):
            job = mine
        else:
            self.written.pop(key, None)
        pods = self._owned_pods(job)
        if ju.finished(job):
            await self._remove_finalizers([p for p in pods if ju.has_finalizer(p)])
            return
        if meta(job).get("deletionTimestamp"):
            return
        await _JobSync(self, job, key, pods).run()

    def _owned_pods(self, job: Obj) -> list[Obj]:
        return controlled_by(self.pods.list(meta(job).get("namespace", "")), meta(job).get("uid"))

    async def _sync_orphan(self, pod_key: str) -> None:
        namespace, name = pod_key.split("/", 1)
        pod = self.pods.get(namespace, name)
        if pod is None or not ju.has_finalizer(pod):
            return
        ref = controller_ref(pod) or {}
        try:
            job = await self.client.get("batch/v1", "jobs", ref.get("name", ""), namespace)
        except StatusError as exc:
            if exc.code != 404:
                raise
            job = None
        if job is not None and meta(job).get("uid") == ref.get("uid") and not ju.finished(job):
            return
        await self._remove_finalizers([pod])

    async def _remove_finalizers(self, pods: list[Obj]) -> None:
        results = await asyncio.gather(*(self._remove_finalizer(p) for p in pods), return_exceptions=True)
        errors = [r for r in results if isinstance(r, Exception)]
        if errors:
            raise errors[0]

    async def _remove_finalizer(self, pod: Obj) -> None:
        m = meta(pod)
        rest = [f for f in m.get("finalizers") or [] if f != ju.TRACKING_FINALIZER]
        patch = {"metadata": {"finalizers": rest or None, "uid": m.get("uid")}}
        try:
            await self.client.patch("v1", "pods", m["name"], patch, m.get("namespace", ""))
        except StatusError as exc:
            if exc.code not in (404, 409, 422):
                raise

    def backoff(self, key: str) -> _Backoff:
        return self.backoffs.setdefault(key, _Backoff())


def _rv(obj: Obj) -> int:
    try:
        return int(meta(obj).get("resourceVersion") or 0)
    except ValueError:
        return 0


class _JobSync:
    """One sync of one Job (keeps the many values of a sync out of the controller's attributes)."""

    def __init__(self, ctl: JobController, job: Obj, key: str, pods: list[Obj]) -> None:
        self.ctl = ctl
        self.job = job
        self.key = key
        self.pods = pods
        self.now = ctl.clock()
        self.spec = job.get("spec") or {}
        self.status = copy.deepcopy(job.get("status") or {})
        self.old_status = copy.deepcopy(self.status)
        self.requeue_after: float | None = None

    @property
    def completions(self) -> int:
        return int(self.spec.get("completions") or 0)

    async def run(self) -> None:
        ctl, job, status = self.ctl, self.job, self.status
        uncounted = status.get("uncountedTerminatedPods") or {}
        unc_succ, unc_fail = list(uncounted.get("succeeded") or []), list(uncounted.get("failed") or [])
        indexed = ju.is_indexed(job)
        completed = ju.parse_indexes(status.get("completedIndexes"), self.completions) if indexed else set()
        # 1. newly finished pods go into uncountedTerminatedPods (and completedIndexes)
        seen = set(unc_succ) | set(unc_fail)
        new_succ = [p for p in self.pods if ju.has_finalizer(p) and meta(p).get("uid") not in seen
                    and ju.is_succeeded(p)]
        new_fail = [p for p in self.pods if ju.has_finalizer(p) and meta(p).get("uid") not in seen
                    and not ju.is_succeeded(p) and ju.is_failed(p, job)]
        # podFailurePolicy: an Ignore rule keeps a failure out of the counts, a FailJob rule fails the Job
        policy_failure: Obj | None = None
        ignored: list[Obj] = []
        for pod in list(new_fail):
            action, message = ju.failure_policy_action(job, pod)
            if action == "Ignore":
                ignored.append(pod)
                new_fail.remove(pod)
            elif action == "FailJob" and policy_failure is None:
                policy_failure = ju.new_condition("FailureTarget", "PodFailurePolicy", message, self.now)
        unc_succ += [meta(p)["uid"] for p in new_succ]
        unc_fail += [meta(p)["uid"] for p in new_fail]
        for pod in new_succ:
            index = ju.pod_index(pod)
            if indexed and index is not None and 0 <= index < self.completions:
                completed.add(index)
        backoff = ctl.backoff(self.key)
        if new_succ:
            backoff.failures = 0
        if new_fail or ignored:  # an ignored failure is not counted but still delays the next pod
            backoff.failures += len(new_fail) + len(ignored)
            backoff.last_failure = self.now
        if indexed:
            status["completedIndexes"] = ju.format_indexes(completed)
        succeeded = len(completed) if indexed else int(status.get("succeeded") or 0) + len(unc_succ)
        failed = int(status.get("failed") or 0) + len(unc_fail)
        active = [p for p in self.pods if is_active(p)]
        if status.get("startTime") is None and not self.spec.get("suspend"):
            status["startTime"] = ju.now_time(self.now)
        conditions = list(status.get("conditions") or [])
        # 2. decide: failing, succeeding, or running
        failure = next((c for c in conditions if c.get("type") == "FailureTarget" and c.get("status") == "True"), None)
        success = next((c for c in conditions if c.get("type") == "SuccessCriteriaMet"
                        and c.get("status") == "True"), None)
        if failure is None and success is None:
            if policy_failure is not None:
                failure = policy_failure
            elif failed > int(self.spec.get("backoffLimit") if self.spec.get("backoffLimit") is not None else 6):
                failure = ju.new_condition("FailureTarget", "BackoffLimitExceeded",
                                           "Job has reached the specified backoff limit", self.now)
            elif ju.past_deadline({"spec": self.spec, "status": status}, self.now):
                failure = ju.new_condition("FailureTarget", "DeadlineExceeded",
                                           "Job was active longer than specified deadline", self.now)
            elif ju.is_complete(job, succeeded, len(active), completed):
                success = ju.new_condition("SuccessCriteriaMet", "CompletionsReached",
                                           "Reached expected number of succeeded pods", self.now)
            if failure is not None:
                conditions = ju.set_condition(conditions, failure)
            if success is not None:
                conditions = ju.set_condition(conditions, success)
        manage_error: Exception | None = None
        if failure is not None or success is not None:
            # the Job is over: its running pods go (keeping finalizers, so they are counted)
            if active:
                await asyncio.gather(*(self.delete_pod(p) for p in active), return_exceptions=True)
                active = []
        elif self.spec.get("suspend"):
            conditions = self.suspend(conditions)
            if active:
                removed = await self.delete_uncounted(active)
                active = [p for p in active if p not in removed]
        else:
            conditions = self.resume(conditions)
            if ctl.expectations.satisfied(self.key):
                try:
                    active = await self.manage(active, succeeded, completed, backoff)
                except Exception as exc:  # status is still written below
                    manage_error = exc
        if ignored:
            await ctl._remove_finalizers(ignored)
        # 3. write the uncounted uids, remove finalizers, move the uids into the counters
        status["conditions"] = conditions
        status["active"] = len(active)
        status["ready"] = sum(1 for p in active if is_ready(p))
        status["terminating"] = sum(1 for p in self.pods if ju.terminating(p) and ju.phase(p) not in
                                    ("Succeeded", "Failed"))
        status["uncountedTerminatedPods"] = {k: v for k, v in (("succeeded", unc_succ), ("failed", unc_fail)) if v}
        await self.write()
        if unc_succ or unc_fail:
            wanted = set(unc_succ) | set(unc_fail)
            await ctl._remove_finalizers([p for p in self.pods if meta(p).get("uid") in wanted
                                          and ju.has_finalizer(p)])
            if not indexed:
                status["succeeded"] = int(status.get("succeeded") or 0) + len(unc_succ)
            status["failed"] = failed
            status["uncountedTerminatedPods"] = {}
            unc_succ, unc_fail = [], []
        if indexed:
            status["succeeded"] = succeeded
        # 4. terminal conditions once every pod is accounted for
        unaccounted = [p for p in self.pods if ju.has_finalizer(p) and not ju.is_succeeded(p)
                       and not ju.is_failed(p, job) and p not in ignored]
        if (failure is not None or success is not None) and not unaccounted and not active:
            self.finish(failure, success)
        await self.write()
        if manage_error is not None:
            raise manage_error
        if not ju.finished({"status": status}):
            remaining = ju.deadline_remaining({"spec": self.spec, "status": status}, self.now)
            if remaining is not None and not self.spec.get("suspend"):
                self.later(max(remaining, 0.05))
        if self.requeue_after is not None:
            ctl.queue.add_after(self.key, self.requeue_after)

    def later(self, seconds: float) -> None:
        self.requeue_after = seconds if self.requeue_after is None else min(self.requeue_after, seconds)

    def finish(self, failure: Obj | None, success: Obj | None) -> None:
        conditions = list(self.status.get("conditions") or [])
        if failure is not None:
            cond = ju.new_condition("Failed", failure["reason"], failure["message"], self.now)
            self.status["conditions"] = ju.set_condition(conditions, cond)
            self.ctl.event(self.job, "Warning", failure["reason"], failure["message"])
        elif success is not None:
            cond = ju.new_condition("Complete", success["reason"], success["message"], self.now)
            self.status["conditions"] = ju.set_condition(conditions, cond)
            self.status["completionTime"] = ju.now_time(self.now)
            self.ctl.event(self.job, "Normal", "Completed", "Job completed")

    def suspend(self, conditions: list[Obj]) -> list[Obj]:
        existing = next((c for c in conditions if c.get("type") == "Suspended"), None)
        if existing is None or existing.get("status") != "True":
            self.ctl.event(self.job, "Normal", "Suspended", "Job suspended")
            conditions = ju.set_condition(conditions, ju.new_condition("Suspended", "JobSuspended", "Job suspended",
                                                                       self.now))
        return conditions

    def resume(self, conditions: list[Obj]) -> list[Obj]:
        existing = next((c for c in conditions if c.get("type") == "Suspended"), None)
        if existing is not None and existing.get("status") == "True":
            self.ctl.event(self.job, "Normal", "Resumed", "Job resumed")
            self.status["startTime"] = ju.now_time(self.now)
            conditions = ju.set_condition(conditions, ju.new_condition("Suspended", "JobResumed", "Job resumed",
                                                                       self.now, status="False"))
        return conditions

    async def write(self) -> None:
        for name in ("active", "succeeded", "failed"):
            if not self.status.get(name):
                self.status.pop(name, None)
        if self.status == self.old_status:
            return
        new = copy.deepcopy(self.job)
        new["status"] = self.status
        written = await self.ctl.client.update("batch/v1", "jobs", new, subresource="status")
        self.ctl.written[self.key] = written
        self.job = written
        self.old_status = copy.deepcopy(self.status)

    # ---- pods ------------------------------------------------------------------------------

    async def manage(self, active: list[Obj], succeeded: int, completed: set[int], backoff: _Backoff) -> list[Obj]:
        """Create or delete pods toward the wanted number; returns the active pods left."""
        ctl = self.ctl
        parallelism = int(self.spec.get("parallelism") if self.spec.get("parallelism") is not None else 1)
        surplus: list[Obj] = []
        to_create: list[int | None] = []
        # with podReplacementPolicy Failed, a terminating pod is replaced only once it has failed
        leaving = [p for p in self.pods if ju.terminating(p) and ju.phase(p) not in ("Succeeded", "Failed")] \
            if self.spec.get("podReplacementPolicy") == "Failed" else []
        if ju.is_indexed(self.job):
            by_index: dict[int, list[Obj]] = {}
            for pod in active:
                index = ju.pod_index(pod)
                if index is None or index >= self.completions or index in completed:
                    surplus.append(pod)
                else:
                    by_index.setdefault(index, []).append(pod)
            for pods in by_index.values():
                surplus.extend(sorted(pods, key=deletion_rank)[:-1])
            free = max(0, parallelism - (len(active) - len(surplus)) - len(leaving))
            busy = set(by_index) | {ju.pod_index(p) for p in leaving}
            pending = [i for i in range(self.completions) if i not in completed and i not in busy]
            to_create = list(pending[:free])
        else:
            want = ju.wanted_active(self.job, succeeded)
            if len(active) > want:
                surplus = sorted(active, key=deletion_rank)[:len(active) - want]
            else:
                to_create = [None] * max(0, want - len(active) - len(leaving))
        if surplus:
            removed = await self.delete_uncounted(surplus)
            active = [p for p in active if p not in removed]
        if to_create:
            delay = ju.backoff_delay(backoff.failures, ctl.backoff_base, ctl.backoff_max)
            remaining = backoff.last_failure + delay - self.now
            if backoff.failures and remaining > 0:
                self.later(remaining)
                return active
            ctl.expectations.expect(self.key, add=len(to_create))
            results = await asyncio.gather(*(self.create_pod(i) for i in to_create), return_exceptions=True)
            errors = [r for r in results if isinstance(r, Exception)]
            if errors:
                ctl.expectations.lower(self.key, add=len(errors))
                raise errors[0]
        return active

    async def delete_uncounted(self, pods: list[Obj]) -> list[Obj]:
        """Delete pods that should not count as failures (surplus, suspended): finalizer first, then the pod."""
        await self.ctl._remove_finalizers([p for p in pods if ju.has_finalizer(p)])
        results = await asyncio.gather(*(self.delete_pod(p) for p in pods), return_exceptions=True)
        return [p for p, r in zip(pods, results, strict=True) if not isinstance(r, Exception)]

    async def delete_pod(self, pod: Obj) -> None:
        m = meta(pod)
        self.ctl.expectations.expect_deletions(self.key, [key_of(pod)])
        try:
            await self.ctl.client.delete("v1", "pods", m["name"], m.get("namespace", ""))
        except StatusError as exc:
            self.ctl.expectations.deletion_observed_of(self.key, key_of(pod))
            if exc.code == 404:
                return
            self.ctl.event(self.job, "Warning", "FailedDelete", f"Error deleting: {exc.message}")
            raise
        self.ctl.event(self.job, "Normal", "SuccessfulDelete", f"Deleted pod: {m['name']}")

    def pod_body(self, index: int | None) -> Obj:
        m = meta(self.job)
        template = copy.deepcopy(self.spec.get("template") or {})
        tmeta = template.get("metadata") or {}
        labels = dict(tmeta.get("labels") or {})
        annotations = dict(tmeta.get("annotations") or {})
        spec = template.get("spec") or {}
        generate = f"{m['name']}-"
        if index is not None:
            annotations[ju.COMPLETION_INDEX] = str(index)
            labels[ju.COMPLETION_INDEX] = str(index)
            generate = f"{m['name']}-{index}-"
            spec.setdefault("hostname", f"{m['name']}-{index}")
            env = {"name": ju.INDEX_ENV, "valueFrom": {"fieldRef": {
                "fieldPath": f"metadata.annotations['{ju.COMPLETION_INDEX}']"}}}
            for container in (spec.get("containers") or []) + (spec.get("initContainers") or []):
                container["env"] = [e for e in container.get("env") or [] if e.get("name") != ju.INDEX_ENV] + [env]
        body: Obj = {"apiVersion": "v1", "kind": "Pod",
                     "metadata": {"generateName": generate, "namespace": m["namespace"], "labels": labels,
                                  "finalizers": [*(tmeta.get("finalizers") or []), ju.TRACKING_FINALIZER],
                                  "ownerReferences": [{"apiVersion": "batch/v1", "kind": "Job", "name": m["name"],
                                                       "uid": m["uid"], "controller": True,
                                                       "blockOwnerDeletion": True}]},
                     "spec": spec}
        if annotations:
            body["metadata"]["annotations"] = annotations
        return body

    async def create_pod(self, index: int | None) -> None:
        try:
            created = await self.ctl.client.create("v1", "pods", self.pod_body(index), meta(self.job)["namespace"])
        except StatusError as exc:
            if exc.code == 403 and "terminat" in exc.message:
                return
            self.ctl.event(self.job, "Warning", "FailedCreate", f"Error creating: {exc.message}")
            raise
        self.ctl.event(self.job, "Normal", "SuccessfulCreate", f"Created pod: {meta(created).get('name')}")
