"""metrics.k8s.io from the session API server, scraped from a fake kubelet serving fixed resource metrics.

The fake kubelet (TLS on 127.0.0.2, it-node-1's certificate, client certificates required) answers
``/metrics/resource`` with counters that advance by a fixed amount and kubelet timestamps 10 s apart
on every scrape, so the rates are exact: the node uses 500m CPU and 2Gi, pod ``web`` 25m and 10Mi.
The session server scrapes every second (``metric_resolution: 1`` in the fixture).
"""

from __future__ import annotations

import asyncio
import json
import os
import ssl
import subprocess
import uuid
from collections.abc import AsyncIterator
from pathlib import Path
from typing import Any

import pytest
from aiohttp import web

from kubeprov.api.client import ApiClient
from kubeprov.controllers.podautoscaler_metrics import ApiMetricsSource
from tests.integration.apiserver_fixture import ApiServerForTest
from tests.integration.certs import kubeconfig_for
from tests.integration.controller_env import delete_if_present, eventually, new_namespace

pytestmark = [
    pytest.mark.integration,
    pytest.mark.timeout(120),
    pytest.mark.skipif(os.geteuid() != 0, reason="needs root like the other kubelet tests"),
]

KUBELET_IP = "127.0.0.2"
T0_MS = 1_760_000_000_000
Obj = dict[str, Any]


def resource_metrics(step: int, namespace: str) -> str:
    ts = T0_MS + step * 10_000
    lines = ["# HELP node_cpu_usage_seconds_total [STABLE] Cumulative cpu time consumed by the node in core-seconds",
             "# TYPE node_cpu_usage_seconds_total counter",
             f"node_cpu_usage_seconds_total {1000 + 5 * step} {ts}",
             f"node_memory_working_set_bytes 2.147483648e+09 {ts}"]
    for pod, per_step in (("web", 0.25), ("other", 0.5)):
        labels = f'container="app",namespace="{namespace}",pod="{pod}"'
        lines += [f"container_cpu_usage_seconds_total{{{labels}}} {10 + per_step * step} {ts}",
                  f"container_memory_working_set_bytes{{{labels}}} 1.048576e+07 {ts}",
                  f'pod_cpu_usage_seconds_total{{namespace="{namespace}",pod="{pod}"}} {10 + per_step * step} {ts}']
    lines.append("scrape_error 0")
    return "\n".join(lines) + "\n"


@pytest.fixture
async def scraped(apiserver: ApiServerForTest, api_client: ApiClient) -> AsyncIterator[tuple[str, str]]:
    """(namespace, node) whose fake kubelet is being scraped; pods web (app=web) and other run there."""
    ns = await new_namespace(api_client, "mx")
    steps = {"n": 0}

    async def metrics(request: web.Request) -> web.Response:
        steps["n"] += 1
        return web.Response(text=resource_metrics(steps["n"], ns), content_type="text/plain")

    pki = apiserver.pki_dir
    ctx = ssl.create_default_context(ssl.Purpose.CLIENT_AUTH, cafile=str(pki / "ca.crt"))
    ctx.load_cert_chain(pki / "nodes/it-node-1/kubelet.crt", pki / "nodes/it-node-1/kubelet.key")
    ctx.verify_mode = ssl.CERT_REQUIRED
    app = web.Application()
    app.router.add_get("/metrics/resource", metrics)
    runner = web.AppRunner(app, access_log=None)
    await runner.setup()
    site = web.TCPSite(runner, KUBELET_IP, 0, ssl_context=ctx)
    await site.start()
    port = site._server.sockets[0].getsockname()[1]  # type: ignore[union-attr]
    node = f"mx-{uuid.uuid4().hex[:8]}"
    try:
        created = await api_client.create("v1", "nodes", {"apiVersion": "v1", "kind": "Node",
                                                          "metadata": {"name": node, "labels": {"mx": "yes"}}})
        created["status"] = {"capacity": {"cpu": "2", "memory": "4Gi", "pods": "10"},
                             "allocatable": {"cpu": "2", "memory": "4Gi", "pods": "10"},
                             "addresses": [{"type": "InternalIP", "address": KUBELET_IP}],
                             "daemonEndpoints": {"kubeletEndpoint": {"Port": port}}}
        await api_client.update("v1", "nodes", created, subresource="status")
        for pod, labels in (("web", {"app": "web"}), ("other", {})):
            await api_client.create("v1", "pods", {
                "apiVersion": "v1", "kind": "Pod", "metadata": {"name": pod, "labels": labels},
                "spec": {"nodeName": node, "containers": [{"name": "app", "image": "registry.local/busybox:1"}]}},
                namespace=ns)
        yield ns, node
    finally:
        await delete_if_present(api_client, "v1", "namespaces", ns)
        await delete_if_present(api_client, "v1", "nodes", node)
        await runner.cleanup()


async def kubectl(apiserver: ApiServerForTest, *args: str, kubeconfig: Path | None = None) -> \
        subprocess.CompletedProcess[str]:
    return await asyncio.to_thread(apiserver.kubectl, *args, kubeconfig=kubeconfig)


async def raw(apiserver: ApiServerForTest, path: str) -> Obj:
    async def fetch() -> Obj | None:
        out = await kubectl(apiserver, "get", "--raw", path)
        return json.loads(out.stdout) if out.returncode == 0 else None

    return await eventually(fetch, timeout=30)


