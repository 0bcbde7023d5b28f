"""NamespaceLifecycle: missing and terminating namespaces, and the namespaces that cannot go."""

from __future__ import annotations

import pytest

from kubeprov.api.status import StatusError
from tests.unit.test_admission_fakes import Cluster, create, pod

PLUGINS = ["NamespaceLifecycle"]


async def test_create_in_a_missing_namespace_is_not_found():
    cluster = Cluster()
    with pytest.raises(StatusError) as err:
        await create(cluster, cluster.admission(PLUGINS), pod(namespace="nowhere"), "pods")
    assert err.value.status == {
        "kind": "Status", "apiVersion": "v1", "metadata": {}, "status": "Failure",
        "message": 'namespaces "nowhere" not found', "reason": "NotFound",
        "details": {"name": "nowhere", "kind": "namespaces"}, "code": 404}


async def test_a_namespace_the_cache_has_not_seen_yet_is_found_in_etcd():
    cluster = Cluster()
    cluster.namespace("team", cached=False)
    await create(cluster, cluster.admission(PLUGINS), pod(), "pods")


async def test_create_in_a_terminating_namespace_is_forbidden_with_the_namespace_cause():
    cluster = Cluster()
    cluster.namespace("team", phase="Terminating")
    with pytest.raises(StatusError) as err:
        await create(cluster, cluster.admission(PLUGINS), pod(), "pods")
    assert err.value.status == {
        "kind": "Status", "apiVersion": "v1", "metadata": {}, "status": "Failure",
        "message": 'pods "web" is forbidden: unable to create new content in namespace team because it is being '
                   "terminated",
        "reason": "Forbidden",
        "details": {"name": "web", "kind": "pods", "causes": [
            {"reason": "NamespaceTerminating", "message": "namespace team is being terminated",
             "field": "metadata.namespace"}]},
        "code": 403}


async def test_a_generated_name_is_reported_by_its_prefix():
    cluster = Cluster()
    cluster.namespace("team", phase="Terminating")
    obj = pod()
    obj["metadata"] = {"generateName": "web-", "namespace": "team"}
    with pytest.raises(StatusError) as err:
        await create(cluster, cluster.admission(PLUGINS), obj, "pods")
    assert err.value.message.startswith('pods "web-" is forbidden: unable to create new content')


async def test_updates_in_a_terminating_namespace_are_allowed():
    cluster = Cluster()
    cluster.namespace("team", phase="Terminating")
    call = cluster.call("pods", "team", "web", verb="update")
    await cluster.admission(PLUGINS).validate(call, pod(), pod())


async def test_group_resources_are_named_with_their_group():
    cluster = Cluster()
    cluster.namespace("team", phase="Terminating")
    deployment = {"metadata": {"name": "web", "namespace": "team"}, "spec": {}}
    with pytest.raises(StatusError) as err:
        await create(cluster, cluster.admission(PLUGINS), deployment, "deployments", group="apps")
    assert err.value.status["details"]["kind"] == "deployments"
    assert err.value.status["details"]["group"] == "apps"
    assert err.value.message.startswith('deployments.apps "web" is forbidden:')


async def test_cluster_scoped_objects_need_no_namespace():
    cluster = Cluster()
    node = {"metadata": {"name": "n1"}}
    await create(cluster, cluster.admission(PLUGINS), node, "nodes")


async def test_creating_a_namespace_needs_no_namespace():
    cluster = Cluster()
    await create(cluster, cluster.admission(PLUGINS), {"metadata": {"name": "team"}}, "namespaces")


@pytest.mark.parametrize("name", ["default", "kube-system", "kube-public"])
async def test_the_system_namespaces_cannot_be_deleted(name):
    cluster = Cluster()
    ns = cluster.namespace(name)
    with pytest.raises(StatusError) as err:
        await cluster.admission(PLUGINS).validate_delete(cluster.call("namespaces", name, name, verb="delete"), ns)
    assert err.value.status == {
        "kind": "Status", "apiVersion": "v1", "metadata": {}, "status": "Failure",
        "message": f'namespaces "{name}" is forbidden: this namespace may not be deleted', "reason": "Forbidden",
        "details": {"name": name, "kind": "namespaces"}, "code": 403}


async def test_other_namespaces_can_be_deleted_and_then_take_no_new_content_even_if_the_cache_lags():
    cluster = Cluster()
    ns = cluster.namespace("team")
    admission = cluster.admission(PLUGINS)
    await admission.validate_delete(cluster.call("namespaces", "team", "team", verb="delete"), ns)
    # etcd says Terminating, the cache still says Active
    cluster.store.data["/registry/core/namespaces/team"]["status"]["phase"] = "Terminating"
    with pytest.raises(StatusError) as err:
        await create(cluster, admission, pod(), "pods")
    assert err.value.code == 403


async def test_deleting_objects_in_a_missing_namespace_is_not_checked():
    cluster = Cluster()
    await cluster.admission(PLUGINS).validate_delete(cluster.call("pods", "gone", "web", verb="delete"), pod())
