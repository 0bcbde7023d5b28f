"""Role-based access control: Roles, ClusterRoles and their bindings, evaluated per request.

Evaluation follows Kubernetes' RBAC authorizer: ClusterRoleBindings first, then (for namespaced
requests) the RoleBindings of the request's namespace; the first rule that matches allows. RBAC
never denies outright: no match is "no opinion", with the role lookups that failed as the reason.

Aggregated ClusterRoles (``aggregationRule.clusterRoleSelectors``) are resolved here from the
labels of the other ClusterRoles at evaluation time, so no controller has to write their rules
first; :func:`aggregated_rules` is the same computation for a controller that does want to.
"""

from __future__ import annotations

from collections.abc import Iterator, Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any, Protocol

from kubeprov.api.fielderrors import go_quote
from kubeprov.api.labels import Selector, SelectorError, from_label_selector
from kubeprov.apiserver.auth.attributes import NO_OPINION, Attributes, Decision, aggregate_messages
from kubeprov.apiserver.auth.user import UserInfo, split_service_account_username

Rule = Mapping[str, Any]


class RbacSource(Protocol):
    """Read access to the RBAC objects, e.g. a view over the server's watch cache."""

    def roles(self, namespace: str) -> list[dict]: ...

    def role_bindings(self, namespace: str) -> list[dict]: ...

    def cluster_roles(self) -> list[dict]: ...

    def cluster_role_bindings(self) -> list[dict]: ...


# ----------------------------------------------------------------------------- rule matching


def _has(values: Sequence[str] | None, wanted: str, wildcard: str = "*") -> bool:
    values = values or ()
    return wildcard in values or wanted in values


def resource_matches(rule: Rule, combined: str, subresource: str) -> bool:
    """``*``, the exact ``resource[/subresource]``, or ``*/subresource`` for any parent."""
    for resource in rule.get("resources") or ():
        if resource in ("*", combined):
            return True
        if subresource and resource == f"*/{subresource}":
            return True
    return False


def non_resource_url_matches(rule: Rule, path: str) -> bool:
    """``*``, the exact path, or a prefix ending in ``*``."""
    for url in rule.get("nonResourceURLs") or ():
        if url in ("*", path):
            return True
        if url.endswith("*") and path.startswith(url.rstrip("*")):
            return True
    return False


def rule_allows(attrs: Attributes, rule: Rule) -> bool:
    """Whether one PolicyRule covers the request."""
    if not _has(rule.get("verbs"), attrs.verb):
        return False
    if not attrs.resource_request:
        return non_resource_url_matches(rule, attrs.path)
    names = rule.get("resourceNames") or ()
    return (
        _has(rule.get("apiGroups"), attrs.api_group)
        and resource_matches(rule, attrs.combined_resource, attrs.subresource)
        and (not names or attrs.name in names)
    )


def rules_allow(attrs: Attributes, rules: Sequence[Rule]) -> bool:
    return any(rule_allows(attrs, rule) for rule in rules)


# ----------------------------------------------------------------------------- aggregation


def _name(obj: Mapping[str, Any]) -> str:
    return str((obj.get("metadata") or {}).get("name") or "")


def _labels(obj: Mapping[str, Any]) -> Mapping[str, str]:
    return (obj.get("metadata") or {}).get("labels") or {}


def _selectors(cluster_role: Mapping[str, Any]) -> list[Selector] | None:
    """The parsed selectors of an aggregated role, or None for a plain role."""
    rule = cluster_role.get("aggregationRule")
    if rule is None:
        return None
    selectors: list[Selector] = []
    for raw in rule.get("clusterRoleSelectors") or ():
        try:
            selectors.append(from_label_selector(raw))
        except SelectorError:
            continue  # an unusable selector selects nothing, as the aggregation controller skips it
    return selectors


class _ClusterRoles:
    """ClusterRoles of one evaluation, by name, with aggregated rules resolved once."""

    def __init__(self, roles: Sequence[Mapping[str, Any]]) -> None:
        self._by_name = {_name(r): r for r in roles}
        self._sorted = sorted(self._by_name.values(), key=_name)
        self._resolved: dict[str, list[Rule]] = {}

    def get(self, name: str) -> Mapping[str, Any] | None:
        return self._by_name.get(name)

    def rules_of(self, role: Mapping[str, Any], visiting: frozenset[str] = frozenset()) -> list[Rule]:
        name = _name(role)
        selectors = _selectors(role)
        if selectors is None:
            return list(role.get("rules") or [])
        if name in self._resolved:
            return self._resolved[name]
        visiting = visiting | {name}
        rules: list[Rule] = []
        for other in self._sorted:
            other_name = _name(other)
            if other_name in visiting or not any(s.matches(_labels(other)) for s in selectors):
                continue
            for rule in self.rules_of(other, visiting):
                if rule not in rules:
                    rules.append(rule)
        self._resolved[name] = rules
        return rules


def aggregated_rules(cluster_role: Mapping[str, Any], cluster_roles: Sequence[Mapping[str, Any]]) -> list[dict]:
    """The rules an aggregated ClusterRole stands for: those of every role its selectors pick
    (transitively, each rule once); a role without ``aggregationRule`` keeps its own rules."""
    roles = _ClusterRoles([r for r in cluster_roles if _name(r) != _name(cluster_role)] + [cluster_role])
    return [dict(rule) for rule in roles.rules_of(cluster_role)]


# ----------------------------------------------------------------------------- bindings


