"""Discovery documents, checked as data and as the real kubectl 1.32 reads them.

``KubectlServer`` (also used by the OpenAPI and table tests) is a plain-HTTP aiohttp server on
127.0.0.1 answering /version, discovery, /openapi/v3 and list requests from the functions under
test, run in a thread so kubectl can be called synchronously against it.
"""

from __future__ import annotations

import asyncio
import base64
import json
import os
import shutil
import subprocess
import tempfile
import threading
from collections.abc import Awaitable, Callable
from datetime import UTC, datetime
from pathlib import Path

import pytest
from aiohttp import web

from kubeprov.apiserver.discovery import (
    aggregated_content_type,
    aggregated_discovery,
    api_group_list,
    api_resource_list,
    api_versions,
    negotiate_discovery,
    storage_version_hash,
)
from kubeprov.apiserver.openapi import OpenAPIService
from kubeprov.apiserver.resources import Registry, ResourceType, builtin_resources
from kubeprov.apiserver.tables import to_table

KUBECTL = shutil.which("kubectl") or "/usr/bin/kubectl"
KUBECTL_ACCEPT = ("application/json;g=apidiscovery.k8s.io;v=v2;as=APIGroupDiscoveryList,"
                  "application/json;g=apidiscovery.k8s.io;v=v2beta1;as=APIGroupDiscoveryList,application/json")
needs_kubectl = pytest.mark.skipif(not os.path.exists(KUBECTL), reason="kubectl is not installed")


