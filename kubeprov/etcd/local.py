"""Run an etcd process on this machine: tests, benchmarks and single-machine development clusters.

The process listens on 127.0.0.1 only. It is started with its output going to ``etcd.log`` and its
pid written to ``etcd.pid``, both in the data directory, and :meth:`LocalEtcd.stop` only ever
signals the process this object started.
"""

from __future__ import annotations

import asyncio
import http.client
import json
import os
import signal
import socket
import ssl
import subprocess
import time
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path
from types import TracebackType
from typing import Literal

from kubeprov.errors import KubeprovError

LOOPBACK = "127.0.0.1"
_LOG_TAIL_LINES = 30


class LocalEtcdError(KubeprovError):
    """etcd could not be started or did not become healthy; the message ends with its log tail."""


@dataclass(frozen=True)
class EtcdServerTLS:
    """Server-side TLS files. Clients must present a certificate signed by ``ca_file``.

    etcd 3.4's built-in JSON gateway connects to its own gRPC port using the serving certificate as
    client certificate, so ``cert_file`` needs both serverAuth and clientAuth usages; the health
    check of :class:`LocalEtcd` relies on the same. Without peer files, peers talk plain HTTP on
    loopback (fine for a single member).
    """

    ca_file: Path
    cert_file: Path
    key_file: Path
    peer_cert_file: Path | None = None
    peer_key_file: Path | None = None


def free_port() -> int:
    """A TCP port free on loopback right now (the kernel's pick; etcd binds it moments later)."""
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as s:
        s.bind((LOOPBACK, 0))
        return int(s.getsockname()[1])


def _tail(path: Path, lines: int = _LOG_TAIL_LINES) -> str:
    try:
        with path.open("rb") as f:
            f.seek(0, os.SEEK_END)
            f.seek(max(0, f.tell() - 16384))
            text = f.read().decode(errors="replace")
    except OSError:
        return "(no log)"
    return "\n".join(text.splitlines()[-lines:]) or "(empty log)"


