"""The real kubectl against custom resources: a CRD is served as soon as it is stored, its schema
validates, defaults and prunes, its printer columns, status and scale subresources work, and
deleting it deletes its objects. The CronTab CRD is the one from the Kubernetes documentation.
"""

from __future__ import annotations

import json
import re
import subprocess
import time
import uuid
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import pytest

from tests.integration.apiserver_fixture import ApiServerForTest
from tests.integration.certs import RawClient

pytestmark = [pytest.mark.integration, pytest.mark.timeout(90)]

CRONTAB_CRD = """
apiVersion: apiextensions.k8s.io/v1
kind: CustomResourceDefinition
metadata:
  name: crontabs.{group}
spec:
  group: {group}
  scope: Namespaced
  names:
    plural: crontabs
    singular: crontab
    kind: CronTab
    shortNames: [ct]
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
            description: The schedule and what runs on it.
            required: [cronSpec]
            properties:
              cronSpec:
                type: string
                description: When to run, in cron format.
                pattern: '^(\\d+|\\*)(/\\d+)?(\\s+(\\d+|\\*)(/\\d+)?){{4}}$'
              image:
                type: string
              replicas:
                type: integer
                minimum: 1
                maximum: 10
                default: 1
          status:
            type: object
            properties:
              replicas:
                type: integer
              labelSelector:
                type: string
    subresources:
      status: {{}}
      scale:
        specReplicasPath: .spec.replicas
        statusReplicasPath: .status.replicas
        labelSelectorPath: .status.labelSelector
    additionalPrinterColumns:
    - name: Spec
      type: string
      jsonPath: .spec.cronSpec
    - name: Replicas
      type: integer
      jsonPath: .spec.replicas
    - name: Age
      type: date
      jsonPath: .metadata.creationTimestamp
"""

CRONTAB = """
apiVersion: {group}/v1
kind: CronTab
metadata:
  name: {name}
spec:
  cronSpec: "* * * * */5"
  image: my-awesome-cron-image
"""


def ok(result: subprocess.CompletedProcess[str]) -> str:
    assert result.returncode == 0, (f"kubectl exited {result.returncode}\nstdout: {result.stdout}\n"
                                    f"stderr: {result.stderr}")
    return result.stdout


def wait_until(check: Callable[[], Any], timeout: float = 10.0) -> Any:
    deadline = time.monotonic() + timeout
    while True:
        value = check()
        if value or time.monotonic() > deadline:
            return value
        time.sleep(0.05)


def rows(text: str) -> list[list[str]]:
    return [re.split(r"\s{2,}", line.strip()) for line in text.splitlines() if line.strip()]


@pytest.fixture(scope="module")
def crontabs(apiserver: ApiServerForTest) -> Iterator[str]:
    """The CronTab CRD in a group of this module's own; removed at the end."""
    group = f"stable{uuid.uuid4().hex[:6]}.example.com"
    ok(apiserver.kubectl("apply", "-f", "-", input=CRONTAB_CRD.format(group=group)))
    ok(apiserver.kubectl("wait", "--for=condition=Established", f"crd/crontabs.{group}", "--timeout=20s"))
    yield group
    apiserver.kubectl("delete", "crd", f"crontabs.{group}", "--wait=false")


