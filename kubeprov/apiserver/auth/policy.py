"""The RBAC objects a new cluster starts with: Kubernetes 1.32's bootstrap policy.

The API server creates these at start-up (and keeps the ``autoupdate`` ones current); they are
what ``kubectl get clusterroles`` shows on a fresh Kubernetes cluster. Rules guarded by feature
gates that are off by default in 1.32 are left out. The per-controller ``system:controller:*``
ClusterRoles (bound to ServiceAccounts in kube-system, used by a controller manager that runs each
controller under its own service account) are there for the controllers kubeprov has.

A few objects are not Kubernetes' own but what a cluster set up with bootstrap tokens needs:
the public ``cluster-info`` ConfigMap readable by anyone, and the node bootstrap / certificate
auto-approval bindings; they are named ``kubeprov:*`` and carry no bootstrapping label.
"""

from __future__ import annotations

from collections.abc import Iterable
from typing import Any

RBAC_API_VERSION = "rbac.authorization.k8s.io/v1"
RBAC_GROUP = "rbac.authorization.k8s.io"
BOOTSTRAP_LABELS = {"kubernetes.io/bootstrapping": "rbac-defaults"}
AUTOUPDATE_ANNOTATIONS = {"rbac.authorization.kubernetes.io/autoupdate": "true"}

AGGREGATE_TO_ADMIN = "rbac.authorization.k8s.io/aggregate-to-admin"
AGGREGATE_TO_EDIT = "rbac.authorization.k8s.io/aggregate-to-edit"
AGGREGATE_TO_VIEW = "rbac.authorization.k8s.io/aggregate-to-view"

READ = ("get", "list", "watch")
WRITE = ("create", "update", "patch", "delete", "deletecollection")
READ_WRITE = READ + WRITE
READ_UPDATE = ("get", "list", "watch", "update", "patch")

_CORE = ""
_EVENTS = "events.k8s.io"


def rule(verbs: Iterable[str], groups: Iterable[str], resources: Iterable[str], names: Iterable[str] = ()) -> dict:
    """A resource PolicyRule; like Kubernetes' rule builder, each list is sorted and de-duplicated."""
    out: dict[str, Any] = {
        "verbs": sorted(set(verbs)),
        "apiGroups": sorted(set(groups)),
        "resources": sorted(set(resources)),
    }
    if names:
        out["resourceNames"] = sorted(set(names))
    return out


def url_rule(verbs: Iterable[str], urls: Iterable[str]) -> dict:
    """A non-resource PolicyRule."""
    return {"verbs": sorted(set(verbs)), "nonResourceURLs": sorted(set(urls))}


def _events_rule() -> dict:
    return rule(("create", "update", "patch"), (_CORE, _EVENTS), ("events",))


def _metadata(name: str, namespace: str = "", labels: dict[str, str] | None = None, defaults: bool = True) -> dict:
    meta: dict[str, Any] = {"name": name}
    if namespace:
        meta["namespace"] = namespace
    all_labels = {**(BOOTSTRAP_LABELS if defaults else {}), **(labels or {})}
    if all_labels:
        meta["labels"] = all_labels
    if defaults:
        meta["annotations"] = dict(AUTOUPDATE_ANNOTATIONS)
    return meta


def cluster_role(
    name: str,
    rules: list[dict] | None = None,
    *,
    labels: dict[str, str] | None = None,
    aggregate_from: str = "",
    defaults: bool = True,
) -> dict:
    """A ClusterRole; ``aggregate_from`` makes it aggregate the roles labelled ``<label>: "true"``."""
    role: dict[str, Any] = {
        "apiVersion": RBAC_API_VERSION,
        "kind": "ClusterRole",
        "metadata": _metadata(name, labels=labels, defaults=defaults),
    }
    role["rules"] = list(rules or [])
    if aggregate_from:
        role["aggregationRule"] = {"clusterRoleSelectors": [{"matchLabels": {aggregate_from: "true"}}]}
    return role


def role(name: str, namespace: str, rules: list[dict], *, defaults: bool = True) -> dict:
    return {
        "apiVersion": RBAC_API_VERSION,
        "kind": "Role",
        "metadata": _metadata(name, namespace, defaults=defaults),
        "rules": rules,
    }


def user(name: str) -> dict:
    return {"kind": "User", "apiGroup": RBAC_GROUP, "name": name}


def group(name: str) -> dict:
    return {"kind": "Group", "apiGroup": RBAC_GROUP, "name": name}


def service_account(namespace: str, name: str) -> dict:
    return {"kind": "ServiceAccount", "name": name, "namespace": namespace}


