"""Background processes a command started and a later command must stop: recorded by PID with
their command line, so `dev down` ends exactly what `dev up` started and never a reused PID."""

from __future__ import annotations

import json
import os
import signal
import time
from dataclasses import asdict, dataclass
from pathlib import Path

from kubeprov.state.atomic import atomic_write


@dataclass(frozen=True)
class ProcessRecord:
    name: str
    pid: int
    # a string the process's /proc/<pid>/cmdline must contain to be ours
    signature: str


def _cmdline(pid: int) -> str:
    try:
        return Path(f"/proc/{pid}/cmdline").read_bytes().replace(b"\0", b" ").decode(errors="replace")
    except OSError:
        return ""


def is_ours(record: ProcessRecord) -> bool:
    return record.signature in _cmdline(record.pid)


class ProcessTable:
    def __init__(self, path: Path) -> None:
        self.path = path

    def load(self) -> list[ProcessRecord]:
        if not self.path.exists():
            return []
        return [ProcessRecord(**entry) for entry in json.loads(self.path.read_text())]

    def save(self, records: list[ProcessRecord]) -> None:
        atomic_write(self.path, json.dumps([asdict(r) for r in records], indent=2) + "\n")

    def add(self, record: ProcessRecord) -> None:
        self.save([r for r in self.load() if r.name != record.name] + [record])

    def running(self) -> list[ProcessRecord]:
        return [r for r in self.load() if is_ours(r)]

    def stop_all(self, timeout: float = 15.0) -> list[str]:
        """SIGTERM in reverse start order, SIGKILL after ``timeout``; returns the names stopped."""
        stopped = []
        for record in reversed(self.load()):
            if not is_ours(record):
                continue
            os.kill(record.pid, signal.SIGTERM)
            deadline = time.monotonic() + timeout
            while is_ours(record) and time.monotonic() < deadline:
                time.sleep(0.05)
            if is_ours(record):
                os.kill(record.pid, signal.SIGKILL)
            stopped.append(record.name)
        if self.path.exists():
            self.path.unlink()
        return stopped


def start_process(table: ProcessTable, name: str, argv: list[str], log: Path, signature: str) -> int:
    """Start ``argv`` in its own session, output appended to ``log``, and record it; returns its PID."""
    import subprocess

    log.parent.mkdir(parents=True, exist_ok=True)
    with open(log, "ab") as out:
        proc = subprocess.Popen(argv, stdin=subprocess.DEVNULL, stdout=out, stderr=out, start_new_session=True)
    table.add(ProcessRecord(name, proc.pid, signature))
    return proc.pid
