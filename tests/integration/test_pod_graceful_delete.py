"""Graceful pod deletion: a bound pod stays, marked, until its kubelet deletes it with grace 0; status writes
during the grace period (the kubelet reporting the containers stopping) must not remove it early."""

from __future__ import annotations

import pytest

from kubeprov.api.client import ApiClient
from kubeprov.api.status import StatusError
from tests.integration.controller_env import delete_if_present, new_namespace

pytestmark = [pytest.mark.integration, pytest.mark.timeout(60)]


def bound_pod(name: str) -> dict:
    return {"apiVersion": "v1", "kind": "Pod", "metadata": {"name": name},
            "spec": {"nodeName": "graceful-delete-node", "terminationGracePeriodSeconds": 30,
                     "containers": [{"name": "c", "image": "registry.local/busybox:1"}]}}


async def test_a_status_write_during_the_grace_period_keeps_the_pod_until_the_final_delete(
        api_client: ApiClient) -> None:
    ns = await new_namespace(api_client, "graceful")
    try:
        await api_client.create("v1", "pods", bound_pod("p"), ns)
        await api_client.delete("v1", "pods", "p", ns)
        marked = await api_client.get("v1", "pods", "p", ns)
        assert marked["metadata"]["deletionGracePeriodSeconds"] == 30 and marked["metadata"]["deletionTimestamp"]
        marked["status"]["phase"] = "Succeeded"
        await api_client.update("v1", "pods", marked, ns, subresource="status")
        after_status = await api_client.get("v1", "pods", "p", ns)
        assert after_status["status"]["phase"] == "Succeeded"
        await api_client.delete("v1", "pods", "p", ns, grace_period_seconds=0)
        with pytest.raises(StatusError) as gone:
            await api_client.get("v1", "pods", "p", ns)
        assert gone.value.code == 404
    finally:
        await delete_if_present(api_client, "v1", "namespaces", ns)


async def test_removing_the_last_finalizer_of_a_deleted_object_removes_it(api_client: ApiClient) -> None:
    ns = await new_namespace(api_client, "graceful")
    try:
        body = {"apiVersion": "v1", "kind": "ConfigMap", "metadata": {"name": "held", "finalizers": ["test/hold"]}}
        await api_client.create("v1", "configmaps", body, ns)
        await api_client.delete("v1", "configmaps", "held", ns)
        held = await api_client.get("v1", "configmaps", "held", ns)
        held["metadata"]["finalizers"] = []
        await api_client.update("v1", "configmaps", held, ns)
        with pytest.raises(StatusError) as gone:
            await api_client.get("v1", "configmaps", "held", ns)
        assert gone.value.code == 404
    finally:
        await delete_if_present(api_client, "v1", "namespaces", ns)
