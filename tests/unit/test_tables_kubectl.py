"""What the real kubectl 1.32 prints from our Tables, compared with what it prints against Kubernetes."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import pytest

from kubeprov.apiserver.resources import Registry, ResourceType, builtin_resources
from tests.unit.test_discovery import KubectlServer, needs_kubectl

NOW = datetime.now(UTC).replace(microsecond=0)
MINUTE, HOUR, DAY = 60, 3600, 86400


def ago(seconds: int) -> str:
    return (NOW - timedelta(seconds=seconds)).strftime("%Y-%m-%dT%H:%M:%SZ")


def meta(name: str, age: int, namespace: str | None = "default", **extra: object) -> dict:
    out: dict = {"name": name, "creationTimestamp": ago(age), **extra}
    if namespace:
        out["namespace"] = namespace
    return out


def running(name: str = "app") -> dict:
    return {"name": name, "ready": True, "restartCount": 0, "state": {"running": {"startedAt": ago(60)}}}


def pod(name: str, age: int, phase: str, statuses: list[dict], node: str = "", ip: str = "", containers: int = 1,
        spec: dict | None = None, status: dict | None = None, deleted: int | None = None) -> dict:
    full_spec: dict = {"containers": [{"name": f"c{i}", "image": "busybox"} for i in range(containers)], **(spec or {})}
    if node:
        full_spec["nodeName"] = node
    full_status: dict = {"phase": phase, "containerStatuses": statuses, **(status or {})}
    if ip:
        full_status["podIP"] = ip
        full_status["podIPs"] = [{"ip": ip}]
    metadata = meta(name, age) if deleted is None else meta(name, age, deletionTimestamp=ago(deleted))
    return {"apiVersion": "v1", "kind": "Pod", "metadata": metadata, "spec": full_spec, "status": full_status}


PODS = [
    pod("web-7d9c8b5f6-abcde", 5 * MINUTE, "Running", [running()], "node-1", "10.244.1.5"),
    pod("api-0", 51 * HOUR, "Running", [{"name": "app", "ready": False, "restartCount": 5,
                                          "state": {"waiting": {"reason": "CrashLoopBackOff"}},
                                          "lastState": {"terminated": {"exitCode": 1, "finishedAt": ago(3 * MINUTE)}}}],
        "node-1", "10.244.1.6"),
    pod("migrate-x", 45, "Pending", [{"name": "app", "ready": False, "restartCount": 0,
                                      "state": {"waiting": {"reason": "PodInitializing"}}}], "node-2",
        spec={"initContainers": [{"name": "init", "image": "busybox"}]},
        status={"initContainerStatuses": [{"name": "init", "ready": False, "restartCount": 0,
                                           "state": {"running": {}}}]}),
    pod("job-abc", 45 * DAY, "Succeeded", [{"name": "app", "ready": False, "restartCount": 0,
                                            "state": {"terminated": {"exitCode": 0, "reason": "Completed"}}}],
        "node-2", "10.244.2.3"),
    pod("old-1", (3 * 365 + 20) * DAY, "Running", [running()], "node-2", "10.244.2.9", deleted=10),
    pod("new-1", 3 * MINUTE + 10, "Pending", [], containers=2),
]

TEMPLATE = {"metadata": {"labels": {"app": "web"}}, "spec": {"containers": [{"name": "nginx", "image": "nginx:1.27"}]}}
DEPLOYMENTS = [
    {"apiVersion": "apps/v1", "kind": "Deployment", "metadata": meta("web", 10 * MINUTE),
     "spec": {"replicas": 3, "selector": {"matchLabels": {"app": "web"}}, "template": TEMPLATE},
     "status": {"replicas": 3, "readyReplicas": 2, "updatedReplicas": 3, "availableReplicas": 2}},
    {"apiVersion": "apps/v1", "kind": "Deployment", "metadata": meta("api", 45 * DAY, namespace="prod"),
     "spec": {"replicas": 1, "selector": {"matchLabels": {"app": "api", "tier": "backend"}},
              "template": {"spec": {"containers": [{"name": "api", "image": "registry.example/api:2.1"},
                                                   {"name": "sidecar", "image": "envoy:1.31"}]}}},
     "status": {"replicas": 1, "readyReplicas": 1, "updatedReplicas": 1, "availableReplicas": 1}},
]


def service(name: str, age: int, kind: str, cluster_ip: str, ports: list[dict], **spec: object) -> dict:
    return {"apiVersion": "v1", "kind": "Service", "metadata": meta(name, age),
            "spec": {"type": kind, "clusterIP": cluster_ip, "clusterIPs": [cluster_ip], "ports": ports, **spec},
            "status": {"loadBalancer": {}}}


SERVICES = [
    service("kubernetes", 45 * DAY, "ClusterIP", "10.96.0.1", [{"name": "https", "port": 443, "protocol": "TCP"}]),
    service("web", 5 * MINUTE, "NodePort", "10.96.12.34", [{"port": 80, "nodePort": 30080, "protocol": "TCP"}],
            selector={"app": "web"}),
    service("lb", 3 * MINUTE + 10, "LoadBalancer", "10.96.0.50",
            [{"port": 80, "nodePort": 31380, "protocol": "TCP"}, {"port": 443, "nodePort": 31390, "protocol": "TCP"}],
            selector={"app": "web", "tier": "edge"}),
    service("db", 51 * HOUR, "ClusterIP", "None", [{"port": 5432, "protocol": "TCP"}], selector={"app": "db"}),
]

NODE_INFO = {"kubeletVersion": "v1.32.0", "osImage": "Debian GNU/Linux 12 (bookworm)",
             "kernelVersion": "6.1.0-18-amd64", "containerRuntimeVersion": "containerd://1.7.13"}
NODES = [
    {"apiVersion": "v1", "kind": "Node",
     "metadata": meta("node-1", 45 * DAY, namespace=None, labels={"node-role.kubernetes.io/control-plane": ""}),
     "status": {"conditions": [{"type": "Ready", "status": "True"}], "nodeInfo": NODE_INFO,
                "addresses": [{"type": "InternalIP", "address": "192.168.56.10"}]}},
    {"apiVersion": "v1", "kind": "Node", "metadata": meta("node-2", 3 * HOUR, namespace=None),
     "spec": {"unschedulable": True},
     "status": {"conditions": [{"type": "Ready", "status": "False"}], "nodeInfo": NODE_INFO,
                "addresses": [{"type": "InternalIP", "address": "192.168.56.11"},
                              {"type": "ExternalIP", "address": "203.0.113.20"}]}},
]

CRD = {"spec": {"group": "stable.example.com", "names": {"kind": "CronTab", "plural": "crontabs"},
                "versions": [{"name": "v1", "served": True, "storage": True, "additionalPrinterColumns": [
                    {"name": "Spec", "type": "string", "jsonPath": ".spec.cronSpec"},
                    {"name": "Replicas", "type": "integer", "jsonPath": ".spec.replicas"},
                    {"name": "Age", "type": "date", "jsonPath": ".metadata.creationTimestamp"}]}]}}
CRONTABS = [
    {"apiVersion": "stable.example.com/v1", "kind": "CronTab", "metadata": meta("every-5", 2 * HOUR),
     "spec": {"cronSpec": "*/5 * * * *", "replicas": 2}},
    {"apiVersion": "stable.example.com/v1", "kind": "CronTab", "metadata": meta("no-spec", 90)},
]
ROLES = [{"apiVersion": "rbac.authorization.k8s.io/v1", "kind": "Role",
          "metadata": {"name": "reader", "namespace": "default", "creationTimestamp": "2025-01-02T03:04:05Z"}}]


@pytest.fixture(scope="module")
def server() -> KubectlServer:
    crontabs = ResourceType("stable.example.com", "v1", "crontabs", "CronTab", True, singular="crontab",
                            custom=True, extra={"crd": CRD})
    registry = Registry([*builtin_resources(), crontabs])
    objects = {("", "pods"): PODS, ("apps", "deployments"): DEPLOYMENTS, ("", "services"): SERVICES,
               ("", "nodes"): NODES, ("stable.example.com", "crontabs"): CRONTABS,
               ("rbac.authorization.k8s.io", "roles"): ROLES}
    with KubectlServer(registry, objects=objects, now=NOW) as running_server:
        yield running_server


GET_PODS = """\
NAME                  READY   STATUS             RESTARTS     AGE
web-7d9c8b5f6-abcde   1/1     Running            0            5m
api-0                 0/1     CrashLoopBackOff   5 (3m ago)   2d3h
migrate-x             0/1     Init:0/1           0            45s
job-abc               0/1     Completed          0            45d
old-1                 1/1     Terminating        0            3y20d
new-1                 0/2     Pending            0            3m10s
"""

GET_PODS_WIDE = """\
NAME                  READY   STATUS             RESTARTS     AGE     IP           NODE     NOMINATED NODE   READINESS GATES
web-7d9c8b5f6-abcde   1/1     Running            0            5m      10.244.1.5   node-1   <none>           <none>
api-0                 0/1     CrashLoopBackOff   5 (3m ago)   2d3h    10.244.1.6   node-1   <none>           <none>
migrate-x             0/1     Init:0/1           0            45s     <none>       node-2   <none>           <none>
job-abc               0/1     Completed          0            45d     10.244.2.3   node-2   <none>           <none>
old-1                 1/1     Terminating        0            3y20d   10.244.2.9   node-2   <none>           <none>
new-1                 0/2     Pending            0            3m10s   <none>       <none>   <none>           <none>
"""  # noqa: E501

GET_DEPLOYMENTS = """\
NAME   READY   UP-TO-DATE   AVAILABLE   AGE
web    2/3     3            2           10m
"""

GET_DEPLOYMENTS_ALL_WIDE = """\
NAMESPACE   NAME   READY   UP-TO-DATE   AVAILABLE   AGE   CONTAINERS    IMAGES                                SELECTOR
default     web    2/3     3            2           10m   nginx         nginx:1.27                            app=web
prod        api    1/1     1            1           45d   api,sidecar   registry.example/api:2.1,envoy:1.31   app=api,tier=backend
"""  # noqa: E501

GET_SERVICES = """\
NAME         TYPE           CLUSTER-IP    EXTERNAL-IP   PORT(S)                      AGE
kubernetes   ClusterIP      10.96.0.1     <none>        443/TCP                      45d
web          NodePort       10.96.12.34   <none>        80:30080/TCP                 5m
lb           LoadBalancer   10.96.0.50    <pending>     80:31380/TCP,443:31390/TCP   3m10s
db           ClusterIP      None          <none>        5432/TCP                     2d3h
"""

GET_SERVICES_WIDE_LAST_COLUMN = ["SELECTOR", "<none>", "app=web", "app=web,tier=edge", "app=db"]

GET_NODES = """\
NAME     STATUS                        ROLES           AGE   VERSION
node-1   Ready                         control-plane   45d   v1.32.0
node-2   NotReady,SchedulingDisabled   <none>          3h    v1.32.0
"""

GET_NODES_WIDE = """\
NAME     STATUS                        ROLES           AGE   VERSION   INTERNAL-IP     EXTERNAL-IP    OS-IMAGE                         KERNEL-VERSION   CONTAINER-RUNTIME
node-1   Ready                         control-plane   45d   v1.32.0   192.168.56.10   <none>         Debian GNU/Linux 12 (bookworm)   6.1.0-18-amd64   containerd://1.7.13
node-2   NotReady,SchedulingDisabled   <none>          3h    v1.32.0   192.168.56.11   203.0.113.20   Debian GNU/Linux 12 (bookworm)   6.1.0-18-amd64   containerd://1.7.13
"""  # noqa: E501

GET_CRONTABS = """\
NAME      SPEC          REPLICAS   AGE
every-5   */5 * * * *   2          120m
no-spec                            90s
"""

GET_ROLES = """\
NAME     CREATED AT
reader   2025-01-02T03:04:05Z
"""


@needs_kubectl
def test_kubectl_get_pods(server: KubectlServer) -> None:
    assert server.kubectl("get", "pods") == GET_PODS


@needs_kubectl
def test_kubectl_get_pods_wide(server: KubectlServer) -> None:
    assert server.kubectl("get", "pods", "-o", "wide") == GET_PODS_WIDE


@needs_kubectl
def test_kubectl_get_deployments(server: KubectlServer) -> None:
    assert server.kubectl("get", "deployments") == GET_DEPLOYMENTS


@needs_kubectl
def test_kubectl_get_deployments_in_all_namespaces_wide(server: KubectlServer) -> None:
    assert server.kubectl("get", "deploy", "-A", "-o", "wide") == GET_DEPLOYMENTS_ALL_WIDE


@needs_kubectl
def test_kubectl_get_one_deployment(server: KubectlServer) -> None:
    assert server.kubectl("get", "deployment", "web") == GET_DEPLOYMENTS


@needs_kubectl
def test_kubectl_get_services(server: KubectlServer) -> None:
    assert server.kubectl("get", "svc") == GET_SERVICES


@needs_kubectl
def test_kubectl_get_services_wide_adds_the_selector(server: KubectlServer) -> None:
    lines = server.kubectl("get", "svc", "-o", "wide").splitlines()
    assert [line.split()[-1] for line in lines] == GET_SERVICES_WIDE_LAST_COLUMN


@needs_kubectl
def test_kubectl_get_nodes(server: KubectlServer) -> None:
    assert server.kubectl("get", "nodes") == GET_NODES


@needs_kubectl
def test_kubectl_get_nodes_wide(server: KubectlServer) -> None:
    assert server.kubectl("get", "nodes", "-o", "wide") == GET_NODES_WIDE


@needs_kubectl
def test_kubectl_get_custom_resources_uses_printer_columns(server: KubectlServer) -> None:
    assert server.kubectl("get", "crontabs") == GET_CRONTABS


@needs_kubectl
def test_kubectl_get_roles_shows_created_at(server: KubectlServer) -> None:
    assert server.kubectl("get", "roles") == GET_ROLES


@needs_kubectl
def test_kubectl_asks_for_a_table(server: KubectlServer) -> None:
    server.kubectl("get", "nodes")
    accepts = [accept for _, path, _, accept in server.requests if path == "/api/v1/nodes"]
    assert accepts and "as=Table;v=v1;g=meta.k8s.io" in accepts[-1]
