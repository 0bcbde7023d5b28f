"""generate_pki: what it writes, judged by the real openssl binary, and how re-runs behave."""

from __future__ import annotations

import base64
import os
import shutil
import subprocess
from dataclasses import dataclass, replace
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest
import yaml

from kubeprov.errors import KubeprovError
from kubeprov.pki import GenerateReport, NodeSpec, PkiSpec, generate_pki

OPENSSL = shutil.which("openssl") or "/usr/bin/openssl"
pytestmark = pytest.mark.skipif(not Path(OPENSSL).exists(), reason="needs the openssl binary")

CP1 = NodeSpec("local-cp-1", ("10.0.0.11",))
CP2 = NodeSpec("local-cp-2", ("10.0.0.12",))
WORKER = NodeSpec("local-w-1", ("10.0.0.21", "local-w-1.example.test"))
LB = "10.0.0.10"


def make_spec(**changes: object) -> PkiSpec:
    spec = PkiSpec(
        cluster_name="local",
        cluster_domain="cluster.local",
        service_cidr="10.96.0.0/12",
        api_endpoint=f"https://{LB}:6443",
        control_plane=(CP1, CP2),
        etcd_members=(CP1, CP2),
        nodes=(CP1, CP2, WORKER),
        extra_apiserver_sans=(LB, "api.local.test"),
    )
    return replace(spec, **changes)


def openssl(*args: str) -> str:
    proc = subprocess.run([OPENSSL, *args], capture_output=True, text=True, check=False)
    assert proc.returncode == 0, f"openssl {' '.join(args)} failed: {proc.stderr}"
    return proc.stdout


def sans(cert: Path) -> set[str]:
    out = openssl("x509", "-noout", "-ext", "subjectAltName", "-in", str(cert))
    entries = out.splitlines()[1].strip().split(", ")
    return {e.split(":", 1)[1] for e in entries}


def subject(cert: Path) -> dict[str, str]:
    out = openssl("x509", "-noout", "-subject", "-nameopt", "RFC2253", "-in", str(cert))
    rdns = out.strip().removeprefix("subject=").split(",")
    return dict(rdn.split("=", 1) for rdn in rdns)


def public_key_of_cert(cert: Path) -> str:
    return openssl("x509", "-noout", "-pubkey", "-in", str(cert))


def public_key_of_key(key: Path) -> str:
    return openssl("pkey", "-pubout", "-in", str(key))


def snapshot(*dirs: Path) -> dict[Path, bytes]:
    return {p: p.read_bytes() for d in dirs for p in sorted(d.rglob("*")) if p.is_file()}


@dataclass(frozen=True)
class Pki:
    spec: PkiSpec
    pki_dir: Path
    kc_dir: Path
    report: GenerateReport


def build(root: Path, spec: PkiSpec | None = None) -> Pki:
    spec = spec or make_spec()
    pki_dir, kc_dir = root / "pki", root / "kubeconfigs"
    return Pki(spec, pki_dir, kc_dir, generate_pki(spec, pki_dir, kc_dir))


@pytest.fixture(scope="module")
def pki(tmp_path_factory: pytest.TempPathFactory) -> Pki:
    """Generated once and only read by the tests that use it."""
    return build(tmp_path_factory.mktemp("pki"))


@pytest.fixture
def fresh(tmp_path: Path) -> Pki:
    """A PKI of its own, for tests that change files."""
    return build(tmp_path)


def kubeconfig_client(kc: Path, tmp: Path) -> tuple[Path, Path]:
    """The embedded client certificate and key of a kubeconfig, as files openssl can read."""
    user = yaml.safe_load(kc.read_text())["users"][0]["user"]
    cert, key = tmp / f"{kc.stem}.crt", tmp / f"{kc.stem}.key"
    cert.write_bytes(base64.b64decode(user["client-certificate-data"]))
    key.write_bytes(base64.b64decode(user["client-key-data"]))
    return cert, key


# --- layout -----------------------------------------------------------------------------------

