"""The default RBAC policy: what Kubernetes' built-in roles and bindings let each identity do."""

from __future__ import annotations

import pytest

from kubeprov.apiserver.auth import ANONYMOUS, Attributes, Authorizer, RbacAuthorizer, UserInfo, default_policy
from kubeprov.apiserver.auth.policy import role_binding, user
from tests.unit.auth_fakes import Store

AUTH = "system:authenticated"



def authorizer(*extra: dict) -> Authorizer:
    return Authorizer(None, RbacAuthorizer(Store([*default_policy(), *extra])))


def can(who: UserInfo, verb: str, resource: str, namespace: str = "", *extra: dict, **kw: str) -> bool:
    attrs = Attributes(who, verb, True, resource=resource, namespace=namespace, **kw)
    return authorizer(*extra).authorize(attrs).allowed


def can_get_path(who: UserInfo, path: str) -> bool:
    return authorizer().authorize(Attributes(who, "get", False, path=path)).allowed


BOB = UserInfo("bob", groups=(AUTH,))


def bob_is(role_name: str, namespace: str = "team") -> dict:
    return role_binding(f"bob-{role_name}", namespace, [user("bob")], role_name=role_name, role_kind="ClusterRole")


def test_view_can_list_pods_but_not_read_secrets() -> None:
    binding = bob_is("view")
    assert can(BOB, "list", "pods", "team", binding)
    assert can(BOB, "get", "deployments", "team", binding, api_group="apps", name="web")
    assert not can(BOB, "get", "secrets", "team", binding, name="token")
    assert not can(BOB, "list", "secrets", "team", binding)
    assert not can(BOB, "delete", "pods", "team", binding, name="web")


def test_edit_can_create_deployments_but_not_grant_access() -> None:
    binding = bob_is("edit")
    assert can(BOB, "create", "deployments", "team", binding, api_group="apps")
    assert can(BOB, "get", "secrets", "team", binding, name="token")
    assert can(BOB, "create", "pods", "team", binding, subresource="exec", name="web")
    assert not can(BOB, "create", "rolebindings", "team", binding, api_group="rbac.authorization.k8s.io")


def test_admin_can_create_rolebindings_in_its_namespace_only() -> None:
    binding = bob_is("admin")
    assert can(BOB, "create", "rolebindings", "team", binding, api_group="rbac.authorization.k8s.io")
    assert not can(BOB, "create", "rolebindings", "other", binding, api_group="rbac.authorization.k8s.io")
    assert not can(BOB, "create", "clusterrolebindings", "", binding, api_group="rbac.authorization.k8s.io")


def test_masters_group_may_do_anything() -> None:
    admin = UserInfo("kubernetes-admin", groups=("system:masters", AUTH))
    assert can(admin, "delete", "nodes", name="w-1")
    assert can_get_path(admin, "/metrics")


def test_scheduler_can_bind_pods_and_read_nodes() -> None:
    scheduler = UserInfo("system:kube-scheduler", groups=(AUTH,))
    assert can(scheduler, "create", "pods", "team", subresource="binding", name="web")
    assert can(scheduler, "list", "nodes")
    assert can(scheduler, "get", "leases", "kube-system", api_group="coordination.k8s.io", name="kube-scheduler")
    assert not can(scheduler, "create", "pods", "team")


def test_kube_proxy_can_watch_services_and_endpointslices() -> None:
    proxy = UserInfo("system:kube-proxy", groups=(AUTH,))
    assert can(proxy, "list", "services")
    assert can(proxy, "watch", "endpointslices", api_group="discovery.k8s.io")
    assert not can(proxy, "delete", "services", "default", name="kubernetes")


def test_controller_manager_can_list_everything_but_not_write_pods() -> None:
    kcm = UserInfo("system:kube-controller-manager", groups=(AUTH,))
    assert can(kcm, "list", "secrets")
    assert can(kcm, "watch", "deployments", api_group="apps")
    assert not can(kcm, "create", "pods", "team")


@pytest.mark.parametrize("path", ["/healthz", "/livez", "/readyz", "/version"])
def test_anonymous_can_read_public_info(path: str) -> None:
    assert can_get_path(ANONYMOUS, path)


@pytest.mark.parametrize("path", ["/api", "/apis", "/openapi/v3", "/metrics"])
def test_anonymous_cannot_discover_the_api(path: str) -> None:
    assert not can_get_path(ANONYMOUS, path)


def test_authenticated_users_can_discover_the_api_and_review_themselves() -> None:
    assert can_get_path(BOB, "/api")
    assert can_get_path(BOB, "/apis/apps/v1")
    assert can(BOB, "create", "selfsubjectaccessreviews", api_group="authorization.k8s.io")
    assert can(BOB, "create", "selfsubjectreviews", api_group="authentication.k8s.io")
    assert not can(BOB, "list", "pods", "default")


def test_anyone_can_read_cluster_info_in_kube_public_and_nothing_else_there() -> None:
    assert can(ANONYMOUS, "get", "configmaps", "kube-public", name="cluster-info")
    assert not can(ANONYMOUS, "get", "configmaps", "kube-public", name="other")


def test_bootstrap_token_users_can_request_node_certificates() -> None:
    joiner = UserInfo("system:bootstrap:abcdef", groups=("system:bootstrappers", AUTH))
    assert can(joiner, "create", "certificatesigningrequests", api_group="certificates.k8s.io")
    assert can(
        joiner, "create", "certificatesigningrequests", api_group="certificates.k8s.io", subresource="nodeclient"
    )


def test_system_node_role_is_bound_to_nobody() -> None:
    binding = next(
        o for o in default_policy() if o["kind"] == "ClusterRoleBinding" and o["metadata"]["name"] == "system:node"
    )
    assert "subjects" not in binding
    kubelet = UserInfo("system:node:w-1", groups=("system:nodes", AUTH))
    assert not can(kubelet, "get", "secrets", "team", name="anything")


def test_kubernetes_defaults_carry_the_bootstrapping_label_and_autoupdate_annotation() -> None:
    defaults = [o for o in default_policy() if not o["metadata"]["name"].startswith("kubeprov:")]
    assert defaults
    for obj in defaults:
        assert obj["metadata"]["labels"]["kubernetes.io/bootstrapping"] == "rbac-defaults"
        assert obj["metadata"]["annotations"] == {"rbac.authorization.kubernetes.io/autoupdate": "true"}


def test_every_default_binding_refers_to_a_default_role() -> None:
    policy = default_policy()
    cluster_roles = {o["metadata"]["name"] for o in policy if o["kind"] == "ClusterRole"}
    roles = {(o["metadata"]["namespace"], o["metadata"]["name"]) for o in policy if o["kind"] == "Role"}
    for obj in policy:
        ref = obj.get("roleRef")
        if ref is None:
            continue
        if ref["kind"] == "ClusterRole":
            assert ref["name"] in cluster_roles
        else:
            assert (obj["metadata"]["namespace"], ref["name"]) in roles


def test_view_edit_admin_aggregate_as_in_kubernetes() -> None:
    by_name = {o["metadata"]["name"]: o for o in default_policy() if o["kind"] == "ClusterRole"}
    assert by_name["edit"]["metadata"]["labels"]["rbac.authorization.k8s.io/aggregate-to-admin"] == "true"
    assert by_name["view"]["metadata"]["labels"]["rbac.authorization.k8s.io/aggregate-to-edit"] == "true"
    assert by_name["admin"]["aggregationRule"] == {
        "clusterRoleSelectors": [{"matchLabels": {"rbac.authorization.k8s.io/aggregate-to-admin": "true"}}]
    }
