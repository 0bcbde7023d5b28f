"""Real local machines from the local provider: reachable, isolated, able to run runc pods, restartable,
and gone without a trace after destroy. The tests share one cluster and run in file order (destroy last)."""

from __future__ import annotations

import ipaddress
import json
import os
import signal
import socket
import time
from pathlib import Path

import pytest

from kubeprov.providers import local_cgroups
from kubeprov.providers.image import IMAGE_PACKAGES
from kubeprov.providers.local import SUPERVISORS_JSON, cgroup_leaf
from kubeprov.providers.local_net import mac_for

pytestmark = [
    pytest.mark.e2e,
    pytest.mark.skipif(os.geteuid() != 0, reason="local machines need root (bridge, mounts, systemd-nspawn)"),
    pytest.mark.timeout(600),
]


def _ssh_port_open(address: str) -> bool:
    try:
        with socket.create_connection((address, 22), timeout=1):
            return True
    except OSError:
        return False


def _wait_for(predicate, timeout: float, what: str) -> None:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        try:
            if predicate():
                return
        except Exception:  # a machine going down or coming up refuses connections for a while
            pass
        time.sleep(0.5)
    raise AssertionError(f"timed out after {timeout}s waiting for {what}")


def test_machines_answer_ssh_with_the_cluster_key_and_systemd_is_running(local_cluster):
    assert {m.role for m in local_cluster.machines} == {"control-plane", "worker"}
    for machine in local_cluster.machines:
        assert machine.ssh_user == "root" and machine.ssh_port == 22
        assert machine.ssh_key == local_cluster.provider.ssh_key
        status, state = local_cluster.ssh(machine, "systemctl is-system-running --wait")
        failed = local_cluster.ssh(machine, "systemctl --failed --no-legend --plain")[1]
        assert state.strip() == "running", f"{machine.name} is {state.strip()}; failed units: {failed}"


def test_machines_from_state_match_what_provision_returned(local_cluster):
    assert local_cluster.provider.machines() == local_cluster.machines


def test_each_machine_has_its_planned_address_mac_and_hostname(local_cluster):
    for machine in local_cluster.machines:
        out = local_cluster.check(machine, "hostname; ip -j addr show dev host0")
        hostname, addresses = out.split("\n", 1)
        link = json.loads(addresses)[0]
        assert hostname == machine.name
        assert link["address"] == mac_for(machine.address)
        assert [a["local"] for a in link["addr_info"] if a["family"] == "inet"] == [machine.address]


def test_machines_have_every_image_package_and_debian_services_we_replace_stay_off(local_cluster):
    worker = local_cluster.machine("worker")
    installed = local_cluster.check(worker, "dpkg-query -W -f '${Package} ${db:Status-Status}\\n'")
    have = {line.split()[0] for line in installed.splitlines() if line.endswith(" installed")}
    assert set(IMAGE_PACKAGES) <= have, sorted(set(IMAGE_PACKAGES) - have)
    units = "etcd.service haproxy.service docker-registry.service apt-daily.timer apt-daily-upgrade.timer"
    status, states = local_cluster.ssh(worker, f"systemctl is-active {units}")
    assert set(states.split()) == {"inactive"}, states


def test_machines_have_no_default_route_and_no_dns_server_off_the_machine(local_cluster):
    for machine in local_cluster.machines:
        assert local_cluster.check(machine, "ip -4 route show default; ip -6 route show default").strip() == ""
        resolv = local_cluster.check(machine, "cat /etc/resolv.conf")
        servers = [line.split()[1] for line in resolv.splitlines() if line.startswith("nameserver")]
        assert servers and all(ipaddress.ip_address(s).is_loopback for s in servers), resolv


def test_machines_reach_each_other_over_the_bridge(local_cluster):
    cp, worker = local_cluster.machine("control-plane"), local_cluster.machine("worker")
    out = local_cluster.check(cp, f"busybox ping -c 1 -W 2 {worker.address} && echo >/dev/tcp/{worker.address}/22")
    assert "1 packets received" in out


POD_SCRIPT = "echo hello from $(busybox hostname); busybox dd if=/dev/zero of=/dev/shm/fill bs=1M count=48; echo dd=$?"
RUNC_TEST = f"""set -e
B=/var/lib/kubeprov/e2e-bundle; rm -rf $B; mkdir -p $B/rootfs/bin; cd $B
cp /bin/busybox rootfs/bin/busybox; ln -s busybox rootfs/bin/sh
runc spec
jq --arg script '{POD_SCRIPT}' '.process.terminal=false | .process.args=["/bin/sh","-c",$script]
    | .linux.resources.memory={{limit:16777216,swap:16777216}}' config.json > c.json
mv c.json config.json
timeout 60 runc run e2e-pod </dev/null 2>&1
"""


def test_a_runc_container_runs_inside_a_machine_and_its_memory_limit_is_enforced(local_cluster):
    out = local_cluster.check(local_cluster.machine("worker"), RUNC_TEST)
    assert "hello from runc" in out
    # 48 MiB written to a tmpfs with a 16 MiB limit (and no swap): the kernel OOM-kills dd (128 + 9)
    assert "dd=137" in out, out


def test_provision_again_reports_no_change(local_cluster):
    result = local_cluster.provider.provision(lambda _line: None)
    assert result.changed is False
    assert result.machines == local_cluster.machines


