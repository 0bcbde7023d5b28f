"""kubectl apply: client-side (three-way merge, "unchanged") and server-side (field managers, conflicts)."""

from __future__ import annotations

import json
import subprocess
from pathlib import Path
from typing import Any

import pytest
import yaml

from tests.integration.apiserver_fixture import ApiServerForTest
from tests.integration.certs import RawClient

pytestmark = [pytest.mark.integration, pytest.mark.timeout(90)]

MANIFESTS = Path(__file__).parent / "manifests"
LAST_APPLIED = "kubectl.kubernetes.io/last-applied-configuration"


def ok(result: subprocess.CompletedProcess[str]) -> str:
    assert result.returncode == 0, (f"kubectl exited {result.returncode}\nstdout: {result.stdout}\n"
                                    f"stderr: {result.stderr}")
    return result.stdout


def get_json(apiserver: ApiServerForTest, *args: str) -> dict[str, Any]:
    return json.loads(ok(apiserver.kubectl("get", *args, "-o", "json")))


def configmap(name: str, data: dict[str, str]) -> str:
    return yaml.safe_dump({"apiVersion": "v1", "kind": "ConfigMap", "metadata": {"name": name}, "data": data})


def managed(apiserver: ApiServerForTest, ns: str, *args: str) -> dict[str, Any]:
    """The object with its managedFields (kubectl hides them unless asked)."""
    return get_json(apiserver, *args, "-n", ns, "--show-managed-fields")


def managers(obj: dict[str, Any]) -> dict[str, dict[str, Any]]:
    return {m["manager"]: m for m in obj["metadata"].get("managedFields", [])}


# ---- client-side apply -------------------------------------------------------------------------


@pytest.mark.parametrize(("manifest", "kind", "expected"), [
    ("configmap-settings.yaml", "configmap", "configmap/settings"),
    ("deployment-web.yaml", "deployment", "deployment.apps/web"),
    ("service-web.yaml", "service", "service/web"),
    ("secret-creds.yaml", "secret", "secret/creds"),
    ("pod-web.yaml", "pod", "pod/web"),
])
def test_apply_twice_second_is_unchanged_and_keeps_resource_version(apiserver: ApiServerForTest, manifest: str,
                                                                    kind: str, expected: str) -> None:
    ns = apiserver.namespace("apply")
    made = apiserver.kubectl("create", "serviceaccount", "default", "-n", ns)  # pods need it; no controller
    assert made.returncode == 0 or "AlreadyExists" in made.stderr, made.stderr
    path = str(MANIFESTS / manifest)
    assert ok(apiserver.kubectl("apply", "-n", ns, "-f", path)).strip() == f"{expected} created"
    name = expected.split("/")[1]
    before = get_json(apiserver, kind, name, "-n", ns)["metadata"]["resourceVersion"]
    assert ok(apiserver.kubectl("apply", "-n", ns, "-f", path)).strip() == f"{expected} unchanged"
    assert get_json(apiserver, kind, name, "-n", ns)["metadata"]["resourceVersion"] == before


def test_apply_records_last_applied_configuration(apiserver: ApiServerForTest) -> None:
    ns = apiserver.namespace("apply")
    ok(apiserver.kubectl("apply", "-n", ns, "-f", str(MANIFESTS / "configmap-settings.yaml")))
    obj = get_json(apiserver, "configmap", "settings", "-n", ns)
    recorded = json.loads(obj["metadata"]["annotations"][LAST_APPLIED])
    assert recorded == {"apiVersion": "v1", "kind": "ConfigMap", "data": {"mode": "prod", "replicas": "2"},
                        "metadata": {"annotations": {}, "labels": {"app": "web"}, "name": "settings",
                                     "namespace": ns}}


def test_apply_changed_manifest_reports_configured(apiserver: ApiServerForTest) -> None:
    ns = apiserver.namespace("apply")
    ok(apiserver.kubectl("apply", "-n", ns, "-f", "-", input=configmap("c", {"a": "1"})))
    out = ok(apiserver.kubectl("apply", "-n", ns, "-f", "-", input=configmap("c", {"a": "2"})))
    assert out.strip() == "configmap/c configured"
    assert get_json(apiserver, "configmap", "c", "-n", ns)["data"] == {"a": "2"}


