"""OpenAPI v3 documents: schemas converted from kubernetes-validate, operations, CRDs, serving, kubectl."""

from __future__ import annotations

import copy
import hashlib
import json
from datetime import UTC, datetime

import pytest

from kubeprov.apiserver.openapi import (
    BuiltinSchemas,
    OpenAPIService,
    component_name,
    crd_schemas,
    openapi_document,
    openapi_index,
    serialize,
)
from kubeprov.apiserver.openapi.schemas import convert_schema, referenced_names
from kubeprov.apiserver.resources import Registry, ResourceType, builtin_resources
from tests.unit.test_discovery import KubectlServer, needs_kubectl

REF = "#/components/schemas/"
CRD = {
    "apiVersion": "apiextensions.k8s.io/v1", "kind": "CustomResourceDefinition",
    "metadata": {"name": "crontabs.stable.example.com"},
    "spec": {
        "group": "stable.example.com", "scope": "Namespaced",
        "names": {"plural": "crontabs", "singular": "crontab", "kind": "CronTab", "shortNames": ["ct"]},
        "versions": [{
            "name": "v1", "served": True, "storage": True,
            "schema": {"openAPIV3Schema": {
                "type": "object", "description": "A CronTab runs a command on a schedule.",
                "properties": {"spec": {"type": "object", "description": "What to run and when.", "properties": {
                    "cronSpec": {"type": "string", "description": "When to run, in cron format."},
                    "replicas": {"type": "integer"},
                    "port": {"x-kubernetes-int-or-string": True}}}}}},
        }],
    },
}


def crontab_type(crd: dict = CRD) -> ResourceType:
    return ResourceType("stable.example.com", "v1", "crontabs", "CronTab", True, singular="crontab",
                        short_names=("ct",), custom=True, extra={"crd": crd})


@pytest.fixture(scope="module")
def schemas() -> BuiltinSchemas:
    return BuiltinSchemas()


@pytest.fixture(scope="module")
def registry() -> Registry:
    return Registry([*builtin_resources(), crontab_type()])


def all_refs(node: object) -> set[str]:
    found: set[str] = set()
    if isinstance(node, dict):
        if isinstance(node.get("$ref"), str):
            found.add(node["$ref"])
        for value in node.values():
            found |= all_refs(value)
    elif isinstance(node, list):
        for value in node:
            found |= all_refs(value)
    return found


# --- schema conversion -------------------------------------------------------------------------

def test_convert_points_references_at_components() -> None:
    converted = convert_schema({"$ref": "#/$defs/io.k8s.api.core.v1.PodSpec"})
    assert converted == {"$ref": REF + "io.k8s.api.core.v1.PodSpec"}


def test_convert_wraps_a_reference_with_siblings_in_all_of() -> None:
    converted = convert_schema({"$ref": "#/$defs/x.Y", "description": "d"})
    assert converted == {"allOf": [{"$ref": REF + "x.Y"}], "description": "d"}


def test_convert_drops_null_from_types() -> None:
    nullable_list = {"type": ["array", "null"], "items": {"type": ["string", "null"]}}
    converted = convert_schema({"type": ["object", "null"], "properties": {"a": nullable_list}})
    assert converted == {"type": "object", "properties": {"a": {"type": "array", "items": {"type": "string"}}}}


def test_kind_schema_carries_its_group_version_kind(schemas: BuiltinSchemas) -> None:
    deployment = schemas.components["io.k8s.api.apps.v1.Deployment"]
    assert deployment["x-kubernetes-group-version-kind"] == [{"group": "apps", "kind": "Deployment", "version": "v1"}]
    assert deployment["type"] == "object"
    assert deployment["properties"]["spec"]["allOf"] == [{"$ref": REF + "io.k8s.api.apps.v1.DeploymentSpec"}]


