"""The scheduler's NodeInfo cache: rebuilt only for nodes marked changed or whose assumed pods changed."""

from __future__ import annotations

from kubeprov.scheduler.snapshot import NodeInfoCache
from tests.unit.test_scheduler_builders import node, pod


class Cluster:
    """Nodes and bound pods as the informers would hold them."""

    def __init__(self, *names: str) -> None:
        self.nodes = {n: node(n) for n in names}
        self.pods: dict[str, list[dict]] = {n: [] for n in names}

    def snapshot(self, cache: NodeInfoCache, assumed: dict | None = None) -> list:
        return cache.snapshot(lambda: list(self.nodes.values()), self.nodes.get,
                              lambda name: list(self.pods.get(name, [])), assumed or {})


def bound(name: str, node_name: str, cpu: str = "1") -> dict:
    return pod(name, cpu=cpu, node_name=node_name)


def test_unchanged_nodes_keep_their_nodeinfo_and_changed_ones_are_rebuilt() -> None:
    cluster, cache = Cluster("b", "a"), NodeInfoCache()
    first = cluster.snapshot(cache)
    assert [i.name for i in first] == ["a", "b"]
    cluster.pods["a"].append(bound("p", "a"))
    cache.invalidate("a")
    second = cluster.snapshot(cache)
    assert second[1] is first[1]
    assert second[0] is not first[0] and second[0].requested["cpu"] == 1000


def test_a_change_not_reported_is_not_seen() -> None:
    """The cache trusts its invalidations (the informer handlers): this is what makes it cheap."""
    cluster, cache = Cluster("a"), NodeInfoCache()
    cluster.snapshot(cache)
    cluster.pods["a"].append(bound("p", "a"))
    assert cluster.snapshot(cache)[0].requested.get("cpu", 0) == 0


def test_assumed_pods_count_until_they_leave_the_assumed_set() -> None:
    cluster, cache = Cluster("a", "b"), NodeInfoCache()
    cluster.snapshot(cache)
    assumed = {"ns/p": bound("p", "b", cpu="2")}
    assert cluster.snapshot(cache, assumed)[1].requested["cpu"] == 2000
    assert cluster.snapshot(cache, {})[1].requested.get("cpu", 0) == 0


def test_added_and_deleted_nodes_change_the_list() -> None:
    cluster, cache = Cluster("a", "b"), NodeInfoCache()
    cluster.snapshot(cache)
    cluster.nodes["c"] = node("c")
    del cluster.nodes["a"]
    cache.nodes_changed()
    assert [i.name for i in cluster.snapshot(cache)] == ["b", "c"]