class KubectlServer:
    """A minimal API server built from the functions under test, for driving the real kubectl."""

    def __init__(self, registry: Registry, *, aggregated: bool = True,
                 objects: dict[tuple[str, str], list[dict]] | None = None, now: datetime | None = None) -> None:
        self.registry = registry
        self.aggregated = aggregated
        self.objects = objects or {}
        self.now = now or datetime.now(UTC)
        self.openapi = OpenAPIService(registry)
        self.requests: list[tuple[str, str, str, str]] = []
        self.bodies: list[dict] = []
        self.patches: list[tuple[str, str, dict]] = []
        self._loop = asyncio.new_event_loop()
        self._thread = threading.Thread(target=self._loop.run_forever, daemon=True)
        self._runner: web.AppRunner | None = None
        self._dir = tempfile.TemporaryDirectory()
        self.port = 0

    # --- handlers ---------------------------------------------------------------------------
    async def _version(self, request: web.Request) -> web.Response:
        return web.json_response({"major": "1", "minor": "32", "gitVersion": "v1.32.0", "goVersion": "go1.23.0",
                                  "platform": "linux/amd64", "compiler": "gc"})

    async def _root(self, request: web.Request) -> web.Response:
        version = negotiate_discovery(request.headers.get("Accept", "")) if self.aggregated else None
        if version is not None:
            body, content_type = aggregated_discovery(self.registry, request.path.rstrip("/") == "/api", version)
            return web.Response(body=json.dumps(body).encode(), headers={"Content-Type": content_type})
        if request.path.rstrip("/") == "/api":
            return web.json_response(api_versions(f"127.0.0.1:{self.port}"))
        return web.json_response(api_group_list(self.registry))

    async def _group_version(self, request: web.Request) -> web.Response:
        body = api_resource_list(self.registry, request.match_info.get("g", ""), request.match_info["v"])
        return web.json_response(body) if body else self._not_found()

    async def _openapi(self, request: web.Request) -> web.Response:
        answer = self.openapi.respond(request.path, request.query.get("hash"), request.headers.get("Accept", ""),
                                      request.headers.get("If-None-Match", ""))
        return web.Response(status=answer.status, body=answer.body, headers=answer.headers)

    def _resource(self, request: web.Request) -> ResourceType | None:
        info = request.match_info
        return self.registry.get(info.get("g", ""), info["v"], info["resource"])

    async def _list(self, request: web.Request) -> web.Response:
        rt = self._resource(request)
        if rt is None:
            return self._not_found()
        namespace = request.match_info.get("ns")
        name = request.match_info.get("name")
        items = [o for o in self.objects.get((rt.group, rt.resource), [])
                 if (namespace is None or o["metadata"].get("namespace") == namespace)
                 and (name is None or o["metadata"]["name"] == name)]
        if name is not None and not items:
            return self._not_found()
        if "as=Table" in request.headers.get("Accept", ""):
            table = to_table(rt, items, include_object=request.query.get("includeObject", "Metadata"),
                             now=self.now, resource_version="7")
            return web.json_response(table)
        if name is not None:
            return web.json_response(items[0])
        return web.json_response({"kind": rt.list_kind, "apiVersion": rt.api_version,
                                  "metadata": {"resourceVersion": "7"}, "items": items})

    async def _create(self, request: web.Request) -> web.Response:
        body = await request.json()
        self.bodies.append(body)
        return web.json_response(body, status=201)

    async def _patch(self, request: web.Request) -> web.Response:
        self.patches.append((request.headers.get("Content-Type", ""), request.query_string, await request.json()))
        return await self._list(request)

    @staticmethod
    def _not_found() -> web.Response:
        return web.json_response({"kind": "Status", "apiVersion": "v1", "metadata": {}, "status": "Failure",
                                  "reason": "NotFound", "code": 404}, status=404)

    @web.middleware
    async def _record(self, request: web.Request,
                      handler: Callable[[web.Request], Awaitable[web.StreamResponse]]) -> web.StreamResponse:
        self.requests.append((request.method, request.path, request.query_string, request.headers.get("Accept", "")))
        return await handler(request)

    # --- lifecycle --------------------------------------------------------------------------
    def _app(self) -> web.Application:
        app = web.Application(middlewares=[self._record])
        add = app.router.add_route
        add("GET", "/version", self._version)
        for root in ("/api", "/api/", "/apis", "/apis/"):
            add("GET", root, self._root)
        add("GET", "/openapi/v3", self._openapi)
        add("GET", "/openapi/v3/{tail:.*}", self._openapi)
        for prefix in ("/api/{v}", "/apis/{g}/{v}"):
            add("GET", prefix, self._group_version)
            add("GET", prefix + "/", self._group_version)
            add("GET", prefix + "/namespaces/{ns}/{resource}", self._list)
            add("GET", prefix + "/namespaces/{ns}/{resource}/{name}", self._list)
            add("PATCH", prefix + "/namespaces/{ns}/{resource}/{name}", self._patch)
            add("POST", prefix + "/namespaces/{ns}/{resource}", self._create)
            add("GET", prefix + "/{resource}", self._list)
            add("GET", prefix + "/{resource}/{name}", self._list)
            add("POST", prefix + "/{resource}", self._create)
        return app

    async def _start(self) -> int:
        self._runner = web.AppRunner(self._app())
        await self._runner.setup()
        await web.TCPSite(self._runner, "127.0.0.1", 0).start()
        return self._runner.addresses[0][1]

    def __enter__(self) -> KubectlServer:
        self._thread.start()
        self.port = asyncio.run_coroutine_threadsafe(self._start(), self._loop).result(timeout=10)
        Path(self._dir.name, "kubeconfig").write_text(json.dumps({
            "apiVersion": "v1", "kind": "Config", "current-context": "test",
            "clusters": [{"name": "test", "cluster": {"server": f"http://127.0.0.1:{self.port}"}}],
            "users": [{"name": "test", "user": {}}],
            "contexts": [{"name": "test", "context": {"cluster": "test", "user": "test", "namespace": "default"}}],
        }))
        return self

    def __exit__(self, *exc: object) -> None:
        if self._runner is not None:
            asyncio.run_coroutine_threadsafe(self._runner.cleanup(), self._loop).result(timeout=10)
        self._loop.call_soon_threadsafe(self._loop.stop)
        self._thread.join(timeout=10)
        self._loop.close()
        self._dir.cleanup()

    def kubectl(self, *args: str, stdin: str | None = None) -> str:
        """Run kubectl against this server with a private kubeconfig and cache; returns stdout."""
        home = self._dir.name
        env = {"PATH": os.environ.get("PATH", ""), "HOME": home, "KUBECONFIG": f"{home}/kubeconfig"}
        result = subprocess.run([KUBECTL, f"--cache-dir={home}/cache", *args], input=stdin, capture_output=True,
                                text=True, env=env, timeout=60, check=False)
        assert result.returncode == 0, result.stderr
        return result.stdout


