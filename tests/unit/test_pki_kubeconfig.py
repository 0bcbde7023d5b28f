"""Kubeconfigs written by generate_pki: their YAML, and the official client's view of them."""

from __future__ import annotations

import base64
import ssl
from pathlib import Path

import pytest
import yaml

from kubeprov.pki import NodeSpec, PkiSpec, generate_pki

ENDPOINT = "https://10.0.0.10:6443"
NODE = NodeSpec("kc-cp-1", ("10.0.0.11",))


@pytest.fixture(scope="module")
def dirs(tmp_path_factory: pytest.TempPathFactory) -> tuple[Path, Path]:
    """Generated once, only read: (pki_dir, kubeconfig_dir)."""
    root = tmp_path_factory.mktemp("kc")
    spec = PkiSpec(
        cluster_name="kc",
        cluster_domain="cluster.local",
        service_cidr="10.96.0.0/12",
        api_endpoint=ENDPOINT,
        control_plane=(NODE,),
        etcd_members=(NODE,),
        nodes=(NODE,),
    )
    generate_pki(spec, root / "pki", root / "kubeconfigs")
    return root / "pki", root / "kubeconfigs"


KUBECONFIGS = [
    "admin.conf",
    "controller-manager.conf",
    "scheduler.conf",
    "proxy.conf",
    "dns.conf",
    "kubelet-kc-cp-1.conf",
]


def load(path: Path) -> dict:
    return yaml.safe_load(path.read_text())


@pytest.mark.parametrize("name", KUBECONFIGS)
def test_points_at_the_api_endpoint(dirs: tuple[Path, Path], name: str) -> None:
    doc = load(dirs[1] / name)
    assert [c["cluster"]["server"] for c in doc["clusters"]] == [ENDPOINT]


@pytest.mark.parametrize("name", KUBECONFIGS)
def test_current_context_joins_the_cluster_and_its_user(dirs: tuple[Path, Path], name: str) -> None:
    doc = load(dirs[1] / name)
    (context,) = [c for c in doc["contexts"] if c["name"] == doc["current-context"]]
    assert context["context"]["cluster"] == doc["clusters"][0]["name"] == "kc"
    assert context["context"]["user"] == doc["users"][0]["name"]


def test_user_is_named_after_the_identity(dirs: tuple[Path, Path]) -> None:
    assert load(dirs[1] / "admin.conf")["users"][0]["name"] == "kubernetes-admin"
    assert load(dirs[1] / "kubelet-kc-cp-1.conf")["users"][0]["name"] == "system:node:kc-cp-1"


def test_embeds_the_cluster_ca(dirs: tuple[Path, Path]) -> None:
    data = load(dirs[1] / "scheduler.conf")["clusters"][0]["cluster"]["certificate-authority-data"]
    assert base64.b64decode(data) == (dirs[0] / "ca.crt").read_bytes()


@pytest.mark.parametrize("name", KUBECONFIGS)
def test_official_client_loads_it_with_usable_tls_material(dirs: tuple[Path, Path], name: str) -> None:
    from kubernetes import config

    api = config.new_client_from_config(config_file=str(dirs[1] / name), persist_config=False)
    cfg = api.configuration
    assert cfg.host == ENDPOINT
    ctx = ssl.create_default_context(cafile=cfg.ssl_ca_cert)
    ctx.load_cert_chain(cfg.cert_file, cfg.key_file)  # raises if the key does not match the certificate
