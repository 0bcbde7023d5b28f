"""``GET /containerLogs/{namespace}/{pod}/{container}``: a container's CRI log file as ``kubectl logs`` shows it.

The kubelet's semantics: ``tailLines`` counts lines of the log file from its end; ``sinceSeconds``/``sinceTime``
drop lines stamped earlier; partial (``P``) pieces run on into the line their ``F`` piece ends, and with
``timestamps`` only a line's first piece gets the ``<RFC3339Nano> `` prefix; ``limitBytes`` cuts the output
(mid-line) and ends it; ``follow`` keeps sending lines as the shim writes them and ends once the container
has exited and its file is drained; ``previous`` reads the instance before the current one.
"""

from __future__ import annotations

import asyncio
import calendar
import contextlib
import time
from collections.abc import Mapping
from dataclasses import dataclass
from datetime import datetime
from pathlib import Path
from typing import Any, BinaryIO

from aiohttp import web

from kubeprov.kubelet.runtime.logs import parse_line

FOLLOW_POLL = 0.2
READ_CHUNK = 64 * 1024
TRUE_WORDS = ("1", "t", "T", "true", "TRUE", "True")
FALSE_WORDS = ("0", "f", "F", "false", "FALSE", "False")


class LogRequestError(Exception):
    """A request the kubelet answers with an error status (code, reason, message)."""

    def __init__(self, code: int, reason: str, message: str) -> None:
        super().__init__(message)
        self.code, self.reason, self.message = code, reason, message


@dataclass(frozen=True)
class LogOptions:
    """v1.PodLogOptions as the kubelet uses them; ``since_ns`` is Unix nanoseconds (None = all)."""

    follow: bool = False
    previous: bool = False
    timestamps: bool = False
    tail_lines: int | None = None
    since_ns: int | None = None
    limit_bytes: int | None = None


def stamp_ns(text: str) -> int | None:
    """Unix nanoseconds of an RFC 3339 stamp with any fraction (``Z`` or ``+hh:mm``); None if malformed."""
    text = text.strip()
    try:
        if text.endswith(("Z", "z")):
            body, offset = text[:-1], 0
        else:
            body, sign, zone = text[:-6], text[-6], text[-5:]
            if sign not in "+-" or zone[2] != ":":
                return None
            offset = (int(zone[:2]) * 3600 + int(zone[3:]) * 60) * (1 if sign == "+" else -1)
        base, _, fraction = body.partition(".")
        if fraction and not fraction.isdigit():
            return None
        moment = datetime.strptime(base, "%Y-%m-%dT%H:%M:%S")
    except (ValueError, IndexError):
        return None
    seconds = calendar.timegm(moment.timetuple()) - offset
    return seconds * 1_000_000_000 + int((fraction or "0")[:9].ljust(9, "0"))


def _bool(query: Mapping[str, str], name: str) -> bool:
    value = query.get(name)
    if value is None or value == "":
        return False
    if value in TRUE_WORDS:
        return True
    if value in FALSE_WORDS:
        return False
    raise LogRequestError(400, "BadRequest", f"invalid value {value!r} for {name}: expected true or false")


def _int(query: Mapping[str, str], name: str) -> int | None:
    value = query.get(name)
    if value is None or value == "":
        return None
    try:
        return int(value)
    except ValueError:
        raise LogRequestError(400, "BadRequest", f"invalid value {value!r} for {name}: expected an integer") from None


def _invalid(field: str, value: Any, detail: str) -> LogRequestError:
    return LogRequestError(422, "Invalid", f"Invalid request: {field}: Invalid value: {value}: {detail}")


