"""Authorization: RBAC for a certificate user, and the Node authorizer for kubelets.

Users come from client certificates signed by the cluster CA (CN = user, O = groups). Grants
take effect through the authorizer's caches, so checks that follow a grant poll briefly.
"""

from __future__ import annotations

import base64
import json
import subprocess
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest

from tests.integration.apiserver_fixture import ApiServerForTest
from tests.integration.certs import RawClient, kubeconfig_for

pytestmark = [pytest.mark.integration, pytest.mark.timeout(60)]


def ok(result: subprocess.CompletedProcess[str]) -> str:
    assert result.returncode == 0, (f"kubectl exited {result.returncode}\nstdout: {result.stdout}\n"
                                    f"stderr: {result.stderr}")
    return result.stdout


def eventually(check: Callable[[], subprocess.CompletedProcess[str]], accept: Callable[[Any], bool],
               timeout: float = 10.0) -> subprocess.CompletedProcess[str]:
    deadline = time.monotonic() + timeout
    while True:
        result = check()
        if accept(result) or time.monotonic() > deadline:
            return result
        time.sleep(0.1)


@pytest.fixture(scope="module")
def kubeconfigs(apiserver: ApiServerForTest, tmp_path_factory: pytest.TempPathFactory) -> Path:
    return tmp_path_factory.mktemp("rbac-kubeconfigs")


@pytest.fixture(scope="module")
def alice(apiserver: ApiServerForTest, kubeconfigs: Path) -> Path:
    return kubeconfig_for(apiserver.pki_dir, apiserver.url, kubeconfigs, "alice")


@pytest.fixture(scope="module")
def bob_in_devs(apiserver: ApiServerForTest, kubeconfigs: Path) -> Path:
    return kubeconfig_for(apiserver.pki_dir, apiserver.url, kubeconfigs, "bob", ["devs"])


def ensure_default_service_account(apiserver: ApiServerForTest, ns: str) -> None:
    made = apiserver.kubectl("create", "serviceaccount", "default", "-n", ns)
    assert made.returncode == 0 or "AlreadyExists" in made.stderr, made.stderr


def create(apiserver: ApiServerForTest, ns: str, obj: dict[str, Any]) -> None:
    ok(apiserver.kubectl("create", "-n", ns, "-f", "-", input=json.dumps(obj)))


def create_pod(apiserver: ApiServerForTest, ns: str, name: str, node: str | None = None,
               secret_env: str | None = None, secret_volume: str | None = None) -> None:
    container: dict[str, Any] = {"name": "app", "image": "nginx:1.27"}
    spec: dict[str, Any] = {"containers": [container]}
    if node:
        spec["nodeName"] = node
    if secret_env:
        container["env"] = [{"name": "PASSWORD", "valueFrom": {"secretKeyRef": {"name": secret_env,
                                                                                 "key": "password"}}}]
    if secret_volume:
        spec["volumes"] = [{"name": "creds", "secret": {"secretName": secret_volume}}]
        container["volumeMounts"] = [{"name": "creds", "mountPath": "/creds"}]
    create(apiserver, ns, {"apiVersion": "v1", "kind": "Pod", "metadata": {"name": name}, "spec": spec})


def grant_pod_reader(apiserver: ApiServerForTest, ns: str, subject: dict[str, str]) -> None:
    create(apiserver, ns, {"apiVersion": "rbac.authorization.k8s.io/v1", "kind": "Role",
                           "metadata": {"name": "pod-reader"},
                           "rules": [{"apiGroups": [""], "resources": ["pods"], "verbs": ["get", "list"]}]})
    create(apiserver, ns, {"apiVersion": "rbac.authorization.k8s.io/v1", "kind": "RoleBinding",
                           "metadata": {"name": "read-pods"},
                           "subjects": [{"apiGroup": "rbac.authorization.k8s.io", **subject}],
                           "roleRef": {"apiGroup": "rbac.authorization.k8s.io", "kind": "Role",
                                       "name": "pod-reader"}})


@pytest.fixture(scope="module")
def granted(apiserver: ApiServerForTest) -> tuple[str, str]:
    """Namespace A (alice may get/list pods; one pod "p") and namespace B (no grants; one pod "q")."""
    a, b = apiserver.namespace("rbac-a"), apiserver.namespace("rbac-b")
    for ns, pod in ((a, "p"), (b, "q")):
        ensure_default_service_account(apiserver, ns)
        create_pod(apiserver, ns, pod)
    grant_pod_reader(apiserver, a, {"kind": "User", "name": "alice"})
    return a, b


