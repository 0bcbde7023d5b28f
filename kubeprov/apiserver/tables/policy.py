"""Printer of policy/v1 pod disruption budgets."""

from __future__ import annotations

from kubeprov.apiserver.tables.age import since
from kubeprov.apiserver.tables.common import AGE, NAME, Column, Printer, creation, get, name_of


def _bound(pdb: dict, field: str) -> str:
    value = get(pdb, "spec", field)
    return "N/A" if value is None else str(value)


POD_DISRUPTION_BUDGET = Printer(
    (NAME, Column("Min Available", description="The minimum number of pods that must be available."),
     Column("Max Unavailable", description="The maximum number of pods that may be unavailable."),
     Column("Allowed Disruptions", "integer", "Calculated number of pods that may be disrupted at this time."),
     AGE),
    lambda pdb, now: [name_of(pdb), _bound(pdb, "minAvailable"), _bound(pdb, "maxUnavailable"),
                      get(pdb, "status", "disruptionsAllowed", default=0), since(creation(pdb), now)],
)
