"""Property: schedule() never raises on random valid-looking input and never picks a node that failed a filter."""

from __future__ import annotations

import random

from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from kubeprov.scheduler import NodeInfo, default_filters, schedule
from kubeprov.scheduler.framework import Cycle, run_filters

from .test_scheduler_builders import node, pod

KEYS = ["app", "disk", "kubernetes.io/hostname", "topology.kubernetes.io/zone"]
VALUES = ["a", "b", "c", "1", "5"]
cpu = st.sampled_from(["0", "100m", "500m", "1", "2", "3500m", "8"])
mem = st.sampled_from(["0", "64Mi", "1Gi", "4Gi", "16Gi"])
labels = st.dictionaries(st.sampled_from(KEYS), st.sampled_from(VALUES), max_size=3)
selector = st.builds(lambda m: {"matchLabels": m}, labels)
taint = st.fixed_dictionaries(
    {
        "key": st.sampled_from(["k1", "k2", "node.kubernetes.io/not-ready"]),
        "value": st.sampled_from(["", "v"]),
        "effect": st.sampled_from(["NoSchedule", "PreferNoSchedule", "NoExecute"]),
    }
)
toleration = st.fixed_dictionaries(
    {},
    optional={
        "key": st.sampled_from(["k1", "k2", ""]),
        "operator": st.sampled_from(["Exists", "Equal"]),
        "value": st.sampled_from(["", "v"]),
        "effect": st.sampled_from(["", "NoSchedule", "PreferNoSchedule", "NoExecute"]),
    },
)
expr = st.fixed_dictionaries(
    {
        "key": st.sampled_from(KEYS),
        "operator": st.sampled_from(["In", "NotIn", "Exists", "DoesNotExist", "Gt", "Lt"]),
        "values": st.lists(st.sampled_from(VALUES), max_size=2),
    }
)
pod_term = st.fixed_dictionaries({"labelSelector": selector, "topologyKey": st.sampled_from(KEYS)})
affinity = st.fixed_dictionaries(
    {},
    optional={
        "nodeAffinity": st.fixed_dictionaries(
            {
                "requiredDuringSchedulingIgnoredDuringExecution": st.builds(
                    lambda terms: {"nodeSelectorTerms": [{"matchExpressions": t} for t in terms]},
                    st.lists(st.lists(expr, min_size=1, max_size=2), min_size=1, max_size=2),
                )
            }
        ),
        "podAffinity": st.fixed_dictionaries(
            {
                "preferredDuringSchedulingIgnoredDuringExecution": st.lists(
                    st.fixed_dictionaries({"weight": st.integers(1, 100), "podAffinityTerm": pod_term}), max_size=2
                )
            }
        ),
        "podAntiAffinity": st.fixed_dictionaries(
            {"requiredDuringSchedulingIgnoredDuringExecution": st.lists(pod_term, max_size=2)}
        ),
    },
)
spread = st.fixed_dictionaries(
    {
        "maxSkew": st.integers(1, 3),
        "topologyKey": st.sampled_from(KEYS),
        "whenUnsatisfiable": st.sampled_from(["DoNotSchedule", "ScheduleAnyway"]),
        "labelSelector": selector,
    },
    optional={"minDomains": st.integers(1, 4)},
)


@st.composite
def pods(draw, name: str, node_name: str | None = None) -> dict:
    p = pod(
        name,
        cpu=draw(cpu),
        memory=draw(mem),
        labels=draw(labels),
        node_name=node_name,
        tolerations=draw(st.lists(toleration, max_size=2)),
        affinity=draw(affinity),
        topologySpreadConstraints=draw(st.lists(spread, max_size=2)),
        priority=draw(st.integers(0, 10)),
    )
    if draw(st.booleans()):
        p["spec"]["containers"][0]["ports"] = [{"containerPort": 80, "hostPort": draw(st.sampled_from([80, 443]))}]
    if draw(st.booleans()):
        p["spec"]["nodeSelector"] = draw(labels)
    return p


@st.composite
def clusters(draw) -> list[NodeInfo]:
    out = []
    for i in range(draw(st.integers(0, 5))):
        name = f"n{i}"
        n = node(
            name,
            cpu=draw(cpu),
            memory=draw(mem),
            pods=draw(st.sampled_from(["0", "1", "3", "110"])),
            labels=draw(labels),
            taints=draw(st.lists(taint, max_size=2)),
            unschedulable=draw(st.booleans()),
        )
        bound = [draw(pods(f"{name}-p{j}", name)) for j in range(draw(st.integers(0, 2)))]
        out.append(NodeInfo(n, bound))
    return out


@settings(max_examples=150, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(clusters(), pods("incoming"), st.integers(0, 2**16), st.sampled_from([None, {"matchLabels": {"app": "a"}}]))
def test_schedule_never_raises_and_never_picks_a_failed_node(nodes, incoming, seed, default_selector):
    r = schedule(incoming, nodes, rng=random.Random(seed), default_spread_selector=default_selector)
    names = [ni.name for ni in nodes]
    assert set(r.feasible) | set(r.failures) == set(names)
    assert not set(r.feasible) & set(r.failures)
    if r.node is None:
        assert r.feasible == [] and r.message.startswith(f"0/{len(nodes)} nodes are available:")
    else:
        assert r.node in r.feasible and r.message == ""
        cycle = Cycle(incoming, nodes)
        filters = default_filters()
        for plugin in filters:
            plugin.pre_filter(cycle)
        chosen = next(ni for ni in nodes if ni.name == r.node)
        assert run_filters(filters, cycle, chosen) is None
        if r.scores:
            assert r.scores[r.node] == max(r.scores.values())
            assert all(0 <= s <= 100 * 11 for s in r.scores.values())
