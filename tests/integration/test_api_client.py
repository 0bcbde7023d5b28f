"""kubeprov's async REST client against our API server."""

from __future__ import annotations

import asyncio
import base64
import contextlib
import dataclasses
from pathlib import Path

import pytest
import yaml

from kubeprov.api.client import ApiClient, ApiConnectionError, resource_path
from kubeprov.api.status import StatusError
from kubeprov.etcd.local import free_port
from tests.integration.apiserver_fixture import extra_server

pytestmark = [pytest.mark.integration, pytest.mark.timeout(60)]


def configmap(name: str, data: dict[str, str] | None = None, labels: dict[str, str] | None = None) -> dict:
    meta: dict = {"name": name}
    if labels:
        meta["labels"] = labels
    return {"apiVersion": "v1", "kind": "ConfigMap", "metadata": meta, "data": data or {}}


def test_paths_for_core_and_group_resources():
    assert resource_path("v1", "pods", "ns", "p", "binding") == "/api/v1/namespaces/ns/pods/p/binding"
    assert resource_path("apps/v1", "deployments") == "/apis/apps/v1/deployments"
    assert resource_path("v1", "namespaces", name="kube-system") == "/api/v1/namespaces/kube-system"


async def test_configmap_create_get_update_delete_round_trip(apiserver, client):
    ns = apiserver.namespace("cl")
    created = await client.create("v1", "configmaps", configmap("cm", {"a": "1"}), ns)
    assert created["metadata"]["uid"] and created["data"] == {"a": "1"}
    got = await client.get("v1", "configmaps", "cm", ns)
    assert got["metadata"]["uid"] == created["metadata"]["uid"]
    got["data"]["b"] = "2"
    updated = await client.update("v1", "configmaps", got, ns)
    assert updated["data"] == {"a": "1", "b": "2"}
    assert updated["metadata"]["resourceVersion"] != created["metadata"]["resourceVersion"]
    await client.delete("v1", "configmaps", "cm", ns)
    with pytest.raises(StatusError) as err:
        await client.get("v1", "configmaps", "cm", ns)
    assert err.value.code == 404


async def test_missing_object_raises_not_found(apiserver, client):
    ns = apiserver.namespace("cl")
    with pytest.raises(StatusError) as err:
        await client.get("v1", "configmaps", "nope", ns)
    assert (err.value.code, err.value.reason) == (404, "NotFound")
    assert 'configmaps "nope" not found' in err.value.message


async def test_update_with_stale_resource_version_conflicts(apiserver, client):
    ns = apiserver.namespace("cl")
    first = await client.create("v1", "configmaps", configmap("cm", {"v": "1"}), ns)
    await client.patch("v1", "configmaps", "cm", {"data": {"v": "2"}}, ns)
    stale = {**first, "data": {"v": "3"}}
    with pytest.raises(StatusError) as err:
        await client.update("v1", "configmaps", stale, ns)
    assert (err.value.code, err.value.reason) == (409, "Conflict")


async def test_delete_with_uid_precondition_mismatch_conflicts(apiserver, client):
    ns = apiserver.namespace("cl")
    await client.create("v1", "configmaps", configmap("cm"), ns)
    with pytest.raises(StatusError) as err:
        await client.delete("v1", "configmaps", "cm", ns, preconditions={"uid": "not-the-uid"})
    assert err.value.code == 409


async def test_list_all_follows_continue_tokens(apiserver, client):
    ns = apiserver.namespace("cl")
    for i in range(7):
        await client.create("v1", "configmaps", configmap(f"cm-{i}", labels={"set": "x"}), ns)
    page = await client.list("v1", "configmaps", ns, limit=3)
    assert len(page["items"]) == 3 and page["metadata"].get("continue")
    items, rv = await client.list_all("v1", "configmaps", ns, limit=3, label_selector="set=x")
    assert sorted(i["metadata"]["name"] for i in items) == [f"cm-{i}" for i in range(7)]
    assert all(i["apiVersion"] == "v1" and i["kind"] == "ConfigMap" for i in items)
    assert int(rv) > 0


