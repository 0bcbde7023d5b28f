"""Exec in a running container over a ``StreamSession``: pipes without a terminal, a pty with one.

Without a tty, ``runc exec`` runs with pipes: its stdout/stderr go to their channels, stdin (when asked for) is
fed from the session and closed at end of input. With a tty, runc runs on a pty of ours (``runtime.exec_tty``);
its master is copied to stdout, stdin is written to it, and each resize sets the master's window size and
signals runc (SIGWINCH), which resizes the container's terminal. The exit code goes to the error channel.
"""

from __future__ import annotations

import asyncio
import contextlib
import fcntl
import logging
import os
import re
import signal
import struct
import tempfile
import termios
from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from kubeprov.kubelet.streaming.session import StreamSession, TerminalSize

log = logging.getLogger(__name__)

#: how long output may keep flowing after the command exited (a background child holding the pipe open)
DRAIN_AFTER_EXIT = 5.0


class OptionsError(ValueError):
    """Bad exec/attach query parameters: answered with a 400 Status before any upgrade."""


def _flag(query: Any, *names: str) -> bool:
    for name in names:
        for value in query.getall(name, []):
            if value.lower() in ("1", "true", "yes", "t"):
                return True
    return False


@dataclass
class Options:
    """The kubelet's remotecommand options: ``command`` (repeated), ``stdin``/``stdout``/``stderr``/``tty``, and
    the names ``input``/``output``/``error`` the API server sends."""

    command: list[str]
    stdin: bool
    stdout: bool
    stderr: bool
    tty: bool

    @classmethod
    def from_query(cls, query: Any, exec_: bool = True) -> Options:
        opts = cls(command=list(query.getall("command", [])), stdin=_flag(query, "stdin", "input"),
                   stdout=_flag(query, "stdout", "output"), stderr=_flag(query, "stderr", "error"),
                   tty=_flag(query, "tty"))
        if opts.tty:
            opts.stderr = False  # a terminal merges stderr into stdout
        if not (opts.stdin or opts.stdout or opts.stderr):
            raise OptionsError("you must specify at least 1 of stdin, stdout, stderr")
        if exec_ and not opts.command:
            raise OptionsError("you must specify at least one command for the container")
        return opts


async def run_exec(runtime: Any, cid: str, opts: Options, session: StreamSession) -> int | None:
    """Run ``opts.command`` in container ``cid`` wired to ``session``; reports and returns the exit code."""
    try:
        if opts.tty:
            code = await _run_tty(runtime, cid, opts, session)
        else:
            code = await _run_pipes(runtime, cid, opts, session)
    except ExecStartError as exc:  # as containerd words it, through the kubelet
        await session.finish(None, "error executing command in container: failed to exec in container: "
                                   f"OCI runtime exec failed: {exc}: unknown")
        return None
    except Exception as exc:  # runc itself failed: the client learns why on the error channel
        log.warning("exec in %s failed: %s", cid[:12], exc)
        await session.finish(None, f"error executing command in container: {exc}")
        return None
    await session.finish(code)
    return code


class ExecStartError(RuntimeError):
    """runc could not start the command (no such executable...): the message is runc's."""


async def _run_pipes(runtime: Any, cid: str, opts: Options, session: StreamSession) -> int:
    with tempfile.TemporaryDirectory(prefix="kubeprov-exec-") as tmp:
        pid_file = Path(tmp) / "pid"
        proc = await runtime.exec_stream(cid, opts.command, stdin=opts.stdin, pid_file=pid_file)
        gate = StartGate(pid_file, session.stderr if opts.stderr else None)
        assert proc.stdout is not None and proc.stderr is not None
        pumps = [asyncio.create_task(_pump(proc.stdout.read, session.stdout if opts.stdout else None)),
                 asyncio.create_task(_pump(proc.stderr.read, gate.write))]
        feeder = asyncio.create_task(_feed_pipe(proc, session)) if opts.stdin else None
        try:
            code = await proc.wait()
            await _finish_pumps(pumps)
        finally:
            for task in [*pumps, *([feeder] if feeder else [])]:
                task.cancel()
            if proc.returncode is None:
                with contextlib.suppress(ProcessLookupError):
                    proc.kill()
        if not pid_file.exists():
            raise ExecStartError(runc_message(gate.held))
        await gate.flush()
    return code


class StartGate:
    """Holds stderr back until runc's pid file shows the command started: before that, stderr carries runc's
    own complaint, which becomes the session's error instead of command output."""

    def __init__(self, pid_file: Path, write: Callable[[bytes], Awaitable[None]] | None) -> None:
        self.pid_file = pid_file
        self._write = write
        self.held = b""

    async def write(self, data: bytes) -> None:
        if not self.held and self.pid_file.exists():
            if self._write is not None:
                await self._write(data)
            return
        self.held += data
        if self.pid_file.exists():
            await self.flush()

    async def flush(self) -> None:
        held, self.held = self.held, b""
        if held and self._write is not None:
            await self._write(held)


