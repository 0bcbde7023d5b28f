"""Our container shim: one small daemon per container that outlives the kubelet.

It runs ``runc create`` with pipes for the container's stdout/stderr (and with ``--stdin`` a FIFO as its stdin,
which attach writes to; with ``--tty`` a terminal whose master runc hands over its console socket, logged as
stdout, fed from that FIFO and resized on the kubelet's command), becomes the container's parent (child
subreaper), writes every output line to the container's log file in the CRI format (``<RFC3339Nano>
stdout|stderr F|P <text>``), and when the container's init exits records the exit status (and whether the
memory cgroup OOM-killed it) in ``exit.json`` next to the bundle. The kubelet only reads files, so a restarted
kubelet re-adopts running containers and still sees their exit codes.

Standard library only and run as a script (``python shim.py ...``), so it starts fast and does not
depend on the kubelet's package state once running.
"""

from __future__ import annotations

import argparse
import calendar
import ctypes
import fcntl
import json
import os
import shutil
import socket
import struct
import subprocess
import sys
import tempfile
import termios
import threading
import time
from collections.abc import Callable
from pathlib import Path

PR_SET_CHILD_SUBREAPER = 36
STDIN_FIFO = "stdin"  # the container's stdin (containers with stdin: true): attach writes here
STDIN_CONTROL = "stdin-ctl"  # "close" ends the container's stdin (stdinOnce); "resize W H" sizes its terminal
MAX_LINE = 16 * 1024  # containerd's CRI buffer: longer lines are split into P(artial) entries
EXIT_FILE = "exit.json"
PID_FILE = "init.pid"
RUNC_LOG = "runc.log"
SHIM_PID_FILE = "shim.pid"


def rfc3339nano(when: float | None = None, ns: int | None = None) -> str:
    """Go's time.RFC3339Nano in UTC: nanoseconds with trailing zeros trimmed."""
    if ns is None:
        ns = time.time_ns() if when is None else int(when * 1e9)
    seconds, frac = divmod(ns, 1_000_000_000)
    stamp = time.strftime("%Y-%m-%dT%H:%M:%S", time.gmtime(seconds))
    digits = f"{frac:09d}".rstrip("0")
    return f"{stamp}.{digits}Z" if digits else f"{stamp}Z"


def rfc3339nano_ns(stamp: str) -> int:
    """Nanoseconds since the epoch of an RFC3339Nano UTC stamp (the trimmed fractions make plain string
    comparison wrong: "...:14.65Z" sorts after "...:14.654Z")."""
    whole, _, frac = stamp.rstrip("Z").partition(".")
    seconds = calendar.timegm(time.strptime(whole, "%Y-%m-%dT%H:%M:%S"))
    return seconds * 1_000_000_000 + int((frac + "000000000")[:9])


class CRILogWriter:
    """Thread-safe writer of CRI log lines for both streams of one container."""

    def __init__(self, path: Path) -> None:
        path.parent.mkdir(parents=True, exist_ok=True)
        self._file = open(path, "ab", buffering=0)
        self._lock = threading.Lock()

    def line(self, stream: str, tag: str, text: bytes) -> None:
        entry = f"{rfc3339nano()} {stream} {tag} ".encode() + text + b"\n"
        with self._lock:
            self._file.write(entry)

    def copy(self, fd: int, stream: str) -> None:
        """Read one pipe until EOF, emitting full lines as F and over-long pieces as P."""
        pending = b""
        while True:
            try:
                chunk = os.read(fd, 65536)
            except InterruptedError:
                continue
            except OSError:  # EIO: a terminal's last user closed it
                break
            if not chunk:
                break
            pending += chunk
            while True:
                cut = pending.find(b"\n")
                if cut < 0:
                    break
                self._emit_full(stream, pending[:cut])
                pending = pending[cut + 1 :]
            while len(pending) >= MAX_LINE:
                self.line(stream, "P", pending[:MAX_LINE])
                pending = pending[MAX_LINE:]
        if pending:
            self.line(stream, "F", pending)
        os.close(fd)

    def _emit_full(self, stream: str, text: bytes) -> None:
        while len(text) > MAX_LINE:
            self.line(stream, "P", text[:MAX_LINE])
            text = text[MAX_LINE:]
        self.line(stream, "F", text)


def write_json_atomic(path: Path, data: dict) -> None:
    tmp = path.with_suffix(".tmp")
    tmp.write_text(json.dumps(data))
    os.replace(tmp, path)


