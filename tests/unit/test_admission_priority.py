"""Priority admission: a pod's priority and preemption policy come from its PriorityClass."""

from __future__ import annotations

import pytest

from kubeprov.api.status import StatusError
from tests.unit.test_admission_fakes import Cluster, create, pod

PLUGINS = ["Priority"]


def priority_class(cluster: Cluster, name: str, value: int, *, default: bool = False, policy: str = "") -> dict:
    pc: dict = {"apiVersion": "scheduling.k8s.io/v1", "kind": "PriorityClass", "metadata": {"name": name},
                "value": value, "globalDefault": default, "preemptionPolicy": policy or "PreemptLowerPriority"}
    return cluster.add(pc, "priorityclasses", "scheduling.k8s.io")


async def admitted(cluster: Cluster, obj: dict) -> dict:
    await create(cluster, cluster.admission(PLUGINS), obj, "pods")
    return obj["spec"]


async def test_named_class_sets_priority_and_policy():
    cluster = Cluster()
    priority_class(cluster, "high", 1000, policy="Never")
    spec = await admitted(cluster, pod(priorityClassName="high"))
    assert (spec["priority"], spec["preemptionPolicy"]) == (1000, "Never")


async def test_unknown_class_is_refused():
    with pytest.raises(StatusError) as err:
        await admitted(Cluster(), pod(priorityClassName="gold"))
    assert err.value.code == 403
    assert err.value.message == 'pods "web" is forbidden: no PriorityClass with name gold was found'


async def test_no_class_and_no_default_gives_zero_and_preempt_lower_priority():
    spec = await admitted(Cluster(), pod())
    assert (spec["priority"], spec["preemptionPolicy"]) == (0, "PreemptLowerPriority")
    assert "priorityClassName" not in spec


async def test_global_default_class_is_used_when_none_is_named():
    cluster = Cluster()
    priority_class(cluster, "normal", 100, default=True)
    spec = await admitted(cluster, pod())
    assert (spec["priorityClassName"], spec["priority"]) == ("normal", 100)


async def test_priority_different_from_the_class_is_refused():
    cluster = Cluster()
    priority_class(cluster, "high", 1000)
    with pytest.raises(StatusError) as err:
        await admitted(cluster, pod(priorityClassName="high", priority=5))
    assert "the integer value of priority (5) must not be provided in pod spec" in err.value.message


async def test_system_classes_resolve_without_a_stored_object():
    spec = await admitted(Cluster(), pod(priorityClassName="system-node-critical"))
    assert spec["priority"] == 2_000_001_000


async def test_second_global_default_class_is_refused():
    cluster = Cluster()
    priority_class(cluster, "normal", 100, default=True)
    other = {"apiVersion": "scheduling.k8s.io/v1", "kind": "PriorityClass", "metadata": {"name": "other"},
             "value": 5, "globalDefault": True}
    with pytest.raises(StatusError) as err:
        await create(cluster, cluster.admission(PLUGINS), other, "priorityclasses", group="scheduling.k8s.io")
    assert err.value.message.endswith("PriorityClass normal is already marked as default. Only one default can exist")
