"""Status builders produce the API server's exact failure objects."""

from __future__ import annotations

import json

import pytest

from kubeprov.api import status
from kubeprov.api.fielderrors import Path, invalid, required
from kubeprov.api.status import StatusError


def _envelope(code: int, reason: str, message: str, details: dict | None = None) -> dict:
    out = {"kind": "Status", "apiVersion": "v1", "metadata": {}, "status": "Failure", "message": message}
    if reason:
        out["reason"] = reason
    if details is not None:
        out["details"] = details
    out["code"] = code
    return out


def test_not_found_core_resource():
    assert status.not_found("pods", "x") == _envelope(
        404, "NotFound", 'pods "x" not found', {"name": "x", "kind": "pods"}
    )


def test_not_found_grouped_resource():
    assert status.not_found("deployments.apps", "web") == _envelope(
        404,
        "NotFound",
        'deployments.apps "web" not found',
        {"name": "web", "group": "apps", "kind": "deployments"},
    )


def test_already_exists():
    assert status.already_exists("pods", "x") == _envelope(
        409, "AlreadyExists", 'pods "x" already exists', {"name": "x", "kind": "pods"}
    )


def test_conflict_uses_the_optimistic_lock_message():
    assert status.conflict("deployments.apps", "web") == _envelope(
        409,
        "Conflict",
        'Operation cannot be fulfilled on deployments.apps "web": the object has been modified; '
        "please apply your changes to the latest version and try again",
        {"name": "web", "group": "apps", "kind": "deployments"},
    )


def test_invalid_with_one_error():
    err = invalid(
        Path("spec", "template", "metadata", "labels"),
        {"app": "x"},
        "`selector` does not match template `labels`",
    )
    result = status.invalid("Deployment", "apps", "web", [err])
    assert result == _envelope(
        422,
        "Invalid",
        'Deployment.apps "web" is invalid: spec.template.metadata.labels: Invalid value: {"app":"x"}: '
        "`selector` does not match template `labels`",
        {
            "name": "web",
            "group": "apps",
            "kind": "Deployment",
            "causes": [
                {
                    "reason": "FieldValueInvalid",
                    "message": 'Invalid value: {"app":"x"}: `selector` does not match template `labels`',
                    "field": "spec.template.metadata.labels",
                }
            ],
        },
    )


def test_invalid_with_several_errors_joins_them_in_brackets():
    errs = [
        required(Path("metadata", "name"), "name or generateName is required"),
        invalid(Path("spec", "replicas"), -1, "must be greater than or equal to 0"),
    ]
    result = status.invalid("ConfigMap", "", "", errs)
    assert result["message"] == (
        'ConfigMap "" is invalid: [metadata.name: Required value: name or generateName is required, '
        "spec.replicas: Invalid value: -1: must be greater than or equal to 0]"
    )
    assert result["details"] == {
        "kind": "ConfigMap",
        "causes": [
            {
                "reason": "FieldValueRequired",
                "message": "Required value: name or generateName is required",
                "field": "metadata.name",
            },
            {
                "reason": "FieldValueInvalid",
                "message": "Invalid value: -1: must be greater than or equal to 0",
                "field": "spec.replicas",
            },
        ],
    }


def test_bad_request():
    assert status.bad_request("bad") == _envelope(400, "BadRequest", "bad")


def test_unauthorized():
    assert status.unauthorized("Unauthorized") == _envelope(401, "Unauthorized", "Unauthorized")
    assert status.unauthorized()["message"] == "not authorized"


def test_forbidden_namespaced_list():
    assert status.forbidden("bob", "list", "pods", namespace="default") == _envelope(
        403,
        "Forbidden",
        'pods is forbidden: User "bob" cannot list resource "pods" '
        'in API group "" in the namespace "default"',
        {"kind": "pods"},
    )


def test_forbidden_cluster_scope_grouped():
    result = status.forbidden("bob", "list", "nodes", group="")
    assert (
        result["message"]
        == 'nodes is forbidden: User "bob" cannot list resource "nodes" in API group "" at the cluster scope'
    )
    result = status.forbidden("bob", "create", "clusterroles", group="rbac.authorization.k8s.io")
    assert result["message"] == (
        'clusterroles.rbac.authorization.k8s.io is forbidden: User "bob" cannot create '
        'resource "clusterroles" in API group "rbac.authorization.k8s.io" at the cluster scope'
    )
    assert result["details"] == {"group": "rbac.authorization.k8s.io", "kind": "clusterroles"}


def test_forbidden_named_object_with_subresource_and_reason():
    result = status.forbidden(
        "system:serviceaccount:default:app",
        "get",
        "pods",
        name="web",
        namespace="default",
        subresource="log",
        reason="no RBAC policy matched",
    )
    assert result["message"] == (
        'pods "web" is forbidden: User "system:serviceaccount:default:app" cannot get resource "pods/log" '
        'in API group "" in the namespace "default": no RBAC policy matched'
    )
    assert result["details"] == {"name": "web", "kind": "pods"}