def oom_kills(cgroups_path: str) -> int:
    """The memory cgroup's ``oom_kill`` counter (cgroup v1 memory.oom_control), 0 when unreadable."""
    control = Path("/sys/fs/cgroup/memory") / cgroups_path.lstrip("/") / "memory.oom_control"
    try:
        for line in control.read_text().splitlines():
            key, _, value = line.partition(" ")
            if key == "oom_kill":
                return int(value)
    except (OSError, ValueError):
        pass
    return 0


def wait_for(pid: int) -> int:
    """Reap children (we are their subreaper) until ``pid`` exits; returns its wait status."""
    while True:
        try:
            reaped, status = os.waitpid(-1, 0)
        except InterruptedError:
            continue
        except ChildProcessError:
            # Not our child after all (reparenting failed): poll until it is gone; status unknown.
            while Path(f"/proc/{pid}").exists():
                time.sleep(0.1)
            return 255 << 8
        if reaped == pid:
            return status


def exit_code(status: int) -> tuple[int, int]:
    """(exit code the way runtimes report it, signal): a signal N death is 128+N."""
    if os.WIFSIGNALED(status):
        sig = os.WTERMSIG(status)
        return 128 + sig, sig
    return os.WEXITSTATUS(status), 0


def open_stdin(state: Path) -> tuple[int, int]:
    """The container's stdin as a FIFO in its state dir: (read end for the container, our write end). Holding
    a write end keeps the container from reading EOF while nobody is attached."""
    fifo = state / STDIN_FIFO
    os.mkfifo(fifo, 0o600)
    read_end = os.open(fifo, os.O_RDONLY | os.O_NONBLOCK)
    keep = os.open(fifo, os.O_WRONLY)
    os.set_blocking(read_end, True)
    return read_end, keep


def serve_control(state: Path, commands: dict[str, Callable[[list[str]], None]]) -> None:
    """Run the kubelet's commands from the control FIFO ("close" ends the container's stdin, "resize W H" sizes
    its terminal) until the shim exits."""
    control = state / STDIN_CONTROL
    os.mkfifo(control, 0o600)
    fd = os.open(control, os.O_RDWR)  # read-write: never EOF while we wait
    with os.fdopen(fd, "rb", buffering=0) as lines:
        while line := lines.readline():
            word, *rest = line.decode(errors="replace").split() or [""]
            handler = commands.get(word)
            if handler is not None:
                try:
                    handler(rest)
                except (OSError, ValueError) as exc:
                    print(f"control {word}: {exc}", file=sys.stderr)


class Console:
    """runc's ``--console-socket``: runc sends the pty master of a ``terminal: true`` container over it. The
    socket lives in a short directory of its own (unix socket paths are limited to 108 bytes)."""

    def __init__(self) -> None:
        self.directory = tempfile.mkdtemp(prefix="kpc-")
        self.path = os.path.join(self.directory, "console.sock")
        self._listener = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
        self._listener.bind(self.path)
        self._listener.listen(1)

    def receive(self, timeout: float = 30) -> int:
        """The pty master fd runc sent."""
        self._listener.settimeout(timeout)
        try:
            conn, _ = self._listener.accept()
            with conn:
                _, fds, _, _ = socket.recv_fds(conn, 4096, 1)
        finally:
            self.close()
        if not fds:
            raise RuntimeError("runc sent no console")
        return fds[0]

    def close(self) -> None:
        self._listener.close()
        shutil.rmtree(self.directory, ignore_errors=True)


def set_size(master: int, words: list[str]) -> None:
    cols, rows = (int(w) for w in words[:2])
    fcntl.ioctl(master, termios.TIOCSWINSZ, struct.pack("HHHH", rows, cols, 0, 0))


def feed_terminal(fifo: Path, master: int) -> None:
    """The stdin FIFO -> the container's terminal (the FIFO held open read-write, so never EOF)."""
    fd = os.open(fifo, os.O_RDWR)
    while data := os.read(fd, 65536):
        os.write(master, data)


