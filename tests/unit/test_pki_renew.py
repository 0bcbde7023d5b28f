"""renew_certificates and certificate_names, with openssl judging the renewed files."""

from __future__ import annotations

import base64
import shutil
import subprocess
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest
import yaml
from cryptography import x509
from cryptography.hazmat.primitives.serialization import Encoding

from kubeprov.errors import KubeprovError
from kubeprov.pki import NodeSpec, PkiSpec, certificate_names, generate_pki, renew_certificates

OPENSSL = shutil.which("openssl") or "/usr/bin/openssl"
pytestmark = pytest.mark.skipif(not Path(OPENSSL).exists(), reason="needs the openssl binary")

NODE = NodeSpec("rn-cp-1", ("10.0.0.11",))
WORKER = NodeSpec("rn-w-1", ("10.0.0.21",))
SPEC = PkiSpec(
    cluster_name="rn",
    cluster_domain="cluster.local",
    service_cidr="10.96.0.0/12",
    api_endpoint="https://10.0.0.10:6443",
    control_plane=(NODE,),
    etcd_members=(NODE,),
    nodes=(NODE, WORKER),
    extra_apiserver_sans=("10.0.0.10",),
)
ISSUED_AGO = timedelta(days=30)
CA_FILES = ["ca.crt", "ca.key", "etcd/ca.crt", "etcd/ca.key", "front-proxy-ca.crt", "front-proxy-ca.key"]


@dataclass(frozen=True)
class Pki:
    pki_dir: Path
    kc_dir: Path


@pytest.fixture
def pki(tmp_path: Path) -> Pki:
    """Issued 30 days ago, so a renewal has visibly later dates and everything is valid now."""
    p = Pki(tmp_path / "pki", tmp_path / "kubeconfigs")
    generate_pki(SPEC, p.pki_dir, p.kc_dir, now=datetime.now(UTC) - ISSUED_AGO)
    return p


def openssl(*args: str) -> str:
    proc = subprocess.run([OPENSSL, *args], capture_output=True, text=True, check=False)
    assert proc.returncode == 0, f"openssl {' '.join(args)} failed: {proc.stderr}"
    return proc.stdout


def cert_at(pki: Pki, name: str) -> x509.Certificate:
    if name.startswith("kubeconfig/"):
        doc = yaml.safe_load((pki.kc_dir / name.removeprefix("kubeconfig/")).read_text())
        return x509.load_pem_x509_certificate(
            base64.b64decode(doc["users"][0]["user"]["client-certificate-data"])
        )
    return x509.load_pem_x509_certificate((pki.pki_dir / f"{name}.crt").read_bytes())


def client_key_data(pki: Pki, kubeconfig: str) -> str:
    return yaml.safe_load((pki.kc_dir / kubeconfig).read_text())["users"][0]["user"]["client-key-data"]


def key_files(pki: Pki) -> dict[str, bytes]:
    return {p.relative_to(pki.pki_dir).as_posix(): p.read_bytes() for p in pki.pki_dir.rglob("*.key")}


def cert_pubkey(path: Path) -> str:
    return openssl("x509", "-noout", "-pubkey", "-in", str(path))


def key_pubkey(path: Path) -> str:
    return openssl("pkey", "-pubout", "-in", str(path))


def test_certificate_names_lists_leaves_and_kubeconfigs_but_no_ca(pki: Pki) -> None:
    names = certificate_names(pki.pki_dir, pki.kc_dir)
    assert {"apiserver", "etcd/server-rn-cp-1", "nodes/rn-w-1/kubelet", "kubeconfig/admin.conf"} <= set(names)
    assert not {"ca", "etcd/ca", "front-proxy-ca"} & set(names)
    assert len(names) == 9 + 7  # 9 leaf certificates, 7 kubeconfigs


def test_renew_all_changes_every_serial_and_expiry(pki: Pki) -> None:
    names = certificate_names(pki.pki_dir, pki.kc_dir)
    before = {n: cert_at(pki, n) for n in names}
    report = renew_certificates(pki.pki_dir, pki.kc_dir, None)
    assert sorted(report.names) == sorted(names)
    for name, old in before.items():
        new = cert_at(pki, name)
        assert new.serial_number != old.serial_number, name
        assert new.not_valid_after_utc - old.not_valid_after_utc > ISSUED_AGO - timedelta(minutes=1), name


def test_renew_keeps_the_original_lifetime(pki: Pki) -> None:
    renew_certificates(pki.pki_dir, pki.kc_dir, ["apiserver"])
    new = cert_at(pki, "apiserver")
    assert new.not_valid_after_utc - new.not_valid_before_utc == timedelta(days=365)


def test_renew_with_validity_days_sets_the_new_lifetime(pki: Pki) -> None:
    report = renew_certificates(pki.pki_dir, pki.kc_dir, ["apiserver"], validity_days=10)
    new = cert_at(pki, "apiserver")
    assert new.not_valid_after_utc - new.not_valid_before_utc == timedelta(days=10)
    assert report.renewed[0].new_not_after == new.not_valid_after_utc


def test_renew_leaves_cas_and_service_account_key_byte_identical(pki: Pki) -> None:
    watched = [*CA_FILES, "sa.key", "sa.pub"]
    before = {f: (pki.pki_dir / f).read_bytes() for f in watched}
    renew_certificates(pki.pki_dir, pki.kc_dir, None, rotate_keys=True)
    assert {f: (pki.pki_dir / f).read_bytes() for f in watched} == before