EXPECTED_PKI_FILES = {
    *(f"{n}.{ext}" for ext in ("crt", "key") for n in (
        "ca", "etcd/ca", "front-proxy-ca",
        "apiserver", "apiserver-kubelet-client", "apiserver-etcd-client", "front-proxy-client",
        "etcd/healthcheck-client",
        "etcd/server-local-cp-1", "etcd/peer-local-cp-1", "etcd/server-local-cp-2", "etcd/peer-local-cp-2",
        "nodes/local-cp-1/kubelet", "nodes/local-cp-2/kubelet", "nodes/local-w-1/kubelet",
    )),
    "sa.key", "sa.pub",
}  # fmt: skip
EXPECTED_KUBECONFIGS = {
    "admin.conf", "controller-manager.conf", "scheduler.conf", "proxy.conf", "dns.conf",
    "kubelet-local-cp-1.conf", "kubelet-local-cp-2.conf", "kubelet-local-w-1.conf",
}  # fmt: skip


def test_writes_exactly_the_kubeadm_like_file_set(pki: Pki) -> None:
    written = {p.relative_to(pki.pki_dir).as_posix() for p in pki.pki_dir.rglob("*") if p.is_file()}
    assert written == EXPECTED_PKI_FILES
    assert {p.name for p in pki.kc_dir.iterdir()} == EXPECTED_KUBECONFIGS


def test_first_run_reports_everything_created(pki: Pki) -> None:
    assert pki.report.kept == [] and pki.report.reissued == []
    assert {"ca", "etcd/ca", "front-proxy-ca", "sa", "apiserver", "kubeconfig/admin.conf"} <= set(
        pki.report.created
    )


# --- openssl accepts the chain ----------------------------------------------------------------

LEAVES = [
    ("apiserver", "ca", ("sslserver",)),
    ("apiserver-kubelet-client", "ca", ("sslclient",)),
    ("apiserver-etcd-client", "etcd/ca", ("sslclient",)),
    ("front-proxy-client", "front-proxy-ca", ("sslclient",)),
    ("etcd/healthcheck-client", "etcd/ca", ("sslclient",)),
    ("etcd/server-local-cp-1", "etcd/ca", ("sslserver", "sslclient")),
    ("etcd/server-local-cp-2", "etcd/ca", ("sslserver", "sslclient")),
    ("etcd/peer-local-cp-1", "etcd/ca", ("sslserver", "sslclient")),
    ("etcd/peer-local-cp-2", "etcd/ca", ("sslserver", "sslclient")),
    ("nodes/local-cp-1/kubelet", "ca", ("sslserver",)),
    ("nodes/local-w-1/kubelet", "ca", ("sslserver",)),
]


@pytest.mark.parametrize(("leaf", "ca", "purposes"), LEAVES, ids=[leaf for leaf, _, _ in LEAVES])
def test_leaf_verifies_against_its_ca_for_its_purpose(pki: Pki, leaf: str, ca: str, purposes: tuple) -> None:
    for purpose in purposes:
        out = openssl(
            "verify",
            "-purpose",
            purpose,
            "-CAfile",
            str(pki.pki_dir / f"{ca}.crt"),
            str(pki.pki_dir / f"{leaf}.crt"),
        )
        assert out.strip().endswith(": OK")


def test_leaf_does_not_verify_against_another_ca(pki: Pki) -> None:
    proc = subprocess.run(
        [
            OPENSSL,
            "verify",
            "-CAfile",
            str(pki.pki_dir / "ca.crt"),
            str(pki.pki_dir / "apiserver-etcd-client.crt"),
        ],
        capture_output=True,
        text=True,
        check=False,
    )
    assert proc.returncode != 0


@pytest.mark.parametrize("kubeconfig", sorted(EXPECTED_KUBECONFIGS))
def test_kubeconfig_client_cert_verifies_against_cluster_ca(
    pki: Pki, kubeconfig: str, tmp_path: Path
) -> None:
    cert, _ = kubeconfig_client(pki.kc_dir / kubeconfig, tmp_path)
    out = openssl("verify", "-purpose", "sslclient", "-CAfile", str(pki.pki_dir / "ca.crt"), str(cert))
    assert out.strip().endswith(": OK")