# ---- a user with no grants ---------------------------------------------------------------------


def test_user_without_grants_is_forbidden_with_kubernetes_wording(apiserver: ApiServerForTest, alice: Path) -> None:
    ns = apiserver.namespace("rbac")
    result = apiserver.kubectl("get", "pods", "-n", ns, kubeconfig=alice)
    assert result.returncode == 1
    assert result.stderr.strip() == (f'Error from server (Forbidden): pods is forbidden: User "alice" cannot list '
                                     f'resource "pods" in API group "" in the namespace "{ns}"')


def test_forbidden_is_a_403_status_naming_the_resource(apiserver: ApiServerForTest, alice: Path) -> None:
    ns = apiserver.namespace("rbac")
    resp = RawClient(alice).get(f"/api/v1/namespaces/{ns}/pods")
    assert resp.status == 403, resp
    status = resp.json()
    assert (status["kind"], status["status"], status["reason"], status["code"]) == ("Status", "Failure",
                                                                                   "Forbidden", 403)
    assert status["message"] == (f'pods is forbidden: User "alice" cannot list resource "pods" in API group "" '
                                 f'in the namespace "{ns}"')
    assert status["details"] == {"kind": "pods"}


def test_forbidden_cluster_scoped_request_says_at_the_cluster_scope(alice: Path) -> None:
    resp = RawClient(alice).get("/api/v1/namespaces")
    assert resp.status == 403, resp
    assert resp.json()["message"] == ('namespaces is forbidden: User "alice" cannot list resource "namespaces" '
                                      'in API group "" at the cluster scope')


def test_forbidden_named_grouped_request_names_object_and_group(apiserver: ApiServerForTest, alice: Path) -> None:
    ns = apiserver.namespace("rbac")
    resp = RawClient(alice).get(f"/apis/apps/v1/namespaces/{ns}/deployments/web")
    assert resp.status == 403, resp
    status = resp.json()
    assert status["message"] == (f'deployments.apps "web" is forbidden: User "alice" cannot get resource '
                                 f'"deployments" in API group "apps" in the namespace "{ns}"')
    assert status["details"] == {"name": "web", "group": "apps", "kind": "deployments"}


def test_authenticated_user_may_still_use_discovery_and_version(alice: Path) -> None:
    client = RawClient(alice)
    for path in ("/version", "/api", "/apis", "/api/v1", "/healthz"):
        assert client.get(path).status == 200, path


def test_auth_can_i_says_no_for_user_without_grants(apiserver: ApiServerForTest, alice: Path) -> None:
    result = apiserver.kubectl("auth", "can-i", "create", "deployments", "-n", "default", kubeconfig=alice)
    assert (result.returncode, result.stdout.strip()) == (1, "no")


# ---- a Role and RoleBinding --------------------------------------------------------------------


def test_role_binding_lets_alice_list_pods_in_its_namespace(apiserver: ApiServerForTest, alice: Path,
                                                            granted: tuple[str, str]) -> None:
    a, _ = granted
    result = eventually(lambda: apiserver.kubectl("get", "pods", "-n", a, "-o", "name", kubeconfig=alice),
                        lambda r: r.returncode == 0)
    assert ok(result).split() == ["pod/p"]
    assert ok(apiserver.kubectl("get", "pod", "p", "-n", a, "-o", "name", kubeconfig=alice)).strip() == "pod/p"


def test_role_binding_does_not_allow_other_verbs(apiserver: ApiServerForTest, alice: Path,
                                                 granted: tuple[str, str]) -> None:
    a, _ = granted
    eventually(lambda: apiserver.kubectl("get", "pods", "-n", a, kubeconfig=alice), lambda r: r.returncode == 0)
    result = apiserver.kubectl("delete", "pod", "p", "-n", a, "--wait=false", kubeconfig=alice)
    assert result.returncode == 1
    assert result.stderr.strip() == (f'Error from server (Forbidden): pods "p" is forbidden: User "alice" cannot '
                                     f'delete resource "pods" in API group "" in the namespace "{a}"')
    assert ok(apiserver.kubectl("get", "pod", "p", "-n", a, "-o", "name")).strip() == "pod/p"


