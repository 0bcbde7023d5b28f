"""Filter plugins: each test states one rule and would fail if the rule were ignored."""

from __future__ import annotations

import random

from kubeprov.scheduler import NodeInfo, schedule
from kubeprov.scheduler.framework import pod_requests

from .test_scheduler_builders import info, node, pod


def run(p: dict, *nodes: NodeInfo, **kw):
    return schedule(p, list(nodes), rng=random.Random(1), **kw)


# ----------------------------------------------------------------------------- resources


def test_insufficient_cpu_rejects_node_and_other_node_fits():
    busy = info(node("a", cpu="2"), pod("x", cpu="1500m", node_name="a"))
    free = info(node("b", cpu="2"))
    r = run(pod(cpu="1"), busy, free)
    assert r.node == "b"
    assert r.failures == {"a": ["Insufficient cpu"]}


def test_insufficient_memory():
    r = run(pod(memory="2Gi"), info(node("a", memory="1Gi")))
    assert r.node is None and r.failures == {"a": ["Insufficient memory"]}


def test_cpu_and_memory_reasons_reported_together_in_order():
    r = run(pod(cpu="8", memory="16Gi"), info(node("a")))
    assert r.failures["a"] == ["Insufficient cpu", "Insufficient memory"]


def test_too_many_pods_counts_bound_pods_even_without_requests():
    n = info(node("a", pods="2"), pod("x", node_name="a"), pod("y", node_name="a"))
    assert run(pod(), n).failures == {"a": ["Too many pods"]}


def test_finished_pods_do_not_count():
    done = pod("x", cpu="3", node_name="a")
    done["status"] = {"phase": "Succeeded"}
    assert run(pod(cpu="2"), info(node("a"), done)).node == "a"


def test_extended_resource_insufficient():
    n = info(node("a", extra={"example.com/gpu": "1"}))
    p = pod()
    p["spec"]["containers"][0]["resources"] = {"requests": {"example.com/gpu": "2"}}
    assert run(p, n).failures == {"a": ["Insufficient example.com/gpu"]}


def test_init_container_max_counts_not_sum():
    p = pod(cpu="1")
    p["spec"]["initContainers"] = [
        {"name": "i1", "resources": {"requests": {"cpu": "3"}}},
        {"name": "i2", "resources": {"requests": {"cpu": "2"}}},
    ]
    assert pod_requests(p)["cpu"] == 3000
    assert run(p, info(node("a", cpu="3"))).node == "a"
    assert run(p, info(node("a", cpu="2900m"))).failures == {"a": ["Insufficient cpu"]}


def test_sidecar_init_containers_add_to_containers():
    p = pod(cpu="1")
    p["spec"]["initContainers"] = [
        {"name": "side", "restartPolicy": "Always", "resources": {"requests": {"cpu": "500m"}}},
        {"name": "init", "resources": {"requests": {"cpu": "1"}}},
    ]
    assert pod_requests(p)["cpu"] == 1500


def test_pod_overhead_added_to_requests():
    p = pod(cpu="1", overhead={"cpu": "250m"})
    assert pod_requests(p)["cpu"] == 1250
    assert run(p, info(node("a", cpu="1200m"))).failures == {"a": ["Insufficient cpu"]}


def test_bound_pods_overhead_counts_on_node():
    bound = pod("x", cpu="1", node_name="a", overhead={"cpu": "1"})
    assert run(pod(cpu="2500m"), info(node("a"), bound)).failures == {"a": ["Insufficient cpu"]}


# ----------------------------------------------------------------------------- ports, name, unschedulable


def _with_port(p: dict, port: int, ip: str | None = None, protocol: str | None = None) -> dict:
    entry = {"containerPort": 80, "hostPort": port}
    if ip:
        entry["hostIP"] = ip
    if protocol:
        entry["protocol"] = protocol
    p["spec"]["containers"][0]["ports"] = [entry]
    return p


def test_host_port_conflict():
    n = info(node("a"), _with_port(pod("x", node_name="a"), 8080))
    r = run(_with_port(pod(), 8080), n)
    assert r.failures == {"a": ["node(s) didn't have free ports for the requested pod ports"]}


def test_host_port_other_protocol_or_ip_does_not_conflict():
    n = info(node("a"), _with_port(pod("x", node_name="a"), 8080, ip="10.0.0.1"))
    assert run(_with_port(pod(), 8080, protocol="UDP"), n).node == "a"
    assert run(_with_port(pod(), 8080, ip="10.0.0.2"), n).node == "a"
    assert run(_with_port(pod(), 8080, ip="10.0.0.1"), n).node is None


def test_node_name_filter():
    r = run(pod(nodeName="b"), info(node("a")), info(node("b")))
    assert r.node == "b"
    assert r.failures == {"a": ["node(s) didn't match the requested node name"]}


