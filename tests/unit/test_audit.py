"""The audit log: audit.k8s.io/v1 Event lines, buffered writes, size rotation, level None."""

from __future__ import annotations

import json
import re
import stat
import time
from datetime import UTC, datetime, timedelta, timezone
from pathlib import Path

import pytest

from kubeprov.apiserver import audit
from kubeprov.apiserver.audit import AuditLog

RECEIVED = datetime(2025, 3, 1, 12, 0, 0, 123456, tzinfo=UTC)
DONE = RECEIVED + timedelta(milliseconds=7)
MICRO = re.compile(r"^\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d\.\d{6}Z$")
USER = {"username": "alice", "uid": "u-1", "groups": ["dev", "system:authenticated"]}


def emit(log: AuditLog, stage: str = "ResponseComplete", **overrides) -> None:
    fields = {
        "stage": stage,
        "request_id": "0b3c9a4e-1111-2222-3333-444455556666",
        "verb": "get",
        "request_uri": "/api/v1/namespaces/default/secrets/db?timeout=32s",
        "user": USER,
        "source_ips": ["10.0.0.7"],
        "user_agent": "kubectl/v1.32.0 (linux/amd64)",
        "object_ref": {"resource": "secrets", "namespace": "default", "name": "db", "apiGroup": "",
                       "apiVersion": "v1"},
        "response_code": 200 if stage != "RequestReceived" else None,
        "request_received": RECEIVED,
        "stage_time": DONE,
    }
    fields.update(overrides)
    log.event(**fields)


def lines(path: Path) -> list[dict]:
    return [json.loads(line) for line in path.read_text().splitlines()]


def test_events_are_kubernetes_audit_events(tmp_path):
    path = tmp_path / "audit.log"
    log = AuditLog(path)
    emit(log, "RequestReceived")
    emit(log, annotations={"authorization.k8s.io/decision": "allow"})
    emit(log, verb="create", request_uri="/apis/apps/v1/namespaces/web/deployments", response_code=201,
         object_ref={"resource": "deployments", "namespace": "web", "name": "api", "apiGroup": "apps",
                     "apiVersion": "v1", "subresource": ""})
    log.close()
    received, complete, create = lines(path)
    assert complete == {
        "kind": "Event",
        "apiVersion": "audit.k8s.io/v1",
        "level": "Metadata",
        "auditID": "0b3c9a4e-1111-2222-3333-444455556666",
        "stage": "ResponseComplete",
        "requestURI": "/api/v1/namespaces/default/secrets/db?timeout=32s",
        "verb": "get",
        "user": {"username": "alice", "uid": "u-1", "groups": ["dev", "system:authenticated"]},
        "sourceIPs": ["10.0.0.7"],
        "userAgent": "kubectl/v1.32.0 (linux/amd64)",
        # core group: no apiGroup, like Kubernetes' omitempty
        "objectRef": {"resource": "secrets", "namespace": "default", "name": "db", "apiVersion": "v1"},
        "responseStatus": {"metadata": {}, "code": 200},
        "requestReceivedTimestamp": "2025-03-01T12:00:00.123456Z",
        "stageTimestamp": "2025-03-01T12:00:00.130456Z",
        "annotations": {"authorization.k8s.io/decision": "allow"},
    }
    assert received["stage"] == "RequestReceived" and "responseStatus" not in received
    assert create["objectRef"] == {"resource": "deployments", "namespace": "web", "name": "api",
                                   "apiGroup": "apps", "apiVersion": "v1"}
    assert create["responseStatus"]["code"] == 201
    for event in (received, complete, create):
        assert MICRO.match(event["requestReceivedTimestamp"]) and MICRO.match(event["stageTimestamp"])


def test_timestamps_are_utc_with_microseconds(tmp_path):
    path = tmp_path / "audit.log"
    log = AuditLog(path)
    plus2 = timezone(timedelta(hours=2))
    emit(log, request_received=datetime(2025, 3, 1, 14, 0, 0, tzinfo=plus2),
         stage_time=datetime(2025, 3, 1, 12, 0, 1, 5))  # naive: taken as UTC
    log.close()
    (event,) = lines(path)
    assert event["requestReceivedTimestamp"] == "2025-03-01T12:00:00.000000Z"
    assert event["stageTimestamp"] == "2025-03-01T12:00:01.000005Z"


def test_non_resource_request_without_object_ref(tmp_path):
    path = tmp_path / "audit.log"
    log = AuditLog(path)
    emit(log, verb="get", request_uri="/healthz", object_ref=None, user={"username": "system:anonymous",
                                                                          "groups": ["system:unauthenticated"]})
    log.close()
    (event,) = lines(path)
    assert "objectRef" not in event
    assert event["user"] == {"username": "system:anonymous", "groups": ["system:unauthenticated"]}


def test_request_objects_follow_the_level(tmp_path):
    body = {"kind": "ConfigMap", "data": {"a": "b"}}
    written = {}
    for level in ("Metadata", "Request", "RequestResponse"):
        path = tmp_path / f"{level}.log"
        log = AuditLog(path, level=level)
        emit(log, verb="create", request_object=body, response_object=body)
        log.close()
        (written[level],) = lines(path)
    assert "requestObject" not in written["Metadata"] and "responseObject" not in written["Metadata"]
    assert written["Request"]["requestObject"] == body and "responseObject" not in written["Request"]
    assert written["RequestResponse"]["responseObject"] == body
    assert written["RequestResponse"]["level"] == "RequestResponse"


