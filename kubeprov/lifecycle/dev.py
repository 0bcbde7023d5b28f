"""`kubeprov dev up|down`: etcd and the control plane on loopback, for development and tests."""

from __future__ import annotations

import shutil
import socket
import ssl
import subprocess
import sys
import time
import urllib.request
from dataclasses import dataclass
from pathlib import Path

from kubeprov.errors import KubeprovError
from kubeprov.etcd import EtcdServerTLS, LocalEtcd, LocalEtcdError
from kubeprov.lifecycle.devhost import NodeHost, claim
from kubeprov.lifecycle.devnode import node_components, preflight, start_node, stop_node
from kubeprov.lifecycle.devprocs import ProcessRecord, ProcessTable
from kubeprov.pki import generate_pki
from kubeprov.pki.spec import NodeSpec, PkiSpec
from kubeprov.render import render
from kubeprov.state.atomic import atomic_write

NODE = "dev"
SERVICE_CIDR = "10.96.0.0/12"
READY_TIMEOUT = 40.0
# component -> the record name of its standby instance (`dev up --standby`)
STANDBYS = {"scheduler": "scheduler-standby", "controller-manager": "controller-manager-standby"}


@dataclass(frozen=True)
class DevCluster:
    directory: Path
    url: str
    kubeconfig: Path
    # the real node of `dev up --kubelet`
    node: NodeHost | None = None


def _pki(directory: Path, port: int, service_cidr: str = SERVICE_CIDR) -> Path:
    spec = PkiSpec(
        cluster_name="dev",
        cluster_domain="cluster.local",
        service_cidr=service_cidr,
        api_endpoint=f"https://127.0.0.1:{port}",
        control_plane=(NodeSpec(NODE, ("127.0.0.1",)),),
        etcd_members=(NodeSpec(NODE, ("127.0.0.1",)),),
        nodes=(NodeSpec(NODE, ("127.0.0.1",)),),
    )
    generate_pki(spec, directory / "pki", directory / "kubeconfigs")
    return directory / "pki"


def _wait_ready(url: str, ca: Path, log: Path, timeout: float) -> None:
    ctx = ssl.create_default_context(cafile=str(ca))
    deadline = time.monotonic() + timeout
    last = ""
    while time.monotonic() < deadline:
        try:
            with urllib.request.urlopen(f"{url}/readyz", context=ctx, timeout=2) as answer:
                if answer.status == 200:
                    return
        except OSError as exc:
            last = str(exc)
        time.sleep(0.2)
    tail = "\n".join(log.read_text(errors="replace").splitlines()[-15:]) if log.exists() else ""
    raise KubeprovError(f"the API server did not become ready within {timeout:g}s ({last})",
                        f"its log ({log}) ends with:\n{tail}")