def cluster_role_binding(name: str, subjects: list[dict], *, role_name: str = "", defaults: bool = True) -> dict:
    """A ClusterRoleBinding to the ClusterRole of the same name unless ``role_name`` says otherwise."""
    binding: dict[str, Any] = {
        "apiVersion": RBAC_API_VERSION,
        "kind": "ClusterRoleBinding",
        "metadata": _metadata(name, defaults=defaults),
        "roleRef": {"apiGroup": RBAC_GROUP, "kind": "ClusterRole", "name": role_name or name},
    }
    if subjects:
        binding["subjects"] = subjects
    return binding


def role_binding(
    name: str,
    namespace: str,
    subjects: list[dict],
    *,
    role_name: str = "",
    role_kind: str = "Role",
    defaults: bool = True,
) -> dict:
    """A RoleBinding to the Role of the same name (in the same namespace) unless ``role_name`` /
    ``role_kind`` (``ClusterRole``) say otherwise."""
    return {
        "apiVersion": RBAC_API_VERSION,
        "kind": "RoleBinding",
        "metadata": _metadata(name, namespace, defaults=defaults),
        "roleRef": {"apiGroup": RBAC_GROUP, "kind": role_kind, "name": role_name or name},
        "subjects": subjects,
    }


# ----------------------------------------------------------------------------- rules


def node_rules() -> list[dict]:
    """What every kubelet may do; the Node authorizer narrows the object-specific parts."""
    return [
        rule(("create",), ("authentication.k8s.io",), ("tokenreviews",)),
        rule(("create",), ("authorization.k8s.io",), ("subjectaccessreviews", "localsubjectaccessreviews")),
        rule(READ, (_CORE,), ("services",)),
        rule(("create", "get", "list", "watch"), (_CORE,), ("nodes",)),
        rule(("update", "patch"), (_CORE,), ("nodes/status",)),
        rule(("update", "patch"), (_CORE,), ("nodes",)),
        rule(("create", "update", "patch"), (_CORE,), ("events",)),
        rule(READ, (_CORE,), ("pods",)),
        rule(("create", "delete"), (_CORE,), ("pods",)),
        rule(("update", "patch"), (_CORE,), ("pods/status",)),
        rule(("create",), (_CORE,), ("pods/eviction",)),
        rule(READ, (_CORE,), ("secrets", "configmaps")),
        rule(("get",), (_CORE,), ("persistentvolumeclaims", "persistentvolumes")),
        rule(("get",), (_CORE,), ("endpoints",)),
        rule(("create", "get", "list", "watch"), ("certificates.k8s.io",), ("certificatesigningrequests",)),
        rule(("get", "create", "update", "patch", "delete"), ("coordination.k8s.io",), ("leases",)),
        rule(("get",), ("storage.k8s.io",), ("volumeattachments",)),
        rule(("create",), (_CORE,), ("serviceaccounts/token",)),
        rule(("get", "update", "patch"), (_CORE,), ("persistentvolumeclaims/status",)),
        rule(READ, ("storage.k8s.io",), ("csidrivers",)),
        rule(("get", "create", "update", "patch", "delete"), ("storage.k8s.io",), ("csinodes",)),
        rule(READ, ("node.k8s.io",), ("runtimeclasses",)),
    ]


def _aggregate_to_edit_rules() -> list[dict]:
    return [
        rule(
            READ,
            (_CORE,),
            ("pods/attach", "pods/proxy", "pods/exec", "pods/portforward", "secrets", "services/proxy"),
        ),
        rule(("impersonate",), (_CORE,), ("serviceaccounts",)),
        rule(WRITE, (_CORE,), ("pods", "pods/attach", "pods/proxy", "pods/exec", "pods/portforward")),
        rule(("create",), (_CORE,), ("pods/eviction",)),
        rule(
            WRITE,
            (_CORE,),
            (
                "replicationcontrollers", "replicationcontrollers/scale", "serviceaccounts", "services",
                "services/proxy", "persistentvolumeclaims", "configmaps", "secrets", "events",
            ),
        ),
        rule(("create",), (_CORE,), ("serviceaccounts/token",)),
        rule(
            WRITE,
            ("apps",),
            (
                "statefulsets", "statefulsets/scale", "daemonsets", "deployments", "deployments/scale",
                "deployments/rollback", "replicasets", "replicasets/scale",
            ),
        ),
        rule(WRITE, ("autoscaling",), ("horizontalpodautoscalers",)),
        rule(WRITE, ("batch",), ("jobs", "cronjobs")),
        rule(
            WRITE,
            ("extensions",),
            (
                "daemonsets", "deployments", "deployments/scale", "deployments/rollback", "ingresses",
                "replicasets", "replicasets/scale", "replicationcontrollers/scale", "networkpolicies",
            ),
        ),
        rule(WRITE, ("policy",), ("poddisruptionbudgets",)),
        rule(WRITE, ("networking.k8s.io",), ("networkpolicies", "ingresses")),
        rule(READ_WRITE, ("coordination.k8s.io",), ("leases",)),
    ]


