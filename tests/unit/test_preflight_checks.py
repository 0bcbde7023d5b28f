"""Preflight rules as pure functions of what machines print: os-release, ss, /proc files, df, clocks; and
the report that lists every host's problems at once."""

from __future__ import annotations

import pytest

from kubeprov.errors import KubeprovError
from kubeprov.preflight import checks
from kubeprov.preflight.facts import (
    parse_df,
    parse_listeners,
    parse_meminfo_kib,
    parse_os_release,
    parse_owners,
    parse_words,
    split_sections,
)
from kubeprov.preflight.findings import Finding, HostReport, PreflightReport, error, warning

BOOKWORM = """PRETTY_NAME="Debian GNU/Linux 12 (bookworm)"
NAME="Debian GNU/Linux"
VERSION_ID="12"
VERSION_CODENAME=bookworm
ID=debian
"""
BULLSEYE = BOOKWORM.replace('"12', '"11').replace("12 (bookworm)", "11 (bullseye)").replace("bookworm", "bullseye")
TRIXIE_TESTING = 'PRETTY_NAME="Debian GNU/Linux trixie/sid"\nVERSION_CODENAME=trixie\nID=debian\n'
UBUNTU = 'PRETTY_NAME="Ubuntu 24.04 LTS"\nID=ubuntu\nID_LIKE=debian\nVERSION_ID="24.04"\n'

SS = """LISTEN 0      4096       0.0.0.0:6443  0.0.0.0:* users:(("haproxy",pid=700,fd=7))
LISTEN 0      4096     127.0.0.1:2379  0.0.0.0:* users:(("etcd",pid=800,fd=8))
LISTEN 0      128           [::]:22       [::]:* users:(("sshd",pid=90,fd=4))
LISTEN 0      128              *:10250       *:* users:(("python3",pid=900,fd=12),("python3",pid=901,fd=12))
"""
OWNERS = (
    "700\tkubeprov-haproxy.service\t/usr/sbin/haproxy -Ws -f /etc/kubeprov/haproxy.cfg\n"
    "800\t\t/usr/bin/etcd --config-file /etc/kubeprov/etcd.yaml\n"
    "900\t\tpython3 -m http.server 10250\n"
    "901\t\tpython3 -m http.server 10250\n"
)
PROC_NET_TCP = """proc
  sl  local_address rem_address   st tx_queue rx_queue tr tm->when retrnsmt   uid  timeout inode
   0: 00000000:2AFA 00000000:0000 0A 00000000:00000000 00:00000000 00000000     0        0 1234 1
   1: 0100007F:1F90 0100007F:D431 01 00000000:00000000 00:00000000 00000000     0        0 1235 1
"""
DF = """/var/lib /dev/sda1 53687091200 50465865728 1610612736 97% /
/opt /dev/sdb1 10737418240 1073741824 9663676416 10% /opt
"""
MEMINFO = "MemTotal:        2009876 kB\nMemFree:          123456 kB\n"


def severities(findings: list[Finding]) -> list[str]:
    return [f.severity for f in findings]


def test_sections_are_split_by_marker_and_empty_sections_are_kept() -> None:
    output = "\n@@kubeprov-preflight python@@\n3.11.2\n\n@@kubeprov-preflight modules@@\n\n@@kubeprov-preflight end@@\n"
    assert split_sections(output) == {"python": "3.11.2", "modules": "", "end": ""}


def test_debian_bookworm_passes_the_os_check() -> None:
    assert severities(checks.check_os(parse_os_release(BOOKWORM))) == ["info"]


def test_debian_bullseye_fails_the_os_check_naming_the_release() -> None:
    [finding] = checks.check_os(parse_os_release(BULLSEYE))
    assert finding.severity == "error" and "bullseye" in finding.message and "12" in finding.message


def test_debian_testing_without_version_id_passes_by_codename() -> None:
    assert severities(checks.check_os(parse_os_release(TRIXIE_TESTING))) == ["info"]


def test_ubuntu_fails_the_os_check_as_not_debian() -> None:
    [finding] = checks.check_os(parse_os_release(UBUNTU))
    assert finding.severity == "error" and "Ubuntu 24.04 LTS, not Debian" in finding.message


