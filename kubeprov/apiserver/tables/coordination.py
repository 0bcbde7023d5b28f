"""Printer of coordination.k8s.io/v1 leases."""

from __future__ import annotations

from kubeprov.apiserver.tables.age import since
from kubeprov.apiserver.tables.common import AGE, NAME, Column, Printer, creation, get, name_of

LEASE = Printer(
    (NAME, Column("Holder", description="The identity of the current holder of the lease."), AGE),
    lambda lease, now: [name_of(lease), get(lease, "spec", "holderIdentity", default=""), since(creation(lease), now)],
)