def parse_options(query: Mapping[str, str], now_ns: int | None = None) -> LogOptions:
    """The query parameters as LogOptions, validated like ValidatePodLogOptions (422) or undecodable (400)."""
    tail = query.get("tail")  # the kubelet's old spelling; "all" means no limit
    merged = dict(query)
    if tail:
        merged.pop("tailLines", None)
        if tail != "all":
            merged["tailLines"] = tail
    tail_lines = _int(merged, "tailLines")
    limit_bytes = _int(merged, "limitBytes")
    since_seconds = _int(merged, "sinceSeconds")
    since_time = merged.get("sinceTime") or None
    if tail_lines is not None and tail_lines < 0:
        raise _invalid("tailLines", tail_lines, "must be greater than or equal to 0")
    if limit_bytes is not None and limit_bytes < 1:
        raise _invalid("limitBytes", limit_bytes, "must be greater than 0")
    if since_seconds is not None and since_time is not None:
        raise LogRequestError(422, "Invalid",
                              "Invalid request: at most one of `sinceTime` or `sinceSeconds` may be specified")
    since_ns = None
    if since_seconds is not None:
        if since_seconds < 1:
            raise _invalid("sinceSeconds", since_seconds, "must be greater than 0")
        now = time.time_ns() if now_ns is None else now_ns
        since_ns = now - since_seconds * 1_000_000_000
    elif since_time is not None:
        since_ns = stamp_ns(since_time)
        if since_ns is None:
            raise LogRequestError(400, "BadRequest", f"invalid sinceTime {since_time!r}: expected an RFC 3339 time")
    return LogOptions(follow=_bool(merged, "follow"), previous=_bool(merged, "previous"),
                      timestamps=_bool(merged, "timestamps"), tail_lines=tail_lines, since_ns=since_ns,
                      limit_bytes=limit_bytes)


def tail_offset(f: BinaryIO, lines: int, size: int) -> int:
    """Offset in the first ``size`` bytes of ``f`` where their last ``lines`` newline-terminated lines begin,
    found by reading backwards block by block (a long log is never read whole for a short tail)."""
    if lines == 0:
        return size
    pos = size - 1  # the newline ending the last line is not a boundary before it
    found = 0
    while pos > 0:
        block_start = max(pos - READ_CHUNK, 0)
        f.seek(block_start)
        block = f.read(pos - block_start)
        cut = len(block)
        while True:
            cut = block.rfind(b"\n", 0, cut)
            if cut < 0:
                break
            found += 1
            if found == lines:
                return block_start + cut + 1
        pos = block_start
    return 0


class LogFormatter:
    """CRI file lines in, client bytes out: since filter, timestamp prefixes, the byte limit."""

    def __init__(self, options: LogOptions) -> None:
        self.options = options
        self.remaining = options.limit_bytes
        self._new_line = True

    @property
    def exhausted(self) -> bool:
        return self.remaining is not None and self.remaining <= 0

    def format(self, raw: bytes) -> bytes:
        parsed = parse_line(raw)
        if parsed is None or self.exhausted:
            return b""
        when, _stream, tag, text = parsed
        since = self.options.since_ns
        if since is not None and (stamp_ns(when) or 0) < since:
            return b""
        out = text + b"\n" if tag == "F" else text
        if self.options.timestamps and self._new_line:
            out = when.encode() + b" " + out
        self._new_line = tag == "F"
        if self.remaining is not None:
            out = out[: self.remaining]
            self.remaining -= len(out)
        return out

    def format_all(self, data: bytes) -> bytes:
        return b"".join(self.format(line) for line in data.splitlines())


def _read_from(path: Path, offset: int) -> bytes:
    try:
        with path.open("rb") as f:
            f.seek(offset)
            return f.read(READ_CHUNK)
    except FileNotFoundError:
        return b""


def _start_offset(path: Path, tail_lines: int | None) -> int:
    """Where reading begins: 0, or the start of the last ``tail_lines`` complete lines."""
    if tail_lines is None:
        return 0
    try:
        with path.open("rb") as f:
            data_end = f.seek(0, 2)
            # a line the shim is still writing (no newline yet) is not counted
            f.seek(max(data_end - READ_CHUNK, 0))
            last = f.read()
            complete_end = data_end - len(last) + last.rfind(b"\n") + 1 if b"\n" in last else 0
            if complete_end == 0 and data_end > READ_CHUNK:
                complete_end = data_end  # one very long unfinished line: count from the file's end
            return tail_offset(f, tail_lines, complete_end)
    except FileNotFoundError:
        return 0


