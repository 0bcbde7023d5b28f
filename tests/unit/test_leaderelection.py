"""Leader election on Leases follows client-go: acquire when free or expired, renew, release, hand over."""

from __future__ import annotations

import asyncio
import copy
import re

import pytest

from kubeprov.api import status
from kubeprov.api.leaderelection import LeaderElectionConfig, LeaderElector
from kubeprov.api.status import StatusError

pytestmark = pytest.mark.timeout(10)

LEASE, RENEW, RETRY = 0.2, 0.15, 0.05
MICRO_TIME = re.compile(r"^\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d\.\d{6}Z$")


class FakeStore:
    """Objects by (namespace, name) with resourceVersion-based optimistic concurrency."""

    def __init__(self) -> None:
        self.objects: dict[tuple[str, str], dict] = {}
        self.rv = 0
        self.updates = 0
        self.writes: list[tuple[float, str]] = []  # (loop time, holderIdentity) of every successful write
        self.released: list[int] = []  # leaseDurationSeconds of every write releasing the lease

    def _stamp(self, obj: dict) -> dict:
        self.rv += 1
        self.writes.append((asyncio.get_running_loop().time(), obj["spec"]["holderIdentity"]))
        if obj["spec"]["holderIdentity"] == "":
            self.released.append(obj["spec"]["leaseDurationSeconds"])
        obj["metadata"]["resourceVersion"] = str(self.rv)
        return obj


class FakeClient:
    """One process's view of the store; ``fail`` makes every call a 500, ``hang`` blocks every call."""

    def __init__(self, store: FakeStore) -> None:
        self.store = store
        self.fail = False
        self.hang = False
        self.conflicts = 0  # answer this many updates with 409 Conflict

    async def _gate(self) -> None:
        if self.hang:
            await asyncio.Event().wait()
        if self.fail:
            raise StatusError(status.internal_error("etcd is down"))
        await asyncio.sleep(0)

    async def get(self, api_version: str, resource: str, name: str, namespace: str = "") -> dict:
        await self._gate()
        try:
            return copy.deepcopy(self.store.objects[(namespace, name)])
        except KeyError:
            raise StatusError(status.not_found("leases.coordination.k8s.io", name)) from None

    async def create(self, api_version: str, resource: str, obj: dict, namespace: str = "") -> dict:
        await self._gate()
        name = obj["metadata"]["name"]
        if (namespace, name) in self.store.objects:
            raise StatusError(status.already_exists("leases.coordination.k8s.io", name))
        stored = self.store._stamp(copy.deepcopy(obj))
        self.store.objects[(namespace, name)] = stored
        return copy.deepcopy(stored)

    async def update(self, api_version: str, resource: str, obj: dict, namespace: str = "") -> dict:
        await self._gate()
        name = obj["metadata"]["name"]
        current = self.store.objects.get((namespace, name))
        if current is None:
            raise StatusError(status.not_found("leases.coordination.k8s.io", name))
        if self.conflicts > 0:
            self.conflicts -= 1
            raise StatusError(status.conflict("leases.coordination.k8s.io", name))
        if obj["metadata"].get("resourceVersion") != current["metadata"]["resourceVersion"]:
            raise StatusError(status.conflict("leases.coordination.k8s.io", name))
        stored = self.store._stamp(copy.deepcopy(obj))
        self.store.objects[(namespace, name)] = stored
        self.store.updates += 1
        return copy.deepcopy(stored)

    async def patch(self, api_version, resource, name, patch, namespace="", *, patch_type="merge") -> dict:
        raise AssertionError("leader election does not patch")


class Candidate:
    """An elector plus a record of its callbacks."""

    def __init__(self, store: FakeStore, identity: str, **overrides) -> None:
        self.client = FakeClient(store)
        self.started = asyncio.Event()
        self.stopped = asyncio.Event()
        self.leading_cancelled = False
        self.new_leaders: list[str] = []
        cfg = dict(lease_duration=LEASE, renew_deadline=RENEW, retry_period=RETRY) | overrides
        config = LeaderElectionConfig("kube-system", "kube-scheduler", identity, **cfg)
        self.elector = LeaderElector(
            self.client,
            config,
            on_started_leading=self._lead,
            on_stopped_leading=self.stopped.set,
            on_new_leader=self.new_leaders.append,
        )
        self.task: asyncio.Task | None = None

    async def _lead(self) -> None:
        self.started.set()
        try:
            await asyncio.Event().wait()
        except asyncio.CancelledError:
            self.leading_cancelled = True
            raise

    def start(self) -> Candidate:
        self.task = asyncio.create_task(self.elector.run())
        return self

    async def stop(self) -> None:
        assert self.task is not None
        self.task.cancel()
        await asyncio.gather(self.task, return_exceptions=True)


