"""RBAC evaluation: bindings, scopes, rule matching and ClusterRole aggregation."""

from __future__ import annotations

from kubeprov.apiserver.auth import Attributes, RbacAuthorizer, UserInfo, aggregated_rules
from kubeprov.apiserver.auth.policy import (
    cluster_role,
    cluster_role_binding,
    default_policy,
    group,
    role,
    role_binding,
    rule,
    service_account,
    url_rule,
    user,
)
from tests.unit.auth_fakes import Store

BOB = UserInfo("bob", groups=("system:authenticated",))



def allowed(objects: list[dict], verb: str, resource: str, namespace: str = "", who: UserInfo = BOB, **kw) -> bool:
    attrs = Attributes(who, verb, True, resource=resource, namespace=namespace, **kw)
    return RbacAuthorizer(Store(objects)).authorize(attrs).allowed


def path_allowed(objects: list[dict], path: str, who: UserInfo = BOB, verb: str = "get") -> bool:
    return RbacAuthorizer(Store(objects)).authorize(Attributes(who, verb, False, path=path)).allowed


POD_READER = [
    role("pod-reader", "dev", [rule(("get", "list"), ("",), ("pods",))], defaults=False),
    role_binding("read-pods", "dev", [user("bob")], role_name="pod-reader", defaults=False),
]


def test_role_binding_grants_exactly_the_roles_verbs_in_its_namespace() -> None:
    assert allowed(POD_READER, "get", "pods", "dev", name="web")
    assert allowed(POD_READER, "list", "pods", "dev")
    assert not allowed(POD_READER, "delete", "pods", "dev", name="web")
    assert not allowed(POD_READER, "list", "services", "dev")


def test_role_binding_grants_nothing_in_another_namespace_or_cluster_wide() -> None:
    assert not allowed(POD_READER, "list", "pods", "prod")
    assert not allowed(POD_READER, "list", "pods", "")


def test_cluster_role_through_a_role_binding_is_namespace_scoped() -> None:
    objects = [
        cluster_role("secret-reader", [rule(("get",), ("",), ("secrets",))], defaults=False),
        role_binding("b", "dev", [user("bob")], role_name="secret-reader", role_kind="ClusterRole", defaults=False),
    ]
    assert allowed(objects, "get", "secrets", "dev", name="s")
    assert not allowed(objects, "get", "secrets", "prod", name="s")
    assert not allowed(objects, "get", "secrets", "", name="s")


def test_cluster_role_binding_grants_in_every_namespace_and_cluster_wide() -> None:
    objects = [
        cluster_role("node-reader", [rule(("list",), ("",), ("nodes", "pods"))], defaults=False),
        cluster_role_binding("node-reader", [group("readers")], defaults=False),
    ]
    reader = UserInfo("carol", groups=("readers",))
    assert allowed(objects, "list", "nodes", who=reader)
    assert allowed(objects, "list", "pods", "anywhere", who=reader)
    assert not allowed(objects, "list", "nodes", who=BOB)


def test_resource_names_limit_the_rule_to_those_objects() -> None:
    objects = [
        role("one-cm", "dev", [rule(("get", "list"), ("",), ("configmaps",), names=("app-config",))], defaults=False),
        role_binding("one-cm", "dev", [user("bob")], defaults=False),
    ]
    assert allowed(objects, "get", "configmaps", "dev", name="app-config")
    assert not allowed(objects, "get", "configmaps", "dev", name="other")
    assert not allowed(objects, "list", "configmaps", "dev")  # no name: not covered by resourceNames


def test_wildcards_match_any_verb_group_and_resource() -> None:
    objects = [
        cluster_role("all", [rule(("*",), ("*",), ("*",))], defaults=False),
        cluster_role_binding("all", [user("bob")], defaults=False),
    ]
    assert allowed(objects, "deletecollection", "widgets", "dev", api_group="example.com")
    assert allowed(objects, "create", "pods", "dev", subresource="exec", name="web")
    assert not path_allowed(objects, "/metrics")  # resource wildcards say nothing about URLs


def test_subresources_need_their_own_rule_or_a_star_form() -> None:
    objects = [
        cluster_role(
            "mixed",
            [rule(("get",), ("",), ("pods", "pods/log")), rule(("update",), ("*",), ("*/scale",))],
            defaults=False,
        ),
        cluster_role_binding("mixed", [user("bob")], defaults=False),
    ]
    assert allowed(objects, "get", "pods", "dev", subresource="log", name="web")
    assert not allowed(objects, "get", "pods", "dev", subresource="exec", name="web")
    assert allowed(objects, "update", "deployments", "dev", api_group="apps", subresource="scale", name="web")
    assert not allowed(objects, "update", "deployments", "dev", api_group="apps", name="web")


