"""Who a request comes from, as the authenticators establish it and the authorizers see it."""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field, replace

ANONYMOUS_USER = "system:anonymous"
AUTHENTICATED_GROUP = "system:authenticated"
UNAUTHENTICATED_GROUP = "system:unauthenticated"
MASTERS_GROUP = "system:masters"
NODES_GROUP = "system:nodes"
NODE_USER_PREFIX = "system:node:"
SERVICE_ACCOUNT_USER_PREFIX = "system:serviceaccount:"
SERVICE_ACCOUNTS_GROUP = "system:serviceaccounts"


@dataclass(frozen=True)
class UserInfo:
    """An authenticated (or anonymous) identity; ``extra`` carries e.g. the pod a token is bound to."""

    name: str
    uid: str = ""
    groups: tuple[str, ...] = ()
    extra: Mapping[str, tuple[str, ...]] = field(default_factory=dict, hash=False)

    def in_group(self, group: str) -> bool:
        return group in self.groups

    def to_api(self) -> dict[str, object]:
        """The ``UserInfo`` shape of TokenReview / SelfSubjectReview (empty fields left out)."""
        out: dict[str, object] = {"username": self.name}
        if self.uid:
            out["uid"] = self.uid
        if self.groups:
            out["groups"] = list(self.groups)
        if self.extra:
            out["extra"] = {k: list(v) for k, v in self.extra.items()}
        return out


ANONYMOUS = UserInfo(ANONYMOUS_USER, groups=(UNAUTHENTICATED_GROUP,))


def with_authenticated_group(user: UserInfo) -> UserInfo:
    """Append ``system:authenticated`` unless the user already carries it (or is unauthenticated)."""
    if AUTHENTICATED_GROUP in user.groups or UNAUTHENTICATED_GROUP in user.groups:
        return user
    return replace(user, groups=(*user.groups, AUTHENTICATED_GROUP))


def service_account_username(namespace: str, name: str) -> str:
    return f"{SERVICE_ACCOUNT_USER_PREFIX}{namespace}:{name}"


def split_service_account_username(username: str) -> tuple[str, str] | None:
    """``system:serviceaccount:ns:name`` → ``("ns", "name")``; None for any other user name."""
    if not username.startswith(SERVICE_ACCOUNT_USER_PREFIX):
        return None
    namespace, sep, name = username[len(SERVICE_ACCOUNT_USER_PREFIX) :].partition(":")
    if not sep or not namespace or not name or ":" in name:
        return None
    return namespace, name


def service_account_groups(namespace: str) -> tuple[str, ...]:
    return (SERVICE_ACCOUNTS_GROUP, f"{SERVICE_ACCOUNTS_GROUP}:{namespace}")


def node_identity(user: UserInfo) -> tuple[str, bool]:
    """``(node name, is a node)`` as Kubernetes' node identifier decides it.

    A node is a user named ``system:node:<name>`` in the ``system:nodes`` group; the name may come
    out empty (``system:node:``), which the Node authorizer treats as an unidentifiable node.
    """
    if not user.name.startswith(NODE_USER_PREFIX) or NODES_GROUP not in user.groups:
        return "", False
    return user.name[len(NODE_USER_PREFIX) :], True
