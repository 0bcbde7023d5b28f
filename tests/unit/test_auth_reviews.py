"""Review resources: access reviews, rules reviews and who-am-I, answered from the authorizers."""

from __future__ import annotations

import pytest

from kubeprov.api.status import StatusError
from kubeprov.apiserver.auth import Authorizer, NodeAuthorizer, RbacAuthorizer, UserInfo, default_policy, review_answer
from kubeprov.apiserver.auth.policy import role, role_binding, rule, user
from tests.unit.auth_fakes import Store

BOB = UserInfo("bob", uid="u-1", groups=("devs", "system:authenticated"))
EXTRA = [
    role("pod-reader", "team", [rule(("get", "list"), ("",), ("pods",))], defaults=False),
    role_binding("bob-reads", "team", [user("bob")], role_name="pod-reader", defaults=False),
]



class NoPods:
    def pods_on_node(self, node: str) -> list[dict]:
        return []

    def get(self, resource: str, namespace: str, name: str) -> dict | None:
        return None


def answer(kind: str, obj: dict, who: UserInfo = BOB) -> dict:
    rbac = RbacAuthorizer(Store([*default_policy(), *EXTRA]))
    return review_answer(kind, obj, who, Authorizer(NodeAuthorizer(NoPods()), rbac), rbac)


def ssar(spec: dict) -> dict:
    return {"apiVersion": "authorization.k8s.io/v1", "kind": "SelfSubjectAccessReview", "metadata": {}, "spec": spec}


def test_self_subject_access_review_allowed_with_the_granting_binding_as_reason() -> None:
    result = answer(
        "SelfSubjectAccessReview",
        ssar({"resourceAttributes": {"namespace": "team", "verb": "list", "resource": "pods"}}),
    )
    assert result["status"] == {
        "allowed": True,
        "reason": 'RBAC: allowed by RoleBinding "bob-reads/team" of Role "pod-reader" to User "bob"',
    }
    assert result["spec"]["resourceAttributes"]["resource"] == "pods"


def test_self_subject_access_review_denied_has_no_reason_when_nothing_failed() -> None:
    result = answer(
        "SelfSubjectAccessReview",
        ssar({"resourceAttributes": {"namespace": "team", "verb": "delete", "resource": "pods"}}),
    )
    assert result["status"] == {"allowed": False}


def test_self_subject_access_review_of_a_path() -> None:
    result = answer("SelfSubjectAccessReview", ssar({"nonResourceAttributes": {"path": "/apis", "verb": "get"}}))
    assert result["status"]["allowed"] is True


def test_access_review_needs_exactly_one_kind_of_attributes() -> None:
    with pytest.raises(StatusError) as err:
        answer("SelfSubjectAccessReview", ssar({}))
    assert err.value.code == 422
    assert err.value.message == (
        'SelfSubjectAccessReview.authorization.k8s.io "" is invalid: spec.resourceAttributes: Required value: '
        "exactly one of nonResourceAttributes or resourceAttributes must be specified"
    )


def test_subject_access_review_checks_the_named_user_not_the_requester() -> None:
    review = {
        "kind": "SubjectAccessReview",
        "spec": {"user": "bob", "resourceAttributes": {"namespace": "team", "verb": "get", "resource": "pods"}},
    }
    admin = UserInfo("kubernetes-admin", groups=("system:masters",))
    assert answer("SubjectAccessReview", review, admin)["status"]["allowed"] is True
    review["spec"]["user"] = "mallory"
    assert answer("SubjectAccessReview", review, admin)["status"] == {"allowed": False}


def test_subject_access_review_needs_a_user_or_group() -> None:
    review = {"kind": "SubjectAccessReview", "spec": {"resourceAttributes": {"verb": "get", "resource": "pods"}}}
    with pytest.raises(StatusError) as err:
        answer("SubjectAccessReview", review)
    assert err.value.message.endswith("spec.user: Required value: at least one of user or group must be specified")


def test_local_subject_access_review_namespace_must_match() -> None:
    review = {
        "kind": "LocalSubjectAccessReview",
        "metadata": {"namespace": "team"},
        "spec": {"user": "bob", "resourceAttributes": {"namespace": "other", "verb": "get", "resource": "pods"}},
    }
    with pytest.raises(StatusError) as err:
        answer("LocalSubjectAccessReview", review)
    assert (
        'spec.resourceAttributes.namespace: Invalid value: "other": must match metadata.namespace' in err.value.message
    )


def test_self_subject_rules_review_lists_rules_for_the_namespace() -> None:
    review = {"kind": "SelfSubjectRulesReview", "spec": {"namespace": "team"}}
    result = answer("SelfSubjectRulesReview", review)["status"]
    assert {"verbs": ["get", "list"], "apiGroups": [""], "resources": ["pods"]} in result["resourceRules"]
    assert {
        "verbs": ["create"],
        "apiGroups": ["authorization.k8s.io"],
        "resources": ["selfsubjectaccessreviews", "selfsubjectrulesreviews"],
    } in result["resourceRules"]
    assert any("/api" in r["nonResourceURLs"] for r in result["nonResourceRules"])
    assert result["incomplete"] is False
    assert "evaluationError" not in result


def test_self_subject_rules_review_for_a_node_is_incomplete() -> None:
    node = UserInfo("system:node:n1", groups=("system:nodes", "system:authenticated"))
    result = answer("SelfSubjectRulesReview", {"spec": {"namespace": "default"}}, node)["status"]
    assert result["incomplete"] is True
    assert result["evaluationError"] == "node authorizer does not support user rule resolution"


def test_self_subject_rules_review_needs_a_namespace() -> None:
    with pytest.raises(StatusError) as err:
        answer("SelfSubjectRulesReview", {"spec": {}})
    assert (err.value.code, err.value.message) == (400, "no namespace on request")


def test_self_subject_review_reports_the_requester() -> None:
    result = answer("SelfSubjectReview", {"apiVersion": "authentication.k8s.io/v1", "kind": "SelfSubjectReview"})
    assert result["status"] == {
        "userInfo": {"username": "bob", "uid": "u-1", "groups": ["devs", "system:authenticated"]}
    }
    assert result["metadata"]["creationTimestamp"].endswith("Z")