def test_unschedulable_node_unless_tolerated():
    n = info(node("a", unschedulable=True))
    assert run(pod(), n).failures == {"a": ["node(s) were unschedulable"]}
    tol = [{"key": "node.kubernetes.io/unschedulable", "operator": "Exists", "effect": "NoSchedule"}]
    assert run(pod(tolerations=tol), n).node == "a"


# ----------------------------------------------------------------------------- node selector and affinity

NA_REASON = "node(s) didn't match Pod's node affinity/selector"


def _required(*exprs: dict, fields: list[dict] | None = None) -> dict:
    term: dict = {"matchExpressions": list(exprs)}
    if fields:
        term["matchFields"] = fields
    return {"nodeAffinity": {"requiredDuringSchedulingIgnoredDuringExecution": {"nodeSelectorTerms": [term]}}}


def _feasible(p: dict, *nodes: NodeInfo) -> list[str]:
    return sorted(run(p, *nodes).feasible) if len(nodes) > 1 else run(p, *nodes).feasible


NODES = [
    info(node("a", labels={"disk": "ssd", "cores": "8"})),
    info(node("b", labels={"disk": "hdd", "cores": "2"})),
    info(node("c")),
]


def test_node_selector():
    r = run(pod(nodeSelector={"disk": "ssd"}), *NODES)
    assert r.node == "a"
    assert r.failures == {"b": [NA_REASON], "c": [NA_REASON]}


def test_required_affinity_operators():
    def feasible(expr: dict) -> set[str]:
        return set(run(pod(affinity=_required(expr)), *NODES).feasible)

    assert feasible({"key": "disk", "operator": "In", "values": ["ssd", "nvme"]}) == {"a"}
    assert feasible({"key": "disk", "operator": "NotIn", "values": ["ssd"]}) == {"b", "c"}
    assert feasible({"key": "disk", "operator": "Exists"}) == {"a", "b"}
    assert feasible({"key": "disk", "operator": "DoesNotExist"}) == {"c"}
    assert feasible({"key": "cores", "operator": "Gt", "values": ["4"]}) == {"a"}
    assert feasible({"key": "cores", "operator": "Lt", "values": ["4"]}) == {"b"}


def test_required_affinity_terms_are_ored_and_expressions_anded():
    aff = _required({"key": "disk", "operator": "Exists"}, {"key": "cores", "operator": "Lt", "values": ["4"]})
    assert set(run(pod(affinity=aff), *NODES).feasible) == {"b"}
    aff["nodeAffinity"]["requiredDuringSchedulingIgnoredDuringExecution"]["nodeSelectorTerms"].append(
        {"matchExpressions": [{"key": "disk", "operator": "DoesNotExist"}]}
    )
    assert set(run(pod(affinity=aff), *NODES).feasible) == {"b", "c"}


def test_match_fields_metadata_name():
    aff = _required(fields=[{"key": "metadata.name", "operator": "In", "values": ["c"]}])
    r = run(pod(affinity=aff), *NODES)
    # "In" narrows the candidate nodes before filtering, as the NodeAffinity pre-filter result does
    assert r.node == "c" and r.failures["a"] == ["node(s) didn't satisfy plugin(s) [NodeAffinity]"]
    aff = _required(fields=[{"key": "metadata.name", "operator": "NotIn", "values": ["a", "b"]}])
    r = run(pod(affinity=aff), *NODES)
    assert r.node == "c" and r.failures == {"a": [NA_REASON], "b": [NA_REASON]}


def test_invalid_requirement_matches_nothing():
    aff = _required({"key": "disk", "operator": "NotIn", "values": []})
    assert run(pod(affinity=aff), *NODES).feasible == []


# ----------------------------------------------------------------------------- taints

CP_TAINT = {"key": "node-role.kubernetes.io/control-plane", "effect": "NoSchedule"}


def test_no_schedule_taint_rejects_with_key_and_value():
    n = info(node("a", taints=[{"key": "dedicated", "value": "gpu", "effect": "NoSchedule"}]))
    assert run(pod(), n).failures == {"a": ["node(s) had untolerated taint {dedicated: gpu}"]}


def test_no_execute_taint_rejects_and_prefer_no_schedule_does_not():
    assert run(pod(), info(node("a", taints=[{"key": "k", "effect": "NoExecute"}]))).node is None
    assert run(pod(), info(node("a", taints=[{"key": "k", "effect": "PreferNoSchedule"}]))).node == "a"


def test_not_ready_taint_rejects():
    n = info(node("a", taints=[{"key": "node.kubernetes.io/not-ready", "effect": "NoSchedule"}]))
    assert run(pod(), n).failures == {"a": ["node(s) had untolerated taint {node.kubernetes.io/not-ready: }"]}


