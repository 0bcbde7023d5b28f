"""The kubelet's streaming routes (exec, port-forward) on a plain aiohttp server in front of an in-process
kubelet, driven by the official ``kubernetes`` Python client's websocket code and by our own SPDY codec."""

from __future__ import annotations

import asyncio
import os
from collections.abc import AsyncIterator
from pathlib import Path
from typing import Any

import pytest
from aiohttp import web
from aiohttp.test_utils import TestServer
from kubernetes.client import Configuration
from kubernetes.stream.ws_client import WSClient

from kubeprov.api.client import ApiClient
from kubeprov.kubelet.streaming.routes import streaming_routes
from tests.integration.controller_env import eventually
from tests.integration.kubelet_env import BUSYBOX, Env, running_kubelet

pytestmark = [
    pytest.mark.integration,
    pytest.mark.timeout(120),
    pytest.mark.skipif(os.geteuid() != 0, reason="needs root: runc, mounts, namespaces and bridges"),
]

SLEEPER = [{"name": "c", "image": BUSYBOX, "command": ["sleep", "3600"]}]


class Streaming:
    def __init__(self, env: Env, server: TestServer) -> None:
        self.env = env
        self.server = server

    def url(self, path: str, scheme: str = "ws") -> str:
        return f"{scheme}://127.0.0.1:{self.server.port}{path}"

    async def running_pod(self, name: str, containers: list[dict[str, Any]] | None = None) -> None:
        await self.env.create_pod(name, containers or SLEEPER)

        async def running() -> bool:
            status = await self.env.container_status(name)
            return bool(status and "running" in status.get("state", {}))

        assert await eventually(running, timeout=60)


@pytest.fixture
async def streaming(api_client: ApiClient, oci_registry: Any, tmp_path: Path) -> AsyncIterator[Streaming]:
    async with running_kubelet(api_client, oci_registry, tmp_path) as env:
        app = web.Application()
        app.add_routes(streaming_routes(env.kubelet))
        server = TestServer(app, host="127.0.0.1")
        await server.start_server()
        try:
            yield Streaming(env, server)
        finally:
            await server.close()


def ws_exec(url: str, stdin: bytes | None = None, resize: str = "") -> WSClient:
    """Run one exec with the official client's WSClient until the server closes; returns the client."""
    client = WSClient(Configuration(), url, headers=None, capture_all=True)
    if resize:
        client.write_channel(4, resize)
    if stdin is not None:
        client.write_stdin(stdin.decode())
    client.run_forever(timeout=30)
    return client


def exec_path(ns: str, pod: str, *command: str, flags: str = "stdout=true&stderr=true") -> str:
    from urllib.parse import urlencode

    return f"/exec/{ns}/{pod}/c?{urlencode([('command', c) for c in command])}&{flags}"


async def test_exec_over_websocket_returns_stdout_stderr_and_a_zero_exit_code(streaming: Streaming) -> None:
    await streaming.running_pod("ex")
    url = streaming.url(exec_path(streaming.env.ns, "ex", "sh", "-c", "echo out; echo err >&2"))
    client = await asyncio.to_thread(ws_exec, url)
    assert client.read_stdout() == "out\n"
    assert client.read_stderr() == "err\n"
    assert client.returncode == 0


async def test_exec_over_websocket_reports_a_non_zero_exit_code_on_the_error_channel(streaming: Streaming) -> None:
    await streaming.running_pod("ex")
    url = streaming.url(exec_path(streaming.env.ns, "ex", "sh", "-c", "exit 7"))
    client = await asyncio.to_thread(ws_exec, url)
    assert client.returncode == 7