def _aggregate_to_view_rules() -> list[dict]:
    return [
        rule(
            READ,
            (_CORE,),
            (
                "pods", "replicationcontrollers", "replicationcontrollers/scale", "serviceaccounts", "services",
                "services/status", "endpoints", "persistentvolumeclaims", "persistentvolumeclaims/status",
                "configmaps",
            ),
        ),
        rule(
            READ,
            (_CORE,),
            (
                "limitranges", "resourcequotas", "bindings", "events", "pods/status", "resourcequotas/status",
                "namespaces/status", "replicationcontrollers/status", "pods/log",
            ),
        ),
        # Reading namespaces at namespace scope means reading *this* namespace.
        rule(READ, (_CORE,), ("namespaces",)),
        rule(READ, ("discovery.k8s.io",), ("endpointslices",)),
        rule(
            READ,
            ("apps",),
            (
                "controllerrevisions", "statefulsets", "statefulsets/status", "statefulsets/scale", "daemonsets",
                "daemonsets/status", "deployments", "deployments/status", "deployments/scale", "replicasets",
                "replicasets/status", "replicasets/scale",
            ),
        ),
        rule(READ, ("autoscaling",), ("horizontalpodautoscalers", "horizontalpodautoscalers/status")),
        rule(READ, ("batch",), ("jobs", "cronjobs", "cronjobs/status", "jobs/status")),
        rule(
            READ,
            ("extensions",),
            (
                "daemonsets", "daemonsets/status", "deployments", "deployments/scale", "deployments/status",
                "ingresses", "ingresses/status", "replicasets", "replicasets/scale", "replicasets/status",
                "replicationcontrollers/scale", "networkpolicies",
            ),
        ),
        rule(READ, ("policy",), ("poddisruptionbudgets", "poddisruptionbudgets/status")),
        rule(READ, ("networking.k8s.io",), ("ingresses", "ingresses/status", "networkpolicies")),
    ]


def _scheduler_rules() -> list[dict]:
    return [
        _events_rule(),
        rule(("create",), ("coordination.k8s.io",), ("leases",)),
        rule(("get", "update"), ("coordination.k8s.io",), ("leases",), names=("kube-scheduler",)),
        rule(READ, (_CORE,), ("nodes",)),
        rule(("get", "list", "watch", "delete"), (_CORE,), ("pods",)),
        rule(("create",), (_CORE,), ("pods/binding", "bindings")),
        rule(("patch", "update"), (_CORE,), ("pods/status",)),
        rule(READ, (_CORE,), ("replicationcontrollers", "services")),
        rule(READ, ("apps", "extensions"), ("replicasets",)),
        rule(READ, ("apps",), ("statefulsets",)),
        rule(READ, ("policy",), ("poddisruptionbudgets",)),
        rule(READ, (_CORE,), ("persistentvolumeclaims", "persistentvolumes")),
        rule(("create",), ("authentication.k8s.io",), ("tokenreviews",)),
        rule(("create",), ("authorization.k8s.io",), ("subjectaccessreviews",)),
        rule(READ, ("storage.k8s.io",), ("csinodes",)),
        rule(READ, (_CORE,), ("namespaces",)),
        rule(READ, ("storage.k8s.io",), ("csidrivers",)),
        rule(READ, ("storage.k8s.io",), ("csistoragecapacities",)),
    ]


def _controller_manager_rules() -> list[dict]:
    return [
        _events_rule(),
        rule(("create",), ("coordination.k8s.io",), ("leases",)),
        rule(("get", "update"), ("coordination.k8s.io",), ("leases",), names=("kube-controller-manager",)),
        rule(("create",), (_CORE,), ("secrets", "serviceaccounts")),
        rule(("delete",), (_CORE,), ("secrets",)),
        rule(("get",), (_CORE,), ("namespaces", "secrets", "serviceaccounts", "configmaps")),
        rule(("update",), (_CORE,), ("secrets", "serviceaccounts")),
        rule(("create",), ("authentication.k8s.io",), ("tokenreviews",)),
        rule(("create",), ("authorization.k8s.io",), ("subjectaccessreviews",)),
        rule(("list", "watch"), ("*",), ("*",)),
        rule(("create",), (_CORE,), ("serviceaccounts/token",)),
    ]


