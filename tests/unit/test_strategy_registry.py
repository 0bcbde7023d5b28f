"""Every stored built-in resource has a strategy that accepts a good object, rejects a bad one
with Kubernetes' message, and never raises on arbitrary JSON (the server must not answer 500)."""

from __future__ import annotations

import base64
import copy
from typing import Any

import pytest
from cryptography import x509
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec
from cryptography.x509.oid import NameOID
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from kubeprov.apiserver.resources.builtin import builtin_resources
from kubeprov.apiserver.resources.types import ResourceType
from kubeprov.apiserver.strategy import STRATEGIES, Strategy, strategy_for

POD_SPEC = {"containers": [{"name": "web", "image": "nginx:1.27"}]}
TEMPLATE = {"metadata": {"labels": {"app": "web"}}, "spec": POD_SPEC}
SEL = {"matchLabels": {"app": "web"}}
JOB_UID = "1b2c3d4e-0000-4000-8000-000000000001"


def meta(name: str = "x", namespace: str | None = "default") -> dict[str, Any]:
    return {"name": name, "namespace": namespace} if namespace else {"name": name}


def csr_request() -> str:
    """A real PEM certificate signing request, base64-encoded as ``spec.request`` carries it."""
    key = ec.generate_private_key(ec.SECP256R1())
    name = x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, "alice")])
    csr = x509.CertificateSigningRequestBuilder().subject_name(name).sign(key, hashes.SHA256())
    return base64.b64encode(csr.public_bytes(serialization.Encoding.PEM)).decode()


CSR_REQUEST = csr_request()
CRD_VERSION = {"name": "v1", "served": True, "storage": True, "schema": {"openAPIV3Schema": {"type": "object"}}}
CRD_SPEC = {
    "group": "example.com",
    "scope": "Namespaced",
    "names": {"plural": "widgets", "kind": "Widget"},
    "versions": [CRD_VERSION],
}
HPA_TARGET = {"apiVersion": "apps/v1", "kind": "Deployment", "name": "web"}

