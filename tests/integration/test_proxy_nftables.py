"""The service proxy with real traffic: its nftables table inside a network namespace of the test's own.

The "node" is namespace ``kpp<hex>`` with bridge ``br0`` (10.197.1.1/24); three endpoint namespaces
``kpp<hex>e0..e2`` (10.197.1.10-12) hang off the bridge, each running a tiny TCP server answering every
line with ``<its name> <the client address it sees>``; a client namespace ``kpp<hex>c`` (10.197.2.2) is
routed through the node like a machine outside the cluster. Services live in the session API server
(ClusterIPs and NodePorts from its allocators), the EndpointSlices are written by the tests so the
endpoints are exactly these addresses, and the Proxier runs in-process with ``nft`` run inside the node
namespace. Nothing outside those namespaces is touched; they are deleted (servers killed by PID) at the end.
"""

from __future__ import annotations

import asyncio
import json
import os
import signal
import socket
import subprocess
import sys
import uuid
from collections.abc import AsyncIterator, Iterator
from dataclasses import dataclass, field
from typing import Any

import aiohttp
import pytest

from kubeprov.api.client import ApiClient
from kubeprov.api.informer import SharedInformerFactory
from kubeprov.controllers.servicelb import ServiceLBController
from kubeprov.proxy.config import ProxyConfig
from kubeprov.proxy.sync import Proxier
from tests.integration.apiserver_fixture import ApiServerForTest
from tests.integration.controller_env import delete_if_present, eventually, new_namespace

pytestmark = [
    pytest.mark.integration,
    pytest.mark.timeout(120),
    pytest.mark.skipif(os.geteuid() != 0, reason="needs root: network namespaces and nftables"),
]

NODE_NAME = "kpp-node"
TABLE = "kubeprov-proxy"
ENDPOINT_IPS = ["10.197.1.10", "10.197.1.11", "10.197.1.12"]
NODE_IP = "10.197.1.1"
CLIENT_GW = "10.197.2.1"
CLIENT_IP = "10.197.2.2"
LB_POOL = "10.197.9.0/24"
PORT = 8080

SERVER = r"""
import socket, sys, threading
name = sys.argv[1]
srv = socket.socket()
srv.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
srv.bind(("0.0.0.0", int(sys.argv[2])))
srv.listen(64)
print("ready", flush=True)
def serve(conn, peer):
    with conn, conn.makefile("rb") as lines:
        for _ in lines:
            conn.sendall(f"{name} {peer[0]}\n".encode())
while True:
    conn, peer = srv.accept()
    threading.Thread(target=serve, args=(conn, peer), daemon=True).start()
"""

# one request per connection, n times; prints the answers (or the error's class) as JSON
CLIENT = r"""
import json, socket, sys
ip, port, n, timeout = sys.argv[1], int(sys.argv[2]), int(sys.argv[3]), float(sys.argv[4])
out = []
for _ in range(n):
    try:
        with socket.create_connection((ip, port), timeout=timeout) as s, s.makefile("rb") as f:
            s.sendall(b"hi\n")
            out.append(f.readline().decode().strip() or "closed")
    except OSError as exc:
        out.append(type(exc).__name__)
print(json.dumps(out))
"""

# one connection kept open: a request on it for every line read from stdin
KEEP = r"""
import socket, sys
s = socket.create_connection((sys.argv[1], int(sys.argv[2])), timeout=5)
f = s.makefile("rb")
for _ in sys.stdin:
    s.sendall(b"hi\n")
    print(f.readline().decode().strip() or "closed", flush=True)
"""


def run(*argv: str) -> None:
    subprocess.run(argv, check=True, capture_output=True, timeout=30)


@dataclass
class Net:
    node: str
    endpoints: list[str]
    client: str
    servers: list[subprocess.Popen] = field(default_factory=list)

    @property
    def namespaces(self) -> list[str]:
        return [self.client, *self.endpoints, self.node]

    def nft(self) -> list[str]:
        return ["ip", "netns", "exec", self.node, "nft"]


