"""The real install roles on a real local machine: common + software + files, then a group role starting
units from a tiny rendered tree made here. Tests share one machine and run in file order."""

from __future__ import annotations

import json
import os
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import pytest

from kubeprov.errors import KubeprovError
from kubeprov.install import InstallReport, Wheelhouse, build_wheelhouse, run_playbook
from kubeprov.install.wheelhouse import ENV_CACHE
from kubeprov.providers.base import Machine
from kubeprov.providers.local import LocalProvider
from kubeprov.providers.sshkeys import run
from kubeprov.stack.loader import parse_stack
from kubeprov.state.store import StateStore

pytestmark = [
    pytest.mark.e2e,
    pytest.mark.skipif(os.geteuid() != 0, reason="local machines need root (bridge, mounts, systemd-nspawn)"),
    pytest.mark.timeout(900),
]

STACK = """\
apiVersion: kubeprov.dev/v1alpha1
kind: Stack
name: e2eroles
provider:
  type: local
  bridge: kp-e2eroles
controlPlane:
  count: 1
workers: []
network:
  machineSubnet: 10.217.0.0/24
"""
WEB_PORT = 8080
SLEEP_UNIT = "kubeprov-sleep.service"
WEB_UNIT = "kubeprov-web.service"
BROKEN_UNIT = "kubeprov-broken.service"


def unit(description: str, command: str) -> str:
    return f"[Unit]\nDescription={description}\n[Service]\nExecStart={command}\n[Install]\nWantedBy=multi-user.target\n"


@dataclass
class RolesBox:
    machine: Machine
    rendered: Path
    private: Path
    wheelhouse: Wheelhouse

    @property
    def files(self) -> Path:
        return self.rendered / self.machine.name / "files"

    def write(self, rel: str, text: str, mode: int = 0o644) -> None:
        path = self.files / rel
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_text(text)
        path.chmod(mode)

    def services(self, services: list[dict]) -> None:
        (self.rendered / self.machine.name / "services.json").write_text(json.dumps(services))

    def install(self, lines: list[str] | None = None, **extra: object) -> list[InstallReport]:
        progress = (lines if lines is not None else []).append
        return [run_playbook(name, [self.machine], self.rendered, self.private, progress,
                             wheelhouse=self.wheelhouse, extra_vars=extra or None) for name in ("common", "node")]

    def ssh(self, command: str) -> str:
        status, out = run(self.machine.address, self.machine.ssh_key, command, timeout=60.0)
        assert status == 0, f"{command!r} exited {status}: {out}"
        return out.strip()

    def main_pid(self, unit_name: str) -> str:
        return self.ssh(f"systemctl show --property MainPID --value {unit_name}")


@pytest.fixture(scope="module")
def box(tmp_path_factory: pytest.TempPathFactory) -> Iterator[RolesBox]:
    state_root = tmp_path_factory.mktemp("e2eroles-state")
    stack = parse_stack(STACK, "e2eroles.yaml")
    provider = LocalProvider(stack, StateStore(state_root).cluster("e2eroles"), stop_timeout=20.0)
    lines: list[str] = []
    try:
        machine = provider.provision(lines.append).machines[0]
        with pytest.MonkeyPatch.context() as patch:
            patch.setenv(ENV_CACHE, str(tmp_path_factory.mktemp("wheelhouse-cache")))
            wheelhouse = build_wheelhouse()
        roles_box = RolesBox(machine, tmp_path_factory.mktemp("rendered"), state_root / "ansible", wheelhouse)
        roles_box.write(f"etc/systemd/system/{SLEEP_UNIT}", unit("sleeper", "/bin/sleep infinity"))
        roles_box.write(f"etc/systemd/system/{WEB_UNIT}", unit(
            "web", f"/usr/bin/python3 -m http.server {WEB_PORT} --directory /etc/kubeprov/web"))
        roles_box.write("etc/kubeprov/sleep.conf", "naps: 1\n")
        roles_box.write("etc/kubeprov/web/index.html", "v1\n")
        roles_box.write("etc/kubeprov/pki/web.key", "not really a key\n", 0o600)
        roles_box.services([
            {"unit": SLEEP_UNIT, "group": "node", "files": ["/etc/kubeprov/sleep.conf"]},
            {"unit": WEB_UNIT, "group": "node", "files": ["/etc/kubeprov/web/index.html", "/etc/kubeprov/pki/web.key"],
             "health": {"url": f"http://{machine.address}:{WEB_PORT}/"}},
        ])
        yield roles_box
    finally:
        provider.destroy(lines.append)


def test_first_run_installs_kubeprov_copies_files_and_starts_units(box: RolesBox) -> None:
    lines: list[str] = []
    common, node = box.install(lines)
    assert common.hosts[box.machine.name].changed > 0
    assert node.hosts[box.machine.name].changed > 0
    assert f"{box.machine.name}: node: restart {WEB_UNIT} (changed)" in lines
    assert box.ssh(f"systemctl is-active {SLEEP_UNIT} {WEB_UNIT}").split() == ["active", "active"]
    assert box.ssh(f"curl -sf http://{box.machine.address}:{WEB_PORT}/") == "v1"
    assert box.ssh("stat -c %a /etc/kubeprov/pki/web.key") == "600"
    assert box.ssh("readlink /opt/kubeprov/current") == f"/opt/kubeprov/{box.wheelhouse.key}"
    assert box.ssh("/opt/kubeprov/current/venv/bin/python -c 'import kubeprov.install; print(\"ok\")'") == "ok"


def test_second_run_changes_nothing(box: RolesBox) -> None:
    lines: list[str] = []
    reports = box.install(lines)
    assert [r.hosts[box.machine.name].changed for r in reports] == [0, 0]
    assert lines == []


def test_a_changed_file_restarts_only_its_unit(box: RolesBox) -> None:
    sleep_pid, web_pid = box.main_pid(SLEEP_UNIT), box.main_pid(WEB_UNIT)
    box.write("etc/kubeprov/web/index.html", "v2\n")
    box.install()
    assert box.main_pid(SLEEP_UNIT) == sleep_pid
    assert box.main_pid(WEB_UNIT) != web_pid
    assert box.ssh(f"curl -sf http://{box.machine.address}:{WEB_PORT}/") == "v2"


def test_a_failing_health_check_names_the_unit_and_url(box: RolesBox) -> None:
    box.write(f"etc/systemd/system/{BROKEN_UNIT}", unit("never healthy", "/bin/sleep infinity"))
    url = f"http://{box.machine.address}:8099/healthz"
    services = json.loads((box.rendered / box.machine.name / "services.json").read_text())
    box.services([*services, {"unit": BROKEN_UNIT, "group": "node", "files": [], "health": {"url": url}}])
    with pytest.raises(KubeprovError) as caught:
        box.install(kubeprov_health_retries=2, kubeprov_health_delay=1)
    message = str(caught.value)
    assert BROKEN_UNIT in message
    assert url in message
    assert "last journal lines" in message
