"""Pod networks through the real Debian CNI plugins: addresses, pod-to-pod and pod-to-gateway, hostPort, teardown.

Each test owns a subnet 10.199.<n>.0/24 and a bridge ``kpt<hex>``, talks only to addresses it created, and
removes its bridge and any iptables rules it caused in a finally.
"""

from __future__ import annotations

import asyncio
import contextlib
import os
import secrets
import shlex
import subprocess
import sys
from collections.abc import AsyncIterator
from pathlib import Path

import pytest

from kubeprov.kubelet.network import netns
from kubeprov.kubelet.network.pod_network import NetworkConfig, PodNetwork
from tests.integration.controller_env import eventually

pytestmark = [
    pytest.mark.integration,
    pytest.mark.timeout(60),
    pytest.mark.skipif(os.geteuid() != 0, reason="needs root: network namespaces, bridges and iptables"),
]

PING = r"""
import socket, struct, sys, time
def csum(data):
    s = sum(struct.unpack("!%dH" % (len(data) // 2), data))
    s = (s >> 16) + (s & 0xffff); s += s >> 16
    return ~s & 0xffff
sock = socket.socket(socket.AF_INET, socket.SOCK_RAW, socket.IPPROTO_ICMP)
sock.settimeout(1)
ident = 0x4b50
pkt = struct.pack("!BBHHH", 8, 0, 0, ident, 1) + b"kubeprov"
pkt = pkt[:2] + struct.pack("!H", csum(pkt)) + pkt[4:]
sock.sendto(pkt, (sys.argv[1], 0))
end = time.monotonic() + 1
while time.monotonic() < end:
    try:
        data, addr = sock.recvfrom(1500)
    except socket.timeout:
        break
    icmp = data[(data[0] & 0x0f) * 4:]
    if addr[0] == sys.argv[1] and icmp[0] == 0 and struct.unpack("!H", icmp[4:6])[0] == ident:
        print("pong"); sys.exit(0)
sys.exit(1)
"""

SERVER = r"""
import socket, sys, time
s = socket.socket(); s.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
s.bind(("0.0.0.0", int(sys.argv[1]))); s.listen(8); s.settimeout(0.5)
end = time.monotonic() + 40
while time.monotonic() < end:
    try:
        c, _ = s.accept()
    except socket.timeout:
        continue
    c.sendall(sys.argv[2].encode()); c.close()
"""

CLIENT = r"""
import socket, sys
c = socket.create_connection((sys.argv[1], int(sys.argv[2])), timeout=2)
print(c.recv(100).decode())
"""


def run_py(code: str, *args: str, ns: Path | None = None) -> subprocess.CompletedProcess[str]:
    prefix = ["nsenter", f"--net={ns}"] if ns else []
    return subprocess.run([*prefix, sys.executable, "-c", code, *args], capture_output=True, text=True,
                          timeout=10, check=False)


def ping(ns: Path, ip: str) -> bool:
    return run_py(PING, ip, ns=ns).returncode == 0


def pod(uid: str, host_port: int = 0, host_network: bool = False) -> dict:
    ports = [{"containerPort": 8080, "hostPort": host_port, "protocol": "TCP"}] if host_port else []
    return {"metadata": {"name": f"p-{uid}", "namespace": "t", "uid": uid},
            "spec": {"hostNetwork": host_network, "containers": [{"name": "c", "image": "x", "ports": ports}]}}


def nat_rules() -> set[str]:
    return set(subprocess.run(["iptables", "-t", "nat", "-S"], capture_output=True, text=True,
                              check=True).stdout.splitlines())


def remove_new_cni_rules(before: set[str], network_name: str) -> None:
    """Drop the nat rules and CNI chains that appeared during the test for ``network_name`` only: other test
    sessions may be adding their own CNI rules on this host at the same time."""
    added = [rule for rule in nat_rules() - before if "CNI-" in rule]
    ours = [rule for rule in added if rule.startswith("-A ") and f'\\"{network_name}\\"' in rule]
    chains = {word for rule in ours for word in shlex.split(rule) if word.startswith("CNI-")}
    for rule in ours:
        subprocess.run(["iptables", "-t", "nat", "-D", *shlex.split(rule)[1:]], capture_output=True, check=False)
    for chain in sorted(chains):
        subprocess.run(["iptables", "-t", "nat", "-F", chain], capture_output=True, check=False)
        subprocess.run(["iptables", "-t", "nat", "-X", chain], capture_output=True, check=False)