def dev_up(directory: Path, port: int = 6443, hollow_nodes: int = 0, standby: bool = False,
           kubelet: bool = False) -> DevCluster:
    """Start etcd, the API server, the scheduler, the controller manager and optionally a fleet of
    hollow nodes in the background; idempotent while they run. With ``standby``, a second scheduler and
    controller manager (same configs, other identities) wait for the leader Leases, to test failover.
    With ``kubelet``, a real node on this host too (root; see lifecycle/devnode.py)."""
    directory = directory.resolve()
    directory.mkdir(parents=True, exist_ok=True)
    table = ProcessTable(directory / "processes.json")
    url = f"https://127.0.0.1:{port}"
    kubeconfig = directory / "admin.kubeconfig"
    names = {r.name for r in table.running()}
    wanted = {"etcd", "apiserver", "scheduler", "controller-manager"} | ({"hollow-nodes"} if hollow_nodes else set())
    wanted |= set(STANDBYS.values()) if standby else set()
    wanted |= node_components() if kubelet else set()
    if wanted <= names and kubeconfig.exists():
        return DevCluster(directory, url, kubeconfig, NodeHost.load(directory) if kubelet else None)
    if kubelet:
        preflight()
        if wanted - node_components() <= names and kubeconfig.exists():
            # the control plane runs: (re)start only the node's missing processes
            return DevCluster(directory, url, kubeconfig, start_node(table, directory, kubeconfig))
    if names:
        table.stop_all()
    _check_port_free(port)
    # a real node's proxy puts ClusterIPs in the host's nftables: each dev node's Services get a range of its own
    service_cidr = claim(directory).service_cidr if kubelet else SERVICE_CIDR
    pki = _pki(directory, port, service_cidr)
    etcd = LocalEtcd(directory / "etcd", name=NODE,
                     tls=EtcdServerTLS(pki / "etcd/ca.crt", pki / f"etcd/server-{NODE}.crt",
                                       pki / f"etcd/server-{NODE}.key"))
    try:
        etcd.start()
    except LocalEtcdError as err:
        raise KubeprovError(f"etcd did not start: {err}", "is `etcd` installed? `make setup` installs it") from None
    assert etcd.pid is not None
    table.add(ProcessRecord("etcd", etcd.pid, str(directory / "etcd")))
    config = directory / "apiserver.yaml"
    atomic_write(config, render("apiserver.yaml.j2", etcd_endpoints=[etcd.client_url], pki=pki,
                                bind_address="127.0.0.1", port=port, advertise_address="127.0.0.1",
                                service_cidr=service_cidr, node_port_range="30000-32767",
                                cluster_domain="cluster.local", audit_log_path=str(directory / "audit.log")))
    logs = directory / "logs"
    logs.mkdir(exist_ok=True)
    log = logs / "apiserver.log"
    with open(log, "ab") as out:
        proc = subprocess.Popen([sys.executable, "-m", "kubeprov.apiserver", "--config", str(config)],
                                stdin=subprocess.DEVNULL, stdout=out, stderr=out, start_new_session=True)
    table.add(ProcessRecord("apiserver", proc.pid, str(config)))
    try:
        _wait_ready(url, pki / "ca.crt", log, READY_TIMEOUT)
    except KubeprovError:
        table.stop_all()
        raise
    shutil.copyfile(directory / "kubeconfigs" / "admin.conf", kubeconfig)
    kubeconfig.chmod(0o600)
    _start_component(table, directory, "scheduler", "kubeprov.scheduler", render(
        "scheduler.yaml.j2", kubeconfig=directory / "kubeconfigs" / "scheduler.conf", health_port=0))
    # the manager as system:kube-controller-manager, each controller as its own kube-system ServiceAccount
    _start_component(table, directory, "controller-manager", "kubeprov.controllers", render(
        "controller-manager.yaml.j2", kubeconfig=directory / "kubeconfigs" / "controller-manager.conf",
        ca_file=pki / "ca.crt", health_port=0, use_service_account_credentials=True,
        signing_cert_file=pki / "ca.crt", signing_key_file=pki / "ca.key", service_account_key_file=pki / "sa.key"))
    if standby:
        for name, standby_name in STANDBYS.items():
            _start_standby(table, directory, name, standby_name)
    if hollow_nodes:
        log_path = logs / "hollow.log"
        with open(log_path, "ab") as out:
            proc = subprocess.Popen([sys.executable, "-m", "kubeprov.hollow", "--kubeconfig", str(kubeconfig),
                                     "--count", str(hollow_nodes), "--zones", "2"],
                                    stdin=subprocess.DEVNULL, stdout=out, stderr=out, start_new_session=True)
        table.add(ProcessRecord("hollow-nodes", proc.pid, "kubeprov.hollow"))
        _wait_nodes(kubeconfig, hollow_nodes, log_path)
    if kubelet:
        return DevCluster(directory, url, kubeconfig, start_node(table, directory, kubeconfig))
    return DevCluster(directory, url, kubeconfig)


def _check_port_free(port: int) -> None:
    with socket.socket() as sock:
        sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        try:
            sock.bind(("127.0.0.1", port))
        except OSError:
            raise KubeprovError(f"port {port} on 127.0.0.1 is already in use, so the API server cannot listen there",
                                "pick another one with --port") from None


def _start_component(table: ProcessTable, directory: Path, name: str, module: str, config_text: str) -> None:
    config = directory / f"{name}.yaml"
    atomic_write(config, config_text)
    with open(directory / "logs" / f"{name}.log", "ab") as out:
        proc = subprocess.Popen([sys.executable, "-m", module, "--config", str(config)],
                                stdin=subprocess.DEVNULL, stdout=out, stderr=out, start_new_session=True)
    table.add(ProcessRecord(name, proc.pid, str(config)))


def _start_standby(table: ProcessTable, directory: Path, name: str, standby_name: str) -> None:
    """A second instance of component ``name`` on a copy of its config (its own file, so its own record)."""
    module = {"scheduler": "kubeprov.scheduler", "controller-manager": "kubeprov.controllers"}[name]
    _start_component(table, directory, standby_name, module, (directory / f"{name}.yaml").read_text())


def _wait_nodes(kubeconfig: Path, count: int, log: Path, timeout: float = 60.0) -> None:
    """Return once ``count`` nodes are registered and Ready."""
    import asyncio

    from kubeprov.api.client import ApiClient

    async def ready() -> int:
        async with ApiClient.from_kubeconfig(kubeconfig) as client:
            items, _ = await client.list_all("v1", "nodes")
        return sum(1 for n in items for c in (n.get("status") or {}).get("conditions") or []
                   if c.get("type") == "Ready" and c.get("status") == "True")

    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if asyncio.run(ready()) >= count:
            return
        time.sleep(0.5)
    raise KubeprovError(f"{count} hollow nodes did not become Ready within {timeout:g}s", f"see {log}")


def dev_down(directory: Path) -> list[str]:
    """Stop exactly the processes `dev_up` started in ``directory``; returns their names."""
    table = ProcessTable(directory.resolve() / "processes.json")
    return table.stop_all()


def dev_down_all(directory: Path) -> tuple[list[str], list[str]]:
    """`dev down`: stop the processes, then remove what `dev up --kubelet` made on the host (pods,
    interfaces, cgroups); returns (processes stopped, things removed)."""
    stopped = dev_down(directory)
    return stopped, stop_node(directory.resolve())