def build_net(net: Net) -> None:
    node = net.node
    run("ip", "netns", "add", node)
    run("ip", "-n", node, "link", "set", "lo", "up")
    run("ip", "-n", node, "link", "add", "br0", "type", "bridge")
    run("ip", "-n", node, "addr", "add", f"{NODE_IP}/24", "dev", "br0")
    run("ip", "-n", node, "link", "set", "br0", "up")
    run("ip", "netns", "exec", node, "sysctl", "-qw", "net.ipv4.ip_forward=1")
    for i, (ns, ip) in enumerate(zip(net.endpoints, ENDPOINT_IPS, strict=True)):
        run("ip", "netns", "add", ns)
        run("ip", "-n", ns, "link", "set", "lo", "up")
        run("ip", "-n", node, "link", "add", f"ve{i}", "type", "veth", "peer", "name", "eth0", "netns", ns)
        run("ip", "-n", node, "link", "set", f"ve{i}", "master", "br0", "up")
        # as the kubelet's CNI bridge does: with br_netfilter a hairpin packet goes back out its own port
        run("ip", "-n", node, "link", "set", f"ve{i}", "type", "bridge_slave", "hairpin", "on")
        run("ip", "-n", ns, "addr", "add", f"{ip}/24", "dev", "eth0")
        run("ip", "-n", ns, "link", "set", "eth0", "up")
        run("ip", "-n", ns, "route", "add", "default", "via", NODE_IP)
    run("ip", "netns", "add", net.client)
    run("ip", "-n", net.client, "link", "set", "lo", "up")
    run("ip", "-n", node, "link", "add", "vc", "type", "veth", "peer", "name", "eth0", "netns", net.client)
    run("ip", "-n", node, "addr", "add", f"{CLIENT_GW}/24", "dev", "vc")
    run("ip", "-n", node, "link", "set", "vc", "up")
    run("ip", "-n", net.client, "addr", "add", f"{CLIENT_IP}/24", "dev", "eth0")
    run("ip", "-n", net.client, "link", "set", "eth0", "up")
    run("ip", "-n", net.client, "route", "add", "default", "via", CLIENT_GW)
    # service addresses have no host behind them: the node sends them towards the pods until DNAT says where
    run("ip", "-n", node, "route", "add", "default", "dev", "br0")
    for i, ns in enumerate(net.endpoints):
        server = subprocess.Popen(["ip", "netns", "exec", ns, sys.executable, "-c", SERVER, f"ep{i}", str(PORT)],
                                  stdout=subprocess.PIPE, stderr=subprocess.DEVNULL, text=True)
        net.servers.append(server)
        assert server.stdout is not None and server.stdout.readline().strip() == "ready"


def tear_down(net: Net) -> None:
    for server in net.servers:
        server.kill()
        server.wait(10)
    for ns in net.namespaces:
        subprocess.run(["ip", "netns", "del", ns], capture_output=True, timeout=30)


@pytest.fixture(scope="module")
def net() -> Iterator[Net]:
    tag = f"kpp{uuid.uuid4().hex[:6]}"
    network = Net(node=tag, endpoints=[f"{tag}e{i}" for i in range(3)], client=f"{tag}c")
    try:
        build_net(network)
        yield network
    finally:
        tear_down(network)
    listed = subprocess.run(["ip", "netns", "list"], capture_output=True, text=True, check=True).stdout
    assert tag not in listed


def proxy_config(net: Net) -> ProxyConfig:
    return ProxyConfig(node_name=NODE_NAME, cluster_cidr="10.197.1.0/24", sync_period=30.0, min_sync_period=0.2,
                       health_port=0, service_health_bind_address="127.0.0.1", table=TABLE, nft=net.nft())


@pytest.fixture
async def proxier(api_client: ApiClient, net: Net) -> AsyncIterator[Proxier]:
    proxy = Proxier(proxy_config(net), client=api_client)
    await proxy.start()
    try:
        assert await proxy.wait_synced(30), "the proxy never synced"
        yield proxy
    finally:
        await proxy.stop()


