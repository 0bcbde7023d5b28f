"""Finding a kubelet, and the connect subresources' options and choices, without a network."""

from __future__ import annotations

import datetime as dt
import ssl
from pathlib import Path

import pytest
from cryptography import x509
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec
from cryptography.x509.oid import NameOID
from multidict import MultiDict

from kubeprov.api.status import StatusError
from kubeprov.apiserver.kubelets.connection import client_ssl_context, is_hollow, node_location
from kubeprov.apiserver.kubelets.handlers import check_proxyable, service_endpoints, split_scheme_name_port
from kubeprov.apiserver.kubelets.options import LogOptions, StreamOptions, portforward_query
from kubeprov.apiserver.kubelets.pods import choose_container


def node(addresses: list[tuple[str, str]], port: int | None = None) -> dict:
    status: dict = {"addresses": [{"type": t, "address": a} for t, a in addresses]}
    if port is not None:
        status["daemonEndpoints"] = {"kubeletEndpoint": {"Port": port}}
    return {"metadata": {"name": "n1"}, "status": status}


def test_internal_ip_is_preferred_over_hostname() -> None:
    loc = node_location(node([("Hostname", "n1"), ("InternalIP", "10.0.0.5")], 10255))
    assert (loc.host, loc.port, loc.url("/healthz")) == ("10.0.0.5", 10255, "https://10.0.0.5:10255/healthz")


def test_missing_or_zero_port_means_10250() -> None:
    assert node_location(node([("InternalIP", "10.0.0.5")])).port == 10250
    assert node_location(node([("InternalIP", "10.0.0.5")], 0)).port == 10250


def test_configured_order_is_followed() -> None:
    loc = node_location(node([("InternalIP", "10.0.0.5"), ("ExternalIP", "192.0.2.7")]), ["ExternalIP"])
    assert loc.host == "192.0.2.7"


def test_ipv6_address_is_bracketed() -> None:
    assert node_location(node([("InternalIP", "fd00::5")])).netloc == "[fd00::5]:10250"


def test_node_without_usable_address_is_a_500_naming_what_it_has() -> None:
    with pytest.raises(StatusError) as err:
        node_location(node([("ExternalDNS", "n1.example")]), ["InternalIP"])
    assert err.value.code == 500
    assert "no preferred addresses found; known addresses: [{ExternalDNS n1.example}]" in err.value.message


def test_hollow_nodes_are_recognised_by_their_runtime() -> None:
    hollow = node([("InternalIP", "10.0.0.5")]) | {}
    hollow["status"]["nodeInfo"] = {"containerRuntimeVersion": "hollow://1.0"}
    assert is_hollow(hollow) and not is_hollow(node([("InternalIP", "10.0.0.5")]))


def _ca_file(tmp_path: Path) -> str:
    key = ec.generate_private_key(ec.SECP256R1())
    name = x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, "test-ca")])
    now = dt.datetime.now(dt.UTC)
    cert = (x509.CertificateBuilder().subject_name(name).issuer_name(name).public_key(key.public_key())
            .serial_number(1).not_valid_before(now).not_valid_after(now + dt.timedelta(days=1))
            .add_extension(x509.BasicConstraints(ca=True, path_length=None), critical=True)
            .sign(key, hashes.SHA256()))
    path = tmp_path / "ca.crt"
    path.write_bytes(cert.public_bytes(serialization.Encoding.PEM))
    return str(path)


def test_kubelet_certificate_is_verified_only_with_a_ca(tmp_path: Path) -> None:
    assert client_ssl_context("", "", "").verify_mode == ssl.CERT_NONE
    ctx = client_ssl_context("", "", _ca_file(tmp_path))
    assert ctx.verify_mode == ssl.CERT_REQUIRED and ctx.check_hostname


def test_log_options_become_the_kubelet_query_sorted() -> None:
    opts = LogOptions.parse({"follow": "true", "tailLines": "10", "timestamps": "1", "limitBytes": "5"}, "p")
    assert opts.kubelet_query() == "follow=true&limitBytes=5&tailLines=10&timestamps=true"


@pytest.mark.parametrize(("query", "message"), [
    ({"tailLines": "-1"}, 'PodLogOptions "p" is invalid: tailLines: Invalid value: -1: must be greater than or '
                          "equal to 0"),
    ({"limitBytes": "0"}, 'PodLogOptions "p" is invalid: limitBytes: Invalid value: 0: must be greater than 0'),
    ({"sinceSeconds": "0"}, 'PodLogOptions "p" is invalid: sinceSeconds: Invalid value: 0: must be greater than 0'),
])
def test_out_of_range_log_options_are_422(query: dict, message: str) -> None:
    with pytest.raises(StatusError) as err:
        LogOptions.parse(query, "p")
    assert (err.value.code, err.value.message) == (422, message)


