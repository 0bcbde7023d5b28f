"""Preflight and the SSH provider against a real sshd on 127.0.0.1/127.0.0.2 (Debian's /usr/sbin/sshd, own
config, host key and authorized key in a temporary folder; stopped by PID at the end)."""

from __future__ import annotations

import signal
import socket
import subprocess
import time
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from pathlib import Path

import pytest

from kubeprov.errors import KubeprovError
from kubeprov.preflight import HostReport, run_preflight
from kubeprov.providers.base import Machine
from kubeprov.providers.ssh import SshProvider
from kubeprov.providers.sshkeys import ensure_key, public_key_line
from kubeprov.stack import Stack, parse_stack
from kubeprov.state.store import ClusterState

SSHD = Path("/usr/sbin/sshd")
PRIVSEP_DIR = Path("/run/sshd")  # sshd refuses to start without its privilege separation folder
LISTEN = ("127.0.0.1", "127.0.0.2")
#: not the venv's python: a checkout path containing "kubeprov" would make the listener look like ours
PYTHON = "/usr/bin/python3"


@dataclass(frozen=True)
class SshdForTest:
    port: int
    key: Path  # the client's private key, authorized for root


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


def wait_for_port(address: str, port: int, process: subprocess.Popen[bytes], log: Path, timeout: float = 10.0) -> None:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if process.poll() is not None:
            raise RuntimeError(f"sshd exited with {process.returncode}: {log.read_text()}")
        try:
            with socket.create_connection((address, port), timeout=0.5):
                return
        except OSError:
            time.sleep(0.05)
    raise RuntimeError(f"sshd did not listen on {address}:{port} within {timeout} s")


@pytest.fixture(scope="module")
def sshd(tmp_path_factory: pytest.TempPathFactory) -> Iterator[SshdForTest]:
    assert SSHD.exists(), "openssh-server is missing: scripts/setup.sh installs it"
    folder = tmp_path_factory.mktemp("sshd")
    subprocess.run(["ssh-keygen", "-q", "-t", "ed25519", "-N", "", "-f", str(folder / "host_key")], check=True)
    client_key, _ = ensure_key(folder / "client", "kubeprov-preflight-test")
    (folder / "authorized_keys").write_text(public_key_line(client_key) + "\n")
    port = free_port()
    config = folder / "sshd_config"
    config.write_text(
        "\n".join(
            [
                f"Port {port}",
                *(f"ListenAddress {address}" for address in LISTEN),
                f"HostKey {folder / 'host_key'}",
                f"AuthorizedKeysFile {folder / 'authorized_keys'}",
                f"PidFile {folder / 'sshd.pid'}",
                "UsePAM no",
                "StrictModes no",
                "PasswordAuthentication no",
                "KbdInteractiveAuthentication no",
                "PermitRootLogin prohibit-password",
                "LogLevel ERROR",
                "",
            ]
        )
    )
    made_privsep = not PRIVSEP_DIR.exists()
    if made_privsep:
        PRIVSEP_DIR.mkdir(mode=0o755)
    log = folder / "sshd.log"
    with log.open("wb") as log_file:
        process = subprocess.Popen([str(SSHD), "-D", "-e", "-f", str(config)], stderr=log_file)
    try:
        for address in LISTEN:
            wait_for_port(address, port, process, log)
        yield SshdForTest(port, client_key)
    finally:
        process.send_signal(signal.SIGTERM)
        try:
            process.wait(timeout=10)
        except subprocess.TimeoutExpired:
            process.kill()
            process.wait()
        if made_privsep and not any(PRIVSEP_DIR.iterdir()):
            PRIVSEP_DIR.rmdir()


