"""The kubelet's streaming routes (exec, port-forward) on a plain aiohttp server in front of an in-process
kubelet, driven by the official ``kubernetes`` Python client's websocket code and by our own SPDY codec."""

from __future__ import annotations

import asyncio
import contextlib
import json
import os
import subprocess
import time
from collections.abc import AsyncIterator
from pathlib import Path
from typing import Any

import aiohttp
import pytest
from aiohttp import web
from aiohttp.test_utils import TestServer
from kubernetes.client import Configuration
from kubernetes.stream.ws_client import PortForward, WSClient, create_websocket

from kubeprov.api.client import ApiClient
from kubeprov.kubelet.network import netns
from kubeprov.kubelet.network.cni import CniError
from kubeprov.kubelet.runtime.manager import remove_cgroup
from kubeprov.kubelet.streaming import spdy
from kubeprov.kubelet.streaming.routes import streaming_routes
from tests.integration.controller_env import delete_if_present, eventually
from tests.integration.kubelet_env import BUSYBOX, WEB, Env, running_kubelet

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

    async def running_pod(self, name: str, containers: list[dict[str, Any]] | None = None, **spec: Any) -> None:
        await self.env.create_pod(name, containers or SLEEPER, **spec)

        async def running() -> bool:
            status = await self.env.container_status(name)
            return bool(status and "running" in status.get("state", {}))

        assert await eventually(running, timeout=60)


@contextlib.asynccontextmanager
async def streaming_kubelet(api_client: ApiClient, oci_registry: Any, tmp_path: Path,
                            **overrides: Any) -> AsyncIterator[Env]:
    """``running_kubelet`` with its server on a free loopback port. Another test process's cleanup may remove
    this kubelet's CNI NAT chains first (it drops every CNI chain that appeared while it ran), failing the CNI
    DEL in running_kubelet's teardown; then the rest of that teardown is finished here."""
    started: list[Env] = []
    try:
        async with running_kubelet(api_client, oci_registry, tmp_path, port=0, health_port=0, address="127.0.0.1",
                                   **overrides) as env:
            started.append(env)
            yield env
    except CniError:
        if not started:
            raise
        await finish_teardown(api_client, started[0])


async def finish_teardown(api_client: ApiClient, env: Env) -> None:
    kubelet, config = env.kubelet, env.kubelet.config
    with contextlib.suppress(Exception):
        await kubelet.stop()
    if kubelet.network is not None:
        for name in netns.list_names(kubelet.network.config.netns_dir):
            try:
                await kubelet.network.teardown({"metadata": {"uid": name}, "spec": {}})
            except CniError:
                netns.delete(name, kubelet.network.config.netns_dir)
    subprocess.run(["ip", "link", "del", config.cni_bridge], capture_output=True, check=False)
    remove_cgroup(config.cgroup_parent)
    await delete_if_present(api_client, "v1", "namespaces", env.ns)
    await delete_if_present(api_client, "coordination.k8s.io/v1", "leases", kubelet.name, "kube-node-lease")
    await delete_if_present(api_client, "v1", "nodes", kubelet.name)


@pytest.fixture
async def streaming(api_client: ApiClient, oci_registry: Any, tmp_path: Path) -> AsyncIterator[Streaming]:
    async with streaming_kubelet(api_client, oci_registry, tmp_path) as env:
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


async def test_exec_over_websocket_feeds_stdin_to_the_command(streaming: Streaming) -> None:
    await streaming.running_pod("ex")
    url = streaming.url(exec_path(streaming.env.ns, "ex", "sh", "-c", "read line; echo got:$line",
                                  flags="stdin=true&stdout=true&stderr=true"))
    client = await asyncio.to_thread(ws_exec, url, b"hello\n")
    assert client.read_stdout() == "got:hello\n"
    assert client.returncode == 0