@pytest.mark.parametrize("ca", ["ca", "etcd/ca", "front-proxy-ca"])
def test_ca_is_a_critical_ca_that_signs_certs_and_crls(pki: Pki, ca: str) -> None:
    out = openssl(
        "x509",
        "-noout",
        "-ext",
        "basicConstraints,keyUsage,subjectKeyIdentifier",
        "-in",
        str(pki.pki_dir / f"{ca}.crt"),
    )
    assert "Basic Constraints: critical" in out and "CA:TRUE" in out
    assert "Key Usage: critical" in out and "Certificate Sign, CRL Sign" in out
    assert "Subject Key Identifier" in out


def test_cluster_ca_subject_names_the_cluster(pki: Pki) -> None:
    assert subject(pki.pki_dir / "ca.crt")["CN"] == "kubeprov-local-ca"


def test_leaf_has_leaf_extensions(pki: Pki) -> None:
    out = openssl(
        "x509", "-noout", "-ext", "basicConstraints,keyUsage,authorityKeyIdentifier,subjectKeyIdentifier",
        "-in", str(pki.pki_dir / "apiserver.crt"),
    )  # fmt: skip
    assert "CA:FALSE" in out
    assert "Digital Signature, Key Encipherment" in out
    assert "Authority Key Identifier" in out and "Subject Key Identifier" in out


def test_leaf_starts_slightly_in_the_past_and_lasts_validity_days(pki: Pki) -> None:
    out = openssl("x509", "-noout", "-startdate", "-enddate", "-in", str(pki.pki_dir / "apiserver.crt"))
    fields = dict(line.split("=", 1) for line in out.splitlines())
    start = datetime.strptime(fields["notBefore"], "%b %d %H:%M:%S %Y GMT").replace(tzinfo=UTC)
    end = datetime.strptime(fields["notAfter"], "%b %d %H:%M:%S %Y GMT").replace(tzinfo=UTC)
    assert datetime.now(UTC) - timedelta(hours=1) < start < datetime.now(UTC) - timedelta(minutes=1)
    assert end - start == timedelta(days=365)


def test_serials_are_large_and_distinct(pki: Pki) -> None:
    serials = [
        int(openssl("x509", "-noout", "-serial", "-in", str(p)).strip().split("=")[1], 16)
        for p in pki.pki_dir.rglob("*.crt")
    ]
    assert len(set(serials)) == len(serials)
    assert all(0 < s < 2**159 for s in serials)
    assert max(serials) > 2**64


# --- subjects and SANs ------------------------------------------------------------------------


def test_apiserver_sans_cover_service_name_service_ip_nodes_and_load_balancer(pki: Pki) -> None:
    names = sans(pki.pki_dir / "apiserver.crt")
    expected = {
        "kubernetes", "kubernetes.default", "kubernetes.default.svc", "kubernetes.default.svc.cluster.local",
        "localhost", "local-cp-1", "local-cp-2", "10.96.0.1", "127.0.0.1", "10.0.0.11", "10.0.0.12", LB,
        "api.local.test",
    }  # fmt: skip
    assert expected <= names


def test_apiserver_sans_leave_out_workers(pki: Pki) -> None:
    assert not {"local-w-1", "10.0.0.21"} & sans(pki.pki_dir / "apiserver.crt")


def test_apiserver_sans_include_a_dns_api_endpoint(tmp_path: Path) -> None:
    pki = build(tmp_path, make_spec(api_endpoint="https://api.example.test:6443"))
    assert "api.example.test" in sans(pki.pki_dir / "apiserver.crt")


def test_etcd_server_sans_cover_member_and_loopback(pki: Pki) -> None:
    assert sans(pki.pki_dir / "etcd/server-local-cp-2.crt") == {
        "local-cp-2",
        "localhost",
        "127.0.0.1",
        "10.0.0.12",
    }
    assert subject(pki.pki_dir / "etcd/server-local-cp-2.crt") == {"CN": "local-cp-2"}