def test_apply_removes_a_key_dropped_from_the_manifest(apiserver: ApiServerForTest) -> None:
    ns = apiserver.namespace("apply")
    ok(apiserver.kubectl("apply", "-n", ns, "-f", "-", input=configmap("c", {"keep": "1", "drop": "2"})))
    ok(apiserver.kubectl("apply", "-n", ns, "-f", "-", input=configmap("c", {"keep": "1"})))
    assert get_json(apiserver, "configmap", "c", "-n", ns)["data"] == {"keep": "1"}


def test_apply_keeps_fields_set_by_others(apiserver: ApiServerForTest) -> None:
    ns = apiserver.namespace("apply")
    ok(apiserver.kubectl("apply", "-n", ns, "-f", "-", input=configmap("c", {"a": "1"})))
    ok(apiserver.kubectl("patch", "configmap", "c", "-n", ns, "--type=merge", "-p", '{"data":{"other":"x"}}'))
    out = ok(apiserver.kubectl("apply", "-n", ns, "-f", "-", input=configmap("c", {"a": "2"})))
    assert out.strip() == "configmap/c configured"
    assert get_json(apiserver, "configmap", "c", "-n", ns)["data"] == {"a": "2", "other": "x"}


def test_apply_deployment_change_bumps_generation(apiserver: ApiServerForTest) -> None:
    ns = apiserver.namespace("apply")
    path = MANIFESTS / "deployment-web.yaml"
    ok(apiserver.kubectl("apply", "-n", ns, "-f", str(path)))
    doc = yaml.safe_load(path.read_text())
    doc["spec"]["replicas"] = 3
    out = ok(apiserver.kubectl("apply", "-n", ns, "-f", "-", input=yaml.safe_dump(doc)))
    assert out.strip() == "deployment.apps/web configured"
    dep = get_json(apiserver, "deployment", "web", "-n", ns)
    assert (dep["spec"]["replicas"], dep["metadata"]["generation"]) == (3, 2)


# ---- server-side apply -------------------------------------------------------------------------


def ssa(apiserver: ApiServerForTest, ns: str, manager: str, data: dict[str, str], *extra: str,
        name: str = "ssa") -> subprocess.CompletedProcess[str]:
    return apiserver.kubectl("apply", "--server-side", f"--field-manager={manager}", "-n", ns, *extra, "-f", "-",
                             input=configmap(name, data))


def test_server_side_apply_creates_and_records_the_manager(apiserver: ApiServerForTest) -> None:
    ns = apiserver.namespace("ssa")
    assert ok(ssa(apiserver, ns, "alpha", {"key": "one"})).strip() == "configmap/ssa serverside-applied"
    obj = managed(apiserver, ns, "configmap", "ssa")
    entry = managers(obj)["alpha"]
    assert (entry["operation"], entry["apiVersion"], entry["fieldsType"]) == ("Apply", "v1", "FieldsV1")
    assert entry["fieldsV1"] == {"f:data": {"f:key": {}}}
    assert obj["data"] == {"key": "one"}


def test_server_side_apply_conflict_names_the_other_manager_and_field(apiserver: ApiServerForTest) -> None:
    ns = apiserver.namespace("ssa")
    ok(ssa(apiserver, ns, "alpha", {"key": "one"}))
    result = ssa(apiserver, ns, "beta", {"key": "two"})
    assert result.returncode != 0
    assert 'error: Apply failed with 1 conflict: conflict with "alpha": .data.key' in result.stderr.splitlines()
    assert "--force-conflicts" in result.stderr
    assert get_json(apiserver, "configmap", "ssa", "-n", ns)["data"] == {"key": "one"}


def test_server_side_apply_conflict_is_a_409_status_with_causes(apiserver: ApiServerForTest) -> None:
    ns = apiserver.namespace("ssa")
    ok(ssa(apiserver, ns, "alpha", {"key": "one"}))
    client = RawClient(apiserver.kubeconfig)
    resp = client.request("PATCH", f"/api/v1/namespaces/{ns}/configmaps/ssa?fieldManager=beta",
                          configmap("ssa", {"key": "two"}), content_type="application/apply-patch+yaml")
    assert resp.status == 409, resp
    status = resp.json()
    assert (status["kind"], status["status"], status["reason"], status["code"]) == ("Status", "Failure",
                                                                                   "Conflict", 409)
    assert status["message"] == 'Apply failed with 1 conflict: conflict with "alpha": .data.key'
    assert status["details"]["causes"] == [{"reason": "FieldManagerConflict", "message": 'conflict with "alpha"',
                                            "field": ".data.key"}]