@pytest.mark.parametrize(("text", "ok"), [("3.11.2", True), ("3.12.0", True), ("3.9.2", False), ("", False)])
def test_python_must_be_3_11_or_newer(text: str, ok: bool) -> None:
    [finding] = checks.check_python(text)
    assert (finding.severity == "info") is ok


def test_ss_lines_give_ports_addresses_and_every_holding_process() -> None:
    listeners = parse_listeners(SS)
    assert [(lst.port, lst.address) for lst in listeners] == [
        (6443, "0.0.0.0"), (2379, "127.0.0.1"), (22, "[::]"), (10250, "*")
    ]  # fmt: skip
    assert listeners[3].processes == (("python3", 900), ("python3", 901))


def test_proc_net_tcp_gives_only_listening_ports_in_hex() -> None:
    assert [lst.port for lst in parse_listeners(PROC_NET_TCP)] == [0x2AFA]


def test_free_ports_give_no_port_findings() -> None:
    assert checks.check_ports("worker", parse_listeners(SS.splitlines()[2]), {}) == []


def test_a_port_held_by_another_program_is_an_error_naming_port_and_process() -> None:
    findings = checks.check_ports("worker", parse_listeners(SS), parse_owners(OWNERS))
    [finding] = [f for f in findings if f.severity == "error"]
    assert "port 10250 (the kubelet)" in finding.message and "python3 (pid 900)" in finding.message
    assert "10250" in (finding.fix or "")


def test_ports_held_by_kubeprov_units_or_kubeprov_etcd_are_fine() -> None:
    owners = parse_owners(OWNERS)
    lb = checks.check_ports("load-balancer", parse_listeners(SS), owners)
    assert severities(lb) == ["info"] and "kubeprov-haproxy.service" in lb[0].message
    etcd = checks.check_ports("etcd", parse_listeners(SS), owners)
    assert severities(etcd) == ["info"]


def test_a_taken_port_whose_owner_is_unknown_is_an_error() -> None:
    findings = checks.check_ports("load-balancer", parse_listeners(PROC_NET_TCP.replace("2AFA", "192B")), {})
    assert severities(findings) == ["error"] and "6443" in findings[0].message


def test_control_plane_needs_every_control_plane_port() -> None:
    lines = "\n".join(f"LISTEN 0 1 0.0.0.0:{p} 0.0.0.0:*" for p in (6443, 2379, 2380, 10250, 10257, 10259, 10256))
    findings = checks.check_ports("control-plane", parse_listeners(lines), {})
    assert sorted(int(f.message.split()[1]) for f in findings) == [2379, 2380, 6443, 10250, 10257, 10259]


def test_skew_is_measured_against_the_middle_of_the_round_trip() -> None:
    skew, uncertainty = checks.measure_skew(100.0, 101.5, 101.0)
    assert skew == pytest.approx(1.0) and uncertainty == pytest.approx(0.5)


def test_a_clock_four_seconds_ahead_is_an_error() -> None:
    [finding] = checks.check_skew(100.0, "104.05\n", 100.1)
    assert finding.severity == "error" and "4.0 s ahead" in finding.message


def test_a_clock_three_seconds_behind_is_an_error() -> None:
    [finding] = checks.check_skew(100.0, "97.0", 100.0)
    assert finding.severity == "error" and "behind" in finding.message


def test_skew_within_the_round_trip_uncertainty_is_not_an_error() -> None:
    # the remote clock may have been read right at the end of a 2 s round trip
    assert severities(checks.check_skew(100.0, "103.5", 102.0)) == ["info"]


def test_an_unreadable_remote_clock_is_a_warning() -> None:
    assert severities(checks.check_skew(100.0, "1700000000.N", 100.1)) == ["warning"]


def test_meminfo_total_is_read_in_kib() -> None:
    assert parse_meminfo_kib(MEMINFO) == 2009876


def test_memory_below_one_gib_is_an_error_and_two_gib_passes() -> None:
    assert severities(checks.check_memory(524288)) == ["error"]
    assert severities(checks.check_memory(parse_meminfo_kib(MEMINFO))) == ["info"]


def test_a_one_gib_machine_reporting_slightly_less_passes() -> None:
    assert severities(checks.check_memory(1000000)) == ["info"]


def test_df_lines_give_free_bytes_per_directory() -> None:
    spaces = parse_df(DF)
    assert [(s.path, s.mount, s.available) for s in spaces] == [
        ("/var/lib", "/", 1610612736), ("/opt", "/opt", 9663676416)
    ]  # fmt: skip


