"""Driving ``runc`` with a root directory of our own: create (through the shim), start, state, kill,
delete, list and exec."""

from __future__ import annotations

import asyncio
import fcntl
import json
import os
import signal
import struct
import sys
import tempfile
import termios
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

RUNC = "/usr/sbin/runc"
SHIM = Path(__file__).with_name("shim.py")


class RuncError(RuntimeError):
    """runc refused: the message is runc's (or the shim's) own."""


class NotFound(RuncError):
    """No such container in our runc root."""


@dataclass
class ExecResult:
    exit_code: int
    stdout: bytes
    stderr: bytes


@dataclass
class Runc:
    """runc with ``--root`` of our own, so ``list`` shows only our containers."""

    root: Path
    binary: str = RUNC
    extra: list[str] = field(default_factory=list)

    def _argv(self, *args: str) -> list[str]:
        return [self.binary, "--root", str(self.root), *self.extra, *args]

    async def _call(self, *args: str, timeout: float = 60) -> bytes:
        proc = await asyncio.create_subprocess_exec(
            *self._argv(*args),
            stdin=asyncio.subprocess.DEVNULL,
            stdout=asyncio.subprocess.PIPE,
            stderr=asyncio.subprocess.PIPE,
        )
        try:
            out, err = await asyncio.wait_for(proc.communicate(), timeout)
        except TimeoutError:
            proc.kill()
            await proc.wait()
            raise RuncError(f"runc {args[0]} timed out after {timeout:g}s") from None
        if proc.returncode != 0:
            message = err.decode(errors="replace").strip()
            if "does not exist" in message or "not found" in message:
                raise NotFound(message)
            raise RuncError(message or f"runc {args[0]} exited {proc.returncode}")
        return out

    async def create(self, cid: str, bundle: Path, state: Path, log: Path, cgroups_path: str,
                     stdin: bool = False, tty: bool = False) -> int:
        """``runc create`` under a new shim (which outlives us); returns the container's init pid. With
        ``stdin`` the container reads a FIFO the shim keeps in ``state`` (for attach); with ``tty`` (the
        bundle's ``process.terminal``) the shim holds the container's terminal."""
        self.root.mkdir(parents=True, exist_ok=True)
        argv = [sys.executable, str(SHIM), "--runc", self.binary, "--root", str(self.root)]
        argv += ["--bundle", str(bundle), "--id", cid, "--log", str(log), "--state", str(state)]
        argv += ["--cgroups-path", cgroups_path] + (["--stdin"] if stdin else []) + (["--tty"] if tty else [])
        proc = await asyncio.create_subprocess_exec(
            *argv, stdin=asyncio.subprocess.DEVNULL, stdout=asyncio.subprocess.PIPE, stderr=asyncio.subprocess.PIPE
        )
        out, err = await proc.communicate()
        line = out.decode(errors="replace").strip()
        if proc.returncode != 0 or not line.startswith("ok "):
            message = line.removeprefix("error ").strip() or err.decode(errors="replace").strip()
            raise RuncError(message or "shim failed")
        return int(line.split()[1])

    async def start(self, cid: str) -> None:
        await self._call("start", cid)

    async def state(self, cid: str) -> dict[str, Any]:
        """runc's state: ``status`` created/running/stopped/paused, ``pid``, ``created``."""
        return json.loads(await self._call("state", cid))

    async def kill(self, cid: str, signal: str = "TERM", all_processes: bool = False) -> None:
        await self._call("kill", *(["--all"] if all_processes else []), cid, signal)

    async def delete(self, cid: str, force: bool = False) -> None:
        await self._call("delete", *(["--force"] if force else []), cid)

    async def list(self) -> list[dict[str, Any]]:
        if not self.root.exists():
            return []
        return json.loads(await self._call("list", "--format", "json") or b"null") or []

    async def exec(
        self,
        cid: str,
        argv: list[str],
        stdin: bytes | None = None,
        timeout: float | None = None,
        env: list[str] | None = None,
        cwd: str | None = None,
    ) -> ExecResult:
        """Run a process in the running container with pipes (probes, ``kubectl exec`` without a tty);
        its exit code is runc's. On timeout the process itself is SIGKILLed (killing runc exec would
        leave it running) and TimeoutError raised."""
        with tempfile.TemporaryDirectory(prefix="kubeprov-exec-") as tmp:
            pid_file = Path(tmp) / "pid"
            proc = await self.exec_process(cid, argv, env=env, cwd=cwd, stdin=stdin is not None, pid_file=pid_file)
            try:
                out, err = await asyncio.wait_for(proc.communicate(stdin), timeout)
            except TimeoutError:
                _kill_pid_file(pid_file)
                proc.kill()
                await proc.wait()
                raise
        assert proc.returncode is not None
        return ExecResult(proc.returncode, out, err)

    async def exec_process(
        self,
        cid: str,
        argv: list[str],
        env: list[str] | None = None,
        cwd: str | None = None,
        stdin: bool = True,
        pid_file: Path | None = None,
    ) -> asyncio.subprocess.Process:
        """A streaming exec: the caller owns the pipes (for attach-style streaming later)."""
        options = self._exec_options(env, cwd) + (["--pid-file", str(pid_file)] if pid_file else [])
        return await asyncio.create_subprocess_exec(
            *self._argv("exec", *options, cid, *argv),
            stdin=asyncio.subprocess.PIPE if stdin else asyncio.subprocess.DEVNULL,
            stdout=asyncio.subprocess.PIPE,
            stderr=asyncio.subprocess.PIPE,
        )

    @staticmethod
    def _exec_options(env: list[str] | None, cwd: str | None) -> list[str]:
        options: list[str] = []
        for item in env or []:
            options += ["--env", item]
        if cwd:
            options += ["--cwd", cwd]
        return options

    async def exec_tty(
        self, cid: str, argv: list[str], env: list[str] | None = None, size: tuple[int, int] | None = None
    ) -> tuple[asyncio.subprocess.Process, int]:
        """An exec with a terminal. runc only hands a pty master over ``--console-socket`` when it
        detaches (and then the exit code is lost to us), so runc runs attached with a pty of ours as its
        stdio and copies between it and the container's pty. ``size`` (columns, rows), when known, is on
        our pty before runc starts, so runc gives it to the container's terminal as soon as it holds the
        console (the command may run a moment before that), without waiting for a resize.
        Returns the runc process (its exit code is the command's) and our master fd (the caller closes it)."""
        master, slave = os.openpty()
        try:
            if size is not None:
                fcntl.ioctl(master, termios.TIOCSWINSZ, struct.pack("HHHH", size[1], size[0], 0, 0))
            proc = await asyncio.create_subprocess_exec(
                *self._argv("exec", "--tty", *self._exec_options(env, None), cid, *argv),
                stdin=slave,
                stdout=slave,
                stderr=slave,
                start_new_session=True,
            )
        except BaseException:
            os.close(master)
            raise
        finally:
            os.close(slave)
        return proc, master


def _kill_pid_file(pid_file: Path) -> None:
    try:
        os.kill(int(pid_file.read_text().strip()), signal.SIGKILL)
    except (OSError, ValueError):
        pass  # not started yet or already gone
