"""Fuzzing the create endpoints: whatever JSON-ish body arrives, the answer is never a 5xx.

Bodies are built from plausible keys (apiVersion, kind, metadata with name/labels/..., spec
fields of the resource) holding values of random types, plus some undecodable bytes. A 4xx
must be a ``Status`` carrying the same code; a 201 is the created object.
"""

from __future__ import annotations

import json
from typing import Any

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from tests.integration.apiserver_fixture import ApiServerForTest
from tests.integration.certs import RawClient

pytestmark = [pytest.mark.integration, pytest.mark.timeout(120)]

# ---- value strategies --------------------------------------------------------------------------

scalars = st.one_of(st.none(), st.booleans(), st.integers(min_value=-(2**63), max_value=2**64),
                    st.floats(allow_nan=False, allow_infinity=False), st.text(max_size=12),
                    st.sampled_from(["", "0", "-1", "1.5", "true", "null", "25%", "100Mi", "a" * 300]))
any_json = st.recursive(scalars, lambda inner: st.lists(inner, max_size=3)
                        | st.dictionaries(st.text(max_size=8), inner, max_size=3), max_leaves=8)

names = st.one_of(st.sampled_from(["web", "a", "x-1", "a.b", "My_Pod", "-bad", "bad-", "", "a" * 64, "a" * 254,
                                   "default", "kube-system", "ünï", "a/b", "..", "1abc"]),
                  st.text(max_size=20))
label_keys = st.one_of(st.sampled_from(["app", "tier", "example.com/team", "a/b/c", "", "-x", "k" * 64,
                                        "kubernetes.io/x"]), st.text(max_size=10))
label_maps = st.dictionaries(label_keys, st.one_of(st.text(max_size=10), any_json), max_size=3)
string_maps = st.dictionaries(st.text(max_size=10), st.text(max_size=10), max_size=3)


def maybe(strategy: st.SearchStrategy) -> st.SearchStrategy:
    """The plausible value, or a value of any type in its place."""
    return st.one_of(strategy, strategy, any_json)


def some(**fields: st.SearchStrategy) -> st.SearchStrategy:
    return st.fixed_dictionaries({}, optional={k: maybe(v) for k, v in fields.items()})


metadata = some(name=names, generateName=names, namespace=names, labels=label_maps, annotations=label_maps,
                finalizers=st.lists(st.text(max_size=15), max_size=2), resourceVersion=st.text(max_size=5),
                uid=st.text(max_size=10), ownerReferences=st.lists(some(apiVersion=st.text(max_size=5),
                                                                        kind=st.text(max_size=5), name=names,
                                                                        uid=st.text(max_size=5)), max_size=2),
                deletionTimestamp=st.text(max_size=25), creationTimestamp=st.text(max_size=25),
                generation=st.integers(), managedFields=st.lists(any_json, max_size=2))

quantities = st.sampled_from(["100m", "1", "1Gi", "0.5", "-1", "1e3", "abc", "", "1Ei", "999999999999999999Ti"])
ports = st.integers(min_value=-5, max_value=70000)
container = some(name=names, image=st.sampled_from(["nginx", "", "nginx:1.27", " bad "]),
                 ports=st.lists(some(containerPort=ports, protocol=st.sampled_from(["TCP", "UDP", "SCTP", "X"]),
                                     name=names, hostPort=ports), max_size=2),
                 env=st.lists(some(name=st.text(max_size=8), value=st.text(max_size=8),
                                   valueFrom=some(secretKeyRef=some(name=names, key=st.text(max_size=5)))),
                              max_size=2),
                 resources=some(limits=st.dictionaries(st.sampled_from(["cpu", "memory", "x"]), quantities,
                                                       max_size=2),
                                requests=st.dictionaries(st.sampled_from(["cpu", "memory"]), quantities,
                                                         max_size=2)),
                 volumeMounts=st.lists(some(name=names, mountPath=st.text(max_size=8)), max_size=2),
                 command=st.lists(st.text(max_size=5), max_size=2), imagePullPolicy=st.text(max_size=8))
