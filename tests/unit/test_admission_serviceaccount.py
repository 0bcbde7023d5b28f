"""ServiceAccount: the pod's account, its token volume, pull secrets and mirror pods."""

from __future__ import annotations

import re

import pytest

from kubeprov.api.status import StatusError
from kubeprov.apiserver.admission.serviceaccount import ServiceAccount
from tests.unit.test_admission_fakes import Cluster, container, create, pod

PLUGINS = ["ServiceAccount"]
MOUNT = "/var/run/secrets/kubernetes.io/serviceaccount"


@pytest.fixture(autouse=True)
def quick_retries(monkeypatch):
    monkeypatch.setattr(ServiceAccount, "retry_interval", (0.0, 0.0))


async def test_a_pod_without_an_account_runs_as_default_with_the_projected_token_volume():
    cluster = Cluster()
    cluster.service_account("team")
    obj = pod()
    await create(cluster, cluster.admission(PLUGINS), obj, "pods")
    spec = obj["spec"]
    assert (spec["serviceAccountName"], spec["serviceAccount"]) == ("default", "default")
    [volume] = spec["volumes"]
    assert re.fullmatch(r"kube-api-access-[bcdfghjklmnpqrstvwxz2456789]{5}", volume["name"])
    assert volume["projected"] == {
        "sources": [
            {"serviceAccountToken": {"expirationSeconds": 3607, "path": "token"}},
            {"configMap": {"name": "kube-root-ca.crt", "items": [{"key": "ca.crt", "path": "ca.crt"}]}},
            {"downwardAPI": {"items": [
                {"path": "namespace", "fieldRef": {"apiVersion": "v1", "fieldPath": "metadata.namespace"}}]}},
        ],
        "defaultMode": 420,
    }
    assert spec["containers"][0]["volumeMounts"] == [{"name": volume["name"], "readOnly": True, "mountPath": MOUNT}]


async def test_every_container_and_init_container_mounts_the_token():
    cluster = Cluster()
    cluster.service_account("team")
    obj = pod("web", "team", container("a"), container("b"), initContainers=[container("setup")])
    await create(cluster, cluster.admission(PLUGINS), obj, "pods")
    name = obj["spec"]["volumes"][0]["name"]
    for c in obj["spec"]["containers"] + obj["spec"]["initContainers"]:
        assert c["volumeMounts"] == [{"name": name, "readOnly": True, "mountPath": MOUNT}]


async def test_a_container_with_something_at_the_mount_path_keeps_it():
    cluster = Cluster()
    cluster.service_account("team")
    own = {"name": "mine", "mountPath": MOUNT}
    obj = pod("web", "team", container("a", volumeMounts=[own]), container("b"))
    await create(cluster, cluster.admission(PLUGINS), obj, "pods")
    assert obj["spec"]["containers"][0]["volumeMounts"] == [own]
    assert obj["spec"]["containers"][1]["volumeMounts"][0]["mountPath"] == MOUNT


async def test_an_existing_token_volume_is_reused():
    cluster = Cluster()
    cluster.service_account("team")
    volume = {"name": "kube-api-access-abcde", "projected": {"sources": []}}
    obj = pod("web", "team", container("web"), volumes=[volume])
    await create(cluster, cluster.admission(PLUGINS), obj, "pods")
    assert obj["spec"]["volumes"] == [volume]
    assert obj["spec"]["containers"][0]["volumeMounts"][0]["name"] == "kube-api-access-abcde"


@pytest.mark.parametrize(("pod_choice", "account_choice", "mounted"), [
    (False, None, False), (None, False, False), (True, False, True), (None, None, True), (False, True, False)])
async def test_automounting_follows_the_pod_then_the_account(pod_choice, account_choice, mounted):
    cluster = Cluster()
    fields = {} if account_choice is None else {"automountServiceAccountToken": account_choice}
    cluster.service_account("team", **fields)
    obj = pod() if pod_choice is None else pod(automountServiceAccountToken=pod_choice)
    await create(cluster, cluster.admission(PLUGINS), obj, "pods")
    assert ("volumes" in obj["spec"]) is mounted
    assert ("volumeMounts" in obj["spec"]["containers"][0]) is mounted


