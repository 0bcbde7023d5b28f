"""Client-certificate authentication with certificates made by our own PKI."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest
from cryptography.hazmat.primitives import serialization

from kubeprov.apiserver.auth import ANONYMOUS, Authenticator
from kubeprov.pki import NodeSpec, PkiSpec, generate_pki
from kubeprov.pki.certs import CLIENT_AUTH, LeafProfile, issue_ca, issue_leaf, read_cert
from kubeprov.pki.keys import new_ec_key, read_private_key
from kubeprov.pki.kubeconfig import read_kubeconfig

CP = NodeSpec("cp-1", ("10.0.0.11",))
WORKER = NodeSpec("w-1", ("10.0.0.21",))


@pytest.fixture(scope="module")
def pki(tmp_path_factory: pytest.TempPathFactory) -> tuple[Path, Path]:
    root = tmp_path_factory.mktemp("x509")
    spec = PkiSpec(
        cluster_name="t",
        cluster_domain="cluster.local",
        service_cidr="10.96.0.0/12",
        api_endpoint="https://10.0.0.11:6443",
        control_plane=(CP,),
        etcd_members=(CP,),
        nodes=(CP, WORKER),
    )
    generate_pki(spec, root / "pki", root / "kubeconfigs")
    return root / "pki", root / "kubeconfigs"


def der(cert) -> bytes:
    return cert.public_bytes(serialization.Encoding.DER)


def kubeconfig_cert_der(kubeconfig_dir: Path, name: str) -> bytes:
    cert = read_kubeconfig(kubeconfig_dir / name).cert
    assert cert is not None
    return der(cert)


def authenticator(client_ca: Path | None, **kwargs) -> Authenticator:
    return Authenticator(
        client_ca_file=client_ca,
        static_token_file=None,
        service_account_public_keys=[],
        service_account_issuer="https://kubernetes.default.svc.cluster.local",
        api_audiences=[],
        secret_getter=None,
        service_account_getter=None,
        **kwargs,
    )


async def test_admin_certificate_maps_cn_to_user_and_o_to_groups(pki: tuple[Path, Path]) -> None:
    pki_dir, kubeconfigs = pki
    user = await authenticator(pki_dir / "ca.crt").authenticate(
        peer_cert_der=kubeconfig_cert_der(kubeconfigs, "admin.conf"), authorization_header=None
    )
    assert user is not None
    assert user.name == "kubernetes-admin"
    assert user.groups == ("system:masters", "system:authenticated")


async def test_kubelet_certificate_is_the_node_user_in_system_nodes(pki: tuple[Path, Path]) -> None:
    pki_dir, kubeconfigs = pki
    user = await authenticator(pki_dir / "ca.crt").authenticate(
        peer_cert_der=kubeconfig_cert_der(kubeconfigs, "kubelet-w-1.conf"), authorization_header=None
    )
    assert user is not None
    assert (user.name, user.groups) == ("system:node:w-1", ("system:nodes", "system:authenticated"))


async def test_expired_certificate_is_rejected(pki: tuple[Path, Path]) -> None:
    pki_dir, _ = pki
    ca_cert, ca_key = read_cert(pki_dir / "ca.crt"), read_private_key(pki_dir / "ca.key")
    profile = LeafProfile(common_name="old-admin", organizations=("system:masters",), usages=(CLIENT_AUTH,))
    ten_days_ago = datetime.now(UTC) - timedelta(days=10)
    expired = issue_leaf(profile, new_ec_key().public_key(), ca_cert, ca_key, 1, now=ten_days_ago)
    auth = authenticator(pki_dir / "ca.crt")

    result = await auth.authenticate_request(peer_cert_der=der(expired), authorization_header=None)

    assert result.user is None
    assert "x509: certificate has expired or is not yet valid: current time" in result.error
    assert await auth.authenticate(peer_cert_der=der(expired), authorization_header=None) is None


async def test_certificate_from_another_ca_is_rejected(pki: tuple[Path, Path]) -> None:
    pki_dir, _ = pki
    other_key = new_ec_key()
    other_ca = issue_ca("someone-else", other_key, 10)
    profile = LeafProfile(common_name="kubernetes-admin", organizations=("system:masters",), usages=(CLIENT_AUTH,))
    forged = issue_leaf(profile, new_ec_key().public_key(), other_ca, other_key, 1)

    result = await authenticator(pki_dir / "ca.crt").authenticate_request(
        peer_cert_der=der(forged), authorization_header=None
    )

    assert result.user is None
    assert "x509: certificate signed by unknown authority" in result.error


async def test_server_only_certificate_cannot_authenticate_a_client(pki: tuple[Path, Path]) -> None:
    pki_dir, _ = pki
    serving = read_cert(pki_dir / "nodes" / "w-1" / "kubelet.crt")

    result = await authenticator(pki_dir / "ca.crt").authenticate_request(
        peer_cert_der=der(serving), authorization_header=None
    )

    assert result.user is None
    assert "incompatible key usage" in result.error


async def test_without_client_ca_certificates_are_ignored_and_request_is_anonymous(pki: tuple[Path, Path]) -> None:
    _, kubeconfigs = pki
    user = await authenticator(None).authenticate(
        peer_cert_der=kubeconfig_cert_der(kubeconfigs, "admin.conf"), authorization_header=None
    )
    assert user == ANONYMOUS
