"""Attach to a running container: its output from now on, and its stdin when the container has one.

Output comes from the container's CRI log file (the shim writes every line there), followed from its current
end until the container exits. Stdin goes to the FIFO the shim made the container's stdin (``stdin: true``
containers only); with ``stdinOnce`` the end of the first attached session's input closes it for good, by
telling the shim over its control FIFO (it drops the write end it holds, or types ^D on a terminal). For a
``tty: true`` container the client's resizes go the same way to the terminal the shim holds.
"""

from __future__ import annotations

import asyncio
import contextlib
import os
from pathlib import Path
from typing import Any, BinaryIO

from kubeprov.kubelet.runtime.manager import RUNNING
from kubeprov.kubelet.streaming.remotecommand import Options, write_fd
from kubeprov.kubelet.streaming.session import StreamSession

POLL = 0.1
STATE_EVERY = 5  # polls between runtime state checks


def parse_cri_line(line: bytes) -> tuple[str, bytes] | None:
    """(stream, text) of one CRI log line; a full (F) line gets its newline back, a partial (P) one not."""
    parts = line.rstrip(b"\n").split(b" ", 3)
    if len(parts) < 3:
        return None
    stream, tag = parts[1].decode(errors="replace"), parts[2]
    text = parts[3] if len(parts) == 4 else b""
    return stream, text + (b"" if tag == b"P" else b"\n")


async def follow_output(runtime: Any, cid: str, log: BinaryIO, opts: Options, session: StreamSession) -> None:
    """Copy log lines written after ``log``'s position to stdout/stderr until the container stops (then drain)."""
    with log:
        pending = b""
        polls = 0
        while True:
            chunk = log.read()
            if chunk:
                pending += chunk
                *lines, pending = pending.split(b"\n")
                for line in lines:
                    parsed = parse_cri_line(line)
                    if parsed is None:
                        continue
                    stream, text = parsed
                    if stream == "stdout" and opts.stdout:
                        await session.stdout(text)
                    elif stream == "stderr" and opts.stderr:
                        await session.stderr(text)
                continue
            polls += 1
            if polls % STATE_EVERY == 0:
                status = await runtime.container_status(cid)
                if status.state != RUNNING:
                    if log.read(1) == b"":  # nothing left behind the exit
                        return
                    log.seek(-1, os.SEEK_CUR)
            await asyncio.sleep(POLL)


async def feed_stdin(fifo: Path, control: Path | None, session: StreamSession, once: bool) -> None:
    """Session input -> the container's stdin FIFO; at its end, with ``once``, close the container's stdin."""
    fd = os.open(fifo, os.O_WRONLY | os.O_NONBLOCK | os.O_CLOEXEC)
    try:
        while (data := await session.stdin.get()) is not None:
            await write_fd(fd, data)
    finally:
        os.close(fd)
        if once and control is not None:
            send_command(control, "close")


async def forward_resizes(control: Path, session: StreamSession) -> None:
    """The client's terminal sizes -> the shim, which sets them on the container's terminal."""
    while True:
        size = await session.resizes.get()
        if size.width > 0 and size.height > 0:
            send_command(control, f"resize {size.width} {size.height}")


def send_command(control: Path, command: str) -> None:
    """One line to the shim's control FIFO (it always has it open for reading)."""
    with contextlib.suppress(OSError):
        fd = os.open(control, os.O_WRONLY | os.O_NONBLOCK | os.O_CLOEXEC)
        try:
            os.write(fd, command.encode() + b"\n")
        finally:
            os.close(fd)


async def run_attach(runtime: Any, container: Any, spec: dict[str, Any], opts: Options,
                     session: StreamSession) -> None:
    """Attach ``session`` to the running ``container`` (runtime status) whose pod spec entry is ``spec``."""
    log = open(container.log_path, "rb")
    log.seek(0, os.SEEK_END)  # from now on, before any input can cause output
    tasks = [asyncio.create_task(session.gone.wait())]
    control = runtime.control_fifo(container.id)
    fifo = runtime.stdin_fifo(container.id) if opts.stdin and spec.get("stdin") else None
    if fifo is not None:
        tasks.append(asyncio.create_task(feed_stdin(fifo, control, session, bool(spec.get("stdinOnce")))))
    if opts.tty and spec.get("tty") and control is not None:
        tasks.append(asyncio.create_task(forward_resizes(control, session)))
    output = asyncio.create_task(_watch(runtime, container, log, opts, session))
    try:
        await asyncio.wait([output, tasks[0]], return_when=asyncio.FIRST_COMPLETED)
    finally:
        for task in [output, *tasks]:
            task.cancel()
        await asyncio.gather(output, *tasks, return_exceptions=True)
        log.close()
    if not session.gone.is_set():
        await session.finish(0)


async def _watch(runtime: Any, container: Any, log: BinaryIO, opts: Options, session: StreamSession) -> None:
    """Until the container stops: its output when asked for, else only its state."""
    if opts.stdout or opts.stderr:
        await follow_output(runtime, container.id, log, opts, session)
        return
    while (await runtime.container_status(container.id)).state == RUNNING:
        await asyncio.sleep(POLL * STATE_EVERY)
