"""pods/log, exec, attach, portforward and node proxy through the session API server to a fake kubelet.

The fake kubelet is an aiohttp server over TLS on 127.0.0.2 with it-node-1's kubelet certificate; it
demands a client certificate from the cluster CA and echoes the path, query and client identity
it was reached with, streams a follow log on demand, answers a WebSocket upgrade with the
channel.k8s.io protocol (enough for the real ``kubectl exec``) and a raw ``Upgrade: SPDY/3.1`` with
a 101 after which it echoes bytes. Each test registers a Node of its own pointing at it. The last
tests run the real kubelet (its HTTPS server on loopback) for ``kubectl logs`` and ``kubectl top``.
"""

from __future__ import annotations

import asyncio
import contextlib
import dataclasses
import json
import os
import ssl
import subprocess
import uuid
from collections.abc import AsyncIterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import aiohttp
import pytest
from aiohttp import web

from kubeprov.api.client import ApiClient
from kubeprov.apiserver.kubelets.takeover import switch_protocols
from kubeprov.etcd.local import free_port
from tests.integration.apiserver_fixture import ApiServerForTest, extra_server
from tests.integration.certs import issue_client_cert
from tests.integration.controller_env import delete_if_present, eventually, new_namespace
from tests.integration.kubelet_env import BUSYBOX, Env
from tests.integration.test_kubelet_streaming import streaming_kubelet

pytestmark = [
    pytest.mark.integration,
    pytest.mark.timeout(120),
    pytest.mark.skipif(os.geteuid() != 0, reason="needs root like the other kubelet tests"),
]

KUBELET_IP = "127.0.0.2"
Obj = dict[str, Any]


@dataclass
class FakeKubelet:
    port: int
    release_follow: asyncio.Event = field(default_factory=asyncio.Event)


def _peer_cn(request: web.BaseRequest) -> str:
    sslobj = request.transport.get_extra_info("ssl_object") if request.transport else None
    cert = sslobj.getpeercert() if sslobj else None
    for rdn in (cert or {}).get("subject", ()):
        for key, value in rdn:
            if key == "commonName":
                return str(value)
    return ""


def _echo_line(request: web.BaseRequest) -> str:
    return f"path={request.path} query={request.rel_url.raw_query_string} cn={_peer_cn(request)}\n"


async def _logs(request: web.Request, kubelet: FakeKubelet) -> web.StreamResponse:
    container = request.match_info["container"]
    if container == "waiting":
        return web.Response(status=400, text=f'container "waiting" in pod "{request.match_info["pod"]}" is '
                                              "waiting to start: ContainerCreating")
    if request.query.get("follow") != "true":
        return web.Response(text=_echo_line(request))
    response = web.StreamResponse()
    response.content_type = "text/plain"
    await response.prepare(request)
    await response.write(b"first\n")
    await kubelet.release_follow.wait()
    with contextlib.suppress(ConnectionError):  # the reader may be gone by now
        await response.write(b"second\n")
        await response.write_eof()
    return response


async def _stream(request: web.Request) -> web.StreamResponse:
    upgrade = request.headers.get("Upgrade", "").lower()
    if upgrade == "websocket":
        offered = [p.strip() for p in request.headers.get("Sec-WebSocket-Protocol", "").split(",")]
        ws = web.WebSocketResponse(protocols=[p for p in offered if p.endswith("channel.k8s.io")])
        await ws.prepare(request)
        await ws.send_bytes(b"\x01" + _echo_line(request).encode())
        await ws.send_bytes(b"\x03" + json.dumps({"metadata": {}, "status": "Success"}).encode())
        await ws.close()
        return ws
    if upgrade.startswith("spdy/"):
        headers = [("Connection", "Upgrade"), ("Upgrade", "SPDY/3.1"),
                   ("X-Stream-Protocol-Version", request.headers.get("X-Stream-Protocol-Version", ""))]
        response, client = await switch_protocols(request, headers)
        await client.write(_echo_line(request).encode())
        while data := await client.read():
            await client.write(data)
        client.close()
        return response
    return web.Response(status=400, text="Upgrade request required")


