"""Leader election on ``coordination.k8s.io/v1`` Leases, with client-go's LeaseLock + LeaderElector rules.

- A candidate tries to acquire every ``retry_period`` (jittered up to 1.2 × more). It takes the
  lease when it does not exist, has no holder, or has expired.
- Expiry is judged by *local* observation: the lease is valid until ``leaseDurationSeconds``
  after the moment this process last saw the lease record change, never by comparing the
  remote ``renewTime`` with the local clock (clocks of different machines may disagree).
- The leader renews every ``retry_period``; when a renewal has not succeeded within
  ``renew_deadline`` (retrying every ``retry_period``), it stops leading.
- Writes are optimistic: each update carries the resourceVersion last read, a 409 means someone
  else wrote first and the attempt counts as failed (retried at the next period).
- ``leaseTransitions`` is incremented each time the holder changes; ``acquireTime`` is kept
  while the same holder renews.
- On a graceful stop with ``release_on_cancel`` the leader writes an empty ``holderIdentity``
  and ``leaseDurationSeconds: 1`` so a standby takes over at its next retry.

``leaseDurationSeconds`` is a whole number of seconds in the API; a fractional configured
duration is written rounded up (at least 1). When the observed lease carries exactly the
rounded value of this elector's own configuration, the configured (finer) duration is used
for the expiry check, so sub-second durations work between electors sharing a configuration;
for whole-second durations this is the same as client-go.

Departures from client-go: ``on_stopped_leading`` is only called when leadership had been
acquired (client-go calls it whenever ``Run`` returns); ``run`` returns after leadership is
lost, like client-go's ``Run``.
"""

from __future__ import annotations

import asyncio
import inspect
import logging
import math
import random
import time
from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any

from kubeprov.api.status import StatusError

__all__ = ["JITTER_FACTOR", "LeaderElectionConfig", "LeaderElector", "format_micro_time"]

log = logging.getLogger(__name__)

JITTER_FACTOR = 1.2
# how long after the observed expiry a standby tries (so the lease is surely expired on its clock)
EXPIRY_MARGIN = 0.05
API_VERSION = "coordination.k8s.io/v1"
RESOURCE = "leases"

_RECORD_FIELDS = ("holderIdentity", "leaseDurationSeconds", "acquireTime", "renewTime", "leaseTransitions")


def format_micro_time(moment: datetime) -> str:
    """``metav1.MicroTime`` wire form: RFC 3339 in UTC with 6 fractional digits."""
    return moment.astimezone(UTC).strftime("%Y-%m-%dT%H:%M:%S.%fZ")


@dataclass
class LeaderElectionConfig:
    lock_namespace: str
    lock_name: str
    identity: str
    lease_duration: float = 15.0
    renew_deadline: float = 10.0
    retry_period: float = 2.0
    release_on_cancel: bool = True

    def validate(self) -> None:
        """The same consistency rules client-go enforces."""
        if not self.identity:
            raise ValueError("leader election identity must not be empty")
        if not self.lock_name:
            raise ValueError("leader election lock name must not be empty")
        if self.lease_duration <= self.renew_deadline:
            raise ValueError("lease_duration must be greater than renew_deadline")
        if self.renew_deadline <= JITTER_FACTOR * self.retry_period:
            raise ValueError(f"renew_deadline must be greater than retry_period*{JITTER_FACTOR}")
        if self.retry_period <= 0:
            raise ValueError("retry_period must be greater than zero")


def _lease_seconds(duration: float) -> int:
    return max(1, math.ceil(duration))