def test_etcd_peer_sans_cover_member_name_and_addresses(pki: Pki) -> None:
    assert sans(pki.pki_dir / "etcd/peer-local-cp-1.crt") == {"local-cp-1", "10.0.0.11"}


def test_kubelet_serving_cert_names_the_node(pki: Pki) -> None:
    path = pki.pki_dir / "nodes/local-w-1/kubelet.crt"
    assert subject(path) == {"CN": "system:node:local-w-1", "O": "system:nodes"}
    assert sans(path) == {"local-w-1", "10.0.0.21", "local-w-1.example.test"}


@pytest.mark.parametrize(
    ("leaf", "expected"),
    [
        ("apiserver-kubelet-client", {"CN": "kube-apiserver-kubelet-client", "O": "system:masters"}),
        ("apiserver-etcd-client", {"CN": "kube-apiserver-etcd-client"}),
        ("front-proxy-client", {"CN": "front-proxy-client"}),
        ("etcd/healthcheck-client", {"CN": "kube-etcd-healthcheck-client"}),
        ("apiserver", {"CN": "kube-apiserver"}),
    ],
)
def test_client_and_server_subjects(pki: Pki, leaf: str, expected: dict[str, str]) -> None:
    assert subject(pki.pki_dir / f"{leaf}.crt") == expected


@pytest.mark.parametrize(
    ("kubeconfig", "expected"),
    [
        ("admin.conf", {"CN": "kubernetes-admin", "O": "system:masters"}),
        ("controller-manager.conf", {"CN": "system:kube-controller-manager"}),
        ("scheduler.conf", {"CN": "system:kube-scheduler"}),
        ("proxy.conf", {"CN": "system:kube-proxy"}),
        ("dns.conf", {"CN": "kubeprov:cluster-dns"}),
        ("kubelet-local-w-1.conf", {"CN": "system:node:local-w-1", "O": "system:nodes"}),
    ],
)
def test_kubeconfig_client_subjects(pki: Pki, kubeconfig: str, expected: dict, tmp_path: Path) -> None:
    cert, _ = kubeconfig_client(pki.kc_dir / kubeconfig, tmp_path)
    assert subject(cert) == expected


# --- keys -------------------------------------------------------------------------------------


def test_private_keys_and_kubeconfigs_are_owner_only(pki: Pki) -> None:
    secret = [*pki.pki_dir.rglob("*.key"), *pki.kc_dir.iterdir()]
    assert secret and all(os.stat(p).st_mode & 0o777 == 0o600 for p in secret)


def test_certificates_and_public_key_are_world_readable(pki: Pki) -> None:
    public = [*pki.pki_dir.rglob("*.crt"), pki.pki_dir / "sa.pub"]
    assert all(os.stat(p).st_mode & 0o777 == 0o644 for p in public)


def test_openssl_accepts_every_private_key(pki: Pki) -> None:
    for key in pki.pki_dir.rglob("*.key"):
        assert "valid" in openssl("pkey", "-check", "-noout", "-in", str(key)).lower()


def test_ca_and_leaf_keys_are_ecdsa_p256(pki: Pki) -> None:
    for name in ("ca", "etcd/ca", "apiserver", "nodes/local-w-1/kubelet"):
        assert "prime256v1" in openssl(
            "ec", "-check", "-noout", "-text", "-in", str(pki.pki_dir / f"{name}.key")
        )


def test_every_key_matches_its_certificate(pki: Pki) -> None:
    for cert in pki.pki_dir.rglob("*.crt"):
        assert public_key_of_cert(cert) == public_key_of_key(cert.with_suffix(".key")), cert


def test_kubeconfig_key_matches_its_certificate(pki: Pki, tmp_path: Path) -> None:
    cert, key = kubeconfig_client(pki.kc_dir / "admin.conf", tmp_path)
    assert public_key_of_cert(cert) == public_key_of_key(key)


def test_service_account_key_is_rsa_2048_pkcs8_with_matching_public_key(pki: Pki) -> None:
    key = pki.pki_dir / "sa.key"
    assert key.read_text().startswith("-----BEGIN PRIVATE KEY-----")
    assert "Private-Key: (2048 bit" in openssl("rsa", "-noout", "-text", "-in", str(key))
    assert (pki.pki_dir / "sa.pub").read_text() == public_key_of_key(key)


