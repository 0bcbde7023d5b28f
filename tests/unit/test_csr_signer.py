"""csrsigning: certificates signed for approved requests, judged by the openssl binary."""

from __future__ import annotations

import subprocess
from datetime import UTC, datetime, timedelta
from pathlib import Path

from cryptography import x509
from cryptography.x509.oid import ExtendedKeyUsageOID, NameOID

from kubeprov.controllers.certificates.signer import CSRSigningController, duration, sign, validation_error
from kubeprov.controllers.config import ControllerManagerConfig
from kubeprov.pki.keys import parse_private_key
from tests.unit.test_csr_fakes import KUBELET_CLIENT, csr_object, parsed, write_ca, x509_request

NOW = datetime(2026, 1, 1, tzinfo=UTC)


def signed(tmp_path: Path, usages: list[str], lifetime: timedelta = timedelta(days=1), **req: object) -> Path:
    crt, key = write_ca(tmp_path)
    ca = x509.load_pem_x509_certificate(crt.read_bytes())
    pem = sign(parsed(x509_request(**req)), usages, lifetime, ca, parse_private_key(key.read_bytes(), "ca.key"))
    out = tmp_path / "leaf.crt"
    out.write_bytes(pem)
    return out


def test_a_signed_client_certificate_verifies_against_the_ca_with_openssl(tmp_path: Path):
    leaf = signed(tmp_path, ["digital signature", "client auth"])
    result = subprocess.run(["openssl", "verify", "-CAfile", str(tmp_path / "ca.crt"), "-purpose", "sslclient",
                             str(leaf)], capture_output=True, text=True, check=False)
    assert result.returncode == 0, result.stdout + result.stderr


def test_the_certificate_keeps_the_requested_subject_and_usages(tmp_path: Path):
    cert = x509.load_pem_x509_certificate(signed(tmp_path, ["digital signature", "client auth"]).read_bytes())
    assert cert.subject.get_attributes_for_oid(NameOID.COMMON_NAME)[0].value == "system:node:n1"
    assert cert.subject.get_attributes_for_oid(NameOID.ORGANIZATION_NAME)[0].value == "system:nodes"
    assert list(cert.extensions.get_extension_for_class(x509.ExtendedKeyUsage).value) == [
        ExtendedKeyUsageOID.CLIENT_AUTH]
    ku = cert.extensions.get_extension_for_class(x509.KeyUsage).value
    assert (ku.digital_signature, ku.key_encipherment) == (True, False)
    assert cert.extensions.get_extension_for_class(x509.BasicConstraints).value.ca is False


def test_a_serving_certificate_keeps_the_requested_names(tmp_path: Path):
    cert = x509.load_pem_x509_certificate(
        signed(tmp_path, ["digital signature", "server auth"], dns=("n1",), ips=("10.0.0.5",)).read_bytes())
    sans = cert.extensions.get_extension_for_class(x509.SubjectAlternativeName).value
    assert sans.get_values_for_type(x509.DNSName) == ["n1"]
    assert [str(ip) for ip in sans.get_values_for_type(x509.IPAddress)] == ["10.0.0.5"]


def test_the_certificate_is_backdated_five_minutes_and_lasts_the_given_lifetime(tmp_path: Path):
    cert = x509.load_pem_x509_certificate(signed(tmp_path, ["client auth"], timedelta(hours=2)).read_bytes())
    assert cert.not_valid_after_utc - cert.not_valid_before_utc == timedelta(hours=2, minutes=5)


def test_expiration_seconds_shortens_the_duration_but_never_below_ten_minutes():
    year = 365 * 24 * 3600.0
    assert duration(year, None) == timedelta(days=365)
    assert duration(year, 3600) == timedelta(hours=1)
    assert duration(year, 60) == timedelta(minutes=10)
    assert duration(3600.0, 7200) == timedelta(hours=1)


def test_legacy_unknown_is_not_served():
    req = parsed(x509_request())
    assert validation_error("kubernetes.io/legacy-unknown", req, ["client auth"]) == (
        "signer kubernetes.io/legacy-unknown is not served by this controller manager")


def test_only_approved_unissued_requests_for_served_signers_are_wanted():
    approved = [{"type": "Approved", "status": "True"}]
    pem = x509_request()
    assert CSRSigningController.wanted(csr_object(pem, conditions=approved))
    assert not CSRSigningController.wanted(csr_object(pem))
    assert not CSRSigningController.wanted(csr_object(pem, conditions=[*approved, {"type": "Failed",
                                                                                   "status": "True"}]))
    assert not CSRSigningController.wanted(csr_object(pem, signer="example.com/other", conditions=approved))
    assert CSRSigningController.wanted(csr_object(pem, signer=KUBELET_CLIENT, conditions=approved))


def test_without_signing_files_the_signer_is_left_off():
    assert CSRSigningController.options(ControllerManagerConfig()) is None
    options = CSRSigningController.options(ControllerManagerConfig(cluster_signing_cert_file="/ca.crt",
                                                                   cluster_signing_key_file="/ca.key"))
    assert options == {"cert_file": "/ca.crt", "key_file": "/ca.key", "duration_seconds": 365 * 24 * 3600.0}
