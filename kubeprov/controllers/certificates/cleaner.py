"""Garbage collection of CertificateSigningRequests (kube-controller-manager's ``csrcleaner``).

Requests are only useful for a while: an issued certificate is collected an hour after approval (or
once it has expired), a denied or failed request after an hour, one nobody decided on after a day.
Each request is looked at again when its time is due.
"""

from __future__ import annotations

import base64
from datetime import UTC, datetime, timedelta
from typing import Any

from cryptography import x509

from kubeprov.api.status import StatusError
from kubeprov.controllers.base import Controller, Obj, meta
from kubeprov.controllers.certificates import csr as c

APPROVED_EXPIRATION = timedelta(hours=1)
DENIED_EXPIRATION = timedelta(hours=1)
FAILED_EXPIRATION = timedelta(hours=1)
PENDING_EXPIRATION = timedelta(hours=24)


def _condition_time(cond: Obj | None) -> datetime | None:
    if cond is None:
        return None
    return c.parse_stamp(cond.get("lastUpdateTime") or cond.get("lastTransitionTime") or "")


def certificate_expiry(csr: Obj) -> datetime | None:
    encoded = c.issued_certificate(csr)
    if not encoded:
        return None
    try:
        cert = x509.load_pem_x509_certificate(base64.b64decode(encoded))
    except ValueError:
        return None
    return cert.not_valid_after_utc


def deadline(csr: Obj) -> datetime | None:
    """When ``csr`` is due for deletion (None: never, e.g. timestamps missing)."""
    due: list[datetime] = []
    expiry = certificate_expiry(csr)
    if expiry is not None:
        due.append(expiry)
        approved = _condition_time(c.condition(csr, "Approved"))
        if approved is not None:
            due.append(approved + APPROVED_EXPIRATION)
    denied = _condition_time(c.condition(csr, "Denied"))
    if denied is not None:
        due.append(denied + DENIED_EXPIRATION)
    failed = _condition_time(c.condition(csr, "Failed"))
    if failed is not None:
        due.append(failed + FAILED_EXPIRATION)
    if not c.is_decided(csr) and c.condition(csr, "Failed") is None and expiry is None:
        created = c.parse_stamp(meta(csr).get("creationTimestamp", ""))
        if created is not None:
            due.append(created + PENDING_EXPIRATION)
    return min(due) if due else None


class CSRCleanerController(Controller):
    name = "csrcleaner"
    service_account = "certificate-controller"

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        self.csrs = self.informer(c.API_VERSION, c.RESOURCE)
        self.csrs.add_handler(on_add=self._csr, on_update=lambda _old, new: self._csr(new))

    def _csr(self, csr: Obj) -> None:
        self.enqueue(meta(csr).get("name", ""))

    async def sync(self, key: str) -> None:
        csr = self.csrs.get("", key)
        if csr is None:
            return
        due = deadline(csr)
        if due is None:
            return
        wait = (due - datetime.now(UTC)).total_seconds()
        if wait > 0:
            self.queue.add_after(key, wait + 1)
            return
        try:
            await self.client.delete(c.API_VERSION, c.RESOURCE, key,
                                     preconditions={"uid": meta(csr).get("uid")} if meta(csr).get("uid") else None)
        except StatusError as exc:
            if exc.code not in (404, 409):
                raise
            return
        self.log.info("deleted CSR %s (due since %s)", key, c.now_stamp(due))