def test_renewed_certificates_verify_with_openssl(pki: Pki, tmp_path: Path) -> None:
    renew_certificates(pki.pki_dir, pki.kc_dir, None)
    for leaf, ca in [
        ("apiserver", "ca"),
        ("etcd/peer-rn-cp-1", "etcd/ca"),
        ("front-proxy-client", "front-proxy-ca"),
    ]:
        openssl("verify", "-CAfile", str(pki.pki_dir / f"{ca}.crt"), str(pki.pki_dir / f"{leaf}.crt"))
    admin = tmp_path / "admin.crt"
    admin.write_bytes(cert_at(pki, "kubeconfig/admin.conf").public_bytes(Encoding.PEM))
    openssl("verify", "-purpose", "sslclient", "-CAfile", str(pki.pki_dir / "ca.crt"), str(admin))


def test_renew_keeps_subject_and_every_extension(pki: Pki) -> None:
    """Same key and same CA, so even the key identifiers must come out identical."""
    names = ["apiserver", "nodes/rn-w-1/kubelet", "kubeconfig/kubelet-rn-w-1.conf"]
    before = {n: cert_at(pki, n) for n in names}
    renew_certificates(pki.pki_dir, pki.kc_dir, names)
    for name, old in before.items():
        new = cert_at(pki, name)
        assert new.subject == old.subject, name
        assert list(new.extensions) == list(old.extensions), name


def test_renew_keeps_keys_by_default(pki: Pki) -> None:
    keys, admin_key = key_files(pki), client_key_data(pki, "admin.conf")
    renew_certificates(pki.pki_dir, pki.kc_dir, None)
    assert key_files(pki) == keys
    assert client_key_data(pki, "admin.conf") == admin_key


def test_rotate_keys_replaces_leaf_and_kubeconfig_keys(pki: Pki) -> None:
    keys, admin_key = key_files(pki), client_key_data(pki, "admin.conf")
    report = renew_certificates(
        pki.pki_dir, pki.kc_dir, ["apiserver", "kubeconfig/admin.conf"], rotate_keys=True
    )
    assert all(r.key_rotated for r in report.renewed)
    assert key_files(pki)["apiserver.key"] != keys["apiserver.key"]
    assert client_key_data(pki, "admin.conf") != admin_key
    assert cert_pubkey(pki.pki_dir / "apiserver.crt") == key_pubkey(pki.pki_dir / "apiserver.key")


def test_renew_named_subset_touches_nothing_else(pki: Pki) -> None:
    others = {n: cert_at(pki, n).serial_number for n in certificate_names(pki.pki_dir, pki.kc_dir)}
    del others["front-proxy-client"]
    report = renew_certificates(pki.pki_dir, pki.kc_dir, ["front-proxy-client"])
    assert report.names == ["front-proxy-client"]
    assert {n: cert_at(pki, n).serial_number for n in others} == others


def test_renew_rewrites_only_the_kubeconfig_credentials(pki: Pki) -> None:
    path = pki.kc_dir / "scheduler.conf"
    before = yaml.safe_load(path.read_text())
    renew_certificates(pki.pki_dir, pki.kc_dir, ["kubeconfig/scheduler.conf"])
    after = yaml.safe_load(path.read_text())
    assert (
        after["users"][0]["user"]["client-certificate-data"]
        != before["users"][0]["user"]["client-certificate-data"]
    )
    after["users"] = before["users"] = None
    assert after == before
    assert path.stat().st_mode & 0o777 == 0o600


def test_generate_after_renew_keeps_everything(pki: Pki) -> None:
    renew_certificates(pki.pki_dir, pki.kc_dir, None, rotate_keys=True)
    report = generate_pki(SPEC, pki.pki_dir, pki.kc_dir)
    assert report.created == [] and report.reissued == []


def test_unknown_name_is_refused_naming_the_valid_ones(pki: Pki) -> None:
    with pytest.raises(KubeprovError) as err:
        renew_certificates(pki.pki_dir, pki.kc_dir, ["apiserver", "api-server"])
    assert "api-server" in err.value.message
    assert "apiserver" in err.value.message.split("valid names:")[1]
    assert "kubeconfig/admin.conf" in err.value.message


def test_ca_name_is_not_renewable(pki: Pki) -> None:
    with pytest.raises(KubeprovError, match="unknown certificate name"):
        renew_certificates(pki.pki_dir, pki.kc_dir, ["ca"])


def test_missing_ca_key_is_refused_before_any_write(pki: Pki) -> None:
    (pki.pki_dir / "etcd/ca.key").unlink()
    before = cert_at(pki, "apiserver").serial_number
    with pytest.raises(KubeprovError, match="etcd/ca.key"):
        renew_certificates(pki.pki_dir, pki.kc_dir, None)
    assert cert_at(pki, "apiserver").serial_number == before


def test_nothing_to_renew_in_an_empty_folder(tmp_path: Path) -> None:
    with pytest.raises(KubeprovError, match="no certificates"):
        renew_certificates(tmp_path / "pki", tmp_path / "kubeconfigs", None)
