"""The TTL-after-finished controller: delete finished Jobs ``ttlSecondsAfterFinished`` after they finished.

A Job is finished when it has a ``Complete`` or ``Failed`` condition; the clock starts at
``status.completionTime`` or, for a failed Job, the ``Failed`` condition's transition time. The
Job is deleted with ``propagationPolicy: Background`` (the garbage collector takes its pods), and
only if it is still the same, still expired object (uid and resourceVersion preconditions), so a
Job whose TTL was raised meanwhile is kept.
"""

from __future__ import annotations

import time
from collections.abc import Callable
from typing import Any

from kubeprov.api.status import StatusError
from kubeprov.controllers import job_util as ju
from kubeprov.controllers.base import Controller, Obj, key_of, meta


def finish_time(job: Obj) -> float | None:
    """When the Job finished (None when it has not)."""
    kind = ju.finished(job)
    if kind is None:
        return None
    cond = ju.condition(job, kind) or {}
    if kind == "Complete":
        done = ju.parse_time((job.get("status") or {}).get("completionTime"))
        if done is not None:
            return done
    return ju.parse_time(cond.get("lastTransitionTime"))


def expires_in(job: Obj, now: float) -> float | None:
    """Seconds until the Job may be deleted (<= 0: now); None when it has no TTL or has not finished."""
    ttl = (job.get("spec") or {}).get("ttlSecondsAfterFinished")
    if ttl is None or meta(job).get("deletionTimestamp"):
        return None
    done = finish_time(job)
    if done is None:
        return None
    return done + int(ttl) - now


class TTLAfterFinishedController(Controller):
    name = "ttl-after-finished"

    def __init__(self, *args: Any, clock: Callable[[], float] = time.time, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        self.clock = clock
        self.jobs = self.informer("batch/v1", "jobs")
        self.jobs.add_handler(on_add=self._changed, on_update=lambda _o, n: self._changed(n))

    def _changed(self, job: Obj) -> None:
        if self.wants(meta(job).get("namespace", "")) and expires_in(job, self.clock()) is not None:
            self.enqueue(key_of(job))

    async def sync(self, key: str) -> None:
        namespace, name = key.split("/", 1)
        job = self.jobs.get(namespace, name)
        if job is None:
            return
        left = expires_in(job, self.clock())
        if left is None:
            return
        if left > 0:
            self.queue.add_after(key, left)
            return
        # the cache may be behind: decide on the live object
        try:
            fresh = await self.client.get("batch/v1", "jobs", name, namespace)
        except StatusError as exc:
            if exc.code == 404:
                return
            raise
        left = expires_in(fresh, self.clock())
        if left is None:
            return
        if left > 0:
            self.queue.add_after(key, left)
            return
        m = meta(fresh)
        try:
            await self.client.delete("batch/v1", "jobs", name, namespace, propagation_policy="Background",
                                     preconditions={"uid": m.get("uid"), "resourceVersion": m.get("resourceVersion")})
        except StatusError as exc:
            if exc.code == 404:
                return
            if exc.code == 409:
                self.enqueue(key)  # changed meanwhile: look again
                return
            raise
        self.log.info("deleted finished job %s after its TTL", key)