def test_too_little_space_in_var_lib_is_an_error_naming_the_mount() -> None:
    findings = checks.check_disk(parse_df(DF))
    [finding] = [f for f in findings if f.severity == "error"]
    assert "/var/lib (on /) has 1.5 GiB free; 2.0 GiB is needed" == finding.message


def test_missing_df_output_is_a_warning_per_directory() -> None:
    assert severities(checks.check_disk([])) == ["warning", "warning"]


def test_kernel_with_overlay_and_bridge_sysctl_passes() -> None:
    findings = checks.check_kernel(parse_words("nodev\toverlay\n\text4"), set(), set(), True, "none")
    assert severities(findings) == ["info", "info"]


def test_missing_overlay_is_an_error() -> None:
    findings = checks.check_kernel({"ext4"}, {"br_netfilter"}, set(), False, "none")
    assert severities(findings) == ["error", "info"] and "overlay" in findings[0].message


def test_missing_br_netfilter_is_an_error_on_a_machine_but_a_warning_in_a_container() -> None:
    assert severities(checks.check_kernel({"overlay"}, set(), set(), False, "none"))[1] == "error"
    in_container = checks.check_kernel({"overlay"}, set(), set(), False, "systemd-nspawn")
    assert severities(in_container)[1] == "warning" and "systemd-nspawn" in in_container[1].message


def test_a_loadable_br_netfilter_module_passes() -> None:
    assert severities(checks.check_kernel({"overlay"}, set(), {"br_netfilter"}, False, "none")) == ["info", "info"]


def test_ip_forward_off_and_read_only_is_an_error_but_settable_is_info() -> None:
    assert severities(checks.check_ip_forward("0", settable=False, privileged=True)) == ["error"]
    [finding] = checks.check_ip_forward("0", settable=True, privileged=True)
    assert finding.severity == "info" and "is 0" in finding.message
    assert severities(checks.check_ip_forward("1", settable=False, privileged=True)) == ["info"]


def test_non_root_without_become_is_an_error() -> None:
    [finding] = checks.check_privileges("deploy", 1000, become=False, sudo_ok=None)
    assert finding.severity == "error" and "become: true" in finding.message


def test_become_without_passwordless_sudo_is_an_error_with_the_sudoers_line() -> None:
    [finding] = checks.check_privileges("deploy", 1000, become=True, sudo_ok=False)
    assert finding.severity == "error" and "deploy ALL=(ALL) NOPASSWD: ALL" in (finding.fix or "")


def test_root_or_passwordless_sudo_passes() -> None:
    assert severities(checks.check_privileges("root", 0, become=False, sudo_ok=None)) == ["info"]
    assert severities(checks.check_privileges("deploy", 1000, become=True, sudo_ok=True)) == ["info"]


def two_host_report() -> PreflightReport:
    return PreflightReport(
        [
            HostReport("m-cp-1", "root@10.0.0.1:22", [error("ports", "port 6443 is in use", "stop it"),
                                                      error("os", "the OS is Ubuntu", "install Debian")]),
            HostReport("m-w-1", "deploy@10.0.0.2:22", [warning("kernel", "br_netfilter missing")]),
            HostReport("m-w-2", "root@10.0.0.3:2222", [error("ssh", "cannot log in: refused", "start sshd")]),
        ]
    )  # fmt: skip


def test_the_failure_lists_every_failing_host_and_each_problem_with_its_fix() -> None:
    with pytest.raises(KubeprovError) as raised:
        two_host_report().raise_if_failed()
    message = raised.value.message
    assert message.splitlines() == [
        "preflight found 3 problem(s) on 2 of 3 machine(s):",
        "m-cp-1 (root@10.0.0.1:22):",
        "  - port 6443 is in use (fix: stop it)",
        "  - the OS is Ubuntu (fix: install Debian)",
        "m-w-2 (root@10.0.0.3:2222):",
        "  - cannot log in: refused (fix: start sshd)",
    ]


def test_warnings_alone_do_not_fail_preflight() -> None:
    report = PreflightReport([HostReport("m", "root@h:22", [warning("kernel", "br_netfilter missing")])])
    report.raise_if_failed()
    assert report.lines() == ["m (root@h:22):", "  warning: br_netfilter missing"]
