"""403 messages worded exactly as the Kubernetes API server words them."""

from __future__ import annotations

from kubeprov.apiserver.auth import ANONYMOUS, Attributes, UserInfo, forbidden_message, forbidden_status
from kubeprov.apiserver.auth.attributes import name_from_field_selector

BOB = UserInfo("bob", groups=("system:authenticated",))


def test_list_in_a_namespace() -> None:
    attrs = Attributes(BOB, "list", True, resource="pods", namespace="default")
    assert forbidden_message(attrs) == (
        'pods is forbidden: User "bob" cannot list resource "pods" in API group "" in the namespace "default"'
    )


def test_get_of_a_named_object() -> None:
    attrs = Attributes(BOB, "get", True, resource="pods", namespace="default", name="web")
    assert forbidden_message(attrs) == (
        'pods "web" is forbidden: User "bob" cannot get resource "pods" in API group "" in the namespace "default"'
    )


def test_cluster_scoped_request() -> None:
    attrs = Attributes(BOB, "list", True, resource="nodes")
    assert forbidden_message(attrs) == (
        'nodes is forbidden: User "bob" cannot list resource "nodes" in API group "" at the cluster scope'
    )


def test_subresource_is_named_with_its_resource() -> None:
    attrs = Attributes(BOB, "create", True, resource="pods", subresource="exec", namespace="default", name="web")
    assert forbidden_message(attrs) == (
        'pods "web" is forbidden: User "bob" cannot create resource "pods/exec" in API group "" '
        'in the namespace "default"'
    )


def test_grouped_resource_is_qualified_by_its_group() -> None:
    attrs = Attributes(BOB, "delete", True, api_group="apps", resource="deployments", namespace="prod", name="api")
    assert forbidden_message(attrs) == (
        'deployments.apps "api" is forbidden: User "bob" cannot delete resource "deployments" in API group "apps" '
        'in the namespace "prod"'
    )


def test_non_resource_path() -> None:
    attrs = Attributes(ANONYMOUS, "get", False, path="/api")
    assert forbidden_message(attrs) == 'forbidden: User "system:anonymous" cannot get path "/api"'


def test_authorizer_reason_is_appended() -> None:
    attrs = Attributes(BOB, "list", True, resource="pods", namespace="default")
    reason = 'RBAC: clusterrole.rbac.authorization.k8s.io "gone" not found'
    assert forbidden_message(attrs, reason).endswith(f'in the namespace "default": {reason}')


def test_status_object_is_a_403_forbidden_with_details() -> None:
    attrs = Attributes(BOB, "get", True, api_group="apps", resource="deployments", namespace="prod", name="api")
    result = forbidden_status(attrs)
    assert (result["code"], result["reason"], result["status"]) == (403, "Forbidden", "Failure")
    assert result["details"] == {"name": "api", "group": "apps", "kind": "deployments"}


def test_a_list_pinned_by_metadata_name_names_its_object() -> None:
    assert name_from_field_selector("metadata.name=n1") == "n1"
    assert name_from_field_selector("metadata.name==web,spec.nodeName=n1") == "web"
    assert name_from_field_selector("metadata.name!=n1") == ""
    assert name_from_field_selector("metadata.name=a/b") == ""
    assert name_from_field_selector("") == ""
