"""An in-process API server on its own real etcd, for kubectl and Python-client tests.

The server runs on an event loop in a background thread so tests can drive it with blocking
tools (the real kubectl, the official client). It is shared by the session; tests isolate
themselves with namespaces of their own.
"""

from __future__ import annotations

import asyncio
import contextlib
import os
import subprocess
import threading
import uuid
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import yaml

from kubeprov.apiserver.config import ApiServerConfig
from kubeprov.apiserver.server import ApiServer
from kubeprov.etcd import EtcdServerTLS, LocalEtcd
from kubeprov.etcd.local import free_port
from kubeprov.pki import NodeSpec, PkiSpec, generate_pki

CONTROL_PLANE = NodeSpec("it-cp", ("127.0.0.1",))
NODES = (CONTROL_PLANE, NodeSpec("it-node-1", ("127.0.0.2",)), NodeSpec("it-node-2", ("127.0.0.3",)))


@dataclass
class ApiServerForTest:
    server: ApiServer
    loop: asyncio.AbstractEventLoop
    root: Path
    pki_dir: Path
    kubeconfig: Path
    url: str

    def kubectl(self, *args: str, input: str | None = None, kubeconfig: Path | None = None,
                timeout: float = 60.0) -> subprocess.CompletedProcess[str]:
        env = {k: v for k, v in os.environ.items() if k != "KUBECONFIG"}
        env["HOME"] = str(self.root)  # kubectl's discovery cache lives under $HOME/.kube
        return subprocess.run(["kubectl", "--kubeconfig", str(kubeconfig or self.kubeconfig), *args],
                              input=input, capture_output=True, text=True, timeout=timeout, env=env, check=False)

    def run(self, coro: object, timeout: float = 30.0) -> object:
        """Run a coroutine on the server's loop (e.g. to inspect its state)."""
        return asyncio.run_coroutine_threadsafe(coro, self.loop).result(timeout)  # type: ignore[arg-type]

    def namespace(self, prefix: str = "t") -> str:
        name = f"{prefix}-{uuid.uuid4().hex[:8]}"
        out = self.kubectl("create", "namespace", name)
        assert out.returncode == 0, out.stderr
        return name

    def kubelet_kubeconfig(self, node: str) -> Path:
        return self.root / "kubeconfigs" / f"kubelet-{node}.conf"


def _server_thread(server: ApiServer, loop: asyncio.AbstractEventLoop, started: threading.Event,
                   failure: list[BaseException]) -> None:
    asyncio.set_event_loop(loop)
    try:
        loop.run_until_complete(server.start())
    except BaseException as exc:  # reported to the fixture, which fails the session clearly
        failure.append(exc)
        started.set()
        return
    started.set()
    loop.run_forever()


def start_apiserver(root: Path) -> Iterator[ApiServerForTest]:
    port = free_port()
    spec = PkiSpec(cluster_name="it", cluster_domain="cluster.local", service_cidr="10.96.0.0/12",
                   api_endpoint=f"https://127.0.0.1:{port}", control_plane=(CONTROL_PLANE,),
                   etcd_members=(CONTROL_PLANE,), nodes=NODES)
    pki = root / "pki"
    generate_pki(spec, pki, root / "kubeconfigs")
    etcd = LocalEtcd(root / "etcd", name=CONTROL_PLANE.name,
                     tls=EtcdServerTLS(pki / "etcd/ca.crt", pki / f"etcd/server-{CONTROL_PLANE.name}.crt",
                                       pki / f"etcd/server-{CONTROL_PLANE.name}.key"))
    etcd.start()
    config = ApiServerConfig(
        etcd_endpoints=[etcd.client_url], port=port, tls_cert_file=str(pki / "apiserver.crt"),
        tls_key_file=str(pki / "apiserver.key"), client_ca_file=str(pki / "ca.crt"),
        etcd_ca_file=str(pki / "etcd/ca.crt"), etcd_cert_file=str(pki / "apiserver-etcd-client.crt"),
        etcd_key_file=str(pki / "apiserver-etcd-client.key"), service_account_key_files=[str(pki / "sa.pub")],
        service_account_signing_key_file=str(pki / "sa.key"),
        api_audiences=["https://kubernetes.default.svc.cluster.local"],
        kubelet_client_cert_file=str(pki / "apiserver-kubelet-client.crt"),
        kubelet_client_key_file=str(pki / "apiserver-kubelet-client.key"), metric_resolution=1.0,
    )
    server = ApiServer(config)
    loop = asyncio.new_event_loop()
    started, failure = threading.Event(), []
    thread = threading.Thread(target=_server_thread, args=(server, loop, started, failure), daemon=True)
    thread.start()
    started.wait(60)
    try:
        if failure:
            raise RuntimeError(f"the API server did not start: {failure[0]!r}") from failure[0]
        kubeconfig = root / "kubeconfigs" / "admin.conf"
        yield ApiServerForTest(server, loop, root, pki, kubeconfig, f"https://127.0.0.1:{port}")
    finally:
        if not failure:
            asyncio.run_coroutine_threadsafe(server.stop(), loop).result(30)
        loop.call_soon_threadsafe(loop.stop)
        thread.join(10)
        etcd.stop()


def kubeconfig_server(path: Path) -> str:
    return yaml.safe_load(path.read_text())["clusters"][0]["cluster"]["server"]


@contextlib.contextmanager
def extra_server(config: ApiServerConfig) -> Iterator[ApiServer]:
    """Another API server (e.g. on the session's etcd with other settings), stopped on exit."""
    server = ApiServer(config)
    loop = asyncio.new_event_loop()
    started, failure = threading.Event(), []
    thread = threading.Thread(target=_server_thread, args=(server, loop, started, failure), daemon=True)
    thread.start()
    started.wait(60)
    if failure:
        raise RuntimeError(f"the API server did not start: {failure[0]!r}") from failure[0]
    try:
        yield server
    finally:
        asyncio.run_coroutine_threadsafe(server.stop(), loop).result(30)
        loop.call_soon_threadsafe(loop.stop)
        thread.join(10)
