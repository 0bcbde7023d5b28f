"""The built-in resources of Kubernetes 1.32 that the API server serves, with kubectl's names."""

from __future__ import annotations

from kubeprov.apiserver.resources.types import CREATE_ONLY, ResourceType, Subresource

STATUS = Subresource("status", "")  # "" = the parent's kind
SCALE = Subresource("scale", "Scale", group="autoscaling", version="v1")
ALL = ("all",)
CONNECT = ("get", "create")


def _r(group: str, version: str, resource: str, kind: str, namespaced: bool = True, **kw: object) -> ResourceType:
    return ResourceType(group=group, version=version, resource=resource, kind=kind, namespaced=namespaced, **kw)


def builtin_resources() -> list[ResourceType]:
    """One entry per served group/version/resource, in discovery order."""
    return [
        # core/v1
        _r("", "v1", "namespaces", "Namespace", False, short_names=("ns",),
           subresources=(STATUS, Subresource("finalize", "", verbs=("update",)))),
        _r("", "v1", "pods", "Pod", short_names=("po",), categories=ALL, subresources=(
            STATUS,
            Subresource("binding", "Binding", verbs=("create",)),
            Subresource("eviction", "Eviction", verbs=("create",), group="policy", version="v1"),
            Subresource("ephemeralcontainers", "", verbs=("get", "patch", "update")),
            Subresource("log", "Pod", verbs=("get",), connect=True),
            Subresource("exec", "PodExecOptions", verbs=CONNECT, connect=True),
            Subresource("attach", "PodAttachOptions", verbs=CONNECT, connect=True),
            Subresource("portforward", "PodPortForwardOptions", verbs=CONNECT, connect=True),
            Subresource("proxy", "PodProxyOptions", verbs=CONNECT, connect=True),
        )),
        _r("", "v1", "services", "Service", short_names=("svc",), categories=ALL,
           subresources=(STATUS, Subresource("proxy", "ServiceProxyOptions", verbs=CONNECT, connect=True))),
        _r("", "v1", "endpoints", "Endpoints", short_names=("ep",), singular="endpoints"),
        _r("", "v1", "configmaps", "ConfigMap", short_names=("cm",)),
        _r("", "v1", "secrets", "Secret"),
        _r("", "v1", "serviceaccounts", "ServiceAccount", short_names=("sa",),
           subresources=(Subresource("token", "TokenRequest", verbs=("create",),
                                     group="authentication.k8s.io", version="v1"),)),
        _r("", "v1", "nodes", "Node", False, short_names=("no",),
           subresources=(STATUS, Subresource("proxy", "NodeProxyOptions", verbs=CONNECT, connect=True))),
        _r("", "v1", "events", "Event", short_names=("ev",)),
        _r("", "v1", "persistentvolumes", "PersistentVolume", False, short_names=("pv",), subresources=(STATUS,)),
        _r("", "v1", "persistentvolumeclaims", "PersistentVolumeClaim", short_names=("pvc",),
           subresources=(STATUS,)),
        _r("", "v1", "resourcequotas", "ResourceQuota", short_names=("quota",), subresources=(STATUS,)),
        _r("", "v1", "limitranges", "LimitRange", short_names=("limits",)),
        _r("", "v1", "podtemplates", "PodTemplate"),
        _r("", "v1", "replicationcontrollers", "ReplicationController", short_names=("rc",), categories=ALL,
           subresources=(STATUS, SCALE)),
        # apps/v1
        _r("apps", "v1", "deployments", "Deployment", short_names=("deploy",), categories=ALL,
           subresources=(STATUS, SCALE)),
        _r("apps", "v1", "replicasets", "ReplicaSet", short_names=("rs",), categories=ALL,
           subresources=(STATUS, SCALE)),
        _r("apps", "v1", "statefulsets", "StatefulSet", short_names=("sts",), categories=ALL,
           subresources=(STATUS, SCALE)),
        _r("apps", "v1", "daemonsets", "DaemonSet", short_names=("ds",), categories=ALL, subresources=(STATUS,)),
        _r("apps", "v1", "controllerrevisions", "ControllerRevision"),
        # batch/v1
        _r("batch", "v1", "jobs", "Job", categories=ALL, subresources=(STATUS,)),
        _r("batch", "v1", "cronjobs", "CronJob", short_names=("cj",), categories=ALL, subresources=(STATUS,)),
        # autoscaling: v2 is stored and preferred, v1 is served too
        _r("autoscaling", "v2", "horizontalpodautoscalers", "HorizontalPodAutoscaler", short_names=("hpa",),
           categories=ALL, subresources=(STATUS,), storage_version="v2"),
        _r("autoscaling", "v1", "horizontalpodautoscalers", "HorizontalPodAutoscaler", short_names=("hpa",),
           categories=ALL, subresources=(STATUS,), storage_version="v2"),
        # coordination.k8s.io/v1
        _r("coordination.k8s.io", "v1", "leases", "Lease"),
        # rbac.authorization.k8s.io/v1
        _r("rbac.authorization.k8s.io", "v1", "roles", "Role"),
        _r("rbac.authorization.k8s.io", "v1", "rolebindings", "RoleBinding"),
        _r("rbac.authorization.k8s.io", "v1", "clusterroles", "ClusterRole", False),
        _r("rbac.authorization.k8s.io", "v1", "clusterrolebindings", "ClusterRoleBinding", False),
        # policy/v1
        _r("policy", "v1", "poddisruptionbudgets", "PodDisruptionBudget", short_names=("pdb",),
           subresources=(STATUS,)),
        # networking.k8s.io/v1
        _r("networking.k8s.io", "v1", "ingresses", "Ingress", short_names=("ing",), subresources=(STATUS,)),
        _r("networking.k8s.io", "v1", "ingressclasses", "IngressClass", False),
        _r("networking.k8s.io", "v1", "networkpolicies", "NetworkPolicy", short_names=("netpol",)),
        # storage.k8s.io/v1
        _r("storage.k8s.io", "v1", "storageclasses", "StorageClass", False, short_names=("sc",)),
        # discovery.k8s.io/v1
        _r("discovery.k8s.io", "v1", "endpointslices", "EndpointSlice"),
        # scheduling.k8s.io/v1
        _r("scheduling.k8s.io", "v1", "priorityclasses", "PriorityClass", False, short_names=("pc",)),
        # certificates.k8s.io/v1
        _r("certificates.k8s.io", "v1", "certificatesigningrequests", "CertificateSigningRequest", False,
           short_names=("csr",), subresources=(STATUS, Subresource("approval", "", verbs=("get", "patch", "update")))),
        # authentication.k8s.io/v1 and authorization.k8s.io/v1: answered, never stored
        _r("authentication.k8s.io", "v1", "tokenreviews", "TokenReview", False, verbs=CREATE_ONLY, stored=False),
        _r("authentication.k8s.io", "v1", "selfsubjectreviews", "SelfSubjectReview", False, verbs=CREATE_ONLY,
           stored=False),
        _r("authorization.k8s.io", "v1", "selfsubjectaccessreviews", "SelfSubjectAccessReview", False,
           verbs=CREATE_ONLY, stored=False),
        _r("authorization.k8s.io", "v1", "selfsubjectrulesreviews", "SelfSubjectRulesReview", False,
           verbs=CREATE_ONLY, stored=False),
        _r("authorization.k8s.io", "v1", "subjectaccessreviews", "SubjectAccessReview", False,
           verbs=CREATE_ONLY, stored=False),
        _r("authorization.k8s.io", "v1", "localsubjectaccessreviews", "LocalSubjectAccessReview",
           verbs=CREATE_ONLY, stored=False),
        # apiextensions.k8s.io/v1
        _r("apiextensions.k8s.io", "v1", "customresourcedefinitions", "CustomResourceDefinition", False,
           short_names=("crd", "crds"), subresources=(STATUS,)),
    ]
