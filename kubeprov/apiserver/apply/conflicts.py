"""Apply conflicts and the 409 ``Status`` Kubernetes sends for them.

kubectl tells people to re-run with ``--force-conflicts`` based on this error and prints its
message as is, so the wording follows the API server's (``getConflictMessage`` in
``k8s.io/apimachinery/pkg/util/managedfields``): one conflict is a single sentence, several are
grouped by manager, managers sorted by their identifier.
"""

from __future__ import annotations

import json
from dataclasses import dataclass
from typing import Any

from kubeprov.api.fielderrors import go_quote
from kubeprov.api.status import StatusError, failure


@dataclass(frozen=True)
class Conflict:
    """A field the applied configuration changes while ``manager`` owns it."""

    manager: str
    operation: str  # "Apply" or "Update"
    api_version: str
    field_path: str  # ".spec.replicas", ".spec.template.spec.containers[name=\"web\"].image"
    subresource: str = ""

    @property
    def identifier(self) -> str:
        """The manager as Kubernetes identifies it (the order conflicts are reported in)."""
        return manager_identifier(self.manager, self.operation, self.api_version, self.subresource)

    def manager_text(self) -> str:
        """``"kubectl-edit" using apps/v1``, ``"ci"``, ``"kcm" with subresource "status" using v1``."""
        text = go_quote(self.manager)
        if self.subresource:
            text += f" with subresource {go_quote(self.subresource)}"
        if self.operation == "Update":
            text += f" using {self.api_version}"
        return text


def manager_identifier(manager: str, operation: str, api_version: str, subresource: str = "") -> str:
    """One managedFields entry per identifier: appliers are one entry whatever the version they
    applied, updaters one per version."""
    ident: dict[str, str] = {"manager": manager, "operation": operation}
    if operation != "Apply" and api_version:
        ident["apiVersion"] = api_version
    if subresource:
        ident["subresource"] = subresource
    return json.dumps(ident, separators=(",", ":"), ensure_ascii=False)


def conflict_message(conflicts: list[Conflict]) -> str:
    """``Apply failed with N conflict(s): ...`` exactly as Kubernetes words it."""
    if len(conflicts) == 1:
        only = conflicts[0]
        return f"Apply failed with 1 conflict: conflict with {only.manager_text()}: {only.field_path}"
    by_manager: dict[str, list[Conflict]] = {}
    for item in conflicts:
        by_manager.setdefault(item.identifier, []).append(item)
    lines: list[str] = []
    for ident in sorted(by_manager):
        group = by_manager[ident]
        lines.append(f"conflicts with {group[0].manager_text()}:")
        lines.extend(f"- {item.field_path}" for item in group)
    return f"Apply failed with {len(conflicts)} conflicts: " + "\n".join(lines)


class ApplyConflict(StatusError):
    """Server-side apply would change fields other managers own (HTTP 409)."""

    def __init__(self, conflicts: list[Conflict]) -> None:
        self.conflicts = list(conflicts)
        super().__init__(self.to_status())

    def to_status(self, group_resource: str = "", name: str = "") -> dict[str, Any]:
        """The 409 ``Status``. Kubernetes leaves the object's name and kind out of the details of
        this error (only the causes are there), so ``group_resource`` and ``name`` are accepted
        for symmetry with the other builders but not used."""
        causes = [
            {
                "reason": "FieldManagerConflict",
                "message": f"conflict with {item.manager_text()}",
                "field": item.field_path,
            }
            for item in self.conflicts
        ]
        return failure(409, "Conflict", conflict_message(self.conflicts), {"causes": causes})
