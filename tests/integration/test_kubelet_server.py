"""The kubelet's HTTPS server against the session API server: who may call it (client certificates, tokens
checked by TokenReview, SubjectAccessReview on nodes/proxy), container logs with the kubelet's options,
pods, health and metrics, with real pods under runc."""

from __future__ import annotations

import asyncio
import base64
import io
import os
import re
import ssl
import time
from collections.abc import AsyncIterator
from pathlib import Path
from typing import Any

import aiohttp
import pytest
import yaml

from kubeprov.api.client import ApiClient
from kubeprov.kubelet.server.auth import User, WebhookAuth, request_attributes
from kubeprov.kubelet.server.logs import LogFormatter, LogOptions, LogRequestError, parse_options, stamp_ns, tail_offset
from tests.integration.apiserver_fixture import ApiServerForTest
from tests.integration.controller_env import delete_if_present, eventually, new_namespace
from tests.integration.kubelet_env import BUSYBOX, WEB, Env, Obj, running_kubelet

pytestmark = [
    pytest.mark.integration,
    pytest.mark.timeout(120),
    pytest.mark.skipif(os.geteuid() != 0, reason="needs root: runc, mounts, namespaces and bridges"),
]

# a container that ends on SIGTERM within a second (busybox sh runs the trap after the current sleep)
LOOP = 'trap "exit 0" TERM; while true; do sleep 1; done'


@pytest.fixture
async def env(api_client: ApiClient, oci_registry: Any, tmp_path: Path,
              apiserver: ApiServerForTest) -> AsyncIterator[Env]:
    # the Node's InternalIP is loopback, so the API server's pods/log relay reaches this server too
    async with running_kubelet(api_client, oci_registry, tmp_path, port=0, health_port=0, address="127.0.0.1",
                               node_ip="127.0.0.1", client_ca_file=str(apiserver.pki_dir / "ca.crt")) as environment:
        yield environment


def admin_ssl(apiserver: ApiServerForTest, directory: Path) -> ssl.SSLContext:
    """A client context with the admin user's certificate (O=system:masters); the kubelet's self-signed
    serving certificate is not verified, as the API server does not verify it without a kubelet CA."""
    user = yaml.safe_load(apiserver.kubeconfig.read_text())["users"][0]["user"]
    cert, key = directory / "admin.crt", directory / "admin.key"
    cert.write_bytes(base64.b64decode(user["client-certificate-data"]))
    key.write_bytes(base64.b64decode(user["client-key-data"]))
    ctx = unverified_ssl()
    ctx.load_cert_chain(str(cert), str(key))
    return ctx


def unverified_ssl() -> ssl.SSLContext:
    ctx = ssl.create_default_context()
    ctx.check_hostname = False
    ctx.verify_mode = ssl.CERT_NONE
    return ctx


def url(env: Env, path: str) -> str:
    assert env.kubelet.server is not None
    return f"https://127.0.0.1:{env.kubelet.server.port}{path}"


@pytest.fixture
async def admin(apiserver: ApiServerForTest, tmp_path: Path) -> AsyncIterator[aiohttp.ClientSession]:
    connector = aiohttp.TCPConnector(ssl=admin_ssl(apiserver, tmp_path))
    async with aiohttp.ClientSession(connector=connector) as session:
        yield session


async def get_text(session: aiohttp.ClientSession, env: Env, path: str) -> tuple[int, str]:
    async with session.get(url(env, path)) as response:
        return response.status, await response.text()


async def running_container(env: Env, pod: str, restarts: int = 0) -> Obj:
    async def check() -> Obj | None:
        status = await env.container_status(pod)
        if status and "running" in status.get("state", {}) and status.get("restartCount", 0) >= restarts:
            return status
        return None

    return await eventually(check, timeout=60)


async def logs(session: aiohttp.ClientSession, env: Env, pod: str, query: str = "") -> tuple[int, str]:
    return await get_text(session, env, f"/containerLogs/{env.ns}/{pod}/c{query}")


# ---------------------------------------------------------------------------------------------- who may call


