"""Service environment variables: names, docker-link variables, which Services count, enableServiceLinks."""

from __future__ import annotations

from kubeprov.kubelet.network.service_env import service_env_for_pod


def svc(name: str, ns: str, ip: str, ports: list[dict] | None = None) -> dict:
    return {"metadata": {"name": name, "namespace": ns}, "spec": {"clusterIP": ip, "ports": ports or []}}


KUBERNETES = svc("kubernetes", "default", "10.96.0.1", [{"name": "https", "port": 443, "protocol": "TCP"}])
POD = {"metadata": {"name": "p", "namespace": "shop"}, "spec": {"containers": []}}


def test_a_service_gets_host_port_and_docker_link_variables() -> None:
    env = service_env_for_pod(POD, [svc("web-front", "shop", "10.96.3.4", [
        {"name": "http", "port": 80, "protocol": "TCP"}, {"name": "dns", "port": 53, "protocol": "UDP"}])])
    assert env == {
        "WEB_FRONT_SERVICE_HOST": "10.96.3.4", "WEB_FRONT_SERVICE_PORT": "80",
        "WEB_FRONT_SERVICE_PORT_HTTP": "80", "WEB_FRONT_SERVICE_PORT_DNS": "53",
        "WEB_FRONT_PORT": "tcp://10.96.3.4:80",
        "WEB_FRONT_PORT_80_TCP": "tcp://10.96.3.4:80", "WEB_FRONT_PORT_80_TCP_PROTO": "tcp",
        "WEB_FRONT_PORT_80_TCP_PORT": "80", "WEB_FRONT_PORT_80_TCP_ADDR": "10.96.3.4",
        "WEB_FRONT_PORT_53_UDP": "udp://10.96.3.4:53", "WEB_FRONT_PORT_53_UDP_PROTO": "udp",
        "WEB_FRONT_PORT_53_UDP_PORT": "53", "WEB_FRONT_PORT_53_UDP_ADDR": "10.96.3.4",
    }


def test_the_kubernetes_service_is_always_included() -> None:
    env = service_env_for_pod({**POD, "spec": {"enableServiceLinks": False}}, [KUBERNETES])
    assert env["KUBERNETES_SERVICE_HOST"] == "10.96.0.1"
    assert env["KUBERNETES_PORT_443_TCP"] == "tcp://10.96.0.1:443"


def test_enable_service_links_false_drops_the_namespaces_services() -> None:
    env = service_env_for_pod({**POD, "spec": {"enableServiceLinks": False}}, [svc("db", "shop", "10.96.0.7")])
    assert env == {}


def test_services_of_other_namespaces_are_not_included() -> None:
    assert service_env_for_pod(POD, [svc("db", "other", "10.96.0.7")]) == {}


def test_headless_and_external_name_services_are_skipped() -> None:
    external = {"metadata": {"name": "ext", "namespace": "shop"}, "spec": {"type": "ExternalName"}}
    assert service_env_for_pod(POD, [svc("db", "shop", "None"), external]) == {}


def test_a_kubernetes_service_in_the_pods_namespace_wins_over_the_default_one() -> None:
    env = service_env_for_pod(POD, [KUBERNETES, svc("kubernetes", "shop", "10.96.9.9")])
    assert env["KUBERNETES_SERVICE_HOST"] == "10.96.9.9"


def test_ipv6_cluster_ips_are_bracketed_in_urls() -> None:
    env = service_env_for_pod(POD, [svc("db", "shop", "fd00::7", [{"port": 5432, "protocol": "TCP"}])])
    assert env["DB_PORT"] == "tcp://[fd00::7]:5432"
    assert env["DB_PORT_5432_TCP_ADDR"] == "fd00::7"