def lease(store: FakeStore) -> dict:
    return store.objects[("kube-system", "kube-scheduler")]["spec"]


async def wait_for(event: asyncio.Event, timeout: float = 2.0) -> None:
    await asyncio.wait_for(event.wait(), timeout)


async def test_single_elector_creates_the_lease_and_leads():
    store = FakeStore()
    a = Candidate(store, "a").start()
    await wait_for(a.started)
    spec = lease(store)
    assert spec["holderIdentity"] == "a"
    assert spec["leaseDurationSeconds"] == 1  # 0.2 s rounded up to whole seconds
    assert spec["leaseTransitions"] == 0
    assert MICRO_TIME.match(spec["acquireTime"]) and MICRO_TIME.match(spec["renewTime"])
    assert a.elector.is_leader and a.elector.leader() == "a"
    assert a.new_leaders == ["a"]
    await a.stop()


async def test_leader_renews_keeping_acquire_time():
    store = FakeStore()
    a = Candidate(store, "a").start()
    await wait_for(a.started)
    first = dict(lease(store))
    await asyncio.sleep(RETRY * 4)
    spec = lease(store)
    assert store.updates >= 2
    assert spec["renewTime"] > first["renewTime"]
    assert spec["acquireTime"] == first["acquireTime"]
    assert spec["holderIdentity"] == "a" and spec["leaseTransitions"] == 0
    assert not a.stopped.is_set()
    await a.stop()


async def test_standby_waits_while_the_leader_renews():
    store = FakeStore()
    a = Candidate(store, "a").start()
    await wait_for(a.started)
    b = Candidate(store, "b").start()
    await asyncio.sleep(LEASE * 3)  # well past one lease duration: renewals keep it valid
    assert not b.started.is_set()
    assert not b.elector.is_leader
    assert b.elector.leader() == "a"
    assert b.new_leaders == ["a"]
    assert lease(store)["holderIdentity"] == "a"
    await b.stop()
    assert not b.stopped.is_set()  # never led, so never stopped leading
    await a.stop()


async def test_release_on_stop_lets_the_standby_take_over_at_once():
    store = FakeStore()
    a = Candidate(store, "a", lease_duration=5.0, renew_deadline=0.15, retry_period=0.05).start()
    await wait_for(a.started)
    b = Candidate(store, "b", lease_duration=5.0, renew_deadline=0.15, retry_period=0.05).start()
    await asyncio.sleep(0.1)
    await a.stop()
    assert a.stopped.is_set() and a.leading_cancelled
    release = store.writes.index(next(w for w in store.writes if w[1] == ""))
    assert store.released == [1]  # holderIdentity emptied with leaseDurationSeconds 1
    assert store.writes[release - 1][1] == "a"
    await wait_for(b.started, 1.0)  # far less than the 5 s lease
    spec = lease(store)
    assert spec["holderIdentity"] == "b"
    assert spec["leaseTransitions"] == 1
    assert spec["leaseDurationSeconds"] == 5
    await b.stop()


async def test_without_release_the_lease_is_left_held():
    store = FakeStore()
    a = Candidate(store, "a", release_on_cancel=False).start()
    await wait_for(a.started)
    await a.stop()
    assert a.stopped.is_set()
    assert lease(store)["holderIdentity"] == "a"


async def test_failing_leader_steps_down_and_standby_takes_over_after_expiry():
    store = FakeStore()
    a = Candidate(store, "a").start()
    await wait_for(a.started)
    b = Candidate(store, "b").start()
    await asyncio.sleep(RETRY * 2)
    loop = asyncio.get_running_loop()
    a.client.fail = True
    failed_at = loop.time()
    await wait_for(a.stopped)
    gave_up = loop.time() - failed_at
    assert RENEW * 0.9 <= gave_up < LEASE * 3  # after the renew deadline, not at the first error
    assert a.leading_cancelled
    await wait_for(b.started)
    last_renewal = max(t for t, holder in store.writes if holder == "a")
    takeover = min(t for t, holder in store.writes if holder == "b")
    assert takeover - last_renewal >= LEASE  # not before the last renewal b saw had expired
    spec = lease(store)
    assert spec["holderIdentity"] == "b" and spec["leaseTransitions"] == 1
    await asyncio.wait_for(a.task, 1)  # run() returns after losing the lease
    await b.stop()


