"""The real kubectl against our API server: discovery, CRUD verbs, patches, tables, describe, explain.

Each test works in a namespace of its own (``apiserver.namespace()``) and checks what kubectl
prints and what the server stores, exactly as kubectl 1.32 does against a real kube-apiserver.
The cluster under test is an API server alone (no controllers, no kubelets): pods stay Pending.
"""

from __future__ import annotations

import base64
import ipaddress
import json
import re
import subprocess
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest

from tests.integration.apiserver_fixture import ApiServerForTest
from tests.integration.certs import RawClient

pytestmark = [pytest.mark.integration, pytest.mark.timeout(90)]

MANIFESTS = Path(__file__).parent / "manifests"
SERVICE_CIDR = ipaddress.ip_network("10.96.0.0/12")
AGE = re.compile(r"^\d+s$")


# ---- helpers -----------------------------------------------------------------------------------


def ok(result: subprocess.CompletedProcess[str]) -> str:
    assert result.returncode == 0, (f"kubectl exited {result.returncode}\nstdout: {result.stdout}\n"
                                    f"stderr: {result.stderr}")
    return result.stdout


def get_json(apiserver: ApiServerForTest, *args: str) -> dict[str, Any]:
    return json.loads(ok(apiserver.kubectl("get", *args, "-o", "json")))


def table(text: str) -> list[dict[str, str]]:
    """Rows of a kubectl table keyed by header; columns start where their header starts."""
    lines = [line for line in text.splitlines() if line.strip()]
    assert lines, "empty table"
    header = lines[0]
    starts = [m.start() for m in re.finditer(r"\S+(?: \S+)*", header)]
    names = [m.group(0) for m in re.finditer(r"\S+(?: \S+)*", header)]
    rows = []
    for line in lines[1:]:
        cells = [line[s:e].strip() for s, e in zip(starts, [*starts[1:], None], strict=True)]
        rows.append(dict(zip(names, cells, strict=True)))
    return rows


def header(text: str) -> list[str]:
    return re.findall(r"\S+(?: \S+)*", text.splitlines()[0])


def wait_until(check: Callable[[], Any], timeout: float = 10.0, interval: float = 0.1) -> Any:
    deadline = time.monotonic() + timeout
    while True:
        value = check()
        if value or time.monotonic() > deadline:
            return value
        time.sleep(interval)


def ensure_default_service_account(apiserver: ApiServerForTest, ns: str) -> None:
    """Pods need the namespace's "default" ServiceAccount, which a controller normally creates."""
    if apiserver.kubectl("get", "serviceaccount", "default", "-n", ns).returncode == 0:
        return
    made = apiserver.kubectl("create", "serviceaccount", "default", "-n", ns)
    assert made.returncode == 0 or "AlreadyExists" in made.stderr, made.stderr


def pod_manifest(name: str, labels: dict[str, str] | None = None, node: str | None = None) -> str:
    spec: dict[str, Any] = {"containers": [{"name": "app", "image": "nginx:1.27"}]}
    if node:
        spec["nodeName"] = node
    return json.dumps({"apiVersion": "v1", "kind": "Pod",
                       "metadata": {"name": name, "labels": labels or {}}, "spec": spec})


def create_pod(apiserver: ApiServerForTest, ns: str, name: str, labels: dict[str, str] | None = None,
               node: str | None = None) -> None:
    out = ok(apiserver.kubectl("create", "-n", ns, "-f", "-", input=pod_manifest(name, labels, node)))
    assert out.strip() == f"pod/{name} created"


def create_web_deployment(apiserver: ApiServerForTest, ns: str) -> None:
    out = ok(apiserver.kubectl("create", "-n", ns, "-f", str(MANIFESTS / "deployment-web.yaml")))
    assert out.strip() == "deployment.apps/web created"


# ---- every verb on every everyday kind ---------------------------------------------------------

KINDS = {  # kubectl resource: (manifest, what kubectl prints for it, how delete names it)
    "configmap": ("configmap-settings.yaml", "configmap/settings", 'configmap "settings"'),
    "secret": ("secret-creds.yaml", "secret/creds", 'secret "creds"'),
    "service": ("service-web.yaml", "service/web", 'service "web"'),
    "deployment": ("deployment-web.yaml", "deployment.apps/web", 'deployment.apps "web"'),
    "pod": ("pod-web.yaml", "pod/web", 'pod "web"'),
}


def create_kind(apiserver: ApiServerForTest, kind: str) -> tuple[str, str, str]:
    """A fresh namespace holding one object of ``kind``; returns (namespace, printed name, object name)."""
    ns = apiserver.namespace(kind[:6])
    ensure_default_service_account(apiserver, ns)
    manifest, printed, _ = KINDS[kind]
    out = ok(apiserver.kubectl("create", "-n", ns, "-f", str(MANIFESTS / manifest)))
    assert out.strip() == f"{printed} created"
    return ns, printed, printed.split("/")[1]


@pytest.mark.parametrize("kind", sorted(KINDS))
def test_get_by_name_prints_one_row(apiserver: ApiServerForTest, kind: str) -> None:
    ns, printed, name = create_kind(apiserver, kind)
    [row] = table(ok(apiserver.kubectl("get", kind, name, "-n", ns)))
    assert row["NAME"] == name
    assert ok(apiserver.kubectl("get", kind, name, "-n", ns, "-o", "name")).strip() == printed


@pytest.mark.parametrize("kind", sorted(KINDS))
def test_label_each_kind(apiserver: ApiServerForTest, kind: str) -> None:
    ns, printed, name = create_kind(apiserver, kind)
    assert ok(apiserver.kubectl("label", kind, name, "-n", ns, "team=blue")).strip() == f"{printed} labeled"
    assert get_json(apiserver, kind, name, "-n", ns)["metadata"]["labels"] == {"app": "web", "team": "blue"}


