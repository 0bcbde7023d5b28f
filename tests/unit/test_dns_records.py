"""Cluster zone answers, from in-memory Services and EndpointSlices (the Kubernetes DNS specification)."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest

from kubeprov.dns.config import DnsConfig
from kubeprov.dns.records import Zone, dashed, undashed
from kubeprov.dns.wire import Rcode, Type
from kubeprov.errors import KubeprovError
from kubeprov.render import render

Obj = dict[str, Any]
D = "cluster.local"


def service(name: str, ns: str = "default", cluster_ip: str = "10.96.0.10", ports: list[Obj] | None = None,
            **spec: Any) -> Obj:
    body = {"clusterIP": cluster_ip, "clusterIPs": [cluster_ip], "ports": ports or [], **spec}
    return {"metadata": {"name": name, "namespace": ns}, "spec": body}


def endpoint(ip: str, ready: bool | None = True, hostname: str | None = None) -> Obj:
    ep: Obj = {"addresses": [ip], "conditions": {} if ready is None else {"ready": ready}}
    if hostname:
        ep["hostname"] = hostname
    return ep


def slice_of(svc: str, endpoints: list[Obj], ports: list[Obj] | None = None, name: str = "",
             address_type: str = "IPv4") -> Obj:
    return {"metadata": {"name": name or f"{svc}-abc", "namespace": "default",
                         "labels": {"kubernetes.io/service-name": svc}},
            "addressType": address_type, "endpoints": endpoints, "ports": ports or []}


def data(zone: Zone, name: str, qtype: int) -> list[object]:
    return sorted(str(rr.data) for rr in zone.lookup(name, qtype).answers)


def test_cluster_ip_service_answers_its_cluster_ip() -> None:
    zone = Zone(D)
    zone.set_service("default", "web", service("web"), [])
    assert data(zone, "web.default.svc.cluster.local", Type.A) == ["10.96.0.10"]


def test_names_are_case_insensitive_and_may_end_in_a_dot() -> None:
    zone = Zone(D)
    zone.set_service("default", "web", service("web"), [])
    assert data(zone, "WEB.Default.SVC.Cluster.Local.", Type.A) == ["10.96.0.10"]


def test_ipv6_cluster_ip_is_an_aaaa_record() -> None:
    zone = Zone(D)
    zone.set_service("default", "v6", service("v6", cluster_ip="fd00:10:96::a"), [])
    assert data(zone, "v6.default.svc.cluster.local", Type.AAAA) == ["fd00:10:96::a"]
    assert zone.lookup("v6.default.svc.cluster.local", Type.A).answers == []


def test_headless_service_answers_ready_endpoint_ips_only() -> None:
    zone = Zone(D)
    slices = [slice_of("db", [endpoint("10.1.0.1"), endpoint("10.1.0.2", ready=False), endpoint("10.1.0.3", None)])]
    zone.set_service("default", "db", service("db", cluster_ip="None"), slices)
    assert data(zone, "db.default.svc.cluster.local", Type.A) == ["10.1.0.1", "10.1.0.3"]


def test_publish_not_ready_addresses_includes_unready_endpoints() -> None:
    zone = Zone(D)
    slices = [slice_of("db", [endpoint("10.1.0.1"), endpoint("10.1.0.2", ready=False)])]
    zone.set_service("default", "db", service("db", cluster_ip="None", publishNotReadyAddresses=True), slices)
    assert data(zone, "db.default.svc.cluster.local", Type.A) == ["10.1.0.1", "10.1.0.2"]


def test_endpoints_of_several_slices_are_merged_without_duplicates() -> None:
    zone = Zone(D)
    slices = [slice_of("db", [endpoint("10.1.0.1")], name="a"),
              slice_of("db", [endpoint("10.1.0.1"), endpoint("10.1.0.2")], name="b")]
    zone.set_service("default", "db", service("db", cluster_ip="None"), slices)
    assert data(zone, "db.default.svc.cluster.local", Type.A) == ["10.1.0.1", "10.1.0.2"]


def test_endpoint_hostname_has_its_own_name() -> None:
    zone = Zone(D)
    slices = [slice_of("db", [endpoint("10.1.0.1", hostname="db-0"), endpoint("10.1.0.2", hostname="db-1")])]
    zone.set_service("default", "db", service("db", cluster_ip="None"), slices)
    assert data(zone, "db-1.db.default.svc.cluster.local", Type.A) == ["10.1.0.2"]


def test_endpoint_without_hostname_is_named_by_its_dashed_ip() -> None:
    zone = Zone(D)
    zone.set_service("default", "db", service("db", cluster_ip="None"), [slice_of("db", [endpoint("10.1.0.1")])])
    assert data(zone, "10-1-0-1.db.default.svc.cluster.local", Type.A) == ["10.1.0.1"]


def test_external_name_service_is_a_cname() -> None:
    zone = Zone(D)
    zone.set_service("default", "ext", service("ext", cluster_ip="", type="ExternalName",
                                                externalName="Example.COM"), [])
    answers = zone.lookup("ext.default.svc.cluster.local", Type.A).answers
    assert [(rr.type, rr.data) for rr in answers] == [(Type.CNAME, "example.com")]


def test_srv_for_a_named_port_of_a_cluster_ip_service_targets_the_service() -> None:
    zone = Zone(D)
    zone.set_service("default", "web", service("web", ports=[{"name": "http", "port": 80, "protocol": "TCP"},
                                                               {"port": 81}]), [])
    answers = zone.lookup("_http._tcp.web.default.svc.cluster.local", Type.SRV).answers
    assert [rr.data for rr in answers] == [(0, 100, 80, "web.default.svc.cluster.local")]


def test_unnamed_ports_have_no_srv_record() -> None:
    zone = Zone(D)
    zone.set_service("default", "web", service("web", ports=[{"port": 81, "protocol": "TCP"}]), [])
    assert zone.lookup("_._tcp.web.default.svc.cluster.local", Type.SRV).rcode == Rcode.NXDOMAIN


def test_srv_of_a_headless_service_has_one_target_per_endpoint() -> None:
    zone = Zone(D)
    slices = [slice_of("db", [endpoint("10.1.0.1", hostname="db-0"), endpoint("10.1.0.2", hostname="db-1")],
                       ports=[{"name": "pg", "port": 5432, "protocol": "TCP"}])]
    zone.set_service("default", "db", service("db", cluster_ip="None"), slices)
    answers = zone.lookup("_pg._tcp.db.default.svc.cluster.local", Type.SRV).answers
    assert sorted(rr.data for rr in answers) == [(0, 50, 5432, "db-0.db.default.svc.cluster.local"),
                                                 (0, 50, 5432, "db-1.db.default.svc.cluster.local")]


def test_ptr_for_cluster_ip_names_the_service() -> None:
    zone = Zone(D)
    zone.set_service("default", "web", service("web"), [])
    assert zone.owns_reverse("10.0.96.10.in-addr.arpa")
    assert data(zone, "10.0.96.10.in-addr.arpa", Type.PTR) == ["web.default.svc.cluster.local"]


def test_ptr_for_headless_endpoint_names_its_hostname() -> None:
    zone = Zone(D)
    slices = [slice_of("db", [endpoint("10.1.0.1", hostname="db-0")])]
    zone.set_service("default", "db", service("db", cluster_ip="None"), slices)
    assert data(zone, "1.0.1.10.in-addr.arpa", Type.PTR) == ["db-0.db.default.svc.cluster.local"]


def test_pod_names_answer_the_dashed_address_insecurely() -> None:
    zone = Zone(D)
    assert data(zone, "10-244-1-7.any.pod.cluster.local", Type.A) == ["10.244.1.7"]


def test_verified_pod_mode_needs_a_pod_with_that_address() -> None:
    zone = Zone(D, pods="verified", pod_exists=lambda ns, ip: (ns, ip) == ("default", "10.244.1.7"))
    assert data(zone, "10-244-1-7.default.pod.cluster.local", Type.A) == ["10.244.1.7"]
    assert zone.lookup("10-244-1-7.other.pod.cluster.local", Type.A).rcode == Rcode.NXDOMAIN


def test_a_bad_pod_name_is_nxdomain() -> None:
    assert Zone(D).lookup("not-an-ip.default.pod.cluster.local", Type.A).rcode == Rcode.NXDOMAIN


def test_unknown_name_is_nxdomain_with_the_soa() -> None:
    result = Zone(D).lookup("nope.default.svc.cluster.local", Type.A)
    assert result.rcode == Rcode.NXDOMAIN
    assert [rr.type for rr in result.authority] == [Type.SOA]


def test_wrong_type_for_a_known_name_is_nodata() -> None:
    zone = Zone(D)
    zone.set_service("default", "web", service("web"), [])
    result = zone.lookup("web.default.svc.cluster.local", Type.TXT)
    assert (result.rcode, result.answers, [rr.type for rr in result.authority]) == (Rcode.NOERROR, [], [Type.SOA])


def test_names_above_a_service_exist_without_records() -> None:
    zone = Zone(D)
    zone.set_service("default", "web", service("web"), [])
    assert zone.lookup("default.svc.cluster.local", Type.A).rcode == Rcode.NOERROR
    assert zone.lookup("other.svc.cluster.local", Type.A).rcode == Rcode.NXDOMAIN


def test_ndots_search_expansions_fail_fast_until_the_full_name() -> None:
    # resolv.conf: search default.svc.cluster.local svc.cluster.local cluster.local; options ndots:5
    zone = Zone(D)
    zone.set_service("prod", "data", service("data", ns="prod"), [])
    tried = [f"data.prod.{suffix}" for suffix in ("default.svc.cluster.local", "svc.cluster.local")]
    assert [zone.lookup(name, Type.A).rcode for name in tried] == [Rcode.NXDOMAIN, Rcode.NOERROR]
    assert data(zone, tried[1], Type.A) == ["10.96.0.10"]


def test_deleting_a_service_removes_its_names() -> None:
    zone = Zone(D)
    zone.set_service("default", "web", service("web"), [])
    zone.set_service("default", "web", None, [])
    assert zone.lookup("web.default.svc.cluster.local", Type.A).rcode == Rcode.NXDOMAIN
    assert not zone.owns_reverse("10.0.96.10.in-addr.arpa")
    assert zone.sizes == {"services": 0, "names": 0, "records": 0}


def test_an_endpoint_update_replaces_the_answers() -> None:
    zone = Zone(D)
    headless = service("db", cluster_ip="None")
    zone.set_service("default", "db", headless, [slice_of("db", [endpoint("10.1.0.1")])])
    zone.set_service("default", "db", headless, [slice_of("db", [endpoint("10.1.0.2")])])
    assert data(zone, "db.default.svc.cluster.local", Type.A) == ["10.1.0.2"]


def test_apex_answers_soa_and_dns_version_txt() -> None:
    zone = Zone(D, ttl=30)
    assert [rr.type for rr in zone.lookup("cluster.local", Type.SOA).answers] == [Type.SOA]
    assert data(zone, "dns-version.cluster.local", Type.TXT) == ["('1.1.0',)"]


def test_dashed_addresses_round_trip() -> None:
    assert undashed(dashed("10.1.2.3")) == "10.1.2.3"
    assert undashed(dashed("fd00::1")) == "fd00::1"
    assert undashed("1-2-3") is None


# ---- the config file the zone is built from ----------------------------------------------------

def test_the_template_renders_a_config_with_the_node_local_defaults(tmp_path: Path) -> None:
    path = tmp_path / "dns.yaml"
    path.write_text(render("dns.yaml.j2", kubeconfig="/etc/kubeprov/dns.conf"))
    config = DnsConfig.load(path)
    assert (config.listen_address, config.port, config.cluster_domain, config.upstreams) == (
        "169.254.20.10", 53, "cluster.local", [])


def test_the_template_takes_upstreams_and_a_test_address(tmp_path: Path) -> None:
    path = tmp_path / "dns.yaml"
    path.write_text(render("dns.yaml.j2", kubeconfig="k", listen_address="127.0.0.1", port=0,
                           upstreams=["192.0.2.1", "[2001:db8::1]:5353"]))
    config = DnsConfig.load(path)
    assert config.upstream_addresses() == [("192.0.2.1", 53), ("2001:db8::1", 5353)]
    assert (config.listen_address, config.port) == ("127.0.0.1", 0)


@pytest.mark.parametrize("raw", [{"no_such": 1}, {"pods": "sometimes"}, {"upstreams": ["dns.example"]},
                                 {"listen_address": "localhost"}, {"port": 70000}])
def test_bad_settings_are_refused(raw: dict[str, Any]) -> None:
    with pytest.raises(KubeprovError):
        DnsConfig.from_dict(raw)