class LocalEtcd:
    """One etcd member process on loopback.

    ``initial_cluster`` / ``initial_cluster_state`` let several LocalEtcd form or join a cluster
    (``"existing"`` after :meth:`EtcdClient.member_add`); by default the member is a cluster of one.
    """

    def __init__(
        self,
        data_dir: Path,
        *,
        name: str = "default",
        tls: EtcdServerTLS | None = None,
        client_port: int = 0,
        peer_port: int = 0,
        binary: str = "etcd",
        extra_args: Sequence[str] = (),
        initial_cluster: str | None = None,
        initial_cluster_state: Literal["new", "existing"] = "new",
    ) -> None:
        self.data_dir = Path(data_dir)
        self.name = name
        self.tls = tls
        self.client_port = client_port or free_port()
        self.peer_port = peer_port or free_port()
        while self.peer_port == self.client_port:  # two picks may return the same free port
            self.peer_port = free_port()
        self.binary = binary
        self.extra_args = tuple(extra_args)
        self.initial_cluster = initial_cluster or f"{name}={self.peer_url}"
        self.initial_cluster_state = initial_cluster_state
        self._proc: subprocess.Popen[bytes] | None = None

    # ---- addresses and files -----------------------------------------------------------------

    @property
    def client_url(self) -> str:
        scheme = "https" if self.tls else "http"
        return f"{scheme}://{LOOPBACK}:{self.client_port}"

    @property
    def peer_url(self) -> str:
        scheme = "https" if self.tls and self.tls.peer_cert_file else "http"
        return f"{scheme}://{LOOPBACK}:{self.peer_port}"

    @property
    def pid_file(self) -> Path:
        return self.data_dir / "etcd.pid"

    @property
    def log_file(self) -> Path:
        return self.data_dir / "etcd.log"

    @property
    def pid(self) -> int | None:
        return self._proc.pid if self._proc is not None else None

    def is_running(self) -> bool:
        return self._proc is not None and self._proc.poll() is None

    def command(self) -> list[str]:
        """The full etcd command line (useful in error messages and docs)."""
        args = [
            self.binary,
            f"--name={self.name}",
            f"--data-dir={self.data_dir}",
            f"--listen-client-urls={self.client_url}",
            f"--advertise-client-urls={self.client_url}",
            f"--listen-peer-urls={self.peer_url}",
            f"--initial-advertise-peer-urls={self.peer_url}",
            f"--initial-cluster={self.initial_cluster}",
            f"--initial-cluster-state={self.initial_cluster_state}",
            "--logger=zap",
            "--log-outputs=stderr",
        ]
        tls = self.tls
        if tls is not None:
            args += [
                f"--cert-file={tls.cert_file}",
                f"--key-file={tls.key_file}",
                f"--trusted-ca-file={tls.ca_file}",
                "--client-cert-auth",
            ]
            if tls.peer_cert_file is not None:
                args += [
                    f"--peer-cert-file={tls.peer_cert_file}",
                    f"--peer-key-file={tls.peer_key_file or tls.key_file}",
                    f"--peer-trusted-ca-file={tls.ca_file}",
                    "--peer-client-cert-auth",
                ]
        return args + list(self.extra_args)

    # ---- start and stop ----------------------------------------------------------------------

    def start(self, timeout: float = 15.0) -> None:
        """Spawn etcd and return once it answers ``/health``; idempotent while it runs."""
        if self.is_running():
            return
        self.data_dir.mkdir(parents=True, exist_ok=True)
        os.chmod(self.data_dir, 0o700)  # etcd warns about (and 3.5+ refuses) a looser data dir
        self._refuse_if_other_etcd_runs()
        # ETCD_* variables are read by etcd as flags: keep the caller's environment from changing ours.
        env = {k: v for k, v in os.environ.items() if not k.startswith("ETCD_")}
        stamp = time.strftime("%Y-%m-%dT%H:%M:%S")
        with self.log_file.open("ab") as log:  # the child keeps its own descriptor
            log.write(f"---- {stamp} starting: {' '.join(self.command())}\n".encode())
            log.flush()
            try:
                self._proc = subprocess.Popen(
                    self.command(),
                    stdin=subprocess.DEVNULL,
                    stdout=log,
                    stderr=subprocess.STDOUT,
                    env=env,
                    start_new_session=True,  # a Ctrl-C in the terminal should reach us, not etcd directly
                )
            except OSError as exc:
                raise LocalEtcdError(f"cannot run {self.binary!r}: {exc}", hint="is etcd installed?") from exc
        self.pid_file.write_text(f"{self._proc.pid}\n")
        try:
            self._wait_healthy(timeout)
        except BaseException:
            self.stop()
            raise

    def _refuse_if_other_etcd_runs(self) -> None:
        """A live etcd from an earlier run holds this data dir: say so rather than hang on its lock."""
        try:
            other = int(self.pid_file.read_text().strip())
        except (OSError, ValueError):
            return
        try:
            cmdline = Path(f"/proc/{other}/cmdline").read_bytes()
        except OSError:
            return
        if b"etcd" in cmdline and str(self.data_dir).encode() in cmdline:
            raise LocalEtcdError(
                f"another etcd (pid {other}) is already running on {self.data_dir}",
                hint="stop it first",
            )

    def _health_context(self) -> ssl.SSLContext | None:
        if self.tls is None:
            return None
        ctx = ssl.create_default_context(cafile=str(self.tls.ca_file))
        ctx.load_cert_chain(str(self.tls.cert_file), str(self.tls.key_file))
        return ctx

    def check_health(self, timeout: float = 1.0) -> bool:
        """One synchronous ``GET /health``: true when the member has a leader and no alarm."""
        ctx = self._health_context()
        conn: http.client.HTTPConnection
        if ctx is None:
            conn = http.client.HTTPConnection(LOOPBACK, self.client_port, timeout=timeout)
        else:
            conn = http.client.HTTPSConnection(LOOPBACK, self.client_port, timeout=timeout, context=ctx)
        try:
            conn.request("GET", "/health")
            resp = conn.getresponse()
            body = resp.read()
            return resp.status == 200 and json.loads(body).get("health") == "true"
        except (OSError, ValueError, http.client.HTTPException):
            return False
        finally:
            conn.close()

    def _wait_healthy(self, timeout: float) -> None:
        deadline = time.monotonic() + timeout
        delay = 0.02
        while True:
            proc = self._proc
            assert proc is not None
            code = proc.poll()
            if code is not None:
                raise LocalEtcdError(
                    f"etcd exited with code {code} during start-up; last lines of {self.log_file}:\n"
                    f"{_tail(self.log_file)}"
                )
            if self.check_health(timeout=min(1.0, max(0.05, deadline - time.monotonic()))):
                return
            if time.monotonic() >= deadline:
                raise LocalEtcdError(
                    f"etcd (pid {proc.pid}) did not become healthy within {timeout:g}s on {self.client_url}; "
                    f"last lines of {self.log_file}:\n{_tail(self.log_file)}"
                )
            time.sleep(delay)
            delay = min(delay * 2, 0.2)

    def stop(self, timeout: float = 10.0) -> None:
        """SIGTERM the process we started, SIGKILL it after ``timeout``; safe to call repeatedly.

        In a cluster of several members, stop the leader first: it hands leadership over to a live
        follower at once, whereas a leader whose followers are already gone may spend about 7 s
        trying to before it exits.
        """
        proc = self._proc
        if proc is not None:
            if proc.poll() is None:
                try:
                    proc.send_signal(signal.SIGTERM)  # Popen signals only its own, unreaped child
                    proc.wait(timeout)
                except subprocess.TimeoutExpired:
                    proc.kill()
                    proc.wait()
            try:
                if self.pid_file.read_text().strip() == str(proc.pid):
                    self.pid_file.unlink()
            except OSError:
                pass
            self._proc = None

    def log_tail(self, lines: int = _LOG_TAIL_LINES) -> str:
        return _tail(self.log_file, lines)

    # ---- conveniences ------------------------------------------------------------------------

    async def start_async(self, timeout: float = 15.0) -> None:
        """:meth:`start` without blocking the event loop."""
        await asyncio.to_thread(self.start, timeout)

    async def stop_async(self, timeout: float = 10.0) -> None:
        await asyncio.to_thread(self.stop, timeout)

    def __enter__(self) -> LocalEtcd:
        self.start()
        return self

    def __exit__(
        self, exc_type: type[BaseException] | None, exc: BaseException | None, tb: TracebackType | None
    ) -> None:
        self.stop()
