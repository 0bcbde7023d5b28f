"""Pure parts of lifecycle hooks and probes: handler messages, probe request headers, startup thresholds."""

from __future__ import annotations

import asyncio
import ssl
from pathlib import Path

from kubeprov.kubelet.hooks import run_handler
from kubeprov.kubelet.probes import Exec, Prober, request_headers, run_probe
from kubeprov.kubelet.server.tls import self_signed_pair, server_context

POD = {"metadata": {"name": "p", "namespace": "ns", "uid": "u1"}}


def exits(code: int, output: bytes) -> Exec:
    async def exec_(argv: list[str], timeout: float) -> tuple[int, bytes]:
        return code, output
    return exec_


def test_a_failing_exec_hook_reports_the_command_exit_code_and_output() -> None:
    exec_ = (exits(2, b"bad"))
    message = asyncio.run(run_handler({"exec": {"command": ["sh", "-c", "x"]}}, {"name": "c"}, POD, "", exec_))
    assert message == ('Exec lifecycle hook ([sh -c x]) for Container "c" in Pod "p_ns(u1)" failed - error: '
                       "command 'sh -c x' exited with 2: bad, message: \"bad\"")


def test_a_succeeding_exec_hook_and_a_zero_sleep_report_nothing() -> None:
    exec_ = (exits(0, b""))
    assert asyncio.run(run_handler({"exec": {"command": ["true"]}}, {"name": "c"}, POD, "", exec_)) is None
    assert asyncio.run(run_handler({"sleep": {"seconds": 0}}, {"name": "c"}, POD, "", exec_)) is None


def test_an_http_hook_with_nothing_listening_fails_naming_its_path() -> None:
    exec_ = (exits(0, b""))
    message = asyncio.run(run_handler({"httpGet": {"port": 9, "path": "/x"}}, {"name": "c"}, POD, "127.0.0.1",
                                      exec_))
    assert message is not None and message.startswith('HTTP lifecycle hook (/x) for Container "c" in Pod "p_ns(u1)"')


def test_probe_headers_let_the_probe_replace_host_and_keep_the_other_defaults() -> None:
    headers = request_headers("10.0.0.5", 80, [{"name": "host", "value": "example.test"},
                                               {"name": "X-Token", "value": "t"}])
    assert headers == [("User-Agent", "kube-probe/1.32"), ("Accept", "*/*"), ("host", "example.test"),
                       ("X-Token", "t")]


def test_a_startup_prober_fails_for_good_only_after_failure_threshold_failures() -> None:
    prober = Prober.for_container({"failureThreshold": 3, "periodSeconds": 1}, False, now=0.0)
    prober.record(False, 1.0)
    prober.record(False, 2.0)
    assert not prober.failed_for_good()
    prober.record(False, 3.0)
    assert prober.failed_for_good()


def test_a_startup_prober_succeeds_on_its_first_success() -> None:
    prober = Prober.for_container({"failureThreshold": 3}, False, now=0.0)
    prober.record(False, 1.0)
    assert prober.record(True, 2.0) and prober.result and not prober.failed_for_good()


def test_a_prober_waits_its_initial_delay_then_probes_every_period() -> None:
    prober = Prober.for_container({"initialDelaySeconds": 5, "periodSeconds": 2}, False, now=100.0)
    assert not prober.due(104.9) and prober.due(105.0)
    prober.record(True, 105.0)
    assert not prober.due(106.9) and prober.due(107.0)


def test_readiness_needs_success_threshold_successes_and_liveness_failure_threshold_failures() -> None:
    readiness = Prober.for_container({"successThreshold": 2}, False, now=0.0)
    assert not readiness.record(True, 1.0) and not readiness.result
    assert readiness.record(True, 2.0) and readiness.result
    liveness = Prober.for_container({"failureThreshold": 2}, True, now=0.0)
    assert not liveness.record(False, 1.0)
    liveness.record(True, 2.0)  # a success in between starts the count again
    assert not liveness.record(False, 3.0) and liveness.record(False, 4.0) and not liveness.result


async def serve_once(status: str, seen: list[bytes], tls: ssl.SSLContext | None = None) -> tuple[asyncio.Server, int]:
    async def handle(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        seen.append(await reader.readuntil(b"\r\n\r\n"))
        writer.write(f"HTTP/1.1 {status}\r\nContent-Length: 0\r\n\r\n".encode())
        await writer.drain()
        writer.close()

    server = await asyncio.start_server(handle, "127.0.0.1", 0, ssl=tls)
    return server, server.sockets[0].getsockname()[1]


async def probe_http(status: str, tls: ssl.SSLContext | None = None, **get: object) -> tuple[tuple[bool, str], bytes]:
    seen: list[bytes] = []
    server, port = await serve_once(status, seen, tls)
    async with server:
        result = await run_probe({"httpGet": {"port": "web", **get}}, {"ports": [
            {"name": "web", "containerPort": port}]}, "127.0.0.1", exits(0, b""))
    return result, seen[0]


def test_an_http_probe_sends_its_path_and_headers_to_the_named_port_and_takes_3xx_as_success() -> None:
    (ok, _), request = asyncio.run(probe_http("302 Found", path="/healthz?full=1",
                                              httpHeaders=[{"name": "Host", "value": "example.test"}]))
    assert ok
    lines = request.decode().split("\r\n")
    assert lines[0] == "GET /healthz?full=1 HTTP/1.1"
    assert "Host: example.test" in lines and "User-Agent: kube-probe/1.32" in lines


def test_an_http_probe_answered_500_fails_with_the_status_code() -> None:
    (ok, message), _ = asyncio.run(probe_http("500 Internal Server Error"))
    assert (ok, message) == (False, "HTTP probe failed with statuscode: 500")


def test_a_tcp_probe_to_a_closed_port_fails_like_the_kubelet_words_it() -> None:
    async def closed_port() -> int:
        server = await asyncio.start_server(lambda r, w: None, "127.0.0.1", 0)
        port = server.sockets[0].getsockname()[1]
        server.close()
        await server.wait_closed()
        return port

    port = asyncio.run(closed_port())
    ok, message = asyncio.run(run_probe({"tcpSocket": {"port": port}}, {}, "127.0.0.1", exits(0, b"")))
    assert (ok, message) == (False, f"dial tcp 127.0.0.1:{port}: connect: connection refused")


def test_an_exec_probe_past_its_timeout_fails_as_timed_out() -> None:
    async def slow(argv: list[str], timeout: float) -> tuple[int, bytes]:
        raise TimeoutError

    ok, message = asyncio.run(run_probe({"exec": {"command": ["sleep", "5"]}, "timeoutSeconds": 1}, {}, "", slow))
    assert (ok, message) == (False, 'command "sleep 5" timed out')


def test_an_https_probe_does_not_verify_the_containers_certificate(tmp_path: Path) -> None:
    cert, key = self_signed_pair(tmp_path, "node", "")
    (ok, _), request = asyncio.run(probe_http("200 OK", server_context(cert, key, ""), scheme="HTTPS"))
    assert ok and request.startswith(b"GET / HTTP/1.1")
