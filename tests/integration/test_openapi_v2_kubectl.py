"""The real kubectl reads ``/openapi/v2`` to validate a ``kind: List`` client-side before applying it."""

from __future__ import annotations

import json
import subprocess
import time
import uuid
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import pytest
import yaml

from tests.integration.apiserver_fixture import ApiServerForTest

pytestmark = [pytest.mark.integration, pytest.mark.timeout(120)]

WIDGET_CRD = """
apiVersion: apiextensions.k8s.io/v1
kind: CustomResourceDefinition
metadata:
  name: widgets.{group}
spec:
  group: {group}
  scope: Namespaced
  names: {{plural: widgets, singular: widget, kind: Widget}}
  versions:
  - name: v1
    served: true
    storage: true
    schema:
      openAPIV3Schema:
        type: object
        properties:
          spec:
            type: object
            properties:
              size: {{type: integer}}
              port: {{x-kubernetes-int-or-string: true}}
              note: {{type: string, nullable: true}}
              extra:
                type: object
                x-kubernetes-preserve-unknown-fields: true
                properties: {{known: {{type: string}}}}
"""


def ok(result: subprocess.CompletedProcess[str]) -> str:
    assert result.returncode == 0, result.stderr
    return result.stdout


def wait_until(check: Callable[[], Any], timeout: float = 20.0) -> Any:
    deadline = time.monotonic() + timeout
    while True:
        value = check()
        if value or time.monotonic() > deadline:
            return value
        time.sleep(0.2)


def deployment(name: str, **spec: Any) -> dict:
    labels = {"app": name}
    return {"apiVersion": "apps/v1", "kind": "Deployment", "metadata": {"name": name},
            "spec": {"replicas": 1, "selector": {"matchLabels": labels},
                     "template": {"metadata": {"labels": labels},
                                  "spec": {"containers": [{"name": "app", "image": "nginx:1.27",
                                                           "ports": [{"containerPort": 80}]}]}},
                     **spec}}


def list_file(tmp_path: Path, *items: dict) -> str:
    path = tmp_path / f"list-{uuid.uuid4().hex[:6]}.yaml"
    path.write_text(yaml.safe_dump({"apiVersion": "v1", "kind": "List", "items": list(items)}))
    return str(path)


@pytest.fixture
def ns(apiserver: ApiServerForTest) -> Iterator[str]:
    name = apiserver.namespace("v2")
    yield name
    apiserver.kubectl("delete", "namespace", name, "--wait=false")


def test_apply_of_a_list_creates_every_item(apiserver: ApiServerForTest, ns: str, tmp_path: Path) -> None:
    config_map = {"apiVersion": "v1", "kind": "ConfigMap", "metadata": {"name": "settings"}, "data": {"a": "1"}}
    out = ok(apiserver.kubectl("apply", "-n", ns, "-f", list_file(tmp_path, config_map, deployment("web"))))
    assert "configmap/settings created" in out
    assert "deployment.apps/web created" in out
    assert ok(apiserver.kubectl("get", "-n", ns, "configmap/settings", "-o", "jsonpath={.data.a}")) == "1"
    assert ok(apiserver.kubectl("get", "-n", ns, "deployment/web", "-o", "name")).strip() == "deployment.apps/web"


def test_unknown_field_in_a_list_item_is_refused_before_sending(apiserver: ApiServerForTest, ns: str,
                                                                tmp_path: Path) -> None:
    out = apiserver.kubectl("apply", "-n", ns, "-f", list_file(tmp_path, deployment("typo", replicass=2)))
    assert out.returncode != 0
    assert 'unknown field "replicass"' in out.stderr
    assert "--validate=false" in out.stderr
    assert apiserver.kubectl("get", "-n", ns, "deployment/typo").returncode != 0


def test_validate_false_applies_the_list_anyway(apiserver: ApiServerForTest, ns: str, tmp_path: Path) -> None:
    path = list_file(tmp_path, deployment("lenient", replicass=2))
    out = ok(apiserver.kubectl("apply", "-n", ns, "--validate=false", "-f", path))
    assert "deployment.apps/lenient created" in out


def test_get_as_yaml_then_apply_round_trips(apiserver: ApiServerForTest, ns: str, tmp_path: Path) -> None:
    ok(apiserver.kubectl("create", "-n", ns, "-f", "-", input=json.dumps(deployment("round"))))
    dumped = ok(apiserver.kubectl("get", "-n", ns, "deployments", "-o", "yaml"))
    assert yaml.safe_load(dumped)["kind"] == "List"
    path = tmp_path / "dump.yaml"
    path.write_text(dumped)
    out = ok(apiserver.kubectl("apply", "-n", ns, "-f", str(path)))
    assert "deployment.apps/round" in out


@pytest.fixture
def widgets(apiserver: ApiServerForTest) -> Iterator[str]:
    group = f"v2-{uuid.uuid4().hex[:6]}.example.com"
    ok(apiserver.kubectl("apply", "-f", "-", input=WIDGET_CRD.format(group=group)))
    ok(apiserver.kubectl("wait", "--for=condition=Established", f"crd/widgets.{group}", "--timeout=20s"))
    yield group
    apiserver.kubectl("delete", "crd", f"widgets.{group}", "--wait=false")


def widget(group: str, name: str, spec: dict) -> dict:
    return {"apiVersion": f"{group}/v1", "kind": "Widget", "metadata": {"name": name}, "spec": spec}


def test_custom_kind_in_a_list_is_validated_by_its_schema(apiserver: ApiServerForTest, ns: str, widgets: str,
                                                          tmp_path: Path) -> None:
    path = list_file(tmp_path, widget(widgets, "bad", {"size": 1, "colour": "red"}))
    # the v2 document is rebuilt once the CRD is served; kubectl refuses the unknown field from then on
    refused = wait_until(lambda: 'unknown field "colour"' in apiserver.kubectl("apply", "-n", ns, "-f", path).stderr)
    assert refused
    assert apiserver.kubectl("get", "-n", ns, f"widgets.{widgets}/bad").returncode != 0


def test_custom_kind_in_a_list_accepts_int_or_string_null_and_preserved_fields(
        apiserver: ApiServerForTest, ns: str, widgets: str, tmp_path: Path) -> None:
    items = [widget(widgets, "w1", {"size": 2, "port": "http", "note": None, "extra": {"any": {"thing": 1}}}),
             widget(widgets, "w2", {"port": 8080})]
    path = list_file(tmp_path, *items)
    results: list[subprocess.CompletedProcess[str]] = []
    # the v2 document is rebuilt once the CRD is served; until then kubectl skips the unknown kind anyway
    wait_until(lambda: results.append(apiserver.kubectl("apply", "-n", ns, "-f", path)) or
               results[-1].returncode == 0)
    ok(results[-1])
    names = ok(apiserver.kubectl("get", "-n", ns, f"widgets.{widgets}", "-o", "name")).split()
    assert sorted(names) == [f"widget.{widgets}/w1", f"widget.{widgets}/w2"]


def test_explain_still_reads_the_v3_documents(apiserver: ApiServerForTest) -> None:
    out = ok(apiserver.kubectl("explain", "deployments.spec.replicas"))
    assert "FIELD: replicas <integer>" in out


def test_raw_v2_document_is_swagger_json(apiserver: ApiServerForTest) -> None:
    document = json.loads(ok(apiserver.kubectl("get", "--raw", "/openapi/v2")))
    assert document["swagger"] == "2.0"
    assert document["definitions"]["io.k8s.api.apps.v1.Deployment"]["x-kubernetes-group-version-kind"] == [
        {"group": "apps", "kind": "Deployment", "version": "v1"}]