@pytest.mark.parametrize("kind", sorted(KINDS))
def test_annotate_each_kind(apiserver: ApiServerForTest, kind: str) -> None:
    ns, printed, name = create_kind(apiserver, kind)
    out = ok(apiserver.kubectl("annotate", kind, name, "-n", ns, "example.com/owner=team-a"))
    assert out.strip() == f"{printed} annotated"
    annotations = get_json(apiserver, kind, name, "-n", ns)["metadata"]["annotations"]
    assert annotations["example.com/owner"] == "team-a"


@pytest.mark.parametrize("patch_type", ["json", "merge", "strategic"])
@pytest.mark.parametrize("kind", sorted(KINDS))
def test_patch_each_kind_with_each_patch_type(apiserver: ApiServerForTest, kind: str, patch_type: str) -> None:
    ns, printed, name = create_kind(apiserver, kind)
    patch = ('[{"op":"add","path":"/metadata/labels/patched","value":"yes"}]' if patch_type == "json"
             else '{"metadata":{"labels":{"patched":"yes"}}}')
    out = ok(apiserver.kubectl("patch", kind, name, "-n", ns, f"--type={patch_type}", "-p", patch))
    assert out.strip() == f"{printed} patched"
    assert get_json(apiserver, kind, name, "-n", ns)["metadata"]["labels"] == {"app": "web", "patched": "yes"}


@pytest.mark.parametrize("kind", sorted(KINDS))
def test_describe_each_kind(apiserver: ApiServerForTest, kind: str) -> None:
    ns, _, name = create_kind(apiserver, kind)
    out = ok(apiserver.kubectl("describe", kind, name, "-n", ns))
    assert re.search(rf"^Name:\s+{name}$", out, re.M), out
    assert re.search(rf"^Namespace:\s+{ns}$", out, re.M), out
    assert re.search(r"^Labels:\s+app=web$", out, re.M), out


@pytest.mark.parametrize("kind", sorted(KINDS))
def test_delete_each_kind_returns_once_it_is_gone(apiserver: ApiServerForTest, kind: str) -> None:
    ns, _, name = create_kind(apiserver, kind)
    out = ok(apiserver.kubectl("delete", kind, name, "-n", ns, "--timeout=20s"))
    assert out.strip() == f"{KINDS[kind][2]} deleted"
    gone = apiserver.kubectl("get", kind, name, "-n", ns)
    assert gone.returncode == 1 and "(NotFound)" in gone.stderr, gone.stderr


def test_get_all_lists_the_all_category(apiserver: ApiServerForTest) -> None:
    ns = apiserver.namespace("all")
    ok(apiserver.kubectl("create", "-n", ns, "-f", str(MANIFESTS / "deployment-web.yaml")))
    ok(apiserver.kubectl("create", "-n", ns, "-f", str(MANIFESTS / "service-web.yaml")))
    ok(apiserver.kubectl("create", "-n", ns, "-f", str(MANIFESTS / "configmap-settings.yaml")))
    printed = set(ok(apiserver.kubectl("get", "all", "-n", ns, "-o", "name")).split())
    assert {"service/web", "deployment.apps/web"} <= printed
    assert "configmap/settings" not in printed, "configmaps are not in the 'all' category"


def test_get_pods_across_namespaces_adds_namespace_column(apiserver: ApiServerForTest) -> None:
    ns = apiserver.namespace("pod")
    ensure_default_service_account(apiserver, ns)
    create_pod(apiserver, ns, "p1")
    out = ok(apiserver.kubectl("get", "pods", "-A", "--field-selector", f"metadata.namespace={ns}"))
    assert header(out) == ["NAMESPACE", "NAME", "READY", "STATUS", "RESTARTS", "AGE"]
    assert [(r["NAMESPACE"], r["NAME"]) for r in table(out)] == [(ns, "p1")]


# ---- version and discovery ---------------------------------------------------------------------


def test_version_reports_server_minor_32(apiserver: ApiServerForTest) -> None:
    version = json.loads(ok(apiserver.kubectl("version", "-o", "json")))
    server = version["serverVersion"]
    assert (server["major"], server["minor"]) == ("1", "32")
    assert server["gitVersion"].startswith("v1.32.")


@pytest.mark.parametrize(("name", "shortnames", "apiversion", "namespaced", "kind"), [
    ("pods", "po", "v1", "true", "Pod"),
    ("services", "svc", "v1", "true", "Service"),
    ("configmaps", "cm", "v1", "true", "ConfigMap"),
    ("secrets", "", "v1", "true", "Secret"),
    ("namespaces", "ns", "v1", "false", "Namespace"),
    ("nodes", "no", "v1", "false", "Node"),
    ("deployments", "deploy", "apps/v1", "true", "Deployment"),
    ("statefulsets", "sts", "apps/v1", "true", "StatefulSet"),
    ("jobs", "", "batch/v1", "true", "Job"),
    ("cronjobs", "cj", "batch/v1", "true", "CronJob"),
    ("customresourcedefinitions", "crd,crds", "apiextensions.k8s.io/v1", "false", "CustomResourceDefinition"),
    ("clusterroles", "", "rbac.authorization.k8s.io/v1", "false", "ClusterRole"),
    ("selfsubjectaccessreviews", "", "authorization.k8s.io/v1", "false", "SelfSubjectAccessReview"),
])
def test_api_resources_lists_resource_with_its_columns(apiserver: ApiServerForTest, name: str, shortnames: str,
                                                       apiversion: str, namespaced: str, kind: str) -> None:
    out = ok(apiserver.kubectl("api-resources"))
    assert header(out) == ["NAME", "SHORTNAMES", "APIVERSION", "NAMESPACED", "KIND"]
    rows = [r for r in table(out) if r["NAME"] == name and r["APIVERSION"] == apiversion]
    assert rows == [{"NAME": name, "SHORTNAMES": shortnames, "APIVERSION": apiversion,
                     "NAMESPACED": namespaced, "KIND": kind}]


