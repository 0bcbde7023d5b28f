"""Container probes (exec, httpGet over HTTP or HTTPS, tcpSocket; grpc not done) and the per-container
prober state: when the next probe is due and how many results in a row make it flip (success/failure thresholds)."""

from __future__ import annotations

import asyncio
import contextlib
import ssl
import time
from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from typing import Any

Obj = dict[str, Any]
Exec = Callable[[list[str], float], Awaitable[tuple[int, bytes]]]


def resolve_port(port: Any, container: Obj) -> int:
    """A probe port: a number, or the name of one of the container's ports."""
    if isinstance(port, int) or (isinstance(port, str) and port.isdigit()):
        return int(port)
    for item in container.get("ports") or []:
        if item.get("name") == port:
            return int(item["containerPort"])
    raise ValueError(f"port {port!r} not found in the container's ports")


def request_headers(host: str, port: int, headers: list[Obj]) -> list[tuple[str, str]]:
    """The probe's request headers: the kubelet's defaults (Host, User-Agent, Accept), each replaced by a
    same-named entry of ``httpHeaders`` (so a probe may set its own Host)."""
    own = [(str(h.get("name", "")), str(h.get("value", ""))) for h in headers if h.get("name")]
    names = {name.lower() for name, _ in own}
    defaults = [("Host", f"{host}:{port}"), ("User-Agent", "kube-probe/1.32"), ("Accept", "*/*")]
    return [d for d in defaults if d[0].lower() not in names] + own


async def status_line(host: str, port: int, path: str, headers: list[Obj], timeout: float,
                      scheme: str = "HTTP") -> bytes:
    """Send an HTTP/1.1 GET (HTTPS without certificate checks, as the kubelet) and return the response's
    status line (empty when the server closed without one); probes and lifecycle hooks both use it."""
    tls = None
    if scheme.upper() == "HTTPS":
        tls = ssl.create_default_context()
        tls.check_hostname = False
        tls.verify_mode = ssl.CERT_NONE
    reader, writer = await asyncio.wait_for(asyncio.open_connection(host, port, ssl=tls), timeout)
    try:
        lines = [f"GET {path or '/'} HTTP/1.1", *(f"{k}: {v}" for k, v in request_headers(host, port, headers)),
                 "Connection: close"]
        writer.write(("\r\n".join(lines) + "\r\n\r\n").encode())
        await writer.drain()
        return await asyncio.wait_for(reader.readline(), timeout)
    finally:
        writer.close()
        with contextlib.suppress(OSError, ssl.SSLError):
            await writer.wait_closed()


async def http_get(host: str, port: int, path: str, headers: list[Obj], timeout: float,
                   scheme: str = "HTTP") -> tuple[bool, str]:
    """200-399 is success (redirects are not followed: a 3xx counts as success)."""
    first = await status_line(host, port, path, headers, timeout, scheme)
    parts = first.decode(errors="replace").split()
    if len(parts) < 2 or not parts[1].isdigit():
        return False, f"malformed HTTP status line {first!r}"
    code = int(parts[1])
    ok = 200 <= code < 400
    return ok, "" if ok else f"HTTP probe failed with statuscode: {code}"


async def tcp_open(host: str, port: int, timeout: float) -> None:
    _, writer = await asyncio.wait_for(asyncio.open_connection(host, port), timeout)
    writer.close()
    with contextlib.suppress(OSError):
        await writer.wait_closed()


def dial_error(host: str, port: int, exc: BaseException) -> str:
    """A connection failure worded like Go's net errors, which operators know from the kubelet's events."""
    address = f"{host}:{port}" if ":" not in host else f"[{host}]:{port}"
    if isinstance(exc, TimeoutError):
        return f"dial tcp {address}: i/o timeout"
    if isinstance(exc, ConnectionRefusedError):
        return f"dial tcp {address}: connect: connection refused"
    if isinstance(exc, OSError) and exc.strerror:
        return f"dial tcp {address}: connect: {exc.strerror.lower()}"
    return f"dial tcp {address}: {exc}"


async def run_probe(probe: Obj, container: Obj, pod_ip: str, exec_: Exec) -> tuple[bool, str]:
    """One probe: (success, the failure message the kubelet's Unhealthy event carries)."""
    timeout = float(probe.get("timeoutSeconds") or 1)
    try:
        if "exec" in probe:
            command = [str(a) for a in probe["exec"].get("command") or []]
            try:
                code, output = await exec_(command, timeout)
            except TimeoutError:
                return False, f'command "{" ".join(command)}" timed out'
            text = output.decode(errors="replace").strip()
            return code == 0, "" if code == 0 else (text or f"command failed with exit code {code}")
        if "httpGet" in probe:
            get = probe["httpGet"]
            port = resolve_port(get.get("port"), container)
            host = get.get("host") or pod_ip
            scheme = str(get.get("scheme") or "HTTP")
            path = get.get("path") or "/"
            url = f"{scheme.lower()}://{host}:{port}{path}"
            try:
                return await http_get(host, port, path, get.get("httpHeaders") or [], timeout, scheme)
            except TimeoutError:
                return False, (f'Get "{url}": context deadline exceeded '
                               "(Client.Timeout exceeded while awaiting headers)")
            except (OSError, ssl.SSLError) as exc:
                return False, f'Get "{url}": {dial_error(host, port, exc)}'
        if "tcpSocket" in probe:
            sock = probe["tcpSocket"]
            port = resolve_port(sock.get("port"), container)
            host = sock.get("host") or pod_ip
            try:
                await tcp_open(host, port, timeout)
            except (OSError, TimeoutError) as exc:
                return False, dial_error(host, port, exc)
            return True, ""
    except TimeoutError:
        return False, f"probe timed out after {timeout:g}s"
    except (OSError, ValueError, ssl.SSLError) as exc:
        return False, str(exc)
    return False, "unsupported probe handler"


@dataclass
class Prober:
    """One probe of one running container: due times and the thresholded result."""

    probe: Obj
    started: float
    result: bool
    next_at: float = 0.0
    successes: int = 0
    failures: int = 0

    @classmethod
    def for_container(cls, probe: Obj, initial: bool, now: float | None = None) -> Prober:
        start = time.monotonic() if now is None else now
        return cls(probe, start, initial, start + float(probe.get("initialDelaySeconds") or 0))

    def due(self, now: float) -> bool:
        return now >= self.next_at

    def failed_for_good(self) -> bool:
        """A startup probe that failed failureThreshold times in a row (its result started out False, so
        ``record`` never flips it to failure)."""
        return not self.result and self.failures >= int(self.probe.get("failureThreshold") or 3)

    def record(self, ok: bool, now: float) -> bool:
        """Count a result; True when the thresholded result changed."""
        self.next_at = now + float(self.probe.get("periodSeconds") or 10)
        if ok:
            self.successes, self.failures = self.successes + 1, 0
            flip = not self.result and self.successes >= int(self.probe.get("successThreshold") or 1)
        else:
            self.failures, self.successes = self.failures + 1, 0
            flip = self.result and self.failures >= int(self.probe.get("failureThreshold") or 3)
        if flip:
            self.result = not self.result
        return flip
