"""The event recorder writes core/v1 Events like client-go's, deduplicating and aggregating repeats."""

from __future__ import annotations

import asyncio
import copy
import re

import pytest

from kubeprov.api import status
from kubeprov.api.events import EventRecorder
from kubeprov.api.status import StatusError

# the bound is the test body's: a session fixture torn down after the last test (`dev down`) is not counted
pytestmark = pytest.mark.timeout(5, func_only=True)

T0 = 1_700_000_000 * 1_000_000_000  # 2023-11-14T22:13:20Z
POD = {
    "apiVersion": "v1",
    "kind": "Pod",
    "metadata": {"name": "web", "namespace": "prod", "uid": "u-1", "resourceVersion": "42"},
}
NODE = {"apiVersion": "v1", "kind": "Node", "metadata": {"name": "n1", "uid": "u-2"}}


class FakeClient:
    """Events by (namespace, name); ``errors`` are raised by the next calls, one each."""

    def __init__(self) -> None:
        self.events: dict[tuple[str, str], dict] = {}
        self.calls: list[tuple[str, ...]] = []
        self.patches: list[dict] = []
        self.errors: list[BaseException] = []
        self.rv = 0

    def _maybe_fail(self) -> None:
        if self.errors:
            raise self.errors.pop(0)

    async def get(self, api_version: str, resource: str, name: str, namespace: str = "") -> dict:
        raise AssertionError("the recorder does not read")

    async def create(self, api_version: str, resource: str, obj: dict, namespace: str = "") -> dict:
        self.calls.append(("create", namespace, obj["metadata"]["name"]))
        self._maybe_fail()
        assert (api_version, resource) == ("v1", "events")
        assert "resourceVersion" not in obj["metadata"]
        key = (namespace, obj["metadata"]["name"])
        if key in self.events:
            raise StatusError(status.already_exists("events", key[1]))
        self.rv += 1
        stored = copy.deepcopy(obj)
        stored["metadata"]["resourceVersion"] = str(self.rv)
        self.events[key] = stored
        return copy.deepcopy(stored)

    async def update(self, api_version: str, resource: str, obj: dict, namespace: str = "") -> dict:
        raise AssertionError("the recorder does not update")

    async def patch(self, api_version, resource, name, patch, namespace="", *, patch_type="merge") -> dict:
        self.calls.append(("patch", namespace, name))
        self._maybe_fail()
        self.patches.append(patch)
        key = (namespace, name)
        if key not in self.events:
            raise StatusError(status.not_found("events", name))
        self.rv += 1
        self.events[key].update(copy.deepcopy(patch))
        self.events[key]["metadata"]["resourceVersion"] = str(self.rv)
        return copy.deepcopy(self.events[key])


class Clock:
    def __init__(self) -> None:
        self.now = T0

    def __call__(self) -> int:
        return self.now


async def recorded(client: FakeClient, emit, **kwargs) -> EventRecorder:
    """Start a recorder, let ``emit`` produce events, and stop it (which flushes)."""
    rec = EventRecorder(client, "default-scheduler", "node-a", retry_interval=0.01, **kwargs)
    await rec.start()
    emit(rec)
    await rec.stop()
    return rec


async def test_event_is_created_with_client_go_fields():
    client = FakeClient()
    await recorded(client, lambda r: r.event(POD, "Normal", "Scheduled", "assigned prod/web to n1"), clock=Clock())
    [(ns, name)] = client.events
    ev = client.events[(ns, name)]
    assert ns == "prod"
    assert name == f"web.{T0:x}" and re.fullmatch(r"web\.[0-9a-f]{16}", name)
    assert ev["involvedObject"] == {
        "kind": "Pod",
        "namespace": "prod",
        "name": "web",
        "uid": "u-1",
        "apiVersion": "v1",
        "resourceVersion": "42",
    }
    assert ev["reason"] == "Scheduled" and ev["message"] == "assigned prod/web to n1" and ev["type"] == "Normal"
    assert ev["source"] == {"component": "default-scheduler", "host": "node-a"}
    assert ev["reportingComponent"] == "default-scheduler" and ev["reportingInstance"] == "node-a"
    assert ev["firstTimestamp"] == ev["lastTimestamp"] == "2023-11-14T22:13:20Z"
    assert ev["count"] == 1 and ev["eventTime"] is None
    assert ev["kind"] == "Event" and ev["apiVersion"] == "v1"


async def test_cluster_scoped_object_events_go_to_default_namespace():
    client = FakeClient()
    await recorded(client, lambda r: r.event(NODE, "Warning", "NodeNotReady", "kubelet stopped posting"))
    [(ns, _)] = client.events
    ev = next(iter(client.events.values()))
    assert ns == "default"
    assert "namespace" not in ev["involvedObject"]


async def test_repeat_within_window_patches_count_instead_of_creating():
    client = FakeClient()
    clock = Clock()

    def emit(rec: EventRecorder) -> None:
        rec.event(POD, "Warning", "FailedScheduling", "0/3 nodes are available")
        clock.now += 65 * 1_000_000_000
        rec.event(POD, "Warning", "FailedScheduling", "0/3 nodes are available")

    await recorded(client, emit, clock=clock)
    assert [c[0] for c in client.calls] == ["create", "patch"]
    [ev] = client.events.values()
    assert ev["count"] == 2
    assert ev["firstTimestamp"] == "2023-11-14T22:13:20Z"
    assert ev["lastTimestamp"] == "2023-11-14T22:14:25Z"
    assert client.patches == [
        {"count": 2, "lastTimestamp": "2023-11-14T22:14:25Z", "message": "0/3 nodes are available"}
    ]


