"""Answers for the review resources: access reviews, rules reviews, who-am-I and token reviews.

Reviews are not stored: the API server validates the posted object, fills in ``status`` and
sends it back. Validation failures raise :class:`~kubeprov.api.status.StatusError` with the
API server's wording.
"""

from __future__ import annotations

import copy
from collections.abc import Mapping
from datetime import UTC, datetime
from typing import Any

from kubeprov.api import fielderrors, status
from kubeprov.api.status import StatusError
from kubeprov.apiserver.auth.attributes import Attributes, non_resource_attributes, resource_attributes
from kubeprov.apiserver.auth.authn import Authenticator
from kubeprov.apiserver.auth.authz import Authorizer, union_rules
from kubeprov.apiserver.auth.rbac import RbacAuthorizer
from kubeprov.apiserver.auth.user import UserInfo

AUTHORIZATION_GROUP = "authorization.k8s.io"
AUTHENTICATION_GROUP = "authentication.k8s.io"
ACCESS_REVIEW_KINDS = ("SelfSubjectAccessReview", "SubjectAccessReview", "LocalSubjectAccessReview")


def _meta_is_empty(meta: Mapping[str, Any] | None, allowed: tuple[str, ...] = ()) -> bool:
    """Reviews take no metadata; a null creationTimestamp (what clients send) does not count."""
    for key, value in (meta or {}).items():
        if key in allowed or key == "managedFields" or value in (None, "", {}, []):
            continue
        return False
    return True


def _validate_access_review(kind: str, obj: Mapping[str, Any]) -> list[fielderrors.FieldError]:
    spec = obj.get("spec") or {}
    meta = obj.get("metadata") or {}
    path = fielderrors.Path("spec")
    resource, non_resource = spec.get("resourceAttributes"), spec.get("nonResourceAttributes")
    errs: list[fielderrors.FieldError] = []
    if resource is not None and non_resource is not None:
        errs.append(
            fielderrors.invalid(
                path.child("nonResourceAttributes"),
                non_resource,
                "cannot be specified in combination with resourceAttributes",
            )
        )
    if resource is None and non_resource is None:
        errs.append(
            fielderrors.required(
                path.child("resourceAttributes"),
                "exactly one of nonResourceAttributes or resourceAttributes must be specified",
            )
        )
    if kind != "SelfSubjectAccessReview" and not spec.get("user") and not spec.get("groups"):
        errs.append(fielderrors.required(path.child("user"), "at least one of user or group must be specified"))
    if kind == "LocalSubjectAccessReview":
        if not _meta_is_empty(meta, ("namespace",)):
            errs.append(fielderrors.invalid("metadata", meta, "must be empty except for namespace"))
        if resource is not None and (resource.get("namespace") or "") != (meta.get("namespace") or ""):
            errs.append(
                fielderrors.invalid(
                    "spec.resourceAttributes.namespace",
                    resource.get("namespace") or "",
                    "must match metadata.namespace",
                )
            )
        if non_resource is not None:
            errs.append(
                fielderrors.invalid("spec.nonResourceAttributes", non_resource, "disallowed on this kind of request")
            )
    elif not _meta_is_empty(meta):
        errs.append(fielderrors.invalid("metadata", meta, "must be empty"))
    return errs


def _subject(kind: str, obj: Mapping[str, Any], requester: UserInfo) -> UserInfo:
    if kind == "SelfSubjectAccessReview":
        return requester
    spec = obj.get("spec") or {}
    extra = {str(k): tuple(str(x) for x in v or ()) for k, v in (spec.get("extra") or {}).items()}
    return UserInfo(
        str(spec.get("user") or ""),
        uid=str(spec.get("uid") or ""),
        groups=tuple(str(g) for g in spec.get("groups") or ()),
        extra=extra,
    )