def test_api_resources_for_apps_group_names_exactly_its_resources(apiserver: ApiServerForTest) -> None:
    out = ok(apiserver.kubectl("api-resources", "--api-group=apps", "-o", "name"))
    assert out.split() == ["controllerrevisions.apps", "daemonsets.apps", "deployments.apps",
                           "replicasets.apps", "statefulsets.apps"]


# ---- namespaces --------------------------------------------------------------------------------


def test_create_namespace_prints_created_and_namespace_is_active(apiserver: ApiServerForTest) -> None:
    name = f"ns-basic-{time.monotonic_ns() % 10**8}"
    out = ok(apiserver.kubectl("create", "namespace", name))
    assert out.strip() == f"namespace/{name} created"
    rows = table(ok(apiserver.kubectl("get", "namespace", name)))
    assert [(r["NAME"], r["STATUS"]) for r in rows] == [(name, "Active")]
    assert AGE.match(rows[0]["AGE"])


# ---- configmaps --------------------------------------------------------------------------------


def test_create_configmap_from_literals_stores_data(apiserver: ApiServerForTest) -> None:
    ns = apiserver.namespace("cm")
    out = ok(apiserver.kubectl("create", "configmap", "c1", "-n", ns, "--from-literal=a=1", "--from-literal=b=two"))
    assert out.strip() == "configmap/c1 created"
    assert get_json(apiserver, "configmap", "c1", "-n", ns)["data"] == {"a": "1", "b": "two"}


def test_get_configmap_table_has_name_data_age(apiserver: ApiServerForTest) -> None:
    ns = apiserver.namespace("cm")
    ok(apiserver.kubectl("create", "configmap", "c1", "-n", ns, "--from-literal=a=1", "--from-literal=b=2"))
    out = ok(apiserver.kubectl("get", "configmap", "c1", "-n", ns))
    assert header(out) == ["NAME", "DATA", "AGE"]
    [row] = table(out)
    assert (row["NAME"], row["DATA"]) == ("c1", "2")
    assert AGE.match(row["AGE"])


def test_describe_configmap_shows_its_data(apiserver: ApiServerForTest) -> None:
    ns = apiserver.namespace("cm")
    ok(apiserver.kubectl("create", "configmap", "c1", "-n", ns, "--from-literal=greeting=hello"))
    out = ok(apiserver.kubectl("describe", "configmap", "c1", "-n", ns))
    assert re.search(r"^Name:\s+c1$", out, re.M)
    assert re.search(rf"^Namespace:\s+{ns}$", out, re.M)
    assert re.search(r"^Data\n====\ngreeting:\n----\nhello$", out, re.M), out


def test_delete_configmap_prints_deleted_and_it_is_gone(apiserver: ApiServerForTest) -> None:
    ns = apiserver.namespace("cm")
    ok(apiserver.kubectl("create", "configmap", "c1", "-n", ns, "--from-literal=a=1"))
    out = ok(apiserver.kubectl("delete", "configmap", "c1", "-n", ns))
    assert out.strip() == 'configmap "c1" deleted'
    gone = apiserver.kubectl("get", "configmap", "c1", "-n", ns)
    assert gone.returncode == 1
    assert gone.stderr.strip() == 'Error from server (NotFound): configmaps "c1" not found'


def test_delete_waits_until_finalizers_are_removed(apiserver: ApiServerForTest) -> None:
    ns = apiserver.namespace("fin")
    manifest = json.dumps({"apiVersion": "v1", "kind": "ConfigMap",
                           "metadata": {"name": "held", "finalizers": ["example.com/hold"]}})
    ok(apiserver.kubectl("create", "-n", ns, "-f", "-", input=manifest))
    cmd = ["kubectl", "--kubeconfig", str(apiserver.kubeconfig), "delete", "configmap", "held", "-n", ns,
           "--timeout=40s"]
    proc = subprocess.Popen(cmd, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True,
                            env={"HOME": str(apiserver.root), "PATH": "/usr/bin:/bin"})
    try:
        marked = wait_until(lambda: apiserver.kubectl(
            "get", "configmap", "held", "-n", ns, "-o", "jsonpath={.metadata.deletionTimestamp}").stdout.strip())
        assert marked, "the object never got a deletionTimestamp"
        time.sleep(0.5)
        assert proc.poll() is None, "kubectl delete returned while a finalizer still held the object"
        ok(apiserver.kubectl("patch", "configmap", "held", "-n", ns, "--type=merge",
                             "-p", '{"metadata":{"finalizers":null}}'))
        stdout, stderr = proc.communicate(timeout=20)
    finally:
        if proc.poll() is None:
            proc.kill()
            proc.communicate()
    assert proc.returncode == 0, stderr
    assert stdout.strip() == 'configmap "held" deleted'
    assert apiserver.kubectl("get", "configmap", "held", "-n", ns).returncode == 1


# ---- secrets -----------------------------------------------------------------------------------


def test_secret_from_literal_decodes_back_through_jsonpath(apiserver: ApiServerForTest) -> None:
    ns = apiserver.namespace("sec")
    out = ok(apiserver.kubectl("create", "secret", "generic", "creds", "-n", ns,
                               "--from-literal=password=s3cr3t!", "--from-literal=user=admin"))
    assert out.strip() == "secret/creds created"
    encoded = ok(apiserver.kubectl("get", "secret", "creds", "-n", ns, "-o", "jsonpath={.data.password}"))
    assert base64.b64decode(encoded) == b"s3cr3t!"
    assert ok(apiserver.kubectl("get", "secret", "creds", "-n", ns, "-o", "jsonpath={.type}")) == "Opaque"


