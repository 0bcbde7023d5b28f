"""The Ansible inventory for one run, made from the provider's machines and the rendered tree.

Everything a role needs about a machine travels as a host variable, so roles never look at the
operator's host layout themselves. Inventory groups follow the groups of each machine's services, so a
playbook such as ``etcd.yml`` targets exactly the machines that run an etcd unit.
"""

from __future__ import annotations

import hashlib
import json
import stat
import sys
from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import Any, Literal

import kubeprov
from kubeprov.errors import KubeprovError
from kubeprov.install.wheelhouse import Wheelhouse
from kubeprov.providers.base import Machine

SERVICE_GROUPS = ("etcd", "control-plane", "load-balancer", "node", "registry")
Connection = Literal["ssh", "local"]


def inventory_group(service_group: str) -> str:
    """Ansible warns about dashes in group names, so ``control-plane`` becomes ``control_plane``."""
    return service_group.replace("-", "_")


def load_services(rendered_dir: Path, machine: str) -> list[dict[str, Any]]:
    """The ordered ``services.json`` of one machine, checked enough that roles can trust its shape."""
    path = rendered_dir / machine / "services.json"
    try:
        services = json.loads(path.read_text())
    except FileNotFoundError:
        raise KubeprovError(
            f"No rendered services for machine {machine} ({path} is missing).",
            "run the render phase before installing",
        ) from None
    except json.JSONDecodeError as err:
        raise KubeprovError(f"{path} is not valid JSON: {err}.", "re-run the render phase") from None
    if not isinstance(services, list):
        raise KubeprovError(f"{path} must hold a list of services.", "re-run the render phase")
    for entry in services:
        if not isinstance(entry, dict) or not isinstance(entry.get("unit"), str):
            raise KubeprovError(f"{path} has a service without a unit name: {entry!r}.", "re-run the render phase")
        if entry.get("group") not in SERVICE_GROUPS:
            raise KubeprovError(
                f"{path}: service {entry['unit']} has group {entry.get('group')!r}.",
                f"use one of {', '.join(SERVICE_GROUPS)}",
            )
    return services


def files_manifest(files_dir: Path) -> dict[str, list[dict[str, Any]]]:
    """Every directory and regular file of a machine's ``files/`` tree with its wanted mode and content hash.

    Paths are relative to the machine's root. The machine compares hashes itself, so a run copies only
    what differs and knows which units to restart.
    """
    dirs: list[dict[str, Any]] = []
    files: list[dict[str, Any]] = []
    if not files_dir.is_dir():
        return {"dirs": dirs, "files": files}
    for path in sorted(files_dir.rglob("*")):
        rel = path.relative_to(files_dir).as_posix()
        info = path.lstat()
        mode = f"{stat.S_IMODE(info.st_mode):04o}"
        if stat.S_ISDIR(info.st_mode):
            dirs.append({"path": rel, "mode": mode})
        elif stat.S_ISREG(info.st_mode):
            digest = hashlib.sha256(path.read_bytes()).hexdigest()
            files.append({"path": rel, "src": str(path), "mode": mode, "sha256": digest})
        else:
            raise KubeprovError(
                f"{path} is neither a file nor a directory.", "the rendered tree may hold only plain files"
            )
    return {"dirs": dirs, "files": files}


def machine_vars(machine: Machine, connection: Connection) -> dict[str, Any]:
    """How Ansible reaches a machine."""
    if connection == "local":
        return {"ansible_connection": "local", "ansible_python_interpreter": sys.executable,
                "kubeprov_address": machine.address}
    return {
        "ansible_host": machine.address,
        "ansible_port": machine.ssh_port,
        "ansible_user": machine.ssh_user,
        "ansible_ssh_private_key_file": str(Path(machine.ssh_key).expanduser()),
        "ansible_become": machine.become,
        "ansible_python_interpreter": "/usr/bin/python3",
        "kubeprov_address": machine.address,
    }


def build_inventory(
    machines: Sequence[Machine],
    rendered_dir: Path,
    wheelhouse: Wheelhouse | None = None,
    connection: Connection = "ssh",
    extra_vars: Mapping[str, Any] | None = None,
) -> dict[str, Any]:
    """A YAML/JSON inventory: every machine under ``all``, plus one group per service group it runs."""
    hosts: dict[str, dict[str, Any]] = {}
    groups: dict[str, dict[str, Any]] = {inventory_group(g): {"hosts": {}} for g in SERVICE_GROUPS}
    for machine in machines:
        services = load_services(rendered_dir, machine.name)
        files_dir = rendered_dir / machine.name / "files"
        host = machine_vars(machine, connection)
        host.update(
            kubeprov_files_dir=str(files_dir),
            kubeprov_files=files_manifest(files_dir),
            kubeprov_services=services,
        )
        host["kubeprov_version"] = wheelhouse.version if wheelhouse else kubeprov.__version__
        if wheelhouse is not None:
            host.update(
                kubeprov_install_id=wheelhouse.key,
                kubeprov_wheelhouse=str(wheelhouse.archive),
            )
        hosts[machine.name] = host
        for group in {service["group"] for service in services}:
            groups[inventory_group(group)]["hosts"][machine.name] = {}
    all_vars: dict[str, Any] = {"kubeprov_root": "/"}
    all_vars.update(extra_vars or {})
    return {"all": {"hosts": hosts, "vars": all_vars, "children": groups}}
