"""What one admission decision is about: the operation, the resource, the object (and the old one).

Kubernetes hands every admission plugin an ``admission.Attributes``; this is our equivalent, built
from the REST layer's :class:`Call`. It also carries the error builders plugins share, so each
refusal is worded the way ``admission.NewForbidden`` words it.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

from kubeprov.api import status
from kubeprov.api.status import StatusError

CREATE = "CREATE"
UPDATE = "UPDATE"
DELETE = "DELETE"

Obj = dict[str, Any]


@dataclass
class Attributes:
    operation: str  # CREATE, UPDATE or DELETE
    group: str
    version: str
    resource: str
    subresource: str
    kind: str
    namespace: str  # "" for cluster-scoped resources
    name: str  # the name on the URL, else the object's
    obj: Obj | None
    old: Obj | None
    user_name: str = ""
    user_groups: tuple[str, ...] = ()
    dry_run: bool = False
    # warnings for the response (the caller's list, appended to)
    warnings: list[str] = field(default_factory=list)

    @classmethod
    def from_call(cls, call: Any, obj: Obj | None, old: Obj | None, operation: str = "") -> Attributes:
        info, rt = call.info, call.rt
        meta = (obj or {}).get("metadata") or {}
        user = getattr(call, "user", None)
        return cls(
            operation=operation or (CREATE if old is None else UPDATE),
            group=rt.group,
            version=rt.version,
            resource=rt.resource,
            subresource=info.subresource or "",
            kind=rt.kind,
            namespace=info.namespace if rt.namespaced else "",
            name=info.name or str(meta.get("name") or ""),
            obj=obj,
            old=old,
            user_name=str(getattr(user, "name", "") or ""),
            user_groups=tuple(getattr(user, "groups", ()) or ()),
            dry_run=bool(getattr(call, "dry_run", False)),
            warnings=call.warnings,
        )

    # ---- what it is about -----------------------------------------------------------------

    @property
    def group_resource(self) -> str:
        """``pods``, ``deployments.apps``: how Kubernetes names the resource in messages."""
        return f"{self.resource}.{self.group}" if self.group else self.resource

    def is_core(self, resource: str) -> bool:
        return self.group == "" and self.resource == resource

    @property
    def object_name(self) -> str:
        """The name ``admission.NewForbidden`` puts in messages: the object's name, else its
        ``generateName`` (names are generated after the mutating phase), else ``Unknown``."""
        if self.obj is None:
            return "Unknown"
        meta = self.obj.get("metadata") or {}
        return str(meta.get("name") or meta.get("generateName") or "Unknown")

    def warn(self, message: str) -> None:
        """Add a response warning once (validation may run again when a write is retried)."""
        if message not in self.warnings:
            self.warnings.append(message)

    # ---- refusals -------------------------------------------------------------------------

    def forbidden(self, err: str) -> StatusError:
        """403 as ``admission.NewForbidden``: ``pods "web" is forbidden: <err>``."""
        return StatusError(status.forbidden_with_message(self.group_resource, self.object_name, err))

    def forbidden_named(self, name: str, err: str) -> StatusError:
        """403 as ``errors.NewForbidden(resource, name, err)`` with an explicit name."""
        return StatusError(status.forbidden_with_message(self.group_resource, name, err))


def go_aggregate(messages: list[str]) -> str:
    """``utilerrors.NewAggregate(errs).Error()``: duplicates dropped, several in brackets."""
    seen: list[str] = []
    for msg in messages:
        if msg not in seen:
            seen.append(msg)
    if len(seen) == 1:
        return seen[0]
    return "[" + ", ".join(seen) + "]" if seen else ""


def meta(obj: Obj | None) -> Obj:
    value = (obj or {}).get("metadata")
    return value if isinstance(value, dict) else {}


def mapping(value: Any) -> Obj:
    return value if isinstance(value, dict) else {}


def sequence(value: Any) -> list[Any]:
    return value if isinstance(value, list) else []


def maps(value: Any) -> list[Obj]:
    """The dict items of a list (anything else in it is skipped)."""
    return [item for item in sequence(value) if isinstance(item, dict)]