def _controller_rules() -> dict[str, list[dict]]:
    """``system:controller:<account>`` rules of Kubernetes 1.32's controller policy, for kubeprov's controllers."""
    cert = "certificates.k8s.io"
    apps_ext = ("apps", "extensions")
    return {
        "cronjob-controller": [
            rule(("get", "list", "watch", "update"), ("batch",), ("cronjobs",)),
            rule(("get", "list", "watch", "create", "update", "delete", "patch"), ("batch",), ("jobs",)),
            rule(("update",), ("batch",), ("cronjobs/status",)),
            rule(("update",), ("batch",), ("cronjobs/finalizers",)),
            rule(("list", "watch", "delete"), (_CORE,), ("pods",)),
            _events_rule(),
        ],
        "daemon-set-controller": [
            rule(READ, apps_ext, ("daemonsets",)),
            rule(("update",), apps_ext, ("daemonsets/status",)),
            rule(("update",), apps_ext, ("daemonsets/finalizers",)),
            rule(("list", "watch"), (_CORE,), ("nodes",)),
            rule(("list", "watch", "create", "delete", "patch"), (_CORE,), ("pods",)),
            rule(("create",), (_CORE,), ("pods/binding",)),
            rule(("get", "list", "watch", "create", "delete", "update", "patch"), ("apps",), ("controllerrevisions",)),
            _events_rule(),
        ],
        "deployment-controller": [
            # Kubernetes gives update only; kubeprov's controller records the revision annotation with a patch
            rule(("get", "list", "watch", "update", "patch"), apps_ext, ("deployments",)),
            rule(("update",), apps_ext, ("deployments/status",)),
            rule(("update",), apps_ext, ("deployments/finalizers",)),
            rule(("get", "list", "watch", "create", "update", "patch", "delete"), apps_ext, ("replicasets",)),
            rule(("get", "list", "watch", "update"), (_CORE,), ("pods",)),
            _events_rule(),
        ],
        "disruption-controller": [
            rule(READ, apps_ext, ("deployments",)),
            rule(READ, apps_ext, ("replicasets",)),
            rule(READ, (_CORE,), ("replicationcontrollers",)),
            rule(READ, ("policy",), ("poddisruptionbudgets",)),
            rule(READ, ("apps",), ("statefulsets",)),
            rule(("update",), ("policy",), ("poddisruptionbudgets/status",)),
            rule(("patch", "update"), (_CORE,), ("pods/status",)),
            rule(("get",), ("*",), ("*/scale",)),
            _events_rule(),
        ],
        "endpoint-controller": [
            rule(READ, (_CORE,), ("services", "pods")),
            rule(("get", "list", "watch", "create", "update", "delete"), (_CORE,), ("endpoints",)),
            rule(("create",), (_CORE,), ("endpoints/restricted",)),
            _events_rule(),
        ],
        "endpointslice-controller": [
            rule(READ, (_CORE,), ("services", "pods", "nodes")),
            rule(("update",), (_CORE,), ("services/finalizers",)),
            rule(("get", "list", "watch", "create", "update", "delete"), ("discovery.k8s.io",), ("endpointslices",)),
            _events_rule(),
        ],
        "generic-garbage-collector": [
            rule(("get", "list", "watch", "patch", "update", "delete"), ("*",), ("*",)),
            _events_rule(),
        ],
        "horizontal-pod-autoscaler": [
            rule(READ, ("autoscaling",), ("horizontalpodautoscalers",)),
            rule(("update",), ("autoscaling",), ("horizontalpodautoscalers/status",)),
            rule(("get", "update"), ("*",), ("*/scale",)),
            rule(("list", "watch"), (_CORE,), ("pods",)),
            rule(("list", "watch"), ("metrics.k8s.io",), ("pods",)),
            rule(READ, ("custom.metrics.k8s.io",), ("*",)),
            rule(READ, ("external.metrics.k8s.io",), ("*",)),
            _events_rule(),
        ],
        "job-controller": [
            rule(("get", "list", "watch", "update", "patch"), ("batch",), ("jobs",)),
            rule(("update",), ("batch",), ("jobs/status",)),
            rule(("update",), ("batch",), ("jobs/finalizers",)),
            rule(("list", "watch", "create", "delete", "patch"), (_CORE,), ("pods",)),
            _events_rule(),
        ],
        "namespace-controller": [
            rule(("get", "list", "watch", "delete"), (_CORE,), ("namespaces",)),
            rule(("update",), (_CORE,), ("namespaces/finalize", "namespaces/status")),
            rule(("get", "list", "watch", "delete", "deletecollection"), ("*",), ("*",)),
        ],
        "node-controller": [
            rule(("get", "list", "watch", "update", "delete", "patch"), (_CORE,), ("nodes",)),
            rule(("patch", "update"), (_CORE,), ("nodes/status",)),
            rule(("patch", "update"), (_CORE,), ("pods/status",)),
            rule(("list", "watch", "get", "delete"), (_CORE,), ("pods",)),
            _events_rule(),
        ],
        "persistent-volume-binder": [
            rule(("get", "list", "watch", "update", "create", "delete"), (_CORE,), ("persistentvolumes",)),
            rule(("update",), (_CORE,), ("persistentvolumes/status",)),
            rule(("get", "list", "watch", "update"), (_CORE,), ("persistentvolumeclaims",)),
            rule(("update",), (_CORE,), ("persistentvolumeclaims/status",)),
            rule(("list", "watch", "get", "create", "delete"), (_CORE,), ("pods",)),
            rule(READ, ("storage.k8s.io",), ("storageclasses",)),
            rule(("list", "watch"), (_CORE,), ("nodes",)),
            _events_rule(),
            rule(("watch",), (_CORE,), ("events",)),
            rule(("get",), (_CORE,), ("services",)),
        ],
        "replicaset-controller": [
            rule(("get", "list", "watch", "update"), apps_ext, ("replicasets",)),
            rule(("update",), apps_ext, ("replicasets/status",)),
            rule(("update",), apps_ext, ("replicasets/finalizers",)),
            rule(("list", "watch", "patch", "create", "delete"), (_CORE,), ("pods",)),
            _events_rule(),
        ],
        "replication-controller": [
            rule(("get", "list", "watch", "update"), (_CORE,), ("replicationcontrollers",)),
            rule(("update",), (_CORE,), ("replicationcontrollers/status",)),
            rule(("update",), (_CORE,), ("replicationcontrollers/finalizers",)),
            rule(("list", "watch", "patch", "create", "delete"), (_CORE,), ("pods",)),
            _events_rule(),
        ],
        "resourcequota-controller": [
            rule(("list", "watch"), ("*",), ("*",)),
            rule(("update",), (_CORE,), ("resourcequotas/status",)),
            _events_rule(),
        ],
        "service-account-controller": [
            rule(("create",), (_CORE,), ("serviceaccounts",)),
            _events_rule(),
        ],
        "statefulset-controller": [
            rule(("list", "watch"), (_CORE,), ("pods",)),
            rule(READ, ("apps",), ("statefulsets",)),
            rule(("update",), ("apps",), ("statefulsets/status",)),
            rule(("update",), ("apps",), ("statefulsets/finalizers",)),
            rule(("get", "create", "delete", "update", "patch"), (_CORE,), ("pods",)),
            rule(("get", "create", "delete", "update", "patch", "list", "watch"), ("apps",), ("controllerrevisions",)),
            rule(("get", "create", "list", "watch"), (_CORE,), ("persistentvolumeclaims",)),
            rule(("update", "delete"), (_CORE,), ("persistentvolumeclaims",)),
            rule(("update",), (_CORE,), ("pods/finalizers",)),
            _events_rule(),
        ],
        "certificate-controller": [
            rule(("get", "list", "watch", "delete"), (cert,), ("certificatesigningrequests",)),
            rule(("update",), (cert,), ("certificatesigningrequests/status", "certificatesigningrequests/approval")),
            rule(("approve",), (cert,), ("signers",), names=("kubernetes.io/kube-apiserver-client-kubelet",)),
            rule(("sign",), (cert,), ("signers",), names=(
                "kubernetes.io/legacy-unknown", "kubernetes.io/kube-apiserver-client",
                "kubernetes.io/kube-apiserver-client-kubelet", "kubernetes.io/kubelet-serving")),
            rule(("create",), ("authorization.k8s.io",), ("subjectaccessreviews",)),
            _events_rule(),
        ],
        "pod-garbage-collector": [
            rule(("list", "watch", "delete"), (_CORE,), ("pods",)),
            rule(("get", "list"), (_CORE,), ("nodes",)),
            rule(("patch", "update"), (_CORE,), ("pods/status",)),
        ],
        "ttl-after-finished-controller": [
            rule(("get", "list", "watch", "delete"), ("batch",), ("jobs",)),
            _events_rule(),
        ],
        "root-ca-cert-publisher": [
            rule(("create", "update"), (_CORE,), ("configmaps",)),
            _events_rule(),
        ],
        # kubeprov's own: a dynamic provisioner of hostPath PersistentVolumes
        "hostpath-provisioner": [
            rule(("get", "list", "watch", "create", "delete", "update", "patch"), (_CORE,), ("persistentvolumes",)),
            rule(("get", "list", "watch", "update", "patch"), (_CORE,), ("persistentvolumeclaims",)),
            rule(("create", *READ), ("storage.k8s.io",), ("storageclasses",)),
            rule(READ, (_CORE,), ("nodes",)),
            _events_rule(),
        ],
    }