@pytest.fixture(scope="module")
def registry() -> Registry:
    return Registry(builtin_resources())


# --- legacy documents --------------------------------------------------------------------------

def test_api_versions_lists_v1_and_the_server_address() -> None:
    body = api_versions("10.0.0.1:6443")
    assert body == {"kind": "APIVersions", "versions": ["v1"], "serverAddressByClientCIDRs": [
        {"clientCIDR": "0.0.0.0/0", "serverAddress": "10.0.0.1:6443"}]}


def test_api_group_list_leaves_the_core_group_to_api(registry: Registry) -> None:
    names = [g["name"] for g in api_group_list(registry)["groups"]]
    assert "" not in names and "apps" in names


def test_api_group_list_puts_the_preferred_version_first(registry: Registry) -> None:
    groups = {g["name"]: g for g in api_group_list(registry)["groups"]}
    autoscaling = groups["autoscaling"]
    assert [v["version"] for v in autoscaling["versions"]] == ["v2", "v1"]
    assert autoscaling["preferredVersion"] == {"groupVersion": "autoscaling/v2", "version": "v2"}


def test_api_resource_list_describes_a_resource(registry: Registry) -> None:
    body = api_resource_list(registry, "apps", "v1")
    assert body is not None and body["groupVersion"] == "apps/v1"
    deployments = next(r for r in body["resources"] if r["name"] == "deployments")
    assert deployments == {
        "name": "deployments", "singularName": "deployment", "namespaced": True, "kind": "Deployment",
        "verbs": ["create", "delete", "deletecollection", "get", "list", "patch", "update", "watch"],
        "shortNames": ["deploy"], "categories": ["all"], "storageVersionHash": deployments["storageVersionHash"]}


def test_api_resource_list_gives_subresources_their_own_kind(registry: Registry) -> None:
    body = api_resource_list(registry, "apps", "v1")
    assert body is not None
    scale = next(r for r in body["resources"] if r["name"] == "deployments/scale")
    status = next(r for r in body["resources"] if r["name"] == "deployments/status")
    assert scale == {"name": "deployments/scale", "singularName": "", "namespaced": True, "group": "autoscaling",
                     "version": "v1", "kind": "Scale", "verbs": ["get", "patch", "update"]}
    assert status["kind"] == "Deployment" and "group" not in status


def test_api_resource_list_is_sorted_by_name(registry: Registry) -> None:
    body = api_resource_list(registry, "", "v1")
    assert body is not None and body["groupVersion"] == "v1"
    names = [r["name"] for r in body["resources"]]
    assert names == sorted(names) and "pods/exec" in names


def test_api_resource_list_of_an_unserved_version_is_none(registry: Registry) -> None:
    assert api_resource_list(registry, "apps", "v1beta1") is None


def test_storage_version_hash_is_eight_bytes_in_base64(registry: Registry) -> None:
    rt = registry.get("apps", "v1", "deployments")
    assert rt is not None
    digest = storage_version_hash(rt)
    assert len(base64.b64decode(digest)) == 8 and digest == storage_version_hash(rt)


def test_reviews_have_no_storage_version_hash(registry: Registry) -> None:
    body = api_resource_list(registry, "authentication.k8s.io", "v1")
    assert body is not None
    assert all("storageVersionHash" not in r for r in body["resources"])


# --- aggregated documents ----------------------------------------------------------------------