class LeaderElector:
    """Runs a candidate for the lease ``lock_namespace/lock_name``."""

    def __init__(
        self,
        client: Any,
        config: LeaderElectionConfig,
        *,
        on_started_leading: Callable[[], Awaitable[None]],
        on_stopped_leading: Callable[[], None | Awaitable[None]],
        on_new_leader: Callable[[str], None] | None = None,
        clock: Callable[[], float] = time.monotonic,
    ) -> None:
        config.validate()
        self.client = client
        self.config = config
        self.on_started_leading = on_started_leading
        self.on_stopped_leading = on_stopped_leading
        self.on_new_leader = on_new_leader
        self.clock = clock
        self._lease: dict[str, Any] | None = None  # last lease read or written (carries resourceVersion)
        self._observed: dict[str, Any] = {}  # last observed leader election record (the lease spec)
        self._observed_raw: dict[str, Any] | None = None  # the last record read from the server
        self._observed_time = 0.0
        self._reported_leader = ""
        self._leading_task: asyncio.Task[None] | None = None

    # -- public ------------------------------------------------------------------------------

    @property
    def is_leader(self) -> bool:
        """Whether the last observed record names this elector as the holder."""
        return self._observed.get("holderIdentity", "") == self.config.identity

    def leader(self) -> str:
        """The holder of the last observed record ('' when unknown or released)."""
        return str(self._observed.get("holderIdentity") or "")

    async def run(self) -> None:
        """Acquire, lead (``on_started_leading`` as a task) and renew until cancelled or the lease is lost."""
        await self._acquire()
        self._leading_task = asyncio.create_task(self._lead(), name=f"leading:{self.config.lock_name}")
        try:
            await self._renew()
        finally:
            await self._stop_leading()

    # -- loops -------------------------------------------------------------------------------

    async def _acquire(self) -> None:
        desc = f"{self.config.lock_namespace}/{self.config.lock_name}"
        log.info("attempting to acquire leader lease %s", desc)
        while True:
            succeeded = await self._try_acquire_or_renew()
            self._maybe_report_transition()
            if succeeded:
                log.info("successfully acquired lease %s", desc)
                return
            await asyncio.sleep(self._acquire_delay(self.clock()))

    async def _renew(self) -> None:
        desc = f"{self.config.lock_namespace}/{self.config.lock_name}"
        while True:
            try:
                async with asyncio.timeout(self.config.renew_deadline):
                    while not await self._try_acquire_or_renew():
                        await asyncio.sleep(self.config.retry_period)
            except TimeoutError:
                self._maybe_report_transition()
                log.info("failed to renew lease %s: timed out waiting for the condition", desc)
                return
            self._maybe_report_transition()
            await asyncio.sleep(self.config.retry_period)

    async def _lead(self) -> None:
        try:
            await self.on_started_leading()
        except asyncio.CancelledError:
            raise
        except Exception:
            log.exception("on_started_leading failed")

    async def _stop_leading(self) -> None:
        task, self._leading_task = self._leading_task, None
        if task is not None and not task.done():
            task.cancel()
        if self.config.release_on_cancel:
            try:
                await asyncio.wait_for(self._release(), self.config.renew_deadline)
            except Exception as exc:
                log.error("failed to release lock: %s", exc)
        if task is not None:
            await asyncio.gather(task, return_exceptions=True)
        try:
            result = self.on_stopped_leading()
            if inspect.isawaitable(result):
                await result
        except Exception:
            log.exception("on_stopped_leading failed")

    # -- lease handling ----------------------------------------------------------------------

    def _acquire_delay(self, now: float) -> float:
        """The jittered retry period, cut short when the observed lease expires sooner: a standby tries
        the moment the lease it watches runs out, so a dead leader is replaced within about
        lease_duration + retry_period * (1 + jitter) of its last renewal, not one more retry later."""
        delay = self.config.retry_period * (1 + random.random() * JITTER_FACTOR)
        if self._observed.get("holderIdentity") and self._lease_valid(now):
            delay = min(delay, self._observed_time + self._observed_duration() - now + EXPIRY_MARGIN)
        return max(delay, EXPIRY_MARGIN)

    def _observed_duration(self) -> float:
        seconds = self._observed.get("leaseDurationSeconds") or 0
        if seconds == _lease_seconds(self.config.lease_duration):
            return self.config.lease_duration
        return float(seconds)

    def _lease_valid(self, now: float) -> bool:
        return self._observed_time + self._observed_duration() > now

    def _set_observed(self, record: dict[str, Any]) -> None:
        self._observed = record
        self._observed_time = self.clock()

    def _new_record(self) -> dict[str, Any]:
        now = format_micro_time(datetime.now(UTC))
        return {
            "holderIdentity": self.config.identity,
            "leaseDurationSeconds": _lease_seconds(self.config.lease_duration),
            "acquireTime": now,
            "renewTime": now,
            "leaseTransitions": 0,
        }

    async def _try_acquire_or_renew(self) -> bool:
        record = self._new_record()

        # 1. Fast path: the leader updates optimistically from the lease it last saw.
        if self.is_leader and self._lease_valid(self.clock()):
            record["acquireTime"] = self._observed.get("acquireTime")
            record["leaseTransitions"] = self._observed.get("leaseTransitions") or 0
            try:
                await self._update(record)
            except Exception as exc:
                log.warning("failed to update lock optimistically: %s, falling back to slow path", exc)
            else:
                self._set_observed(record)
                return True

        # 2. Read the lease, or create it.
        try:
            lease = await self.client.get(API_VERSION, RESOURCE, self.config.lock_name, self.config.lock_namespace)
        except StatusError as exc:
            if exc.code != 404:
                log.error("error retrieving lease lock %s: %s", self.config.lock_name, exc)
                return False
            try:
                await self._create(record)
            except StatusError as create_exc:
                if create_exc.code == 409:  # another candidate created it first: an ordinary lost race
                    log.info("lease lock %s was created by another candidate", self.config.lock_name)
                else:
                    log.error("error initially creating lease lock: %s", create_exc)
                return False
            except Exception as create_exc:
                log.error("error initially creating lease lock: %s", create_exc)
                return False
            self._set_observed(record)
            return True
        except Exception as exc:
            log.error("error retrieving lease lock %s: %s", self.config.lock_name, exc)
            return False
        self._lease = lease
        old = _record_of(lease)

        # 3. Judge expiry by when we first saw this record, not by its timestamps.
        if old != self._observed_raw:
            self._set_observed(old)
            self._observed_raw = old
        if old.get("holderIdentity") and self._lease_valid(self.clock()) and not self.is_leader:
            log.debug("lock is held by %s and has not yet expired", old.get("holderIdentity"))
            return False

        # 4. Take over (or renew through the slow path).
        if self.is_leader:
            record["acquireTime"] = old.get("acquireTime")
            record["leaseTransitions"] = old.get("leaseTransitions") or 0
        else:
            record["leaseTransitions"] = (old.get("leaseTransitions") or 0) + 1
        try:
            await self._update(record)
        except Exception as exc:
            log.error("failed to update lock: %s", exc)
            return False
        self._set_observed(record)
        return True

    async def _release(self) -> None:
        if not self.is_leader:
            return
        now = format_micro_time(datetime.now(UTC))
        record = {
            "holderIdentity": "",
            "leaseDurationSeconds": 1,
            "acquireTime": now,
            "renewTime": now,
            "leaseTransitions": self._observed.get("leaseTransitions") or 0,
        }
        await self._update(record)
        self._set_observed(record)
        log.info("released lease %s/%s", self.config.lock_namespace, self.config.lock_name)

    async def _create(self, record: dict[str, Any]) -> None:
        lease = {
            "apiVersion": API_VERSION,
            "kind": "Lease",
            "metadata": {"name": self.config.lock_name, "namespace": self.config.lock_namespace},
            "spec": dict(record),
        }
        self._lease = await self.client.create(API_VERSION, RESOURCE, lease, self.config.lock_namespace)

    async def _update(self, record: dict[str, Any]) -> None:
        if self._lease is None:
            raise RuntimeError("lease not initialized, call get or create first")
        lease = dict(self._lease)
        lease["spec"] = {**(self._lease.get("spec") or {}), **record}
        self._lease = await self.client.update(API_VERSION, RESOURCE, lease, self.config.lock_namespace)

    def _maybe_report_transition(self) -> None:
        holder = self.leader()
        if holder == self._reported_leader:
            return
        self._reported_leader = holder
        if self.on_new_leader is not None:
            try:
                self.on_new_leader(holder)
            except Exception:
                log.exception("on_new_leader failed")


def _record_of(lease: dict[str, Any]) -> dict[str, Any]:
    spec = lease.get("spec") or {}
    return {field: spec.get(field) for field in _RECORD_FIELDS}