def test_power_off_then_on_brings_ssh_back(local_cluster):
    worker = local_cluster.machine("worker")
    provider = local_cluster.provider
    provider.power_off(worker.name, lambda _line: None)
    assert not provider.running(worker.name)
    assert not _ssh_port_open(worker.address)
    assert str(provider.files(worker.name).root) not in Path("/proc/mounts").read_text()
    provider.power_on(worker.name, lambda _line: None)
    assert local_cluster.check(worker, "hostname").strip() == worker.name


STUCK_POD = """set -e
B=/var/lib/kubeprov/e2e-stuck; rm -rf $B; mkdir -p $B/rootfs/bin; cd $B
cp /bin/busybox rootfs/bin/busybox; ln -s busybox rootfs/bin/sh
runc spec
jq '.process.terminal=false | .process.args=["/bin/sh","-c","trap \\"\\" TERM; while :; do busybox sleep 1; done"]' \\
    config.json > c.json
mv c.json config.json
runc run -d e2e-stuck </dev/null >/dev/null 2>&1
runc state e2e-stuck | jq -r .status
"""


def test_power_off_kills_a_pod_that_ignores_sigterm_instead_of_waiting_for_it(local_cluster):
    worker = local_cluster.machine("worker")
    provider = local_cluster.provider
    assert local_cluster.check(worker, STUCK_POD).strip() == "running"
    started = time.monotonic()
    provider.power_off(worker.name, lambda _line: None)
    took = time.monotonic() - started
    assert not provider.running(worker.name)
    assert took < provider.stop_timeout, f"power-off took {took:.1f}s"
    for directory in local_cgroups.planned_dirs(cgroup_leaf(worker.name)):
        assert not directory.exists()
    provider.power_on(worker.name, lambda _line: None)


def test_reboot_inside_a_machine_comes_back_by_itself(local_cluster):
    cp = local_cluster.machine("control-plane")
    marker = "/run/kubeprov-e2e-before-reboot"  # /run is a fresh tmpfs at every boot
    local_cluster.check(cp, f"touch {marker}")
    # in a second, so this SSH session ends cleanly first (a timer's default accuracy is a whole minute)
    local_cluster.check(cp, "systemd-run --on-active=1 --timer-property=AccuracySec=10ms systemctl reboot")
    def went_down() -> bool:
        return not _ssh_port_open(cp.address) or local_cluster.ssh(cp, f"test -e {marker}")[0] != 0

    _wait_for(went_down, 60, "the machine to go down")
    _wait_for(lambda: local_cluster.ssh(cp, f"test ! -e {marker}")[0] == 0, 90, "the reboot")
    assert local_cluster.provider.running(cp.name)
    assert local_cluster.check(cp, "systemctl is-system-running --wait").strip() == "running"


def test_provision_restarts_a_machine_whose_supervisor_was_killed(local_cluster):
    provider = local_cluster.provider
    worker = local_cluster.machine("worker")
    record = next(r for r in provider.supervisors.load() if r.name == worker.name)
    os.kill(record.pid, signal.SIGKILL)
    _wait_for(lambda: not provider.running(worker.name), 10, "the supervisor to die")
    result = provider.provision(lambda _line: None)
    assert result.changed is True
    assert any(worker.name in message for message in result.messages)
    assert local_cluster.check(worker, "hostname").strip() == worker.name


def test_provision_remakes_a_half_made_machine(local_cluster):
    provider = local_cluster.provider
    worker = local_cluster.machine("worker")
    provider.power_off(worker.name, lambda _line: None)
    local_cluster_files = provider.files(worker.name)
    (local_cluster_files.upper / "half-made-marker").write_text("from the interrupted run\n")
    local_cluster_files.ready.unlink()  # as if the earlier run died while making the machine
    result = provider.provision(lambda _line: None)
    assert result.changed is True
    assert f"cleaned half-made machine {worker.name}" in result.messages
    assert local_cluster.check(worker, "test ! -e /half-made-marker && hostname").strip() == worker.name


def test_destroy_leaves_nothing_behind(local_cluster):
    provider = local_cluster.provider
    names = [m.name for m in local_cluster.machines]
    removed = provider.destroy(lambda _line: None)
    assert set(removed) == {f"machine {n}" for n in names} | {"bridge kp-e2emach"}
    state_path = str(provider.state.path)
    assert state_path not in Path("/proc/mounts").read_text()
    assert not Path("/sys/class/net/kp-e2emach").exists()
    # nspawn names the host end of a machine's veth vb-<machine name>, shortened with a hash when long
    assert not [link for link in os.listdir("/sys/class/net") if link.startswith("vb-e2emach")]
    for name in names:
        for directory in local_cgroups.planned_dirs(cgroup_leaf(name)):
            assert not directory.exists()
        assert not list(Path("/sys/fs/cgroup").glob(f"*/**/{cgroup_leaf(name)}"))
    ours = [pid for pid in os.listdir("/proc") if pid.isdigit() and state_path in _cmdline(pid)]
    assert ours == []
    assert not (provider.state.path / "machines").exists()
    assert not (provider.state.path / SUPERVISORS_JSON).exists()
    assert provider.machines() == []
    assert provider.destroy(lambda _line: None) == []


def _cmdline(pid: str) -> str:
    try:
        return Path(f"/proc/{pid}/cmdline").read_bytes().replace(b"\0", b" ").decode(errors="replace")
    except OSError:
        return ""
