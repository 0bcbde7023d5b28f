"""Reading the CRI container log format our shim writes (``<RFC3339Nano> <stream> <F|P> <text>``)."""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path


@dataclass(frozen=True)
class LogEntry:
    """One logical line: partial (P) pieces joined with the full (F) piece that ends them."""

    time: str
    stream: str
    text: str


def parse_line(line: bytes) -> tuple[str, str, str, bytes] | None:
    """(time, stream, tag, text) of one log file line, None for a malformed one."""
    parts = line.rstrip(b"\n").split(b" ", 3)
    if len(parts) < 3 or parts[1] not in (b"stdout", b"stderr") or parts[2] not in (b"F", b"P"):
        return None
    text = parts[3] if len(parts) == 4 else b""
    return parts[0].decode(), parts[1].decode(), parts[2].decode(), text


def read_log(path: Path, stream: str | None = None) -> list[LogEntry]:
    """All complete entries of a container log, optionally one stream only."""
    try:
        data = Path(path).read_bytes()
    except FileNotFoundError:
        return []
    entries: list[LogEntry] = []
    pending: dict[str, tuple[str, bytes]] = {}
    for raw in data.splitlines():
        parsed = parse_line(raw)
        if parsed is None:
            continue
        when, which, tag, text = parsed
        first, sofar = pending.pop(which, (when, b""))
        if tag == "P":
            pending[which] = (first, sofar + text)
            continue
        if stream is None or which == stream:
            entries.append(LogEntry(first, which, (sofar + text).decode(errors="replace")))
    return entries


def log_text(path: Path, stream: str | None = None) -> str:
    """The log's lines as the container wrote them (what ``kubectl logs`` prints)."""
    return "".join(entry.text + "\n" for entry in read_log(path, stream))