@pytest.fixture
async def ns(api_client: ApiClient) -> AsyncIterator[str]:
    namespace = await new_namespace(api_client, "kpp")
    yield namespace
    for svc in (await api_client.list("v1", "services", namespace)).get("items", []):
        await delete_if_present(api_client, "v1", "services", svc["metadata"]["name"], namespace)
    for eps in (await api_client.list("discovery.k8s.io/v1", "endpointslices", namespace)).get("items", []):
        await delete_if_present(api_client, "discovery.k8s.io/v1", "endpointslices", eps["metadata"]["name"],
                                namespace)


# ---- helpers -------------------------------------------------------------------------------------


async def create_service(client: ApiClient, namespace: str, name: str, **spec: Any) -> dict:
    body = {"apiVersion": "v1", "kind": "Service", "metadata": {"name": name},
            "spec": {"ports": [{"name": "tcp", "port": 80, "targetPort": PORT, "protocol": "TCP"}], **spec}}
    return await client.create("v1", "services", body, namespace)


def slice_body(name: str, service: str, ips: list[str], nodes: dict[str, str] | None = None) -> dict:
    nodes = nodes or {}
    return {"apiVersion": "discovery.k8s.io/v1", "kind": "EndpointSlice",
            "metadata": {"name": name, "labels": {"kubernetes.io/service-name": service,
                                                  "endpointslice.kubernetes.io/managed-by": "kpp-test"}},
            "addressType": "IPv4", "ports": [{"name": "tcp", "port": PORT, "protocol": "TCP"}],
            "endpoints": [{"addresses": [ip], "conditions": {"ready": True},
                           **({"nodeName": nodes[ip]} if ip in nodes else {})} for ip in ips]}


async def set_endpoints(client: ApiClient, namespace: str, service: str, ips: list[str],
                        nodes: dict[str, str] | None = None) -> None:
    body = slice_body(f"{service}-test", service, ips, nodes)
    try:
        current = await client.get("discovery.k8s.io/v1", "endpointslices", f"{service}-test", namespace)
    except Exception:  # not there yet
        await client.create("discovery.k8s.io/v1", "endpointslices", body, namespace)
        return
    body["metadata"]["resourceVersion"] = current["metadata"]["resourceVersion"]
    await client.update("discovery.k8s.io/v1", "endpointslices", body, namespace)


async def ask(namespace: str, ip: str, port: int, n: int = 1, timeout: float = 3.0) -> list[str]:
    """``n`` connections from inside ``namespace``; each answer (``ep<i> <peer>``) or the error's class name."""
    proc = await asyncio.create_subprocess_exec(
        "ip", "netns", "exec", namespace, sys.executable, "-c", CLIENT, ip, str(port), str(n), str(timeout),
        stdout=asyncio.subprocess.PIPE, stderr=asyncio.subprocess.PIPE)
    out, err = await proc.communicate()
    assert proc.returncode == 0, err.decode()
    return json.loads(out)


async def answered(namespace: str, ip: str, port: int) -> list[str]:
    """One request, retried until an endpoint answers (the proxy may not have synced the service yet)."""
    async def check() -> list[str] | None:
        answers = await ask(namespace, ip, port)
        return answers if answers[0].startswith("ep") else None
    return await eventually(check, timeout=30)


def names(answers: list[str]) -> set[str]:
    return {a.split()[0] for a in answers}


async def all_answer(namespace: str, ip: str, port: int, wanted: set[str], n: int = 30) -> set[str]:
    """Wait until ``n`` requests are all answered, and by exactly the endpoints ``wanted``."""
    async def check() -> set[str] | None:
        got = names(await ask(namespace, ip, port, n))
        return got if got == wanted else None
    return await eventually(check, timeout=30)


async def nft_listing(net: Net) -> str:
    proc = await asyncio.create_subprocess_exec(*net.nft(), "-a", "list", "table", "ip", TABLE,
                                                stdout=asyncio.subprocess.PIPE)
    out, _ = await proc.communicate()
    return out.decode()