@pytest.fixture
async def fake_kubelet(apiserver: ApiServerForTest) -> AsyncIterator[FakeKubelet]:
    pki = apiserver.pki_dir
    ctx = ssl.create_default_context(ssl.Purpose.CLIENT_AUTH, cafile=str(pki / "ca.crt"))
    ctx.load_cert_chain(pki / "nodes/it-node-1/kubelet.crt", pki / "nodes/it-node-1/kubelet.key")
    ctx.verify_mode = ssl.CERT_REQUIRED
    kubelet = FakeKubelet(0)
    app = web.Application()
    app.router.add_get("/containerLogs/{ns}/{pod}/{container}", lambda r: _logs(r, kubelet))
    app.router.add_route("*", "/exec/{tail:.*}", _stream)
    app.router.add_route("*", "/attach/{tail:.*}", _stream)
    app.router.add_route("*", "/portForward/{tail:.*}", _stream)
    app.router.add_get("/{tail:.*}", lambda r: web.Response(text=_echo_line(r)))
    runner = web.AppRunner(app, access_log=None)
    await runner.setup()
    site = web.TCPSite(runner, KUBELET_IP, 0, ssl_context=ctx)
    await site.start()
    kubelet.port = site._server.sockets[0].getsockname()[1]  # type: ignore[union-attr]
    try:
        yield kubelet
    finally:
        kubelet.release_follow.set()
        await runner.cleanup()


async def _node(client: ApiClient, port: int, addresses: list[Obj] | None = None) -> str:
    name = f"fk-{uuid.uuid4().hex[:8]}"
    node = {"apiVersion": "v1", "kind": "Node", "metadata": {"name": name}}
    created = await client.create("v1", "nodes", node)
    created["status"] = {"addresses": [{"type": "InternalIP", "address": KUBELET_IP}, {"type": "Hostname",
                                                                                         "address": name}]
                         if addresses is None else addresses,
                         "daemonEndpoints": {"kubeletEndpoint": {"Port": port}}}
    await client.update("v1", "nodes", created, subresource="status")
    return name


@pytest.fixture
async def cluster(api_client: ApiClient, fake_kubelet: FakeKubelet) -> AsyncIterator[tuple[str, str]]:
    """(namespace, node name) with the node pointing at the fake kubelet."""
    ns = await new_namespace(api_client, "kp")
    node = await _node(api_client, fake_kubelet.port)
    try:
        yield ns, node
    finally:
        await delete_if_present(api_client, "v1", "namespaces", ns)
        await delete_if_present(api_client, "v1", "nodes", node)


async def _pod(client: ApiClient, ns: str, name: str, node: str | None, containers: tuple[str, ...] = ("c",),
               init: tuple[str, ...] = ()) -> None:
    spec: Obj = {"containers": [{"name": c, "image": "registry.local/busybox:1"} for c in containers]}
    if init:
        spec["initContainers"] = [{"name": c, "image": "registry.local/busybox:1"} for c in init]
    if node:
        spec["nodeName"] = node
    await client.create("v1", "pods", {"apiVersion": "v1", "kind": "Pod", "metadata": {"name": name},
                                       "spec": spec}, namespace=ns)


async def kubectl(apiserver: ApiServerForTest, *args: str) -> subprocess.CompletedProcess[str]:
    return await asyncio.to_thread(apiserver.kubectl, *args)


def _admin_ssl(apiserver: ApiServerForTest, tmp_path: Path) -> ssl.SSLContext:
    cert = issue_client_cert(apiserver.pki_dir, "kp-admin", ["system:masters"])
    (tmp_path / "admin.crt").write_bytes(cert.cert_pem)
    (tmp_path / "admin.key").write_bytes(cert.key_pem)
    ctx = ssl.create_default_context(cafile=str(apiserver.pki_dir / "ca.crt"))
    ctx.load_cert_chain(tmp_path / "admin.crt", tmp_path / "admin.key")
    return ctx