def stack_of(hosts: list[tuple[str, str, int, Path, str]]) -> Stack:
    """An ssh stack; hosts are (name, address, port, key, role), workers in pool ``web``."""
    lines = ["apiVersion: kubeprov.dev/v1alpha1", "kind: Stack", "name: pf", "provider:", "  type: ssh", "  hosts:"]
    for name, address, port, key, role in hosts:
        lines += [f"    - name: {name}", f"      address: {address}", f"      port: {port}", f"      key: {key}",
                  f"      role: {role}"]  # fmt: skip
        if role == "worker":
            lines.append("      pool: web")
    control_planes = sum(1 for host in hosts if host[4] == "control-plane")
    workers = sum(1 for host in hosts if host[4] == "worker")
    lines += ["controlPlane:", f"  count: {control_planes}", "workers:", "  - name: web", f"    count: {workers}"]
    return parse_stack("\n".join(lines) + "\n", "pf.yaml")


def machines_of(stack: Stack, tmp_path: Path) -> list[Machine]:
    return SshProvider(stack, ClusterState(tmp_path / "state", stack.name)).wanted()


def port_is_busy(port: int) -> bool:
    with socket.socket() as sock:
        sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        try:
            sock.bind(("0.0.0.0", port))
        except OSError:
            return True
    return False


StartListener = Callable[..., "subprocess.Popen[str]"]


@pytest.fixture
def listener() -> Iterator[StartListener]:
    """Starts ``python3 -c`` listening on a port (extra argv words end up in its command line)."""
    started: list[subprocess.Popen[str]] = []

    def start(port: int, *argv: str) -> subprocess.Popen[str]:
        code = (
            "import socket,sys,time;s=socket.socket();s.bind(('0.0.0.0',int(sys.argv[1])));s.listen();"
            "print('ready',flush=True);time.sleep(120)"
        )
        process = subprocess.Popen([PYTHON, "-c", code, str(port), *argv], stdout=subprocess.PIPE, text=True)
        started.append(process)
        assert process.stdout is not None and process.stdout.readline().strip() == "ready"
        return process

    yield start
    for process in started:
        process.kill()
        process.wait()


def free_port_of(candidates: tuple[int, ...]) -> int:
    for port in candidates:
        if not port_is_busy(port):
            return port
    raise AssertionError(f"every one of ports {candidates} is taken on this host; the test needs one free")


def by_name(reports: list[HostReport]) -> dict[str, HostReport]:
    return {report.name: report for report in reports}


def test_preflight_passes_on_this_debian_host_over_ssh(sshd: SshdForTest, tmp_path: Path) -> None:
    stack = stack_of([("pf-cp-1", "127.0.0.1", sshd.port, sshd.key, "control-plane"),
                      ("pf-web-1", "127.0.0.2", sshd.port, sshd.key, "worker")])  # fmt: skip
    progress: list[str] = []
    started = time.monotonic()
    report = run_preflight(machines_of(stack, tmp_path), progress.append)
    assert time.monotonic() - started < 20
    assert [host.name for host in report.hosts] == ["pf-cp-1", "pf-web-1"]
    assert sorted(progress) == sorted(host.summary() for host in report.hosts)
    for host in report.hosts:
        messages = {f.check: f.message for f in host.findings if f.severity == "info"}
        assert "bookworm" in messages["os"] and messages["python"].startswith("python3 3.11")
        assert "root" in messages["privileges"] and "clock skew" in messages["time"]
        # CI may hold some of the role's ports on this shared host; any other problem is a real failure
        for problem in host.errors:
            assert problem.check == "ports", problem.line()
            assert port_is_busy(int(problem.message.split()[1])), problem.line()


def test_a_port_the_role_needs_is_reported_with_the_host_and_the_port(
    sshd: SshdForTest, tmp_path: Path, listener: StartListener
) -> None:
    port = free_port_of((10256, 10250))
    holder = listener(port)
    stack = stack_of([("pf-cp-1", "127.0.0.1", sshd.port, sshd.key, "control-plane"),
                      ("pf-web-1", "127.0.0.2", sshd.port, sshd.key, "worker")])  # fmt: skip
    report = run_preflight(machines_of(stack, tmp_path), lambda line: None)
    worker = by_name(report.hosts)["pf-web-1"]
    [problem] = [f for f in worker.errors if f"port {port} " in f.message]
    assert f"pid {holder.pid}" in problem.message
    with pytest.raises(KubeprovError) as raised:
        report.raise_if_failed()
    assert f"pf-web-1 (root@127.0.0.2:{sshd.port}):" in raised.value.message
    assert f"port {port} " in raised.value.message


