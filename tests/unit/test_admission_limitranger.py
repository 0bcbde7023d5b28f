"""LimitRanger: defaults from LimitRanges, and their min/max/ratio bounds."""

from __future__ import annotations

import pytest

from kubeprov.api.status import StatusError
from tests.unit.test_admission_fakes import Cluster, container, create, pod

PLUGINS = ["LimitRanger"]


def limit_range(cluster: Cluster, *items: dict, name: str = "limits", namespace: str = "team", **kw) -> dict:
    obj = {"apiVersion": "v1", "kind": "LimitRange", "metadata": {"name": name, "namespace": namespace},
           "spec": {"limits": list(items)}}
    return cluster.add(obj, "limitranges", **kw)


DEFAULTS = {"type": "Container", "default": {"cpu": "500m", "memory": "256Mi"},
            "defaultRequest": {"cpu": "100m", "memory": "128Mi"}}


async def test_containers_get_default_requests_and_limits_and_the_annotation_says_so():
    cluster = Cluster()
    limit_range(cluster, DEFAULTS)
    obj = pod()
    await create(cluster, cluster.admission(PLUGINS), obj, "pods")
    assert obj["spec"]["containers"][0]["resources"] == {
        "limits": {"cpu": "500m", "memory": "256Mi"}, "requests": {"cpu": "100m", "memory": "128Mi"}}
    assert obj["metadata"]["annotations"] == {
        "kubernetes.io/limit-ranger": "LimitRanger plugin set: cpu, memory request for container web; "
                                      "cpu, memory limit for container web"}


async def test_only_missing_values_are_defaulted_and_init_containers_are_named_as_such():
    cluster = Cluster()
    limit_range(cluster, DEFAULTS)
    obj = pod("web", "team", container("web", requests={"cpu": "200m"}, limits={"cpu": "1", "memory": "1Gi"}),
              initContainers=[container("setup", limits={"cpu": "300m", "memory": "64Mi"})])
    await create(cluster, cluster.admission(PLUGINS), obj, "pods")
    assert obj["spec"]["containers"][0]["resources"] == {
        "requests": {"cpu": "200m", "memory": "128Mi"}, "limits": {"cpu": "1", "memory": "1Gi"}}
    assert obj["spec"]["initContainers"][0]["resources"]["requests"] == {"cpu": "100m", "memory": "128Mi"}
    assert obj["metadata"]["annotations"]["kubernetes.io/limit-ranger"] == (
        "LimitRanger plugin set: memory request for container web; cpu, memory request for init container setup")


async def test_a_pod_with_everything_set_gets_no_annotation():
    cluster = Cluster()
    limit_range(cluster, DEFAULTS)
    obj = pod("web", "team", container("web", requests={"cpu": "1", "memory": "1Gi"},
                                       limits={"cpu": "1", "memory": "1Gi"}))
    await create(cluster, cluster.admission(PLUGINS), obj, "pods")
    assert "annotations" not in obj["metadata"]


async def test_a_limit_above_the_container_maximum_is_forbidden():
    cluster = Cluster()
    limit_range(cluster, {"type": "Container", "max": {"cpu": "500m"}})
    obj = pod("x", "team", container("web", requests={"cpu": "200m"}, limits={"cpu": "1"}))
    with pytest.raises(StatusError) as err:
        await create(cluster, cluster.admission(PLUGINS), obj, "pods")
    assert (err.value.code, err.value.reason) == (403, "Forbidden")
    assert err.value.message == 'pods "x" is forbidden: maximum cpu usage per Container is 500m, but limit is 1'


async def test_a_missing_limit_under_a_maximum_is_forbidden():
    cluster = Cluster()
    limit_range(cluster, {"type": "Container", "max": {"memory": "1Gi"}})
    with pytest.raises(StatusError) as err:
        await create(cluster, cluster.admission(PLUGINS), pod(), "pods")
    assert err.value.message == (
        'pods "web" is forbidden: maximum memory usage per Container is 1Gi.  No limit is specified')