CONTROLLER_ROLE_PREFIX = "system:controller:"


def controller_roles() -> list[dict]:
    """The ``system:controller:<account>`` ClusterRoles, sorted by name as Kubernetes lists them."""
    return [cluster_role(CONTROLLER_ROLE_PREFIX + account, rules)
            for account, rules in sorted(_controller_rules().items())]


def controller_role_bindings() -> list[dict]:
    """Each controller role bound to the ServiceAccount ``kube-system/<account>``."""
    return [cluster_role_binding(CONTROLLER_ROLE_PREFIX + account, [service_account("kube-system", account)])
            for account in sorted(_controller_rules())]


def _signer_approver(signer: str) -> list[dict]:
    return [rule(("approve",), ("certificates.k8s.io",), ("signers",), names=(signer,))]


# ----------------------------------------------------------------------------- objects


def default_cluster_roles() -> list[dict]:
    """Kubernetes' default ClusterRoles, in the order its API server creates them."""
    cert = "certificates.k8s.io"
    return [
        cluster_role("cluster-admin", [rule(("*",), ("*",), ("*",)), url_rule(("*",), ("*",))]),
        cluster_role(
            "system:discovery",
            [
                url_rule(
                    ("get",),
                    (
                        "/livez", "/readyz", "/healthz", "/version", "/version/", "/openapi", "/openapi/*",
                        "/api", "/api/*", "/apis", "/apis/*",
                    ),
                )
            ],
        ),
        cluster_role(
            "system:monitoring",
            [
                url_rule(
                    ("get",),
                    (
                        "/metrics", "/metrics/slis", "/livez", "/readyz", "/healthz", "/livez/*", "/readyz/*",
                        "/healthz/*",
                    ),
                )
            ],
        ),
        cluster_role(
            "system:basic-user",
            [
                rule(("create",), ("authorization.k8s.io",), ("selfsubjectaccessreviews", "selfsubjectrulesreviews")),
                rule(("create",), ("authentication.k8s.io",), ("selfsubjectreviews",)),
            ],
        ),
        cluster_role(
            "system:public-info-viewer",
            [url_rule(("get",), ("/livez", "/readyz", "/healthz", "/version", "/version/"))],
        ),
        cluster_role("admin", aggregate_from=AGGREGATE_TO_ADMIN),
        cluster_role("edit", labels={AGGREGATE_TO_ADMIN: "true"}, aggregate_from=AGGREGATE_TO_EDIT),
        cluster_role("view", labels={AGGREGATE_TO_EDIT: "true"}, aggregate_from=AGGREGATE_TO_VIEW),
        cluster_role(
            "system:aggregate-to-admin",
            [
                rule(("create",), ("authorization.k8s.io",), ("localsubjectaccessreviews",)),
                rule(READ_WRITE, ("rbac.authorization.k8s.io",), ("roles", "rolebindings")),
            ],
            labels={AGGREGATE_TO_ADMIN: "true"},
        ),
        cluster_role("system:aggregate-to-edit", _aggregate_to_edit_rules(), labels={AGGREGATE_TO_EDIT: "true"}),
        cluster_role("system:aggregate-to-view", _aggregate_to_view_rules(), labels={AGGREGATE_TO_VIEW: "true"}),
        # what metrics-server's manifest adds: admin, edit and view may read resource metrics
        cluster_role("system:aggregated-metrics-reader", [rule(READ, ("metrics.k8s.io",), ("pods", "nodes"))],
                     labels={AGGREGATE_TO_ADMIN: "true", AGGREGATE_TO_EDIT: "true", AGGREGATE_TO_VIEW: "true"}),
        cluster_role(
            "system:heapster",
            [
                rule(READ, (_CORE,), ("events", "pods", "nodes", "namespaces")),
                rule(READ, ("extensions",), ("deployments",)),
            ],
        ),
        cluster_role("system:node", node_rules()),
        cluster_role(
            "system:node-problem-detector",
            [
                rule(("get",), (_CORE,), ("nodes",)),
                rule(("patch",), (_CORE,), ("nodes/status",)),
                _events_rule(),
            ],
        ),
        cluster_role(
            "system:kubelet-api-admin",
            [
                rule(READ, (_CORE,), ("nodes",)),
                rule(("proxy",), (_CORE,), ("nodes",)),
                rule(("*",), (_CORE,), ("nodes/proxy", "nodes/metrics", "nodes/stats", "nodes/log")),
            ],
        ),
        cluster_role(
            "system:node-bootstrapper",
            [rule(("create", "get", "list", "watch"), (cert,), ("certificatesigningrequests",))],
        ),
        cluster_role(
            "system:auth-delegator",
            [
                rule(("create",), ("authentication.k8s.io",), ("tokenreviews",)),
                rule(("create",), ("authorization.k8s.io",), ("subjectaccessreviews",)),
            ],
        ),
        cluster_role("system:kube-aggregator", [rule(READ, (_CORE,), ("services", "endpoints"))]),
        cluster_role(
            "system:persistent-volume-provisioner",
            [
                rule(("get", "list", "watch", "create", "delete"), (_CORE,), ("persistentvolumes",)),
                rule(("get", "list", "watch", "update"), (_CORE,), ("persistentvolumeclaims",)),
                rule(READ, ("storage.k8s.io",), ("storageclasses",)),
                rule(("watch",), (_CORE,), ("events",)),
                _events_rule(),
            ],
        ),
        cluster_role("system:kube-controller-manager", _controller_manager_rules()),
        cluster_role("system:kube-dns", [rule(("list", "watch"), (_CORE,), ("endpoints", "services"))]),
        cluster_role("system:kube-scheduler", _scheduler_rules()),
        cluster_role(
            "system:volume-scheduler",
            [
                rule(READ_UPDATE, (_CORE,), ("persistentvolumes",)),
                rule(READ, ("storage.k8s.io",), ("storageclasses",)),
                rule(READ_UPDATE, (_CORE,), ("persistentvolumeclaims",)),
            ],
        ),
        cluster_role(
            "system:node-proxier",
            [
                rule(("list", "watch"), (_CORE,), ("services", "endpoints")),
                rule(READ, (_CORE,), ("nodes",)),
                _events_rule(),
                rule(("list", "watch"), ("discovery.k8s.io",), ("endpointslices",)),
            ],
        ),
        cluster_role(
            "system:service-account-issuer-discovery",
            [
                url_rule(
                    ("get",),
                    (
                        "/.well-known/openid-configuration", "/.well-known/openid-configuration/",
                        "/openid/v1/jwks", "/openid/v1/jwks/",
                    ),
                )
            ],
        ),
        cluster_role(
            "system:certificates.k8s.io:certificatesigningrequests:nodeclient",
            [rule(("create",), (cert,), ("certificatesigningrequests/nodeclient",))],
        ),
        cluster_role(
            "system:certificates.k8s.io:certificatesigningrequests:selfnodeclient",
            [rule(("create",), (cert,), ("certificatesigningrequests/selfnodeclient",))],
        ),
        cluster_role(
            "system:certificates.k8s.io:kube-apiserver-client-approver",
            _signer_approver("kubernetes.io/kube-apiserver-client"),
        ),
        cluster_role(
            "system:certificates.k8s.io:kube-apiserver-client-kubelet-approver",
            _signer_approver("kubernetes.io/kube-apiserver-client-kubelet"),
        ),
        cluster_role(
            "system:certificates.k8s.io:kubelet-serving-approver",
            _signer_approver("kubernetes.io/kubelet-serving"),
        ),
        cluster_role(
            "system:certificates.k8s.io:legacy-unknown-approver",
            _signer_approver("kubernetes.io/legacy-unknown"),
        ),
    ]