async def test_a_request_without_credentials_is_401_unauthorized(env: Env) -> None:
    async with aiohttp.ClientSession(connector=aiohttp.TCPConnector(ssl=unverified_ssl())) as session:
        async with session.get(url(env, "/healthz")) as response:
            assert response.status == 401
            body = await response.json()
    assert (body["kind"], body["reason"], body["message"]) == ("Status", "Unauthorized", "Unauthorized")


async def test_with_anonymous_auth_a_bare_request_is_system_anonymous_and_rbac_decides(
        api_client: ApiClient, oci_registry: Any, tmp_path: Path) -> None:
    async with running_kubelet(api_client, oci_registry, tmp_path, port=0, health_port=0, address="127.0.0.1",
                               anonymous_auth=True) as anonymous_env:
        async with aiohttp.ClientSession(connector=aiohttp.TCPConnector(ssl=unverified_ssl())) as session:
            async with session.get(url(anonymous_env, "/metrics/resource")) as response:
                assert response.status == 403
                body = await response.json()
    assert body["message"] == ("Forbidden (user=system:anonymous, verb=get, resource=nodes, "
                               "subresource(s)=[metrics])")


async def test_the_streaming_routes_are_behind_the_same_authentication(env: Env, admin: aiohttp.ClientSession) -> None:
    async with aiohttp.ClientSession(connector=aiohttp.TCPConnector(ssl=unverified_ssl())) as session:
        async with session.post(url(env, f"/exec/{env.ns}/missing/c?command=true")) as response:
            assert response.status == 401
    async with admin.post(url(env, f"/exec/{env.ns}/missing/c?command=true")) as response:
        assert response.status == 404  # past authorization, the streaming handler answers for the pod


async def test_a_token_whose_user_lacks_rbac_is_403_with_the_kubelets_wording(env: Env) -> None:
    await env.client.create("v1", "serviceaccounts", {"metadata": {"name": "nobody"}}, env.ns)
    request = {"apiVersion": "authentication.k8s.io/v1", "kind": "TokenRequest", "spec": {"expirationSeconds": 600}}
    token = (await env.client.create("v1", "serviceaccounts", request, env.ns, name="nobody",
                                     subresource="token"))["status"]["token"]
    headers = {"Authorization": f"Bearer {token}"}
    async with aiohttp.ClientSession(connector=aiohttp.TCPConnector(ssl=unverified_ssl()), headers=headers) as s:
        async with s.get(url(env, f"/containerLogs/{env.ns}/any/c")) as response:
            assert response.status == 403
            body = await response.json()
    assert body["message"] == (f"Forbidden (user=system:serviceaccount:{env.ns}:nobody, verb=get, "
                               "resource=nodes, subresource(s)=[proxy])")


async def test_the_admin_certificate_is_allowed_and_the_node_advertises_the_port(
        env: Env, admin: aiohttp.ClientSession) -> None:
    assert await get_text(admin, env, "/healthz") == (200, "ok")
    assert await get_text(admin, env, "/healthz/syncloop") == (200, "ok")
    node = await env.client.get("v1", "nodes", env.kubelet.name)
    assert env.kubelet.server is not None
    assert node["status"]["daemonEndpoints"]["kubeletEndpoint"]["Port"] == env.kubelet.server.port


# ---------------------------------------------------------------------------------------------- logs


async def test_logs_plain_tail_timestamps_since_and_limit(env: Env, admin: aiohttp.ClientSession) -> None:
    script = f"echo one; echo two; echo three; {LOOP}"
    await env.create_pod("lines", [{"name": "c", "image": BUSYBOX, "command": ["sh", "-c", script]}])
    await running_container(env, "lines")
    assert await eventually(lambda: _logs_are(admin, env, "lines", "one\ntwo\nthree\n"), timeout=30)
    assert await logs(admin, env, "lines", "?tailLines=2") == (200, "two\nthree\n")
    assert await logs(admin, env, "lines", "?tailLines=0") == (200, "")
    assert await logs(admin, env, "lines", "?limitBytes=6") == (200, "one\ntw")
    code, stamped = await logs(admin, env, "lines", "?timestamps=true&tailLines=1")
    stamp, _, text = stamped.partition(" ")
    assert code == 200 and text == "three\n"
    written = stamp_ns(stamp)
    assert written is not None and abs(written / 1e9 - time.time()) < 300
    assert await logs(admin, env, "lines", "?sinceSeconds=3600") == (200, "one\ntwo\nthree\n")
    assert await logs(admin, env, "lines", "?sinceTime=2999-01-01T00:00:00Z") == (200, "")