async def test_repeat_after_the_window_creates_a_new_event():
    client = FakeClient()
    clock = Clock()

    def emit(rec: EventRecorder) -> None:
        rec.event(POD, "Normal", "Pulled", "image pulled")
        clock.now += 601 * 1_000_000_000
        rec.event(POD, "Normal", "Pulled", "image pulled")

    await recorded(client, emit, clock=clock)
    assert [c[0] for c in client.calls] == ["create", "create"]
    assert [e["count"] for e in client.events.values()] == [1, 1]


async def test_different_reasons_create_separate_events():
    client = FakeClient()

    def emit(rec: EventRecorder) -> None:
        rec.event(POD, "Normal", "Scheduled", "ok")
        rec.event(POD, "Normal", "Pulled", "ok")
        rec.event(POD, "Warning", "Scheduled", "ok")  # type is part of the identity too

    await recorded(client, emit, clock=Clock())
    assert [c[0] for c in client.calls] == ["create", "create", "create"]
    assert len(client.events) == 3


async def test_deleted_event_is_created_again_when_patch_finds_nothing():
    client = FakeClient()
    rec = EventRecorder(client, "kube-controller-manager", clock=Clock())
    await rec.start()
    rec.event(POD, "Normal", "Killing", "stopping container")
    await asyncio.sleep(0.02)
    client.events.clear()
    rec.event(POD, "Normal", "Killing", "stopping container")
    await rec.stop()
    assert [c[0] for c in client.calls] == ["create", "patch", "create"]
    [ev] = client.events.values()
    assert ev["count"] == 2


async def test_stop_flushes_queued_events_and_later_events_are_dropped():
    client = FakeClient()
    rec = EventRecorder(client, "c")
    for i in range(5):
        rec.event(POD, "Normal", f"R{i}", "m")  # queued before the writer runs
    assert client.calls == []
    await rec.start()
    await rec.stop()
    assert len(client.events) == 5
    rec.event(POD, "Normal", "Late", "m")
    await asyncio.sleep(0.01)
    assert len(client.events) == 5


async def test_rejected_event_is_dropped_without_retry():
    client = FakeClient()
    client.errors = [StatusError(status.forbidden("system:kube-scheduler", "create", "events", namespace="prod"))]
    await recorded(client, lambda r: r.event(POD, "Normal", "Scheduled", "ok"))
    assert [c[0] for c in client.calls] == ["create"]
    assert client.events == {}


async def test_transport_errors_are_retried_then_written():
    client = FakeClient()
    client.errors = [ConnectionRefusedError("api down"), OSError("reset")]
    rec = EventRecorder(client, "c", retry_interval=0.01)
    await rec.start()
    rec.event(POD, "Normal", "Scheduled", "ok")
    await asyncio.sleep(0.1)
    await rec.stop()
    assert [c[0] for c in client.calls] == ["create", "create", "create"]
    assert len(client.events) == 1


async def test_transport_errors_give_up_after_max_tries():
    client = FakeClient()
    client.errors = [OSError("down")] * 5
    rec = EventRecorder(client, "c", retry_interval=0.001, max_tries=3)
    await rec.start()
    rec.event(POD, "Normal", "Scheduled", "ok")
    await asyncio.sleep(0.1)
    await rec.stop()
    assert len(client.calls) == 3 and client.events == {}


async def test_bad_input_never_raises_into_the_caller():
    client = FakeClient()

    def emit(rec: EventRecorder) -> None:
        rec.event(POD, "Info", "Bad", "unsupported type")
        rec.event({"metadata": {"name": "x"}}, "Normal", "NoKind", "m")
        rec.event(None, "Normal", "NotAnObject", "m")  # type: ignore[arg-type]

    await recorded(client, emit)
    assert client.calls == []


async def test_queue_is_bounded():
    client = FakeClient()
    rec = EventRecorder(client, "c", max_queued=2)
    for i in range(4):
        rec.event(POD, "Normal", f"R{i}", "m")
    assert rec.dropped == 2
    await rec.stop()
    assert len(client.events) == 2


async def test_many_similar_messages_are_combined():
    client = FakeClient()

    def emit(rec: EventRecorder) -> None:
        for i in range(11):
            rec.event(POD, "Warning", "BackOff", f"back-off {i}")

    await recorded(client, emit, clock=Clock())
    assert [c[0] for c in client.calls] == ["create"] * 10 + ["patch"]
    combined = [e for e in client.events.values() if e["message"].startswith("(combined from similar events): ")]
    assert len(combined) == 1
    assert combined[0]["count"] == 2
    assert combined[0]["message"] == "(combined from similar events): back-off 10"


async def test_spam_filter_limits_events_per_object():
    client = FakeClient()

    def emit(rec: EventRecorder) -> None:
        for i in range(30):
            rec.event(POD, "Normal", f"Reason{i}", "m")
        rec.event(NODE, "Normal", "Other", "m")  # another object has its own budget

    await recorded(client, emit, clock=Clock())
    assert len(client.events) == 26