def test_apply_then_create_at_once_and_delete_removes_objects(apiserver: ApiServerForTest, tmp_path: Path) -> None:
    group = f"fast{uuid.uuid4().hex[:6]}.example.com"
    ns = apiserver.namespace("crd")
    out = ok(apiserver.kubectl("apply", "-f", "-", input=CRONTAB_CRD.format(group=group)))
    assert out.strip() == f"customresourcedefinition.apiextensions.k8s.io/crontabs.{group} created"
    out = ok(apiserver.kubectl("create", "-n", ns, "-f", "-", input=CRONTAB.format(group=group, name="first")))
    assert out.strip() == f"crontab.{group}/first created"
    crd = json.loads(ok(apiserver.kubectl("get", "crd", f"crontabs.{group}", "-o", "json")))
    assert "customresourcecleanup.apiextensions.k8s.io" in crd["metadata"]["finalizers"]

    out = ok(apiserver.kubectl("delete", "crd", f"crontabs.{group}", "--timeout=30s"))
    assert out.strip() == f'customresourcedefinition.apiextensions.k8s.io "crontabs.{group}" deleted'
    keys = apiserver.run(apiserver.server.store.client.range(f"/registry/{group}/", prefix=True, count_only=True))
    assert keys.count == 0  # type: ignore[attr-defined]
    # a fresh discovery cache: a cached one still names the resource, and kubectl then reports the 404
    gone = apiserver.kubectl("get", "crontabs", "-n", ns, "--cache-dir", str(tmp_path))
    assert gone.returncode != 0
    assert gone.stderr.strip().endswith('the server doesn\'t have a resource type "crontabs"'), gone.stderr


def test_wait_for_established_and_status(apiserver: ApiServerForTest, crontabs: str) -> None:
    ok(apiserver.kubectl("wait", "--for=condition=Established", f"crd/crontabs.{crontabs}", "--timeout=5s"))
    crd = json.loads(ok(apiserver.kubectl("get", "crd", f"crontabs.{crontabs}", "-o", "json")))
    status = crd["status"]
    assert status["acceptedNames"] == {"plural": "crontabs", "singular": "crontab", "kind": "CronTab",
                                       "listKind": "CronTabList", "shortNames": ["ct"]}
    assert status["storedVersions"] == ["v1"]
    assert [(c["type"], c["status"], c["reason"], c["message"]) for c in status["conditions"]] == [
        ("NamesAccepted", "True", "NoConflicts", "no conflicts found"),
        ("Established", "True", "InitialNamesAccepted", "the initial names have been accepted"),
    ]


def test_get_shows_printer_columns(apiserver: ApiServerForTest, crontabs: str) -> None:
    ns = apiserver.namespace("crd")
    ok(apiserver.kubectl("create", "-n", ns, "-f", "-", input=CRONTAB.format(group=crontabs, name="nightly")))
    table = rows(ok(apiserver.kubectl("get", "crontabs", "-n", ns)))
    assert table[0] == ["NAME", "SPEC", "REPLICAS", "AGE"]
    assert table[1][:3] == ["nightly", "* * * * */5", "1"]  # replicas came from the schema default
    assert re.fullmatch(r"\d+s", table[1][3])
    assert ok(apiserver.kubectl("get", "ct", "nightly", "-n", ns, "-o", "jsonpath={.metadata.generation}")) == "1"


def test_invalid_object_is_422_with_schema_message(apiserver: ApiServerForTest, crontabs: str) -> None:
    ns = apiserver.namespace("crd")
    bad = CRONTAB.format(group=crontabs, name="bad").replace("image: my-awesome-cron-image", "replicas: 20")
    result = apiserver.kubectl("create", "-n", ns, "-f", "-", input=bad)
    assert result.returncode == 1
    assert result.stderr.strip() == ('The CronTab "bad" is invalid: spec.replicas: Invalid value: 20: '
                                     'spec.replicas in body should be less than or equal to 10')
    body = {"apiVersion": f"{crontabs}/v1", "kind": "CronTab", "metadata": {"name": "bad"},
            "spec": {"replicas": "two"}}
    resp = RawClient(apiserver.kubeconfig).post(f"/apis/{crontabs}/v1/namespaces/{ns}/crontabs", body)
    assert resp.status == 422
    assert resp.json()["message"] == (
        f'CronTab.{crontabs} "bad" is invalid: [spec.replicas: Invalid value: "string": spec.replicas in body '
        'must be of type integer: "string", spec.cronSpec: Required value, .spec.replicas: Invalid value: 0: '
        '.spec.replicas accessor error: two is of the type string, expected int64]')  # the scale path check too