def test_a_port_held_by_a_kubeprov_process_passes(sshd: SshdForTest, tmp_path: Path, listener: StartListener) -> None:
    port = free_port_of((10259, 10257))
    listener(port, "kubeprov-test-component")
    stack = stack_of([("pf-cp-1", "127.0.0.1", sshd.port, sshd.key, "control-plane"),
                      ("pf-web-1", "127.0.0.2", sshd.port, sshd.key, "worker")])  # fmt: skip
    report = run_preflight(machines_of(stack, tmp_path), lambda line: None)
    control_plane = by_name(report.hosts)["pf-cp-1"]
    assert not [f for f in control_plane.errors if f"port {port} " in f.message]
    assert [f for f in control_plane.findings if f.message == f"port {port} is held by kubeprov's own process"]


def test_an_unreachable_host_is_one_problem_among_the_other_hosts_results(sshd: SshdForTest, tmp_path: Path) -> None:
    closed = free_port()
    stack = stack_of([("pf-cp-1", "127.0.0.1", sshd.port, sshd.key, "control-plane"),
                      ("pf-web-1", "127.0.0.2", closed, sshd.key, "worker")])  # fmt: skip
    report = run_preflight(machines_of(stack, tmp_path), lambda line: None)
    hosts = by_name(report.hosts)
    assert any(f.check == "os" for f in hosts["pf-cp-1"].findings)
    [problem] = hosts["pf-web-1"].findings
    assert problem.severity == "error" and f"connection refused by 127.0.0.2 port {closed}" in problem.message
    with pytest.raises(KubeprovError) as raised:
        report.raise_if_failed()
    assert f"pf-web-1 (root@127.0.0.2:{closed}):" in raised.value.message


def test_provision_records_the_hosts_and_changes_nothing_the_second_time(sshd: SshdForTest, tmp_path: Path) -> None:
    stack = stack_of([("pf-cp-1", "127.0.0.1", sshd.port, sshd.key, "control-plane"),
                      ("pf-web-1", "127.0.0.2", sshd.port, sshd.key, "worker")])  # fmt: skip
    state = ClusterState(tmp_path / "state", "pf")
    provider = SshProvider(stack, state)
    first = provider.provision(lambda line: None)
    assert first.changed and [m.name for m in first.machines] == ["pf-cp-1", "pf-web-1"]
    assert (state.path / "machines.json").stat().st_mode & 0o777 == 0o600
    assert SshProvider(stack, state).machines() == first.machines
    second = SshProvider(stack, state).provision(lambda line: None)
    assert not second.changed and second.machines == first.machines


def test_provision_names_every_host_it_cannot_log_in_to(sshd: SshdForTest, tmp_path: Path) -> None:
    closed = free_port()
    stack = stack_of([("pf-cp-1", "127.0.0.1", sshd.port, tmp_path / "absent_key", "control-plane"),
                      ("pf-web-1", "127.0.0.2", closed, sshd.key, "worker")])  # fmt: skip
    with pytest.raises(KubeprovError) as raised:
        SshProvider(stack, ClusterState(tmp_path / "state", "pf")).provision(lambda line: None)
    message = raised.value.message
    assert message.startswith("cannot log in to 2 of 2 host(s):")
    assert f"pf-cp-1 (root@127.0.0.1:{sshd.port}): the private key {tmp_path / 'absent_key'} does not exist" in message
    assert f"pf-web-1 (root@127.0.0.2:{closed}): connection refused by 127.0.0.2 port {closed}" in message
    assert not (tmp_path / "state" / "machines.json").exists()
