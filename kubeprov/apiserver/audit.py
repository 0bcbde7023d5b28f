"""The audit log: one audit.k8s.io/v1 Event per line, the format Kubernetes' log backend writes.

Anything that reads kube-apiserver audit logs (log shippers, SIEM rules, ``jq``) reads ours. Events are
serialized on the caller's thread (cheap) and appended to a memory buffer; a writer thread owned by the
log writes the buffer at least once a second, so the event loop never waits for the disk. When the file
would pass ``max_size_mb`` it is renamed like Kubernetes' rotation does (``audit-2024-05-01T10-00-00.000.log``
for ``audit.log``) and only the newest ``max_backups`` renamed files are kept (0 keeps them all, as
``--audit-log-maxbackup``). A path of ``-`` writes to standard output. If the disk cannot keep up, events
beyond ``max_buffered`` are dropped and counted rather than growing memory or blocking requests.
"""

from __future__ import annotations

import json
import logging
import os
import sys
import threading
import time
from collections.abc import Iterable
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import IO, Any

log = logging.getLogger("kubeprov.apiserver.audit")

LEVELS = ("None", "Metadata", "Request", "RequestResponse")
STAGES = ("RequestReceived", "ResponseStarted", "ResponseComplete", "Panic")
FLUSH_INTERVAL = 1.0  # seconds an event may wait in memory
EAGER_FLUSH_BYTES = 256 * 1024  # wake the writer early once this much is waiting
BACKUP_TIME_FORMAT = "%Y-%m-%dT%H-%M-%S"


def micro_time(moment: datetime) -> str:
    """Kubernetes' MicroTime: UTC with exactly six fractional digits (naive times are taken as UTC)."""
    if moment.tzinfo is None:
        moment = moment.replace(tzinfo=UTC)
    return moment.astimezone(UTC).strftime("%Y-%m-%dT%H:%M:%S.%fZ")


def _without_empty(values: dict[str, Any]) -> dict[str, Any]:
    """Kubernetes leaves empty fields out (``omitempty``): core-group objectRefs have no apiGroup."""
    return {k: v for k, v in values.items() if v not in (None, "", [], {}, ())}