def chain_blocks(listing: str) -> dict[str, str]:
    """Chain name -> its listed text (rules with their handles)."""
    blocks: dict[str, str] = {}
    name = ""
    for line in listing.splitlines():
        stripped = line.strip()
        if stripped.startswith("chain "):
            name = stripped.split()[1]
            blocks[name] = ""
        elif name and stripped == "}":
            name = ""
        elif name:
            blocks[name] += stripped + "\n"
    return blocks


# ---- tests ---------------------------------------------------------------------------------------


async def test_cluster_ip_spreads_over_all_endpoints(api_client: ApiClient, net: Net, ns: str,
                                                     proxier: Proxier) -> None:
    svc = await create_service(api_client, ns, "spread")
    await set_endpoints(api_client, ns, "spread", ENDPOINT_IPS)
    assert await all_answer(net.node, svc["spec"]["clusterIP"], 80, {"ep0", "ep1", "ep2"}) == {"ep0", "ep1", "ep2"}


async def test_an_endpoint_removed_from_the_slice_gets_no_more_traffic(api_client: ApiClient, net: Net, ns: str,
                                                                       proxier: Proxier) -> None:
    svc = await create_service(api_client, ns, "shrink")
    await set_endpoints(api_client, ns, "shrink", ENDPOINT_IPS)
    await all_answer(net.node, svc["spec"]["clusterIP"], 80, {"ep0", "ep1", "ep2"})
    await set_endpoints(api_client, ns, "shrink", ENDPOINT_IPS[:2])
    assert await all_answer(net.node, svc["spec"]["clusterIP"], 80, {"ep0", "ep1"}) == {"ep0", "ep1"}


async def test_a_service_without_endpoints_refuses_connections_at_once(api_client: ApiClient, net: Net, ns: str,
                                                                       proxier: Proxier) -> None:
    svc = await create_service(api_client, ns, "empty")
    await set_endpoints(api_client, ns, "empty", [])
    ip = svc["spec"]["clusterIP"]

    async def refused() -> bool:
        return await ask(net.client, ip, 80, timeout=2.0) == ["ConnectionRefusedError"]
    assert await eventually(refused, timeout=30)
    started = asyncio.get_running_loop().time()
    assert await ask(net.node, ip, 80, timeout=5.0) == ["ConnectionRefusedError"]
    assert asyncio.get_running_loop().time() - started < 4.0


async def test_a_port_the_service_does_not_have_is_refused(api_client: ApiClient, net: Net, ns: str,
                                                           proxier: Proxier) -> None:
    svc = await create_service(api_client, ns, "oneport")
    await set_endpoints(api_client, ns, "oneport", ENDPOINT_IPS)
    ip = svc["spec"]["clusterIP"]
    await answered(net.client, ip, 80)
    assert await ask(net.client, ip, 81, timeout=5.0) == ["ConnectionRefusedError"]
    assert await ask(net.node, ip, 81, timeout=5.0) == ["ConnectionRefusedError"]


async def test_client_ip_affinity_sticks_to_one_endpoint(api_client: ApiClient, net: Net, ns: str,
                                                         proxier: Proxier) -> None:
    svc = await create_service(api_client, ns, "sticky", sessionAffinity="ClientIP",
                               sessionAffinityConfig={"clientIP": {"timeoutSeconds": 300}})
    await set_endpoints(api_client, ns, "sticky", ENDPOINT_IPS)
    ip = svc["spec"]["clusterIP"]
    first = await answered(net.client, ip, 80)
    assert len(names(await ask(net.client, ip, 80, 15))) == 1
    assert names(await ask(net.client, ip, 80, 5)) == names(first)


async def test_node_port_answers_on_the_node_address(api_client: ApiClient, net: Net, ns: str,
                                                     proxier: Proxier) -> None:
    svc = await create_service(api_client, ns, "np", type="NodePort")
    await set_endpoints(api_client, ns, "np", ENDPOINT_IPS)
    node_port = svc["spec"]["ports"][0]["nodePort"]
    assert await all_answer(net.client, CLIENT_GW, node_port, {"ep0", "ep1", "ep2"}) == {"ep0", "ep1", "ep2"}
    answers = await ask(net.client, CLIENT_GW, node_port, 3)
    assert {a.split()[1] for a in answers} != {CLIENT_IP}  # Cluster policy: the source is masqueraded