async def test_kubectl_logs_through_the_api_server_reaches_this_server(env: Env, apiserver: ApiServerForTest) -> None:
    script = f"echo alpha; echo beta; {LOOP}"
    await env.create_pod("relayed", [{"name": "c", "image": BUSYBOX, "command": ["sh", "-c", script]}])
    await running_container(env, "relayed")

    async def kubectl_logs(*args: str) -> str | None:
        done = await asyncio.to_thread(apiserver.kubectl, "logs", "-n", env.ns, "relayed", *args)
        return done.stdout if done.returncode == 0 and done.stdout.endswith("beta\n") else None

    assert await eventually(kubectl_logs, timeout=30) == "alpha\nbeta\n"
    assert await kubectl_logs("--tail=1") == "beta\n"


async def test_kubectl_logs_follow_through_the_api_server_ends_with_the_container(
        env: Env, apiserver: ApiServerForTest) -> None:
    script = "echo first; sleep 3; echo second"
    await env.create_pod("ending", [{"name": "c", "image": BUSYBOX, "command": ["sh", "-c", script]}],
                         restartPolicy="Never")
    await running_container(env, "ending")
    done = await asyncio.to_thread(apiserver.kubectl, "logs", "-f", "-n", env.ns, "ending", timeout=60)
    assert (done.returncode, done.stdout) == (0, "first\nsecond\n"), done.stderr


async def _logs_are(session: aiohttp.ClientSession, env: Env, pod: str, expected: str) -> bool:
    return await logs(session, env, pod) == (200, expected)


async def test_logs_of_unknown_pods_containers_and_bad_options_are_statuses(
        env: Env, admin: aiohttp.ClientSession) -> None:
    await env.create_pod("fresh", [{"name": "c", "image": BUSYBOX, "command": ["sh", "-c", LOOP]}])
    await running_container(env, "fresh")
    async with admin.get(url(env, f"/containerLogs/{env.ns}/missing/c")) as response:
        assert response.status == 404
        assert (await response.json())["message"] == 'pod "missing" does not exist'
    async with admin.get(url(env, f"/containerLogs/{env.ns}/fresh/other")) as response:
        assert response.status == 404
        assert (await response.json())["message"] == 'container "other" not found in pod "fresh"'
    async with admin.get(url(env, f"/containerLogs/{env.ns}/fresh/c?previous=true")) as response:
        assert response.status == 400
        assert (await response.json())["message"] == 'previous terminated container "c" in pod "fresh" not found'
    async with admin.get(url(env, f"/containerLogs/{env.ns}/fresh/c?tailLines=-1")) as response:
        assert response.status == 422
        assert (await response.json())["reason"] == "Invalid"
    async with admin.get(url(env, f"/containerLogs/{env.ns}/fresh/c?tailLines=many")) as response:
        assert response.status == 400


async def test_previous_reads_the_instance_before_a_restart(env: Env, admin: aiohttp.ClientSession) -> None:
    script = ('n=$(cat /data/n 2>/dev/null || echo 0); n=$((n+1)); echo $n > /data/n; echo run $n; '
              f'if [ $n = 1 ]; then exit 1; fi; {LOOP}')
    await env.create_pod("again", [{"name": "c", "image": BUSYBOX, "command": ["sh", "-c", script],
                                    "volumeMounts": [{"name": "data", "mountPath": "/data"}]}],
                         volumes=[{"name": "data", "emptyDir": {}}])
    await running_container(env, "again", restarts=1)
    assert await eventually(lambda: _logs_are(admin, env, "again", "run 2\n"), timeout=30)
    assert await logs(admin, env, "again", "?previous=true") == (200, "run 1\n")


