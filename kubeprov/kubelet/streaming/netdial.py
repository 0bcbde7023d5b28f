"""Dialing ``localhost:<port>`` inside a pod's network namespace.

A socket belongs to the network namespace of the thread that created it, so a short-lived thread of its own
(never a pool thread: it is left in the pod's namespace) enters the namespace with libc ``setns`` (Python 3.11
has no ``os.setns``), creates and connects the socket, and hands it back; asyncio then uses it from any thread.
"""

from __future__ import annotations

import asyncio
import ctypes
import os
import socket
import threading
from pathlib import Path

CLONE_NEWNET = 0x40000000
CONNECT_TIMEOUT = 10.0


class DialError(OSError):
    """The pod's port could not be reached; the message is what the client is shown."""


def _setns(path: Path) -> None:
    libc = ctypes.CDLL(None, use_errno=True)
    fd = os.open(path, os.O_RDONLY | os.O_CLOEXEC)
    try:
        if libc.setns(fd, CLONE_NEWNET) != 0:
            err = ctypes.get_errno()
            raise OSError(err, f"setns {path}: {os.strerror(err)}")
    finally:
        os.close(fd)


def _connect(port: int, netns: Path | None) -> socket.socket:
    if netns is not None:
        _setns(netns)
    sock = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
    sock.settimeout(CONNECT_TIMEOUT)
    try:
        sock.connect(("127.0.0.1", port))
    except OSError as exc:
        sock.close()
        reason = "connection refused" if isinstance(exc, ConnectionRefusedError) else (exc.strerror or str(exc))
        where = f" inside namespace {str(netns)!r}" if netns is not None else ""
        raise DialError(f"failed to connect to localhost:{port}{where}, IPv4: dial tcp4 127.0.0.1:{port}: "
                        f"connect: {reason.lower()}") from None
    sock.setblocking(False)
    return sock


async def dial(port: int, netns: Path | None) -> socket.socket:
    """A connected non-blocking socket to ``localhost:port`` in ``netns`` (the host's network when None)."""
    loop = asyncio.get_running_loop()
    done: asyncio.Future[socket.socket] = loop.create_future()

    def work() -> None:
        try:
            result = _connect(port, netns)
        except BaseException as exc:  # handed to the waiting coroutine
            loop.call_soon_threadsafe(_settle, done, None, exc)
            return
        loop.call_soon_threadsafe(_settle, done, result, None)

    threading.Thread(target=work, name=f"dial-{port}", daemon=True).start()
    return await done


def _settle(fut: asyncio.Future[socket.socket], result: socket.socket | None, exc: BaseException | None) -> None:
    if fut.done():
        if result is not None:
            result.close()  # the waiter gave up (cancelled)
        return
    if exc is not None:
        fut.set_exception(exc)
    else:
        assert result is not None
        fut.set_result(result)