pod_spec = some(containers=st.lists(container, max_size=2), initContainers=st.lists(container, max_size=1),
                volumes=st.lists(some(name=names, secret=some(secretName=names), emptyDir=some(medium=st.text()),
                                      configMap=some(name=names)), max_size=2),
                restartPolicy=st.sampled_from(["Always", "Never", "OnFailure", "Sometimes"]), nodeName=names,
                serviceAccountName=names, terminationGracePeriodSeconds=st.integers(),
                securityContext=some(runAsUser=st.integers(), fsGroup=st.integers()),
                tolerations=st.lists(some(key=st.text(max_size=5), operator=st.text(max_size=6)), max_size=1),
                affinity=any_json, dnsPolicy=st.text(max_size=12), hostNetwork=st.booleans())
template = some(metadata=metadata, spec=pod_spec)
selector = some(matchLabels=label_maps, matchExpressions=st.lists(
    some(key=label_keys, operator=st.sampled_from(["In", "NotIn", "Exists", "DoesNotExist", "Bad"]),
         values=st.lists(st.text(max_size=5), max_size=2)), max_size=2))

SPECS: dict[str, st.SearchStrategy] = {
    "pods": pod_spec,
    "services": some(type=st.sampled_from(["ClusterIP", "NodePort", "LoadBalancer", "ExternalName", "Other"]),
                     ports=st.lists(some(port=ports, targetPort=st.one_of(ports, names), nodePort=ports,
                                         protocol=st.sampled_from(["TCP", "UDP", "X"]), name=names), max_size=3),
                     selector=label_maps, clusterIP=st.sampled_from(["None", "", "10.96.0.50", "1.2.3.4", "x"]),
                     clusterIPs=st.lists(st.text(max_size=12), max_size=2), externalName=names,
                     sessionAffinity=st.text(max_size=10), ipFamilies=st.lists(st.text(max_size=5), max_size=2),
                     externalTrafficPolicy=st.text(max_size=8)),
    "deployments": some(replicas=st.integers(), selector=selector, template=template,
                        strategy=some(type=st.sampled_from(["Recreate", "RollingUpdate", "Other"]),
                                      rollingUpdate=some(maxSurge=st.one_of(ports, quantities),
                                                         maxUnavailable=st.one_of(ports, quantities))),
                        minReadySeconds=st.integers(), paused=st.booleans(),
                        revisionHistoryLimit=st.integers(), progressDeadlineSeconds=st.integers()),
    "jobs": some(template=template, selector=selector, parallelism=st.integers(), completions=st.integers(),
                 backoffLimit=st.integers(), activeDeadlineSeconds=st.integers(), manualSelector=st.booleans(),
                 completionMode=st.sampled_from(["NonIndexed", "Indexed", "X"]), suspend=st.booleans(),
                 ttlSecondsAfterFinished=st.integers()),
    "namespaces": some(finalizers=st.lists(st.text(max_size=12), max_size=2)),
    "configmaps": any_json,
    "secrets": any_json,
    "roles": any_json,
}

TOP_LEVEL: dict[str, dict[str, st.SearchStrategy]] = {
    "configmaps": {"data": string_maps, "binaryData": string_maps, "immutable": st.booleans()},
    "secrets": {"data": st.dictionaries(st.text(max_size=8), st.sampled_from(["YQ==", "!!", "", "YWJj"]),
                                        max_size=2),
                "stringData": string_maps,
                "type": st.sampled_from(["Opaque", "kubernetes.io/tls", "kubernetes.io/dockerconfigjson",
                                         "kubernetes.io/service-account-token", "bootstrap.kubernetes.io/token",
                                         "x"]),
                "immutable": st.booleans()},
    "roles": {"rules": st.lists(some(verbs=st.lists(st.sampled_from(["get", "list", "*", ""]), max_size=2),
                                     apiGroups=st.lists(st.sampled_from(["", "apps", "*"]), max_size=2),
                                     resources=st.lists(st.sampled_from(["pods", "*", "pods/log"]), max_size=2),
                                     resourceNames=st.lists(names, max_size=1),
                                     nonResourceURLs=st.lists(st.sampled_from(["/x", "*"]), max_size=1)),
                                max_size=3)},
}