def test_kind_schema_leaves_api_version_and_kind_open(schemas: BuiltinSchemas) -> None:
    props = schemas.components["io.k8s.api.core.v1.Pod"]["properties"]
    assert "enum" not in props["apiVersion"] and "enum" not in props["kind"]


def test_patch_strategy_and_list_map_keys_survive(schemas: BuiltinSchemas) -> None:
    containers = schemas.components["io.k8s.api.core.v1.PodSpec"]["properties"]["containers"]
    assert containers["x-kubernetes-patch-merge-key"] == "name"
    assert containers["x-kubernetes-patch-strategy"] == "merge"
    assert containers["x-kubernetes-list-map-keys"] == ["name"]
    assert containers["items"] == {"$ref": REF + "io.k8s.api.core.v1.Container"}


def test_int_or_string_is_spelled_as_kubernetes_does(schemas: BuiltinSchemas) -> None:
    schema = schemas.components["io.k8s.apimachinery.pkg.util.intstr.IntOrString"]
    assert schema["format"] == "int-or-string"
    assert schema["oneOf"] == [{"type": "integer"}, {"type": "string"}]
    assert "type" not in schema


def test_quantity_is_a_string_or_a_number(schemas: BuiltinSchemas) -> None:
    schema = schemas.components["io.k8s.apimachinery.pkg.api.resource.Quantity"]
    assert schema["oneOf"] == [{"type": "string"}, {"type": "number"}]


def test_name_for_finds_a_kind_by_group_version_kind(schemas: BuiltinSchemas) -> None:
    assert schemas.name_for("autoscaling", "v1", "Scale") == "io.k8s.api.autoscaling.v1.Scale"
    assert schemas.name_for("apps", "v1", "Nothing") is None


def test_schemas_are_loaded_once_per_instance(schemas: BuiltinSchemas) -> None:
    assert schemas.components is schemas.components


# --- documents ---------------------------------------------------------------------------------

def test_document_is_openapi_3(registry: Registry, schemas: BuiltinSchemas) -> None:
    doc = openapi_document(registry, "apps", "v1", schemas)
    assert doc is not None
    assert doc["openapi"] == "3.0.0" and doc["info"]["title"] == "Kubernetes"


def test_document_of_an_unserved_version_is_none(registry: Registry, schemas: BuiltinSchemas) -> None:
    assert openapi_document(registry, "apps", "v1beta1", schemas) is None


def test_every_reference_resolves_inside_the_document(registry: Registry, schemas: BuiltinSchemas) -> None:
    served = [(g, v) for g in registry.groups() for v in registry.versions(g)]
    assert ("apiextensions.k8s.io", "v1") in served and ("stable.example.com", "v1") in served
    for group, version in served:
        doc = openapi_document(registry, group, version, schemas)
        assert doc is not None
        missing = {r for r in all_refs(doc) if r.removeprefix(REF) not in doc["components"]["schemas"]}
        assert not missing, (group, version, missing)


def test_document_holds_the_kinds_lists_and_subresource_bodies(registry: Registry, schemas: BuiltinSchemas) -> None:
    doc = openapi_document(registry, "apps", "v1", schemas)
    assert doc is not None
    names = doc["components"]["schemas"]
    for name in ("io.k8s.api.apps.v1.Deployment", "io.k8s.api.apps.v1.DeploymentList",
                 "io.k8s.api.autoscaling.v1.Scale", "io.k8s.apimachinery.pkg.apis.meta.v1.DeleteOptions"):
        assert name in names
    assert "io.k8s.api.batch.v1.Job" not in names


