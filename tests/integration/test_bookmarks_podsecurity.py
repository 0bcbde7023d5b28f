"""Watch bookmarks, and Pod Security admission enforced through namespace labels."""

from __future__ import annotations

import json

import pytest

from tests.integration.apiserver_fixture import ApiServerForTest
from tests.integration.certs import RawClient

pytestmark = pytest.mark.integration


def test_watch_list_sends_initial_events_then_a_bookmark_marking_their_end(apiserver: ApiServerForTest) -> None:
    ns = apiserver.namespace("bm")
    client = RawClient(apiserver.kubeconfig)
    for name in ("a", "b"):
        body = {"apiVersion": "v1", "kind": "ConfigMap", "metadata": {"name": name}}
        assert client.request("POST", f"/api/v1/namespaces/{ns}/configmaps", body).status == 201
    resp = client.request("GET", f"/api/v1/namespaces/{ns}/configmaps?watch=true&sendInitialEvents=true"
                                 "&resourceVersionMatch=NotOlderThan&allowWatchBookmarks=true&timeoutSeconds=1")
    events = [json.loads(line) for line in resp.body.decode().splitlines()]
    assert [e["type"] for e in events[:3]] == ["ADDED", "ADDED", "BOOKMARK"]
    assert [e["object"]["metadata"]["name"] for e in events[:2]] == ["a", "b"]
    bookmark = events[2]["object"]
    assert bookmark["metadata"]["annotations"] == {"k8s.io/initial-events-end": "true"}
    assert int(bookmark["metadata"]["resourceVersion"]) > 0


def privileged_pod(name: str) -> str:
    return json.dumps({"apiVersion": "v1", "kind": "Pod", "metadata": {"name": name},
                       "spec": {"containers": [{"name": "web", "image": "registry.local/web:1",
                                                "securityContext": {"privileged": True}}]}})


def test_restricted_namespace_refuses_a_privileged_pod(apiserver: ApiServerForTest) -> None:
    ns = apiserver.namespace("pss")
    assert apiserver.kubectl("create", "serviceaccount", "default", "-n", ns).returncode == 0
    assert apiserver.kubectl("label", "namespace", ns, "pod-security.kubernetes.io/enforce=baseline").returncode == 0
    out = apiserver.kubectl("create", "-n", ns, "-f", "-", input=privileged_pod("p1"))
    assert out.returncode != 0
    assert 'is forbidden: violates PodSecurity "baseline:latest": privileged (container "web" must not set ' \
           'securityContext.privileged=true)' in out.stderr


def test_warn_label_lets_the_pod_in_with_a_warning(apiserver: ApiServerForTest) -> None:
    ns = apiserver.namespace("pss")
    assert apiserver.kubectl("create", "serviceaccount", "default", "-n", ns).returncode == 0
    assert apiserver.kubectl("label", "namespace", ns, "pod-security.kubernetes.io/warn=baseline").returncode == 0
    out = apiserver.kubectl("create", "-n", ns, "-f", "-", input=privileged_pod("p2"))
    assert out.returncode == 0, out.stderr
    assert 'Warning: would violate PodSecurity "baseline:latest": privileged' in out.stderr
