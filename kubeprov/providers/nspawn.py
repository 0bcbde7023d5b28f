"""The systemd-nspawn command line that boots one local machine, able to run runc pods inside.

Every flag is here for a measured reason (DESIGN.md): --keep-unit and --register=no because the host's
PID 1 is not systemd; @keyring so runc can make session keyrings; the data bind because overlayfs inside
the machine cannot use the machine's own overlay root as an upper dir.
"""

from __future__ import annotations

from pathlib import Path

#: nspawn's exit status when the machine asked to reboot
REBOOT_EXIT = 133
#: where a machine sees its host data directory (image snapshots, volumes, pod state)
DATA_MOUNT = "/var/lib/kubeprov"


def nspawn_argv(name: str, root: Path, bridge: str, data: Path) -> list[str]:
    return [
        "systemd-nspawn",
        "--quiet",
        "--boot",
        "--register=no",
        "--keep-unit",
        f"--machine={name}",
        f"--directory={root}",
        f"--network-bridge={bridge}",
        "--system-call-filter=@keyring",
        "--console=read-only",
        "--resolv-conf=off",  # the image's resolv.conf keeps every query on the machine
        "--timezone=off",
        "--link-journal=no",
        f"--bind={data}:{DATA_MOUNT}",
    ]