async def test_logs_reach_the_kubelet_with_the_client_certificate(apiserver: ApiServerForTest,
                                                                   api_client: ApiClient,
                                                                   cluster: tuple[str, str]) -> None:
    ns, node = cluster
    await _pod(api_client, ns, "p", node)
    out = await kubectl(apiserver, "-n", ns, "logs", "p", "--tail=5", "--previous", "--timestamps")
    assert out.returncode == 0, out.stderr
    assert out.stdout == (f"path=/containerLogs/{ns}/p/c query=previous=true&tailLines=5&timestamps=true "
                          "cn=kube-apiserver-kubelet-client\n")


async def test_follow_streams_lines_as_the_kubelet_writes_them(apiserver: ApiServerForTest, api_client: ApiClient,
                                                               cluster: tuple[str, str],
                                                               fake_kubelet: FakeKubelet) -> None:
    ns, node = cluster
    await _pod(api_client, ns, "p", node)
    env = {k: v for k, v in os.environ.items() if k != "KUBECONFIG"} | {"HOME": str(apiserver.root)}
    proc = await asyncio.create_subprocess_exec("kubectl", "--kubeconfig", str(apiserver.kubeconfig), "-n", ns,
                                                "logs", "-f", "p", stdout=asyncio.subprocess.PIPE,
                                                stderr=asyncio.subprocess.PIPE, env=env)
    try:
        assert proc.stdout is not None
        first = await asyncio.wait_for(proc.stdout.readline(), 30)
        assert first == b"first\n"  # arrived while the kubelet still holds the stream open
        fake_kubelet.release_follow.set()
        rest, _ = await asyncio.wait_for(proc.communicate(), 30)
        assert rest == b"second\n"
        assert proc.returncode == 0
    finally:
        if proc.returncode is None:
            proc.kill()
            await proc.wait()


async def test_log_container_must_be_chosen_when_there_are_several(apiserver: ApiServerForTest,
                                                                   api_client: ApiClient,
                                                                   cluster: tuple[str, str]) -> None:
    ns, node = cluster
    await _pod(api_client, ns, "two", node, containers=("a", "b"), init=("setup",))
    out = await kubectl(apiserver, "get", "--raw", f"/api/v1/namespaces/{ns}/pods/two/log")
    assert out.returncode != 0
    assert "a container name must be specified for pod two, choose one of: [setup a b]" in out.stderr


async def test_unknown_container_is_a_bad_request(apiserver: ApiServerForTest, api_client: ApiClient,
                                                  cluster: tuple[str, str]) -> None:
    ns, node = cluster
    await _pod(api_client, ns, "p", node)
    out = await kubectl(apiserver, "-n", ns, "logs", "p", "-c", "nope")
    assert out.returncode != 0
    assert "container nope is not valid for pod p" in out.stderr


async def test_negative_tail_lines_is_invalid(apiserver: ApiServerForTest, api_client: ApiClient,
                                              cluster: tuple[str, str], tmp_path: Path) -> None:
    ns, node = cluster
    await _pod(api_client, ns, "p", node)
    async with aiohttp.ClientSession() as http:
        async with http.get(f"{apiserver.url}/api/v1/namespaces/{ns}/pods/p/log?tailLines=-1",
                            ssl=_admin_ssl(apiserver, tmp_path)) as resp:
            body = await resp.json()
    assert resp.status == 422
    assert body["message"] == ('PodLogOptions "p" is invalid: tailLines: Invalid value: -1: '
                               "must be greater than or equal to 0")