def test_role_binding_does_not_reach_other_namespaces(apiserver: ApiServerForTest, alice: Path,
                                                      granted: tuple[str, str]) -> None:
    a, b = granted
    eventually(lambda: apiserver.kubectl("get", "pods", "-n", a, kubeconfig=alice), lambda r: r.returncode == 0)
    result = apiserver.kubectl("get", "pods", "-n", b, kubeconfig=alice)
    assert result.returncode == 1
    assert result.stderr.strip() == (f'Error from server (Forbidden): pods is forbidden: User "alice" cannot list '
                                     f'resource "pods" in API group "" in the namespace "{b}"')


def test_role_binding_does_not_cover_other_resources(apiserver: ApiServerForTest, alice: Path,
                                                     granted: tuple[str, str]) -> None:
    a, _ = granted
    eventually(lambda: apiserver.kubectl("get", "pods", "-n", a, kubeconfig=alice), lambda r: r.returncode == 0)
    result = apiserver.kubectl("get", "secrets", "-n", a, kubeconfig=alice)
    assert result.returncode == 1
    assert "Forbidden" in result.stderr and 'cannot list resource "secrets"' in result.stderr


def test_auth_can_i_reflects_the_role(apiserver: ApiServerForTest, alice: Path, granted: tuple[str, str]) -> None:
    a, b = granted
    allowed = eventually(lambda: apiserver.kubectl("auth", "can-i", "list", "pods", "-n", a, kubeconfig=alice),
                         lambda r: r.returncode == 0)
    assert allowed.stdout.strip() == "yes"
    denied = apiserver.kubectl("auth", "can-i", "delete", "pods", "-n", a, kubeconfig=alice)
    assert (denied.returncode, denied.stdout.strip()) == (1, "no")
    elsewhere = apiserver.kubectl("auth", "can-i", "list", "pods", "-n", b, kubeconfig=alice)
    assert (elsewhere.returncode, elsewhere.stdout.strip()) == (1, "no")


def test_auth_can_i_list_shows_the_role_rules(apiserver: ApiServerForTest, alice: Path,
                                              granted: tuple[str, str]) -> None:
    a, _ = granted
    result = eventually(lambda: apiserver.kubectl("auth", "can-i", "--list", "-n", a, kubeconfig=alice),
                        lambda r: "pods" in r.stdout)
    rows = [line.split() for line in ok(result).splitlines()]
    assert ["pods", "[]", "[]", "[get", "list]"] in rows, result.stdout


def test_group_subject_grants_every_member(apiserver: ApiServerForTest, bob_in_devs: Path) -> None:
    ns = apiserver.namespace("rbac-g")
    ensure_default_service_account(apiserver, ns)
    create_pod(apiserver, ns, "p")
    grant_pod_reader(apiserver, ns, {"kind": "Group", "name": "devs"})
    result = eventually(lambda: apiserver.kubectl("get", "pods", "-n", ns, "-o", "name", kubeconfig=bob_in_devs),
                        lambda r: r.returncode == 0)
    assert ok(result).split() == ["pod/p"]


def test_cluster_role_binding_grants_all_namespaces(apiserver: ApiServerForTest, kubeconfigs: Path) -> None:
    carol = kubeconfig_for(apiserver.pki_dir, apiserver.url, kubeconfigs, "carol")
    ns = apiserver.namespace("rbac-c")
    ok(apiserver.kubectl("create", "configmap", "c", "-n", ns))
    ok(apiserver.kubectl("create", "clusterrole", "configmap-reader", "--verb=get,list", "--resource=configmaps"))
    ok(apiserver.kubectl("create", "clusterrolebinding", "carol-reads", "--clusterrole=configmap-reader",
                         "--user=carol"))
    result = eventually(lambda: apiserver.kubectl("get", "configmaps", "c", "-n", ns, "-o", "name",
                                                  kubeconfig=carol), lambda r: r.returncode == 0)
    assert ok(result).strip() == "configmap/c"
    denied = apiserver.kubectl("get", "secrets", "-n", ns, kubeconfig=carol)
    assert denied.returncode == 1, "the ClusterRole does not include secrets"


# ---- the Node authorizer -----------------------------------------------------------------------


