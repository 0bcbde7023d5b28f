"""ResourceQuota: refusals past spec.hard, the recorded usage, and concurrent creates."""

from __future__ import annotations

import asyncio

import pytest

from kubeprov.api.status import StatusError
from tests.unit.test_admission_fakes import Cluster, container, create, pod

PLUGINS = ["ResourceQuota"]


def quota(cluster: Cluster, name: str = "q", hard: dict | None = None, used: dict | None = None,
          scopes: list | None = None, **kw) -> None:
    obj = {"apiVersion": "v1", "kind": "ResourceQuota", "metadata": {"name": name, "namespace": "team"},
           "spec": {"hard": hard or {"pods": "2"}}}
    if scopes:
        obj["spec"]["scopes"] = scopes
    if used is not None:
        obj["status"] = {"hard": dict(obj["spec"]["hard"]), "used": used}
    cluster.add(obj, "resourcequotas", **kw)


def status_of(cluster: Cluster, name: str = "q") -> dict:
    return cluster.stored("resourcequotas", "team", name)["status"]


async def test_a_create_past_the_quota_is_forbidden():
    cluster = Cluster()
    quota(cluster, used={"pods": "2"})
    with pytest.raises(StatusError) as err:
        await create(cluster, cluster.admission(PLUGINS), pod("x"), "pods")
    assert err.value.status == {
        "kind": "Status", "apiVersion": "v1", "metadata": {}, "status": "Failure",
        "message": 'pods "x" is forbidden: exceeded quota: q, requested: pods=1, used: pods=2, limited: pods=2',
        "reason": "Forbidden", "details": {"name": "x", "kind": "pods"}, "code": 403}


async def test_an_admitted_create_raises_the_quotas_usage():
    cluster = Cluster()
    quota(cluster, used={"pods": "1"})
    await create(cluster, cluster.admission(PLUGINS), pod(), "pods")
    assert status_of(cluster) == {"hard": {"pods": "2"}, "used": {"pods": "2"}}


async def test_a_quota_without_status_starts_from_the_namespaces_objects():
    cluster = Cluster()
    quota(cluster, hard={"pods": "5", "requests.cpu": "1"})
    cluster.add(pod("a", "team", container("a", requests={"cpu": "250m"})), "pods")
    cluster.add(pod("done", "team", container("d", requests={"cpu": "1"}), ), "pods")
    cluster.stored("pods", "team", "done")["status"] = {"phase": "Succeeded"}
    cluster.cache.resource("", "pods").objects["/registry/core/pods/team/done"]["status"] = {"phase": "Succeeded"}
    await create(cluster, cluster.admission(PLUGINS), pod("b", "team", container("b", requests={"cpu": "500m"})),
                 "pods")
    assert status_of(cluster) == {"hard": {"pods": "5", "requests.cpu": "1"},
                                  "used": {"pods": "2", "requests.cpu": "750m"}}


async def test_compute_usage_is_added_up_and_refused_past_the_limit():
    cluster = Cluster()
    quota(cluster, hard={"requests.memory": "1Gi"}, used={"requests.memory": "768Mi"})
    obj = pod("x", "team", container("web", requests={"memory": "512Mi"}))
    with pytest.raises(StatusError) as err:
        await create(cluster, cluster.admission(PLUGINS), obj, "pods")
    assert err.value.message == ('pods "x" is forbidden: exceeded quota: q, requested: requests.memory=512Mi, '
                                 "used: requests.memory=768Mi, limited: requests.memory=1Gi")


async def test_a_quota_on_cpu_and_memory_requires_every_container_to_say():
    cluster = Cluster()
    quota(cluster, hard={"limits.cpu": "2", "limits.memory": "1Gi", "requests.cpu": "1"}, used={})
    obj = pod("x", "team", container("web", requests={"cpu": "100m"}), container("side", limits={"cpu": "1"}))
    with pytest.raises(StatusError) as err:
        await create(cluster, cluster.admission(PLUGINS), obj, "pods")
    assert err.value.message == (
        'pods "x" is forbidden: failed quota: q: must specify limits.cpu for: web; '
        "must specify limits.memory for: side,web; must specify requests.cpu for: side")


async def test_concurrent_creates_cannot_both_take_the_last_pod():
    cluster = Cluster()
    quota(cluster, used={"pods": "1"})
    admission = cluster.admission(PLUGINS)
    results = await asyncio.gather(create(cluster, admission, pod("a"), "pods"),
                                   create(cluster, admission, pod("b"), "pods"), return_exceptions=True)
    refused = [r for r in results if isinstance(r, StatusError)]
    assert len(refused) == 1 and "exceeded quota: q" in refused[0].message
    assert status_of(cluster)["used"] == {"pods": "2"}


