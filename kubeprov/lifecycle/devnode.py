"""`kubeprov dev up --kubelet`: a real node named ``dev`` on this host, next to the dev control plane.

Started as processes of their own and recorded in the process table: the local image registry, the
node-local cluster DNS and the kubelet. The host side (dummy interface, bridge, addresses) is a slot of
``devhost``; ports are chosen once and kept in ``<dir>/ports.json`` so a restart keeps its addresses.
``stop_node`` undoes it all after the processes stopped: pods (a ``--remove-all-pods`` kubelet run),
interfaces, cgroups and the run dir.
"""

from __future__ import annotations

import asyncio
import json
import os
import shutil
import socket
import struct
import subprocess
import sys
import time
from pathlib import Path

from kubeprov.errors import KubeprovError
from kubeprov.kubelet.images.localregistry import free_port
from kubeprov.lifecycle.bootstrap import dns_objects, ensure_objects
from kubeprov.lifecycle.devhost import NodeHost, claim, release
from kubeprov.lifecycle.devprocs import ProcessTable, start_process
from kubeprov.lifecycle.devregistry import registries_config, seed, start_registry
from kubeprov.render import render
from kubeprov.state.atomic import atomic_write

NODE = "dev"
NODE_COMPONENTS = frozenset({"registry", "dns", "kubelet"})
RUNC = ("/usr/sbin/runc", "/usr/bin/runc")
NODE_READY_TIMEOUT = 90.0


def preflight() -> None:
    """The node needs root (namespaces, mounts, cgroups) and runc; say so in one sentence."""
    if os.geteuid() != 0:
        raise KubeprovError("`dev up --kubelet` must run as root: the kubelet makes namespaces, mounts and cgroups",
                            "run it with sudo, or leave out --kubelet")
    if not any(Path(p).exists() for p in RUNC) and shutil.which("runc") is None:
        raise KubeprovError("runc is not installed: the kubelet runs containers with it", "apt-get install runc")
    if shutil.which("ip") is None:
        raise KubeprovError("the `ip` command is missing: the dev node makes its interfaces with it",
                            "apt-get install iproute2")


def ports(directory: Path) -> dict[str, int]:
    """The node's ports, picked free once and then kept (``<dir>/ports.json``)."""
    path = directory / "ports.json"
    known: dict[str, int] = json.loads(path.read_text()) if path.exists() else {}
    changed = False
    for name in ("registry", "kubelet", "kubelet-health", "dns-health", "proxy-health"):
        if name not in known:
            known[name] = free_port()
            changed = True
    if changed:
        atomic_write(path, json.dumps(known, indent=2) + "\n")
    return known


def _ensure(table: ProcessTable, name: str, module: str, config: Path) -> int:
    """Start ``python -m module --config config`` as ``name`` unless it runs already; its PID."""
    running = {r.name: r.pid for r in table.running()}
    if name in running:
        return running[name]
    return start_process(table, name, [sys.executable, "-m", module, "--config", str(config)],
                         config.parent / "logs" / f"{name}.log", str(config))


def start_node(table: ProcessTable, directory: Path, admin_kubeconfig: Path) -> NodeHost:
    """Registry, kube-dns Service, DNS, kubelet and proxy, each unless it runs already (so `dev up` after
    one of them crashed restarts just that one); returns once the Node is Ready."""
    preflight()
    host = claim(directory)
    chosen = ports(directory)
    logs = directory / "logs"
    registry = start_registry(table, directory, chosen["registry"])
    seed(registry.address)
    # kube-system/kube-dns at 10.96.0.10 on slot 0, and the DNS user's read-only RBAC
    asyncio.run(ensure_objects(admin_kubeconfig, dns_objects(host.dns_service_ip)))
    dns_config = directory / "dns.yaml"
    # the PKI's dns.conf (user kubeprov:cluster-dns), as on created clusters
    dns_identity = directory / "kubeconfigs" / "dns.conf"
    atomic_write(dns_config, render("dns.yaml.j2", kubeconfig=dns_identity, listen_address=host.dns_ip,
                                    port=53, cluster_domain="cluster.local", health_port=chosen["dns-health"]))
    _ensure(table, "dns", "kubeprov.dns", dns_config)
    wait_dns(host.dns_ip, logs / "dns.log")
    kubelet_config = directory / "kubelet.yaml"
    atomic_write(kubelet_config, render(
        "kubelet.yaml.j2", kubeconfig=directory / "kubeconfigs" / f"kubelet-{NODE}.conf", node_name=NODE,
        node_ip=host.node_ip, root_dir=str(directory / "kubelet"), run_dir=str(host.run_dir),
        cgroup_parent=host.cgroup_parent, pod_cidr=host.pod_cidr, cni_bridge=host.bridge,
        cluster_dns=[host.dns_ip], cluster_domain="cluster.local",
        registries=registries_config(registry.address),
        # HTTPS on the node address only (the API server dials the InternalIP); callers' client
        # certificates (the API server's apiserver-kubelet-client) checked against the cluster CA
        address=host.node_ip, port=chosen["kubelet"], client_ca_file=str(directory / "pki" / "ca.crt"),
        health_port=chosen["kubelet-health"]))
    pid = _ensure(table, "kubelet", "kubeprov.kubelet", kubelet_config)
    wait_node_ready(admin_kubeconfig, NODE, logs / "kubelet.log", pid, (host.node_ip, chosen["kubelet"]))
    if proxy_available():
        proxy_config = directory / "proxy.yaml"
        atomic_write(proxy_config, render(
            "proxy.yaml.j2", kubeconfig=directory / "kubeconfigs" / "proxy.conf", node_name=NODE,
            cluster_cidr=host.pod_cidr, nodeport_addresses=[f"{host.node_ip}/32"], health_port=chosen["proxy-health"],
            table=host.proxy_table))
        _ensure(table, "proxy", "kubeprov.proxy", proxy_config)
    return host