def test_level_none_writes_nothing(tmp_path):
    path = tmp_path / "audit.log"
    log = AuditLog(path, level="None")
    assert not log.enabled
    emit(log)
    log.close()
    assert not path.exists()


def test_no_path_writes_nothing():
    log = AuditLog(None)
    assert not log.enabled
    emit(log)
    log.close()


def test_omitted_stages_are_skipped(tmp_path):
    path = tmp_path / "audit.log"
    log = AuditLog(path, omit_stages=["RequestReceived"])
    emit(log, "RequestReceived")
    emit(log, "ResponseComplete")
    log.close()
    assert [e["stage"] for e in lines(path)] == ["ResponseComplete"]


def test_bad_level_stage_and_omit_stage_are_refused(tmp_path):
    with pytest.raises(ValueError, match="audit level"):
        AuditLog(tmp_path / "a.log", level="metadata")
    with pytest.raises(ValueError, match="unknown audit stage"):
        AuditLog(tmp_path / "a.log", omit_stages=["Received"])
    log = AuditLog(tmp_path / "a.log")
    with pytest.raises(ValueError, match="unknown audit stage"):
        emit(log, "Done")
    log.close()


def test_event_does_not_touch_the_disk(tmp_path):
    path = tmp_path / "audit.log"
    log = AuditLog(path, flush_interval=60)
    emit(log)
    time.sleep(0.05)
    assert not path.exists() or path.read_text() == ""
    log.close()
    assert len(lines(path)) == 1


def test_buffered_events_reach_the_file_without_close(tmp_path):
    assert audit.FLUSH_INTERVAL <= 1.0
    path = tmp_path / "audit.log"
    log = AuditLog(path, flush_interval=0.05)
    emit(log)
    deadline = time.monotonic() + 2
    while time.monotonic() < deadline and not (path.exists() and path.read_text()):
        time.sleep(0.01)
    assert len(lines(path)) == 1
    log.close()


def test_close_is_idempotent_and_later_events_are_ignored(tmp_path):
    path = tmp_path / "audit.log"
    log = AuditLog(path)
    emit(log)
    log.close()
    log.close()
    emit(log)
    assert len(lines(path)) == 1


def test_file_is_private_and_appended_to(tmp_path):
    path = tmp_path / "logs" / "audit.log"
    for _ in range(2):
        log = AuditLog(path)
        emit(log)
        log.close()
    assert len(lines(path)) == 2
    assert stat.S_IMODE(path.stat().st_mode) == 0o600


def test_writer_falling_behind_drops_and_counts(tmp_path):
    path = tmp_path / "audit.log"
    log = AuditLog(path, max_buffered=3, flush_interval=60)
    for _ in range(5):
        emit(log)
    assert log.dropped == 2
    log.close()
    assert len(lines(path)) == 3


BIG = {"note": "x" * 10_000}  # about 10 KB per event: a megabyte in about a hundred events


def test_rotation_by_size_keeps_max_backups(tmp_path):
    path = tmp_path / "audit.log"
    log = AuditLog(path, max_size_mb=1, max_backups=2)
    total = 450  # ~4.5 MB: four rotations
    for i in range(total):
        emit(log, request_id=f"id-{i}", annotations=BIG)
    log.close()
    backups = log.backups()
    assert len(backups) == 2
    assert all(re.fullmatch(r"audit-\d{4}-\d\d-\d\dT\d\d-\d\d-\d\d\.\d{3}\.log", p.name) for p in backups)
    for file in [*backups, path]:
        assert file.stat().st_size <= 1024 * 1024
    kept = [e["auditID"] for file in [*backups, path] for e in lines(file)]
    assert kept == [f"id-{i}" for i in range(total - len(kept), total)]  # newest kept, in order
    assert sorted(p.name for p in tmp_path.iterdir()) == sorted([path.name, *(p.name for p in backups)])


def test_zero_backups_keeps_every_rotated_file(tmp_path):
    path = tmp_path / "audit.log"
    log = AuditLog(path, max_size_mb=1, max_backups=0)
    for i in range(350):
        emit(log, request_id=f"id-{i}", annotations=BIG)
    log.close()
    files = [*log.backups(), path]
    assert len(files) == 4
    assert sum(len(lines(f)) for f in files) == 350


def test_oversized_file_from_an_earlier_run_is_rotated_first(tmp_path):
    path = tmp_path / "audit.log"
    path.write_text("{}\n" * (1024 * 1024 // 3 + 1))
    log = AuditLog(path, max_size_mb=1)
    emit(log)
    log.close()
    assert len(lines(path)) == 1
    assert len(log.backups()) == 1


def test_stdout(capsys):
    log = AuditLog(Path("-"))
    emit(log)
    log.close()
    event = json.loads(capsys.readouterr().out)
    assert event["kind"] == "Event"