def run(args: argparse.Namespace, ready: int) -> int:
    state = Path(args.state)
    (state / SHIM_PID_FILE).write_text(str(os.getpid()))
    libc = ctypes.CDLL(None, use_errno=True)
    libc.prctl(PR_SET_CHILD_SUBREAPER, 1, 0, 0, 0)
    out_r, out_w = os.pipe()
    err_r, err_w = os.pipe()
    cmd = [args.runc, "--root", args.root, "--log", str(state / RUNC_LOG), "--log-format", "json"]
    cmd += ["create", "--bundle", args.bundle, "--pid-file", str(state / PID_FILE), args.id]
    console = Console() if args.tty else None
    if console is not None:
        cmd[-1:-1] = ["--console-socket", console.path]
    stdin_r, keep = open_stdin(state) if args.stdin and console is None else (-1, -1)
    if args.stdin and console is not None:
        os.mkfifo(state / STDIN_FIFO, 0o600)
    with open(os.devnull, "rb") as devnull:
        create = subprocess.Popen(cmd, stdin=stdin_r if stdin_r >= 0 else devnull, stdout=out_w, stderr=err_w,
                                  close_fds=True)
    if stdin_r >= 0:
        os.close(stdin_r)
    os.close(out_w)
    os.close(err_w)
    writer = CRILogWriter(Path(args.log))
    readers = [
        threading.Thread(target=writer.copy, args=(out_r, "stdout"), daemon=True),
        threading.Thread(target=writer.copy, args=(err_r, "stderr"), daemon=True),
    ]
    for reader in readers:
        reader.start()
    received: list[int] = []
    if console is not None:
        receiver = threading.Thread(target=lambda: received.append(console.receive()), daemon=True)
        receiver.start()
    if create.wait() != 0:
        if console is not None:
            console.close()
        os.write(ready, b"error " + runc_error(state / RUNC_LOG).encode() + b"\n")
        return 1
    if console is not None:
        receiver.join(30)
        if not received:
            os.write(ready, b"error runc sent no console for the container's terminal\n")
            return 1
    master = received[0] if received else -1
    commands: dict[str, Callable[[list[str]], None]] = {}
    if master >= 0:
        readers.append(threading.Thread(target=writer.copy, args=(os.dup(master), "stdout"), daemon=True))
        readers[-1].start()
        commands["resize"] = lambda words: set_size(master, words)
        commands["close"] = lambda _: os.write(master, b"\x04") and None  # end of input on a terminal
        if args.stdin:
            threading.Thread(target=feed_terminal, args=(state / STDIN_FIFO, master), daemon=True).start()
    elif keep >= 0:
        commands["close"] = lambda _: os.close(keep)
    if commands:
        threading.Thread(target=serve_control, args=(state, commands), daemon=True).start()
    pid = int((state / PID_FILE).read_text().strip())
    os.write(ready, f"ok {pid}\n".encode())
    os.close(ready)
    status = wait_for(pid)
    finished = rfc3339nano()
    for reader in readers:
        reader.join(timeout=5)
    code, sig = exit_code(status)
    oom = oom_kills(args.cgroups_path) > 0  # containerd: any OOM kill in the container's cgroup
    write_json_atomic(state / EXIT_FILE, {"exitCode": code, "signal": sig, "finishedAt": finished, "oomKilled": oom})
    return 0


def runc_error(log: Path) -> str:
    """The last error runc logged (its JSON log), else a generic message."""
    try:
        lines = log.read_text().splitlines()
    except OSError:
        return "runc create failed"
    for line in reversed(lines):
        try:
            entry = json.loads(line)
        except ValueError:
            continue
        if entry.get("level") in ("error", "fatal"):
            return str(entry.get("msg", "")).replace("\n", " ")
    return "runc create failed"


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description="container shim (runc create, CRI log, exit status)")
    for name in ("runc", "root", "bundle", "id", "log", "state", "cgroups-path"):
        parser.add_argument(f"--{name}", required=True)
    parser.add_argument("--stdin", action="store_true", help="give the container a stdin FIFO for attach")
    parser.add_argument("--tty", action="store_true", help="the container has a terminal (runc --console-socket)")
    args = parser.parse_args(argv)
    ready_r, ready_w = os.pipe()
    if os.fork() > 0:
        # The launcher: relay the daemon's first line (ok PID / error MSG) and exit with it.
        os.close(ready_w)
        with os.fdopen(ready_r, "rb") as ready:
            line = ready.readline()
        sys.stdout.buffer.write(line or b"error shim died before runc create finished\n")
        sys.stdout.flush()
        return 0 if line.startswith(b"ok ") else 1
    os.close(ready_r)
    os.setsid()
    null = os.open(os.devnull, os.O_RDWR)
    shim_log = os.open(str(Path(args.state) / "shim.log"), os.O_WRONLY | os.O_CREAT | os.O_APPEND, 0o600)
    os.dup2(null, 0)
    os.dup2(null, 1)
    os.dup2(shim_log, 2)
    os.close(null)
    os.close(shim_log)
    sys.stderr = open(2, "w", closefd=False)
    try:
        code = run(args, ready_w)
    except Exception as e:  # the daemon has no one to raise to: tell the launcher, log the rest
        try:
            os.write(ready_w, f"error shim: {e}\n".encode())
        except OSError:
            pass
        import traceback

        traceback.print_exc()
        code = 1
    os._exit(code)


if __name__ == "__main__":
    sys.exit(main())