async def test_external_traffic_policy_local_reaches_only_this_nodes_endpoints(
        api_client: ApiClient, net: Net, ns: str, proxier: Proxier) -> None:
    svc = await create_service(api_client, ns, "local", type="NodePort", externalTrafficPolicy="Local")
    nodes = {ENDPOINT_IPS[0]: NODE_NAME, ENDPOINT_IPS[1]: NODE_NAME, ENDPOINT_IPS[2]: "another-node"}
    await set_endpoints(api_client, ns, "local", ENDPOINT_IPS, nodes)
    node_port = svc["spec"]["ports"][0]["nodePort"]
    assert await all_answer(net.client, CLIENT_GW, node_port, {"ep0", "ep1"}) == {"ep0", "ep1"}
    answers = await ask(net.client, CLIENT_GW, node_port, 3)
    assert {a.split()[1] for a in answers} == {CLIENT_IP}  # Local policy keeps the client's address


async def test_external_traffic_policy_local_without_local_endpoints_drops_outside_clients(
        api_client: ApiClient, net: Net, ns: str, proxier: Proxier) -> None:
    svc = await create_service(api_client, ns, "remote", type="NodePort", externalTrafficPolicy="Local")
    await set_endpoints(api_client, ns, "remote", ENDPOINT_IPS[2:], {ENDPOINT_IPS[2]: "another-node"})
    node_port = svc["spec"]["ports"][0]["nodePort"]

    async def dropped() -> bool:  # before the proxy knows the port, the node itself refuses it
        return await ask(net.client, CLIENT_GW, node_port, timeout=1.5) == ["TimeoutError"]
    assert await eventually(dropped, timeout=30)
    assert names(await answered(net.node, CLIENT_GW, node_port)) == {"ep2"}  # the node's own traffic is served


async def test_an_endpoint_reaches_itself_through_its_service(api_client: ApiClient, net: Net, ns: str,
                                                              proxier: Proxier) -> None:
    svc = await create_service(api_client, ns, "hairpin")
    await set_endpoints(api_client, ns, "hairpin", ENDPOINT_IPS[:1])
    answer = await answered(net.endpoints[0], svc["spec"]["clusterIP"], 80)
    assert answer[0].split() == ["ep0", NODE_IP]  # answered by itself, through the node (masqueraded)


async def test_an_established_connection_survives_a_proxy_restart(api_client: ApiClient, net: Net, ns: str,
                                                                  proxier: Proxier) -> None:
    svc = await create_service(api_client, ns, "restart")
    await set_endpoints(api_client, ns, "restart", ENDPOINT_IPS)
    ip = svc["spec"]["clusterIP"]
    await all_answer(net.client, ip, 80, {"ep0", "ep1", "ep2"}, n=15)
    keep = await asyncio.create_subprocess_exec("ip", "netns", "exec", net.client, sys.executable, "-c", KEEP, ip,
                                                "80", stdin=asyncio.subprocess.PIPE, stdout=asyncio.subprocess.PIPE)
    assert keep.stdin is not None and keep.stdout is not None
    try:
        keep.stdin.write(b"ask\n")
        before = (await asyncio.wait_for(keep.stdout.readline(), 10)).decode().split()[0]
        await proxier.stop()
        successor = Proxier(proxy_config(net), client=api_client, health=False)
        await successor.start()
        try:
            assert await successor.wait_synced(30)
            assert successor.syncs >= 1 and successor.metrics.full_sync.count >= 1
            keep.stdin.write(b"ask\n")
            after = (await asyncio.wait_for(keep.stdout.readline(), 10)).decode().split()[0]
            assert after == before
        finally:
            await successor.stop()
    finally:
        keep.kill()
        await keep.wait()