class AuditLog:
    """Appends audit events to a file (or stdout) from a background writer thread."""

    def __init__(
        self,
        path: Path | None,
        *,
        level: str = "Metadata",
        max_size_mb: int = 100,
        max_backups: int = 5,
        omit_stages: Iterable[str] = (),
        max_buffered: int = 100_000,
        flush_interval: float = FLUSH_INTERVAL,
    ) -> None:
        if level not in LEVELS:
            raise ValueError(f"audit level must be one of {', '.join(LEVELS)}, got {level!r}")
        unknown = sorted(set(omit_stages) - set(STAGES))
        if unknown:
            raise ValueError(f"unknown audit stage(s) {', '.join(unknown)}; stages are {', '.join(STAGES)}")
        self.path = Path(path) if path is not None else None
        self.level = level
        self.max_bytes = max(0, max_size_mb) * 1024 * 1024  # 0: never rotate
        self.max_backups = max(0, max_backups)
        self.omit_stages = frozenset(omit_stages)
        self.max_buffered = max_buffered
        self.flush_interval = flush_interval
        self.dropped = 0  # events lost because the writer fell behind or the disk failed
        self._buffer: list[str] = []
        self._buffered_bytes = 0
        self._lock = threading.Lock()
        self._wake = threading.Event()
        self._closed = False
        self._file: IO[bytes] | None = None
        self._size = 0
        self._last_error = 0.0
        self._thread: threading.Thread | None = None
        if self.enabled:
            self._thread = threading.Thread(target=self._run, name="audit-log-writer", daemon=True)
            self._thread.start()

    @property
    def enabled(self) -> bool:
        """False when nothing would be written: callers can skip building events."""
        return self.path is not None and self.level != "None"

    # ---- producing events ----------------------------------------------------------------

    def event(
        self,
        *,
        stage: str,
        request_id: str,
        verb: str,
        request_uri: str,
        user: dict,
        source_ips: list[str],
        user_agent: str,
        object_ref: dict | None,
        response_code: int | None,
        request_received: datetime,
        stage_time: datetime,
        annotations: dict | None = None,
        request_object: Any = None,
        response_object: Any = None,
    ) -> None:
        """Record one stage of one request. ``request_object`` is kept from level Request up,
        ``response_object`` only at RequestResponse (both optional)."""
        if not self.enabled or self._closed or stage in self.omit_stages:
            return
        if stage not in STAGES:
            raise ValueError(f"unknown audit stage {stage!r}; stages are {', '.join(STAGES)}")
        entry: dict[str, Any] = {
            "kind": "Event",
            "apiVersion": "audit.k8s.io/v1",
            "level": self.level,
            "auditID": request_id,
            "stage": stage,
            "requestURI": request_uri,
            "verb": verb,
            "user": _without_empty({
                "username": user.get("username", ""),
                "uid": user.get("uid", ""),
                "groups": list(user.get("groups") or ()),
                "extra": {k: list(v) for k, v in (user.get("extra") or {}).items()},
            }),
            "sourceIPs": list(source_ips),
            "userAgent": user_agent,
        }
        if object_ref:
            ref = _without_empty({field: object_ref.get(field) for field in (
                "resource", "namespace", "name", "uid", "apiGroup", "apiVersion", "resourceVersion", "subresource")})
            if ref:
                entry["objectRef"] = ref
        if response_code is not None:
            entry["responseStatus"] = {"metadata": {}, "code": response_code}
        if request_object is not None and self.level in ("Request", "RequestResponse"):
            entry["requestObject"] = request_object
        if response_object is not None and self.level == "RequestResponse":
            entry["responseObject"] = response_object
        entry["requestReceivedTimestamp"] = micro_time(request_received)
        entry["stageTimestamp"] = micro_time(stage_time)
        if annotations:
            entry["annotations"] = {str(k): str(v) for k, v in annotations.items()}
        line = json.dumps(entry, separators=(",", ":"), default=str) + "\n"
        with self._lock:
            if len(self._buffer) >= self.max_buffered:
                self.dropped += 1
                return
            self._buffer.append(line)
            self._buffered_bytes += len(line)
            eager = self._buffered_bytes >= EAGER_FLUSH_BYTES
        if eager:
            self._wake.set()

    def close(self) -> None:
        """Write everything still buffered and stop the writer; later events are ignored."""
        if self._closed:
            return
        self._closed = True
        self._wake.set()
        if self._thread is not None:
            self._thread.join()
            self._thread = None
            # an event that raced with closing lands here instead of being lost
            self._flush()
            self._close_file()

    # ---- the writer thread ---------------------------------------------------------------

    def _run(self) -> None:
        try:
            while not self._closed:
                self._wake.wait(self.flush_interval)
                self._wake.clear()
                self._flush()
            self._flush()
        finally:
            self._close_file()

    def _flush(self) -> None:
        with self._lock:
            lines, self._buffer = self._buffer, []
            self._buffered_bytes = 0
        if not lines:
            return
        try:
            if self.path == Path("-"):
                sys.stdout.write("".join(lines))
                sys.stdout.flush()
                return
            self._write(lines)
        except OSError as err:
            with self._lock:
                self.dropped += len(lines)
            self._close_file()  # reopen (and re-stat) on the next flush
            now = time.monotonic()
            if now - self._last_error > 60:
                self._last_error = now
                log.error("cannot write audit log %s: %s; %d events dropped so far", self.path, err, self.dropped)

    def _write(self, lines: list[str]) -> None:
        self._open()  # learns the size of a file left by an earlier run
        chunk: list[bytes] = []
        chunk_size = 0
        for line in lines:
            data = line.encode()
            pending = self._size + chunk_size
            if self.max_bytes and pending + len(data) > self.max_bytes and pending > 0:
                self._write_chunk(chunk)
                chunk, chunk_size = [], 0
                self._rotate()
            chunk.append(data)
            chunk_size += len(data)
        self._write_chunk(chunk)

    def _write_chunk(self, chunk: list[bytes]) -> None:
        if not chunk:
            return
        file = self._open()
        data = b"".join(chunk)
        file.write(data)
        file.flush()
        self._size += len(data)

    def _open(self) -> IO[bytes]:
        if self._file is None:
            assert self.path is not None
            self.path.parent.mkdir(parents=True, exist_ok=True)
            # audit logs name users and resources: readable by the owner only, like Kubernetes' files
            fd = os.open(self.path, os.O_WRONLY | os.O_APPEND | os.O_CREAT, 0o600)
            self._file = os.fdopen(fd, "ab")
            self._size = self._file.seek(0, os.SEEK_END)
        return self._file

    def _close_file(self) -> None:
        if self._file is not None:
            try:
                self._file.close()
            except OSError:
                pass
            self._file = None

    def _rotate(self) -> None:
        """Rename the full file to ``<stem>-<UTC time>.<ext>`` and drop the oldest renamed files."""
        assert self.path is not None
        self._close_file()
        stem, suffix = self.path.stem, self.path.suffix
        moment = datetime.now(UTC)
        while True:  # two rotations in one millisecond must not overwrite each other
            name = f"{stem}-{moment.strftime(BACKUP_TIME_FORMAT)}.{moment.microsecond // 1000:03d}{suffix}"
            target = self.path.with_name(name)
            if not target.exists():
                break
            moment += timedelta(milliseconds=1)
        os.replace(self.path, target)
        self._size = 0
        if self.max_backups:
            for old in self.backups()[: -self.max_backups]:
                try:
                    old.unlink()
                except OSError:
                    pass

    def backups(self) -> list[Path]:
        """Rotated files of this log, oldest first (their names sort by time)."""
        if self.path is None or self.path == Path("-"):
            return []
        stem, suffix = self.path.stem, self.path.suffix
        found = []
        for candidate in self.path.parent.glob(f"{stem}-*{suffix}"):
            stamp = candidate.name[len(stem) + 1: len(candidate.name) - len(suffix)]
            try:
                datetime.strptime(stamp, BACKUP_TIME_FORMAT + ".%f")
            except ValueError:
                continue
            found.append(candidate)
        return sorted(found, key=lambda p: p.name)
