"""Printer of certificates.k8s.io/v1 certificate signing requests."""

from __future__ import annotations

from datetime import datetime, timedelta

from kubeprov.apiserver.tables.age import human_duration, since
from kubeprov.apiserver.tables.common import AGE, NAME, NONE, Column, Printer, creation, get, name_of


def csr_condition(csr: dict) -> str:
    """Denied, Approved or Pending, then ``,Failed`` and ``,Issued`` when they apply."""
    kinds = {c.get("type") for c in get(csr, "status", "conditions", default=[])}
    text = "Denied" if "Denied" in kinds else "Approved" if "Approved" in kinds else "Pending"
    if "Failed" in kinds:
        text += ",Failed"
    if get(csr, "status", "certificate"):
        text += ",Issued"
    return text


def _csr_cells(csr: dict, now: datetime) -> list:
    spec = csr.get("spec") or {}
    seconds = spec.get("expirationSeconds")
    duration = NONE if seconds is None else human_duration(timedelta(seconds=seconds))
    return [name_of(csr), since(creation(csr), now), spec.get("signerName") or NONE, spec.get("username", ""),
            duration, csr_condition(csr)]


CERTIFICATE_SIGNING_REQUEST = Printer(
    (NAME, AGE, Column("SignerName", description="The signer asked to sign the certificate."),
     Column("Requestor", description="The user that created the request."),
     Column("RequestedDuration", description="The validity duration the requestor asked for."),
     Column("Condition", description="Whether the request is approved, denied, failed or issued.")),
    _csr_cells,
)