async def test_an_incremental_sync_rewrites_only_the_changed_services_chains(
        api_client: ApiClient, net: Net, ns: str, proxier: Proxier) -> None:
    changed = await create_service(api_client, ns, "changed")
    other = await create_service(api_client, ns, "other")
    await set_endpoints(api_client, ns, "changed", ENDPOINT_IPS)
    await set_endpoints(api_client, ns, "other", ENDPOINT_IPS)
    await all_answer(net.node, other["spec"]["clusterIP"], 80, {"ep0", "ep1", "ep2"}, n=15)
    await all_answer(net.node, changed["spec"]["clusterIP"], 80, {"ep0", "ep1", "ep2"}, n=15)
    before = chain_blocks(await nft_listing(net))
    partial = proxier.metrics.partial_sync.count
    await set_endpoints(api_client, ns, "changed", ENDPOINT_IPS[:1])
    await all_answer(net.node, changed["spec"]["clusterIP"], 80, {"ep0"}, n=10)
    after = chain_blocks(await nft_listing(net))
    assert proxier.metrics.partial_sync.count > partial
    differing = {n for n in set(before) | set(after) if before.get(n) != after.get(n)}
    assert differing and all(f"/{ns}/changed/" in f"/{n.split('-', 2)[2]}" for n in differing), differing
    assert any(n.startswith("service-") for n in differing)
    assert any(f"{ns}/other/" in n for n in after)  # the other service's chains: same rules, same handles


@pytest.fixture
async def pool_controller(api_client: ApiClient, ns: str) -> AsyncIterator[ServiceLBController]:
    """service-lb-ipam for this test's namespace, handing out addresses from LB_POOL."""
    factory = SharedInformerFactory(api_client)
    controller = ServiceLBController(api_client, factory, pools=[LB_POOL],
                                     namespace_filter=lambda namespace: namespace == ns)
    await factory.start()
    await controller.start(30)
    try:
        yield controller
    finally:
        await controller.stop()
        await factory.stop()


async def load_balancer_ip(client: ApiClient, namespace: str, name: str) -> str:
    async def address() -> str | None:
        svc = await client.get("v1", "services", name, namespace)
        ingress = (svc.get("status", {}).get("loadBalancer") or {}).get("ingress") or []
        return ingress[0].get("ip") if ingress else None
    return await eventually(address, timeout=30)


async def test_a_load_balancer_address_from_the_pool_is_routed(api_client: ApiClient, net: Net, ns: str,
                                                               proxier: Proxier,
                                                               pool_controller: ServiceLBController) -> None:
    await create_service(api_client, ns, "lb", type="LoadBalancer")
    await set_endpoints(api_client, ns, "lb", ENDPOINT_IPS)
    ip = await load_balancer_ip(api_client, ns, "lb")
    assert ip.startswith("10.197.9.")
    assert await all_answer(net.client, ip, 80, {"ep0", "ep1", "ep2"}) == {"ep0", "ep1", "ep2"}


async def test_load_balancer_source_ranges_keep_other_clients_out(api_client: ApiClient, net: Net, ns: str,
                                                                  proxier: Proxier,
                                                                  pool_controller: ServiceLBController) -> None:
    await create_service(api_client, ns, "fw", type="LoadBalancer", loadBalancerSourceRanges=["10.197.2.0/24"])
    await set_endpoints(api_client, ns, "fw", ENDPOINT_IPS)
    ip = await load_balancer_ip(api_client, ns, "fw")
    await answered(net.client, ip, 80)
    svc = await api_client.get("v1", "services", "fw", ns)
    svc["spec"]["loadBalancerSourceRanges"] = ["10.197.3.0/24"]
    await api_client.update("v1", "services", svc, ns)

    async def kept_out() -> bool:
        return await ask(net.client, ip, 80, timeout=1.5) == ["TimeoutError"]
    assert await eventually(kept_out, timeout=30)
    assert (await answered(net.client, svc["spec"]["clusterIP"], 80))[0].startswith("ep")  # only the LB IP is fenced


