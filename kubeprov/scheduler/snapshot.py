"""The scheduler's node snapshot, kept between cycles: NodeInfo is rebuilt only for the nodes that changed.

Building a :class:`~kubeprov.scheduler.framework.NodeInfo` parses the allocatable and every pod's
requests; doing it for every node in every cycle made a 1,000-node cluster schedule a few pods per
second. The informer handlers mark what changed (a node, a pod bound to or leaving a node) and each
cycle rebuilds those nodes, plus the nodes whose *assumed* pods (bound by us, not yet seen bound)
differ from the last cycle. NodeInfo objects are read-only to the plugins, so sharing them is safe.
"""

from __future__ import annotations

from collections import defaultdict
from collections.abc import Callable, Iterable, Mapping
from typing import Any

from kubeprov.scheduler.framework import NodeInfo

Obj = dict[str, Any]


class NodeInfoCache:
    def __init__(self) -> None:
        self._infos: dict[str, NodeInfo] = {}
        self._order: list[str] | None = None  # node names, sorted; None after a node was added or deleted
        self._dirty: set[str] = set()
        self._assumed_keys: dict[str, tuple[str, ...]] = {}

    def invalidate(self, *nodes: str) -> None:
        """These nodes (or the pods bound to them) changed."""
        self._dirty.update(n for n in nodes if n)

    def nodes_changed(self) -> None:
        """A node was added or deleted: the node list is read again."""
        self._order = None

    def snapshot(self, list_nodes: Callable[[], Iterable[Obj]], get_node: Callable[[str], Obj | None],
                 pods_on: Callable[[str], list[Obj]], assumed: Mapping[str, Obj]) -> list[NodeInfo]:
        """NodeInfo of every node (sorted by name), each with its bound pods plus the ``assumed`` ones."""
        extra: dict[str, list[Obj]] = defaultdict(list)
        keys: dict[str, list[str]] = defaultdict(list)
        for key, pod in assumed.items():
            node = (pod.get("spec") or {}).get("nodeName") or ""
            extra[node].append(pod)
            keys[node].append(key)
        assumed_keys = {node: tuple(sorted(k)) for node, k in keys.items()}
        dirty = self._dirty | {n for n in assumed_keys.keys() | self._assumed_keys.keys()
                               if assumed_keys.get(n) != self._assumed_keys.get(n)}
        self._assumed_keys = assumed_keys
        self._dirty = set()
        if self._order is None:
            self._order = sorted(n["metadata"]["name"] for n in list_nodes())
            known = set(self._order)
            self._infos = {name: info for name, info in self._infos.items() if name in known}
            dirty |= known - self._infos.keys()
        for name in dirty:
            node = get_node(name)
            if node is None:
                self._infos.pop(name, None)
            else:
                self._infos[name] = NodeInfo(node, pods_on(name) + extra.get(name, []))
        return [self._infos[name] for name in self._order if name in self._infos]