def test_tolerations_equal_exists_and_effect():
    n = info(node("a", taints=[{"key": "dedicated", "value": "gpu", "effect": "NoSchedule"}]))
    ok = [
        [{"key": "dedicated", "operator": "Equal", "value": "gpu", "effect": "NoSchedule"}],
        [{"key": "dedicated", "value": "gpu"}],
        [{"key": "dedicated", "operator": "Exists"}],
        [{"operator": "Exists"}],
    ]
    bad = [
        [{"key": "dedicated", "operator": "Equal", "value": "cpu"}],
        [{"key": "dedicated", "operator": "Exists", "effect": "NoExecute"}],
        [{"key": "other", "operator": "Exists"}],
    ]
    for tol in ok:
        assert run(pod(tolerations=tol), n).node == "a", tol
    for tol in bad:
        assert run(pod(tolerations=tol), n).node is None, tol


def test_first_failing_filter_only_is_reported():
    n = info(node("a", cpu="1", taints=[CP_TAINT]))
    assert run(pod(cpu="2"), n).failures == {
        "a": ["node(s) had untolerated taint {node-role.kubernetes.io/control-plane: }"]
    }


# ----------------------------------------------------------------------------- inter-pod affinity

ZONES = {"a": "z1", "b": "z1", "c": "z2"}


def _zoned(*pods_on: tuple[str, dict]) -> list[NodeInfo]:
    return [
        info(node(n, labels={"topology.kubernetes.io/zone": z}), *[p for on, p in pods_on if on == n])
        for n, z in ZONES.items()
    ]


def _term(key: str, **labels: str) -> dict:
    return {"labelSelector": {"matchLabels": labels}, "topologyKey": key}


def test_required_pod_affinity_by_zone():
    nodes = _zoned(("a", pod("db", labels={"app": "db"}, node_name="a")))
    aff = {
        "podAffinity": {
            "requiredDuringSchedulingIgnoredDuringExecution": [_term("topology.kubernetes.io/zone", app="db")]
        }
    }
    r = run(pod(affinity=aff), *nodes)
    assert set(r.feasible) == {"a", "b"}
    assert r.failures == {"c": ["node(s) didn't match pod affinity rules"]}


def test_required_pod_affinity_other_namespace_does_not_count():
    nodes = _zoned(("a", pod("db", namespace="other", labels={"app": "db"}, node_name="a")))
    aff = {
        "podAffinity": {"requiredDuringSchedulingIgnoredDuringExecution": [_term("kubernetes.io/hostname", app="db")]}
    }
    assert run(pod(affinity=aff), *nodes).node is None


def test_first_pod_with_affinity_to_itself_may_schedule():
    aff = {
        "podAffinity": {"requiredDuringSchedulingIgnoredDuringExecution": [_term("kubernetes.io/hostname", app="web")]}
    }
    assert run(pod(labels={"app": "web"}, affinity=aff), *_zoned()).node is not None
    assert run(pod(labels={"app": "other"}, affinity=aff), *_zoned()).node is None


def test_required_anti_affinity_by_hostname():
    nodes = _zoned(("a", pod("w1", labels={"app": "web"}, node_name="a")))
    anti = {
        "podAntiAffinity": {
            "requiredDuringSchedulingIgnoredDuringExecution": [_term("kubernetes.io/hostname", app="web")]
        }
    }
    r = run(pod(labels={"app": "web"}, affinity=anti), *nodes)
    assert set(r.feasible) == {"b", "c"}
    assert r.failures == {"a": ["node(s) didn't match pod anti-affinity rules"]}


def test_existing_pods_anti_affinity_by_zone():
    anti = {
        "podAntiAffinity": {
            "requiredDuringSchedulingIgnoredDuringExecution": [_term("topology.kubernetes.io/zone", app="web")]
        }
    }
    nodes = _zoned(("b", pod("loner", labels={"app": "x"}, node_name="b", affinity=anti)))
    r = run(pod(labels={"app": "web"}), *nodes)
    assert r.feasible == ["c"]
    reason = ["node(s) didn't satisfy existing pods anti-affinity rules"]
    assert r.failures == {"a": reason, "b": reason}


# ----------------------------------------------------------------------------- topology spread


def _spread(max_skew: int = 1, when: str = "DoNotSchedule", **extra) -> list[dict]:
    return [
        {
            "maxSkew": max_skew,
            "topologyKey": "topology.kubernetes.io/zone",
            "whenUnsatisfiable": when,
            "labelSelector": {"matchLabels": {"app": "web"}},
            **extra,
        }
    ]


