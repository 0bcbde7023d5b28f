"""Pod resolv.conf and /etc/hosts contents by dnsPolicy, dnsConfig, hostNetwork, hostname/subdomain."""

from __future__ import annotations

from kubeprov.kubelet.network.dns import ClusterDNS, ResolvConf, hosts_file, parse_resolv_conf, resolv_conf

HOST = parse_resolv_conf("# node\nnameserver 192.0.2.53\nsearch corp.example\noptions edns0\n")
DNS = ClusterDNS(servers=("10.96.0.10",), domain="cluster.local", host=HOST)


def pod(**spec: object) -> dict:
    return {"metadata": {"name": "web-0", "namespace": "shop", "uid": "u"}, "spec": {"containers": [], **spec}}


def test_cluster_first_renders_kubernetes_search_domains_nameserver_and_ndots() -> None:
    assert resolv_conf(pod(), DNS).render() == (
        "search shop.svc.cluster.local svc.cluster.local cluster.local corp.example\n"
        "nameserver 10.96.0.10\n"
        "options ndots:5\n")


def test_default_policy_copies_the_node_resolver() -> None:
    assert resolv_conf(pod(dnsPolicy="Default"), DNS) == HOST


def test_host_network_pod_with_cluster_first_uses_the_node_resolver() -> None:
    assert resolv_conf(pod(hostNetwork=True), DNS).nameservers == ("192.0.2.53",)


def test_cluster_first_with_host_net_uses_cluster_dns_on_the_host_network() -> None:
    conf = resolv_conf(pod(hostNetwork=True, dnsPolicy="ClusterFirstWithHostNet"), DNS)
    assert conf.nameservers == ("10.96.0.10",)


def test_cluster_first_without_cluster_dns_falls_back_to_the_node_resolver() -> None:
    assert resolv_conf(pod(), ClusterDNS(host=HOST)).nameservers == ("192.0.2.53",)


def test_none_policy_takes_only_dns_config() -> None:
    conf = resolv_conf(pod(dnsPolicy="None", dnsConfig={
        "nameservers": ["1.2.3.4"], "searches": ["a.example"], "options": [{"name": "ndots", "value": "2"}]}), DNS)
    assert conf == ResolvConf(("1.2.3.4",), ("a.example",), ("ndots:2",))


def test_dns_config_options_override_by_name_and_searches_append() -> None:
    conf = resolv_conf(pod(dnsConfig={"searches": ["x.example"], "options": [
        {"name": "ndots", "value": "1"}, {"name": "single-request-reopen"}]}), DNS)
    assert conf.options == ("ndots:1", "single-request-reopen")
    assert conf.searches[-1] == "x.example"


def test_nameservers_are_capped_at_three() -> None:
    conf = resolv_conf(pod(dnsConfig={"nameservers": ["1.1.1.1", "2.2.2.2", "3.3.3.3"]}), DNS)
    assert conf.nameservers == ("10.96.0.10", "1.1.1.1", "2.2.2.2")


def test_parse_resolv_conf_keeps_the_last_search_line() -> None:
    assert parse_resolv_conf("search a\nsearch b c\n").searches == ("b", "c")


def test_hosts_file_names_the_pod_with_its_fqdn_when_it_has_a_subdomain() -> None:
    text = hosts_file(pod(hostname="db-0", subdomain="db"), ["10.1.0.5"])
    assert text.startswith("# Kubernetes-managed hosts file.\n127.0.0.1\tlocalhost\n")
    assert "10.1.0.5\tdb-0.db.shop.svc.cluster.local\tdb-0\n" in text


def test_hosts_file_uses_the_pod_name_without_a_subdomain() -> None:
    assert hosts_file(pod(), ["10.1.0.5"]).endswith("10.1.0.5\tweb-0\n")


def test_hosts_file_appends_host_aliases() -> None:
    text = hosts_file(pod(hostAliases=[{"ip": "10.0.0.9", "hostnames": ["foo", "bar"]}]), ["10.1.0.5"])
    assert text.endswith("\n# Entries added by HostAliases.\n10.0.0.9\tfoo\tbar\n")


def test_host_network_hosts_file_is_the_nodes_under_the_host_network_header() -> None:
    text = hosts_file(pod(hostNetwork=True), [], node_hosts="127.0.0.1 localhost\n")
    assert text == "# Kubernetes-managed hosts file (host network).\n127.0.0.1 localhost\n"