def test_get_secret_table_shows_type_and_key_count(apiserver: ApiServerForTest) -> None:
    ns = apiserver.namespace("sec")
    ok(apiserver.kubectl("create", "secret", "generic", "creds", "-n", ns, "--from-literal=a=1",
                         "--from-literal=b=2"))
    out = ok(apiserver.kubectl("get", "secret", "creds", "-n", ns))
    assert header(out) == ["NAME", "TYPE", "DATA", "AGE"]
    [row] = table(out)
    assert (row["NAME"], row["TYPE"], row["DATA"]) == ("creds", "Opaque", "2")


def test_describe_secret_shows_sizes_not_values(apiserver: ApiServerForTest) -> None:
    ns = apiserver.namespace("sec")
    ok(apiserver.kubectl("create", "secret", "generic", "creds", "-n", ns, "--from-literal=password=s3cr3t"))
    out = ok(apiserver.kubectl("describe", "secret", "creds", "-n", ns))
    assert re.search(r"^Type:\s+Opaque$", out, re.M)
    assert re.search(r"^password:\s+6 bytes$", out, re.M), out
    assert "s3cr3t" not in out


# ---- deployments -------------------------------------------------------------------------------


def test_create_deployment_fills_in_defaults(apiserver: ApiServerForTest) -> None:
    ns = apiserver.namespace("dep")
    create_web_deployment(apiserver, ns)
    dep = get_json(apiserver, "deployment", "web", "-n", ns)
    spec = dep["spec"]
    assert spec["strategy"] == {"type": "RollingUpdate", "rollingUpdate": {"maxUnavailable": "25%",
                                                                            "maxSurge": "25%"}}
    assert (spec["revisionHistoryLimit"], spec["progressDeadlineSeconds"]) == (10, 600)
    pod = spec["template"]["spec"]
    assert (pod["restartPolicy"], pod["dnsPolicy"], pod["schedulerName"]) == ("Always", "ClusterFirst",
                                                                              "default-scheduler")
    assert pod["terminationGracePeriodSeconds"] == 30
    container = pod["containers"][0]
    assert container["imagePullPolicy"] == "IfNotPresent"
    assert container["terminationMessagePath"] == "/dev/termination-log"
    assert container["terminationMessagePolicy"] == "File"
    assert container["ports"] == [{"containerPort": 80, "name": "http", "protocol": "TCP"}]
    assert dep["metadata"]["generation"] == 1


def test_get_deployment_table_has_ready_up_to_date_available(apiserver: ApiServerForTest) -> None:
    ns = apiserver.namespace("dep")
    create_web_deployment(apiserver, ns)
    out = ok(apiserver.kubectl("get", "deployments", "-n", ns))
    assert header(out) == ["NAME", "READY", "UP-TO-DATE", "AVAILABLE", "AGE"]
    [row] = table(out)
    assert (row["NAME"], row["READY"], row["UP-TO-DATE"], row["AVAILABLE"]) == ("web", "0/2", "0", "0")


def test_get_deployment_wide_shows_containers_images_selector(apiserver: ApiServerForTest) -> None:
    ns = apiserver.namespace("dep")
    create_web_deployment(apiserver, ns)
    out = ok(apiserver.kubectl("get", "deployment", "web", "-n", ns, "-o", "wide"))
    assert header(out) == ["NAME", "READY", "UP-TO-DATE", "AVAILABLE", "AGE", "CONTAINERS", "IMAGES", "SELECTOR"]
    [row] = table(out)
    assert (row["CONTAINERS"], row["IMAGES"], row["SELECTOR"]) == ("app", "nginx:1.27", "app=web")


def test_describe_deployment_shows_replicas_and_strategy(apiserver: ApiServerForTest) -> None:
    ns = apiserver.namespace("dep")
    create_web_deployment(apiserver, ns)
    out = ok(apiserver.kubectl("describe", "deployment", "web", "-n", ns))
    for pattern in (r"^Name:\s+web$", rf"^Namespace:\s+{ns}$", r"^Selector:\s+app=web$",
                    r"^Replicas:\s+2 desired \| 0 updated \| 0 total \| 0 available \| 0 unavailable$",
                    r"^StrategyType:\s+RollingUpdate$",
                    r"^RollingUpdateStrategy:\s+25% max unavailable, 25% max surge$",
                    r"^\s+Image:\s+nginx:1\.27$"):
        assert re.search(pattern, out, re.M), f"{pattern!r} not in:\n{out}"


def test_strategic_patch_merges_containers_and_env_by_name(apiserver: ApiServerForTest) -> None:
    ns = apiserver.namespace("dep")
    create_web_deployment(apiserver, ns)
    patch = {"spec": {"template": {"spec": {"containers": [
        {"name": "app", "image": "nginx:1.28", "env": [{"name": "DEBUG", "value": "1"}]}]}}}}
    out = ok(apiserver.kubectl("patch", "deployment", "web", "-n", ns, "--type=strategic", "-p", json.dumps(patch)))
    assert out.strip() == "deployment.apps/web patched"
    [container] = get_json(apiserver, "deployment", "web", "-n", ns)["spec"]["template"]["spec"]["containers"]
    assert container["image"] == "nginx:1.28"
    assert container["ports"] == [{"containerPort": 80, "name": "http", "protocol": "TCP"}]
    assert {e["name"]: e["value"] for e in container["env"]} == {"MODE": "prod", "DEBUG": "1"}


def test_merge_patch_replaces_lists_and_null_removes_keys(apiserver: ApiServerForTest) -> None:
    ns = apiserver.namespace("dep")
    create_web_deployment(apiserver, ns)
    patch = {"metadata": {"labels": {"app": None, "tier": "front"}},
             "spec": {"template": {"spec": {"containers": [{"name": "app", "image": "nginx:1.28"}]}}}}
    out = ok(apiserver.kubectl("patch", "deployment", "web", "-n", ns, "--type=merge", "-p", json.dumps(patch)))
    assert out.strip() == "deployment.apps/web patched"
    dep = get_json(apiserver, "deployment", "web", "-n", ns)
    assert dep["metadata"]["labels"] == {"tier": "front"}
    [container] = dep["spec"]["template"]["spec"]["containers"]
    assert container["image"] == "nginx:1.28"
    assert "ports" not in container and "env" not in container