def _access_review(kind: str, obj: Mapping[str, Any], user: UserInfo, authorizer: Authorizer) -> dict[str, Any]:
    errs = _validate_access_review(kind, obj)
    if errs:
        raise StatusError(status.invalid(kind, AUTHORIZATION_GROUP, "", errs))
    spec = obj.get("spec") or {}
    subject = _subject(kind, obj, user)
    attrs: Attributes
    if spec.get("resourceAttributes") is not None:
        attrs = resource_attributes(subject, spec["resourceAttributes"])
    else:
        attrs = non_resource_attributes(subject, spec["nonResourceAttributes"])
    decision = authorizer.authorize(attrs)
    review_status: dict[str, Any] = {"allowed": decision.allowed}
    if decision.denied_explicitly:
        review_status["denied"] = True
    if decision.reason:
        review_status["reason"] = decision.reason
    answer = copy.deepcopy(dict(obj))
    answer["status"] = review_status
    return answer


def _rules_review(obj: Mapping[str, Any], user: UserInfo, authorizer: Authorizer, rbac: RbacAuthorizer) -> dict:
    namespace = str((obj.get("spec") or {}).get("namespace") or "")
    if not namespace:
        raise StatusError(status.bad_request("no namespace on request"))
    rules = union_rules(authorizer.node, rbac, user, namespace)
    review_status: dict[str, Any] = {
        "resourceRules": rules.resource_rules,
        "nonResourceRules": rules.non_resource_rules,
        "incomplete": rules.incomplete,
    }
    if rules.errors:
        review_status["evaluationError"] = rules.evaluation_error
    answer = copy.deepcopy(dict(obj))
    answer["status"] = review_status
    return answer


def _timestamp(now: datetime | None) -> str:
    return (now or datetime.now(UTC)).astimezone(UTC).strftime("%Y-%m-%dT%H:%M:%SZ")


def self_subject_review(user: UserInfo, now: datetime | None = None) -> dict[str, Any]:
    """``kubectl auth whoami``: the requester as the API server sees them."""
    return {
        "kind": "SelfSubjectReview",
        "apiVersion": f"{AUTHENTICATION_GROUP}/v1",
        "metadata": {"creationTimestamp": _timestamp(now)},
        "status": {"userInfo": user.to_api()},
    }


def review_answer(kind: str, obj: dict, user: UserInfo, authorizer: Authorizer, rbac: RbacAuthorizer) -> dict[str, Any]:
    """The posted review with ``status`` filled in, for the requester ``user``.

    Handles SelfSubjectAccessReview, SubjectAccessReview, LocalSubjectAccessReview,
    SelfSubjectRulesReview and SelfSubjectReview; TokenReview needs the authenticator and is
    answered by :func:`token_review_answer`.
    """
    if kind in ACCESS_REVIEW_KINDS:
        return _access_review(kind, obj, user, authorizer)
    if kind == "SelfSubjectRulesReview":
        return _rules_review(obj, user, authorizer, rbac)
    if kind == "SelfSubjectReview":
        return self_subject_review(user)
    raise StatusError(status.bad_request(f"not a review kind: {kind}"))


async def token_review_answer(obj: dict, authenticator: Authenticator) -> dict[str, Any]:
    """A TokenReview with ``status`` filled in: who the token authenticates as, or why not."""
    spec = obj.get("spec") or {}
    token = str(spec.get("token") or "")
    if not token:
        raise StatusError(status.bad_request("token is required for TokenReview in authentication"))
    audiences = [str(a) for a in spec.get("audiences") or ()]
    result = await authenticator.authenticate_token(token, audiences or None)
    requested = audiences or list(authenticator.api_audiences)
    if result.user is not None and requested and not set(requested) & set(result.audiences):
        raise StatusError(status.internal_error("error validating audiences"))
    review_status: dict[str, Any] = {}
    if result.user is not None:
        review_status["authenticated"] = True
        review_status["user"] = result.user.to_api()
        if result.audiences:
            review_status["audiences"] = list(result.audiences)
    else:
        review_status["user"] = {}
        if result.error:
            review_status["error"] = result.error
    answer = copy.deepcopy(obj)
    answer["status"] = review_status
    return answer
