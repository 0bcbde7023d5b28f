"""The proxy's model: which services it handles and which endpoints each service port uses."""

from __future__ import annotations

from kubeprov.proxy.model import Endpoint, build, health_checks

NODE = "node-a"


def service(name: str = "web", **spec: object) -> dict:
    base: dict = {"clusterIP": "10.96.0.10", "ports": [{"name": "http", "port": 80, "protocol": "TCP"}]}
    base.update(spec)
    return {"metadata": {"namespace": "ns", "name": name}, "spec": base}


def endpoint(ip: str, node: str = "", **conditions: bool) -> dict:
    return {"addresses": [ip], "nodeName": node, "conditions": conditions}


def eps(name: str = "web-1", service_name: str = "web", endpoints: list | None = None, port_name: str = "http",
        port: int = 8080) -> dict:
    return {"metadata": {"namespace": "ns", "name": name, "labels": {"kubernetes.io/service-name": service_name}},
            "addressType": "IPv4", "ports": [{"name": port_name, "port": port, "protocol": "TCP"}],
            "endpoints": endpoints or []}


def test_slices_join_their_service_by_label_and_ports_by_name() -> None:
    svc = service(ports=[{"name": "http", "port": 80}, {"name": "admin", "port": 81}])
    slices = [eps("a", endpoints=[endpoint("10.1.0.1")]), eps("b", endpoints=[endpoint("10.1.0.2")],
                                                             port_name="admin", port=9090),
              eps("other", service_name="other", endpoints=[endpoint("10.1.0.9")])]
    ports = {p.port_name: p for p in build([svc], slices)}
    assert ports["http"].endpoints == (Endpoint("10.1.0.1", 8080),)
    assert ports["admin"].endpoints == (Endpoint("10.1.0.2", 9090),)


def test_only_ready_endpoints_are_used_when_some_are_ready() -> None:
    slices = [eps(endpoints=[endpoint("10.1.0.1", ready=True), endpoint("10.1.0.2", ready=False),
                             endpoint("10.1.0.3", ready=False, serving=True, terminating=True)])]
    (port,) = build([service()], slices)
    assert [e.ip for e in port.cluster_endpoints()] == ["10.1.0.1"]


def test_serving_terminating_endpoints_are_used_when_none_is_ready() -> None:
    slices = [eps(endpoints=[endpoint("10.1.0.2", ready=False, serving=False, terminating=True),
                             endpoint("10.1.0.3", ready=False, serving=True, terminating=True)])]
    (port,) = build([service()], slices)
    assert [e.ip for e in port.cluster_endpoints()] == ["10.1.0.3"]


def test_unset_ready_condition_means_ready() -> None:
    (port,) = build([service()], [eps(endpoints=[{"addresses": ["10.1.0.1"]}])])
    assert [e.ip for e in port.cluster_endpoints()] == ["10.1.0.1"]


def test_headless_and_external_name_services_are_ignored() -> None:
    headless = service("h", clusterIP="None")
    external = {"metadata": {"namespace": "ns", "name": "x"}, "spec": {"type": "ExternalName",
                                                                      "externalName": "example.com"}}
    assert build([headless, external], []) == []


def test_services_of_another_proxy_are_ignored() -> None:
    svc = service()
    svc["metadata"]["labels"] = {"service.kubernetes.io/service-proxy-name": "other-proxy"}
    assert build([svc], [eps(endpoints=[endpoint("10.1.0.1")])]) == []


def test_local_endpoints_are_those_on_this_node() -> None:
    slices = [eps(endpoints=[endpoint("10.1.0.1", NODE), endpoint("10.1.0.2", "node-b")])]
    (port,) = build([service(type="NodePort", externalTrafficPolicy="Local",
                             ports=[{"name": "http", "port": 80, "nodePort": 30080}])], slices)
    assert port.external_local and port.node_port == 30080
    assert [e.ip for e in port.local_endpoints(NODE)] == ["10.1.0.1"]


def test_external_traffic_policy_local_needs_an_external_type() -> None:
    (port,) = build([service(externalTrafficPolicy="Local")], [])
    assert not port.external_local


def test_session_affinity_defaults_to_three_hours() -> None:
    (plain,) = build([service(sessionAffinity="ClientIP")], [])
    (custom,) = build([service(sessionAffinity="ClientIP",
                               sessionAffinityConfig={"clientIP": {"timeoutSeconds": 60}})], [])
    assert (plain.affinity_timeout, custom.affinity_timeout) == (10800, 60)


def test_load_balancer_ingress_ips_and_external_ips_are_destinations() -> None:
    svc = service(type="LoadBalancer", externalIPs=["192.0.2.7"], ports=[{"name": "http", "port": 80,
                                                                         "nodePort": 30080}])
    svc["status"] = {"loadBalancer": {"ingress": [{"ip": "192.0.2.50"}, {"hostname": "lb.example"}]}}
    (port,) = build([svc], [])
    assert port.external_destinations == ("192.0.2.7", "192.0.2.50")


def test_ingress_of_a_service_no_longer_load_balancer_is_ignored() -> None:
    svc = service(type="ClusterIP")
    svc["status"] = {"loadBalancer": {"ingress": [{"ip": "192.0.2.50"}]}}
    (port,) = build([svc], [])
    assert port.load_balancer_ips == () and not port.has_external


def test_source_ranges_apply_to_load_balancers_only() -> None:
    ranges = ["10.197.2.7/24", "2001:db8::/64"]
    (lb,) = build([service(type="LoadBalancer", loadBalancerSourceRanges=ranges,
                           ports=[{"name": "http", "port": 80, "nodePort": 30080}])], [])
    (plain,) = build([service(loadBalancerSourceRanges=ranges)], [])
    assert (lb.source_ranges, plain.source_ranges) == (("10.197.2.0/24",), ())


def test_health_check_port_counts_the_services_local_endpoints() -> None:
    svc = service(type="LoadBalancer", externalTrafficPolicy="Local", healthCheckNodePort=32000,
                  ports=[{"name": "http", "port": 80, "nodePort": 30080}])
    slices = [eps(endpoints=[endpoint("10.1.0.1", NODE), endpoint("10.1.0.2", "node-b")])]
    assert health_checks(build([svc], slices), NODE) == {32000: ("ns", "web", 1)}