async def test_follow_streams_a_line_written_after_the_request_and_ends_when_the_container_exits(
        env: Env, admin: aiohttp.ClientSession) -> None:
    script = "echo start; while [ ! -f /tmp/go ]; do sleep 0.2; done; echo later"
    await env.create_pod("follow", [{"name": "c", "image": BUSYBOX, "command": ["sh", "-c", script]}],
                         restartPolicy="Never")
    status = await running_container(env, "follow")
    assert await eventually(lambda: _logs_are(admin, env, "follow", "start\n"), timeout=30)
    cid = status["containerID"].split("://", 1)[1]
    async with admin.get(url(env, f"/containerLogs/{env.ns}/follow/c?follow=true")) as response:
        assert response.status == 200
        first = await asyncio.wait_for(response.content.readline(), 30)
        assert first == b"start\n"
        await env.kubelet.runtime.exec(cid, ["touch", "/tmp/go"], timeout=20)
        second = await asyncio.wait_for(response.content.readline(), 30)
        assert second == b"later\n"
        assert await asyncio.wait_for(response.content.read(), 60) == b""  # the stream ends with the container


# ---------------------------------------------------------------------------------------------- pods and metrics


async def test_pods_and_metrics_report_the_running_pod(env: Env, admin: aiohttp.ClientSession) -> None:
    await env.create_pod("web", [{"name": "c", "image": WEB}])
    await running_container(env, "web")
    code, text = await get_text(admin, env, "/pods")
    assert code == 200
    pods = yaml.safe_load(text)
    assert pods["kind"] == "PodList" and [p["metadata"]["name"] for p in pods["items"]] == ["web"]
    code, metrics = await get_text(admin, env, "/metrics")
    assert code == 200
    assert re.search(r"^kubelet_running_pods 1$", metrics, re.M)
    assert re.search(r'^kubelet_running_containers\{container_state="running"\} 1$', metrics, re.M)
    assert re.search(r'^kubelet_http_requests_total\{long_running="false",method="GET",path="pods",'
                     r'server_type="readwrite"\} 1$', metrics, re.M)


async def test_resource_metrics_give_the_containers_working_set_from_its_cgroup(
        env: Env, admin: aiohttp.ClientSession) -> None:
    await env.create_pod("web", [{"name": "c", "image": WEB}])
    await running_container(env, "web")
    code, text = await get_text(admin, env, "/metrics/resource")
    assert code == 200
    labels = f'container="c",namespace="{env.ns}",pod="web"'
    memory = re.search(rf"^container_memory_working_set_bytes\{{{labels}\}} (\S+) (\d+)$", text, re.M)
    assert memory and float(memory.group(1)) > 0
    assert abs(int(memory.group(2)) / 1000 - time.time()) < 300
    assert re.search(rf"^container_cpu_usage_seconds_total\{{{labels}\}} \S+ \d+$", text, re.M)
    assert re.search(rf'^pod_memory_working_set_bytes\{{namespace="{env.ns}",pod="web"\}} \S+ \d+$', text, re.M)
    assert re.search(r"^node_memory_working_set_bytes \S+ \d+$", text, re.M)
    assert re.search(r"^resource_scrape_error 0$", text, re.M)


# ---------------------------------------------------------------------------------------------- log format rules


CRI = (b"2026-01-01T00:00:01.5Z stdout F one\n"
       b"2026-01-01T00:00:02Z stdout P par\n"
       b"2026-01-01T00:00:03Z stdout F tial\n"
       b"2026-01-01T00:00:04.000000001Z stderr F err\n")


def test_partial_pieces_join_into_one_line_stamped_with_its_first_piece() -> None:
    assert LogFormatter(LogOptions()).format_all(CRI) == b"one\npartial\nerr\n"
    assert LogFormatter(LogOptions(timestamps=True)).format_all(CRI) == (
        b"2026-01-01T00:00:01.5Z one\n2026-01-01T00:00:02Z partial\n2026-01-01T00:00:04.000000001Z err\n")