async def test_hung_leader_steps_down_after_renew_deadline():
    store = FakeStore()
    a = Candidate(store, "a", release_on_cancel=False).start()
    await wait_for(a.started)
    b = Candidate(store, "b").start()
    await asyncio.sleep(RETRY * 2)
    a.client.hang = True  # requests never answer
    await wait_for(a.stopped)
    await wait_for(b.started)
    assert lease(store)["holderIdentity"] == "b"
    await b.stop()


async def test_lease_transitions_count_every_change_of_holder():
    store = FakeStore()
    a = Candidate(store, "a").start()
    await wait_for(a.started)
    await a.stop()
    b = Candidate(store, "b").start()
    await wait_for(b.started)
    await b.stop()
    c = Candidate(store, "a").start()
    await wait_for(c.started)
    assert lease(store)["leaseTransitions"] == 2
    await c.stop()


async def test_expiry_is_judged_by_local_observation_not_remote_timestamps():
    store = FakeStore()
    # A lease renewed "long ago" by the remote clock but just now observed by us is still valid.
    store.objects[("kube-system", "kube-scheduler")] = store._stamp(
        {
            "apiVersion": "coordination.k8s.io/v1",
            "kind": "Lease",
            "metadata": {"name": "kube-scheduler", "namespace": "kube-system"},
            "spec": {
                "holderIdentity": "old",
                "leaseDurationSeconds": 1,
                "acquireTime": "2000-01-01T00:00:00.000000Z",
                "renewTime": "2000-01-01T00:00:00.000000Z",
                "leaseTransitions": 4,
            },
        }
    )
    b = Candidate(store, "b").start()
    await asyncio.sleep(LEASE / 2)
    assert not b.started.is_set()
    await wait_for(b.started)  # unchanged for a whole lease duration: expired
    assert lease(store)["leaseTransitions"] == 5
    assert b.new_leaders == ["old", "b"]
    await b.stop()


async def test_conflicting_update_is_retried_at_the_next_period():
    store = FakeStore()
    a = Candidate(store, "a").start()
    await wait_for(a.started)
    a.client.conflicts = 2  # fast path and slow path of one attempt both lose
    await asyncio.sleep(RETRY * 4)
    assert a.client.conflicts == 0
    assert a.elector.is_leader and not a.stopped.is_set()
    assert lease(store)["holderIdentity"] == "a"
    await a.stop()


async def test_stale_resource_version_makes_a_contender_lose():
    store = FakeStore()
    a = Candidate(store, "a").start()
    b = Candidate(store, "b").start()
    await asyncio.sleep(LEASE)
    # Both may have raced to create or take the lease; exactly one leads.
    assert [a.started.is_set(), b.started.is_set()].count(True) == 1
    holder = lease(store)["holderIdentity"]
    assert holder in ("a", "b")
    assert a.elector.leader() == b.elector.leader() == holder
    await a.stop()
    await b.stop()


def test_config_validation_matches_client_go():
    with pytest.raises(ValueError, match="renew_deadline"):
        LeaderElector(
            None, LeaderElectionConfig("ns", "l", "a", 10, 10, 2), on_started_leading=None, on_stopped_leading=None
        )
    with pytest.raises(ValueError, match="retry_period"):
        LeaderElector(
            None, LeaderElectionConfig("ns", "l", "a", 15, 2, 2), on_started_leading=None, on_stopped_leading=None
        )
    with pytest.raises(ValueError, match="identity"):
        LeaderElector(None, LeaderElectionConfig("ns", "l", ""), on_started_leading=None, on_stopped_leading=None)


def test_a_standby_retries_when_the_watched_lease_expires_not_a_whole_period_later(monkeypatch):
    monkeypatch.setattr("kubeprov.api.leaderelection.random.random", lambda: 1.0)  # the longest jitter
    config = LeaderElectionConfig("kube-system", "kube-scheduler", "b", lease_duration=15, renew_deadline=10,
                                  retry_period=2)
    elector = LeaderElector(FakeStore(), config, on_started_leading=asyncio.Event().wait,
                            on_stopped_leading=lambda: None)
    assert elector._acquire_delay(0.0) == pytest.approx(4.4)  # nothing observed: the jittered period
    elector._set_observed({"holderIdentity": "a", "leaseDurationSeconds": 15})
    observed = elector._observed_time
    assert elector._acquire_delay(observed + 5) == pytest.approx(4.4)
    # 1 s before expiry: wake just after it rather than 4.4 s later
    assert elector._acquire_delay(observed + 14) == pytest.approx(1.05)