async def test_a_named_account_that_does_not_exist_is_forbidden():
    cluster = Cluster()
    with pytest.raises(StatusError) as err:
        await create(cluster, cluster.admission(PLUGINS), pod("x", serviceAccountName="sa"), "pods")
    assert err.value.status == {
        "kind": "Status", "apiVersion": "v1", "metadata": {}, "status": "Failure",
        "message": 'pods "x" is forbidden: error looking up service account team/sa: serviceaccount "sa" not found',
        "reason": "Forbidden", "details": {"name": "x", "kind": "pods"}, "code": 403}


async def test_the_default_account_is_looked_up_again_while_its_controller_makes_it():
    cluster = Cluster()
    lookups = cluster.store.client.gets
    with pytest.raises(StatusError) as err:
        await create(cluster, cluster.admission(PLUGINS), pod(), "pods")
    assert err.value.message == (
        'pods "web" is forbidden: error looking up service account team/default: serviceaccount "default" not found')
    assert lookups.count("/registry/core/serviceaccounts/team/default") >= 10


async def test_an_account_only_etcd_has_seen_is_found():
    cluster = Cluster()
    cluster.add({"metadata": {"name": "builder", "namespace": "team"}}, "serviceaccounts", cached=False)
    obj = pod(serviceAccountName="builder")
    await create(cluster, cluster.admission(PLUGINS), obj, "pods")
    assert obj["spec"]["serviceAccountName"] == "builder"


async def test_the_deprecated_service_account_field_names_the_account():
    cluster = Cluster()
    cluster.service_account("team", "builder")
    obj = pod(serviceAccount="builder")
    await create(cluster, cluster.admission(PLUGINS), obj, "pods")
    assert obj["spec"]["serviceAccountName"] == "builder"


async def test_the_accounts_image_pull_secrets_are_added_unless_the_pod_has_some():
    cluster = Cluster()
    cluster.service_account("team", imagePullSecrets=[{"name": "registry"}])
    obj = pod()
    await create(cluster, cluster.admission(PLUGINS), obj, "pods")
    assert obj["spec"]["imagePullSecrets"] == [{"name": "registry"}]
    own = pod(imagePullSecrets=[{"name": "mine"}])
    await create(cluster, cluster.admission(PLUGINS), own, "pods")
    assert own["spec"]["imagePullSecrets"] == [{"name": "mine"}]


async def test_mirror_pods_are_left_alone():
    cluster = Cluster()  # no account needed
    obj = pod()
    obj["metadata"]["annotations"] = {"kubernetes.io/config.mirror": "abc"}
    await create(cluster, cluster.admission(PLUGINS), obj, "pods")
    assert "serviceAccountName" not in obj["spec"] and "volumes" not in obj["spec"]


@pytest.mark.parametrize(("spec", "message"), [
    ({"serviceAccountName": "default"}, "a mirror pod may not reference service accounts"),
    ({"volumes": [{"name": "s", "secret": {"secretName": "s"}}]}, "a mirror pod may not reference secrets"),
    ({"volumes": [{"name": "t", "projected": {"sources": [{"serviceAccountToken": {"path": "t"}}]}}]},
     "a mirror pod may not use ServiceAccountToken volume projections"),
])
async def test_mirror_pods_may_not_use_accounts_or_secrets(spec, message):
    cluster = Cluster()
    obj = pod(**spec)
    obj["metadata"]["annotations"] = {"kubernetes.io/config.mirror": "abc"}
    with pytest.raises(StatusError) as err:
        await create(cluster, cluster.admission(PLUGINS), obj, "pods")
    assert err.value.message == f'pods "web" is forbidden: {message}'


async def test_an_account_enforcing_mountable_secrets_limits_the_pods_secrets():
    cluster = Cluster()
    cluster.service_account("team", metadata={"name": "default", "namespace": "team", "annotations": {
        "kubernetes.io/enforce-mountable-secrets": "true"}}, secrets=[{"name": "allowed"}])
    obj = pod("web", "team", container("web", env=[
        {"name": "TOKEN", "valueFrom": {"secretKeyRef": {"name": "other", "key": "t"}}}]))
    with pytest.raises(StatusError) as err:
        await create(cluster, cluster.admission(PLUGINS), obj, "pods")
    assert err.value.message == (
        'pods "web" is forbidden: container web with envVar TOKEN referencing secret.secretName="other" is not '
        "allowed because service account default does not reference that secret")


async def test_pod_updates_are_not_touched():
    cluster = Cluster()
    call = cluster.call("pods", "team", "web", verb="update")
    obj = pod()
    await cluster.admission(PLUGINS).mutate(call, obj, pod())
    await cluster.admission(PLUGINS).validate(call, obj, pod())
    assert obj == pod()