def test_json_patch_applies_operations_in_order(apiserver: ApiServerForTest) -> None:
    ns = apiserver.namespace("dep")
    create_web_deployment(apiserver, ns)
    patch = [{"op": "replace", "path": "/spec/replicas", "value": 5},
             {"op": "add", "path": "/metadata/labels/tier", "value": "front"},
             {"op": "remove", "path": "/spec/template/spec/containers/0/env"}]
    out = ok(apiserver.kubectl("patch", "deployment", "web", "-n", ns, "--type=json", "-p", json.dumps(patch)))
    assert out.strip() == "deployment.apps/web patched"
    dep = get_json(apiserver, "deployment", "web", "-n", ns)
    assert dep["spec"]["replicas"] == 5
    assert dep["metadata"]["labels"] == {"app": "web", "tier": "front"}
    assert "env" not in dep["spec"]["template"]["spec"]["containers"][0]
    assert dep["metadata"]["generation"] == 2


def test_patch_that_changes_nothing_reports_no_change(apiserver: ApiServerForTest) -> None:
    ns = apiserver.namespace("dep")
    create_web_deployment(apiserver, ns)
    before = get_json(apiserver, "deployment", "web", "-n", ns)["metadata"]["resourceVersion"]
    out = ok(apiserver.kubectl("patch", "deployment", "web", "-n", ns, "--type=merge",
                               "-p", '{"spec":{"replicas":2}}'))
    assert out.strip() == "deployment.apps/web patched (no change)"
    assert get_json(apiserver, "deployment", "web", "-n", ns)["metadata"]["resourceVersion"] == before


def test_label_and_unlabel_deployment(apiserver: ApiServerForTest) -> None:
    ns = apiserver.namespace("dep")
    create_web_deployment(apiserver, ns)
    assert ok(apiserver.kubectl("label", "deployment", "web", "-n", ns, "tier=front")).strip() == \
        "deployment.apps/web labeled"
    assert get_json(apiserver, "deployment", "web", "-n", ns)["metadata"]["labels"] == {"app": "web",
                                                                                         "tier": "front"}
    assert ok(apiserver.kubectl("label", "deployment", "web", "-n", ns, "tier-")).strip() == \
        "deployment.apps/web unlabeled"
    assert get_json(apiserver, "deployment", "web", "-n", ns)["metadata"]["labels"] == {"app": "web"}


def test_annotate_deployment(apiserver: ApiServerForTest) -> None:
    ns = apiserver.namespace("dep")
    create_web_deployment(apiserver, ns)
    out = ok(apiserver.kubectl("annotate", "deployment", "web", "-n", ns, "owner=team-a"))
    assert out.strip() == "deployment.apps/web annotated"
    assert get_json(apiserver, "deployment", "web", "-n", ns)["metadata"]["annotations"]["owner"] == "team-a"


def test_scale_deployment_sets_replicas(apiserver: ApiServerForTest) -> None:
    ns = apiserver.namespace("dep")
    create_web_deployment(apiserver, ns)
    out = ok(apiserver.kubectl("scale", "deployment", "web", "-n", ns, "--replicas=4"))
    assert out.strip() == "deployment.apps/web scaled"
    assert ok(apiserver.kubectl("get", "deployment", "web", "-n", ns, "-o", "jsonpath={.spec.replicas}")) == "4"


def test_delete_deployment(apiserver: ApiServerForTest) -> None:
    ns = apiserver.namespace("dep")
    create_web_deployment(apiserver, ns)
    out = ok(apiserver.kubectl("delete", "deployment", "web", "-n", ns))
    assert out.strip() == 'deployment.apps "web" deleted'
    gone = apiserver.kubectl("get", "deployment", "web", "-n", ns)
    assert gone.stderr.strip() == 'Error from server (NotFound): deployments.apps "web" not found'


# ---- services ----------------------------------------------------------------------------------


def test_create_service_allocates_a_cluster_ip_from_the_service_cidr(apiserver: ApiServerForTest) -> None:
    ns = apiserver.namespace("svc")
    out = ok(apiserver.kubectl("create", "-n", ns, "-f", str(MANIFESTS / "service-web.yaml")))
    assert out.strip() == "service/web created"
    spec = get_json(apiserver, "service", "web", "-n", ns)["spec"]
    ip = ipaddress.ip_address(spec["clusterIP"])
    assert ip in SERVICE_CIDR and ip != ipaddress.ip_address("10.96.0.1")
    assert spec["clusterIPs"] == [spec["clusterIP"]]
    assert (spec["type"], spec["sessionAffinity"], spec["ipFamilies"], spec["ipFamilyPolicy"]) == (
        "ClusterIP", "None", ["IPv4"], "SingleStack")


def test_get_service_table_columns(apiserver: ApiServerForTest) -> None:
    ns = apiserver.namespace("svc")
    ok(apiserver.kubectl("create", "-n", ns, "-f", str(MANIFESTS / "service-web.yaml")))
    ip = ok(apiserver.kubectl("get", "service", "web", "-n", ns, "-o", "jsonpath={.spec.clusterIP}"))
    out = ok(apiserver.kubectl("get", "services", "-n", ns, "-o", "wide"))
    assert header(out) == ["NAME", "TYPE", "CLUSTER-IP", "EXTERNAL-IP", "PORT(S)", "AGE", "SELECTOR"]
    [row] = table(out)
    assert (row["NAME"], row["TYPE"], row["CLUSTER-IP"], row["EXTERNAL-IP"], row["PORT(S)"], row["SELECTOR"]) == (
        "web", "ClusterIP", ip, "<none>", "80/TCP", "app=web")