def test_topology_spread_do_not_schedule_max_skew_1_over_zones():
    nodes = _zoned(("a", pod("w1", labels={"app": "web"}, node_name="a")))
    r = run(pod(labels={"app": "web"}, topologySpreadConstraints=_spread()), *nodes)
    assert r.feasible == ["c"]
    assert r.failures["a"] == ["node(s) didn't match pod topology spread constraints"]
    # with skew 2 allowed, zone z1 is fine again
    r = run(pod(labels={"app": "web"}, topologySpreadConstraints=_spread(2)), *nodes)
    assert set(r.feasible) == {"a", "b", "c"}


def test_topology_spread_missing_label_is_unresolvable_reason():
    nodes = [*_zoned(), info(node("d"))]
    r = run(pod(labels={"app": "web"}, topologySpreadConstraints=_spread()), *nodes)
    assert r.failures["d"] == ["node(s) didn't match pod topology spread constraints (missing required label)"]


def test_topology_spread_honors_node_affinity_when_counting_domains():
    # zone z2 is excluded by the pod's nodeSelector, so its empty domain does not pull the minimum to 0
    nodes = _zoned(("a", pod("w1", labels={"app": "web"}, node_name="a")))
    nodes[1].node["metadata"]["labels"]["pool"] = "x"
    nodes[0].node["metadata"]["labels"]["pool"] = "x"
    p = pod(labels={"app": "web"}, topologySpreadConstraints=_spread(), nodeSelector={"pool": "x"})
    assert set(run(p, *nodes).feasible) == {"a", "b"}
    p["spec"]["topologySpreadConstraints"][0]["nodeAffinityPolicy"] = "Ignore"
    assert run(p, *nodes).feasible == []


def test_topology_spread_min_domains():
    web = {"app": "web"}
    nodes = _zoned(("a", pod("w1", labels=web, node_name="a")), ("c", pod("w2", labels=web, node_name="c")))
    assert len(run(pod(labels=web, topologySpreadConstraints=_spread()), *nodes).feasible) == 3
    # only 2 domains < minDomains 3: the global minimum counts as 0, so every zone would reach skew 2
    r = run(pod(labels=web, topologySpreadConstraints=_spread(minDomains=3)), *nodes)
    assert r.feasible == []


def test_anti_affinity_namespace_selector_reaches_other_namespaces():
    nodes = _zoned(("a", pod("w1", namespace="team-b", labels={"app": "web"}, node_name="a")))
    term = _term("kubernetes.io/hostname", app="web")
    anti = {"podAntiAffinity": {"requiredDuringSchedulingIgnoredDuringExecution": [term]}}
    assert "a" in run(pod(affinity=anti), *nodes).feasible  # own namespace only by default
    term["namespaceSelector"] = {"matchLabels": {"team": "b"}}
    r = run(pod(affinity=anti), *nodes, namespace_labels={"team-b": {"team": "b"}})
    assert "a" not in r.feasible
    term["namespaceSelector"] = {}
    assert "a" not in run(pod(affinity=anti), *nodes).feasible  # empty selector: all namespaces


def test_topology_spread_node_taints_policy_honor_skips_tainted_domains():
    web = {"app": "web"}
    nodes = _zoned(("a", pod("w1", labels=web, node_name="a")))
    nodes[2] = info(
        node("c", labels={"topology.kubernetes.io/zone": "z2"}, taints=[{"key": "k", "effect": "NoSchedule"}])
    )
    tol = [{"key": "k", "operator": "Exists"}]
    # Ignore (default): the empty tainted zone z2 counts, so z1 (1 pod) + self is skew 2
    p = pod(labels=web, topologySpreadConstraints=_spread(), tolerations=tol)
    assert run(p, *nodes).feasible == ["c"]
    # Honor: z2's node has a taint... tolerated by the pod, so it still counts
    p["spec"]["topologySpreadConstraints"][0]["nodeTaintsPolicy"] = "Honor"
    assert run(p, *nodes).feasible == ["c"]
    # a pod that does not tolerate it: z2 is no domain, only z1 counts and its minimum is 1
    p = pod(labels=web, topologySpreadConstraints=_spread(nodeTaintsPolicy="Honor"))
    assert set(run(p, *nodes).feasible) == {"a", "b"}


def test_inter_pod_affinity_reason_order_affinity_first():
    anti = {
        "podAntiAffinity": {
            "requiredDuringSchedulingIgnoredDuringExecution": [_term("kubernetes.io/hostname", app="web")]
        }
    }
    aff = {
        "podAffinity": {"requiredDuringSchedulingIgnoredDuringExecution": [_term("kubernetes.io/hostname", app="db")]}
    }
    nodes = _zoned(
        ("a", pod("w1", labels={"app": "x"}, node_name="a", affinity=anti)),
        ("c", pod("db", labels={"app": "db"}, node_name="c")),
    )
    r = run(pod(labels={"app": "web"}, affinity=aff), *nodes)
    assert r.feasible == ["c"]
    assert r.failures["a"] == ["node(s) didn't match pod affinity rules"]