def default_cluster_role_bindings() -> list[dict]:
    """Kubernetes' default ClusterRoleBindings.

    ``system:node`` is bound to nobody, as in Kubernetes: kubelets get the node rules from the
    Node authorizer, which also limits them to the objects of their own pods.
    """
    return [
        cluster_role_binding("cluster-admin", [group("system:masters")]),
        cluster_role_binding("system:monitoring", [group("system:monitoring")]),
        cluster_role_binding("system:discovery", [group("system:authenticated")]),
        cluster_role_binding("system:basic-user", [group("system:authenticated")]),
        cluster_role_binding(
            "system:public-info-viewer", [group("system:authenticated"), group("system:unauthenticated")]
        ),
        cluster_role_binding("system:node-proxier", [user("system:kube-proxy")]),
        cluster_role_binding("system:kube-controller-manager", [user("system:kube-controller-manager")]),
        cluster_role_binding("system:kube-dns", [service_account("kube-system", "kube-dns")]),
        cluster_role_binding("system:kube-scheduler", [user("system:kube-scheduler")]),
        cluster_role_binding("system:volume-scheduler", [user("system:kube-scheduler")]),
        cluster_role_binding("system:node", []),
        cluster_role_binding("system:service-account-issuer-discovery", [group("system:serviceaccounts")]),
    ]