async def test_a_request_below_the_minimum_is_forbidden():
    cluster = Cluster()
    limit_range(cluster, {"type": "Container", "min": {"cpu": "100m"}})
    obj = pod("web", "team", container("web", requests={"cpu": "50m"}))
    with pytest.raises(StatusError) as err:
        await create(cluster, cluster.admission(PLUGINS), obj, "pods")
    assert err.value.message == 'pods "web" is forbidden: minimum cpu usage per Container is 100m, but request is 50m'


async def test_the_limit_to_request_ratio_is_bounded():
    cluster = Cluster()
    limit_range(cluster, {"type": "Container", "maxLimitRequestRatio": {"cpu": "2"}})
    obj = pod("web", "team", container("web", requests={"cpu": "100m"}, limits={"cpu": "300m"}))
    with pytest.raises(StatusError) as err:
        await create(cluster, cluster.admission(PLUGINS), obj, "pods")
    assert err.value.message == (
        'pods "web" is forbidden: cpu max limit to request ratio per Container is 2, but provided ratio is 3.000000')


async def test_several_violations_are_listed_together():
    cluster = Cluster()
    limit_range(cluster, {"type": "Container", "max": {"cpu": "500m", "memory": "1Gi"}})
    obj = pod("web", "team", container("web", limits={"cpu": "1", "memory": "2Gi"}))
    with pytest.raises(StatusError) as err:
        await create(cluster, cluster.admission(PLUGINS), obj, "pods")
    assert err.value.message == (
        'pods "web" is forbidden: [maximum cpu usage per Container is 500m, but limit is 1, '
        "maximum memory usage per Container is 1Gi, but limit is 2Gi]")


async def test_pod_bounds_apply_to_the_sum_of_its_containers():
    cluster = Cluster()
    limit_range(cluster, {"type": "Pod", "max": {"cpu": "1"}})
    obj = pod("web", "team", container("a", limits={"cpu": "600m"}), container("b", limits={"cpu": "600m"}))
    with pytest.raises(StatusError) as err:
        await create(cluster, cluster.admission(PLUGINS), obj, "pods")
    assert err.value.message == 'pods "web" is forbidden: maximum cpu usage per Pod is 1, but limit is 1200m'


async def test_defaults_are_applied_before_the_bounds_are_checked():
    cluster = Cluster()
    limit_range(cluster, {**DEFAULTS, "max": {"cpu": "1", "memory": "1Gi"}})
    await create(cluster, cluster.admission(PLUGINS), pod(), "pods")


async def test_claims_may_not_request_more_storage_than_the_maximum():
    cluster = Cluster()
    limit_range(cluster, {"type": "PersistentVolumeClaim", "max": {"storage": "2Gi"}, "min": {"storage": "1Gi"}})
    claim = {"metadata": {"name": "data", "namespace": "team"},
             "spec": {"resources": {"requests": {"storage": "5Gi"}}}}
    with pytest.raises(StatusError) as err:
        await create(cluster, cluster.admission(PLUGINS), claim, "persistentvolumeclaims")
    assert err.value.message == (
        'persistentvolumeclaims "data" is forbidden: maximum storage usage per PersistentVolumeClaim is 2Gi, '
        "but request is 5Gi")


async def test_pod_updates_are_not_checked():
    cluster = Cluster()
    limit_range(cluster, {"type": "Container", "max": {"cpu": "500m"}})
    call = cluster.call("pods", "team", "web", verb="update")
    await cluster.admission(PLUGINS).validate(call, pod(), pod())


async def test_a_limit_range_only_etcd_has_seen_still_applies():
    cluster = Cluster()
    limit_range(cluster, DEFAULTS, cached=False)
    obj = pod()
    await create(cluster, cluster.admission(PLUGINS), obj, "pods")
    assert obj["spec"]["containers"][0]["resources"]["limits"] == {"cpu": "500m", "memory": "256Mi"}


async def test_limit_ranges_of_other_namespaces_do_not_apply():
    cluster = Cluster()
    limit_range(cluster, DEFAULTS, namespace="other")
    obj = pod()
    await create(cluster, cluster.admission(PLUGINS), obj, "pods")
    assert obj["spec"]["containers"][0]["resources"] == {}
