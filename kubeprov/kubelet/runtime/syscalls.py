"""mount(2), umount2(2) and namespace pinning through libc, without spawning ``mount``/``unshare``.

Starting a pod used to exec `unshare` twice and `mount` once or more; at 50 pods at once those execs were a
good part of the node's CPU. A new namespace is made in a short-lived thread of our own: network, IPC and UTS
namespaces belong to a thread, so ``unshare`` there leaves the rest of the kubelet where it was, and the thread
goes back (``setns``) before it ends anyway.
"""

from __future__ import annotations

import ctypes
import errno
import fcntl
import os
import socket
import struct
import threading
from collections.abc import Mapping
from pathlib import Path

MS_BIND = 4096
MNT_DETACH = 2
CLONE_FLAGS = {"net": 0x40000000, "ipc": 0x08000000, "uts": 0x04000000}
SIOCGIFFLAGS = 0x8913
SIOCSIFFLAGS = 0x8914
IFF_UP = 0x1

_libc = ctypes.CDLL(None, use_errno=True)


def _check(result: int, what: str) -> None:
    if result != 0:
        code = ctypes.get_errno()
        raise OSError(code, f"{what}: {os.strerror(code)}")


def mount(source: str, target: Path, fstype: str | None, flags: int = 0, data: str | None = None) -> None:
    _check(_libc.mount(source.encode(), str(target).encode(), fstype.encode() if fstype else None,
                       ctypes.c_ulong(flags), data.encode() if data else None), f"mount {target}")


def umount(target: Path, detach: bool = False) -> None:
    """Unmount; not mounted (EINVAL) or gone (ENOENT) is fine, the caller wanted it unmounted."""
    if _libc.umount2(str(target).encode(), MNT_DETACH if detach else 0) != 0:
        code = ctypes.get_errno()
        if code not in (errno.EINVAL, errno.ENOENT):
            raise OSError(code, f"umount {target}: {os.strerror(code)}")


def _loopback_up() -> None:
    """``ip link set lo up`` for the calling thread's network namespace."""
    with socket.socket(socket.AF_INET, socket.SOCK_DGRAM) as sock:
        request = struct.pack("16sH14x", b"lo", 0)
        flags = struct.unpack("16sH14x", fcntl.ioctl(sock.fileno(), SIOCGIFFLAGS, request))[1]
        fcntl.ioctl(sock.fileno(), SIOCSIFFLAGS, struct.pack("16sH14x", b"lo", flags | IFF_UP))


def _pin(paths: Mapping[str, Path], hostname: str | None) -> None:
    own = {kind: os.open(f"/proc/thread-self/ns/{kind}", os.O_RDONLY) for kind in paths}
    try:
        flags = 0
        for kind in paths:
            flags |= CLONE_FLAGS[kind]
        _check(_libc.unshare(flags), "unshare")
        try:
            if hostname is not None and "uts" in paths:
                name = hostname.encode()
                _check(_libc.sethostname(name, len(name)), "sethostname")
            if "net" in paths:
                _loopback_up()
            for kind, path in paths.items():
                path.touch(exist_ok=True)
                mount(f"/proc/thread-self/ns/{kind}", path, None, MS_BIND)
        finally:
            for kind, fd in own.items():
                _check(_libc.setns(fd, CLONE_FLAGS[kind]), f"setns back to this process's {kind} namespace")
    finally:
        for fd in own.values():
            os.close(fd)


def pin_new_namespaces(paths: Mapping[str, Path], hostname: str | None = None) -> None:
    """Create new namespaces of the kinds in ``paths`` (net, ipc, uts), each pinned by a bind mount on its
    path (what ``unshare --net=PATH`` does); a new network namespace gets its loopback up, a new UTS one
    ``hostname``. Raises OSError; on failure the caller removes what was pinned."""
    failure: list[BaseException] = []

    def work() -> None:
        try:
            _pin(paths, hostname)
        except BaseException as exc:  # handed to the caller's thread
            failure.append(exc)

    thread = threading.Thread(target=work, name="kubeprov-namespaces")
    thread.start()
    thread.join()
    if failure:
        raise failure[0]
