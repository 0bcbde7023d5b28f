"""Printer of scheduling.k8s.io/v1 priority classes."""

from __future__ import annotations

from kubeprov.apiserver.tables.age import since
from kubeprov.apiserver.tables.common import AGE, NAME, Column, Printer, creation, name_of

PRIORITY_CLASS = Printer(
    (NAME, Column("Value", "integer", "The priority given to pods of this class."),
     Column("Global-Default", "boolean", "Whether this class is the default for pods without one."), AGE,
     Column("PreemptionPolicy", description="Whether pods of this class may preempt lower-priority pods.")),
    lambda pc, now: [name_of(pc), pc.get("value", 0), bool(pc.get("globalDefault")), since(creation(pc), now),
                     pc.get("preemptionPolicy") or ""],
)