def test_nodeport_service_gets_a_node_port_in_range(apiserver: ApiServerForTest) -> None:
    ns = apiserver.namespace("svc")
    out = ok(apiserver.kubectl("create", "service", "nodeport", "np", "-n", ns, "--tcp=80:8080"))
    assert out.strip() == "service/np created"
    [port] = get_json(apiserver, "service", "np", "-n", ns)["spec"]["ports"]
    assert 30000 <= port["nodePort"] <= 32767
    [row] = table(ok(apiserver.kubectl("get", "service", "np", "-n", ns)))
    assert (row["TYPE"], row["PORT(S)"]) == ("NodePort", f"80:{port['nodePort']}/TCP")


def test_patch_service_keeps_its_cluster_ip(apiserver: ApiServerForTest) -> None:
    ns = apiserver.namespace("svc")
    ok(apiserver.kubectl("create", "-n", ns, "-f", str(MANIFESTS / "service-web.yaml")))
    ip = ok(apiserver.kubectl("get", "service", "web", "-n", ns, "-o", "jsonpath={.spec.clusterIP}"))
    out = ok(apiserver.kubectl("patch", "service", "web", "-n", ns, "--type=strategic",
                               "-p", '{"spec":{"ports":[{"port":80,"targetPort":9090}]}}'))
    assert out.strip() == "service/web patched"
    spec = get_json(apiserver, "service", "web", "-n", ns)["spec"]
    assert spec["clusterIP"] == ip
    assert spec["ports"] == [{"name": "http", "port": 80, "protocol": "TCP", "targetPort": 9090}]


def test_delete_service(apiserver: ApiServerForTest) -> None:
    ns = apiserver.namespace("svc")
    ok(apiserver.kubectl("create", "-n", ns, "-f", str(MANIFESTS / "service-web.yaml")))
    assert ok(apiserver.kubectl("delete", "service", "web", "-n", ns)).strip() == 'service "web" deleted'
    assert apiserver.kubectl("get", "service", "web", "-n", ns).returncode == 1


# ---- pods --------------------------------------------------------------------------------------


def test_run_pod_then_get_pods_table_columns(apiserver: ApiServerForTest) -> None:
    ns = apiserver.namespace("pod")
    ensure_default_service_account(apiserver, ns)
    out = ok(apiserver.kubectl("run", "p1", "-n", ns, "--image=nginx:1.27", "--restart=Never"))
    assert out.strip() == "pod/p1 created"
    out = ok(apiserver.kubectl("get", "pods", "-n", ns))
    assert header(out) == ["NAME", "READY", "STATUS", "RESTARTS", "AGE"]
    [row] = table(out)
    assert (row["NAME"], row["READY"], row["STATUS"], row["RESTARTS"]) == ("p1", "0/1", "Pending", "0")
    assert AGE.match(row["AGE"])


def test_get_pods_wide_adds_ip_node_nominated_node_readiness_gates(apiserver: ApiServerForTest) -> None:
    ns = apiserver.namespace("pod")
    ensure_default_service_account(apiserver, ns)
    create_pod(apiserver, ns, "bound", node="it-node-1")
    out = ok(apiserver.kubectl("get", "pods", "-n", ns, "-o", "wide"))
    assert header(out) == ["NAME", "READY", "STATUS", "RESTARTS", "AGE", "IP", "NODE", "NOMINATED NODE",
                           "READINESS GATES"]
    [row] = table(out)
    assert (row["NAME"], row["IP"], row["NODE"], row["NOMINATED NODE"], row["READINESS GATES"]) == (
        "bound", "<none>", "it-node-1", "<none>", "<none>")


def test_get_pods_in_an_empty_namespace_says_no_resources_found(apiserver: ApiServerForTest) -> None:
    ns = apiserver.namespace("pod")
    result = apiserver.kubectl("get", "pods", "-n", ns)
    assert result.returncode == 0
    assert result.stdout == ""
    assert result.stderr.strip() == f"No resources found in {ns} namespace."


def test_created_pod_is_pending_with_defaults(apiserver: ApiServerForTest) -> None:
    ns = apiserver.namespace("pod")
    ensure_default_service_account(apiserver, ns)
    create_pod(apiserver, ns, "p1")
    pod = get_json(apiserver, "pod", "p1", "-n", ns)
    assert pod["status"]["phase"] == "Pending"
    assert pod["status"]["qosClass"] == "BestEffort"
    spec = pod["spec"]
    assert (spec["restartPolicy"], spec["dnsPolicy"], spec["schedulerName"]) == ("Always", "ClusterFirst",
                                                                              "default-scheduler")
    assert (spec["enableServiceLinks"], spec["terminationGracePeriodSeconds"]) == (True, 30)
    [container] = spec["containers"]
    assert (container["imagePullPolicy"], container["terminationMessagePath"]) == ("IfNotPresent",
                                                                                   "/dev/termination-log")


def test_pod_gets_the_default_service_account_and_its_token_volume(apiserver: ApiServerForTest) -> None:
    ns = apiserver.namespace("pod")
    ensure_default_service_account(apiserver, ns)
    create_pod(apiserver, ns, "p1")
    spec = get_json(apiserver, "pod", "p1", "-n", ns)["spec"]
    assert spec["serviceAccountName"] == "default"
    [volume] = [v for v in spec.get("volumes", []) if v["name"].startswith("kube-api-access-")]
    assert [s for s in volume["projected"]["sources"] if "serviceAccountToken" in s] == [
        {"serviceAccountToken": {"expirationSeconds": 3607, "path": "token"}}]
    [mount] = spec["containers"][0]["volumeMounts"]
    assert (mount["name"], mount["mountPath"], mount["readOnly"]) == (
        volume["name"], "/var/run/secrets/kubernetes.io/serviceaccount", True)