async def test_watch_sees_added_modified_deleted(apiserver, client):
    ns = apiserver.namespace("cl")
    _, rv = await client.list_all("v1", "configmaps", ns)
    seen: list[tuple[str, str]] = []

    async def collect() -> None:
        async with contextlib.aclosing(client.watch("v1", "configmaps", ns, resource_version=rv,
                                                    timeout_seconds=20)) as events:
            async for kind, obj in events:
                if kind == "BOOKMARK":
                    continue
                assert (obj["apiVersion"], obj["kind"]) == ("v1", "ConfigMap")
                seen.append((kind, obj["metadata"]["name"]))
                if kind == "DELETED":
                    return

    task = asyncio.create_task(collect())
    await client.create("v1", "configmaps", configmap("w"), ns)
    await client.patch("v1", "configmaps", "w", {"data": {"k": "v"}}, ns)
    await client.delete("v1", "configmaps", "w", ns)
    await asyncio.wait_for(task, 15)
    assert seen == [("ADDED", "w"), ("MODIFIED", "w"), ("DELETED", "w")]


async def test_watch_from_a_version_older_than_the_cache_raises_expired(apiserver, tmp_path):
    ns = apiserver.namespace("cl")
    port = free_port()
    config = dataclasses.replace(apiserver.server.config, port=port, watch_cache_size=5)
    doc = yaml.safe_load(apiserver.kubeconfig.read_text())
    doc["clusters"][0]["cluster"]["server"] = f"https://127.0.0.1:{port}"
    (tmp_path / "kc").write_text(yaml.safe_dump(doc))
    with extra_server(config):
        async with ApiClient.from_kubeconfig(tmp_path / "kc") as client:
            first = await client.create("v1", "configmaps", configmap("cm-0"), ns)
            for i in range(1, 10):
                await client.create("v1", "configmaps", configmap(f"cm-{i}"), ns)
            with pytest.raises(StatusError) as err:
                async for _ in client.watch("v1", "configmaps", ns, resource_version=first["metadata"][
                        "resourceVersion"], timeout_seconds=5):
                    pass
    assert (err.value.code, err.value.reason) == (410, "Expired")


async def test_patch_types_merge_strategic_json_apply(apiserver, client):
    ns = apiserver.namespace("cl")
    await client.create("v1", "configmaps", configmap("cm", {"a": "1"}), ns)
    merged = await client.patch("v1", "configmaps", "cm", {"data": {"b": "2"}}, ns, patch_type="merge")
    assert merged["data"] == {"a": "1", "b": "2"}
    strategic = await client.patch("v1", "configmaps", "cm", {"metadata": {"labels": {"s": "y"}}}, ns,
                                   patch_type="strategic")
    assert strategic["metadata"]["labels"] == {"s": "y"}
    jsonp = await client.patch("v1", "configmaps", "cm", [{"op": "remove", "path": "/data/a"}], ns,
                               patch_type="json")
    assert jsonp["data"] == {"b": "2"}
    applied = await client.patch("v1", "configmaps", "cm", configmap("cm", {"c": "3"}), ns, patch_type="apply",
                                 field_manager="kubeprov-test", force=True)
    assert applied["data"]["c"] == "3"
    managers = {m["manager"] for m in applied["metadata"]["managedFields"]}
    assert "kubeprov-test" in managers


async def test_pod_binding_through_subresource(apiserver, client):
    ns = apiserver.namespace("cl")
    await client.create("v1", "serviceaccounts", {"metadata": {"name": "default"}}, ns)
    pod = {"apiVersion": "v1", "kind": "Pod", "metadata": {"name": "p"},
           "spec": {"containers": [{"name": "c", "image": "busybox"}]}}
    await client.create("v1", "pods", pod, ns)
    binding = {"apiVersion": "v1", "kind": "Binding", "metadata": {"name": "p"},
               "target": {"apiVersion": "v1", "kind": "Node", "name": "it-node-1"}}
    answer = await client.create("v1", "pods", binding, ns, name="p", subresource="binding")
    assert answer.get("status") == "Success"
    bound = await client.get("v1", "pods", "p", ns)
    assert bound["spec"]["nodeName"] == "it-node-1"
    with pytest.raises(StatusError) as err:
        await client.create("v1", "pods", binding, ns, name="p", subresource="binding")
    assert err.value.code == 409