def test_namespaced_resource_has_collection_item_and_cluster_wide_paths(registry: Registry,
                                                                         schemas: BuiltinSchemas) -> None:
    doc = openapi_document(registry, "apps", "v1", schemas)
    assert doc is not None
    paths = doc["paths"]
    collection = paths["/apis/apps/v1/namespaces/{namespace}/deployments"]
    item = paths["/apis/apps/v1/namespaces/{namespace}/deployments/{name}"]
    assert {collection[m]["x-kubernetes-action"] for m in ("get", "post", "delete")} == {
        "list", "post", "deletecollection"}
    assert {item[m]["x-kubernetes-action"] for m in ("get", "put", "patch", "delete")} == {
        "get", "put", "patch", "delete"}
    assert paths["/apis/apps/v1/deployments"]["get"]["operationId"] == "listAppsV1DeploymentForAllNamespaces"


def test_operations_name_their_group_version_kind(registry: Registry, schemas: BuiltinSchemas) -> None:
    doc = openapi_document(registry, "apps", "v1", schemas)
    assert doc is not None
    item = doc["paths"]["/apis/apps/v1/namespaces/{namespace}/deployments/{name}"]
    assert item["get"]["x-kubernetes-group-version-kind"] == {"group": "apps", "kind": "Deployment", "version": "v1"}
    scale = doc["paths"]["/apis/apps/v1/namespaces/{namespace}/deployments/{name}/scale"]
    assert scale["patch"]["x-kubernetes-group-version-kind"] == {"group": "autoscaling", "kind": "Scale",
                                                                  "version": "v1"}


def test_responses_refer_to_the_kind(registry: Registry, schemas: BuiltinSchemas) -> None:
    doc = openapi_document(registry, "", "v1", schemas)
    assert doc is not None
    get = doc["paths"]["/api/v1/namespaces/{namespace}/pods/{name}"]["get"]
    assert get["responses"]["200"]["content"]["application/json"]["schema"] == {"$ref": REF + "io.k8s.api.core.v1.Pod"}
    listing = doc["paths"]["/api/v1/nodes"]["get"]
    assert listing["responses"]["200"]["content"]["application/json"]["schema"]["$ref"].endswith("NodeList")


def test_patch_operation_advertises_field_validation(registry: Registry, schemas: BuiltinSchemas) -> None:
    doc = openapi_document(registry, "", "v1", schemas)
    assert doc is not None
    patch = doc["paths"]["/api/v1/namespaces/{name}"]["patch"]
    assert {"fieldValidation", "dryRun", "fieldManager", "force"} <= {p["name"] for p in patch["parameters"]}
    assert "application/strategic-merge-patch+json" in patch["requestBody"]["content"]


def test_create_only_resource_has_only_post(registry: Registry, schemas: BuiltinSchemas) -> None:
    doc = openapi_document(registry, "authentication.k8s.io", "v1", schemas)
    assert doc is not None
    assert set(doc["paths"]["/apis/authentication.k8s.io/v1/tokenreviews"]) == {"post", "parameters"}


def test_connect_subresource_is_a_connect_action(registry: Registry, schemas: BuiltinSchemas) -> None:
    doc = openapi_document(registry, "", "v1", schemas)
    assert doc is not None
    exec_ops = doc["paths"]["/api/v1/namespaces/{namespace}/pods/{name}/exec"]
    assert exec_ops["post"]["x-kubernetes-action"] == "connect"
    assert exec_ops["get"]["x-kubernetes-group-version-kind"]["kind"] == "PodExecOptions"


# --- custom resources --------------------------------------------------------------------------

def test_crd_component_name_reverses_the_group() -> None:
    assert component_name("stable.example.com", "v1", "CronTab") == "com.example.stable.v1.CronTab"


def test_crd_schemas_give_the_kind_and_its_list() -> None:
    found = crd_schemas(CRD)
    assert set(found) == {"com.example.stable.v1.CronTab", "com.example.stable.v1.CronTabList"}
    kind = found["com.example.stable.v1.CronTab"]
    assert kind["x-kubernetes-group-version-kind"] == [{"group": "stable.example.com", "kind": "CronTab",
                                                       "version": "v1"}]
    object_meta = REF + "io.k8s.apimachinery.pkg.apis.meta.v1.ObjectMeta"
    assert kind["properties"]["metadata"]["allOf"] == [{"$ref": object_meta}]
    assert kind["properties"]["spec"]["properties"]["cronSpec"]["type"] == "string"
    listing = found["com.example.stable.v1.CronTabList"]
    assert listing["properties"]["items"]["items"] == {"$ref": REF + "com.example.stable.v1.CronTab"}