def test_unknown_fields_are_pruned(apiserver: ApiServerForTest, crontabs: str) -> None:
    ns = apiserver.namespace("crd")
    body = {"apiVersion": f"{crontabs}/v1", "kind": "CronTab", "metadata": {"name": "pruned"},
            "spec": {"cronSpec": "* * * * *", "extra": 1}, "other": True}
    resp = RawClient(apiserver.kubeconfig).post(f"/apis/{crontabs}/v1/namespaces/{ns}/crontabs", body)
    assert resp.status == 201, resp.body
    assert resp.json()["spec"] == {"cronSpec": "* * * * *", "replicas": 1}
    assert "other" not in resp.json()


def test_explain(apiserver: ApiServerForTest, crontabs: str) -> None:
    out = ok(apiserver.kubectl("explain", f"crontabs.{crontabs}.spec"))
    assert re.search(r"^KIND:\s+CronTab$", out, re.M), out
    assert re.search(r"^FIELD:\s+spec <Object>$", out, re.M), out
    assert "The schedule and what runs on it." in out
    assert re.search(r"^\s+cronSpec\s+<string> -required-$", out, re.M), out


def test_status_and_scale_subresources(apiserver: ApiServerForTest, crontabs: str) -> None:
    ns = apiserver.namespace("crd")
    ok(apiserver.kubectl("create", "-n", ns, "-f", "-", input=CRONTAB.format(group=crontabs, name="scaled")))
    # the main resource ignores status; /status ignores everything else
    ok(apiserver.kubectl("patch", "crontab", "scaled", "-n", ns, "--type=merge",
                         "-p", '{"status":{"replicas":9},"spec":{"image":"other"}}'))
    ok(apiserver.kubectl("patch", "crontab", "scaled", "-n", ns, "--subresource=status", "--type=merge",
                         "-p", '{"status":{"replicas":2,"labelSelector":"app=cron"},"spec":{"image":"ignored"}}'))
    obj = json.loads(ok(apiserver.kubectl("get", "crontab", "scaled", "-n", ns, "-o", "json")))
    assert obj["spec"]["image"] == "other"
    assert obj["status"] == {"replicas": 2, "labelSelector": "app=cron"}
    assert obj["metadata"]["generation"] == 2

    out = ok(apiserver.kubectl("scale", "crontab", "scaled", "-n", ns, "--replicas=3"))
    assert out.strip() == f"crontab.{crontabs}/scaled scaled"
    scale = RawClient(apiserver.kubeconfig).get(f"/apis/{crontabs}/v1/namespaces/{ns}/crontabs/scaled/scale").json()
    assert (scale["kind"], scale["spec"], scale["status"]) == ("Scale", {"replicas": 3},
                                                               {"replicas": 2, "selector": "app=cron"})
    too_many = apiserver.kubectl("scale", "crontab", "scaled", "-n", ns, "--replicas=11")
    assert "spec.replicas in body should be less than or equal to 10" in too_many.stderr


def test_server_side_apply(apiserver: ApiServerForTest, crontabs: str) -> None:
    ns = apiserver.namespace("crd")
    manifest = CRONTAB.format(group=crontabs, name="applied")
    out = ok(apiserver.kubectl("apply", "--server-side", "-n", ns, "-f", "-", input=manifest))
    assert out.strip() == f"crontab.{crontabs}/applied serverside-applied"
    changed = manifest.replace("my-awesome-cron-image", "newer-image")
    ok(apiserver.kubectl("apply", "--server-side", "-n", ns, "-f", "-", input=changed))
    obj = json.loads(ok(apiserver.kubectl("get", "crontab", "applied", "-n", ns, "-o", "json",
                                          "--show-managed-fields")))
    assert obj["spec"] == {"cronSpec": "* * * * */5", "image": "newer-image", "replicas": 1}
    assert obj["metadata"]["generation"] == 2
    assert [m["manager"] for m in obj["metadata"]["managedFields"]] == ["kubectl"]