def _subject_applies(user: UserInfo, subject: Mapping[str, Any], namespace: str) -> bool:
    kind, name = subject.get("kind"), subject.get("name") or ""
    if kind == "User":
        return user.name == name
    if kind == "Group":
        return name in user.groups
    if kind == "ServiceAccount":
        sa_namespace = subject.get("namespace") or namespace
        return bool(sa_namespace) and split_service_account_username(user.name) == (sa_namespace, name)
    return False


def _describe_subject(subject: Mapping[str, Any], binding_namespace: str) -> str:
    kind, name = subject.get("kind") or "", subject.get("name") or ""
    if kind == "ServiceAccount":
        return f"{kind} {go_quote(name + '/' + (subject.get('namespace') or binding_namespace))}"
    return f"{kind} {go_quote(name)}"


def _describe_binding(binding: Mapping[str, Any], subject: Mapping[str, Any], namespace: str) -> str:
    ref = binding.get("roleRef") or {}
    ref_text = f"{ref.get('kind') or ''} {go_quote(ref.get('name') or '')}"
    if namespace:
        label = f"RoleBinding {go_quote(_name(binding) + '/' + namespace)}"
    else:
        label = f"ClusterRoleBinding {go_quote(_name(binding))}"
    return f"{label} of {ref_text} to {_describe_subject(subject, namespace)}"


class _RoleNotFound(Exception):
    pass


@dataclass
class RuleSet:
    """Everything a user may do in a namespace, as SelfSubjectRulesReview reports it."""

    resource_rules: list[dict] = field(default_factory=list)
    non_resource_rules: list[dict] = field(default_factory=list)
    incomplete: bool = False
    errors: list[str] = field(default_factory=list)

    @property
    def evaluation_error(self) -> str:
        return aggregate_messages(self.errors)


def _resource_rule(rule: Rule) -> dict:
    out: dict[str, Any] = {"verbs": list(rule.get("verbs") or [])}
    for key in ("apiGroups", "resources", "resourceNames"):
        if rule.get(key):
            out[key] = list(rule[key])
    return out


def _non_resource_rule(rule: Rule) -> dict:
    return {"verbs": list(rule.get("verbs") or []), "nonResourceURLs": list(rule.get("nonResourceURLs") or [])}


class RbacAuthorizer:
    """Kubernetes' RBAC authorizer over an :class:`RbacSource`."""

    def __init__(self, source: RbacSource) -> None:
        self._source = source

    def _role_ref_rules(self, ref: Mapping[str, Any], namespace: str, cluster_roles: _ClusterRoles) -> list[Rule]:
        kind, name = ref.get("kind"), str(ref.get("name") or "")
        if kind == "Role":
            for role in self._source.roles(namespace) if namespace else ():
                if _name(role) == name:
                    return list(role.get("rules") or [])
            raise _RoleNotFound(f"role.rbac.authorization.k8s.io {go_quote(name)} not found")
        if kind == "ClusterRole":
            cluster_role = cluster_roles.get(name)
            if cluster_role is None:
                raise _RoleNotFound(f"clusterrole.rbac.authorization.k8s.io {go_quote(name)} not found")
            return cluster_roles.rules_of(cluster_role)
        raise _RoleNotFound(f"unsupported role reference kind: {go_quote(str(kind or ''))}")

    def _visit(self, user: UserInfo, namespace: str) -> Iterator[tuple[str, Rule | None, str]]:
        """Yield ``(source, rule, "")`` for each rule that applies, ``("", None, error)`` per failed lookup."""
        cluster_roles = _ClusterRoles(self._source.cluster_roles())
        scopes: list[tuple[str, list[dict]]] = [("", self._source.cluster_role_bindings())]
        if namespace:
            scopes.append((namespace, self._source.role_bindings(namespace)))
        for scope, bindings in scopes:
            for binding in bindings:
                subject = next((s for s in binding.get("subjects") or () if _subject_applies(user, s, scope)), None)
                if subject is None:
                    continue
                try:
                    rules = self._role_ref_rules(binding.get("roleRef") or {}, scope, cluster_roles)
                except _RoleNotFound as exc:
                    yield "", None, str(exc)
                    continue
                source = _describe_binding(binding, subject, scope)
                for rule in rules:
                    yield source, rule, ""

    def authorize(self, attrs: Attributes) -> Decision:
        """Allowed by the first matching rule; otherwise no opinion, with lookup failures as reason."""
        errors: list[str] = []
        for source, rule, error in self._visit(attrs.user, attrs.namespace):
            if rule is not None and rule_allows(attrs, rule):
                return Decision(True, f"RBAC: allowed by {source}")
            if error:
                errors.append(error)
        if errors:
            return Decision(False, f"RBAC: {aggregate_messages(errors)}")
        return NO_OPINION

    def resolve_rules(self, user: UserInfo, namespace: str) -> RuleSet:
        """Every rule that applies to ``user`` in ``namespace``, and the lookups that failed."""
        result = RuleSet()
        for _source, rule, error in self._visit(user, namespace):
            if error:
                result.errors.append(error)
            if rule is None:
                continue
            if rule.get("resources"):
                result.resource_rules.append(_resource_rule(rule))
            if rule.get("nonResourceURLs"):
                result.non_resource_rules.append(_non_resource_rule(rule))
        return result

    def rules_for(self, user: UserInfo, namespace: str) -> tuple[list[dict], list[dict], bool]:
        """``(resourceRules, nonResourceRules, incomplete)`` for SelfSubjectRulesReview.

        RBAC itself never reports incomplete rules; failed lookups are in :meth:`resolve_rules`.
        """
        rules = self.resolve_rules(user, namespace)
        return rules.resource_rules, rules.non_resource_rules, rules.incomplete