VALID: dict[tuple[str, str], dict[str, Any]] = {
    ("", "namespaces"): {"metadata": meta("team-a", None)},
    ("", "pods"): {"metadata": meta(), "spec": POD_SPEC},
    ("", "services"): {"metadata": meta("web"), "spec": {"selector": {"app": "web"}, "ports": [{"port": 80}]}},
    ("", "endpoints"): {
        "metadata": meta("web"),
        "subsets": [{"addresses": [{"ip": "10.1.2.3"}], "ports": [{"port": 80}]}],
    },
    ("", "configmaps"): {"metadata": meta(), "data": {"a.conf": "x=1"}},
    ("", "secrets"): {"metadata": meta(), "stringData": {"password": "s3cret"}},
    ("", "serviceaccounts"): {"metadata": meta("builder")},
    ("", "nodes"): {
        "metadata": meta("node-1", None),
        "spec": {"podCIDR": "10.244.0.0/24", "podCIDRs": ["10.244.0.0/24"]},
    },
    ("", "events"): {
        "metadata": meta("web.17"),
        "reason": "Started",
        "type": "Normal",
        "involvedObject": {"kind": "Pod", "name": "web", "namespace": "default"},
    },
    ("", "persistentvolumes"): {
        "metadata": meta("pv1", None),
        "spec": {"capacity": {"storage": "1Gi"}, "accessModes": ["ReadWriteOnce"], "hostPath": {"path": "/data"}},
    },
    ("", "persistentvolumeclaims"): {
        "metadata": meta("data"),
        "spec": {"accessModes": ["ReadWriteOnce"], "resources": {"requests": {"storage": "1Gi"}}},
    },
    ("", "resourcequotas"): {"metadata": meta("q"), "spec": {"hard": {"pods": "10", "requests.cpu": "4"}}},
    ("", "limitranges"): {
        "metadata": meta("lr"),
        "spec": {"limits": [{"type": "Container", "max": {"cpu": "2"}, "min": {"cpu": "100m"}}]},
    },
    ("", "podtemplates"): {"metadata": meta("t"), "template": TEMPLATE},
    ("", "replicationcontrollers"): {"metadata": meta("rc"), "spec": {"template": TEMPLATE}},
    ("apps", "deployments"): {"metadata": meta("web"), "spec": {"selector": SEL, "template": TEMPLATE}},
    ("apps", "replicasets"): {"metadata": meta("web"), "spec": {"selector": SEL, "template": TEMPLATE}},
    ("apps", "statefulsets"): {
        "metadata": meta("db"),
        "spec": {"selector": SEL, "serviceName": "db", "template": TEMPLATE},
    },
    ("apps", "daemonsets"): {"metadata": meta("agent"), "spec": {"selector": SEL, "template": TEMPLATE}},
    ("apps", "controllerrevisions"): {"metadata": meta("web-1"), "data": {"spec": {}}, "revision": 1},
    ("batch", "jobs"): {
        "metadata": {**meta("pi"), "uid": JOB_UID},
        "spec": {"template": {"spec": {**POD_SPEC, "restartPolicy": "Never"}}},
    },
    ("batch", "cronjobs"): {
        "metadata": meta("tick"),
        "spec": {
            "schedule": "*/5 * * * *",
            "jobTemplate": {"spec": {"template": {"spec": {**POD_SPEC, "restartPolicy": "OnFailure"}}}},
        },
    },
    ("autoscaling", "horizontalpodautoscalers"): {
        "metadata": meta("web"),
        "spec": {"scaleTargetRef": HPA_TARGET, "maxReplicas": 5},
    },
    ("coordination.k8s.io", "leases"): {
        "metadata": meta("lock"),
        "spec": {"holderIdentity": "a", "leaseDurationSeconds": 15},
    },
    ("rbac.authorization.k8s.io", "roles"): {
        "metadata": meta("reader"),
        "rules": [{"apiGroups": [""], "resources": ["pods"], "verbs": ["get"]}],
    },
    ("rbac.authorization.k8s.io", "clusterroles"): {
        "metadata": meta("reader", None),
        "rules": [{"nonResourceURLs": ["/healthz"], "verbs": ["get"]}],
    },
    ("rbac.authorization.k8s.io", "rolebindings"): {
        "metadata": meta("rb"),
        "roleRef": {"kind": "Role", "name": "reader"},
        "subjects": [{"kind": "User", "name": "alice"}, {"kind": "ServiceAccount", "name": "default"}],
    },
    ("rbac.authorization.k8s.io", "clusterrolebindings"): {
        "metadata": meta("crb", None),
        "roleRef": {"apiGroup": "rbac.authorization.k8s.io", "kind": "ClusterRole", "name": "reader"},
        "subjects": [{"kind": "ServiceAccount", "name": "default", "namespace": "kube-system"}],
    },
    ("policy", "poddisruptionbudgets"): {"metadata": meta("pdb"), "spec": {"minAvailable": "50%", "selector": SEL}},
    ("networking.k8s.io", "ingresses"): {
        "metadata": meta("web"),
        "spec": {
            "rules": [
                {
                    "host": "*.example.com",
                    "http": {
                        "paths": [
                            {
                                "path": "/",
                                "pathType": "Prefix",
                                "backend": {"service": {"name": "web", "port": {"number": 80}}},
                            }
                        ]
                    },
                }
            ]
        },
    },
    ("networking.k8s.io", "ingressclasses"): {
        "metadata": meta("nginx", None),
        "spec": {"controller": "k8s.io/ingress-nginx"},
    },
    ("networking.k8s.io", "networkpolicies"): {
        "metadata": meta("deny"),
        "spec": {
            "podSelector": {},
            "egress": [
                {"to": [{"ipBlock": {"cidr": "10.0.0.0/8", "except": ["10.1.0.0/16"]}}], "ports": [{"port": 53}]}
            ],
        },
    },
    ("storage.k8s.io", "storageclasses"): {
        "metadata": meta("fast", None),
        "provisioner": "kubernetes.io/no-provisioner",
    },
    ("discovery.k8s.io", "endpointslices"): {
        "metadata": meta("web-abc"),
        "addressType": "IPv4",
        "endpoints": [{"addresses": ["10.1.2.3"]}],
        "ports": [{"port": 80}],
    },
    ("scheduling.k8s.io", "priorityclasses"): {"metadata": meta("high", None), "value": 1000},
    ("certificates.k8s.io", "certificatesigningrequests"): {
        "metadata": meta("alice", None),
        "spec": {
            "request": CSR_REQUEST,
            "signerName": "kubernetes.io/kube-apiserver-client",
            "usages": ["client auth"],
        },
    },
    ("apiextensions.k8s.io", "customresourcedefinitions"): {
        "metadata": meta("widgets.example.com", None),
        "spec": CRD_SPEC,
    },
}