def test_aggregated_core_holds_only_the_unnamed_group(registry: Registry) -> None:
    body, _ = aggregated_discovery(registry, core=True)
    assert body["kind"] == "APIGroupDiscoveryList" and body["apiVersion"] == "apidiscovery.k8s.io/v2"
    assert [item["metadata"] for item in body["items"]] == [{}]
    assert body["items"][0]["versions"][0]["version"] == "v1"


def test_aggregated_apis_lists_named_groups_with_preferred_version_first(registry: Registry) -> None:
    body, _ = aggregated_discovery(registry, core=False)
    groups = {item["metadata"]["name"]: item for item in body["items"]}
    assert "" not in groups
    assert [v["version"] for v in groups["autoscaling"]["versions"]] == ["v2", "v1"]
    assert all(v["freshness"] == "Current" for v in groups["apps"]["versions"])


def test_aggregated_resource_carries_scope_kind_and_subresources(registry: Registry) -> None:
    body, _ = aggregated_discovery(registry, core=False)
    apps = next(item for item in body["items"] if item["metadata"]["name"] == "apps")
    deployments = next(r for r in apps["versions"][0]["resources"] if r["resource"] == "deployments")
    assert deployments["scope"] == "Namespaced" and deployments["singularResource"] == "deployment"
    assert deployments["responseKind"] == {"group": "", "version": "", "kind": "Deployment"}
    assert deployments["subresources"] == [
        {"subresource": "scale", "responseKind": {"group": "autoscaling", "version": "v1", "kind": "Scale"},
         "verbs": ["get", "patch", "update"]},
        {"subresource": "status", "responseKind": {"group": "", "version": "", "kind": "Deployment"},
         "verbs": ["get", "patch", "update"]}]


def test_aggregated_returns_the_content_type_clients_check(registry: Registry) -> None:
    body, content_type = aggregated_discovery(registry, core=False, version="v2beta1")
    assert body["apiVersion"] == "apidiscovery.k8s.io/v2beta1"
    assert content_type == "application/json;g=apidiscovery.k8s.io;v=v2beta1;as=APIGroupDiscoveryList"
    assert aggregated_content_type() == "application/json;g=apidiscovery.k8s.io;v=v2;as=APIGroupDiscoveryList"


def test_aggregated_rejects_an_unknown_version(registry: Registry) -> None:
    with pytest.raises(ValueError):
        aggregated_discovery(registry, core=True, version="v3")


# --- negotiation -------------------------------------------------------------------------------

@pytest.mark.parametrize(("accept", "expected"), [
    (KUBECTL_ACCEPT, "v2"),
    ("application/json;g=apidiscovery.k8s.io;v=v2beta1;as=APIGroupDiscoveryList,application/json", "v2beta1"),
    ("application/json", None),
    ("application/json, */*", None),
    ("", None),
    ("application/json,application/json;g=apidiscovery.k8s.io;v=v2;as=APIGroupDiscoveryList", None),
    ("application/json;q=0.5,application/json;g=apidiscovery.k8s.io;v=v2;as=APIGroupDiscoveryList", "v2"),
    ("application/vnd.kubernetes.protobuf;g=apidiscovery.k8s.io;v=v2;as=APIGroupDiscoveryList,application/json",
     None),
    ("application/json;g=apidiscovery.k8s.io;v=v3;as=APIGroupDiscoveryList,application/json", None),
    ("application/json;g=apidiscovery.k8s.io;v=v2;as=APIGroupDiscoveryList;profile=nopeer", "v2"),
])
def test_negotiate_discovery_follows_the_accept_order(accept: str, expected: str | None) -> None:
    assert negotiate_discovery(accept) == expected


# --- the real kubectl --------------------------------------------------------------------------

API_VERSIONS = """\
apiextensions.k8s.io/v1
apps/v1
authentication.k8s.io/v1
authorization.k8s.io/v1
autoscaling/v1
autoscaling/v2
batch/v1
certificates.k8s.io/v1
coordination.k8s.io/v1
discovery.k8s.io/v1
networking.k8s.io/v1
policy/v1
rbac.authorization.k8s.io/v1
scheduling.k8s.io/v1
storage.k8s.io/v1
v1
"""

