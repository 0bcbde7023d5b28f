"""The Node authorizer: kubelets reach only what the pods on their own node use."""

from __future__ import annotations

from kubeprov.apiserver.auth import Attributes, Authorizer, NodeAuthorizer, RbacAuthorizer, UserInfo, default_policy
from kubeprov.apiserver.auth.authz import forbidden_message


class Cluster:
    """A NodeSource over pods and a few other objects."""

    def __init__(self, pods: list[dict], objects: dict[tuple[str, str, str], dict] | None = None) -> None:
        self.pods = pods
        self.objects = objects or {}

    def pods_on_node(self, node: str) -> list[dict]:
        return [p for p in self.pods if p["spec"].get("nodeName") == node]

    def get(self, resource: str, namespace: str, name: str) -> dict | None:
        return self.objects.get((resource, namespace, name))


class Rbac:
    def __init__(self, objects: list[dict]) -> None:
        self.objects = objects

    def roles(self, namespace: str) -> list[dict]:
        return [o for o in self.objects if o["kind"] == "Role" and o["metadata"].get("namespace") == namespace]

    def role_bindings(self, namespace: str) -> list[dict]:
        return [o for o in self.objects if o["kind"] == "RoleBinding" and o["metadata"].get("namespace") == namespace]

    def cluster_roles(self) -> list[dict]:
        return [o for o in self.objects if o["kind"] == "ClusterRole"]

    def cluster_role_bindings(self) -> list[dict]:
        return [o for o in self.objects if o["kind"] == "ClusterRoleBinding"]


def kubelet(node: str) -> UserInfo:
    return UserInfo(f"system:node:{node}", groups=("system:nodes", "system:authenticated"))


def pod(name: str, node: str, **spec) -> dict:
    return {
        "kind": "Pod",
        "metadata": {"namespace": "default", "name": name},
        "spec": {"nodeName": node, "containers": [{"name": "c", "image": "x"}], **spec},
    }


PODS = [
    pod(
        "web",
        "n1",
        serviceAccountName="web-sa",
        imagePullSecrets=[{"name": "registry"}],
        volumes=[
            {"name": "tls", "secret": {"secretName": "web-tls"}},
            {"name": "data", "persistentVolumeClaim": {"claimName": "web-data"}},
            {"name": "cfg", "projected": {"sources": [{"configMap": {"name": "web-config"}}]}},
        ],
        containers=[
            {
                "name": "c",
                "env": [{"name": "P", "valueFrom": {"secretKeyRef": {"name": "db-password", "key": "p"}}}],
                "envFrom": [{"configMapRef": {"name": "web-env"}}],
            }
        ],
    ),
    pod("db", "n2", volumes=[{"name": "creds", "secret": {"secretName": "db-creds"}}]),
]
OBJECTS = {
    ("persistentvolumeclaims", "default", "web-data"): {"spec": {"volumeName": "pv-1"}},
    ("persistentvolumes", "", "pv-1"): {"spec": {"claimRef": {"namespace": "default", "name": "web-data"}}},
    ("persistentvolumes", "", "pv-2"): {"spec": {"claimRef": {"namespace": "default", "name": "db-data"}}},
}


def decide(attrs: Attributes):
    return NodeAuthorizer(Cluster(PODS, OBJECTS)).authorize(attrs)


def get(node: str, resource: str, name: str, namespace: str = "default", **kw) -> Attributes:
    return Attributes(kubelet(node), "get", True, resource=resource, namespace=namespace, name=name, **kw)


def test_kubelet_can_get_secrets_used_by_pods_on_its_node() -> None:
    for secret in ("web-tls", "registry", "db-password"):
        assert decide(get("n1", "secrets", secret)).allowed, secret


def test_kubelet_cannot_get_a_secret_used_only_on_another_node() -> None:
    decision = decide(get("n1", "secrets", "db-creds"))
    assert not decision.allowed and not decision.denied_explicitly
    assert decision.reason == "no relationship found between node 'n1' and this object"
    assert decide(get("n2", "secrets", "db-creds")).allowed


def test_kubelet_can_only_read_secrets() -> None:
    attrs = Attributes(kubelet("n1"), "update", True, resource="secrets", namespace="default", name="web-tls")
    assert decide(attrs).reason == "can only read resources of this type"


