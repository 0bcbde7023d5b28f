"""What each machine of a cluster is rendered: the right services per role, configs that agree with each
other, private keys kept private, and a re-render that changes nothing."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
import yaml

from kubeprov.controllers.config import ControllerManagerConfig
from kubeprov.dns.config import DnsConfig
from kubeprov.lifecycle.pki_plan import pki_spec_for
from kubeprov.machinefiles import plan_cluster, render_machines
from kubeprov.machinefiles.sources import Sources
from kubeprov.pki import generate_pki
from kubeprov.providers.base import Machine
from kubeprov.proxy.config import ProxyConfig
from kubeprov.scheduler.config import SchedulerConfig
from kubeprov.stack import Stack, plan_machines
from kubeprov.stack.loader import load_stack

ROOT = Path(__file__).resolve().parents[2]


def machines_of(stack: Stack) -> list[Machine]:
    return [Machine(m.name, m.role, m.address or "", pool=m.pool, labels=m.labels, taints=m.taints)
            for m in plan_machines(stack)]


@pytest.fixture(scope="module")
def rendered(tmp_path_factory: pytest.TempPathFactory) -> tuple[Path, Stack, Sources]:
    root = tmp_path_factory.mktemp("render")
    stack = load_stack(ROOT / "stacks/local.yaml")
    generate_pki(pki_spec_for(stack), root / "pki", root / "kubeconfigs")
    src = Sources(root / "pki", root / "kubeconfigs")
    report = render_machines(plan_cluster(stack, machines_of(stack)), src, root / "rendered")
    assert report.any_changed
    return root / "rendered", stack, src


def services(rendered: Path, machine: str) -> list[dict]:
    return json.loads((rendered / machine / "services.json").read_text())


def machine_file(rendered: Path, machine: str, path: str) -> Path:
    return rendered / machine / "files" / path.lstrip("/")


def test_a_control_plane_machine_runs_etcd_then_the_control_plane_then_the_node(rendered) -> None:
    units = [s["unit"] for s in services(rendered[0], "local-cp-1")]
    assert units == ["kubeprov-etcd.service", "kubeprov-apiserver.service", "kubeprov-scheduler.service",
                     "kubeprov-controller-manager.service", "kubeprov-node-network.service", "kubeprov-dns.service",
                     "kubeprov-kubelet.service", "kubeprov-proxy.service"]


def test_a_worker_runs_only_node_services(rendered) -> None:
    assert {s["group"] for s in services(rendered[0], "local-workers-1")} == {"node"}


def test_the_balancer_machine_runs_haproxy_and_the_registry(rendered) -> None:
    assert [(s["unit"], s["group"]) for s in services(rendered[0], "local-lb")] == [
        ("kubeprov-haproxy.service", "load-balancer"), ("kubeprov-registry.service", "registry")]


def test_etcd_bootstraps_from_every_control_plane_member(rendered) -> None:
    config = yaml.safe_load(machine_file(rendered[0], "local-cp-2", "/etc/kubeprov/etcd.yaml").read_text())
    assert config["initial-cluster"] == ("local-cp-1=https://10.214.0.10:2380,local-cp-2=https://10.214.0.11:2380,"
                                         "local-cp-3=https://10.214.0.12:2380")
    assert config["advertise-client-urls"] == "https://10.214.0.11:2379"


def test_the_apiserver_uses_all_etcd_members_and_advertises_its_own_address(rendered) -> None:
    config = yaml.safe_load(machine_file(rendered[0], "local-cp-3", "/etc/kubeprov/apiserver.yaml").read_text())
    assert config["etcd_endpoints"] == [f"https://10.214.0.{i}:2379" for i in (10, 11, 12)]
    assert config["advertise_address"] == "10.214.0.12"


def test_haproxy_balances_every_apiserver(rendered) -> None:
    text = machine_file(rendered[0], "local-lb", "/etc/kubeprov/haproxy.cfg").read_text()
    assert [line.split()[2] for line in text.splitlines() if line.strip().startswith("server ")] == [
        "10.214.0.10:6443", "10.214.0.11:6443", "10.214.0.12:6443"]


def test_control_plane_components_talk_to_their_own_apiserver(rendered) -> None:
    kubeconfig = yaml.safe_load(
        machine_file(rendered[0], "local-cp-2", "/etc/kubeprov/kubeconfigs/scheduler.conf").read_text())
    assert kubeconfig["clusters"][0]["cluster"]["server"] == "https://10.214.0.11:6443"


def test_kubelets_use_the_balancer_and_control_plane_kubelets_register_tainted(rendered) -> None:
    kubeconfig = yaml.safe_load(
        machine_file(rendered[0], "local-cp-1", "/etc/kubeprov/kubeconfigs/kubelet.conf").read_text())
    assert kubeconfig["clusters"][0]["cluster"]["server"] == "https://10.214.0.2:6443"
    config = yaml.safe_load(machine_file(rendered[0], "local-cp-1", "/etc/kubeprov/kubelet.yaml").read_text())
    assert config["register_with_taints"] == [{"key": "node-role.kubernetes.io/control-plane", "effect": "NoSchedule"}]
    worker = yaml.safe_load(machine_file(rendered[0], "local-workers-2", "/etc/kubeprov/kubelet.yaml").read_text())
    assert worker["register_with_taints"] == []
    assert worker["registries"] == {"registry.local": "http://10.214.0.2:5000"}


def test_each_node_has_its_own_pod_range_and_routes_to_every_other(rendered) -> None:
    ranges = {}
    for node in ("local-cp-1", "local-cp-2", "local-cp-3", "local-workers-1", "local-workers-2"):
        ranges[node] = yaml.safe_load(machine_file(rendered[0], node, "/etc/kubeprov/kubelet.yaml").read_text())[
            "pod_cidr"]
    assert len(set(ranges.values())) == 5
    script = machine_file(rendered[0], "local-workers-1", "/etc/kubeprov/node-network.sh").read_text()
    routes = [line for line in script.splitlines() if line.startswith("ip route replace")]
    assert len(routes) == 4 and f"ip route replace {ranges['local-cp-1']} via 10.214.0.10" in routes


def test_private_keys_stay_private(rendered) -> None:
    keys = list((rendered[0] / "local-cp-1" / "files").rglob("*.key"))
    assert keys and all(k.stat().st_mode & 0o777 == 0o600 for k in keys)
    kubeconfigs = list((rendered[0] / "local-cp-1" / "files/etc/kubeprov/kubeconfigs").iterdir())
    assert all(k.stat().st_mode & 0o777 == 0o600 for k in kubeconfigs)


@pytest.mark.parametrize(("path", "config"), [
    ("/etc/kubeprov/scheduler.yaml", SchedulerConfig), ("/etc/kubeprov/controller-manager.yaml",
                                                        ControllerManagerConfig),
    ("/etc/kubeprov/proxy.yaml", ProxyConfig), ("/etc/kubeprov/dns.yaml", DnsConfig)])
def test_component_configs_are_accepted_by_their_components(rendered, path: str, config: type) -> None:
    config.from_dict(yaml.safe_load(machine_file(rendered[0], "local-cp-1", path).read_text()), path)


def test_every_service_restarts_on_its_own_unit_file(rendered) -> None:
    for service in services(rendered[0], "local-cp-1"):
        assert f"/etc/systemd/system/{service['unit']}" in service["files"]
        for path in service["files"]:
            assert machine_file(rendered[0], "local-cp-1", path).is_file(), path


def test_rendering_again_changes_nothing(rendered) -> None:
    directory, stack, src = rendered
    report = render_machines(plan_cluster(stack, machines_of(stack)), src, directory)
    assert not report.any_changed


def test_a_single_machine_cluster_runs_its_own_registry_and_takes_workloads(tmp_path: Path) -> None:
    stack = load_stack(ROOT / "stacks/single.yaml")
    generate_pki(pki_spec_for(stack), tmp_path / "pki", tmp_path / "kubeconfigs")
    render_machines(plan_cluster(stack, machines_of(stack)), Sources(tmp_path / "pki", tmp_path / "kubeconfigs"),
                    tmp_path / "rendered")
    groups = [s["group"] for s in services(tmp_path / "rendered", "single-cp-1")]
    assert "registry" in groups and "load-balancer" not in groups
    kubelet = yaml.safe_load(machine_file(tmp_path / "rendered", "single-cp-1", "/etc/kubeprov/kubelet.yaml")
                             .read_text())
    assert kubelet["register_with_taints"] == []
