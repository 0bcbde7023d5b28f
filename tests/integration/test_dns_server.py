"""Our cluster DNS server against the session API server, judged by the real `dig`.

Services (ClusterIP, headless, ExternalName) and EndpointSlices are created through the API; the server
runs in-process on 127.0.0.1 with a free port and answers from its informers.
"""

from __future__ import annotations

import asyncio
import json
import socket
import sys
import time
from collections.abc import AsyncIterator
from pathlib import Path
from typing import Any

import aiohttp
import pytest

from kubeprov.api.client import ApiClient
from kubeprov.controllers.endpointslices import EndpointSliceController
from kubeprov.dns.config import DnsConfig
from kubeprov.dns.server import DnsServer
from kubeprov.dns.wire import RR, Message, Question, Type, decode, encode
from kubeprov.etcd.local import free_port
from kubeprov.render import render
from tests.integration.apiserver_fixture import ApiServerForTest
from tests.integration.controller_env import controller_env, eventually, new_namespace

pytestmark = [pytest.mark.integration, pytest.mark.timeout(60)]

DIG = "/usr/bin/dig"
Obj = dict[str, Any]


@pytest.fixture
async def dns(api_client: ApiClient) -> AsyncIterator[DnsServer]:
    server = DnsServer(DnsConfig(listen_address="127.0.0.1", port=0, health_port=0, ttl=5), client=api_client)
    await server.start()
    assert await server.wait_synced(20)
    try:
        yield server
    finally:
        await server.stop()


@pytest.fixture
async def ns(api_client: ApiClient) -> str:
    return await new_namespace(api_client, "dns")


async def dig(server: DnsServer, *args: str) -> str:
    """Run dig against our server without blocking the event loop the server answers on."""
    proc = await asyncio.create_subprocess_exec(
        DIG, "@127.0.0.1", "-p", str(server.port), "+time=3", "+tries=2", *args,
        stdout=asyncio.subprocess.PIPE, stderr=asyncio.subprocess.STDOUT)
    out, _ = await proc.communicate()
    return out.decode()


async def short(server: DnsServer, *args: str) -> list[str]:
    return sorted((await dig(server, "+short", *args)).split())


def service(name: str, **spec: Any) -> Obj:
    return {"apiVersion": "v1", "kind": "Service", "metadata": {"name": name}, "spec": spec}


def endpoint_slice(svc: str, ips: list[str], name: str = "", hostnames: list[str] | None = None,
                   ports: list[Obj] | None = None, ready: bool = True) -> Obj:
    endpoints = []
    for i, ip in enumerate(ips):
        ep: Obj = {"addresses": [ip], "conditions": {"ready": ready}}
        if hostnames:
            ep["hostname"] = hostnames[i]
        endpoints.append(ep)
    return {"apiVersion": "discovery.k8s.io/v1", "kind": "EndpointSlice",
            "metadata": {"name": name or f"{svc}-1", "labels": {"kubernetes.io/service-name": svc}},
            "addressType": "IPv4", "endpoints": endpoints, "ports": ports or []}


async def create_web(client: ApiClient, ns: str) -> str:
    svc = await client.create("v1", "services", service(
        "web", selector={"app": "web"}, ports=[{"name": "http", "port": 80, "protocol": "TCP"}]), ns)
    return svc["spec"]["clusterIP"]


async def test_a_cluster_ip_service_resolves_to_its_cluster_ip(dns: DnsServer, api_client: ApiClient,
                                                                ns: str) -> None:
    ip = await create_web(api_client, ns)
    name = f"web.{ns}.svc.cluster.local"
    assert await eventually(lambda: _equals(short(dns, name, "A"), [ip]), timeout=10)


async def test_srv_for_a_named_port_targets_the_service(dns: DnsServer, api_client: ApiClient, ns: str) -> None:
    await create_web(api_client, ns)
    srv = f"_http._tcp.web.{ns}.svc.cluster.local"
    answer = await eventually(lambda: short(dns, srv, "SRV"), timeout=10)
    assert answer == sorted(["0", "100", "80", f"web.{ns}.svc.cluster.local."])


async def test_ptr_of_a_cluster_ip_names_the_service(dns: DnsServer, api_client: ApiClient, ns: str) -> None:
    ip = await create_web(api_client, ns)
    assert await eventually(lambda: _equals(short(dns, "-x", ip), [f"web.{ns}.svc.cluster.local."]), timeout=10)