async def test_node_metrics_are_rates_between_two_scrapes(apiserver: ApiServerForTest,
                                                          scraped: tuple[str, str]) -> None:
    _, node = scraped
    doc = await raw(apiserver, f"/apis/metrics.k8s.io/v1beta1/nodes/{node}")
    assert (doc["kind"], doc["apiVersion"]) == ("NodeMetrics", "metrics.k8s.io/v1beta1")
    assert (doc["metadata"]["name"], doc["metadata"]["labels"]) == (node, {"mx": "yes"})
    assert (doc["usage"], doc["window"]) == ({"cpu": "500m", "memory": "2Gi"}, "10s")


async def test_kubectl_top_node(apiserver: ApiServerForTest, scraped: tuple[str, str]) -> None:
    _, node = scraped
    await raw(apiserver, f"/apis/metrics.k8s.io/v1beta1/nodes/{node}")
    out = await kubectl(apiserver, "top", "node", node)
    assert out.returncode == 0, out.stderr
    header, row = out.stdout.splitlines()
    assert header.split() == ["NAME", "CPU(cores)", "CPU(%)", "MEMORY(bytes)", "MEMORY(%)"]
    assert row.split() == [node, "500m", "25%", "2048Mi", "50%"]


async def test_kubectl_top_pod_with_a_label_selector(apiserver: ApiServerForTest,
                                                     scraped: tuple[str, str]) -> None:
    ns, _ = scraped
    await raw(apiserver, f"/apis/metrics.k8s.io/v1beta1/namespaces/{ns}/pods/web")
    out = await kubectl(apiserver, "top", "pod", "-n", ns, "-l", "app=web")
    assert out.returncode == 0, out.stderr
    assert [line.split() for line in out.stdout.splitlines()] == [["NAME", "CPU(cores)", "MEMORY(bytes)"],
                                                                   ["web", "25m", "10Mi"]]


async def test_pod_metrics_list_in_all_namespaces(apiserver: ApiServerForTest, scraped: tuple[str, str]) -> None:
    ns, _ = scraped
    await raw(apiserver, f"/apis/metrics.k8s.io/v1beta1/namespaces/{ns}/pods/other")
    doc = await raw(apiserver, "/apis/metrics.k8s.io/v1beta1/pods")
    assert doc["kind"] == "PodMetricsList"
    mine = {i["metadata"]["name"]: i["containers"] for i in doc["items"] if i["metadata"]["namespace"] == ns}
    assert mine == {"web": [{"name": "app", "usage": {"cpu": "25m", "memory": "10Mi"}}],
                    "other": [{"name": "app", "usage": {"cpu": "50m", "memory": "10Mi"}}]}


async def test_unknown_pod_metrics_are_not_found(apiserver: ApiServerForTest, scraped: tuple[str, str]) -> None:
    ns, _ = scraped
    out = await kubectl(apiserver, "get", "--raw", f"/apis/metrics.k8s.io/v1beta1/namespaces/{ns}/pods/nope")
    assert out.returncode != 0
    assert 'podmetrics.metrics.k8s.io "nope" not found' in out.stderr


async def test_metrics_group_is_discoverable(apiserver: ApiServerForTest) -> None:
    out = await kubectl(apiserver, "api-resources", "--api-group=metrics.k8s.io", "--no-headers")
    assert out.returncode == 0, out.stderr
    rows = sorted(line.split() for line in out.stdout.splitlines())
    assert rows == [["nodes", "metrics.k8s.io/v1beta1", "false", "NodeMetrics"],
                    ["pods", "metrics.k8s.io/v1beta1", "true", "PodMetrics"]]


async def test_hpa_metrics_source_reads_pod_metrics(apiserver: ApiServerForTest, api_client: ApiClient,
                                                    scraped: tuple[str, str]) -> None:
    ns, _ = scraped
    await raw(apiserver, f"/apis/metrics.k8s.io/v1beta1/namespaces/{ns}/pods/web")
    metrics = await ApiMetricsSource(api_client).pod_metrics("cpu", ns, "app=web")
    assert {name: m.value for name, m in metrics.items()} == {"web": 25}


async def test_namespace_viewers_may_read_pod_metrics(apiserver: ApiServerForTest, api_client: ApiClient,
                                                      scraped: tuple[str, str], tmp_path: Path) -> None:
    ns, _ = scraped
    await api_client.create("rbac.authorization.k8s.io/v1", "rolebindings", {
        "apiVersion": "rbac.authorization.k8s.io/v1", "kind": "RoleBinding", "metadata": {"name": "viewer"},
        "roleRef": {"apiGroup": "rbac.authorization.k8s.io", "kind": "ClusterRole", "name": "view"},
        "subjects": [{"apiGroup": "rbac.authorization.k8s.io", "kind": "User", "name": "mx-viewer"}]}, namespace=ns)
    viewer = kubeconfig_for(apiserver.pki_dir, apiserver.url, tmp_path, "mx-viewer")

    async def allowed() -> bool:
        out = await kubectl(apiserver, "get", "--raw", f"/apis/metrics.k8s.io/v1beta1/namespaces/{ns}/pods/web",
                            kubeconfig=viewer)
        return out.returncode == 0

    assert await eventually(allowed, timeout=30)
    denied = await kubectl(apiserver, "get", "--raw", "/apis/metrics.k8s.io/v1beta1/pods", kubeconfig=viewer)
    assert "forbidden" in denied.stderr