INVALID: dict[tuple[str, str], tuple[dict[str, Any], str]] = {
    ("", "namespaces"): (
        {"metadata": meta("team.a", None)},
        'metadata.name: Invalid value: "team.a": must not contain dots',
    ),
    ("", "pods"): ({"metadata": meta(), "spec": {"containers": []}}, "spec.containers: Required value"),
    ("", "services"): (
        {"metadata": meta("web"), "spec": {"ports": [{"port": 80}, {"port": 81}]}},
        "spec.ports[0].name: Required value",
    ),
    ("", "endpoints"): (
        {"metadata": meta("web"), "subsets": [{"addresses": [{"ip": "127.0.0.1"}]}]},
        'subsets[0].addresses[0].ip: Invalid value: "127.0.0.1": may not be in the loopback range '
        "(127.0.0.0/8, ::1/128)",
    ),
    ("", "configmaps"): (
        {"metadata": meta(), "data": {"a b": "x"}},
        'data[a b]: Invalid value: "a b": a valid config key must consist of alphanumeric characters, '
        "'-', '_' or '.' (e.g. 'key.name',  or 'KEY_NAME',  or 'key-name', regex used for validation "
        "is '[-._a-zA-Z0-9]+')",
    ),
    ("", "secrets"): (
        {"metadata": meta(), "type": "kubernetes.io/tls", "data": {"tls.crt": "Zm9v"}},
        "data[tls.key]: Required value",
    ),
    ("", "serviceaccounts"): (
        {"metadata": {"namespace": "default"}},
        "metadata.name: Required value: name or generateName is required",
    ),
    ("", "nodes"): (
        {"metadata": meta("node-1", None), "spec": {"taints": [{"key": "gpu", "effect": "Sometimes"}]}},
        'metadata.taints[0].effect: Unsupported value: "Sometimes": supported values: "NoSchedule", '
        '"PreferNoSchedule", "NoExecute"',
    ),
    ("", "events"): (
        {"metadata": meta("e1"), "involvedObject": {"kind": "Pod", "name": "web", "namespace": "other"}},
        'involvedObject.namespace: Invalid value: "other": does not match event.namespace',
    ),
    ("", "persistentvolumes"): (
        {"metadata": meta("pv1", None), "spec": {"capacity": {"storage": "1Gi"}, "accessModes": ["ReadWriteOnce"]}},
        "spec: Required value: must specify a volume type",
    ),
    ("", "persistentvolumeclaims"): (
        {"metadata": meta("data"), "spec": {"accessModes": ["ReadWriteOnce"]}},
        "spec.resources[storage]: Required value",
    ),
    ("", "resourcequotas"): (
        {"metadata": meta("q"), "spec": {"hard": {"pods": "-1"}}},
        'spec.hard[pods]: Invalid value: "-1": must be greater than or equal to 0',
    ),
    ("", "limitranges"): (
        {"metadata": meta("lr"), "spec": {"limits": [{"type": "Pod", "max": {"cpu": "1"}, "min": {"cpu": "2"}}]}},
        'spec.limits[0].min[cpu]: Invalid value: "2": min value 2 is greater than max value 1',
    ),
    ("", "podtemplates"): (
        {"metadata": meta("t"), "template": {"spec": {"containers": [{"name": "web"}]}}},
        "template.spec.containers[0].image: Required value",
    ),
    ("", "replicationcontrollers"): (
        {"metadata": meta("rc"), "spec": {"selector": {"app": "db"}, "template": TEMPLATE}},
        'spec.template.metadata.labels: Invalid value: map[string]string{"app":"web"}: `selector` does not match '
        "template `labels`",
    ),
    ("apps", "deployments"): (
        {"metadata": meta("web"), "spec": {"selector": {"matchLabels": {"app": "x"}}, "template": TEMPLATE}},
        'spec.template.metadata.labels: Invalid value: map[string]string{"app":"web"}: `selector` does not match '
        "template `labels`",
    ),
    ("apps", "replicasets"): (
        {"metadata": meta("web"), "spec": {"template": TEMPLATE}},
        "spec.selector: Required value",
    ),
    ("apps", "statefulsets"): (
        {"metadata": meta("db"), "spec": {"selector": SEL, "template": TEMPLATE, "podManagementPolicy": "Random"}},
        "spec.podManagementPolicy: Invalid value: \"Random\": must be 'OrderedReady' or 'Parallel'",
    ),
    ("apps", "daemonsets"): (
        {"metadata": meta("agent"), "spec": {"selector": {}, "template": TEMPLATE}},
        "spec.selector: Invalid value: v1.LabelSelector{MatchLabels:map[string]string(nil), "
        "MatchExpressions:[]v1.LabelSelectorRequirement(nil)}: empty selector is invalid for daemonset",
    ),
    ("apps", "controllerrevisions"): (
        {"metadata": meta("web-1"), "revision": 1},
        "data: Required value: data is mandatory",
    ),
    ("batch", "jobs"): (
        {"metadata": {**meta("pi"), "uid": JOB_UID}, "spec": {"template": {"spec": POD_SPEC}}},
        'spec.template.spec.restartPolicy: Required value: valid values: "OnFailure", "Never"',
    ),
    ("batch", "cronjobs"): (
        {
            "metadata": meta("tick"),
            "spec": {
                "schedule": "61 * * * *",
                "jobTemplate": {"spec": {"template": {"spec": {**POD_SPEC, "restartPolicy": "OnFailure"}}}},
            },
        },
        'spec.schedule: Invalid value: "61 * * * *": end of range (61) above maximum (59): 61',
    ),
    ("autoscaling", "horizontalpodautoscalers"): (
        {"metadata": meta("web"), "spec": {"scaleTargetRef": HPA_TARGET, "minReplicas": 3, "maxReplicas": 2}},
        "spec.maxReplicas: Invalid value: 2: must be greater than or equal to `minReplicas`",
    ),
    ("coordination.k8s.io", "leases"): (
        {"metadata": meta("lock"), "spec": {"leaseDurationSeconds": 0}},
        "spec.leaseDurationSeconds: Invalid value: 0: must be greater than 0",
    ),
    ("rbac.authorization.k8s.io", "roles"): (
        {"metadata": meta("r"), "rules": [{"apiGroups": [""], "resources": ["pods"]}]},
        "rules[0].verbs: Required value: verbs must contain at least one value",
    ),
    ("rbac.authorization.k8s.io", "clusterroles"): (
        {"metadata": meta("r", None), "rules": [{"verbs": ["get"], "nonResourceURLs": ["/x"], "resources": ["pods"]}]},
        'rules[0].nonResourceURLs: Invalid value: []string{"/x"}: rules cannot apply to both regular resources and '
        "non-resource URLs",
    ),
    ("rbac.authorization.k8s.io", "rolebindings"): (
        {"metadata": meta("rb"), "roleRef": {"kind": "Secret", "name": "x"}},
        'roleRef.kind: Unsupported value: "Secret": supported values: "Role", "ClusterRole"',
    ),
    ("rbac.authorization.k8s.io", "clusterrolebindings"): (
        {
            "metadata": meta("crb", None),
            "roleRef": {"kind": "ClusterRole", "name": "x"},
            "subjects": [{"kind": "ServiceAccount", "name": "default"}],
        },
        "subjects[0].namespace: Required value",
    ),
    ("policy", "poddisruptionbudgets"): (
        {"metadata": meta("pdb"), "spec": {"minAvailable": 1, "maxUnavailable": 1}},
        'spec: Invalid value: {"maxUnavailable":1,"minAvailable":1}: minAvailable and '
        "maxUnavailable cannot be both set",
    ),
    ("networking.k8s.io", "ingresses"): (
        {
            "metadata": meta("web"),
            "spec": {
                "rules": [
                    {
                        "http": {
                            "paths": [{"path": "/", "backend": {"service": {"name": "web", "port": {"number": 80}}}}]
                        }
                    }
                ]
            },
        },
        "spec.rules[0].http.paths[0].pathType: Required value: pathType must be specified",
    ),
    ("networking.k8s.io", "ingressclasses"): (
        {"metadata": meta("nginx", None), "spec": {"controller": "nginx"}},
        'spec.controller: Invalid value: "nginx": must be a domain-prefixed path (such as "acme.io/foo")',
    ),
    ("networking.k8s.io", "networkpolicies"): (
        {"metadata": meta("np"), "spec": {"podSelector": {}, "ingress": [{"from": [{}]}]}},
        "spec.ingress[0].from[0]: Required value: must specify a peer",
    ),
    ("storage.k8s.io", "storageclasses"): ({"metadata": meta("fast", None)}, "provisioner: Required value"),
    ("discovery.k8s.io", "endpointslices"): (
        {"metadata": meta("s"), "addressType": "IPX", "endpoints": []},
        'addressType: Unsupported value: "IPX": supported values: "FQDN", "IPv4", "IPv6"',
    ),
    ("scheduling.k8s.io", "priorityclasses"): (
        {"metadata": meta("high", None), "value": 2000000000},
        "value: Forbidden: maximum allowed value of a user defined priority is 1000000000",
    ),
    ("certificates.k8s.io", "certificatesigningrequests"): (
        {
            "metadata": meta("c", None),
            "spec": {"request": "Zm9v", "signerName": "kubernetes.io/kube-apiserver-client", "usages": ["client auth"]},
        },
        'spec.request: Invalid value: "Zm9v": PEM block type must be CERTIFICATE REQUEST',
    ),
    ("apiextensions.k8s.io", "customresourcedefinitions"): (
        {"metadata": meta("gadgets.example.com", None), "spec": CRD_SPEC},
        'metadata.name: Invalid value: "gadgets.example.com": must be spec.names.plural+"."+spec.group',
    ),
}