def test_crd_int_or_string_gets_its_alternatives() -> None:
    port = crd_schemas(CRD)["com.example.stable.v1.CronTab"]["properties"]["spec"]["properties"]["port"]
    assert port == {"x-kubernetes-int-or-string": True, "anyOf": [{"type": "integer"}, {"type": "string"}]}


def test_crd_schemas_skip_versions_not_served() -> None:
    crd = copy.deepcopy(CRD)
    crd["spec"]["versions"].append({"name": "v2", "served": False, "storage": False})
    assert all(".v1." in name for name in crd_schemas(crd))


def test_crd_without_schema_keeps_unknown_fields() -> None:
    crd = copy.deepcopy(CRD)
    del crd["spec"]["versions"][0]["schema"]
    kind = crd_schemas(crd)["com.example.stable.v1.CronTab"]
    assert kind["x-kubernetes-preserve-unknown-fields"] is True


def test_crd_document_has_paths_without_strategic_merge(registry: Registry, schemas: BuiltinSchemas) -> None:
    doc = openapi_document(registry, "stable.example.com", "v1", schemas)
    assert doc is not None
    patch = doc["paths"]["/apis/stable.example.com/v1/namespaces/{namespace}/crontabs/{name}"]["patch"]
    assert "application/strategic-merge-patch+json" not in patch["requestBody"]["content"]
    assert patch["x-kubernetes-group-version-kind"] == {"group": "stable.example.com", "kind": "CronTab",
                                                        "version": "v1"}
    assert "com.example.stable.v1.CronTab" in doc["components"]["schemas"]


# --- index and serving -------------------------------------------------------------------------

def test_index_pins_each_document_by_its_sha512(registry: Registry, schemas: BuiltinSchemas) -> None:
    index = openapi_index(registry, schemas)
    entry = index["paths"]["apis/apps/v1"]["serverRelativeURL"]
    doc = openapi_document(registry, "apps", "v1", schemas)
    assert doc is not None
    assert entry == "/openapi/v3/apis/apps/v1?hash=" + hashlib.sha512(serialize(doc)).hexdigest().upper()
    assert "api/v1" in index["paths"] and "apis/stable.example.com/v1" in index["paths"]


def test_service_index_carries_an_etag(registry: Registry, schemas: BuiltinSchemas) -> None:
    answer = OpenAPIService(registry, schemas).respond("/openapi/v3")
    assert answer.status == 200 and answer.headers["Content-Type"] == "application/json"
    assert answer.headers["Etag"] == f'"{hashlib.sha512(answer.body).hexdigest().upper()}"'


def test_service_serves_a_pinned_document_as_immutable(registry: Registry, schemas: BuiltinSchemas) -> None:
    service = OpenAPIService(registry, schemas)
    url = service.index()["paths"]["apis/apps/v1"]["serverRelativeURL"]
    path, _, query = url.partition("?hash=")
    answer = service.respond(path, query, "application/json", now=datetime(2025, 1, 1, tzinfo=UTC))
    assert answer.status == 200 and json.loads(answer.body)["openapi"] == "3.0.0"
    assert answer.headers["Cache-Control"] == "public, immutable"
    assert answer.headers["Expires"] == "Thu, 01 Jan 2026 00:00:00 GMT"
    assert answer.headers["Etag"] == f'"{query}"' and answer.headers["Vary"] == "Accept"