async def test_kubelet_errors_come_back_as_status(apiserver: ApiServerForTest, api_client: ApiClient,
                                                  cluster: tuple[str, str]) -> None:
    ns, node = cluster
    await _pod(api_client, ns, "p", node, containers=("waiting",))
    out = await kubectl(apiserver, "-n", ns, "logs", "p")
    assert out.returncode != 0
    assert 'Error from server (BadRequest): container "waiting" in pod "p" is waiting to start: ' \
           "ContainerCreating" in out.stderr


async def test_logs_of_an_unscheduled_pod_say_it_waits(apiserver: ApiServerForTest, api_client: ApiClient,
                                                       cluster: tuple[str, str]) -> None:
    ns, _ = cluster
    await _pod(api_client, ns, "p", None)
    out = await kubectl(apiserver, "-n", ns, "logs", "p")
    assert out.returncode != 0
    assert 'container "c" in pod "p" is waiting to start: ContainerCreating' in out.stderr


async def test_kubectl_exec_over_websocket(apiserver: ApiServerForTest, api_client: ApiClient,
                                           cluster: tuple[str, str]) -> None:
    ns, node = cluster
    await _pod(api_client, ns, "p", node)
    out = await kubectl(apiserver, "-n", ns, "exec", "p", "--", "echo", "hi there")
    assert out.returncode == 0, out.stderr
    assert out.stdout == (f"path=/exec/{ns}/p/c query=command=echo&command=hi+there&error=1&output=1 "
                          "cn=kube-apiserver-kubelet-client\n")


async def test_spdy_portforward_is_spliced_both_ways(apiserver: ApiServerForTest, api_client: ApiClient,
                                                     cluster: tuple[str, str], tmp_path: Path) -> None:
    ns, node = cluster
    await _pod(api_client, ns, "p", node)
    port = int(apiserver.url.rsplit(":", 1)[1])
    reader, writer = await asyncio.open_connection("127.0.0.1", port, ssl=_admin_ssl(apiserver, tmp_path),
                                                   server_hostname="127.0.0.1")
    try:
        writer.write((f"POST /api/v1/namespaces/{ns}/pods/p/portforward?ports=8080 HTTP/1.1\r\n"
                      "Host: 127.0.0.1\r\nConnection: Upgrade\r\nUpgrade: SPDY/3.1\r\n"
                      "X-Stream-Protocol-Version: portforward.k8s.io\r\nContent-Length: 0\r\n\r\n").encode())
        head = (await asyncio.wait_for(reader.readuntil(b"\r\n\r\n"), 30)).decode()
        assert head.startswith("HTTP/1.1 101")
        assert "X-Stream-Protocol-Version: portforward.k8s.io" in head
        line = await asyncio.wait_for(reader.readline(), 30)
        assert line.decode() == f"path=/portForward/{ns}/p query=port=8080 cn=kube-apiserver-kubelet-client\n"
        writer.write(b"\x80\x03\x00\x01ping")
        assert await asyncio.wait_for(reader.readexactly(8), 30) == b"\x80\x03\x00\x01ping"
    finally:
        writer.close()


async def test_stopping_the_api_server_ends_a_followed_log(apiserver: ApiServerForTest, api_client: ApiClient,
                                                            cluster: tuple[str, str], tmp_path: Path) -> None:
    ns, node = cluster
    await _pod(api_client, ns, "p", node)
    port = free_port()
    stack = contextlib.ExitStack()
    await asyncio.to_thread(stack.enter_context, extra_server(dataclasses.replace(apiserver.server.config, port=port)))
    try:
        async with aiohttp.ClientSession() as http:
            async with http.get(f"https://127.0.0.1:{port}/api/v1/namespaces/{ns}/pods/p/log?follow=true",
                                ssl=_admin_ssl(apiserver, tmp_path)) as resp:
                assert await asyncio.wait_for(resp.content.readline(), 30) == b"first\n"
                stopping = asyncio.create_task(asyncio.to_thread(stack.close))
                # the kubelet never ends this stream: only the server's stop can (cutting it short)
                with contextlib.suppress(aiohttp.ClientPayloadError):
                    assert await asyncio.wait_for(resp.content.read(), 30) == b""
                await asyncio.wait_for(stopping, 30)
    finally:
        await asyncio.to_thread(stack.close)