# --- re-runs ----------------------------------------------------------------------------------


def test_second_run_creates_nothing_and_changes_no_byte(fresh: Pki) -> None:
    before = snapshot(fresh.pki_dir, fresh.kc_dir)
    report = generate_pki(fresh.spec, fresh.pki_dir, fresh.kc_dir)
    assert report.created == [] and report.reissued == []
    assert set(report.kept) == set(fresh.report.created)
    assert snapshot(fresh.pki_dir, fresh.kc_dir) == before


def test_new_control_plane_address_reissues_apiserver_only(fresh: Pki) -> None:
    before = snapshot(fresh.pki_dir, fresh.kc_dir)
    moved = replace(CP2, addresses=("10.0.0.12", "10.0.0.13"))
    report = generate_pki(replace(fresh.spec, control_plane=(CP1, moved)), fresh.pki_dir, fresh.kc_dir)
    assert report.reissued == ["apiserver"] and report.created == []
    assert "10.0.0.13" in report.reasons["apiserver"]
    assert "10.0.0.13" in sans(fresh.pki_dir / "apiserver.crt")
    after = snapshot(fresh.pki_dir, fresh.kc_dir)
    changed = {p.relative_to(fresh.pki_dir).as_posix() for p in before if before[p] != after[p]}
    assert changed == {"apiserver.crt"}  # CA, apiserver key and everything else byte-identical


def test_reissued_apiserver_still_verifies(fresh: Pki) -> None:
    spec = replace(fresh.spec, extra_apiserver_sans=(*fresh.spec.extra_apiserver_sans, "10.0.0.99"))
    generate_pki(spec, fresh.pki_dir, fresh.kc_dir)
    openssl("verify", "-CAfile", str(fresh.pki_dir / "ca.crt"), str(fresh.pki_dir / "apiserver.crt"))


def test_new_node_adds_its_certs_and_keeps_the_rest(fresh: Pki) -> None:
    node = NodeSpec("local-w-2", ("10.0.0.22",))
    report = generate_pki(replace(fresh.spec, nodes=(*fresh.spec.nodes, node)), fresh.pki_dir, fresh.kc_dir)
    assert sorted(report.created) == ["kubeconfig/kubelet-local-w-2.conf", "nodes/local-w-2/kubelet"]
    assert report.reissued == []


def test_deleted_leaf_is_recreated_with_its_existing_key(fresh: Pki) -> None:
    key_before = (fresh.pki_dir / "front-proxy-client.key").read_bytes()
    (fresh.pki_dir / "front-proxy-client.crt").unlink()
    report = generate_pki(fresh.spec, fresh.pki_dir, fresh.kc_dir)
    assert report.created == ["front-proxy-client"]
    assert (fresh.pki_dir / "front-proxy-client.key").read_bytes() == key_before
    assert public_key_of_cert(fresh.pki_dir / "front-proxy-client.crt") == public_key_of_key(
        fresh.pki_dir / "front-proxy-client.key"
    )


def test_ca_key_without_cert_gets_a_cert_for_that_key(fresh: Pki) -> None:
    """What an interrupted first run leaves behind: the key was written, the certificate not yet."""
    key_before = (fresh.pki_dir / "front-proxy-ca.key").read_bytes()
    (fresh.pki_dir / "front-proxy-ca.crt").unlink()
    report = generate_pki(fresh.spec, fresh.pki_dir, fresh.kc_dir)
    assert "front-proxy-ca" in report.created
    assert (fresh.pki_dir / "front-proxy-ca.key").read_bytes() == key_before
    openssl(
        "verify",
        "-CAfile",
        str(fresh.pki_dir / "front-proxy-ca.crt"),
        str(fresh.pki_dir / "front-proxy-client.crt"),
    )