async def stream_log(response: web.StreamResponse, path: Path, options: LogOptions,
                     running: Any = None) -> None:
    """Write the log at ``path`` to ``response`` chunk by chunk; without ``follow`` it ends at the end of the
    file, with it it keeps going while ``running()`` is true (and drains the file once it is not)."""
    formatter = LogFormatter(options)
    offset = await asyncio.to_thread(_start_offset, path, options.tail_lines)
    pending = b""
    while not formatter.exhausted:
        chunk = await asyncio.to_thread(_read_from, path, offset)
        if chunk:
            offset += len(chunk)
            pending += chunk
            cut = pending.rfind(b"\n") + 1  # only whole lines; a line being written waits for the next read
            if cut:
                out = formatter.format_all(pending[:cut])
                pending = pending[cut:]
                if out:
                    await response.write(out)
            continue
        if not options.follow:
            return
        if running is not None and not await running():
            # the container is gone: one last look for lines written between the read and the check
            last = await asyncio.to_thread(_read_from, path, offset)
            if last:
                offset += len(last)
                pending += last
                continue
            return
        await asyncio.sleep(FOLLOW_POLL)


def container_spec_names(pod: Mapping[str, Any]) -> set[str]:
    spec = pod.get("spec") or {}
    return {c.get("name") for key in ("initContainers", "containers", "ephemeralContainers")
            for c in spec.get(key) or []}


def container_logs_handler(kubelet: Any) -> Any:
    """The route handler for ``kubelet``."""

    async def handle(request: web.Request) -> web.StreamResponse:
        return await container_logs(kubelet, request)

    return handle


async def container_logs(kubelet: Any, request: web.Request) -> web.StreamResponse:
    namespace, pod_name = request.match_info["namespace"], request.match_info["pod"]
    container = request.match_info["container"]
    options = parse_options(request.query)
    worker = kubelet.pod_worker(namespace, pod_name)
    if worker is None:
        raise LogRequestError(404, "NotFound", f'pod "{pod_name}" does not exist')
    if container not in container_spec_names(worker.pod):
        raise LogRequestError(404, "NotFound", f'container "{container}" not found in pod "{pod_name}"')
    status = await kubelet.find_container(namespace, pod_name, container, previous=options.previous)
    if status is None and options.previous:
        raise LogRequestError(400, "BadRequest",
                              f'previous terminated container "{container}" in pod "{pod_name}" not found')
    if status is None:
        # restarting (back-off): the last terminated instance still has the logs, as in the kubelet
        status = await kubelet.find_container(namespace, pod_name, container, previous=True)
    if status is None:
        raise LogRequestError(400, "BadRequest", _waiting_message(worker, container, pod_name))
    cid = status.id

    async def running() -> bool:
        with contextlib.suppress(KeyError):
            return (await kubelet.runtime.container_status(cid)).state == "running"
        return False

    response = web.StreamResponse(headers={"Content-Type": "text/plain; charset=utf-8"})
    response.enable_chunked_encoding()
    await response.prepare(request)
    with contextlib.suppress(ConnectionError):
        await stream_log(response, Path(status.log_path), options, running)
        await response.write_eof()
    return response


def _waiting_message(worker: Any, container: str, pod: str) -> str:
    reason = next((c.waiting[0] for c in worker.containers if c.name == container), "") or "ContainerCreating"
    if reason == "ErrImagePull":
        detail = "image can't be pulled"
    elif reason == "ImagePullBackOff":
        detail = "trying and failing to pull image"
    else:
        detail = reason
    return f'container "{container}" in pod "{pod}" is waiting to start: {detail}'