async def test_exec_with_a_tty_applies_the_clients_terminal_size(streaming: Streaming) -> None:
    await streaming.running_pod("ex")
    path = exec_path(streaming.env.ns, "ex", "sh", flags="stdin=true&stdout=true&tty=true")

    def session() -> str:
        client = WSClient(Configuration(), streaming.url(path), headers=None, capture_all=True)
        client.write_channel(4, '{"Width": 100, "Height": 40}')
        seen = ""
        deadline = time.monotonic() + 30
        while "40 100" not in seen and time.monotonic() < deadline:
            client.write_stdin("stty size\n")
            client.update(timeout=1)
            seen += client.read_stdout(timeout=1)
        client.write_stdin("exit 0\n")
        client.run_forever(timeout=10)
        return seen

    assert "40 100" in await asyncio.to_thread(session)


async def test_exec_in_a_missing_container_is_a_400_status_before_any_upgrade(streaming: Streaming) -> None:
    await streaming.running_pod("ex")
    async with aiohttp.ClientSession() as http:
        async with http.get(streaming.url(f"/exec/{streaming.env.ns}/ex/nope?command=ls&stdout=1", "http")) as resp:
            body = await resp.json()
    assert resp.status == 400
    assert body["message"] == "container nope is not valid for pod ex"


async def test_exec_over_spdy_streams_output_and_the_exit_status(streaming: Streaming) -> None:
    await streaming.running_pod("ex")
    path = exec_path(streaming.env.ns, "ex", "sh", "-c", "echo spdy-out; exit 3")
    async with spdy_client(streaming, path, "v4.channel.k8s.io") as (session, protocol):
        assert protocol == "v4.channel.k8s.io"
        error = await session.open_stream({"streamType": "error"})
        stdout = await session.open_stream({"streamType": "stdout"})
        stderr = await session.open_stream({"streamType": "stderr"})
        out, err_text, status = await asyncio.gather(read_all(stdout), read_all(stderr), read_all(error))
    assert out == b"spdy-out\n" and err_text == b""
    assert json.loads(status)["details"]["causes"] == [{"reason": "ExitCode", "message": "3"}]


async def test_port_forward_over_the_native_websocket_protocol_reaches_the_pods_port(streaming: Streaming) -> None:
    await streaming.running_pod("web", [{"name": "c", "image": WEB}])
    url = streaming.url(f"/portForward/{streaming.env.ns}/web?ports=8080")

    def fetch() -> bytes:
        forward = PortForward(create_websocket(Configuration(), url), [8080])
        sock = forward.socket(8080)
        sock.settimeout(30)
        sock.sendall(b"GET / HTTP/1.0\r\nHost: x\r\n\r\n")
        reply = b""
        while chunk := sock.recv(65536):
            reply += chunk
        forward.close()
        return reply

    reply = await asyncio.to_thread(fetch)
    assert reply.startswith(b"HTTP/1.") and b"web" in reply


async def test_port_forward_over_spdy_in_websocket_reaches_the_pods_port(streaming: Streaming) -> None:
    await streaming.running_pod("web", [{"name": "c", "image": WEB}])
    async with aiohttp.ClientSession() as http:
        async with http.ws_connect(streaming.url(f"/portForward/{streaming.env.ns}/web"),
                                   protocols=("SPDY/3.1+portforward.k8s.io",)) as ws:
            session = spdy.SpdySession(ws.send_bytes, server=False)

            async def read() -> bytes:
                msg = await ws.receive()
                return bytes(msg.data) if msg.type == aiohttp.WSMsgType.BINARY else b""

            runner = asyncio.create_task(session.run(read))
            headers = {"port": "8080", "requestID": "0"}
            error = await session.open_stream({"streamType": "error", **headers})
            data = await session.open_stream({"streamType": "data", **headers})
            await data.write(b"GET / HTTP/1.0\r\nHost: x\r\n\r\n")
            await data.close()
            reply, problem = await asyncio.gather(read_all(data), read_all(error))
            await session.go_away()
            runner.cancel()
    assert problem == b""
    assert reply.startswith(b"HTTP/1.") and b"web" in reply


