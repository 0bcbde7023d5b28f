"""DefaultTolerationSeconds: pods get 300 s tolerations for the not-ready and unreachable taints."""

from __future__ import annotations

from kubeprov.apiserver.admission import Admission, admission_settings
from kubeprov.apiserver.admission.defaulttolerationseconds import NOT_READY, UNREACHABLE
from kubeprov.apiserver.config import ApiServerConfig
from tests.unit.test_admission_fakes import Cluster, create, pod

PLUGINS = ["DefaultTolerationSeconds"]


def toleration(key: str, seconds: int = 300) -> dict:
    return {"key": key, "operator": "Exists", "effect": "NoExecute", "tolerationSeconds": seconds}


async def admitted(obj: dict, admission: Admission | None = None, cluster: Cluster | None = None, **kw) -> dict:
    cluster = cluster or Cluster()
    await create(cluster, admission or cluster.admission(PLUGINS), obj, "pods", **kw)
    return obj


async def test_a_pod_without_tolerations_gets_both_defaults_not_ready_first():
    obj = await admitted(pod())
    assert obj["spec"]["tolerations"] == [toleration(NOT_READY), toleration(UNREACHABLE)]


async def test_own_tolerations_are_kept_before_the_defaults():
    gpu = {"key": "gpu", "operator": "Exists", "effect": "NoSchedule"}
    obj = await admitted(pod(tolerations=[gpu]))
    assert obj["spec"]["tolerations"] == [gpu, toleration(NOT_READY), toleration(UNREACHABLE)]


async def test_a_pod_tolerating_unreachable_gets_only_the_not_ready_default():
    own = toleration(UNREACHABLE, 5)
    obj = await admitted(pod(tolerations=[own]))
    assert obj["spec"]["tolerations"] == [own, toleration(NOT_READY)]


async def test_a_toleration_without_effect_covers_the_taint():
    own = {"key": NOT_READY, "operator": "Exists"}
    obj = await admitted(pod(tolerations=[own]))
    assert obj["spec"]["tolerations"] == [own, toleration(UNREACHABLE)]


async def test_a_noschedule_toleration_of_the_key_does_not_cover_noexecute():
    own = {"key": NOT_READY, "operator": "Exists", "effect": "NoSchedule"}
    obj = await admitted(pod(tolerations=[own]))
    assert obj["spec"]["tolerations"] == [own, toleration(NOT_READY), toleration(UNREACHABLE)]


async def test_a_tolerate_everything_toleration_gets_no_defaults():
    own = {"operator": "Exists"}
    obj = await admitted(pod(tolerations=[own]))
    assert obj["spec"]["tolerations"] == [own]


async def test_other_resources_are_left_alone():
    cluster = Cluster()
    cm = {"metadata": {"name": "x", "namespace": "team"}, "spec": {}}
    await create(cluster, cluster.admission(PLUGINS), cm, "configmaps")
    assert cm["spec"] == {}


async def test_the_seconds_come_from_the_api_server_config():
    cluster = Cluster()
    config = ApiServerConfig(etcd_endpoints=["http://127.0.0.1:2379"], default_not_ready_toleration_seconds=60,
                             default_unreachable_toleration_seconds=120)
    admission = Admission(PLUGINS, cache=cluster.cache, store=cluster.store, registry=cluster.registry,
                          settings=admission_settings(config))
    obj = await admitted(pod(), admission, cluster)
    assert obj["spec"]["tolerations"] == [toleration(NOT_READY, 60), toleration(UNREACHABLE, 120)]


async def test_an_update_gets_no_defaults():
    cluster = Cluster()
    obj, old = pod(), pod()
    await cluster.admission(PLUGINS).mutate(cluster.call("pods", "team", "web", verb="update"), obj, old)
    assert "tolerations" not in obj["spec"]
