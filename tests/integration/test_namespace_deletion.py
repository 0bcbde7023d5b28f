"""Namespace deletion waits for spec.finalizers: Terminating until /finalize empties them."""

from __future__ import annotations

import json

import pytest

from tests.integration.apiserver_fixture import ApiServerForTest
from tests.integration.certs import RawClient

pytestmark = pytest.mark.integration


def test_deleted_namespace_stays_terminating_until_finalized(apiserver: ApiServerForTest) -> None:
    ns = apiserver.namespace("term")
    client = RawClient(apiserver.kubeconfig)
    deleted = client.request("DELETE", f"/api/v1/namespaces/{ns}")
    doc = json.loads(deleted.body)
    assert deleted.status == 200
    assert doc["status"]["phase"] == "Terminating"
    assert doc["spec"]["finalizers"] == ["kubernetes"]
    still = json.loads(client.request("GET", f"/api/v1/namespaces/{ns}").body)
    assert still["metadata"]["deletionTimestamp"]
    refused = client.request("POST", f"/api/v1/namespaces/{ns}/configmaps",
                             {"apiVersion": "v1", "kind": "ConfigMap", "metadata": {"name": "late"}})
    assert refused.status == 403
    assert "because it is being terminated" in json.loads(refused.body)["message"]
    still["spec"]["finalizers"] = []
    finalized = client.request("PUT", f"/api/v1/namespaces/{ns}/finalize", still)
    assert finalized.status == 200, finalized.body
    assert client.request("GET", f"/api/v1/namespaces/{ns}").status == 404