RESOURCES = {  # resource: (collection path template, apiVersion, kind)
    "pods": ("/api/v1/namespaces/{ns}/pods", "v1", "Pod"),
    "services": ("/api/v1/namespaces/{ns}/services", "v1", "Service"),
    "configmaps": ("/api/v1/namespaces/{ns}/configmaps", "v1", "ConfigMap"),
    "secrets": ("/api/v1/namespaces/{ns}/secrets", "v1", "Secret"),
    "deployments": ("/apis/apps/v1/namespaces/{ns}/deployments", "apps/v1", "Deployment"),
    "jobs": ("/apis/batch/v1/namespaces/{ns}/jobs", "batch/v1", "Job"),
    "namespaces": ("/api/v1/namespaces", "v1", "Namespace"),
    "roles": ("/apis/rbac.authorization.k8s.io/v1/namespaces/{ns}/roles", "rbac.authorization.k8s.io/v1", "Role"),
}


def bodies(resource: str) -> st.SearchStrategy[bytes]:
    _, api_version, kind = RESOURCES[resource]
    fields = {
        "apiVersion": st.sampled_from([api_version, api_version, "v1", "apps/v1", "v2", ""]),
        "kind": st.sampled_from([kind, kind, "Pod", "Status", "List", ""]),
        "metadata": metadata,
        "spec": SPECS[resource],
        "status": any_json,
        **TOP_LEVEL.get(resource, {}),
    }
    rest = {k: maybe(v) for k, v in fields.items() if k not in ("apiVersion", "kind")}
    well_typed = st.fixed_dictionaries({"apiVersion": st.just(api_version), "kind": st.just(kind)}, optional=rest)
    documents = well_typed | well_typed | st.fixed_dictionaries({}, optional={k: maybe(v) for k, v in fields.items()})
    encoded = documents.map(lambda d: json.dumps(d).encode())
    return st.one_of(encoded, encoded, encoded, any_json.map(lambda v: json.dumps(v).encode()),
                     st.binary(max_size=64))


@pytest.fixture(scope="module")
def fuzz_ns(apiserver: ApiServerForTest) -> str:
    ns = apiserver.namespace("fuzz")
    made = apiserver.kubectl("create", "serviceaccount", "default", "-n", ns)
    assert made.returncode == 0 or "AlreadyExists" in made.stderr, made.stderr
    return ns


@pytest.fixture(scope="module")
def fuzz_client(apiserver: ApiServerForTest) -> RawClient:
    return RawClient(apiserver.kubeconfig)


@pytest.mark.parametrize("resource", sorted(RESOURCES))
def test_create_never_answers_5xx(fuzz_client: RawClient, fuzz_ns: str, resource: str) -> None:
    path = RESOURCES[resource][0].format(ns=fuzz_ns)

    @settings(max_examples=100, deadline=None, derandomize=True, database=None,
              suppress_health_check=[HealthCheck.too_slow, HealthCheck.data_too_large, HealthCheck.filter_too_much])
    @given(body=bodies(resource))
    def post(body: bytes) -> None:
        resp = fuzz_client.post(path, body)
        assert resp.status < 500, f"POST {path} {body[:400]!r} -> {resp}"
        assert resp.status in (200, 201) or 400 <= resp.status < 500, resp
        doc: Any = resp.json()
        if resp.status >= 400:
            assert (doc.get("kind"), doc.get("status"), doc.get("code")) == ("Status", "Failure", resp.status), doc
            assert doc.get("reason"), doc
        else:
            assert doc["metadata"]["uid"] and doc["metadata"]["resourceVersion"], doc

    post()
    assert fuzz_client.get("/readyz").status == 200
