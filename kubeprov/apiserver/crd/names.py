"""Which names a CRD may have, and the status Kubernetes writes for it.

Kubernetes' naming controller accepts a CRD's names unless another CRD of the same group
already holds them (plural, singular and short names share one namespace, kind and listKind
another); a name the CRD already had accepted stays its own. Here built-in resources of the
group hold their names too, and CRDs are considered oldest first so the older one keeps a
contested name.
"""

from __future__ import annotations

import copy
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import Any

from kubeprov.api.fielderrors import aggregate
from kubeprov.apiserver.crd import spec

Obj = dict[str, Any]

NAMES_ACCEPTED = "NamesAccepted"
ESTABLISHED = "Established"
TERMINATING = "Terminating"


def now_rfc3339() -> str:
    return datetime.now(UTC).strftime("%Y-%m-%dT%H:%M:%SZ")


@dataclass
class Claims:
    """Names taken in one group: resource names (plural, singular, short) and kinds (kind, listKind)."""

    resources: set[str] = field(default_factory=set)
    kinds: set[str] = field(default_factory=set)

    def take(self, names: Obj) -> None:
        self.resources.update(n for n in (names.get("plural"), names.get("singular")) if n)
        self.resources.update(names.get("shortNames") or ())
        self.kinds.update(n for n in (names.get("kind"), names.get("listKind")) if n)


@dataclass(frozen=True)
class Acceptance:
    """The outcome for one CRD: the names it may use and its NamesAccepted condition."""

    names: Obj
    accepted: bool
    reason: str = "NoConflicts"
    message: str = "no conflicts found"


def _in_use(requested: str, accepted: str, used: set[str]) -> str:
    """``equalToAcceptedOrFresh``: the error text when ``requested`` belongs to someone else."""
    if requested == accepted or requested not in used:
        return ""
    return f'"{requested}" is already in use'


def accept(crd: Obj, claims: Claims) -> Acceptance:
    """Check ``crd``'s requested names against names others hold, as the naming controller does."""
    requested = spec.names(crd)
    previous = ((crd.get("status") or {}).get("acceptedNames") or {}) if isinstance(crd.get("status"), dict) else {}
    reason, message = "", ""
    checks = (("plural", "PluralConflict", claims.resources), ("singular", "SingularConflict", claims.resources))
    for key, why, used in checks:
        error = _in_use(requested.get(key, ""), previous.get(key, ""), used)
        if error:
            reason, message = why, error
    own_short = set(previous.get("shortNames") or ())
    short_errors = [_in_use(s, "", claims.resources) for s in requested.get("shortNames", []) if s not in own_short]
    short_errors = [e for e in short_errors if e]
    if short_errors:
        reason, message = "ShortNamesConflict", aggregate(short_errors)
    for key, why in (("kind", "KindConflict"), ("listKind", "ListKindConflict")):
        error = _in_use(requested.get(key, ""), previous.get(key, ""), claims.kinds)
        if error:
            reason, message = why, error
    if reason:
        return Acceptance(requested, False, reason, message)
    return Acceptance(requested, True)


def set_condition(conditions: list[Obj], condition: Obj, now: str) -> None:
    """``SetCRDCondition``: update in place; the transition time moves only when the status does."""
    for existing in conditions:
        if existing.get("type") == condition["type"]:
            if existing.get("status") != condition["status"]:
                existing["status"] = condition["status"]
                existing["lastTransitionTime"] = now
            existing["reason"] = condition["reason"]
            existing["message"] = condition["message"]
            return
    conditions.append({"type": condition["type"], "status": condition["status"], "lastTransitionTime": now,
                       "reason": condition["reason"], "message": condition["message"]})


def condition(crd: Obj, kind: str) -> Obj | None:
    status = crd.get("status") if isinstance(crd.get("status"), dict) else {}
    for entry in status.get("conditions") or ():
        if isinstance(entry, dict) and entry.get("type") == kind:
            return entry
    return None


def is_true(crd: Obj, kind: str) -> bool:
    found = condition(crd, kind)
    return found is not None and found.get("status") == "True"


def desired_status(crd: Obj, acceptance: Acceptance, now: str) -> Obj:
    """The status the controllers converge to: accepted names, stored versions and conditions."""
    status = copy.deepcopy(crd.get("status")) if isinstance(crd.get("status"), dict) else {}
    conditions = [c for c in status.get("conditions") or () if isinstance(c, dict)]
    if acceptance.accepted:
        status["acceptedNames"] = copy.deepcopy(acceptance.names)
        set_condition(conditions, {"type": NAMES_ACCEPTED, "status": "True", "reason": acceptance.reason,
                                   "message": acceptance.message}, now)
        set_condition(conditions, {"type": ESTABLISHED, "status": "True", "reason": "InitialNamesAccepted",
                                   "message": "the initial names have been accepted"}, now)
    else:
        status.setdefault("acceptedNames", {"plural": "", "kind": ""})
        set_condition(conditions, {"type": NAMES_ACCEPTED, "status": "False", "reason": acceptance.reason,
                                   "message": acceptance.message}, now)
        if not is_true(crd, ESTABLISHED):
            set_condition(conditions, {"type": ESTABLISHED, "status": "False", "reason": "NotAccepted",
                                       "message": "not all names are accepted"}, now)
    status["conditions"] = conditions
    stored = [v for v in status.get("storedVersions") or () if isinstance(v, str)]
    storage = spec.storage_version(crd)
    if storage and storage not in stored:
        stored.append(storage)
    status["storedVersions"] = stored
    return status


def terminating_status(crd: Obj, reason: str, message: str, *, in_progress: bool, now: str) -> Obj:
    """The status during (``in_progress``) and after the deletion of a CRD's objects."""
    status = copy.deepcopy(crd.get("status")) if isinstance(crd.get("status"), dict) else {}
    conditions = [c for c in status.get("conditions") or () if isinstance(c, dict)]
    set_condition(conditions, {"type": TERMINATING, "status": "True" if in_progress else "False", "reason": reason,
                               "message": message}, now)
    status["conditions"] = conditions
    return status