async def test_a_dry_run_is_checked_but_not_recorded():
    cluster = Cluster()
    quota(cluster, used={"pods": "1"})
    await create(cluster, cluster.admission(PLUGINS), pod(), "pods", dry_run=True)
    assert cluster.store.writes == 0
    quota(cluster, used={"pods": "2"})
    with pytest.raises(StatusError):
        await create(cluster, cluster.admission(PLUGINS), pod(), "pods", dry_run=True)


async def test_object_counts_use_the_count_form_and_the_legacy_name():
    cluster = Cluster()
    quota(cluster, hard={"count/configmaps": "1", "configmaps": "5", "count/deployments.apps": "3"}, used={
        "count/configmaps": "0", "configmaps": "0", "count/deployments.apps": "0"})
    admission = cluster.admission(PLUGINS)
    await create(cluster, admission, {"metadata": {"name": "a", "namespace": "team"}}, "configmaps")
    await create(cluster, admission, {"metadata": {"name": "d", "namespace": "team"}, "spec": {}}, "deployments",
                 group="apps")
    assert status_of(cluster)["used"] == {"configmaps": "1", "count/configmaps": "1", "count/deployments.apps": "1"}
    with pytest.raises(StatusError) as err:
        await create(cluster, admission, {"metadata": {"name": "b", "namespace": "team"}}, "configmaps")
    assert err.value.message == ('configmaps "b" is forbidden: exceeded quota: q, requested: count/configmaps=1, '
                                 "used: count/configmaps=1, limited: count/configmaps=1")


async def test_services_count_node_ports_and_load_balancers():
    cluster = Cluster()
    quota(cluster, hard={"services": "5", "services.nodeports": "1", "services.loadbalancers": "1"},
          used={"services": "0", "services.nodeports": "0", "services.loadbalancers": "0"})
    service = {"metadata": {"name": "web", "namespace": "team"},
               "spec": {"type": "LoadBalancer", "ports": [{"port": 80}, {"port": 443}]}}
    with pytest.raises(StatusError) as err:
        await create(cluster, cluster.admission(PLUGINS), service, "services")
    assert err.value.message == ('services "web" is forbidden: exceeded quota: q, requested: services.nodeports=2, '
                                 "used: services.nodeports=0, limited: services.nodeports=1")


async def test_claims_count_their_storage():
    cluster = Cluster()
    quota(cluster, hard={"requests.storage": "10Gi", "persistentvolumeclaims": "3"},
          used={"requests.storage": "2Gi", "persistentvolumeclaims": "1"})
    claim = {"metadata": {"name": "data", "namespace": "team"},
             "spec": {"resources": {"requests": {"storage": "5Gi"}}}}
    await create(cluster, cluster.admission(PLUGINS), claim, "persistentvolumeclaims")
    assert status_of(cluster)["used"] == {"persistentvolumeclaims": "2", "requests.storage": "7Gi"}


async def test_a_scoped_quota_only_counts_the_pods_in_its_scope():
    cluster = Cluster()
    quota(cluster, hard={"pods": "0"}, used={"pods": "0"}, scopes=["BestEffort"])
    admission = cluster.admission(PLUGINS)
    await create(cluster, admission, pod("guaranteed", "team", container("c", requests={"cpu": "1"})), "pods")
    with pytest.raises(StatusError):
        await create(cluster, admission, pod("best-effort"), "pods")


async def test_quotas_of_other_namespaces_and_unrelated_resources_do_not_apply():
    cluster = Cluster()
    quota(cluster, hard={"secrets": "0"}, used={"secrets": "0"})
    await create(cluster, cluster.admission(PLUGINS), pod(), "pods")
    await create(cluster, cluster.admission(PLUGINS), {"metadata": {"name": "c", "namespace": "elsewhere"}},
                 "secrets")
    assert cluster.store.writes == 0


async def test_a_refusal_by_one_quota_gives_back_what_another_took():
    cluster = Cluster()
    quota(cluster, "a", hard={"pods": "10"}, used={"pods": "1"})
    quota(cluster, "b", hard={"pods": "1"}, used={"pods": "1"})
    with pytest.raises(StatusError) as err:
        await create(cluster, cluster.admission(PLUGINS), pod(), "pods")
    assert "exceeded quota: b" in err.value.message
    assert status_of(cluster, "a")["used"] == {"pods": "1"}


async def test_a_service_update_is_charged_only_for_what_it_adds():
    cluster = Cluster()
    quota(cluster, hard={"services.loadbalancers": "1", "services": "9"},
          used={"services.loadbalancers": "0", "services": "1"})
    old = {"metadata": {"name": "web", "namespace": "team", "resourceVersion": "5"}, "spec": {"type": "ClusterIP"}}
    new = {"metadata": {"name": "web", "namespace": "team", "resourceVersion": "5"}, "spec": {"type": "LoadBalancer"}}
    await cluster.admission(PLUGINS).validate(cluster.call("services", "team", "web", verb="update"), new, old)
    assert status_of(cluster)["used"] == {"services": "1", "services.loadbalancers": "1"}
