"""What a request asks to do, and what an authorizer answers."""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from typing import Any

from kubeprov.api.fields import SelectorError
from kubeprov.api.fields import parse as parse_field_selector
from kubeprov.apiserver.auth.user import UserInfo


@dataclass(frozen=True)
class Attributes:
    """The authorization attributes of one request (Kubernetes' ``authorizer.Attributes``).

    ``field_selector`` / ``label_selector`` hold the raw ``fieldSelector=`` / ``labelSelector=``
    of a list or watch: the Node authorizer lets a kubelet list pods only with
    ``spec.nodeName=<its node>``. For a list or watch pinned to one object by
    ``metadata.name=<name>``, ``name`` should carry that name, as Kubernetes' request info does.
    """

    user: UserInfo
    verb: str
    resource_request: bool
    path: str = ""
    api_group: str = ""
    api_version: str = ""
    resource: str = ""
    subresource: str = ""
    namespace: str = ""
    name: str = ""
    field_selector: str = ""
    label_selector: str = ""

    @property
    def combined_resource(self) -> str:
        """``pods`` or ``pods/exec``: how RBAC rules and messages name the target."""
        return f"{self.resource}/{self.subresource}" if self.subresource else self.resource


@dataclass(frozen=True)
class Decision:
    """An authorizer's answer.

    ``allowed=False`` with ``denied_explicitly=False`` is "no opinion": the next authorizer in the
    chain is asked. ``reason`` explains either outcome and ends up in 403 messages and reviews.
    """

    allowed: bool
    reason: str = ""
    denied_explicitly: bool = False


NO_OPINION = Decision(False)


def resource_attributes(user: UserInfo, spec: Mapping[str, Any]) -> Attributes:
    """Attributes from a review's ``resourceAttributes`` (an empty version matches every version)."""
    return Attributes(
        user=user,
        verb=str(spec.get("verb") or ""),
        resource_request=True,
        api_group=str(spec.get("group") or ""),
        api_version=str(spec.get("version") or "*"),
        resource=str(spec.get("resource") or ""),
        subresource=str(spec.get("subresource") or ""),
        namespace=str(spec.get("namespace") or ""),
        name=str(spec.get("name") or ""),
        field_selector=str((spec.get("fieldSelector") or {}).get("rawSelector") or ""),
        label_selector=str((spec.get("labelSelector") or {}).get("rawSelector") or ""),
    )


def non_resource_attributes(user: UserInfo, spec: Mapping[str, Any]) -> Attributes:
    """Attributes from a review's ``nonResourceAttributes``."""
    return Attributes(
        user=user,
        verb=str(spec.get("verb") or ""),
        resource_request=False,
        path=str(spec.get("path") or ""),
    )


def name_from_field_selector(field_selector: str) -> str:
    """The object a list or watch is pinned to by ``metadata.name=<name>``, else "".

    Kubernetes' request info puts this name on list/watch requests so that authorizers can allow
    watching one object (kubelets watch their Node, Secrets and ConfigMaps this way, and RBAC
    ``resourceNames`` apply); use it for ``Attributes.name`` when the path names no object.
    """
    try:
        name = parse_field_selector(field_selector).requires_exact_match("metadata.name")
    except SelectorError:
        return ""
    if not name or name in (".", "..") or "/" in name or "%" in name:
        return ""
    return name


def aggregate_messages(messages: Iterable[str]) -> str:
    """Join errors as Kubernetes' ``utilerrors.NewAggregate`` prints them.

    One distinct message prints bare; several print as ``[a, b]`` with duplicates dropped.
    """
    seen: list[str] = []
    for message in messages:
        if message not in seen:
            seen.append(message)
    if len(seen) <= 1:
        return seen[0] if seen else ""
    return "[" + ", ".join(seen) + "]"