STORED = [rt for rt in builtin_resources() if rt.stored]
STORED_BY_KEY = {(rt.group, rt.resource): rt for rt in STORED}
KEYS = sorted(STORED_BY_KEY)


def created(rt: ResourceType, body: dict[str, Any]) -> tuple[Strategy, dict[str, Any]]:
    """What the REST layer does on create: default, prepare, (validate is left to the test)."""
    strategy = strategy_for(rt)
    obj = copy.deepcopy(body)
    obj.setdefault("apiVersion", rt.api_version)
    obj.setdefault("kind", rt.kind)
    strategy.default(obj)
    strategy.prepare_for_create(obj)
    return strategy, obj


def messages(errors: list[Any]) -> list[str]:
    return [str(e) for e in errors]


def test_every_stored_builtin_resource_has_its_own_strategy() -> None:
    assert {(rt.group, rt.resource) for rt in STORED} == set(STRATEGIES)
    assert set(VALID) == set(STRATEGIES) == set(INVALID)


def test_unknown_builtin_resources_get_the_metadata_only_strategy() -> None:
    unknown = ResourceType("example.com", "v1", "widgets", "Widget", True)
    strategy = strategy_for(unknown)
    assert type(strategy) is Strategy
    assert messages(strategy.validate({"metadata": {"namespace": "default"}})) == [
        "metadata.name: Required value: name or generateName is required"
    ]


