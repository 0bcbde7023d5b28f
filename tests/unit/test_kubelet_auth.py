"""The kubelet server's request attributes (path -> nodes subresource, method -> verb), credentials and caches."""

from __future__ import annotations

from typing import Any

import pytest

from kubeprov.kubelet.server import auth
from kubeprov.kubelet.server.auth import User, WebhookAuth, request_attributes, subresource_for, verb_for


@pytest.mark.parametrize(("path", "subresource"), [
    ("/stats", "stats"), ("/stats/summary", "stats"),
    ("/metrics", "metrics"), ("/metrics/resource", "metrics"), ("/metrics/cadvisor", "metrics"),
    ("/logs", "log"), ("/logs/syslog", "log"),
    ("/spec", "spec"), ("/spec/", "spec"),
    ("/containerLogs/ns/pod/c", "proxy"), ("/exec/ns/pod/c", "proxy"), ("/attach/ns/pod/c", "proxy"),
    ("/portForward/ns/pod", "proxy"), ("/run/ns/pod/c", "proxy"), ("/pods", "proxy"), ("/healthz", "proxy"),
    ("/", "proxy"),
])
def test_each_path_is_checked_as_the_kubelets_nodes_subresource(path: str, subresource: str) -> None:
    assert subresource_for(path) == subresource


def test_a_path_only_sharing_a_prefix_is_proxy() -> None:
    assert subresource_for("/metricsfoo") == "proxy"
    assert subresource_for("/statsx/summary") == "proxy"


@pytest.mark.parametrize(("method", "verb"), [
    ("GET", "get"), ("HEAD", "get"), ("POST", "create"), ("PUT", "update"), ("PATCH", "patch"),
    ("DELETE", "delete"),
])
def test_http_methods_map_to_api_verbs(method: str, verb: str) -> None:
    assert verb_for(method) == verb


def test_forbidden_message_has_the_kubelets_wording() -> None:
    attrs = request_attributes(User("bob"), "POST", "/exec/ns/p/c", "node-1")
    assert (attrs.verb, attrs.node, attrs.subresource) == ("create", "node-1", "proxy")
    assert attrs.forbidden_message() == "Forbidden (user=bob, verb=create, resource=nodes, subresource(s)=[proxy])"


def test_a_certificate_names_the_user_by_cn_and_groups_by_o() -> None:
    peer = {"subject": ((("organizationName", "system:masters"),), (("organizationName", "ops"),),
                        (("commonName", "kube-apiserver-kubelet-client"),))}
    user = auth.user_from_certificate(peer)
    assert user == User("kube-apiserver-kubelet-client", ("system:masters", "ops", "system:authenticated"))


def test_no_certificate_or_one_without_cn_names_nobody() -> None:
    assert auth.user_from_certificate(None) is None
    assert auth.user_from_certificate({}) is None
    assert auth.user_from_certificate({"subject": ((("organizationName", "x"),),)}) is None


@pytest.mark.parametrize(("header", "token"), [
    ("Bearer abc.def", "abc.def"), ("bearer  tok ", "tok"), ("Basic dXNlcg==", None), ("Bearer ", None), ("", None),
])
def test_bearer_tokens_are_read_from_the_authorization_header(header: str, token: str | None) -> None:
    assert auth.bearer_token(header) == token


class FakeClient:
    """Answers TokenReviews and SubjectAccessReviews from tables and counts the calls."""

    def __init__(self, users: dict[str, str], allowed: set[str]) -> None:
        self.users, self.allowed = users, allowed
        self.calls: list[tuple[str, Any]] = []

    async def create(self, api_version: str, resource: str, obj: dict[str, Any], namespace: str = "") -> Any:
        self.calls.append((resource, obj))
        if resource == "tokenreviews":
            name = self.users.get(obj["spec"]["token"])
            status = {"authenticated": True, "user": {"username": name, "groups": ["g"]}} if name else {}
            return {**obj, "status": status}
        return {**obj, "status": {"allowed": obj["spec"]["user"] in self.allowed}}


class Clock:
    def __init__(self) -> None:
        self.now = 1000.0

    def __call__(self) -> float:
        return self.now


async def test_token_reviews_are_cached_for_two_minutes() -> None:
    client, clock = FakeClient({"t1": "alice"}, set()), Clock()
    webhook = WebhookAuth(client, clock=clock)  # type: ignore[arg-type]
    assert await webhook.authenticate_token("t1") == User("alice", ("g",))
    assert await webhook.authenticate_token("t1") == User("alice", ("g",))
    assert len(client.calls) == 1
    clock.now += auth.TOKEN_TTL + 1
    await webhook.authenticate_token("t1")
    assert len(client.calls) == 2


async def test_an_invalid_token_authenticates_nobody() -> None:
    webhook = WebhookAuth(FakeClient({}, set()), clock=Clock())  # type: ignore[arg-type]
    assert await webhook.authenticate_token("nope") is None


async def test_the_access_review_asks_about_the_node_and_denials_expire_sooner() -> None:
    client, clock = FakeClient({}, {"alice"}), Clock()
    webhook = WebhookAuth(client, clock=clock)  # type: ignore[arg-type]
    assert await webhook.authorize(request_attributes(User("alice", ("g",)), "GET", "/metrics", "n1"))
    review = client.calls[0][1]
    assert review["kind"] == "SubjectAccessReview"
    assert review["spec"]["groups"] == ["g"]
    assert review["spec"]["resourceAttributes"] == {"verb": "get", "resource": "nodes", "version": "v1",
                                                    "name": "n1", "subresource": "metrics"}
    bob = request_attributes(User("bob"), "GET", "/metrics", "n1")
    assert not await webhook.authorize(bob)
    clock.now += auth.DENIED_TTL + 1
    assert not await webhook.authorize(bob)
    assert await webhook.authorize(request_attributes(User("alice", ("g",)), "GET", "/metrics", "n1"))
    assert [c[0] for c in client.calls].count("subjectaccessreviews") == 3