async def test_port_forward_to_a_closed_port_reports_on_the_error_stream(streaming: Streaming) -> None:
    await streaming.running_pod("web", [{"name": "c", "image": WEB}])
    async with spdy_client(streaming, f"/portForward/{streaming.env.ns}/web", "portforward.k8s.io") as (session, _):
        headers = {"port": "8081", "requestID": "0"}
        error = await session.open_stream({"streamType": "error", **headers})
        data = await session.open_stream({"streamType": "data", **headers})
        problem, reply = await asyncio.gather(read_all(error), read_all(data))
    assert reply == b""
    assert problem.decode().startswith("error forwarding port 8081 to pod web, uid ")
    assert "connection refused" in problem.decode()


async def read_all(stream: spdy.Stream) -> bytes:
    out = b""
    async with asyncio.timeout(30):
        while chunk := await stream.read():
            out += chunk
    return out


@contextlib.asynccontextmanager
async def spdy_client(streaming: Streaming, path: str, protocol: str
                      ) -> AsyncIterator[tuple[spdy.SpdySession, str]]:
    """Our SPDY codec as the client: the HTTP upgrade by hand, then a session over the same connection."""
    reader, writer = await asyncio.open_connection("127.0.0.1", streaming.server.port)
    writer.write(f"POST {path} HTTP/1.1\r\nHost: kubelet\r\nConnection: Upgrade\r\nUpgrade: SPDY/3.1\r\n"
                 f"X-Stream-Protocol-Version: {protocol}\r\nContent-Length: 0\r\n\r\n".encode())
    head = (await reader.readuntil(b"\r\n\r\n")).decode()
    assert head.startswith("HTTP/1.1 101"), head
    negotiated = next(line.split(":", 1)[1].strip() for line in head.split("\r\n")
                      if line.lower().startswith("x-stream-protocol-version:"))

    async def write(data: bytes) -> None:
        writer.write(data)
        await writer.drain()

    session = spdy.SpdySession(write, server=False)
    runner = asyncio.create_task(session.run(lambda: reader.read(65536)))
    try:
        yield session, negotiated
    finally:
        await session.go_away()
        runner.cancel()
        writer.close()


ECHOER = [{"name": "c", "image": BUSYBOX, "stdin": True, "stdinOnce": True,
           "command": ["sh", "-c", 'while read line; do echo "echo:$line"; done; echo bye']}]


async def test_attach_writes_to_the_containers_stdin_and_streams_its_output(streaming: Streaming) -> None:
    await streaming.running_pod("at", ECHOER)
    url = streaming.url(f"/attach/{streaming.env.ns}/at/c?stdin=true&stdout=true&stderr=true")

    def attach() -> str:
        client = WSClient(Configuration(), url, headers=None, capture_all=True)
        seen = ""
        deadline = time.monotonic() + 30
        while "echo:hi" not in seen and time.monotonic() < deadline:
            client.write_stdin("hi\n")
            client.update(timeout=1)
            seen += client.read_stdout(timeout=1)
        client.close()
        return seen

    assert "echo:hi" in await asyncio.to_thread(attach)


async def test_stdin_once_closes_the_containers_input_when_the_first_attach_ends(streaming: Streaming) -> None:
    await streaming.running_pod("at", ECHOER, restartPolicy="Never")
    url = streaming.url(f"/attach/{streaming.env.ns}/at/c?stdin=true&stdout=true")

    def attach() -> WSClient:
        client = WSClient(Configuration(), url, headers=None, capture_all=True)
        client.write_stdin("last\n")
        client.close_channel(0)  # v5: end of our input
        client.run_forever(timeout=30)
        return client

    client = await asyncio.to_thread(attach)
    assert client.returncode == 0  # before read_all, which empties every channel
    assert client.read_all().endswith("bye\n")

    async def succeeded() -> bool:
        return (await streaming.env.pod("at")).get("status", {}).get("phase") == "Succeeded"

    assert await eventually(succeeded, timeout=30)