def proxy_available() -> bool:
    """The service proxy joins the node once its package can serve (it is optional until then)."""
    import importlib.util

    return importlib.util.find_spec("kubeprov.proxy.sync") is not None


def node_components() -> frozenset[str]:
    return NODE_COMPONENTS | ({"proxy"} if proxy_available() else set())


def dns_query(name: str, query_id: int = 0x6b70) -> bytes:
    """A minimal recursive A query (RFC 1035 header, one question), enough to see the server answer."""
    question = b"".join(bytes([len(label)]) + label.encode() for label in name.split(".")) + b"\0"
    return struct.pack("!HHHHHH", query_id, 0x0100, 1, 0, 0, 0) + question + struct.pack("!HH", 1, 1)


def wait_dns(address: str, log: Path, timeout: float = 30.0) -> None:
    """Until the DNS server answers a query for the ``kubernetes`` Service on ``address``:53."""
    deadline = time.monotonic() + timeout
    query = dns_query("kubernetes.default.svc.cluster.local")
    while time.monotonic() < deadline:
        with socket.socket(socket.AF_INET, socket.SOCK_DGRAM) as sock:
            sock.settimeout(1.0)
            try:
                sock.sendto(query, (address, 53))
                if sock.recv(512)[:2] == query[:2]:
                    return
            except OSError:
                time.sleep(0.2)
    raise KubeprovError(f"the cluster DNS did not answer on {address}:53 within {timeout:g}s", f"see {log}")


def wait_node_ready(kubeconfig: Path, name: str, log: Path, pid: int, server: tuple[str, int],
                    timeout: float = NODE_READY_TIMEOUT) -> None:
    """Until the Node is Ready and the kubelet's HTTPS ``server`` accepts connections (it starts last), while
    ``pid`` runs: a kubelet that dies during start fails `dev up` at once, not later with a stale Ready Node."""
    from kubeprov.api.client import ApiClient
    from kubeprov.api.status import StatusError

    async def ready() -> bool:
        async with ApiClient.from_kubeconfig(kubeconfig) as client:
            try:
                node = await client.get("v1", "nodes", name)
            except StatusError:
                return False
        return any(c.get("type") == "Ready" and c.get("status") == "True"
                   for c in (node.get("status") or {}).get("conditions") or [])

    def serving() -> bool:
        try:
            socket.create_connection(server, timeout=1).close()
            return True
        except OSError:
            return False

    def alive() -> bool:
        return Path(f"/proc/{pid}").exists() and "zombie" not in _proc_state(pid)

    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline and alive():
        if serving() and asyncio.run(ready()):
            return
        time.sleep(0.5)
    what = "became Ready" if alive() else "kept running"
    tail = "\n".join(log.read_text(errors="replace").splitlines()[-15:]) if log.exists() else ""
    raise KubeprovError(f"the kubelet of node {name} never {what} (waited up to {timeout:g}s)",
                        f"{log} ends with:\n{tail}")


def _proc_state(pid: int) -> str:
    try:
        return Path(f"/proc/{pid}/status").read_text().lower()
    except OSError:
        return "zombie"



def stop_node(directory: Path) -> list[str]:
    """After the processes stopped: remove every pod sandbox, then the slot's host resources."""
    host = NodeHost.load(directory)
    if host is None:
        return []
    removed = []
    config = directory / "kubelet.yaml"
    if config.exists():
        done = subprocess.run([sys.executable, "-m", "kubeprov.kubelet", "--config", str(config),
                               "--remove-all-pods"], capture_output=True, text=True, timeout=120, check=False)
        if done.returncode != 0:
            # keep node.json and the interfaces: a later `dev down` retries the whole cleanup
            tail = done.stderr.strip().splitlines()[-1:] or ["no output"]
            raise KubeprovError(f"the pods of node {NODE} could not be removed: {tail[0]}",
                                f"fix that, then run `kubeprov dev down --dir {directory}` again")
        removed.append(done.stdout.strip() or "pods")
    return removed + release(host)