def test_label_and_annotate_pod(apiserver: ApiServerForTest) -> None:
    ns = apiserver.namespace("pod")
    ensure_default_service_account(apiserver, ns)
    create_pod(apiserver, ns, "p1", {"app": "x"})
    assert ok(apiserver.kubectl("label", "pod", "p1", "-n", ns, "tier=db")).strip() == "pod/p1 labeled"
    assert ok(apiserver.kubectl("annotate", "pod", "p1", "-n", ns, "note=hi")).strip() == "pod/p1 annotated"
    meta = get_json(apiserver, "pod", "p1", "-n", ns)["metadata"]
    assert meta["labels"] == {"app": "x", "tier": "db"}
    assert meta["annotations"] == {"note": "hi"}


def test_describe_pod(apiserver: ApiServerForTest) -> None:
    ns = apiserver.namespace("pod")
    ensure_default_service_account(apiserver, ns)
    create_pod(apiserver, ns, "p1", {"app": "x"})
    out = ok(apiserver.kubectl("describe", "pod", "p1", "-n", ns))
    for pattern in (r"^Name:\s+p1$", rf"^Namespace:\s+{ns}$",
                    r"^Node:\s+<none>$", r"^Labels:\s+app=x$", r"^Status:\s+Pending$",
                    r"^QoS Class:\s+BestEffort$", r"^\s+Image:\s+nginx:1\.27$"):
        assert re.search(pattern, out, re.M), f"{pattern!r} not in:\n{out}"


def test_delete_unscheduled_pod_returns_once_it_is_gone(apiserver: ApiServerForTest) -> None:
    ns = apiserver.namespace("pod")
    ensure_default_service_account(apiserver, ns)
    create_pod(apiserver, ns, "p1")
    started = time.monotonic()
    out = ok(apiserver.kubectl("delete", "pod", "p1", "-n", ns, timeout=30))
    assert out.strip() == 'pod "p1" deleted'
    assert time.monotonic() - started < 10, "a pod on no node is deleted at once (no grace period)"
    gone = apiserver.kubectl("get", "pod", "p1", "-n", ns)
    assert gone.stderr.strip() == 'Error from server (NotFound): pods "p1" not found'


# ---- selectors ---------------------------------------------------------------------------------


@pytest.fixture(scope="module")
def selector_ns(apiserver: ApiServerForTest) -> str:
    """web (app=x,tier=web), db (app=x,tier=db), plain (app=x), other (app=y,tier=web; Running on it-node-2)."""
    ns = apiserver.namespace("sel")
    ensure_default_service_account(apiserver, ns)
    create_pod(apiserver, ns, "web", {"app": "x", "tier": "web"})
    create_pod(apiserver, ns, "db", {"app": "x", "tier": "db"})
    create_pod(apiserver, ns, "plain", {"app": "x"})
    create_pod(apiserver, ns, "other", {"app": "y", "tier": "web"}, node="it-node-2")
    ok(apiserver.kubectl("patch", "pod", "other", "-n", ns, "--subresource=status", "--type=merge",
                         "-p", '{"status":{"phase":"Running"}}'))
    return ns


def names(out: str) -> set[str]:
    return set(out.split())


def test_label_selector_equality_and_inequality(apiserver: ApiServerForTest, selector_ns: str) -> None:
    out = ok(apiserver.kubectl("get", "pods", "-n", selector_ns, "-l", "app=x,tier!=db", "-o", "name"))
    assert names(out) == {"pod/web", "pod/plain"}


def test_label_selector_set_based(apiserver: ApiServerForTest, selector_ns: str) -> None:
    out = ok(apiserver.kubectl("get", "pods", "-n", selector_ns, "-l", "tier in (web,db),app notin (y)",
                               "-o", "name"))
    assert names(out) == {"pod/web", "pod/db"}
    out = ok(apiserver.kubectl("get", "pods", "-n", selector_ns, "-l", "!tier", "-o", "name"))
    assert names(out) == {"pod/plain"}


def test_field_selector_metadata_name(apiserver: ApiServerForTest, selector_ns: str) -> None:
    out = ok(apiserver.kubectl("get", "pods", "-n", selector_ns, "--field-selector", "metadata.name=db",
                               "-o", "name"))
    assert names(out) == {"pod/db"}


def test_field_selector_status_phase(apiserver: ApiServerForTest, selector_ns: str) -> None:
    pending = ok(apiserver.kubectl("get", "pods", "-n", selector_ns, "--field-selector", "status.phase=Pending",
                                   "-o", "name"))
    assert names(pending) == {"pod/web", "pod/db", "pod/plain"}
    running = ok(apiserver.kubectl("get", "pods", "-n", selector_ns, "--field-selector",
                                   "status.phase=Running,spec.nodeName=it-node-2", "-o", "name"))
    assert names(running) == {"pod/other"}


def test_unsupported_field_selector_is_rejected(apiserver: ApiServerForTest, selector_ns: str) -> None:
    result = apiserver.kubectl("get", "pods", "-n", selector_ns, "--field-selector", "spec.image=nginx")
    assert result.returncode == 1
    assert result.stderr.strip() == ('Error from server (BadRequest): Unable to find "/v1, Resource=pods" '
                                     'that match label selector "", field selector "spec.image=nginx": '
                                     'field label not supported: spec.image')


# ---- explain and auth --------------------------------------------------------------------------


def test_explain_deployment_spec_strategy(apiserver: ApiServerForTest) -> None:
    out = ok(apiserver.kubectl("explain", "deployment.spec.strategy"))
    assert re.search(r"^GROUP:\s+apps$", out, re.M)
    assert re.search(r"^KIND:\s+Deployment$", out, re.M)
    assert re.search(r"^VERSION:\s+v1$", out, re.M)
    assert re.search(r"^FIELD:\s+strategy <DeploymentStrategy>$", out, re.M)
    assert "The deployment strategy to use to replace existing pods with new ones." in out
    assert re.search(r"^\s+rollingUpdate\s+<RollingUpdateDeployment>$", out, re.M), out
    assert re.search(r"^\s+type\s+<string>$", out, re.M), out