def test_server_side_apply_force_conflicts_takes_ownership(apiserver: ApiServerForTest) -> None:
    ns = apiserver.namespace("ssa")
    ok(ssa(apiserver, ns, "alpha", {"key": "one", "mine": "a"}))
    out = ok(ssa(apiserver, ns, "beta", {"key": "two"}, "--force-conflicts"))
    assert out.strip() == "configmap/ssa serverside-applied"
    obj = managed(apiserver, ns, "configmap", "ssa")
    assert obj["data"] == {"key": "two", "mine": "a"}
    owners = managers(obj)
    assert owners["beta"]["fieldsV1"] == {"f:data": {"f:key": {}}}
    assert owners["alpha"]["fieldsV1"] == {"f:data": {"f:mine": {}}}


def test_server_side_apply_same_value_shares_ownership(apiserver: ApiServerForTest) -> None:
    ns = apiserver.namespace("ssa")
    ok(ssa(apiserver, ns, "alpha", {"key": "one"}))
    ok(ssa(apiserver, ns, "beta", {"key": "one"}))
    owners = managers(managed(apiserver, ns, "configmap", "ssa"))
    assert owners["alpha"]["fieldsV1"] == owners["beta"]["fieldsV1"] == {"f:data": {"f:key": {}}}


def test_server_side_apply_conflict_with_an_update_manager_names_its_version(apiserver: ApiServerForTest) -> None:
    ns = apiserver.namespace("ssa")
    ok(ssa(apiserver, ns, "alpha", {"key": "one"}))
    ok(apiserver.kubectl("patch", "configmap", "ssa", "-n", ns, "--type=merge", "-p", '{"data":{"key":"patched"}}'))
    result = ssa(apiserver, ns, "alpha", {"key": "three"})
    assert result.returncode != 0
    assert ('error: Apply failed with 1 conflict: conflict with "kubectl-patch" using v1: .data.key'
            in result.stderr.splitlines()), result.stderr


def test_server_side_apply_drops_fields_its_manager_no_longer_applies(apiserver: ApiServerForTest) -> None:
    ns = apiserver.namespace("ssa")
    ok(ssa(apiserver, ns, "alpha", {"key": "one", "extra": "x"}))
    ok(ssa(apiserver, ns, "alpha", {"key": "one"}))
    assert get_json(apiserver, "configmap", "ssa", "-n", ns)["data"] == {"key": "one"}


def test_server_side_apply_without_changes_keeps_resource_version(apiserver: ApiServerForTest) -> None:
    ns = apiserver.namespace("ssa")
    ok(ssa(apiserver, ns, "alpha", {"key": "one"}))
    before = get_json(apiserver, "configmap", "ssa", "-n", ns)["metadata"]["resourceVersion"]
    assert ok(ssa(apiserver, ns, "alpha", {"key": "one"})).strip() == "configmap/ssa serverside-applied"
    assert get_json(apiserver, "configmap", "ssa", "-n", ns)["metadata"]["resourceVersion"] == before


def test_server_side_apply_deployment_merges_containers_by_name(apiserver: ApiServerForTest) -> None:
    ns = apiserver.namespace("ssa")
    path = MANIFESTS / "deployment-web.yaml"
    out = ok(apiserver.kubectl("apply", "--server-side", "--field-manager=alpha", "-n", ns, "-f", str(path)))
    assert out.strip() == "deployment.apps/web serverside-applied"
    partial = {"apiVersion": "apps/v1", "kind": "Deployment", "metadata": {"name": "web"},
               "spec": {"template": {"spec": {"containers": [{"name": "app", "resources": {
                   "limits": {"memory": "128Mi"}}}]}}}}
    ok(apiserver.kubectl("apply", "--server-side", "--field-manager=beta", "-n", ns, "-f", "-",
                         input=yaml.safe_dump(partial)))
    [container] = get_json(apiserver, "deployment", "web", "-n", ns)["spec"]["template"]["spec"]["containers"]
    assert container["image"] == "nginx:1.27"
    assert container["resources"] == {"limits": {"memory": "128Mi"}}