async def test_from_kubeconfig_with_embedded_credentials_and_temp_cleanup(apiserver):
    client = ApiClient.from_kubeconfig(apiserver.kubeconfig)
    assert client.server == apiserver.url
    tempdir = Path(client._tempdir.name)
    assert (tempdir / "client.key").stat().st_mode & 0o077 == 0
    namespaces, _ = await client.list_all("v1", "namespaces")
    assert "default" in {n["metadata"]["name"] for n in namespaces}
    await client.close()
    assert not tempdir.exists()


async def test_from_kubeconfig_with_file_paths(apiserver, tmp_path):
    doc = yaml.safe_load(apiserver.kubeconfig.read_text())
    user = doc["users"][0]["user"]
    (tmp_path / "client.crt").write_bytes(base64.b64decode(user.pop("client-certificate-data")))
    (tmp_path / "client.key").write_bytes(base64.b64decode(user.pop("client-key-data")))
    user["client-certificate"] = "client.crt"  # relative to the kubeconfig's directory
    user["client-key"] = str(tmp_path / "client.key")
    path = tmp_path / "kubeconfig"
    path.write_text(yaml.safe_dump(doc))
    async with ApiClient.from_kubeconfig(path) as client:
        assert (await client.get("v1", "namespaces", "default"))["metadata"]["name"] == "default"


async def test_without_credentials_the_server_refuses(apiserver):
    ca = apiserver.pki_dir / "ca.crt"
    async with ApiClient(apiserver.url, ca_file=ca) as client:
        with pytest.raises(StatusError) as err:
            await client.list("v1", "secrets", "default")
    assert err.value.code in (401, 403)


async def test_qps_limit_spaces_requests(apiserver):
    async with ApiClient.from_kubeconfig(apiserver.kubeconfig) as client:
        client.qps = 20.0
        loop = asyncio.get_running_loop()
        began = loop.time()
        await asyncio.gather(*(client.get("v1", "namespaces", "default") for _ in range(6)))
        assert loop.time() - began >= 0.24


async def test_delete_collection_by_label(apiserver, client):
    ns = apiserver.namespace("cl")
    await client.create("v1", "configmaps", configmap("drop", labels={"x": "1"}), ns)
    await client.create("v1", "configmaps", configmap("keep"), ns)
    await client.delete_collection("v1", "configmaps", ns, label_selector="x=1")
    items, _ = await client.list_all("v1", "configmaps", ns)
    assert [i["metadata"]["name"] for i in items if i["metadata"]["name"] in ("drop", "keep")] == ["keep"]


async def test_unreachable_server_raises_connection_error_for_reads_and_writes():
    async with ApiClient(f"http://127.0.0.1:{free_port()}") as client:
        with pytest.raises(ApiConnectionError):
            await client.get("v1", "namespaces", "default")
        with pytest.raises(ApiConnectionError):
            await client.create("v1", "configmaps", configmap("x"), "default")


async def test_token_from_serviceaccounts_token_subresource_authenticates(apiserver, client, tmp_path):
    ns = apiserver.namespace("cl")
    await client.create("v1", "serviceaccounts", {"metadata": {"name": "robot"}}, ns)
    request = {"apiVersion": "authentication.k8s.io/v1", "kind": "TokenRequest", "spec": {"expirationSeconds": 600}}
    answer = await client.create("v1", "serviceaccounts", request, ns, name="robot", subresource="token")
    token = answer["status"]["token"]
    doc = yaml.safe_load(apiserver.kubeconfig.read_text())
    doc["users"][0]["user"] = {"token": token}
    (tmp_path / "kc").write_text(yaml.safe_dump(doc))
    async with ApiClient.from_kubeconfig(tmp_path / "kc") as robot:
        with pytest.raises(StatusError) as err:
            await robot.list("v1", "secrets", ns)
    assert err.value.code == 403
    assert f"system:serviceaccount:{ns}:robot" in err.value.message