def test_kubelet_can_watch_a_single_related_configmap() -> None:
    attrs = Attributes(kubelet("n1"), "watch", True, resource="configmaps", namespace="default", name="web-env")
    assert decide(attrs).allowed
    assert decide(get("n1", "configmaps", "web-config")).allowed
    assert decide(Attributes(kubelet("n1"), "list", True, resource="configmaps", namespace="default")).reason == (
        "No Object name found"
    )


def test_kubelet_can_get_the_claims_and_volumes_of_its_pods() -> None:
    assert decide(get("n1", "persistentvolumeclaims", "web-data")).allowed
    assert decide(get("n1", "persistentvolumes", "pv-1", namespace="")).allowed
    assert not decide(get("n1", "persistentvolumes", "pv-2", namespace="")).allowed


def test_kubelet_can_create_tokens_only_for_service_accounts_of_its_pods() -> None:
    def token(name: str) -> Attributes:
        return Attributes(
            kubelet("n1"),
            "create",
            True,
            resource="serviceaccounts",
            subresource="token",
            namespace="default",
            name=name,
        )

    assert decide(token("web-sa")).allowed
    assert not decide(token("default")).allowed


def test_kubelet_can_update_its_own_node_status_but_not_another_nodes() -> None:
    def status(name: str) -> Attributes:
        return Attributes(kubelet("n1"), "patch", True, resource="nodes", subresource="status", name=name)

    assert decide(status("n1")).allowed
    other = decide(status("n2"))
    assert not other.allowed
    assert other.reason == 'node "n1" is not allowed to modify node "n2"'


def test_kubelet_can_register_and_read_its_own_node_only() -> None:
    assert decide(Attributes(kubelet("n1"), "create", True, resource="nodes")).allowed
    assert decide(get("n1", "nodes", "n1", namespace="")).allowed
    assert (
        decide(get("n1", "nodes", "n2", namespace="")).reason == "node 'n1' cannot read 'n2', only its own Node object"
    )


def test_kubelet_lease_must_be_in_kube_node_lease_and_named_after_the_node() -> None:
    def lease(name: str, namespace: str = "kube-node-lease") -> Attributes:
        return Attributes(
            kubelet("n1"),
            "update",
            True,
            api_group="coordination.k8s.io",
            resource="leases",
            namespace=namespace,
            name=name,
        )

    assert decide(lease("n1")).allowed
    assert not decide(lease("n2")).allowed
    assert decide(lease("n1", "default")).reason == 'can only access leases in the "kube-node-lease" system namespace'


def test_kubelet_lists_pods_only_with_its_node_field_selector() -> None:
    def list_pods(selector: str) -> Attributes:
        return Attributes(kubelet("n1"), "list", True, resource="pods", field_selector=selector)

    assert decide(list_pods("spec.nodeName=n1")).allowed
    assert not decide(list_pods("spec.nodeName=n2")).allowed
    assert decide(list_pods("")).reason == "can only list/watch pods with spec.nodeName field selector"


def test_other_kubelet_permissions_come_from_the_node_rules() -> None:
    events = Attributes(kubelet("n1"), "create", True, resource="events", namespace="default")
    services = Attributes(kubelet("n1"), "list", True, resource="services")
    deployments = Attributes(kubelet("n1"), "list", True, api_group="apps", resource="deployments")
    assert decide(events).allowed and decide(services).allowed
    assert decide(deployments) == decide(Attributes(UserInfo("bob"), "list", True, resource="pods"))  # no opinion


def test_users_who_are_not_nodes_get_no_opinion() -> None:
    decision = decide(Attributes(UserInfo("bob", groups=("system:nodes",)), "get", True, resource="secrets", name="x"))
    assert decision.allowed is False and decision.reason == ""


def test_through_the_full_chain_an_unrelated_secret_is_forbidden_with_the_node_reason() -> None:
    chain = Authorizer(NodeAuthorizer(Cluster(PODS, OBJECTS)), RbacAuthorizer(Rbac(default_policy())))
    attrs = get("n1", "secrets", "db-creds")

    decision = chain.authorize(attrs)

    assert not decision.allowed
    assert forbidden_message(attrs, decision.reason) == (
        'secrets "db-creds" is forbidden: User "system:node:n1" cannot get resource "secrets" in API group "" '
        "in the namespace \"default\": no relationship found between node 'n1' and this object"
    )
