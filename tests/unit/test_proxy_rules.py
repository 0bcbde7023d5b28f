"""The proxy's nftables rendering: layout, determinism, and incremental transactions."""

from __future__ import annotations

from kubeprov.proxy.model import Endpoint, ServicePort
from kubeprov.proxy.rules import (
    NO_ENDPOINT_NODEPORTS,
    NO_ENDPOINT_SERVICES,
    SERVICE_IPS,
    SERVICE_NODEPORTS,
    Options,
    chain_name,
    changed_chains,
    diff_transaction,
    endpoint_chain,
    full_transaction,
    render,
)

OPTIONS = Options(node_name="node-a", cluster_cidr="10.197.1.0/24")


TWO = (Endpoint("10.1.0.1", 8080), Endpoint("10.1.0.2", 8080))


def port(name: str = "web", endpoints: tuple[Endpoint, ...] = TWO, **kw: object) -> ServicePort:
    base: dict = {"namespace": "ns", "name": name, "port_name": "http", "protocol": "tcp",
                  "cluster_ip": "10.96.0.10", "port": 80, "endpoints": endpoints}
    base.update(kw)
    return ServicePort(**base)


def test_cluster_ip_maps_to_a_service_chain_spreading_over_endpoint_chains() -> None:
    p = port()
    ruleset = render([p], "t", OPTIONS)
    service_chain = chain_name("service", p)
    assert ruleset.elements[SERVICE_IPS] == {"10.96.0.10 . tcp . 80": f"goto {service_chain}"}
    rules = ruleset.chains[service_chain].rules
    assert rules[-1].startswith("numgen random mod 2 vmap")
    for e in p.endpoints:
        assert f"goto {endpoint_chain(p, e)}" in rules[-1]
        assert ruleset.chains[endpoint_chain(p, e)].rules[-1] == f"meta l4proto tcp dnat to {e.ip}:8080"


def test_traffic_from_outside_the_cluster_cidr_to_a_cluster_ip_is_marked() -> None:
    rules = render([port()], "t", OPTIONS).chains[chain_name("service", port())].rules
    assert rules[0] == ("ip daddr 10.96.0.10 meta l4proto tcp th dport 80 ip saddr != 10.197.1.0/24 "
                        "jump mark-for-masquerade")


def test_an_endpoint_reaching_its_own_service_is_marked_for_hairpin() -> None:
    p = port()
    e = p.endpoints[0]
    assert render([p], "t", OPTIONS).chains[endpoint_chain(p, e)].rules[0] == \
        "ip saddr 10.1.0.1 jump mark-for-masquerade"


def test_service_without_endpoints_is_rejected() -> None:
    ruleset = render([port(endpoints=(), node_port=30080)], "t", OPTIONS)
    assert ruleset.elements[NO_ENDPOINT_SERVICES] == {"10.96.0.10 . tcp . 80": "goto reject-chain"}
    assert ruleset.elements[NO_ENDPOINT_NODEPORTS] == {"tcp . 30080": "goto reject-chain"}
    assert ruleset.elements[SERVICE_IPS] == {}
    assert ruleset.chains["reject-chain"].rules == ("reject",)


def test_session_affinity_checks_and_updates_a_timed_set_per_endpoint() -> None:
    p = port(affinity_timeout=60)
    ruleset = render([p], "t", OPTIONS)
    affinity_sets = [name for name in ruleset.sets if name.startswith("affinity-")]
    assert len(affinity_sets) == 2
    assert all("timeout 60s" in ruleset.sets[name] for name in affinity_sets)
    service_rules = ruleset.chains[chain_name("service", p)].rules
    assert sum(r.startswith("ip saddr @affinity-") for r in service_rules) == 2
    assert any(r.startswith("update @affinity-") for r in ruleset.chains[endpoint_chain(p, p.endpoints[0])].rules)


def test_node_port_with_cluster_policy_is_masqueraded() -> None:
    p = port(node_port=30080)
    ruleset = render([p], "t", OPTIONS)
    external = chain_name("external", p)
    assert ruleset.elements[SERVICE_NODEPORTS] == {"tcp . 30080": f"goto {external}"}
    assert ruleset.chains[external].rules == ("jump mark-for-masquerade", f"goto {chain_name('service', p)}")


def test_local_policy_sends_outside_traffic_to_local_endpoints_without_snat() -> None:
    p = port(node_port=30080, external_local=True,
             endpoints=(Endpoint("10.1.0.1", 8080, "node-a"), Endpoint("10.1.0.2", 8080, "node-b")))
    ruleset = render([p], "t", OPTIONS)
    rules = ruleset.chains[chain_name("external", p)].rules
    assert rules[-1] == f"goto {chain_name('local', p)}"
    assert "jump mark-for-masquerade" not in rules
    local_rules = ruleset.chains[chain_name("local", p)].rules
    assert "10.1.0.2" not in " ".join(local_rules) and "numgen random mod 1" in local_rules[-1]


def test_local_policy_without_local_endpoints_drops_outside_traffic() -> None:
    p = port(node_port=30080, external_local=True, endpoints=(Endpoint("10.1.0.2", 8080, "node-b"),))
    assert render([p], "t", OPTIONS).chains[chain_name("external", p)].rules[-1] == "drop"