def test_service_redirects_a_stale_hash(registry: Registry, schemas: BuiltinSchemas) -> None:
    service = OpenAPIService(registry, schemas)
    answer = service.respond("/openapi/v3/apis/apps/v1", "0BSOLETE")
    assert answer.status == 301
    assert answer.headers["Location"] == service.index()["paths"]["apis/apps/v1"]["serverRelativeURL"]


def test_service_answers_a_matching_etag_with_304(registry: Registry, schemas: BuiltinSchemas) -> None:
    service = OpenAPIService(registry, schemas)
    first = service.respond("/openapi/v3/api/v1")
    assert "Cache-Control" not in first.headers
    again = service.respond("/openapi/v3/api/v1", if_none_match=first.headers["Etag"])
    assert again.status == 304 and again.body == b""


def test_service_refuses_protobuf_only_clients(registry: Registry, schemas: BuiltinSchemas) -> None:
    answer = OpenAPIService(registry, schemas).respond(
        "/openapi/v3/api/v1", accept="application/com.github.proto-openapi.spec.v3.v1.0+protobuf")
    assert answer.status == 406


def test_service_answers_unknown_paths_with_404(registry: Registry, schemas: BuiltinSchemas) -> None:
    service = OpenAPIService(registry, schemas)
    assert service.respond("/openapi/v3/apis/apps/v9").status == 404
    assert service.respond("/openapi/v3/apis/apps").status == 404


def test_service_rebuilds_only_the_group_version_a_crd_changes(schemas: BuiltinSchemas) -> None:
    registry = Registry([*builtin_resources(), crontab_type()])
    service = OpenAPIService(registry, schemas)
    before = service.index()["paths"]
    changed = copy.deepcopy(CRD)
    changed["spec"]["versions"][0]["schema"]["openAPIV3Schema"]["properties"]["spec"]["properties"]["image"] = {
        "type": "string"}
    registry.add(crontab_type(changed))
    after = service.index()["paths"]
    assert after["apis/stable.example.com/v1"] != before["apis/stable.example.com/v1"]
    assert after["apis/apps/v1"] == before["apis/apps/v1"]


def test_service_forgets_a_removed_group_version(schemas: BuiltinSchemas) -> None:
    registry = Registry([*builtin_resources(), crontab_type()])
    service = OpenAPIService(registry, schemas)
    service.index()
    registry.remove("stable.example.com", "v1", "crontabs")
    assert "apis/stable.example.com/v1" not in service.index()["paths"]
    assert service.respond("/openapi/v3/apis/stable.example.com/v1").status == 404


# --- the real kubectl --------------------------------------------------------------------------

EXPLAIN_STRATEGY = """\
GROUP:      apps
KIND:       Deployment
VERSION:    v1

FIELD: strategy <DeploymentStrategy>


DESCRIPTION:
    The deployment strategy to use to replace existing pods with new ones.
    DeploymentStrategy describes how to replace existing pods with new ones.
{blank}
FIELDS:
  rollingUpdate\t<RollingUpdateDeployment>
    Rolling update config params. Present only if DeploymentStrategyType =
    RollingUpdate.

  type\t<string>
    Type of deployment. Can be "Recreate" or "RollingUpdate". Default is
    RollingUpdate.


""".format(blank="    ")


@pytest.fixture(scope="module")
def server(registry: Registry) -> KubectlServer:
    with KubectlServer(registry) as running:
        yield running


@needs_kubectl
def test_kubectl_explain_a_nested_field(server: KubectlServer) -> None:
    assert server.kubectl("explain", "deployment.spec.strategy") == EXPLAIN_STRATEGY


@needs_kubectl
def test_kubectl_explain_a_kind_lists_its_fields(server: KubectlServer) -> None:
    out = server.kubectl("explain", "pods")
    assert out.startswith("KIND:       Pod\nVERSION:    v1\n\nDESCRIPTION:\n    Pod is a collection of containers")
    for field in ("apiVersion\t<string>", "metadata\t<ObjectMeta>", "spec\t<PodSpec>", "status\t<PodStatus>"):
        assert f"\n  {field}\n" in out