def test_non_resource_urls_match_exactly_or_by_star_prefix() -> None:
    objects = [
        cluster_role("urls", [url_rule(("get",), ("/healthz", "/apis/*"))], defaults=False),
        cluster_role_binding("urls", [user("bob")], defaults=False),
    ]
    assert path_allowed(objects, "/healthz")
    assert not path_allowed(objects, "/healthz/etcd")
    assert path_allowed(objects, "/apis/apps/v1")
    assert not path_allowed(objects, "/apis")
    assert not path_allowed(objects, "/healthz", verb="post")


def test_service_account_subject_defaults_to_the_bindings_namespace() -> None:
    objects = [
        *POD_READER[:1],
        role_binding("sa", "dev", [{"kind": "ServiceAccount", "name": "ci"}], role_name="pod-reader", defaults=False),
    ]
    ci = UserInfo("system:serviceaccount:dev:ci", groups=("system:serviceaccounts",))
    other_ci = UserInfo("system:serviceaccount:prod:ci", groups=("system:serviceaccounts",))
    assert allowed(objects, "list", "pods", "dev", who=ci)
    assert not allowed(objects, "list", "pods", "dev", who=other_ci)


def test_service_account_subject_in_a_cluster_role_binding_names_its_namespace() -> None:
    objects = [
        cluster_role("r", [rule(("list",), ("",), ("nodes",))], defaults=False),
        cluster_role_binding("r", [service_account("kube-system", "dns")], defaults=False),
    ]
    assert allowed(objects, "list", "nodes", who=UserInfo("system:serviceaccount:kube-system:dns"))


def test_allow_reason_names_the_binding_role_and_subject() -> None:
    attrs = Attributes(BOB, "list", True, resource="pods", namespace="dev")
    decision = RbacAuthorizer(Store(POD_READER)).authorize(attrs)
    assert decision.reason == 'RBAC: allowed by RoleBinding "read-pods/dev" of Role "pod-reader" to User "bob"'


def test_binding_to_a_missing_role_is_no_opinion_with_the_lookup_error_as_reason() -> None:
    objects = [cluster_role_binding("dangling", [user("bob")], role_name="nope", defaults=False)]
    decision = RbacAuthorizer(Store(objects)).authorize(Attributes(BOB, "list", True, resource="pods"))
    assert not decision.allowed and not decision.denied_explicitly
    assert decision.reason == 'RBAC: clusterrole.rbac.authorization.k8s.io "nope" not found'


def widget_viewer() -> dict:
    return cluster_role(
        "widget-viewer",
        [rule(("get", "list", "watch"), ("example.com",), ("widgets",))],
        labels={"rbac.authorization.k8s.io/aggregate-to-view": "true"},
        defaults=False,
    )


def test_cluster_role_labelled_aggregate_to_view_adds_to_view_edit_and_admin() -> None:
    objects = [*default_policy(), widget_viewer()]
    for name in ("view", "edit", "admin"):
        binding = role_binding(f"bob-{name}", "dev", [user("bob")], role_name=name, role_kind="ClusterRole")
        assert allowed([*objects, binding], "list", "widgets", "dev", api_group="example.com"), name
    assert not allowed(objects, "list", "widgets", "dev", api_group="example.com")


def test_aggregated_rules_are_the_union_of_the_selected_roles() -> None:
    roles = [r for r in default_policy() if r["kind"] == "ClusterRole"] + [widget_viewer()]
    view = next(r for r in roles if r["metadata"]["name"] == "view")
    rules = aggregated_rules(view, roles)
    assert rule(("get", "list", "watch"), ("example.com",), ("widgets",)) in rules
    assert any("pods" in r.get("resources", ()) for r in rules)
    assert not any("secrets" in r.get("resources", ()) for r in rules)


def test_rules_for_lists_what_applies_in_the_namespace() -> None:
    resource_rules, non_resource_rules, incomplete = RbacAuthorizer(Store(POD_READER)).rules_for(BOB, "dev")
    assert resource_rules == [{"verbs": ["get", "list"], "apiGroups": [""], "resources": ["pods"]}]
    assert (non_resource_rules, incomplete) == ([], False)
    assert RbacAuthorizer(Store(POD_READER)).rules_for(BOB, "prod") == ([], [], False)