def _leader_locking_rules() -> list[dict]:
    lease_verbs = ("watch", "get", "list", "create", "update")
    return [
        rule(lease_verbs, ("coordination.k8s.io",), ("leases",)),
        rule(lease_verbs, ("coordination.k8s.io",), ("leasecandidates",)),
    ]


def default_roles() -> list[dict]:
    """Kubernetes' default namespaced Roles (kube-system and kube-public)."""
    return [
        role(
            "extension-apiserver-authentication-reader",
            "kube-system",
            [rule(READ, (_CORE,), ("configmaps",), names=("extension-apiserver-authentication",))],
        ),
        role("system::leader-locking-kube-controller-manager", "kube-system", _leader_locking_rules()),
        role("system::leader-locking-kube-scheduler", "kube-system", _leader_locking_rules()),
        role("system:controller:bootstrap-signer", "kube-system", [rule(READ, (_CORE,), ("secrets",))]),
        role("system:controller:cloud-provider", "kube-system", [rule(("create", *READ), (_CORE,), ("configmaps",))]),
        role(
            "system:controller:token-cleaner",
            "kube-system",
            [rule(("delete", *READ), (_CORE,), ("secrets",)), _events_rule()],
        ),
        role(
            "system:controller:bootstrap-signer",
            "kube-public",
            [
                rule(READ, (_CORE,), ("configmaps",)),
                rule(("update",), (_CORE,), ("configmaps",), names=("cluster-info",)),
                _events_rule(),
            ],
        ),
    ]