@needs_kubectl
def test_kubectl_explain_shows_required_fields_and_int_or_string(server: KubectlServer) -> None:
    out = server.kubectl("explain", "deployment.spec")
    assert "\n  selector\t<LabelSelector> -required-\n" in out
    assert "\n  template\t<PodTemplateSpec> -required-\n" in out
    rolling = server.kubectl("explain", "deployment.spec.strategy.rollingUpdate")
    assert "\n  maxSurge\t<IntOrString>\n" in rolling


@needs_kubectl
def test_kubectl_explain_a_custom_resource(server: KubectlServer) -> None:
    out = server.kubectl("explain", "crontab.spec")
    header = "GROUP:      stable.example.com\nKIND:       CronTab\nVERSION:    v1\n\nFIELD: spec <Object>\n"
    assert out.startswith(header)
    assert "\n  cronSpec\t<string>\n    When to run, in cron format.\n" in out


@needs_kubectl
@pytest.mark.parametrize(("manifest", "path"), [
    ({"apiVersion": "v1", "kind": "ConfigMap", "metadata": {"name": "c"}, "data": {"a": "b"}},
     "/api/v1/namespaces/default/configmaps"),
    ({"apiVersion": "stable.example.com/v1", "kind": "CronTab", "metadata": {"name": "t"}, "spec": {"replicas": 1}},
     "/apis/stable.example.com/v1/namespaces/default/crontabs"),
], ids=["builtin", "custom"])
def test_kubectl_create_leaves_strict_validation_to_the_server(server: KubectlServer, manifest: dict,
                                                                path: str) -> None:
    server.kubectl("create", "-f", "-", stdin=json.dumps(manifest))
    posts = [(p, q) for method, p, q, _ in server.requests if method == "POST" and p == path]
    assert posts and "fieldValidation=Strict" in posts[-1][1]


@needs_kubectl
def test_kubectl_apply_builds_a_strategic_merge_patch(registry: Registry) -> None:
    applied = {"apiVersion": "apps/v1", "kind": "Deployment", "metadata": {"name": "web", "namespace": "default"},
               "spec": {"selector": {"matchLabels": {"app": "web"}}, "template": {
                   "metadata": {"labels": {"app": "web"}},
                   "spec": {"containers": [{"name": "nginx", "image": "nginx:1.26"}, {"name": "log", "image": "b"}]}}}}
    live = copy.deepcopy(applied)
    live["metadata"]["annotations"] = {"kubectl.kubernetes.io/last-applied-configuration": json.dumps(applied)}
    changed = copy.deepcopy(applied)
    changed["spec"]["template"]["spec"]["containers"] = [{"name": "nginx", "image": "nginx:1.27"}]
    with KubectlServer(registry, objects={("apps", "deployments"): [live]}) as server:
        server.kubectl("apply", "-f", "-", stdin=json.dumps(changed))
    content_type, query, patch = server.patches[-1]
    assert content_type == "application/strategic-merge-patch+json" and "fieldValidation=Strict" in query
    assert patch["spec"]["template"]["spec"] == {
        "$setElementOrder/containers": [{"name": "nginx"}],
        "containers": [{"image": "nginx:1.27", "name": "nginx"}, {"$patch": "delete", "name": "log"}]}
    assert any(path == "/openapi/v3/apis/apps/v1" for _, path, _, _ in server.requests)


def test_a_property_named_like_a_vendor_extension_is_still_followed() -> None:
    schema = {"properties": {"x-kubernetes-validations": {"items": {"$ref": "#/components/schemas/Rule"}},
                             "plain": {"$ref": "#/components/schemas/Plain"}},
              "x-kubernetes-list-map-keys": ["#/components/schemas/NotARef"]}
    assert referenced_names(schema) == {"Rule", "Plain"}