async def test_exec_without_a_command_is_refused(apiserver: ApiServerForTest, api_client: ApiClient,
                                                 cluster: tuple[str, str], tmp_path: Path) -> None:
    ns, node = cluster
    await _pod(api_client, ns, "p", node)
    async with aiohttp.ClientSession() as http:
        async with http.post(f"{apiserver.url}/api/v1/namespaces/{ns}/pods/p/exec?stdout=true",
                             ssl=_admin_ssl(apiserver, tmp_path)) as resp:
            body = await resp.json()
    assert (resp.status, body["message"]) == (400, "you must specify at least 1 command")


async def test_unreachable_kubelet_is_503_error_dialing_backend(apiserver: ApiServerForTest,
                                                                api_client: ApiClient,
                                                                cluster: tuple[str, str]) -> None:
    ns, _ = cluster
    closed = await _node(api_client, 1)  # nothing listens on port 1
    try:
        await _pod(api_client, ns, "p", closed)
        out = await kubectl(apiserver, "-n", ns, "logs", "p")
        assert out.returncode != 0
        assert "error dialing backend: dial tcp 127.0.0.2:1: " in out.stderr
    finally:
        await delete_if_present(api_client, "v1", "nodes", closed)


async def test_node_without_addresses_is_a_clear_error(apiserver: ApiServerForTest, api_client: ApiClient,
                                                       cluster: tuple[str, str]) -> None:
    bare = await _node(api_client, 10250, addresses=[])
    try:
        out = await kubectl(apiserver, "get", "--raw", f"/api/v1/nodes/{bare}/proxy/healthz")
        assert out.returncode != 0
        assert "no preferred addresses found; known addresses: []" in out.stderr
    finally:
        await delete_if_present(api_client, "v1", "nodes", bare)


async def test_node_proxy_keeps_path_and_query(apiserver: ApiServerForTest, cluster: tuple[str, str]) -> None:
    _, node = cluster
    out = await kubectl(apiserver, "get", "--raw", f"/api/v1/nodes/{node}/proxy/stats/summary?only=cpu")
    assert out.returncode == 0, out.stderr
    assert out.stdout == "path=/stats/summary query=only=cpu cn=kube-apiserver-kubelet-client\n"


async def test_pod_proxy_refuses_a_loopback_pod_ip(apiserver: ApiServerForTest, api_client: ApiClient,
                                                  cluster: tuple[str, str]) -> None:
    ns, node = cluster
    await _pod(api_client, ns, "p", node)
    pod = await api_client.get("v1", "pods", "p", ns)
    pod["status"] |= {"phase": "Running", "podIP": "127.0.0.3", "podIPs": [{"ip": "127.0.0.3"}]}
    await api_client.update("v1", "pods", pod, ns, subresource="status")
    out = await kubectl(apiserver, "get", "--raw", f"/api/v1/namespaces/{ns}/pods/p:8080/proxy/x")
    assert out.returncode != 0
    assert "address not allowed" in out.stderr


# ---------------------------------------------------------------------------------------------- the real kubelet

LOOP = 'trap "exit 0" TERM; while true; do sleep 1; done'


@pytest.fixture
async def real_kubelet(api_client: ApiClient, oci_registry: Any, tmp_path: Path,
                       apiserver: ApiServerForTest) -> AsyncIterator[Env]:
    # the Node's InternalIP is loopback, so the API server reaches the kubelet's HTTPS server there; the
    # streaming tests' wrapper finishes the teardown when a concurrent test removed this kubelet's CNI chains
    async with streaming_kubelet(api_client, oci_registry, tmp_path, node_ip="127.0.0.1",
                                 client_ca_file=str(apiserver.pki_dir / "ca.crt")) as env:
        yield env


