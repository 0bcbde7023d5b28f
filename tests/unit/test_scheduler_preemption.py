"""DefaultPreemption: which node and which victims, PDBs, eligibility, and pods nominated to a node."""

from __future__ import annotations

import random

from kubeprov.scheduler import NodeInfo, schedule
from kubeprov.scheduler.preemption import Candidate, pick_candidate, split_by_pdb

from .test_scheduler_builders import info, node, pod


def run(p: dict, nodes: list[NodeInfo], **kw):
    return schedule(p, nodes, rng=random.Random(1), **kw)


def names(pods: list[dict]) -> list[str]:
    return [p["metadata"]["name"] for p in pods]


def pdb(name: str, app: str, allowed: int) -> dict:
    return {"metadata": {"name": name, "namespace": "default"},
            "spec": {"selector": {"matchLabels": {"app": app}}}, "status": {"disruptionsAllowed": allowed}}


def test_equal_priority_pods_are_never_victims():
    nodes = [info(node("a"), pod("same", cpu="4", node_name="a", priority=100))]
    r = run(pod(cpu="1", priority=100), nodes)
    assert r.nominated_node is None
    assert r.message.endswith("preemption: 0/1 nodes are available: 1 No preemption victims found for incoming pod.")


def test_lowest_priority_victim_node_is_chosen():
    nodes = [info(node("a"), pod("mid", cpu="4", node_name="a", priority=50)),
             info(node("b"), pod("low", cpu="4", node_name="b", priority=10))]
    r = run(pod(cpu="1", priority=100), nodes)
    assert (r.nominated_node, names(r.victims)) == ("b", ["low"])


def test_fewer_victims_win_at_equal_priority():
    nodes = [info(node("a"), pod("a1", cpu="2", node_name="a"), pod("a2", cpu="2", node_name="a")),
             info(node("b"), pod("b1", cpu="4", node_name="b"))]
    r = run(pod(cpu="3", priority=100), nodes)
    assert (r.nominated_node, names(r.victims)) == ("b", ["b1"])


def test_node_whose_victims_violate_a_pdb_loses():
    nodes = [info(node("a"), pod("guarded", cpu="4", node_name="a", labels={"app": "db"})),
             info(node("b"), pod("free", cpu="4", node_name="b", labels={"app": "web"}))]
    r = run(pod(cpu="1", priority=100), nodes, pdbs=[pdb("db", "db", 0)])
    assert r.nominated_node == "b"


def test_pdb_is_violated_when_nothing_else_makes_room():
    nodes = [info(node("a"), pod("guarded", cpu="4", node_name="a", labels={"app": "db"}))]
    r = run(pod(cpu="1", priority=100), nodes, pdbs=[pdb("db", "db", 0)])
    assert (r.nominated_node, names(r.victims)) == ("a", ["guarded"])


def test_pdbs_are_fetched_lazily_and_only_when_preempting():
    calls = []
    run(pod(cpu="1", priority=100), [info(node("a"))], pdbs=lambda: calls.append(1) or [])
    assert calls == []


def test_split_by_pdb_counts_allowance_down():
    pods = [pod(f"p{i}", labels={"app": "db"}) for i in range(3)]
    violating, other = split_by_pdb(pods, [pdb("db", "db", 2)])
    assert (names(violating), names(other)) == (["p2"], ["p0", "p1"])


def test_preemption_policy_never_does_not_preempt():
    nodes = [info(node("a"), pod("low", cpu="4", node_name="a"))]
    r = run(pod(cpu="1", priority=100, preemptionPolicy="Never"), nodes)
    assert r.nominated_node is None
    assert r.message.endswith("preemption: not eligible due to preemptionPolicy=Never.")


def test_not_eligible_while_its_victim_terminates_on_the_nominated_node():
    victim = pod("low", cpu="4", node_name="a")
    victim["metadata"]["deletionTimestamp"] = "2026-01-01T00:00:00Z"
    victim["status"] = {"conditions": [{"type": "DisruptionTarget", "status": "True",
                                        "reason": "PreemptionByScheduler"}]}
    preemptor = pod(cpu="1", priority=100)
    preemptor["status"] = {"nominatedNodeName": "a"}
    r = run(preemptor, [info(node("a"), victim)])
    assert r.nominated_node is None
    assert r.message == ("0/1 nodes are available: 1 Insufficient cpu. "
                         "preemption: not eligible due to a terminating pod on the nominated node.")


def test_pod_nominated_to_a_node_holds_its_room_against_lower_priority_pods():
    waiting = pod("waiting", cpu="3", priority=100)
    waiting["status"] = {"nominatedNodeName": "a"}
    r = run(pod("newcomer", cpu="2", priority=0), [info(node("a"))], nominated={"a": [waiting]}, preemption=False)
    assert r.message == "0/1 nodes are available: 1 Insufficient cpu."


def test_nominated_pod_of_lower_priority_does_not_hold_room():
    waiting = pod("waiting", cpu="3", priority=0)
    r = run(pod("urgent", cpu="2", priority=100), [info(node("a"))], nominated={"a": [waiting]})
    assert r.node == "a"


def test_pick_candidate_prefers_latest_started_top_victims_on_a_tie():
    old = pod("old", priority=1)
    old["status"] = {"startTime": "2026-01-01T00:00:00Z"}
    new = pod("new", priority=1)
    new["status"] = {"startTime": "2026-01-02T00:00:00Z"}
    best = pick_candidate([Candidate("a", [old], 0), Candidate("b", [new], 0)])
    assert best.node == "b"