async def test_headless_service_answers_endpoint_ips_and_hostnames(dns: DnsServer, api_client: ApiClient,
                                                                   ns: str) -> None:
    await api_client.create("v1", "services", service("db", clusterIP="None", ports=[{"name": "pg", "port": 5432}]),
                            ns)
    await api_client.create("discovery.k8s.io/v1", "endpointslices", endpoint_slice(
        "db", ["10.244.7.1", "10.244.7.2"], hostnames=["db-0", "db-1"],
        ports=[{"name": "pg", "port": 5432, "protocol": "TCP"}]), ns)
    name = f"db.{ns}.svc.cluster.local"
    assert await eventually(lambda: _equals(short(dns, name), ["10.244.7.1", "10.244.7.2"]), timeout=10)
    assert await short(dns, f"db-1.{name}") == ["10.244.7.2"]
    assert await short(dns, "-x", "10.244.7.1") == [f"db-0.{name}."]
    srv = await short(dns, f"_pg._tcp.{name}", "SRV")
    assert srv.count("5432") == 2 and f"db-0.{name}." in srv and f"db-1.{name}." in srv


async def test_external_name_service_is_a_cname(dns: DnsServer, api_client: ApiClient, ns: str) -> None:
    await api_client.create("v1", "services", service("ext", type="ExternalName", externalName="db.example.org"), ns)
    name = f"ext.{ns}.svc.cluster.local"
    assert await eventually(lambda: _equals(short(dns, name, "CNAME"), ["db.example.org."]), timeout=10)


async def test_unknown_names_are_nxdomain_with_the_soa(dns: DnsServer, ns: str) -> None:
    out = await dig(dns, f"nope.{ns}.svc.cluster.local", "A")
    assert "status: NXDOMAIN" in out
    assert "SOA" in out and "ns.dns.cluster.local." in out


async def test_names_outside_the_cluster_are_refused_by_default(dns: DnsServer) -> None:
    assert "status: REFUSED" in await dig(dns, "example.com", "A")


async def test_pod_names_resolve_to_the_dashed_address(dns: DnsServer, ns: str) -> None:
    assert await short(dns, f"10-244-3-9.{ns}.pod.cluster.local") == ["10.244.3.9"]


async def test_search_path_expansion_with_ndots_5_finds_the_service(dns: DnsServer, api_client: ApiClient,
                                                                    ns: str) -> None:
    # a pod in namespace "other" (resolv.conf: search other.svc.cluster.local svc.cluster.local
    # cluster.local; options ndots:5) asks for "web.<ns>": fewer than 5 dots, so the search list is
    # tried first, in order, and the first answer wins
    ip = await create_web(api_client, ns)
    await eventually(lambda: _equals(short(dns, f"web.{ns}.svc.cluster.local"), [ip]), timeout=10)
    search = ["other.svc.cluster.local", "svc.cluster.local", "cluster.local"]
    statuses = []
    for suffix in search:
        out = await dig(dns, f"web.{ns}.{suffix}", "A")
        statuses.append(out.split("status: ")[1].split(",")[0])
        if ip in out:
            break
    assert statuses == ["NXDOMAIN", "NOERROR"]


async def test_search_expansions_of_an_outside_name_fail_fast(dns: DnsServer) -> None:
    # "example.com" has fewer than 5 dots: every search candidate is asked first and must be NXDOMAIN
    # (not REFUSED or a timeout) so the resolver moves on to the name itself
    for suffix in ["other.svc.cluster.local", "svc.cluster.local", "cluster.local"]:
        assert "status: NXDOMAIN" in await dig(dns, f"example.com.{suffix}", "A")


async def test_answers_over_tcp(dns: DnsServer, api_client: ApiClient, ns: str) -> None:
    ip = await create_web(api_client, ns)
    assert await eventually(lambda: _equals(short(dns, "+tcp", f"web.{ns}.svc.cluster.local"), [ip]), timeout=10)