def test_custom_resources_get_the_schema_validating_strategy() -> None:
    from kubeprov.apiserver.crd.strategy import CustomResourceStrategy

    custom = ResourceType("example.com", "v1", "widgets", "Widget", True, custom=True)
    assert type(strategy_for(custom)) is CustomResourceStrategy


@pytest.mark.parametrize("key", KEYS, ids=lambda k: k[1] if not k[0] else f"{k[1]}.{k[0]}")
def test_a_typical_object_is_valid(key: tuple[str, str]) -> None:
    strategy, obj = created(STORED_BY_KEY[key], VALID[key])
    assert messages(strategy.validate(obj)) == []


@pytest.mark.parametrize("key", KEYS, ids=lambda k: k[1] if not k[0] else f"{k[1]}.{k[0]}")
def test_a_broken_object_is_rejected_with_the_kubernetes_message(key: tuple[str, str]) -> None:
    body, expected = INVALID[key]
    strategy, obj = created(STORED_BY_KEY[key], body)
    assert expected in messages(strategy.validate(obj))


@pytest.mark.parametrize("key", KEYS, ids=lambda k: k[1] if not k[0] else f"{k[1]}.{k[0]}")
def test_resubmitting_a_stored_object_unchanged_is_a_valid_update(key: tuple[str, str]) -> None:
    strategy, old = created(STORED_BY_KEY[key], VALID[key])
    new = copy.deepcopy(old)
    strategy.default(new)
    strategy.prepare_for_update(new, old)
    assert messages(strategy.validate_update(new, old)) == []
    assert new.get("metadata", {}).get("generation") == old.get("metadata", {}).get("generation")