def free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return probe.getsockname()[1]


async def test_health_check_node_port_says_whether_this_node_has_local_endpoints(
        api_client: ApiClient, net: Net, ns: str, proxier: Proxier) -> None:
    svc = await create_service(api_client, ns, "hc", type="LoadBalancer", externalTrafficPolicy="Local")
    health_port = svc["spec"]["healthCheckNodePort"]  # allocated by the API server from the NodePort range
    await set_endpoints(api_client, ns, "hc", ENDPOINT_IPS,
                        {ENDPOINT_IPS[0]: NODE_NAME, ENDPOINT_IPS[1]: NODE_NAME, ENDPOINT_IPS[2]: "another-node"})

    async def health(wanted_status: int) -> dict | None:
        try:
            async with aiohttp.ClientSession() as session, \
                    session.get(f"http://127.0.0.1:{health_port}/") as resp:
                return await resp.json() if resp.status == wanted_status else None
        except aiohttp.ClientError:
            return None
    body = await eventually(lambda: health(200), timeout=30)
    assert body == {"service": {"namespace": ns, "name": "hc"}, "localEndpoints": 2, "serviceProxyHealthy": True}
    await set_endpoints(api_client, ns, "hc", ENDPOINT_IPS[2:], {ENDPOINT_IPS[2]: "another-node"})
    assert (await eventually(lambda: health(503), timeout=30))["localEndpoints"] == 0


async def test_health_and_metrics_report_the_syncs(proxier: Proxier) -> None:
    async with aiohttp.ClientSession() as session:
        async with session.get(f"http://127.0.0.1:{proxier.health_port}/healthz") as resp:
            assert resp.status == 200
        async with session.get(f"http://127.0.0.1:{proxier.health_port}/metrics") as resp:
            text = await resp.text()
    assert "kubeproxy_sync_proxy_rules_duration_seconds_count" in text
    last = next(line for line in text.splitlines() if line.startswith("kubeproxy_sync_proxy_rules_last_timestamp"))
    assert float(last.split()[1]) > 0


async def test_healthz_fails_when_rules_have_not_synced_for_two_sync_periods(api_client: ApiClient) -> None:
    config = ProxyConfig(node_name=NODE_NAME, sync_period=0.5, min_sync_period=0.1, health_port=0, nft=["false"])
    proxy = Proxier(config, client=api_client)
    await proxy.start()
    try:
        async def status(path: str) -> int:
            async with aiohttp.ClientSession() as session, \
                    session.get(f"http://127.0.0.1:{proxy.health_port}{path}") as resp:
                return resp.status

        async def unhealthy() -> bool:
            return await status("/healthz") == 500
        assert await eventually(unhealthy, timeout=20)
        assert await status("/readyz") == 500
        assert proxy.metrics.failures >= 1
    finally:
        await proxy.stop()

async def test_python_m_kubeprov_proxy_serves_from_its_config_file(apiserver: ApiServerForTest, net: Net,
                                                                   tmp_path: Any) -> None:
    port = free_port()
    config = tmp_path / "proxy.yaml"
    config.write_text(json.dumps({"kubeconfig": str(apiserver.kubeconfig), "node_name": NODE_NAME,
                                  "health_port": port, "min_sync_period": 0.2, "nft": net.nft()}))
    proc = await asyncio.create_subprocess_exec(sys.executable, "-m", "kubeprov.proxy", "--config", str(config),
                                                stderr=asyncio.subprocess.DEVNULL)
    try:
        async def ready() -> bool:
            try:
                async with aiohttp.ClientSession() as session, \
                        session.get(f"http://127.0.0.1:{port}/readyz") as resp:
                    return resp.status == 200
            except aiohttp.ClientError:
                return False
        assert await eventually(ready, timeout=30, interval=0.3)
        proc.send_signal(signal.SIGTERM)
        assert await asyncio.wait_for(proc.wait(), 20) == 0
    finally:
        if proc.returncode is None:
            proc.kill()
            await proc.wait()