async def test_attach_with_stdin_to_a_container_without_stdin_is_a_400(streaming: Streaming) -> None:
    await streaming.running_pod("ex")
    async with aiohttp.ClientSession() as http:
        async with http.get(streaming.url(f"/attach/{streaming.env.ns}/ex/c?stdin=1&stdout=1", "http")) as resp:
            body = await resp.json()
    assert resp.status == 400
    assert body["message"] == "container c does not have stdin: true, so attach cannot write to it"


async def test_exec_over_spdy_v2_reports_a_failure_as_plain_text(streaming: Streaming) -> None:
    await streaming.running_pod("ex")
    path = exec_path(streaming.env.ns, "ex", "sh", "-c", "exit 5", flags="stdout=true")
    async with spdy_client(streaming, path, "v2.channel.k8s.io") as (session, protocol):
        assert protocol == "v2.channel.k8s.io"
        error = await session.open_stream({"streamType": "error"})
        stdout = await session.open_stream({"streamType": "stdout"})
        _, message = await asyncio.gather(read_all(stdout), read_all(error))
    assert message.decode().startswith("command terminated with non-zero exit code: ")
    assert message.decode().endswith("exit code 5")


async def test_native_websocket_port_forward_to_a_closed_port_reports_on_its_error_channel(
        streaming: Streaming) -> None:
    await streaming.running_pod("web", [{"name": "c", "image": WEB}])
    url = streaming.url(f"/portForward/{streaming.env.ns}/web?ports=8081")

    def error_text() -> str:
        forward = PortForward(create_websocket(Configuration(), url), [8081])
        deadline = time.monotonic() + 30
        while forward.error(8081) is None and time.monotonic() < deadline:
            time.sleep(0.05)  # polling the client's proxy thread, not an assertion
        forward.close()
        return forward.error(8081) or ""

    message = await asyncio.to_thread(error_text)
    assert message.startswith("error forwarding port 8081 to pod web, uid ")
    assert "connection refused" in message


async def test_attach_to_a_tty_container_reaches_its_terminal_and_resizes_it(streaming: Streaming) -> None:
    await streaming.running_pod("tt", [{"name": "c", "image": BUSYBOX, "stdin": True, "tty": True,
                                        "command": ["sh"]}])
    url = streaming.url(f"/attach/{streaming.env.ns}/tt/c?stdin=true&stdout=true&tty=true")

    def attach() -> str:
        client = WSClient(Configuration(), url, headers=None, capture_all=True)
        client.write_channel(4, '{"Width": 100, "Height": 40}')
        seen = ""
        deadline = time.monotonic() + 30
        while "40 100" not in seen and time.monotonic() < deadline:
            client.write_stdin("stty size\n")
            client.update(timeout=1)
            seen += client.read_stdout(timeout=1)
        client.close()
        return seen

    assert "40 100" in await asyncio.to_thread(attach)


async def test_exec_without_an_upgrade_is_a_400_status(streaming: Streaming) -> None:
    await streaming.running_pod("ex")
    async with aiohttp.ClientSession() as http:
        async with http.post(streaming.url(exec_path(streaming.env.ns, "ex", "ls"), "http")) as resp:
            body = await resp.json()
    assert resp.status == 400 and body["message"] == "Upgrade request required"


async def test_a_spdy_exec_offering_no_known_protocol_is_a_400_status(streaming: Streaming) -> None:
    await streaming.running_pod("ex")
    headers = {"Connection": "Upgrade", "Upgrade": "SPDY/3.1", "X-Stream-Protocol-Version": "v9.channel.k8s.io"}
    async with aiohttp.ClientSession() as http:
        async with http.post(streaming.url(exec_path(streaming.env.ns, "ex", "ls"), "http"), headers=headers) as resp:
            body = await resp.json()
    assert resp.status == 400
    assert body["message"].startswith("unable to upgrade: unable to negotiate protocol: client supports")
