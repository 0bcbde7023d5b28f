"""The CronJob controller: create a Job at each scheduled time, track them, prune the history.

As Kubernetes 1.32's CronJob controller (v2):

* The newest unmet scheduled time since ``status.lastScheduleTime`` (or creation) is run, as Job
  ``<cronjob>-<scheduled time in minutes since the epoch>`` (the name is the lock against running a
  time twice) with annotation ``batch.kubernetes.io/cronjob-scheduled-timestamp``; with more than 100
  missed times a ``TooManyMissedTimes`` warning is recorded first. ``startingDeadlineSeconds``
  bounds how late a start may be (``MissSchedule`` otherwise) and how far back missed times are looked for.
* ``concurrencyPolicy``: ``Allow``; ``Forbid`` skips a time while a Job is active (``JobAlreadyActive``);
  ``Replace`` deletes the active Jobs first. ``suspend`` stops new runs.
* ``spec.timeZone`` (IANA) sets the zone of the schedule; a ``TZ=``/``CRON_TZ=`` prefix in the schedule
  is honoured with an ``UnsupportedSchedule`` warning, as Kubernetes does.
* ``status.active`` follows the Jobs (``SawCompletedJob``, ``MissingJob``), ``lastSuccessfulTime`` the
  newest completion; finished Jobs beyond ``successfulJobsHistoryLimit``/``failedJobsHistoryLimit`` are
  deleted oldest first (``SuccessfulDelete``).

The clock is injectable (``clock`` option, seconds since the epoch) for tests.
"""

from __future__ import annotations

import copy
import time
from collections.abc import Callable
from datetime import UTC, datetime, timedelta
from typing import Any

from kubeprov.api import cron
from kubeprov.api.status import StatusError
from kubeprov.controllers import job_util as ju
from kubeprov.controllers.base import Controller, Obj, key_of, meta
from kubeprov.controllers.podutil import controller_ref
from kubeprov.controllers.timestamps import format_time

SCHEDULED_TIMESTAMP = "batch.kubernetes.io/cronjob-scheduled-timestamp"
MANY_MISSED = 100


def fmt(t: datetime) -> str:
    return format_time(t.astimezone(UTC))


def parse(text: str | None) -> datetime | None:
    stamp = ju.parse_time(text)
    return None if stamp is None else datetime.fromtimestamp(stamp, UTC)


def job_name(cronjob: str, scheduled: datetime) -> str:
    return f"{cronjob}-{int(scheduled.timestamp()) // 60}"


def schedule_text(cj: Obj) -> tuple[str, bool]:
    """The schedule to parse (timeZone folded in as a TZ= prefix) and whether it used an unsupported prefix."""
    spec = cj.get("spec") or {}
    schedule = str(spec.get("schedule") or "")
    if "TZ" in schedule:
        return schedule, True
    zone = spec.get("timeZone")
    return (f"TZ={zone} {schedule}" if zone else schedule), False


