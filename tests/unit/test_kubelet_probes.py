"""Probe handlers against local sockets, and the prober's thresholds."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator

import pytest

from kubeprov.kubelet.probes import Prober, resolve_port, run_probe


async def no_exec(argv: list[str], timeout: float) -> tuple[int, bytes]:
    raise AssertionError("not an exec probe")


@pytest.fixture
async def http_server() -> AsyncIterator[tuple[int, list[bytes]]]:
    """Answers ``GET /ok`` with 200 and anything else with 503; records the request heads."""
    seen: list[bytes] = []

    async def handle(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        head = await reader.readuntil(b"\r\n\r\n")
        seen.append(head)
        code = b"200 OK" if head.startswith(b"GET /ok ") else b"503 Service Unavailable"
        writer.write(b"HTTP/1.1 " + code + b"\r\nContent-Length: 0\r\n\r\n")
        await writer.drain()
        writer.close()

    server = await asyncio.start_server(handle, "127.0.0.1", 0)
    async with server:
        yield server.sockets[0].getsockname()[1], seen


async def test_http_get_succeeds_on_2xx_and_fails_on_5xx_with_the_code(http_server) -> None:
    port, seen = http_server
    container = {"ports": [{"name": "http", "containerPort": port}]}
    ok = await run_probe({"httpGet": {"path": "/ok", "port": "http"}}, container, "127.0.0.1", no_exec)
    bad = await run_probe({"httpGet": {"path": "/bad", "port": port}}, container, "127.0.0.1", no_exec)
    assert ok == (True, "")
    assert bad == (False, "HTTP probe failed with statuscode: 503")
    assert b"User-Agent: kube-probe/1.32" in seen[0]


async def test_tcp_socket_fails_on_a_closed_port(http_server) -> None:
    port, _ = http_server
    assert (await run_probe({"tcpSocket": {"port": port}}, {}, "127.0.0.1", no_exec))[0] is True
    server = await asyncio.start_server(lambda r, w: None, "127.0.0.1", 0)
    closed = server.sockets[0].getsockname()[1]
    server.close()
    await server.wait_closed()
    assert (await run_probe({"tcpSocket": {"port": closed}}, {}, "127.0.0.1", no_exec))[0] is False


async def test_exec_probe_passes_on_exit_0_and_reports_the_output_otherwise() -> None:
    async def exec_(argv: list[str], timeout: float) -> tuple[int, bytes]:
        return (0, b"") if argv == ["true"] else (1, b"nope\n")

    assert await run_probe({"exec": {"command": ["true"]}}, {}, "", exec_) == (True, "")
    assert await run_probe({"exec": {"command": ["false"]}}, {}, "", exec_) == (False, "nope")


def test_a_named_port_that_does_not_exist_is_an_error() -> None:
    with pytest.raises(ValueError, match="not found"):
        resolve_port("web", {"ports": [{"name": "http", "containerPort": 80}]})


def test_prober_flips_only_after_the_thresholds_and_waits_its_period() -> None:
    prober = Prober.for_container({"initialDelaySeconds": 5, "periodSeconds": 2, "failureThreshold": 2,
                                   "successThreshold": 1}, True, now=100.0)
    assert not prober.due(104.0) and prober.due(105.0)
    assert prober.record(False, 105.0) is False and prober.result is True
    assert not prober.due(106.0) and prober.due(107.0)
    assert prober.record(False, 107.0) is True and prober.result is False
    assert prober.record(True, 109.0) is True and prober.result is True
