"""Printers of rbac.authorization.k8s.io/v1 bindings; roles use the default NAME / CREATED AT table."""

from __future__ import annotations

from datetime import datetime

from kubeprov.apiserver.tables.age import since
from kubeprov.apiserver.tables.common import AGE, NAME, Column, Printer, creation, name_of, wide


def subjects(binding: dict) -> tuple[str, str, str]:
    """USERS, GROUPS and SERVICEACCOUNTS (``namespace/name``), each joined by ``, ``."""
    users, groups, accounts = [], [], []
    for subject in binding.get("subjects") or []:
        kind, name = subject.get("kind"), subject.get("name", "")
        if kind == "ServiceAccount":
            accounts.append(f"{subject.get('namespace', '')}/{name}")
        elif kind == "User":
            users.append(name)
        elif kind == "Group":
            groups.append(name)
    return ", ".join(users), ", ".join(groups), ", ".join(accounts)


def _binding_cells(binding: dict, now: datetime) -> list:
    ref = binding.get("roleRef") or {}
    return [name_of(binding), f"{ref.get('kind', '')}/{ref.get('name', '')}", since(creation(binding), now),
            *subjects(binding)]


def _binding_printer(what: str) -> Printer:
    return Printer(
        (NAME, Column("Role", description="The role the binding grants."), AGE,
         wide("Users", f"Users in the {what}"), wide("Groups", f"Groups in the {what}"),
         wide("ServiceAccounts", f"ServiceAccounts in the {what}")),
        _binding_cells,
    )


ROLE_BINDING = _binding_printer("roleBinding")
CLUSTER_ROLE_BINDING = _binding_printer("clusterRoleBinding")