def default_role_bindings() -> list[dict]:
    """Kubernetes' default namespaced RoleBindings."""
    return [
        role_binding(
            "system::extension-apiserver-authentication-reader",
            "kube-system",
            [user("system:kube-controller-manager"), user("system:kube-scheduler")],
            role_name="extension-apiserver-authentication-reader",
        ),
        role_binding(
            "system::leader-locking-kube-controller-manager",
            "kube-system",
            [
                user("system:kube-controller-manager"),
                service_account("kube-system", "kube-controller-manager"),
                service_account("kube-system", "leader-election-controller"),
            ],
        ),
        role_binding(
            "system::leader-locking-kube-scheduler",
            "kube-system",
            [user("system:kube-scheduler"), service_account("kube-system", "kube-scheduler")],
        ),
        role_binding(
            "system:controller:bootstrap-signer", "kube-system", [service_account("kube-system", "bootstrap-signer")]
        ),
        role_binding(
            "system:controller:cloud-provider", "kube-system", [service_account("kube-system", "cloud-provider")]
        ),
        role_binding(
            "system:controller:token-cleaner", "kube-system", [service_account("kube-system", "token-cleaner")]
        ),
        role_binding(
            "system:controller:bootstrap-signer", "kube-public", [service_account("kube-system", "bootstrap-signer")]
        ),
    ]


CLUSTER_INFO_ROLE = "kubeprov:bootstrap-signer-clusterinfo"


def bootstrap_token_policy() -> list[dict]:
    """What joining with a bootstrap token needs, beyond Kubernetes' own defaults.

    Anyone (including anonymous users) may read ``kube-public/cluster-info``; bootstrap-token users
    may file node client CSRs that are approved automatically, and nodes may renew their own.
    """
    return [
        role(
            CLUSTER_INFO_ROLE,
            "kube-public",
            [rule(("get",), (_CORE,), ("configmaps",), names=("cluster-info",))],
            defaults=False,
        ),
        role_binding(CLUSTER_INFO_ROLE, "kube-public", [user("system:anonymous")], defaults=False),
        cluster_role("kubeprov:get-nodes", [rule(("get",), (_CORE,), ("nodes",))], defaults=False),
        cluster_role_binding("kubeprov:get-nodes", [group("system:bootstrappers")], defaults=False),
        cluster_role_binding(
            "kubeprov:kubelet-bootstrap",
            [group("system:bootstrappers")],
            role_name="system:node-bootstrapper",
            defaults=False,
        ),
        cluster_role_binding(
            "kubeprov:node-autoapprove-bootstrap",
            [group("system:bootstrappers")],
            role_name="system:certificates.k8s.io:certificatesigningrequests:nodeclient",
            defaults=False,
        ),
        cluster_role_binding(
            "kubeprov:node-autoapprove-certificate-rotation",
            [group("system:nodes")],
            role_name="system:certificates.k8s.io:certificatesigningrequests:selfnodeclient",
            defaults=False,
        ),
    ]


def default_policy() -> list[dict]:
    """Every RBAC object a new cluster starts with: ClusterRoles, ClusterRoleBindings, Roles,
    RoleBindings (Kubernetes' defaults), then the bootstrap-token additions."""
    return [
        *default_cluster_roles(),
        *controller_roles(),
        *default_cluster_role_bindings(),
        *controller_role_bindings(),
        *default_roles(),
        *default_role_bindings(),
        *bootstrap_token_policy(),
    ]