def test_forbidden_non_resource_path():
    assert status.forbidden_path("bob", "get", "/metrics") == _envelope(
        403, "Forbidden", 'forbidden: User "bob" cannot get path "/metrics"', {}
    )


def test_method_not_supported():
    assert status.method_not_supported("pods", "deletecollection") == _envelope(
        405,
        "MethodNotAllowed",
        'deletecollection is not supported on resources of kind "pods"',
        {"kind": "pods"},
    )


def test_gone_and_expired():
    assert status.gone("gone away") == _envelope(410, "Gone", "gone away")
    assert status.too_old_resource_version(5, 10) == _envelope(
        410, "Expired", "too old resource version: 5 (10)"
    )
    assert status.expired("x")["reason"] == "Expired"


def test_request_entity_too_large():
    assert status.request_entity_too_large("limit is 3145728") == _envelope(
        413, "RequestEntityTooLarge", "Request entity too large: limit is 3145728"
    )


def test_unsupported_media_type_lists_accepted_types():
    result = status.unsupported_media_type(
        ["application/json-patch+json", "application/merge-patch+json", "application/apply-patch+yaml"]
    )
    assert result == _envelope(
        415,
        "UnsupportedMediaType",
        "the body of the request was in an unknown format - accepted media types include: "
        "application/json-patch+json, application/merge-patch+json, application/apply-patch+yaml",
    )


def test_not_acceptable():
    assert status.not_acceptable(["application/json", "application/yaml"]) == _envelope(
        406,
        "NotAcceptable",
        "only the following media types are accepted: application/json, application/yaml",
    )


def test_too_many_requests_carries_retry_after():
    assert status.too_many_requests("please try again later", 1) == _envelope(
        429, "TooManyRequests", "Too many requests: please try again later", {"retryAfterSeconds": 1}
    )
    assert status.too_many_requests("x")["details"] == {}


def test_internal_error_has_the_error_as_cause():
    assert status.internal_error("etcd is down") == _envelope(
        500,
        "InternalError",
        "Internal error occurred: etcd is down",
        {"causes": [{"message": "etcd is down"}]},
    )


def test_service_unavailable_and_timeout():
    assert status.service_unavailable("not ready") == _envelope(503, "ServiceUnavailable", "not ready")
    assert status.timeout("request did not complete within 60s", 2) == _envelope(
        504, "Timeout", "Timeout: request did not complete within 60s", {"retryAfterSeconds": 2}
    )


def test_server_timeout():
    result = status.server_timeout("pods", "create", 2)
    assert result == _envelope(
        500,
        "ServerTimeout",
        "The create operation against pods could not be completed at this time, please try again.",
        {"name": "create", "kind": "pods", "retryAfterSeconds": 2},
    )


def test_generic_server_response_for_a_patch_that_does_not_apply():
    assert status.generic_server_response(422, "test failed") == _envelope(
        422, "Invalid", "the server rejected our request due to an error in our request", {}
    )
    assert status.generic_server_response(409, verb="POST")["reason"] == "AlreadyExists"
    assert status.generic_server_response(500, "boom")["message"] == (
        'an error on the server ("boom") has prevented the request from succeeding'
    )


def test_success_status_for_delete():
    assert status.success(name="web", group="apps", kind="deployments", uid="u1") == {
        "kind": "Status",
        "apiVersion": "v1",
        "metadata": {},
        "status": "Success",
        "details": {"name": "web", "group": "apps", "kind": "deployments", "uid": "u1"},
    }


def test_status_error_exposes_code_reason_and_message():
    with pytest.raises(StatusError) as info:
        raise StatusError(status.not_found("pods", "x"))
    assert info.value.code == 404
    assert info.value.reason == "NotFound"
    assert info.value.message == 'pods "x" not found'
    assert str(info.value) == 'pods "x" not found'
    assert info.value.status["kind"] == "Status"


def test_names_are_go_quoted():
    assert status.not_found("configmaps", 'a"b')["message"] == 'configmaps "a\\"b" not found'


def test_official_client_reads_our_status_objects():
    kubernetes = pytest.importorskip("kubernetes")
    err = invalid(Path("spec", "replicas"), -1, "must be greater than or equal to 0")
    body = json.dumps(status.invalid("Deployment", "apps", "web", [err]))
    parsed = kubernetes.client.ApiClient().deserialize(body, "V1Status", "application/json")
    assert (parsed.code, parsed.reason, parsed.status) == (422, "Invalid", "Failure")
    assert parsed.details.group == "apps"
    assert parsed.details.causes[0].field == "spec.replicas"
    assert parsed.details.causes[0].reason == "FieldValueInvalid"