def most_recent(cj: Obj, now: datetime, sched: cron.Schedule) -> tuple[datetime | None, int]:
    """(the newest scheduled time not yet run, or None; roughly how many times were missed)."""
    spec, status = cj.get("spec") or {}, cj.get("status") or {}
    earliest = parse(status.get("lastScheduleTime")) or parse(meta(cj).get("creationTimestamp")) or now
    deadline = spec.get("startingDeadlineSeconds")
    if deadline is not None:
        earliest = max(earliest, now - timedelta(seconds=int(deadline)))
    t1 = sched.next(earliest)
    if t1 is None or now < t1:
        return None, 0
    t2 = sched.next(t1)
    if t2 is None or now < t2:
        return t1, 1
    between = (t2 - t1).total_seconds()
    missed = int((now - t1).total_seconds() // between) + 1
    # jump close to now by the interval, then let the schedule find the exact newest time
    t: datetime | None = sched.next(t1 + timedelta(seconds=max(missed - 2, 0) * between))
    newest = None
    while t is not None and t <= now:
        newest = t
        t = sched.next(t)
    return newest, missed


class CronJobController(Controller):
    name = "cronjob"

    def __init__(self, *args: Any, clock: Callable[[], float] = time.time, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        self.clock = clock
        self.cronjobs = self.informer("batch/v1", "cronjobs")
        self.jobs = self.informer("batch/v1", "jobs")
        self.cronjobs.add_handler(on_add=self._changed, on_update=lambda _o, n: self._changed(n))
        self.jobs.add_handler(on_add=self._job_event, on_update=lambda _o, n: self._job_event(n),
                              on_delete=self._job_event)

    def _changed(self, cj: Obj) -> None:
        if self.wants(meta(cj).get("namespace", "")):
            self.enqueue(key_of(cj))

    def _job_event(self, job: Obj) -> None:
        ref = controller_ref(job)
        if ref is None or ref.get("kind") != "CronJob" or not self.wants(meta(job).get("namespace", "")):
            return
        self.enqueue(f"{meta(job).get('namespace', '')}/{ref.get('name', '')}")

    def now(self) -> datetime:
        return datetime.fromtimestamp(self.clock(), UTC)

    async def sync(self, key: str) -> None:
        namespace, name = key.split("/", 1)
        cached = self.cronjobs.get(namespace, name)
        if cached is None:
            return
        cj = copy.deepcopy(cached)
        jobs = [j for j in self.jobs.list(namespace) if (controller_ref(j) or {}).get("uid") == meta(cj).get("uid")]
        requeue = await self.reconcile(cj, jobs)
        if not meta(cj).get("deletionTimestamp"):
            await self.cleanup(cj, jobs)
        if (cj.get("status") or {}) != (cached.get("status") or {}):
            await self.write_status(cj, cj.get("status") or {}, "batch/v1", "cronjobs")
        if requeue is not None:
            self.queue.add_after(key, requeue)

    async def reconcile(self, cj: Obj, jobs: list[Obj]) -> float | None:
        """Bring status in line with the Jobs and start the due one; returns seconds until the next look."""
        status = cj.setdefault("status", {})
        active = list(status.get("active") or [])
        uids = {meta(j).get("uid") for j in jobs}
        for job in jobs:
            uid = meta(job).get("uid")
            listed = any(r.get("uid") == uid for r in active)
            done = ju.finished(job)
            if listed and done:
                active = [r for r in active if r.get("uid") != uid]
                self.event(cj, "Normal", "SawCompletedJob", f"Saw completed job: {meta(job)['name']}, "
                                                            f"condition: {done}")
            elif not listed and not done:
                # the cache may not have our own status write yet: ask the API before complaining
                fresh = await self._fresh(cj)
                fresh_active = ((fresh or {}).get("status") or {}).get("active") or []
                ref = next((r for r in fresh_active if r.get("uid") == uid), None)
                if ref is not None:
                    active.append(ref)
                else:
                    self.event(cj, "Warning", "UnexpectedJob",
                               f"Saw a job that the controller did not create or forgot: {meta(job)['name']}")
            if done == "Complete":
                completed = parse((job.get("status") or {}).get("completionTime"))
                last = parse(status.get("lastSuccessfulTime"))
                if completed is not None and (last is None or completed > last):
                    status["lastSuccessfulTime"] = fmt(completed)
        for ref in list(active):
            if ref.get("uid") in uids:
                continue
            try:
                await self.client.get("batch/v1", "jobs", ref.get("name", ""), ref.get("namespace") or
                                      meta(cj)["namespace"])
            except StatusError as exc:
                if exc.code != 404:
                    raise
                self.event(cj, "Normal", "MissingJob", f"Active job went missing: {ref.get('name')}")
                active = [r for r in active if r.get("uid") != ref.get("uid")]
        self._set_active(status, active)
        spec = cj.get("spec") or {}
        if meta(cj).get("deletionTimestamp"):
            return None
        zone = spec.get("timeZone")
        if zone:
            try:
                cron.load_zone(zone)
            except cron.CronError as exc:
                self.event(cj, "Warning", "UnknownTimeZone", f'invalid timeZone: "{zone}": {exc}')
                return None
        if spec.get("suspend"):
            return None
        text, unsupported = schedule_text(cj)
        if unsupported:
            self.event(cj, "Warning", "UnsupportedSchedule",
                       f'CRON_TZ or TZ used in schedule "{spec.get("schedule")}" is not officially supported, see '
                       "https://kubernetes.io/docs/concepts/workloads/controllers/cron-jobs/ for more details")
        try:
            sched = cron.parse(text)
        except cron.CronError as exc:
            self.event(cj, "Warning", "UnparseableSchedule", f'unparseable schedule: "{spec.get("schedule")}" : {exc}')
            return None
        now = self.now()
        scheduled, missed = most_recent(cj, now, sched)
        if scheduled is None:
            return self._until_next(cj, now, sched)
        if missed > MANY_MISSED:
            self.event(cj, "Warning", "TooManyMissedTimes",
                       f"too many missed start times: {missed}. Set or decrease .spec.startingDeadlineSeconds or "
                       "check clock skew")
        deadline = spec.get("startingDeadlineSeconds")
        if deadline is not None and scheduled + timedelta(seconds=int(deadline)) < now:
            self.event(cj, "Warning", "MissSchedule",
                       f"Missed scheduled time to start a job: {scheduled.strftime('%a, %d %b %Y %H:%M:%S +0000')}")
            return self._until_next(cj, now, sched)
        name = job_name(meta(cj)["name"], scheduled)
        if any(r.get("name") == name for r in active) or status.get("lastScheduleTime") == fmt(scheduled):
            return self._until_next(cj, now, sched)
        policy = spec.get("concurrencyPolicy") or "Allow"
        if policy == "Forbid" and active:
            self.event(cj, "Normal", "JobAlreadyActive",
                       "Not starting job because prior execution is running and concurrency policy is Forbid")
            return self._until_next(cj, now, sched)
        if policy == "Replace":
            for ref in list(active):
                await self.delete_job(cj, ref.get("name", ""))
                active = [r for r in active if r.get("uid") != ref.get("uid")]
        created = await self.create_job(cj, scheduled)
        if created is None:
            self._set_active(status, active)
            return None
        if not any(r.get("uid") == meta(created).get("uid") for r in active):
            active.append({"apiVersion": "batch/v1", "kind": "Job", "name": meta(created)["name"],
                           "namespace": meta(created)["namespace"], "uid": meta(created)["uid"],
                           "resourceVersion": meta(created).get("resourceVersion", "")})
        self._set_active(status, active)
        status["lastScheduleTime"] = fmt(scheduled)
        return self._until_next(cj, now, sched)

    async def _fresh(self, cj: Obj) -> Obj | None:
        try:
            return await self.client.get("batch/v1", "cronjobs", meta(cj)["name"], meta(cj)["namespace"])
        except StatusError as exc:
            if exc.code == 404:
                return None
            raise

    @staticmethod
    def _set_active(status: Obj, active: list[Obj]) -> None:
        if active:
            status["active"] = active
        else:
            status.pop("active", None)

    def _until_next(self, cj: Obj, now: datetime, sched: cron.Schedule) -> float | None:
        nxt = sched.next(now)
        if nxt is None:
            return None
        return max((nxt - now).total_seconds(), 0.0) + 0.1

    def job_body(self, cj: Obj, scheduled: datetime) -> Obj:
        template = copy.deepcopy((cj.get("spec") or {}).get("jobTemplate") or {})
        tmeta = template.get("metadata") or {}
        m = meta(cj)
        zone = cron.load_zone((cj.get("spec") or {}).get("timeZone") or "")
        annotations = dict(tmeta.get("annotations") or {})
        annotations[SCHEDULED_TIMESTAMP] = scheduled.astimezone(zone).isoformat().replace("+00:00", "Z")
        return {"apiVersion": "batch/v1", "kind": "Job",
                "metadata": {"name": job_name(m["name"], scheduled), "namespace": m["namespace"],
                             "labels": dict(tmeta.get("labels") or {}), "annotations": annotations,
                             "ownerReferences": [{"apiVersion": "batch/v1", "kind": "CronJob", "name": m["name"],
                                                  "uid": m["uid"], "controller": True, "blockOwnerDeletion": True}]},
                "spec": template.get("spec") or {}}

    async def create_job(self, cj: Obj, scheduled: datetime) -> Obj | None:
        body = self.job_body(cj, scheduled)
        namespace = meta(cj)["namespace"]
        try:
            created = await self.client.create("batch/v1", "jobs", body, namespace)
        except StatusError as exc:
            if exc.code == 409:
                existing = await self.client.get("batch/v1", "jobs", body["metadata"]["name"], namespace)
                if (controller_ref(existing) or {}).get("uid") != meta(cj).get("uid"):
                    return None
                return existing
            if exc.code == 403 and "terminat" in exc.message:
                return None
            self.event(cj, "Warning", "FailedCreate", f"Error creating job: {exc.message}")
            raise
        self.event(cj, "Normal", "SuccessfulCreate", f"Created job {meta(created)['name']}")
        return created

    async def delete_job(self, cj: Obj, name: str) -> bool:
        try:
            await self.client.delete("batch/v1", "jobs", name, meta(cj)["namespace"], propagation_policy="Background")
        except StatusError as exc:
            if exc.code == 404:
                return True
            self.event(cj, "Warning", "FailedDelete", f"Deleted job: {exc.message}")
            return False
        self.event(cj, "Normal", "SuccessfulDelete", f"Deleted job {name}")
        return True

    async def cleanup(self, cj: Obj, jobs: list[Obj]) -> None:
        """Delete the oldest finished Jobs beyond the history limits."""
        spec = cj.get("spec") or {}
        for kind, field in (("Complete", "successfulJobsHistoryLimit"), ("Failed", "failedJobsHistoryLimit")):
            limit = spec.get(field)
            if limit is None:
                continue
            done = [j for j in jobs if ju.finished(j) == kind and not meta(j).get("deletionTimestamp")]
            if len(done) <= int(limit):
                continue
            done.sort(key=lambda j: ((j.get("status") or {}).get("startTime") or "~", meta(j).get("name", "")))
            status = cj.setdefault("status", {})
            for job in done[:len(done) - int(limit)]:
                if await self.delete_job(cj, meta(job)["name"]):
                    active = [r for r in status.get("active") or [] if r.get("uid") != meta(job).get("uid")]
                    self._set_active(status, active)