async def test_a_big_answer_is_truncated_over_udp_and_complete_over_tcp(dns: DnsServer, api_client: ApiClient,
                                                                        ns: str) -> None:
    ips = [f"10.245.{i // 200}.{i % 200 + 1}" for i in range(120)]
    await api_client.create("v1", "services", service("big", clusterIP="None"), ns)
    await api_client.create("discovery.k8s.io/v1", "endpointslices", endpoint_slice("big", ips), ns)
    name = f"big.{ns}.svc.cluster.local"
    # without +ignore dig retries over TCP on TC and gets every address
    assert await eventually(lambda: _equals(short(dns, name), sorted(ips)), timeout=10)
    truncated = await dig(dns, "+ignore", "+notcp", "+bufsize=512", name)
    flags = next(line for line in truncated.splitlines() if "flags:" in line)
    assert "tc" in flags.split("flags:")[1].split(";")[0].split()
    answers = [line for line in truncated.splitlines() if line.startswith(name) and line.split()[2:4] == ["IN", "A"]]
    assert 0 < len(answers) < len(ips)


async def test_a_new_endpoint_is_answered_within_a_second(dns: DnsServer, api_client: ApiClient, ns: str) -> None:
    await api_client.create("v1", "services", service("db", clusterIP="None"), ns)
    eps = await api_client.create("discovery.k8s.io/v1", "endpointslices", endpoint_slice("db", ["10.246.0.1"]), ns)
    name = f"db.{ns}.svc.cluster.local"
    await eventually(lambda: _equals(short(dns, name), ["10.246.0.1"]), timeout=10)
    eps["endpoints"].append({"addresses": ["10.246.0.2"], "conditions": {"ready": True}})
    await api_client.update("discovery.k8s.io/v1", "endpointslices", eps, ns)
    written = time.monotonic()
    await eventually(lambda: _udp_answers(dns.port, name, 2), timeout=1.0, interval=0.02)
    assert time.monotonic() - written < 1.0
    assert await short(dns, name) == ["10.246.0.1", "10.246.0.2"]


async def test_not_ready_endpoints_are_left_out(dns: DnsServer, api_client: ApiClient, ns: str) -> None:
    await api_client.create("v1", "services", service("db", clusterIP="None"), ns)
    await api_client.create("discovery.k8s.io/v1", "endpointslices", endpoint_slice("db", ["10.247.0.1"]), ns)
    await api_client.create("discovery.k8s.io/v1", "endpointslices",
                            endpoint_slice("db", ["10.247.0.2"], name="db-2", ready=False), ns)
    name = f"db.{ns}.svc.cluster.local"
    assert await eventually(lambda: _equals(short(dns, name), ["10.247.0.1"]), timeout=10)


async def test_health_and_metrics(dns: DnsServer, api_client: ApiClient, ns: str) -> None:
    await dig(dns, f"nope.{ns}.svc.cluster.local", "A")
    async with aiohttp.ClientSession() as http:
        base = f"http://127.0.0.1:{dns.health_port}"
        async with http.get(f"{base}/readyz") as resp:
            assert resp.status == 200
        async with http.get(f"{base}/metrics") as resp:
            text = await resp.text()
    assert 'kubeprov_dns_requests_total{proto="udp",type="A"}' in text
    assert 'kubeprov_dns_responses_total{rcode="NXDOMAIN"}' in text
    assert 'kubeprov_dns_cache_entries{kind="informer_services"}' in text


async def _equals(answer: Any, expected: list[str]) -> bool:
    return await answer == expected


async def _udp_answers(port: int, name: str, count: int) -> bool:
    """Ask our server over UDP from this process (cheaper than starting dig 50 times a second)."""
    loop = asyncio.get_running_loop()
    sock = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
    sock.setblocking(False)
    try:
        await loop.sock_connect(sock, ("127.0.0.1", port))
        await loop.sock_sendall(sock, encode(Message(id=9, questions=[Question(name, Type.A)])))
        async with asyncio.timeout(0.5):
            reply = decode(await loop.sock_recv(sock, 4096))
    except (TimeoutError, ConnectionRefusedError):  # no answer yet, or not listening yet
        return False
    finally:
        sock.close()
    return len(reply.answers) == count