def test_load_balancer_ip_enters_through_the_external_chain() -> None:
    p = port(load_balancer_ips=("10.197.9.1",))
    assert render([p], "t", OPTIONS).elements[SERVICE_IPS]["10.197.9.1 . tcp . 80"] == \
        f"goto {chain_name('external', p)}"


def test_configured_nodeport_addresses_replace_the_local_address_lookup() -> None:
    ruleset = render([], "t", Options(node_name="n", nodeport_addresses=("192.0.2.0/24",)))
    assert ruleset.elements["nodeport-ips"] == {"192.0.2.0/24": ""}
    assert ruleset.chains["services"].rules[1].startswith("ip daddr @nodeport-ips")


def test_rendering_is_deterministic() -> None:
    ports = [port("b"), port("a", cluster_ip="10.96.0.11")]
    assert full_transaction(render(ports, "t", OPTIONS)) == full_transaction(render(ports[::-1], "t", OPTIONS))


def test_full_transaction_replaces_the_table_in_one_script() -> None:
    existing = [("chain", "service-OLD-x"), ("chain", "services"), ("map", "service-ips")]
    lines = full_transaction(render([port()], "t", OPTIONS), existing).splitlines()
    assert lines[:4] == ["add table ip t", "flush table ip t", "flush map ip t service-ips",
                         "delete chain ip t service-OLD-x"]
    assert "delete chain ip t services" not in lines
    assert any(line.startswith("add element ip t service-ips") for line in lines)


def test_unchanged_state_needs_no_transaction() -> None:
    assert diff_transaction(render([port()], "t", OPTIONS), render([port()], "t", OPTIONS)) == ""


def test_incremental_diff_touches_only_the_changed_service() -> None:
    other = port("other", cluster_ip="10.96.0.11")
    before = render([port(), other], "t", OPTIONS)
    after = render([port(endpoints=(Endpoint("10.1.0.1", 8080),)), other], "t", OPTIONS)
    script = diff_transaction(before, after)
    removed = endpoint_chain(port(), Endpoint("10.1.0.2", 8080))
    assert changed_chains(before, after) == sorted([chain_name("service", port()), removed])
    assert f"flush chain ip t {chain_name('service', port())}" in script
    assert f"delete chain ip t {removed}" in script
    assert "other" not in script and "add table" not in script


def test_a_removed_service_loses_its_map_element_before_its_chains() -> None:
    before = render([port()], "t", OPTIONS)
    script = diff_transaction(before, render([], "t", OPTIONS)).splitlines()
    delete_element = script.index("delete element ip t service-ips { 10.96.0.10 . tcp . 80 }")
    first_delete_chain = next(i for i, line in enumerate(script) if line.startswith("delete chain"))
    assert delete_element < first_delete_chain


def test_endpoints_appearing_move_the_service_from_reject_to_its_chain() -> None:
    before = render([port(endpoints=())], "t", OPTIONS)
    script = diff_transaction(before, render([port()], "t", OPTIONS))
    assert "delete element ip t no-endpoint-services { 10.96.0.10 . tcp . 80 }" in script
    assert f"add element ip t service-ips {{ 10.96.0.10 . tcp . 80 : goto {chain_name('service', port())} }}" \
        in script


def test_internal_policy_local_uses_only_this_nodes_endpoints_for_the_cluster_ip() -> None:
    p = port(internal_local=True,
             endpoints=(Endpoint("10.1.0.1", 8080, "node-a"), Endpoint("10.1.0.2", 8080, "node-b")))
    ruleset = render([p], "t", OPTIONS)
    assert ruleset.elements[SERVICE_IPS] == {"10.96.0.10 . tcp . 80": f"goto {chain_name('local', p)}"}
    assert "10.1.0.2" not in " ".join(ruleset.chains[chain_name("local", p)].rules)


def test_internal_policy_local_without_local_endpoints_drops() -> None:
    p = port(internal_local=True, endpoints=(Endpoint("10.1.0.2", 8080, "node-b"),))
    assert render([p], "t", OPTIONS).elements[NO_ENDPOINT_SERVICES] == {"10.96.0.10 . tcp . 80": "drop"}


def test_load_balancer_source_ranges_drop_other_clients_of_the_load_balancer_ip() -> None:
    p = port(load_balancer_ips=("10.197.9.1",), source_ranges=("10.197.2.0/24", "192.0.2.0/24"))
    ruleset = render([p], "t", OPTIONS)
    firewall = chain_name("firewall", p)
    assert ruleset.elements["firewall-ips"] == {"10.197.9.1 . tcp . 80": f"goto {firewall}"}
    assert ruleset.chains[firewall].rules == ("ip saddr != { 10.197.2.0/24, 192.0.2.0/24 } drop",)


def test_cluster_ips_left_undnatted_are_rejected_after_dnat() -> None:
    ruleset = render([port(), port("b", cluster_ip="10.96.0.11", endpoints=())], "t", OPTIONS)
    assert ruleset.elements["cluster-ips"] == {"10.96.0.10": "", "10.96.0.11": ""}
    assert ruleset.chains["cluster-ips-check"].rules == ("ip daddr @cluster-ips reject",)
    assert "priority -90" in ruleset.chains["filter-output-post-dnat"].spec  # after nat-output's DNAT