def test_auth_can_i_create_deployments_is_yes_for_admin(apiserver: ApiServerForTest) -> None:
    result = apiserver.kubectl("auth", "can-i", "create", "deployments")
    assert (result.returncode, result.stdout.strip()) == (0, "yes")


def test_auth_can_i_list_shows_wildcard_rules_for_admin(apiserver: ApiServerForTest) -> None:
    out = ok(apiserver.kubectl("auth", "can-i", "--list"))
    lines = out.splitlines()
    assert re.match(r"^Resources\s+Non-Resource URLs\s+Resource Names\s+Verbs$", lines[0])
    assert any(re.match(r"^\*\.\*\s+\[\]\s+\[\]\s+\[\*\]$", line) for line in lines), out
    assert any(re.match(r"^\s+\[\*\]\s+\[\]\s+\[\*\]$", line) for line in lines), out


# ---- custom resources --------------------------------------------------------------------------


@pytest.fixture(scope="module")
def widgets(apiserver: ApiServerForTest) -> str:
    """The Widget CRD (example.com/v1), established and known to kubectl's discovery."""
    out = ok(apiserver.kubectl("apply", "-f", str(MANIFESTS / "crd-widgets.yaml")))
    assert out.strip() in ("customresourcedefinition.apiextensions.k8s.io/widgets.example.com created",
                           "customresourcedefinition.apiextensions.k8s.io/widgets.example.com unchanged")
    ok(apiserver.kubectl("wait", "--for=condition=Established", "crd/widgets.example.com", "--timeout=15s"))
    known = wait_until(lambda: apiserver.kubectl("get", "widgets", "-n", "default").returncode == 0, timeout=15)
    assert known, apiserver.kubectl("get", "widgets", "-n", "default").stderr
    return "widgets.example.com"


def test_crd_is_established_and_names_accepted(apiserver: ApiServerForTest, widgets: str) -> None:
    crd = get_json(apiserver, "crd", widgets)
    conditions = {c["type"]: c["status"] for c in crd["status"]["conditions"]}
    assert conditions["NamesAccepted"] == "True"
    assert conditions["Established"] == "True"
    assert crd["status"]["acceptedNames"]["kind"] == "Widget"


def test_crd_resource_appears_in_api_resources(apiserver: ApiServerForTest, widgets: str) -> None:
    out = ok(apiserver.kubectl("api-resources", "--api-group=example.com"))
    assert table(out) == [{"NAME": "widgets", "SHORTNAMES": "wg", "APIVERSION": "example.com/v1",
                           "NAMESPACED": "true", "KIND": "Widget"}]


def test_custom_object_create_get_delete(apiserver: ApiServerForTest, widgets: str) -> None:
    ns = apiserver.namespace("cr")
    out = ok(apiserver.kubectl("create", "-n", ns, "-f", str(MANIFESTS / "widget-small.yaml")))
    assert out.strip() == "widget.example.com/small created"
    obj = get_json(apiserver, "widget", "small", "-n", ns)
    assert (obj["apiVersion"], obj["kind"], obj["spec"]) == ("example.com/v1", "Widget", {"size": 3, "color": "blue"})
    assert ok(apiserver.kubectl("get", "wg", "small", "-n", ns, "-o", "jsonpath={.spec.size}")) == "3"
    out = ok(apiserver.kubectl("delete", "widget", "small", "-n", ns))
    assert out.strip() == 'widget.example.com "small" deleted'
    gone = apiserver.kubectl("get", "widget", "small", "-n", ns)
    assert gone.stderr.strip() == 'Error from server (NotFound): widgets.example.com "small" not found'


def test_custom_object_table_uses_printer_columns(apiserver: ApiServerForTest, widgets: str) -> None:
    ns = apiserver.namespace("cr")
    ok(apiserver.kubectl("create", "-n", ns, "-f", str(MANIFESTS / "widget-small.yaml")))
    out = ok(apiserver.kubectl("get", "widgets", "-n", ns))
    assert header(out) == ["NAME", "SIZE", "COLOR", "AGE"]
    [row] = table(out)
    assert (row["NAME"], row["SIZE"], row["COLOR"]) == ("small", "3", "blue")
    assert AGE.match(row["AGE"])


def test_custom_object_violating_schema_is_invalid(apiserver: ApiServerForTest, widgets: str) -> None:
    ns = apiserver.namespace("cr")
    client = RawClient(apiserver.kubeconfig)
    body = {"apiVersion": "example.com/v1", "kind": "Widget", "metadata": {"name": "bad"}, "spec": {"size": "big"}}
    resp = client.post(f"/apis/example.com/v1/namespaces/{ns}/widgets", body)
    assert resp.status == 422, resp
    status = resp.json()
    assert (status["kind"], status["reason"], status["code"]) == ("Status", "Invalid", 422)
    assert status["message"] == ('Widget.example.com "bad" is invalid: spec.size: Invalid value: "string": '
                                 'spec.size in body must be of type integer: "string"')


def test_custom_object_unknown_fields_are_pruned(apiserver: ApiServerForTest, widgets: str) -> None:
    ns = apiserver.namespace("cr")
    client = RawClient(apiserver.kubeconfig)
    body = {"apiVersion": "example.com/v1", "kind": "Widget", "metadata": {"name": "w"},
            "spec": {"size": 1, "extra": "dropped"}, "topLevel": True}
    resp = client.post(f"/apis/example.com/v1/namespaces/{ns}/widgets", body)
    assert resp.status == 201, resp
    assert "topLevel" not in resp.json()
    assert get_json(apiserver, "widget", "w", "-n", ns)["spec"] == {"size": 1}


def test_explain_custom_resource_field_uses_schema_description(apiserver: ApiServerForTest, widgets: str) -> None:
    out = ok(apiserver.kubectl("explain", "widgets.spec.size"))
    assert re.search(r"^KIND:\s+Widget$", out, re.M)
    assert re.search(r"^FIELD:\s+size <integer>$", out, re.M), out
    assert "How big the widget is." in out
