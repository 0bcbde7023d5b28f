"""The install driver with real ansible-runner on this host (``ansible_connection=local``), touching only tmp dirs."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from kubeprov.errors import KubeprovError
from kubeprov.install import run_playbook
from kubeprov.install.runner import install_data_dir
from kubeprov.providers.base import Machine

HOST = Machine(name="testhost", role="worker", address="127.0.0.1")
SERVICES = [
    {"unit": "kubeprov-a.service", "group": "node", "files": ["/etc/kubeprov/a.yaml"]},
    {"unit": "kubeprov-b.service", "group": "node", "files": ["/etc/kubeprov/b.yaml", "/etc/kubeprov/pki/b.key"]},
]


def write_playbook(path: Path, roles: list[str]) -> Path:
    path.write_text(f"- hosts: all\n  gather_facts: false\n  roles: {json.dumps(roles)}\n")
    return path


def write_role(roles: Path, name: str, tasks: str) -> None:
    (roles / name / "tasks").mkdir(parents=True)
    (roles / name / "tasks" / "main.yml").write_text(tasks)


@pytest.fixture
def setup(tmp_path: Path) -> dict[str, Path]:
    rendered = tmp_path / "rendered"
    files = rendered / HOST.name / "files"
    (files / "etc/kubeprov/pki").mkdir(parents=True)
    (files / "etc/kubeprov/a.yaml").write_text("a: 1\n")
    (files / "etc/kubeprov/b.yaml").write_text("b: 1\n")
    key = files / "etc/kubeprov/pki/b.key"
    key.write_text("secret\n")
    key.chmod(0o600)
    (files / "etc/kubeprov/pki").chmod(0o700)
    (rendered / HOST.name / "services.json").write_text(json.dumps(SERVICES))
    roles = tmp_path / "roles"
    write_role(roles, "scratch", f"""
- name: write a scratch file
  ansible.builtin.copy:
    dest: {tmp_path}/scratch/out.txt
    content: "hello\\n"
    mode: "0644"
""")
    write_role(roles, "broken", "- name: break on purpose\n  ansible.builtin.fail:\n    msg: deliberate breakage\n")
    (tmp_path / "scratch").mkdir()
    return {"tmp": tmp_path, "rendered": rendered, "files": files, "roles": roles, "private": tmp_path / "private"}


def run(setup: dict[str, Path], roles: list[str], lines: list[str] | None = None, **kwargs: object):
    playbook = write_playbook(setup["tmp"] / f"{'-'.join(roles)}.yml", roles)
    return run_playbook(str(playbook), [HOST], setup["rendered"], setup["private"],
                        (lines if lines is not None else []).append, connection="local",
                        roles_path=[setup["roles"]], **kwargs)


def test_own_role_reports_changed_then_nothing_changed_on_the_second_run(setup: dict[str, Path]) -> None:
    lines: list[str] = []
    first = run(setup, ["scratch"], lines)
    assert first.hosts["testhost"].changed == 1
    assert lines == ["testhost: scratch: write a scratch file (changed)"]
    second = run(setup, ["scratch"])
    assert second.hosts["testhost"].changed == 0
    assert (setup["tmp"] / "scratch/out.txt").read_text() == "hello\n"


def test_failing_task_raises_an_error_naming_host_task_and_message(setup: dict[str, Path]) -> None:
    with pytest.raises(KubeprovError) as caught:
        run(setup, ["broken"])
    message = str(caught.value)
    assert "testhost" in message
    assert "broken: break on purpose" in message
    assert "deliberate breakage" in message


def test_nothing_of_ansible_reaches_stdout(setup: dict[str, Path], capfd: pytest.CaptureFixture[str]) -> None:
    run(setup, ["scratch"])
    assert capfd.readouterr().out == ""


def files_run(setup: dict[str, Path], root: Path):
    return run_playbook(str(write_playbook(setup["tmp"] / "files.yml", ["files"])), [HOST], setup["rendered"],
                        setup["private"], connection="local", extra_vars={"kubeprov_root": str(root)})


def pending(root: Path) -> set[str]:
    marks = root / "var/lib/kubeprov/install/restart"
    return {p.name for p in marks.iterdir()} if marks.is_dir() else set()


def test_files_role_copies_the_tree_with_its_modes_and_marks_units(setup: dict[str, Path]) -> None:
    root = setup["tmp"] / "root"
    report = files_run(setup, root)
    assert report.hosts["testhost"].changed > 0
    assert (root / "etc/kubeprov/a.yaml").read_text() == "a: 1\n"
    assert (root / "etc/kubeprov/pki/b.key").stat().st_mode & 0o777 == 0o600
    assert (root / "etc/kubeprov/pki").stat().st_mode & 0o777 == 0o700
    assert pending(root) == {"kubeprov-a.service", "kubeprov-b.service"}


def test_files_role_changes_nothing_on_the_second_run(setup: dict[str, Path]) -> None:
    root = setup["tmp"] / "root"
    files_run(setup, root)
    assert files_run(setup, root).hosts["testhost"].changed == 0


def test_files_role_marks_only_the_unit_whose_file_changed(setup: dict[str, Path]) -> None:
    root = setup["tmp"] / "root"
    files_run(setup, root)
    for mark in (root / "var/lib/kubeprov/install/restart").iterdir():
        mark.unlink()  # what the service roles do once a unit restarted
    (setup["files"] / "etc/kubeprov/a.yaml").write_text("a: 2\n")
    files_run(setup, root)
    assert (root / "etc/kubeprov/a.yaml").read_text() == "a: 2\n"
    assert pending(root) == {"kubeprov-a.service"}


def test_files_role_marks_a_daemon_reload_when_a_unit_file_changes(setup: dict[str, Path]) -> None:
    root = setup["tmp"] / "root"
    unit = setup["files"] / "etc/systemd/system/kubeprov-b.service"
    unit.parent.mkdir(parents=True)
    unit.write_text("[Service]\nExecStart=/bin/true\n")
    files_run(setup, root)
    assert {".daemon-reload", "kubeprov-b.service"} <= pending(root)


def test_packaged_roles_ship_every_group_role() -> None:
    roles = install_data_dir() / "roles"
    for name in ("common", "software", "files", "etcd", "control-plane", "load-balancer", "node", "registry"):
        assert (roles / name / "tasks" / "main.yml").is_file()
