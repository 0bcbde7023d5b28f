"""Watches and lists that reach back in history: resumable while kept, 410 Expired once gone."""

from __future__ import annotations

import asyncio
import dataclasses
import json
from pathlib import Path

import pytest

from kubeprov.etcd import EtcdClient, EtcdTLS
from kubeprov.etcd.local import free_port
from tests.integration.apiserver_fixture import ApiServerForTest, extra_server
from tests.integration.certs import RawClient, with_server

pytestmark = pytest.mark.integration


def configmap(name: str) -> str:
    return json.dumps({"apiVersion": "v1", "kind": "ConfigMap", "metadata": {"name": name}, "data": {"a": "b"}})


def create_configmaps(client: RawClient, ns: str, count: int) -> list[str]:
    versions = []
    for i in range(count):
        resp = client.request("POST", f"/api/v1/namespaces/{ns}/configmaps", configmap(f"cm-{i}"))
        assert resp.status == 201, resp.body
        versions.append(json.loads(resp.body)["metadata"]["resourceVersion"])
    return versions


def test_watch_from_a_recent_revision_replays_the_later_events(apiserver: ApiServerForTest, tmp_path) -> None:
    ns = apiserver.namespace("hist")
    client = RawClient(apiserver.kubeconfig)
    versions = create_configmaps(client, ns, 4)
    resp = client.request(
        "GET", f"/api/v1/namespaces/{ns}/configmaps?watch=true&resourceVersion={versions[0]}&timeoutSeconds=1")
    assert resp.status == 200
    names = [json.loads(line)["object"]["metadata"]["name"] for line in resp.body.decode().splitlines()]
    assert names == ["cm-1", "cm-2", "cm-3"]


def test_watch_older_than_the_cache_answers_410_expired(apiserver: ApiServerForTest, tmp_path) -> None:
    ns = apiserver.namespace("expired")
    port = free_port()
    config = dataclasses.replace(apiserver.server.config, port=port, watch_cache_size=5)
    with extra_server(config):
        client = RawClient(with_server(apiserver.kubeconfig, f"https://127.0.0.1:{port}", tmp_path / "kc"))
        versions = create_configmaps(client, ns, 12)
        resp = client.request(
            "GET", f"/api/v1/namespaces/{ns}/configmaps?watch=true&resourceVersion={versions[0]}&timeoutSeconds=2")
    assert resp.status == 200
    event = json.loads(resp.body.decode().splitlines()[0])
    assert event["type"] == "ERROR"
    assert event["object"]["code"] == 410
    assert event["object"]["reason"] == "Expired"
    assert event["object"]["message"].startswith(f"too old resource version: {versions[0]}")


def test_continue_token_after_etcd_compaction_answers_410(apiserver: ApiServerForTest) -> None:
    ns = apiserver.namespace("compact")
    client = RawClient(apiserver.kubeconfig)
    create_configmaps(client, ns, 3)
    first = client.request("GET", f"/api/v1/namespaces/{ns}/configmaps?limit=1")
    assert first.status == 200
    token = json.loads(first.body)["metadata"]["continue"]
    cfg = apiserver.server.config

    async def compact() -> None:
        tls = EtcdTLS(Path(cfg.etcd_ca_file), Path(cfg.etcd_cert_file), Path(cfg.etcd_key_file))
        async with EtcdClient(cfg.etcd_endpoints, tls) as etcd:
            await etcd.put("/kubeprov-test/compaction-marker", b"x")
            revision = (await etcd.range("/kubeprov-test/", prefix=True, count_only=True)).header_revision
            await etcd.compact(revision)

    asyncio.run(compact())
    resp = client.request("GET", f"/api/v1/namespaces/{ns}/configmaps?limit=1&continue={token}")
    doc = json.loads(resp.body)
    assert (resp.status, doc["reason"]) == (410, "Expired")
    assert doc["message"].startswith("The provided continue parameter is too old")
