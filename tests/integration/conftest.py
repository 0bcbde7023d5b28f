"""Integration fixtures: one real etcd with TLS and client-certificate auth for the whole session.

``etcd_server`` starts it once (certificates come from ``kubeprov.pki`` like in a real cluster);
``etcd`` gives each test a connected client and a key prefix of its own, so tests sharing the
server never see each other's keys.
"""

from __future__ import annotations

import os
import shutil
import subprocess
import uuid
from collections.abc import AsyncIterator, Iterator
from dataclasses import dataclass
from pathlib import Path

import pytest

from kubeprov.api.client import ApiClient
from kubeprov.etcd import EtcdClient, EtcdServerTLS, EtcdTLS, LocalEtcd
from kubeprov.pki import NodeSpec, PkiSpec, generate_pki
from tests.integration.apiserver_fixture import ApiServerForTest, start_apiserver
from tests.integration.dev_cluster import DevClusterForTest, start_dev_cluster
from tests.integration.kubelet_cluster import NEEDS_ROOT, KubeletClusterForTest, start_kubelet_cluster

ETCD_MEMBER = NodeSpec("etcd-test", ("127.0.0.1",))


@dataclass(frozen=True)
class EtcdTestServer:
    """The session's etcd: where it listens and the files a client (or etcdctl) needs."""

    local: LocalEtcd
    pki_dir: Path
    tls: EtcdTLS

    @property
    def endpoints(self) -> list[str]:
        return [self.local.client_url]

    def client(self, **kwargs: float) -> EtcdClient:
        return EtcdClient(self.endpoints, self.tls, **kwargs)

    def etcdctl(self, *args: str, timeout: float = 10.0) -> subprocess.CompletedProcess[str]:
        """Run the real etcdctl against this server with the same TLS files as our client."""
        env = {k: v for k, v in os.environ.items() if not k.startswith("ETCDCTL_")}
        env["ETCDCTL_API"] = "3"
        cmd = [
            shutil.which("etcdctl") or "etcdctl",
            f"--endpoints={self.local.client_url}",
            f"--cacert={self.tls.ca_file}",
            f"--cert={self.tls.cert_file}",
            f"--key={self.tls.key_file}",
            *args,
        ]
        return subprocess.run(cmd, capture_output=True, text=True, env=env, timeout=timeout, check=False)


@dataclass(frozen=True)
class EtcdForTest:
    """A connected client plus this test's own key prefix."""

    client: EtcdClient
    prefix: bytes
    server: EtcdTestServer

    def key(self, name: str) -> bytes:
        return self.prefix + name.encode()


def _make_pki(root: Path) -> Path:
    spec = PkiSpec(
        cluster_name="etcd-test",
        cluster_domain="cluster.local",
        service_cidr="10.96.0.0/12",
        api_endpoint="https://127.0.0.1:6443",
        control_plane=(ETCD_MEMBER,),
        etcd_members=(ETCD_MEMBER,),
        nodes=(ETCD_MEMBER,),
    )
    pki_dir = root / "pki"
    generate_pki(spec, pki_dir, root / "kubeconfig")
    return pki_dir


@pytest.fixture(scope="session")
def etcd_server(tmp_path_factory: pytest.TempPathFactory) -> Iterator[EtcdTestServer]:
    if shutil.which("etcd") is None:
        pytest.skip(reason="etcd is not installed")
    root = tmp_path_factory.mktemp("etcd")
    pki = _make_pki(root)
    etcd_pki = pki / "etcd"
    local = LocalEtcd(
        root / "data",
        name=ETCD_MEMBER.name,
        tls=EtcdServerTLS(
            ca_file=etcd_pki / "ca.crt",
            cert_file=etcd_pki / f"server-{ETCD_MEMBER.name}.crt",
            key_file=etcd_pki / f"server-{ETCD_MEMBER.name}.key",
        ),
    )
    local.start()
    try:
        yield EtcdTestServer(
            local=local,
            pki_dir=pki,
            tls=EtcdTLS(
                ca_file=etcd_pki / "ca.crt",
                cert_file=pki / "apiserver-etcd-client.crt",
                key_file=pki / "apiserver-etcd-client.key",
            ),
        )
    finally:
        local.stop()


@pytest.fixture
async def etcd(etcd_server: EtcdTestServer) -> AsyncIterator[EtcdForTest]:
    async with etcd_server.client() as client:
        yield EtcdForTest(client, f"/kubeprov-test/{uuid.uuid4().hex[:12]}/".encode(), etcd_server)


@pytest.fixture(scope="session")
def apiserver(tmp_path_factory: pytest.TempPathFactory) -> Iterator[ApiServerForTest]:
    """One API server (own etcd, TLS, our PKI) for the session; tests use namespaces of their own."""
    yield from start_apiserver(tmp_path_factory.mktemp("apiserver"))


@pytest.fixture
async def api_client(apiserver: ApiServerForTest) -> AsyncIterator[ApiClient]:
    """Our async client with the admin identity against the session's API server."""
    async with ApiClient.from_kubeconfig(apiserver.kubeconfig, user_agent="kubeprov-integration-test") as client:
        yield client


@pytest.fixture(scope="session")
def dev_cluster(tmp_path_factory: pytest.TempPathFactory) -> Iterator[DevClusterForTest]:
    """`kubeprov dev up --hollow-nodes 5` for the session: acceptance tests use namespaces of their own."""
    yield from start_dev_cluster(tmp_path_factory.mktemp("devcluster"))


@pytest.fixture(scope="session")
def kubelet_cluster(tmp_path_factory: pytest.TempPathFactory) -> Iterator[KubeletClusterForTest]:
    """`kubeprov dev up --kubelet` for the session: a real node ``dev`` on this host (root only)."""
    if os.geteuid() != 0:
        pytest.skip(reason=NEEDS_ROOT)
    yield from start_kubelet_cluster(tmp_path_factory.mktemp("kubeletcluster"))


@pytest.fixture
def client(api_client: ApiClient) -> ApiClient:
    """The same client under the shorter name most controller tests use."""
    return api_client


@pytest.fixture(scope="session")
def oci_registry(tmp_path_factory: pytest.TempPathFactory) -> Iterator[object]:
    """Debian's docker-registry on 127.0.0.1 for the session, seeded once with our test images
    (``registry.local/busybox:1``, ``web:1``, ``web:2``); ``.hosts`` aliases registry.local to it."""
    from kubeprov.kubelet.images.testimages import seeded_registry

    yield from seeded_registry(tmp_path_factory.mktemp("oci-registry"))