# --------------------------------------------------------------------------- robustness

JSON_SCALARS = (
    st.none() | st.booleans() | st.integers(-(2**40), 2**40) | st.floats(allow_nan=False) | st.text(max_size=8)
)
JSON = st.recursive(
    JSON_SCALARS,
    lambda inner: st.lists(inner, max_size=3) | st.dictionaries(st.text(max_size=8), inner, max_size=4),
    max_leaves=12,
)
FIELD_NAMES = st.sampled_from(
    [
        "metadata",
        "spec",
        "status",
        "containers",
        "template",
        "selector",
        "ports",
        "name",
        "image",
        "data",
        "labels",
        "rules",
        "volumes",
        "replicas",
        "type",
        "items",
        "env",
        "resources",
        "limits",
        "requests",
    ]
)


def _paths(value: Any, prefix: tuple[Any, ...] = ()) -> list[tuple[Any, ...]]:
    out = [prefix]
    if isinstance(value, dict):
        for k, v in value.items():
            out.extend(_paths(v, (*prefix, k)))
    elif isinstance(value, list):
        for i, v in enumerate(value):
            out.extend(_paths(v, (*prefix, i)))
    return out


def _replace(obj: Any, path: tuple[Any, ...], value: Any) -> Any:
    if not path:
        return value
    obj[path[0]] = _replace(obj[path[0]], path[1:], value)
    return obj


def _exercise(rt: ResourceType, obj: Any, old: dict[str, Any]) -> None:
    """Run every hook; none may raise, the unguarded checks included."""
    strategy = strategy_for(rt)
    if not isinstance(obj, dict):
        assert strategy.validate(obj)
        return
    strategy.default(obj)
    strategy.prepare_for_create(obj)
    strategy.check_create(obj)
    strategy.validate(obj)
    strategy.warnings(obj)
    new = copy.deepcopy(obj)
    strategy.prepare_for_update(new, old)
    strategy.check_update(new, old)
    status = copy.deepcopy(obj)
    strategy.prepare_for_status_update(status, old)
    strategy.check_status_update(status, old)
    if strategy.has_scale:
        strategy.to_scale(obj)
        strategy.apply_scale(copy.deepcopy(obj), {"spec": {"replicas": obj.get("spec")}})


@settings(max_examples=150, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(key=st.sampled_from(KEYS), body=st.dictionaries(FIELD_NAMES, JSON, max_size=5))
def test_arbitrary_json_never_raises(key: tuple[str, str], body: dict[str, Any]) -> None:
    _, old = created(STORED_BY_KEY[key], VALID[key])
    _exercise(STORED_BY_KEY[key], body, old)


@settings(max_examples=300, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(key=st.sampled_from(KEYS), data=st.data())
def test_a_valid_object_with_any_part_replaced_never_raises(key: tuple[str, str], data: st.DataObject) -> None:
    rt = STORED_BY_KEY[key]
    _, old = created(rt, VALID[key])
    obj = copy.deepcopy(old)
    path = data.draw(st.sampled_from(_paths(obj)[1:]))
    obj = _replace(obj, path, data.draw(JSON))
    _exercise(rt, obj, old)