def runc_message(stderr: bytes) -> str:
    """runc's error text: the ``msg="..."`` of its logfmt line when there is one."""
    text = stderr.decode(errors="replace").strip()
    match = re.search(r'msg="((?:[^"\\]|\\.)*)"', text)
    if match:
        return match.group(1).replace('\\"', '"')
    return text.splitlines()[-1] if text else "the process did not start"


async def _pump(read: Callable[[int], Awaitable[bytes]], write: Callable[[bytes], Awaitable[None]] | None) -> None:
    while True:
        data = await read(65536)
        if not data:
            return
        if write is not None:
            await write(data)


async def _finish_pumps(pumps: list[asyncio.Task[None]]) -> None:
    done, pending = await asyncio.wait(pumps, timeout=DRAIN_AFTER_EXIT)
    for task in pending:
        task.cancel()
    for task in done:
        if task.exception() is not None:
            log.debug("output pump ended: %s", task.exception())


async def _feed_pipe(proc: asyncio.subprocess.Process, session: StreamSession) -> None:
    assert proc.stdin is not None
    try:
        while (data := await session.stdin.get()) is not None:
            proc.stdin.write(data)
            await proc.stdin.drain()
    except (ConnectionError, BrokenPipeError):
        return
    finally:
        with contextlib.suppress(Exception):
            proc.stdin.close()


# ---------------------------------------------------------------------------------------------- tty


def _size_so_far(session: StreamSession) -> tuple[int, int] | None:
    """The last usable size the client sent before the command starts (kubectl's first resize usually
    comes with the streams), taken off the queue: runc then sizes the command's terminal from it at once,
    without waiting for the resize loop."""
    size = None
    while not session.resizes.empty():
        item = session.resizes.get_nowait()
        if item.width > 0 and item.height > 0:
            size = (item.width, item.height)
    return size


async def _run_tty(runtime: Any, cid: str, opts: Options, session: StreamSession) -> int:
    proc, master = await runtime.exec_tty(cid, opts.command, size=_size_so_far(session))
    os.set_blocking(master, False)
    tasks = [asyncio.create_task(_resize_loop(proc, master, session))]
    if opts.stdin:
        tasks.append(asyncio.create_task(_feed_fd(master, session)))
    try:
        pump = asyncio.create_task(_pump(lambda n: read_fd(master, n), session.stdout))
        code = await proc.wait()
        await _finish_pumps([pump])
    finally:
        for task in tasks:
            task.cancel()
        await asyncio.gather(*tasks, return_exceptions=True)
        if proc.returncode is None:
            with contextlib.suppress(ProcessLookupError):
                proc.kill()
        os.close(master)
    return code


async def _wait_fd(fd: int, writable: bool) -> None:
    loop = asyncio.get_running_loop()
    fut: asyncio.Future[None] = loop.create_future()

    def ready() -> None:
        if not fut.done():
            fut.set_result(None)

    (loop.add_writer if writable else loop.add_reader)(fd, ready)
    try:
        await fut
    finally:
        (loop.remove_writer if writable else loop.remove_reader)(fd)


async def read_fd(fd: int, size: int) -> bytes:
    """Read a non-blocking fd; b"" at end (a pty master reads EIO once the last slave is closed)."""
    while True:
        try:
            return os.read(fd, size)
        except BlockingIOError:
            await _wait_fd(fd, writable=False)
        except OSError:
            return b""


async def write_fd(fd: int, data: bytes) -> None:
    view = memoryview(data)
    while view:
        try:
            view = view[os.write(fd, view):]
        except BlockingIOError:
            await _wait_fd(fd, writable=True)


async def _feed_fd(master: int, session: StreamSession) -> None:
    with contextlib.suppress(OSError):
        while (data := await session.stdin.get()) is not None:
            await write_fd(master, data)
        await write_fd(master, b"\x04")  # end of input on a terminal is ^D


def set_window_size(fd: int, size: TerminalSize) -> None:
    fcntl.ioctl(fd, termios.TIOCSWINSZ, struct.pack("HHHH", size.height, size.width, 0, 0))


async def _resize_loop(proc: asyncio.subprocess.Process, master: int, session: StreamSession) -> None:
    """runc holds our pty as stdio but not as its controlling terminal, so the kernel does not signal it: we
    send SIGWINCH ourselves. The first size is signalled again shortly after, in case runc had not yet set up
    its handler when the client's first resize arrived."""
    first = True
    while True:
        size = await session.resizes.get()
        if size.width <= 0 or size.height <= 0:
            continue
        with contextlib.suppress(OSError):
            set_window_size(master, size)
        for delay in ((0.0, 0.3, 1.0) if first else (0.0,)):
            await asyncio.sleep(delay)
            with contextlib.suppress(ProcessLookupError):
                os.kill(proc.pid, signal.SIGWINCH)
        first = False
