"""The authorizer chain the API server asks: system:masters, then Node, then RBAC.

As in Kubernetes, the first authorizer with an opinion decides; when none allows, the reasons
they gave are joined (one per line) and appended to the 403 message.
"""

from __future__ import annotations

from typing import Any

from kubeprov.api import status
from kubeprov.apiserver.auth.attributes import Attributes, Decision
from kubeprov.apiserver.auth.node import NodeAuthorizer
from kubeprov.apiserver.auth.rbac import RbacAuthorizer, RuleSet
from kubeprov.apiserver.auth.user import MASTERS_GROUP, UserInfo, node_identity

NODE_RULES_UNSUPPORTED = "node authorizer does not support user rule resolution"


class Authorizer:
    """The union of the privileged-group, Node and RBAC authorizers."""

    def __init__(self, node: NodeAuthorizer | None, rbac: RbacAuthorizer) -> None:
        self.node = node
        self.rbac = rbac

    def authorize(self, attrs: Attributes) -> Decision:
        if MASTERS_GROUP in attrs.user.groups:
            return Decision(True)
        reasons: list[str] = []
        for authorizer in (self.node, self.rbac):
            if authorizer is None:
                continue
            decision = authorizer.authorize(attrs)
            if decision.allowed or decision.denied_explicitly:
                return decision
            if decision.reason:
                reasons.append(decision.reason)
        return Decision(False, "\n".join(reasons))

    def rules_for(self, user: UserInfo, namespace: str) -> RuleSet:
        """What SelfSubjectRulesReview reports: RBAC's rules, marked incomplete for nodes,
        whose permissions depend on the objects they ask for."""
        return union_rules(self.node, self.rbac, user, namespace)


def union_rules(node: NodeAuthorizer | None, rbac: RbacAuthorizer, user: UserInfo, namespace: str) -> RuleSet:
    rules = rbac.resolve_rules(user, namespace)
    if node is not None and node_identity(user)[1]:
        rules.incomplete = True
        rules.errors.insert(0, NODE_RULES_UNSUPPORTED)
    return rules


def forbidden_status(attrs: Attributes, reason: str = "") -> dict[str, Any]:
    """The 403 ``Status`` the API server sends when ``attrs`` is not allowed."""
    if not attrs.resource_request:
        return status.forbidden_path(attrs.user.name, attrs.verb, attrs.path, reason)
    return status.forbidden(
        attrs.user.name,
        attrs.verb,
        attrs.resource,
        group=attrs.api_group,
        name=attrs.name,
        namespace=attrs.namespace,
        reason=reason,
        subresource=attrs.subresource,
    )


def forbidden_message(attrs: Attributes, reason: str = "") -> str:
    """Kubernetes' 403 wording, e.g. ``pods "web" is forbidden: User "bob" cannot get resource
    "pods" in API group "" in the namespace "default"`` (``: <reason>`` appended when given)."""
    return str(forbidden_status(attrs, reason)["message"])
