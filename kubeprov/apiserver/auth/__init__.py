"""Authentication and authorization for the API server.

Authentication (:class:`Authenticator`) turns a request's client certificate or bearer token
into a :class:`UserInfo`; authorization (:class:`Authorizer`: system:masters, then the Node
authorizer, then RBAC) decides whether that user may do what the request's :class:`Attributes`
describe. :func:`default_policy` is the RBAC a new cluster starts with, and
:func:`review_answer` / :func:`token_review_answer` answer the review resources.
"""

from kubeprov.apiserver.auth.attributes import (
    Attributes,
    Decision,
    name_from_field_selector,
    non_resource_attributes,
    resource_attributes,
)
from kubeprov.apiserver.auth.authn import Authenticator, AuthResult, bearer_token
from kubeprov.apiserver.auth.authz import Authorizer, forbidden_message, forbidden_status
from kubeprov.apiserver.auth.errors import AuthenticationError
from kubeprov.apiserver.auth.jwt import jwks, key_id, load_public_keys
from kubeprov.apiserver.auth.node import NodeAuthorizer, NodeSource
from kubeprov.apiserver.auth.policy import default_policy, node_rules
from kubeprov.apiserver.auth.rbac import RbacAuthorizer, RbacSource, RuleSet, aggregated_rules
from kubeprov.apiserver.auth.reviews import review_answer, self_subject_review, token_review_answer
from kubeprov.apiserver.auth.serviceaccount import TokenIssuer
from kubeprov.apiserver.auth.user import ANONYMOUS, UserInfo

__all__ = [
    "ANONYMOUS",
    "Attributes",
    "AuthResult",
    "AuthenticationError",
    "Authenticator",
    "Authorizer",
    "Decision",
    "NodeAuthorizer",
    "NodeSource",
    "RbacAuthorizer",
    "RbacSource",
    "RuleSet",
    "TokenIssuer",
    "UserInfo",
    "aggregated_rules",
    "bearer_token",
    "default_policy",
    "forbidden_message",
    "forbidden_status",
    "jwks",
    "key_id",
    "load_public_keys",
    "name_from_field_selector",
    "node_rules",
    "non_resource_attributes",
    "resource_attributes",
    "review_answer",
    "self_subject_review",
    "token_review_answer",
]
