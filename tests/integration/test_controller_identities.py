"""Per-controller identities against a real API server: the controller manager with
``use_service_account_credentials`` acts as each controller's own kube-system ServiceAccount."""

from __future__ import annotations

import dataclasses
import json
from pathlib import Path

import pytest
import yaml

from kubeprov.api.client import ApiClient
from kubeprov.api.status import StatusError
from kubeprov.controllers import ControllerManager, ControllerManagerConfig
from kubeprov.etcd.local import free_port
from tests.integration.apiserver_fixture import ApiServerForTest, extra_server
from tests.integration.controller_env import eventually, new_namespace

pytestmark = [pytest.mark.integration, pytest.mark.timeout(90)]

RS_USER = "system:serviceaccount:kube-system:replicaset-controller"


def replicaset(replicas: int) -> dict:
    return {"apiVersion": "apps/v1", "kind": "ReplicaSet", "metadata": {"name": "web"},
            "spec": {"replicas": replicas, "selector": {"matchLabels": {"app": "web"}},
                     "template": {"metadata": {"labels": {"app": "web"}},
                                  "spec": {"containers": [{"name": "c", "image": "busybox"}]}}}}


def audit_events(path: Path) -> list[dict]:
    if not path.exists():
        return []
    return [json.loads(line) for line in path.read_text().splitlines() if line.strip()]


async def test_replicaset_pods_are_created_as_its_service_account_which_may_not_delete_replicasets(
        apiserver: ApiServerForTest, tmp_path: Path) -> None:
    port = free_port()
    audit = tmp_path / "audit.log"
    config = dataclasses.replace(apiserver.server.config, port=port, audit_log_path=str(audit))
    doc = yaml.safe_load(apiserver.kubeconfig.read_text())
    doc["clusters"][0]["cluster"]["server"] = f"https://127.0.0.1:{port}"
    kubeconfig = tmp_path / "admin.conf"
    kubeconfig.write_text(yaml.safe_dump(doc))
    with extra_server(config):
        async with ApiClient.from_kubeconfig(kubeconfig) as client:
            ns = await new_namespace(client, "ids")
            manager = ControllerManager(ControllerManagerConfig.from_dict({
                "kubeconfig": str(kubeconfig), "controllers": ["replicaset"], "leader_elect": False,
                "health_port": 0, "namespaces": [ns], "use_service_account_credentials": True}))
            await manager.start()
            try:
                await client.create("apps/v1", "replicasets", replicaset(2), ns)

                async def pods_created_by_the_account() -> list[dict]:
                    return [e for e in audit_events(audit)
                            if e["verb"] == "create" and e.get("objectRef", {}).get("resource") == "pods"
                            and e["objectRef"].get("namespace") == ns and e["stage"] == "ResponseComplete"
                            and e["user"]["username"] == RS_USER]

                created = await eventually(pods_created_by_the_account, timeout=30)
                account = await client.get("v1", "serviceaccounts", "replicaset-controller", "kube-system")
                assert manager._identities is not None
                own = manager._identities.clients["replicaset-controller"]
                with pytest.raises(StatusError) as err:
                    await own.delete("apps/v1", "replicasets", "web", ns)
            finally:
                await manager.stop()
                await client.delete("v1", "namespaces", ns)
    assert {e["responseStatus"]["code"] for e in created} == {201}
    assert account["metadata"]["name"] == "replicaset-controller"
    assert err.value.code == 403
    assert RS_USER in err.value.message
