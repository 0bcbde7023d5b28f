"""DefaultTolerationSeconds through a real API server: a created pod reads back with the default tolerations."""

from __future__ import annotations

import dataclasses
from pathlib import Path

import pytest
import yaml

from kubeprov.api.client import ApiClient
from kubeprov.etcd.local import free_port
from tests.integration.apiserver_fixture import ApiServerForTest, extra_server
from tests.integration.controller_env import new_namespace

pytestmark = [pytest.mark.integration, pytest.mark.timeout(60)]


async def test_a_created_pod_reads_back_with_the_configured_default_tolerations(
        apiserver: ApiServerForTest, tmp_path: Path) -> None:
    port = free_port()
    base = apiserver.server.config
    assert "DefaultTolerationSeconds" in base.admission_plugins  # on by default, as in kube-apiserver
    config = dataclasses.replace(base, port=port, default_unreachable_toleration_seconds=42)
    doc = yaml.safe_load(apiserver.kubeconfig.read_text())
    doc["clusters"][0]["cluster"]["server"] = f"https://127.0.0.1:{port}"
    (tmp_path / "kc").write_text(yaml.safe_dump(doc))
    with extra_server(config):
        async with ApiClient.from_kubeconfig(tmp_path / "kc") as client:
            ns = await new_namespace(client, "dts")
            await client.create("v1", "pods", {"apiVersion": "v1", "kind": "Pod", "metadata": {"name": "web"},
                                               "spec": {"containers": [{"name": "c", "image": "nginx:1.27"}]}}, ns)
            pod = await client.get("v1", "pods", "web", ns)
            await client.delete("v1", "namespaces", ns)
    assert pod["spec"]["tolerations"] == [
        {"key": "node.kubernetes.io/not-ready", "operator": "Exists", "effect": "NoExecute", "tolerationSeconds": 300},
        {"key": "node.kubernetes.io/unreachable", "operator": "Exists", "effect": "NoExecute",
         "tolerationSeconds": 42},
    ]