@pytest.fixture(scope="module")
def node_secrets(apiserver: ApiServerForTest) -> str:
    """one (env of a pod on it-node-1), vol (volume of a pod on it-node-1), two (pod on it-node-2), unused."""
    ns = apiserver.namespace("nodeauthz")
    ensure_default_service_account(apiserver, ns)
    for name in ("one", "vol", "two", "unused"):
        ok(apiserver.kubectl("create", "secret", "generic", name, "-n", ns, f"--from-literal=password={name}-pw"))
    create_pod(apiserver, ns, "on-node-1", node="it-node-1", secret_env="one", secret_volume="vol")
    create_pod(apiserver, ns, "on-node-2", node="it-node-2", secret_env="two")
    return ns


def kubelet_get_secret(apiserver: ApiServerForTest, node: str, ns: str, name: str) -> subprocess.CompletedProcess:
    return apiserver.kubectl("get", "secret", name, "-n", ns, "-o", "jsonpath={.data.password}",
                             kubeconfig=apiserver.kubelet_kubeconfig(node))


@pytest.mark.parametrize("secret", ["one", "vol"])
def test_kubelet_reads_secret_of_a_pod_bound_to_its_node(apiserver: ApiServerForTest, node_secrets: str,
                                                         secret: str) -> None:
    result = eventually(lambda: kubelet_get_secret(apiserver, "it-node-1", node_secrets, secret),
                        lambda r: r.returncode == 0)
    assert base64.b64decode(ok(result)) == f"{secret}-pw".encode()


def test_kubelet_cannot_read_secret_of_a_pod_on_another_node(apiserver: ApiServerForTest, node_secrets: str) -> None:
    eventually(lambda: kubelet_get_secret(apiserver, "it-node-1", node_secrets, "one"), lambda r: r.returncode == 0)
    result = kubelet_get_secret(apiserver, "it-node-1", node_secrets, "two")
    assert result.returncode == 1
    assert result.stderr.strip() == (
        f'Error from server (Forbidden): secrets "two" is forbidden: User "system:node:it-node-1" cannot get '
        f'resource "secrets" in API group "" in the namespace "{node_secrets}": no relationship found between '
        f"node 'it-node-1' and this object")


def test_other_kubelet_reads_its_own_pods_secret(apiserver: ApiServerForTest, node_secrets: str) -> None:
    result = eventually(lambda: kubelet_get_secret(apiserver, "it-node-2", node_secrets, "two"),
                        lambda r: r.returncode == 0)
    assert ok(result)
    denied = kubelet_get_secret(apiserver, "it-node-2", node_secrets, "one")
    assert denied.returncode == 1 and "no relationship found between node 'it-node-2'" in denied.stderr


def test_kubelet_cannot_read_a_secret_no_pod_uses(apiserver: ApiServerForTest, node_secrets: str) -> None:
    eventually(lambda: kubelet_get_secret(apiserver, "it-node-1", node_secrets, "one"), lambda r: r.returncode == 0)
    result = kubelet_get_secret(apiserver, "it-node-1", node_secrets, "unused")
    assert result.returncode == 1
    assert 'secrets "unused" is forbidden: User "system:node:it-node-1"' in result.stderr


def test_kubelet_cannot_list_secrets(apiserver: ApiServerForTest, node_secrets: str) -> None:
    result = apiserver.kubectl("get", "secrets", "-n", node_secrets,
                               kubeconfig=apiserver.kubelet_kubeconfig("it-node-1"))
    assert result.returncode == 1
    assert (f'secrets is forbidden: User "system:node:it-node-1" cannot list resource "secrets" in API group "" '
            f'in the namespace "{node_secrets}"') in result.stderr


def test_kubelet_loses_access_when_the_pod_is_deleted(apiserver: ApiServerForTest, node_secrets: str) -> None:
    ns = apiserver.namespace("nodeauthz")
    ensure_default_service_account(apiserver, ns)
    ok(apiserver.kubectl("create", "secret", "generic", "temp", "-n", ns, "--from-literal=password=x"))
    create_pod(apiserver, ns, "user", node="it-node-1", secret_env="temp")
    eventually(lambda: kubelet_get_secret(apiserver, "it-node-1", ns, "temp"), lambda r: r.returncode == 0)
    ok(apiserver.kubectl("delete", "pod", "user", "-n", ns, "--grace-period=0", "--force"))
    result = eventually(lambda: kubelet_get_secret(apiserver, "it-node-1", ns, "temp"),
                        lambda r: r.returncode != 0)
    assert "no relationship found between node 'it-node-1' and this object" in result.stderr
