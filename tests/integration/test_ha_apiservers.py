"""Two API servers on one etcd: each sees the other's writes, watches and concurrency control span both."""

from __future__ import annotations

import asyncio
import dataclasses
import ipaddress
import threading
import uuid
from collections.abc import Iterator
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from pathlib import Path

import pytest
from kubernetes import client, config, watch
from kubernetes.client.rest import ApiException

from kubeprov.apiserver.server import ApiServer
from kubeprov.etcd.local import free_port
from tests.integration.apiserver_fixture import ApiServerForTest, _server_thread
from tests.integration.certs import RawClient, with_server

pytestmark = [pytest.mark.integration, pytest.mark.timeout(90)]


@dataclass
class SecondServer:
    server: ApiServer
    url: str
    kubeconfig: Path


@pytest.fixture(scope="module")
def second(apiserver: ApiServerForTest, tmp_path_factory: pytest.TempPathFactory) -> Iterator[SecondServer]:
    """Another ApiServer with the first one's config (same etcd, same PKI) on another port."""
    port = free_port()
    server = ApiServer(dataclasses.replace(apiserver.server.config, port=port))
    loop = asyncio.new_event_loop()
    started, failure = threading.Event(), []
    thread = threading.Thread(target=_server_thread, args=(server, loop, started, failure), daemon=True)
    thread.start()
    assert started.wait(60), "the second API server did not start within 60s"
    try:
        if failure:
            raise RuntimeError(f"the second API server did not start: {failure[0]!r}") from failure[0]
        url = f"https://127.0.0.1:{port}"
        kubeconfig = with_server(apiserver.kubeconfig, url, tmp_path_factory.mktemp("ha") / "second.conf")
        yield SecondServer(server, url, kubeconfig)
    finally:
        if not failure:
            asyncio.run_coroutine_threadsafe(server.stop(), loop).result(30)
        loop.call_soon_threadsafe(loop.stop)
        thread.join(10)


def core_api(kubeconfig: Path) -> client.CoreV1Api:
    return client.CoreV1Api(config.new_client_from_config(config_file=str(kubeconfig)))


def configmap(name: str, data: dict[str, str]) -> client.V1ConfigMap:
    return client.V1ConfigMap(api_version="v1", kind="ConfigMap", metadata=client.V1ObjectMeta(name=name),
                              data=data)


def collect_until_deleted(api: client.CoreV1Api, ns: str, resource_version: str,
                          events: list[tuple[str, str, dict[str, str] | None]], done: threading.Event,
                          errors: list[BaseException]) -> None:
    w = watch.Watch()
    try:
        for event in w.stream(api.list_namespaced_config_map, namespace=ns, resource_version=resource_version,
                              timeout_seconds=20):
            obj = event["object"]
            events.append((event["type"], obj.metadata.name, obj.data))
            if event["type"] == "DELETED":
                w.stop()
                break
    except BaseException as exc:  # reported by the test
        errors.append(exc)
    finally:
        done.set()


def test_second_server_is_ready(second: SecondServer) -> None:
    resp = RawClient(second.kubeconfig).get("/readyz")
    assert (resp.status, resp.body) == (200, b"ok")


def test_second_server_serves_objects_written_through_the_first(apiserver: ApiServerForTest,
                                                                second: SecondServer) -> None:
    ns = apiserver.namespace("ha")
    assert apiserver.kubectl("create", "configmap", "c", "-n", ns, "--from-literal=k=v").returncode == 0
    result = apiserver.kubectl("get", "configmap", "c", "-n", ns, "-o", "jsonpath={.data.k}",
                               kubeconfig=second.kubeconfig)
    assert (result.returncode, result.stdout) == (0, "v"), result.stderr


def test_namespace_created_on_one_server_is_usable_at_once_on_the_other(apiserver: ApiServerForTest,
                                                                        second: SecondServer) -> None:
    ns = f"ha-fresh-{uuid.uuid4().hex[:8]}"
    assert apiserver.kubectl("create", "namespace", ns).returncode == 0
    result = apiserver.kubectl("create", "configmap", "c", "-n", ns, kubeconfig=second.kubeconfig)
    assert result.returncode == 0, result.stderr


@pytest.mark.parametrize("direction", ["first-to-second", "second-to-first"])
def test_watch_on_one_server_sees_writes_through_the_other(apiserver: ApiServerForTest, second: SecondServer,
                                                           direction: str) -> None:
    ns = apiserver.namespace("ha")
    first_api, second_api = core_api(apiserver.kubeconfig), core_api(second.kubeconfig)
    writer, watcher = (first_api, second_api) if direction == "first-to-second" else (second_api, first_api)
    rv = watcher.list_namespaced_config_map(ns).metadata.resource_version
    events: list[tuple[str, str, dict[str, str] | None]] = []
    done, errors = threading.Event(), []
    thread = threading.Thread(target=collect_until_deleted, args=(watcher, ns, rv, events, done, errors),
                              daemon=True)
    thread.start()
    writer.create_namespaced_config_map(ns, configmap("shared", {"v": "1"}))
    writer.patch_namespaced_config_map("shared", ns, {"data": {"v": "2"}},
                                       _content_type="application/merge-patch+json")
    writer.delete_namespaced_config_map("shared", ns)
    assert done.wait(25), f"the watch never saw DELETED; saw {events}"
    assert not errors, errors
    assert events == [("ADDED", "shared", {"v": "1"}), ("MODIFIED", "shared", {"v": "2"}),
                      ("DELETED", "shared", {"v": "2"})]


def test_stale_update_through_one_server_conflicts_after_update_through_the_other(
        apiserver: ApiServerForTest, second: SecondServer) -> None:
    ns = apiserver.namespace("ha")
    first_api, second_api = core_api(apiserver.kubeconfig), core_api(second.kubeconfig)
    original = first_api.create_namespaced_config_map(ns, configmap("c", {"v": "1"}))
    update = configmap("c", {"v": "2"})
    update.metadata.resource_version = original.metadata.resource_version
    first_api.replace_namespaced_config_map("c", ns, update)
    stale = configmap("c", {"v": "3"})
    stale.metadata.resource_version = original.metadata.resource_version
    with pytest.raises(ApiException) as info:
        second_api.replace_namespaced_config_map("c", ns, stale)
    assert info.value.status == 409
    assert second_api.read_namespaced_config_map("c", ns).data == {"v": "2"}


def test_services_created_concurrently_on_both_servers_get_distinct_cluster_ips(
        apiserver: ApiServerForTest, second: SecondServer) -> None:
    ns = apiserver.namespace("ha")
    clients = [RawClient(apiserver.kubeconfig), RawClient(second.kubeconfig)]

    def create(i: int) -> tuple[int, str]:
        body = {"apiVersion": "v1", "kind": "Service", "metadata": {"name": f"s{i}"},
                "spec": {"ports": [{"port": 80}], "type": "NodePort"}}
        resp = clients[i % 2].post(f"/api/v1/namespaces/{ns}/services", body)
        assert resp.status == 201, resp
        spec = resp.json()["spec"]
        return spec["ports"][0]["nodePort"], spec["clusterIP"]

    with ThreadPoolExecutor(max_workers=8) as pool:
        results = list(pool.map(create, range(16)))
    node_ports = [p for p, _ in results]
    ips = [ip for _, ip in results]
    assert len(set(ips)) == len(ips), f"duplicate cluster IPs: {sorted(ips)}"
    assert len(set(node_ports)) == len(node_ports), f"duplicate node ports: {sorted(node_ports)}"
    assert all(ipaddress.ip_address(ip) in ipaddress.ip_network("10.96.0.0/12") for ip in ips)
