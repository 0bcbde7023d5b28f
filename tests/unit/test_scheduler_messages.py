"""The FailedScheduling message and the dry-run preemption that ends it."""

from __future__ import annotations

import random

from kubeprov.scheduler import NodeInfo, schedule
from kubeprov.scheduler.messages import fit_error, reasons_histogram

from .test_scheduler_builders import info, node, pod

CP = {"key": "node-role.kubernetes.io/control-plane", "effect": "NoSchedule"}


def run(p: dict, nodes: list[NodeInfo], **kw):
    return schedule(p, nodes, rng=random.Random(1), **kw)


def test_mixed_reasons_message_with_preemption_suffix():
    nodes = [info(node(f"w{i}", cpu="2"), pod(f"x{i}", cpu="2", node_name=f"w{i}")) for i in range(2)]
    nodes += [info(node(f"cp{i}", taints=[CP])) for i in range(3)]
    r = run(pod(cpu="1"), nodes)
    assert r.node is None
    assert r.message == (
        "0/5 nodes are available: 2 Insufficient cpu, "
        "3 node(s) had untolerated taint {node-role.kubernetes.io/control-plane: }. "
        "preemption: 0/5 nodes are available: 2 No preemption victims found for incoming pod, "
        "3 Preemption is not helpful for scheduling."
    )


def test_insufficient_resources_without_lower_priority_pods_have_no_victims():
    # in 1.32 even a request above the node's allocatable is plain Unschedulable, so preemption looks for victims
    r = run(pod(cpu="8"), [info(node("a"))])
    assert r.message == (
        "0/1 nodes are available: 1 Insufficient cpu. "
        "preemption: 0/1 nodes are available: 1 No preemption victims found for incoming pod."
    )


def test_reasons_sorted_as_strings_count_first():
    # "10 ..." sorts before "2 ..." because the histogram entries are sorted as plain strings
    assert reasons_histogram([["Insufficient cpu"]] * 2 + [["Insufficient memory"]] * 10) == [
        "10 Insufficient memory",
        "2 Insufficient cpu",
    ]
    assert reasons_histogram([["b"], ["a"]]) == ["1 a", "1 b"]


def test_every_reason_of_a_node_is_counted():
    msg = fit_error(2, [["Insufficient cpu", "Insufficient memory"], ["Insufficient cpu"]])
    assert msg == "0/2 nodes are available: 1 Insufficient memory, 2 Insufficient cpu."


def test_preemption_policy_never():
    r = run(pod(cpu="3", preemptionPolicy="Never"), [info(node("a"), pod("x", cpu="2", node_name="a"))])
    assert r.message == (
        "0/1 nodes are available: 1 Insufficient cpu. preemption: not eligible due to preemptionPolicy=Never."
    )


def test_preemption_disabled_leaves_only_filter_reasons():
    r = run(pod(cpu="8"), [info(node("a"))], preemption=False)
    assert r.message == "0/1 nodes are available: 1 Insufficient cpu."


def test_no_nodes():
    assert run(pod(), [], preemption=False).message == "0/0 nodes are available:"


def test_preemption_nominates_node_with_lower_priority_victims():
    low = pod("low", cpu="3", node_name="a", priority=0)
    keep = pod("keep", cpu="500m", node_name="a", priority=0)
    high = pod("high", cpu="500m", node_name="b", priority=1000)
    nodes = [info(node("a"), low, keep), info(node("b"), high, pod("b2", cpu="3", node_name="b", priority=1000))]
    r = run(pod(cpu="2", priority=100), nodes)
    assert r.node is None
    assert r.nominated_node == "a"
    assert [name["metadata"]["name"] for name in r.victims] == ["low"]  # "keep" is reprieved
    assert r.message == "0/2 nodes are available: 2 Insufficient cpu."


def test_preemption_reports_filter_reason_when_evicting_everything_is_not_enough():
    nodes = [info(node("a"), pod("low", cpu="1", node_name="a"), pod("hi", cpu="3", node_name="a", priority=500))]
    r = run(pod(cpu="2", priority=100), nodes)
    assert r.nominated_node is None
    assert r.message.endswith("preemption: 0/1 nodes are available: 1 Insufficient cpu.")


def _pinned_to(name: str, **kw) -> dict:
    fields = [{"key": "metadata.name", "operator": "In", "values": [name]}]
    term = {"matchFields": fields}
    return pod(
        affinity={"nodeAffinity": {"requiredDuringSchedulingIgnoredDuringExecution": {"nodeSelectorTerms": [term]}}},
        **kw,
    )


def test_daemonset_style_pod_pinned_by_match_fields_skips_other_nodes():
    nodes = [info(node("a", cpu="1")), info(node("b")), info(node("c"))]
    r = run(_pinned_to("a", cpu="2"), nodes)
    assert r.failures == {
        "a": ["Insufficient cpu"],
        "b": ["node(s) didn't satisfy plugin(s) [NodeAffinity]"],
        "c": ["node(s) didn't satisfy plugin(s) [NodeAffinity]"],
    }
    assert r.message == (
        "0/3 nodes are available: 1 Insufficient cpu, 2 node(s) didn't satisfy plugin(s) [NodeAffinity]. "
        "preemption: 0/3 nodes are available: 1 No preemption victims found for incoming pod, "
        "2 Preemption is not helpful for scheduling."
    )


def test_conflicting_node_name_terms_reject_at_pre_filter():
    p = _pinned_to("a")
    term = p["spec"]["affinity"]["nodeAffinity"]["requiredDuringSchedulingIgnoredDuringExecution"]["nodeSelectorTerms"][
        0
    ]
    term["matchFields"].append({"key": "metadata.name", "operator": "In", "values": ["b"]})
    r = run(p, [info(node("a")), info(node("b"))])
    assert r.message == (
        "0/2 nodes are available: pod affinity terms conflict. "
        "preemption: 0/2 nodes are available: 2 Preemption is not helpful for scheduling."
    )