@pytest.fixture
async def net(tmp_path: Path) -> AsyncIterator[PodNetwork]:
    before = nat_rules()
    tag = secrets.token_hex(3)
    octet = secrets.randbelow(250) + 1
    config = NetworkConfig((f"10.199.{octet}.0/24",), bridge=f"kpt{tag}", network_name=f"kpt{tag}",
                           netns_dir=tmp_path / "netns", ipam_dir=tmp_path / "ipam", cache_dir=tmp_path / "cache")
    network = PodNetwork(config)
    try:
        yield network
    finally:
        for name in netns.list_names(config.netns_dir):
            with contextlib.suppress(Exception):  # the rest of the clean-up must still run
                await network.teardown({"metadata": {"uid": name}, "spec": {}})
        subprocess.run(["ip", "link", "del", config.bridge], capture_output=True, check=False)
        remove_new_cni_rules(before, config.network_name)


def gateway(network: PodNetwork) -> str:
    return network.config.pod_cidrs[0].rsplit(".", 1)[0] + ".1"


def reserved_ips(network: PodNetwork) -> set[str]:
    folder = network.config.ipam_dir / network.config.network_name
    return {p.name for p in folder.glob("*") if p.name[0].isdigit() and not p.name.startswith("last")}


def bridge_ports(network: PodNetwork) -> list[str]:
    out = subprocess.run(["ip", "-o", "link", "show", "master", network.config.bridge], capture_output=True,
                         text=True, check=False).stdout
    return [line for line in out.splitlines() if line.strip()]


async def test_two_pods_get_addresses_in_the_subnet_and_reach_each_other_and_the_gateway(net: PodNetwork) -> None:
    a, b = pod("a1"), pod("b1")
    ip_a, ip_b = await net.setup(a), await net.setup(b)
    prefix = gateway(net).rsplit(".", 1)[0] + "."
    assert ip_a.startswith(prefix) and ip_b.startswith(prefix) and ip_a != ip_b
    assert ping(net.netns_path(a), ip_b)
    assert ping(net.netns_path(b), ip_a)
    assert ping(net.netns_path(a), gateway(net))


async def test_the_loopback_interface_is_up_in_the_pod(net: PodNetwork) -> None:
    a = pod("lo1")
    await net.setup(a)
    assert ping(net.netns_path(a), "127.0.0.1")


async def test_a_host_port_reaches_the_pod_from_the_host(net: PodNetwork) -> None:
    host_port = 30000 + secrets.randbelow(2000)
    a = pod("hp1", host_port=host_port)
    await net.setup(a)
    server = subprocess.Popen(["nsenter", f"--net={net.netns_path(a)}", sys.executable, "-c", SERVER, "8080",
                               "hello-hp1"], stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    try:
        async def answered() -> bool:
            done = await asyncio.to_thread(run_py, CLIENT, gateway(net), str(host_port))
            return done.stdout.strip() == "hello-hp1"
        assert await eventually(answered, timeout=20)
    finally:
        server.kill()
        server.wait()


async def test_teardown_frees_the_address_the_veth_and_the_netns(net: PodNetwork) -> None:
    a = pod("td1", host_port=30000 + secrets.randbelow(2000))
    ip = await net.setup(a)
    assert ip in reserved_ips(net) and len(bridge_ports(net)) == 1
    await net.teardown(a)
    assert ip not in reserved_ips(net)
    assert bridge_ports(net) == []
    assert not net.netns_path(a).exists()
    assert not [rule for rule in nat_rules() if '"td1"' in rule]


async def test_setup_again_keeps_the_address_and_teardown_twice_is_harmless(net: PodNetwork) -> None:
    a = pod("id1")
    first = await net.setup(a)
    assert await net.setup(a) == first
    await net.teardown(a)
    await net.teardown(a)
    assert reserved_ips(net) == set()


async def test_teardown_after_a_crash_that_lost_the_cached_result_still_frees_everything(net: PodNetwork) -> None:
    a = pod("cr1")
    ip = await net.setup(a)
    for cached in net.config.cache_dir.glob("*"):
        cached.unlink()
    await net.teardown(a)
    assert ip not in reserved_ips(net)
    assert bridge_ports(net) == []
    assert not net.netns_path(a).exists()


async def test_setup_after_a_crash_mid_setup_starts_clean(net: PodNetwork) -> None:
    a = pod("ms1")
    await net.setup(a)
    for cached in net.config.cache_dir.glob("*"):
        cached.unlink()
    ip = await net.setup(a)
    assert reserved_ips(net) == {ip}
    assert len(bridge_ports(net)) == 1


async def test_host_network_pods_get_no_sandbox_network(net: PodNetwork) -> None:
    a = pod("hn1", host_network=True)
    assert await net.setup(a) == ""
    assert not net.netns_path(a).exists()


async def test_teardown_after_a_reboot_that_lost_the_netns_still_frees_the_address(net: PodNetwork) -> None:
    a = pod("rb1")
    ip = await net.setup(a)
    netns.delete("rb1", net.config.netns_dir)
    await net.teardown(a)
    assert ip not in reserved_ips(net)
    assert net.runner.cached(net.config.network_name, "rb1") is None