def test_since_seconds_and_since_time_together_are_forbidden() -> None:
    with pytest.raises(StatusError) as err:
        LogOptions.parse({"sinceSeconds": "5", "sinceTime": "2026-01-01T00:00:00Z"}, "p")
    assert err.value.code == 422 and "at most one of `sinceTime` or `sinceSeconds` may be specified" in \
        err.value.message


def test_malformed_numbers_and_booleans_are_400() -> None:
    with pytest.raises(StatusError) as err:
        LogOptions.parse({"tailLines": "ten"}, "p")
    assert (err.value.code, err.value.message) == (400, 'strconv.ParseInt: parsing "ten": invalid syntax')
    with pytest.raises(StatusError) as err:
        LogOptions.parse({"follow": "yes"}, "p")
    assert err.value.code == 400


def test_exec_options_use_the_kubelet_parameter_names() -> None:
    query = MultiDict([("command", "sh"), ("command", "-c"), ("stdin", "true"), ("stdout", "true"), ("tty", "1")])
    assert StreamOptions.parse(query, exec_=True).kubelet_query() == "command=sh&command=-c&input=1&output=1&tty=1"


def test_exec_needs_a_command() -> None:
    with pytest.raises(StatusError) as err:
        StreamOptions.parse(MultiDict([("stdout", "true")]), exec_=True)
    assert (err.value.code, err.value.message) == (400, "you must specify at least 1 command")


def test_portforward_ports_become_port_parameters() -> None:
    assert portforward_query(MultiDict([("ports", "80"), ("ports", "8080")])) == "port=80&port=8080"
    with pytest.raises(StatusError):
        portforward_query(MultiDict([("ports", "0")]))


def pod(*containers: str, init: tuple[str, ...] = ()) -> dict:
    return {"metadata": {"name": "p"}, "spec": {"containers": [{"name": c} for c in containers],
                                                "initContainers": [{"name": c} for c in init]}}


def test_the_only_container_is_the_default() -> None:
    assert choose_container(pod("app", init=("setup",)), "") == "app"


def test_several_containers_need_a_choice_listing_init_containers_first() -> None:
    with pytest.raises(StatusError) as err:
        choose_container(pod("a", "b", init=("setup",)), "")
    assert err.value.message == "a container name must be specified for pod p, choose one of: [setup a b]"


def test_init_container_may_be_named() -> None:
    assert choose_container(pod("a", "b", init=("setup",)), "setup") == "setup"


def test_unknown_container_is_refused() -> None:
    with pytest.raises(StatusError) as err:
        choose_container(pod("a"), "x")
    assert (err.value.code, err.value.message) == (400, "container x is not valid for pod p")


def test_scheme_name_port_split() -> None:
    assert split_scheme_name_port("web") == ("", "web", "")
    assert split_scheme_name_port("web:http") == ("", "web", "http")
    assert split_scheme_name_port("https:web:443") == ("https", "web", "443")


SVC = {"metadata": {"name": "web"}, "spec": {"ports": [{"name": "http", "port": 80}, {"name": "m", "port": 9}]}}
SLICES = [{"ports": [{"name": "http", "port": 8080}],
           "endpoints": [{"addresses": ["10.1.0.1"], "conditions": {"ready": True}},
                         {"addresses": ["10.1.0.2"], "conditions": {"ready": False}}]}]


def test_service_port_number_is_mapped_to_its_name_and_only_ready_endpoints_count() -> None:
    assert service_endpoints(SVC, SLICES, "80", "web:80") == [("10.1.0.1", 8080)]
    assert service_endpoints(SVC, SLICES, "http", "web:http") == [("10.1.0.1", 8080)]


def test_service_without_such_port_or_endpoints_is_503() -> None:
    with pytest.raises(StatusError) as err:
        service_endpoints(SVC, SLICES, "81", "web:81")
    assert (err.value.code, err.value.message) == (503, 'no service port 81 found for service "web"')
    with pytest.raises(StatusError) as err:
        service_endpoints(SVC, SLICES, "9", "web:9")
    assert err.value.message == 'no endpoints available for service "web:9"'


@pytest.mark.parametrize("ip", ["127.0.0.1", "::1", "169.254.169.254", "0.0.0.0", "fe80::1"])
def test_pod_and_service_proxies_never_reach_the_api_servers_own_host(ip: str) -> None:
    with pytest.raises(StatusError) as err:
        check_proxyable(ip)
    assert (err.value.code, err.value.message) == (400, "address not allowed")


def test_pod_addresses_may_be_proxied() -> None:
    check_proxyable("10.244.1.7")
    check_proxyable("fd00::7")