API_RESOURCE_LINES = [
    "NAME                         SHORTNAMES   APIVERSION                     NAMESPACED   KIND",
    "pods                         po           v1                             true         Pod",
    "secrets                                   v1                             true         Secret",
    "customresourcedefinitions    crd,crds     apiextensions.k8s.io/v1        false        CustomResourceDefinition",
    "deployments                  deploy       apps/v1                        true         Deployment",
    "horizontalpodautoscalers     hpa          autoscaling/v2                 true         HorizontalPodAutoscaler",
    "certificatesigningrequests   csr          certificates.k8s.io/v1         false        CertificateSigningRequest",
    "clusterroles                              rbac.authorization.k8s.io/v1   false        ClusterRole",
]


@needs_kubectl
@pytest.mark.parametrize("aggregated", [True, False], ids=["aggregated", "legacy"])
def test_kubectl_api_versions_lists_every_group_version(registry: Registry, aggregated: bool) -> None:
    with KubectlServer(registry, aggregated=aggregated) as server:
        assert server.kubectl("api-versions") == API_VERSIONS


@needs_kubectl
@pytest.mark.parametrize("aggregated", [True, False], ids=["aggregated", "legacy"])
def test_kubectl_api_resources_shows_names_scope_and_kind(registry: Registry, aggregated: bool) -> None:
    with KubectlServer(registry, aggregated=aggregated) as server:
        lines = server.kubectl("api-resources").splitlines()
    for expected in API_RESOURCE_LINES:
        assert expected in lines
    assert len(lines) == 1 + len([rt for rt in registry.all() if rt.version == registry.versions(rt.group)[0]])


@needs_kubectl
def test_kubectl_reads_the_aggregated_form_without_group_requests(registry: Registry) -> None:
    with KubectlServer(registry) as server:
        server.kubectl("api-resources")
    paths = [path for _, path, _, _ in server.requests]
    assert "/api" in paths and "/apis" in paths
    assert not [p for p in paths if p.startswith("/apis/") or p.startswith("/api/")]


@needs_kubectl
def test_kubectl_api_resources_filters_by_api_group(registry: Registry) -> None:
    with KubectlServer(registry) as server:
        out = server.kubectl("api-resources", "--api-group=batch", "-o", "name")
    assert out == "cronjobs.batch\njobs.batch\n"


# --- the official Python client ----------------------------------------------------------------

@pytest.fixture(scope="module")
def python_client(registry: Registry) -> object:
    client = pytest.importorskip("kubernetes.client")
    with KubectlServer(registry) as server:
        configuration = client.Configuration()
        configuration.host = f"http://127.0.0.1:{server.port}"
        with client.ApiClient(configuration) as api_client:
            yield api_client


def test_python_client_reads_the_core_and_group_lists(python_client: object) -> None:
    from kubernetes import client

    assert client.CoreApi(python_client).get_api_versions().versions == ["v1"]
    groups = {g.name: g for g in client.ApisApi(python_client).get_api_versions().groups}
    assert groups["autoscaling"].preferred_version.group_version == "autoscaling/v2"


def test_python_client_reads_a_resource_list(python_client: object) -> None:
    from kubernetes import client

    resources = {r.name: r for r in client.AppsV1Api(python_client).get_api_resources().resources}
    assert resources["deployments"].short_names == ["deploy"]
    assert (resources["deployments/scale"].group, resources["deployments/scale"].kind) == ("autoscaling", "Scale")


def test_python_dynamic_client_discovers_kinds_and_subresources(python_client: object, tmp_path: Path) -> None:
    from kubernetes.dynamic import DynamicClient

    dynamic = DynamicClient(python_client, cache_file=str(tmp_path / "discovery.json"))
    deployments = dynamic.resources.get(api_version="apps/v1", kind="Deployment")
    assert deployments.namespaced and deployments.name == "deployments"
    assert "scale" in deployments.subresources
    nodes = dynamic.resources.get(api_version="v1", kind="Node")
    assert not nodes.namespaced and nodes.short_names == ["no"]