async def _running(env: Env, pod: str, restarts: int = 0) -> Obj:
    async def check() -> Obj | None:
        status = await env.container_status(pod)
        if status and "running" in status.get("state", {}) and status.get("restartCount", 0) >= restarts:
            return status
        return None

    return await eventually(check, timeout=60)


async def test_kubectl_logs_follow_previous_and_tail_reach_the_real_kubelet(apiserver: ApiServerForTest,
                                                                            real_kubelet: Env) -> None:
    env = real_kubelet
    script = ('n=$(cat /data/n 2>/dev/null || echo 0); n=$((n+1)); echo $n > /data/n; echo run $n; echo more $n; '
              'if [ $n = 1 ]; then exit 1; fi; while [ ! -f /tmp/go ]; do sleep 0.2; done; echo later')
    await env.create_pod("logged", [{"name": "c", "image": BUSYBOX, "command": ["sh", "-c", script],
                                     "volumeMounts": [{"name": "data", "mountPath": "/data"}]}],
                         volumes=[{"name": "data", "emptyDir": {}}], restartPolicy="OnFailure")
    status = await _running(env, "logged", restarts=1)

    async def logs(*args: str) -> str | None:
        out = await kubectl(apiserver, "-n", env.ns, "logs", "logged", *args)
        return out.stdout if out.returncode == 0 and out.stdout else None

    assert await eventually(lambda: logs(), timeout=30) == "run 2\nmore 2\n"
    assert await logs("--tail=1") == "more 2\n"
    assert await logs("--previous") == "run 1\nmore 1\n"
    kubeenv = {k: v for k, v in os.environ.items() if k != "KUBECONFIG"} | {"HOME": str(apiserver.root)}
    proc = await asyncio.create_subprocess_exec("kubectl", "--kubeconfig", str(apiserver.kubeconfig), "-n", env.ns,
                                                "logs", "-f", "logged", stdout=asyncio.subprocess.PIPE,
                                                stderr=asyncio.subprocess.PIPE, env=kubeenv)
    try:
        assert proc.stdout is not None
        assert await asyncio.wait_for(proc.stdout.readline(), 30) == b"run 2\n"
        assert await asyncio.wait_for(proc.stdout.readline(), 30) == b"more 2\n"
        await env.kubelet.runtime.exec(status["containerID"].split("://", 1)[1], ["touch", "/tmp/go"], timeout=20)
        assert await asyncio.wait_for(proc.stdout.readline(), 30) == b"later\n"
        await asyncio.wait_for(proc.wait(), 60)  # the stream ends with the container
        assert proc.returncode == 0
    finally:
        if proc.returncode is None:
            proc.kill()
            await proc.wait()


async def test_kubectl_top_pod_and_node_from_the_real_kubelets_metrics(apiserver: ApiServerForTest,
                                                              real_kubelet: Env) -> None:
    env = real_kubelet
    await env.create_pod("busy", [{"name": "c", "image": BUSYBOX, "command": ["sh", "-c", LOOP]}])
    await _running(env, "busy")

    async def top() -> list[str] | None:
        out = await kubectl(apiserver, "top", "pod", "-n", env.ns, "busy", "--no-headers")
        return out.stdout.split() if out.returncode == 0 else None

    row = await eventually(top, timeout=60)
    assert row[0] == "busy" and row[1].endswith("m") and row[2].endswith("Mi")
    node = env.kubelet.config.node_name
    out = await kubectl(apiserver, "top", "node", node, "--no-headers")
    assert out.returncode == 0, out.stderr
    name, cpu, cpu_percent, memory, memory_percent = out.stdout.split()
    assert (name, cpu[-1], cpu_percent[-1], memory[-2:], memory_percent[-1]) == (node, "m", "%", "Mi", "%")