def test_since_drops_earlier_lines_and_limit_bytes_cuts_mid_line() -> None:
    since = stamp_ns("2026-01-01T00:00:03Z")
    assert LogFormatter(LogOptions(since_ns=since)).format_all(CRI) == b"tial\nerr\n"
    assert LogFormatter(LogOptions(limit_bytes=6)).format_all(CRI) == b"one\npa"


def test_tail_counts_lines_of_the_file_from_its_end() -> None:
    f = io.BytesIO(CRI)
    assert CRI[tail_offset(f, 1, len(CRI)):] == CRI.splitlines(keepends=True)[-1]
    assert CRI[tail_offset(f, 3, len(CRI)):] == b"".join(CRI.splitlines(keepends=True)[-3:])
    assert tail_offset(f, 10, len(CRI)) == 0 and tail_offset(f, 0, len(CRI)) == len(CRI)


def test_tail_reads_backwards_across_blocks() -> None:
    line = b"2026-01-01T00:00:01Z stdout F " + b"x" * 1000 + b"\n"
    data = line * 200  # about three read blocks
    assert tail_offset(io.BytesIO(data), 150, len(data)) == 50 * len(line)


@pytest.mark.parametrize(("query", "code"), [
    ({"tailLines": "-1"}, 422), ({"limitBytes": "0"}, 422), ({"sinceSeconds": "0"}, 422),
    ({"sinceSeconds": "5", "sinceTime": "2026-01-01T00:00:00Z"}, 422), ({"follow": "maybe"}, 400),
    ({"sinceTime": "yesterday"}, 400),
])
def test_bad_log_options_are_refused_like_the_kubelet(query: dict[str, str], code: int) -> None:
    with pytest.raises(LogRequestError) as caught:
        parse_options(query)
    assert caught.value.code == code


def test_log_options_are_read_like_pod_log_options() -> None:
    options = parse_options({"follow": "true", "tail": "3", "sinceSeconds": "10", "timestamps": "1"}, now_ns=10**12)
    assert options == LogOptions(follow=True, timestamps=True, tail_lines=3, since_ns=10**12 - 10**10)
    assert parse_options({"tail": "all", "tailLines": "2"}).tail_lines is None
    assert parse_options({"sinceTime": "2026-01-01T01:00:00.25+01:00"}).since_ns == stamp_ns("2026-01-01T00:00:00.25Z")


async def test_a_kubelet_with_node_credentials_may_ask_for_token_and_access_reviews(
        apiserver: ApiServerForTest, api_client: ApiClient) -> None:
    ns = await new_namespace(api_client, "kubelet-auth")
    try:
        await api_client.create("v1", "serviceaccounts", {"metadata": {"name": "robot"}}, ns)
        request = {"apiVersion": "authentication.k8s.io/v1", "kind": "TokenRequest", "spec": {}}
        token = (await api_client.create("v1", "serviceaccounts", request, ns, name="robot",
                                         subresource="token"))["status"]["token"]
        node_client = ApiClient.from_kubeconfig(apiserver.kubelet_kubeconfig("it-node-1"))
        try:
            webhook = WebhookAuth(node_client)
            user = await webhook.authenticate_token(token)
            assert user is not None and user.name == f"system:serviceaccount:{ns}:robot"
            assert not await webhook.authorize(request_attributes(user, "GET", "/pods", "it-node-1"))
            masters = User("kube-apiserver-kubelet-client", ("system:masters", "system:authenticated"))
            assert await webhook.authorize(request_attributes(masters, "GET", "/pods", "it-node-1"))
        finally:
            await node_client.close()
    finally:
        await delete_if_present(api_client, "v1", "namespaces", ns)


async def test_the_plain_healthz_port_answers_without_credentials(env: Env) -> None:
    assert env.kubelet.server is not None and env.kubelet.server.health is not None
    async with aiohttp.ClientSession() as session:
        async with session.get(f"http://127.0.0.1:{env.kubelet.server.health.port}/healthz") as response:
            assert (response.status, await response.text()) == (200, "ok")
