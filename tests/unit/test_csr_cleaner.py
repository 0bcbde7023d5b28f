"""csrcleaner: when a CertificateSigningRequest is due for deletion."""

from __future__ import annotations

import base64
from datetime import UTC, datetime, timedelta
from pathlib import Path

from cryptography import x509

from kubeprov.controllers.certificates.cleaner import deadline
from kubeprov.controllers.certificates.signer import sign
from kubeprov.pki.keys import parse_private_key
from tests.unit.test_csr_fakes import csr_object, parsed, write_ca, x509_request

CREATED = datetime(2025, 1, 1, tzinfo=UTC)


def cond(type_: str, at: str) -> dict:
    return {"type": type_, "status": "True", "lastUpdateTime": at}


def test_a_pending_request_is_due_a_day_after_creation():
    assert deadline(csr_object(x509_request())) == CREATED + timedelta(hours=24)


def test_a_denied_request_is_due_an_hour_after_denial():
    csr = csr_object(x509_request(), conditions=[cond("Denied", "2025-01-01T02:00:00Z")])
    assert deadline(csr) == datetime(2025, 1, 1, 3, tzinfo=UTC)


def test_a_failed_request_is_due_an_hour_after_failing():
    csr = csr_object(x509_request(), conditions=[cond("Approved", "2025-01-01T02:00:00Z"),
                                                 cond("Failed", "2025-01-01T02:10:00Z")])
    assert deadline(csr) == datetime(2025, 1, 1, 3, 10, tzinfo=UTC)


def test_an_approved_request_waiting_for_its_certificate_is_not_due():
    assert deadline(csr_object(x509_request(), conditions=[cond("Approved", "2025-01-01T02:00:00Z")])) is None


def test_an_issued_request_is_due_an_hour_after_approval_or_at_expiry_if_sooner(tmp_path: Path):
    crt, key = write_ca(tmp_path)
    ca = x509.load_pem_x509_certificate(crt.read_bytes())
    pem = sign(parsed(x509_request()), ["client auth"], timedelta(minutes=10), ca,
               parse_private_key(key.read_bytes(), "k"))
    expiry = x509.load_pem_x509_certificate(pem).not_valid_after_utc
    csr = csr_object(x509_request(), conditions=[cond("Approved", "2999-01-01T00:00:00Z")])
    csr["status"]["certificate"] = base64.b64encode(pem).decode()
    assert deadline(csr) == expiry
    csr["status"]["conditions"] = [cond("Approved", "2025-01-01T00:00:00Z")]
    assert deadline(csr) == datetime(2025, 1, 1, 1, tzinfo=UTC)