def test_leaves_of_a_replaced_ca_are_reissued(fresh: Pki) -> None:
    (fresh.pki_dir / "etcd/ca.crt").unlink()
    (fresh.pki_dir / "etcd/ca.key").unlink()
    report = generate_pki(fresh.spec, fresh.pki_dir, fresh.kc_dir)
    assert "etcd/ca" in report.created
    assert set(report.reissued) == {
        "apiserver-etcd-client", "etcd/healthcheck-client",
        "etcd/server-local-cp-1", "etcd/peer-local-cp-1", "etcd/server-local-cp-2", "etcd/peer-local-cp-2",
    }  # fmt: skip
    assert report.reasons["apiserver-etcd-client"] == "not signed by the current CA"
    openssl(
        "verify",
        "-CAfile",
        str(fresh.pki_dir / "etcd/ca.crt"),
        str(fresh.pki_dir / "etcd/server-local-cp-1.crt"),
    )


def test_expired_leaves_and_kubeconfigs_are_reissued_and_cas_kept(tmp_path: Path) -> None:
    spec = make_spec(validity_days=1)
    pki_dir, kc_dir = tmp_path / "pki", tmp_path / "kubeconfigs"
    generate_pki(spec, pki_dir, kc_dir, now=datetime.now(UTC) - timedelta(days=30))
    report = generate_pki(spec, pki_dir, kc_dir)
    assert set(report.kept) == {"ca", "etcd/ca", "front-proxy-ca", "sa"}
    assert {"apiserver", "kubeconfig/admin.conf"} <= set(report.reissued)
    assert report.reasons["apiserver"].startswith("expired")
    openssl("verify", "-CAfile", str(pki_dir / "ca.crt"), str(pki_dir / "apiserver.crt"))


def test_changed_endpoint_rewrites_kubeconfigs_keeping_their_credentials(fresh: Pki) -> None:
    admin = fresh.kc_dir / "admin.conf"
    user_before = yaml.safe_load(admin.read_text())["users"]
    report = generate_pki(
        replace(fresh.spec, api_endpoint="https://10.0.0.99:6443"), fresh.pki_dir, fresh.kc_dir
    )
    assert "kubeconfig/admin.conf" in report.reissued
    doc = yaml.safe_load(admin.read_text())
    assert doc["clusters"][0]["cluster"]["server"] == "https://10.0.0.99:6443"
    assert doc["users"] == user_before


def test_ca_cert_without_its_key_is_refused_before_any_write(fresh: Pki) -> None:
    (fresh.pki_dir / "etcd/ca.key").unlink()
    (fresh.pki_dir / "apiserver.crt").unlink()
    with pytest.raises(KubeprovError) as err:
        generate_pki(fresh.spec, fresh.pki_dir, fresh.kc_dir)
    assert "etcd/ca.key" in err.value.message
    assert not (fresh.pki_dir / "apiserver.crt").exists()
    assert not (fresh.pki_dir / "etcd/ca.key").exists()


def test_service_account_public_key_without_private_key_is_refused(fresh: Pki) -> None:
    (fresh.pki_dir / "sa.key").unlink()
    with pytest.raises(KubeprovError, match="sa.key"):
        generate_pki(fresh.spec, fresh.pki_dir, fresh.kc_dir)


def test_run_interrupted_between_key_and_cert_is_completed_by_the_next(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    import kubeprov.pki.generate as gen

    real_write_cert = gen.write_cert

    def crash_on_apiserver(path: Path, cert: object) -> None:
        if path.name == "apiserver.crt":
            raise KeyboardInterrupt
        real_write_cert(path, cert)

    monkeypatch.setattr(gen, "write_cert", crash_on_apiserver)
    with pytest.raises(KeyboardInterrupt):
        build(tmp_path)
    monkeypatch.setattr(gen, "write_cert", real_write_cert)
    key_before = (tmp_path / "pki/apiserver.key").read_bytes()
    report = generate_pki(make_spec(), tmp_path / "pki", tmp_path / "kubeconfigs")
    assert "apiserver" in report.created and "ca" in report.kept
    assert (tmp_path / "pki/apiserver.key").read_bytes() == key_before
    openssl("verify", "-CAfile", str(tmp_path / "pki/ca.crt"), str(tmp_path / "pki/apiserver.crt"))