class _Upstream(asyncio.DatagramProtocol):
    """A stand-in upstream server: answers every A question with 192.0.2.53."""

    def connection_made(self, transport: asyncio.BaseTransport) -> None:
        self.transport: asyncio.DatagramTransport = transport  # type: ignore[assignment]

    def datagram_received(self, data: bytes, addr: Any) -> None:
        query = decode(data)
        reply = Message(id=query.id, qr=True, rd=query.rd, ra=True, questions=query.questions,
                        answers=[RR(query.questions[0].name, Type.A, 60, "192.0.2.53")])
        self.transport.sendto(encode(reply), addr)


async def test_names_outside_the_cluster_go_to_the_upstream_when_configured(api_client: ApiClient,
                                                                            ns: str) -> None:
    loop = asyncio.get_running_loop()
    upstream, _ = await loop.create_datagram_endpoint(_Upstream, local_addr=("127.0.0.1", 0))
    port = upstream.get_extra_info("sockname")[1]
    server = DnsServer(DnsConfig(listen_address="127.0.0.1", port=0, health_port=0,
                                 upstreams=[f"127.0.0.1:{port}"]), client=api_client)
    await server.start()
    try:
        assert await short(server, "www.example.org", "A") == ["192.0.2.53"]
        assert "status: NXDOMAIN" in await dig(server, f"nope.{ns}.svc.cluster.local")  # never forwarded
    finally:
        await server.stop()
        upstream.close()


async def test_a_silent_upstream_gives_servfail(api_client: ApiClient) -> None:
    silent = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
    silent.bind(("127.0.0.1", 0))
    server = DnsServer(DnsConfig(listen_address="127.0.0.1", port=0, health_port=0, upstream_timeout=0.3,
                                 upstreams=[f"127.0.0.1:{silent.getsockname()[1]}"]), client=api_client)
    await server.start()
    try:
        assert "status: SERVFAIL" in await dig(server, "www.example.org", "A")
    finally:
        await server.stop()
        silent.close()


async def test_python_m_kubeprov_dns_serves_from_its_config_file(apiserver: ApiServerForTest, api_client: ApiClient,
                                                                 ns: str, tmp_path: Path) -> None:
    await create_web(api_client, ns)
    dns_port, health_port = free_port(), free_port()
    config = tmp_path / "dns.yaml"
    config.write_text(render("dns.yaml.j2", kubeconfig=str(apiserver.kubeconfig), listen_address="127.0.0.1",
                             port=dns_port, health_port=health_port))
    proc = await asyncio.create_subprocess_exec(sys.executable, "-m", "kubeprov.dns", "--config", str(config),
                                                stdout=asyncio.subprocess.DEVNULL, stderr=asyncio.subprocess.PIPE)
    try:
        name = f"web.{ns}.svc.cluster.local"
        assert await eventually(lambda: _udp_answers(dns_port, name, 1), timeout=20)
    finally:
        proc.terminate()
        _, err = await asyncio.wait_for(proc.communicate(), 15)
    assert proc.returncode == 0
    logs = [json.loads(line) for line in err.decode().splitlines() if line.startswith("{")]
    assert any("listening on 127.0.0.1" in entry["msg"] for entry in logs)


async def test_a_ready_statefulset_style_pod_gets_its_hostname_through_the_endpointslice_controller(
        apiserver: ApiServerForTest, api_client: ApiClient, dns: DnsServer) -> None:
    async with controller_env(apiserver, api_client, [EndpointSliceController], prefix="dnsctl", nodes=1) as env:
        await api_client.create("v1", "services", service(
            "db", clusterIP="None", selector={"app": "db"}, ports=[{"name": "pg", "port": 5432}]), env.ns)
        spec = env.pod_spec(hostname="db-0", subdomain="db")
        await api_client.create("v1", "pods", {"metadata": {"name": "db-0", "labels": {"app": "db"}},
                                               "spec": spec}, env.ns)

        async def pod_ip() -> str:
            pod = await api_client.get("v1", "pods", "db-0", env.ns)
            ready = any(c["type"] == "Ready" and c["status"] == "True"
                        for c in (pod.get("status") or {}).get("conditions") or [])
            return (pod.get("status") or {}).get("podIP", "") if ready else ""

        ip = await eventually(pod_ip, timeout=30)
        name = f"db-0.db.{env.ns}.svc.cluster.local"
        assert await eventually(lambda: _equals(short(dns, name), [ip]), timeout=15)
        assert await short(dns, f"db.{env.ns}.svc.cluster.local") == [ip]
