"""The cluster's SSH key pair and the one thing the provider does over SSH: run a command as root.

The provider owns the key so a machine can be reached the moment it boots, before any role ran.
"""

from __future__ import annotations

import os
import time
from pathlib import Path

from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey

from kubeprov.errors import KubeprovError

KEY_NAME = "id_ed25519"


def ensure_key(directory: Path, comment: str) -> tuple[Path, bool]:
    """``directory/id_ed25519`` (0600) and ``.pub``, made once; returns the private key and whether it is new."""
    private = directory / KEY_NAME
    public = directory / f"{KEY_NAME}.pub"
    if private.exists() and public.exists():
        return private, False
    directory.mkdir(parents=True, exist_ok=True, mode=0o700)
    key = Ed25519PrivateKey.generate()
    pem = key.private_bytes(
        serialization.Encoding.PEM, serialization.PrivateFormat.OpenSSH, serialization.NoEncryption()
    )
    line = key.public_key().public_bytes(serialization.Encoding.OpenSSH, serialization.PublicFormat.OpenSSH)
    fd = os.open(private, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
    with os.fdopen(fd, "wb") as out:
        out.write(pem)
    os.chmod(private, 0o600)
    public.write_text(f"{line.decode()} {comment}\n")
    return private, True


def public_key_line(private: Path) -> str:
    return (private.parent / f"{private.name}.pub").read_text().strip()


def run(address: str, key: Path, command: str, timeout: float = 30.0, port: int = 22) -> tuple[int, str]:
    """Run ``command`` as root on a machine; returns exit status and combined output."""
    import paramiko

    client = paramiko.SSHClient()
    # machines make their host keys at first boot; the bridge is private to this computer
    client.set_missing_host_key_policy(paramiko.AutoAddPolicy())
    try:
        client.connect(
            address, port=port, username="root", key_filename=str(key), timeout=3, banner_timeout=5,
            auth_timeout=5, allow_agent=False, look_for_keys=False,
        )  # fmt: skip
        _stdin, stdout, stderr = client.exec_command(command, timeout=timeout)
        out = stdout.read().decode(errors="replace") + stderr.read().decode(errors="replace")
        return stdout.channel.recv_exit_status(), out
    finally:
        client.close()


def wait_for_ssh(address: str, key: Path, timeout: float, alive: object = None) -> float:
    """Until ``true`` runs over SSH; returns the seconds it took. ``alive()`` False stops waiting early."""
    started = time.monotonic()
    last = ""
    while time.monotonic() - started < timeout:
        if callable(alive) and not alive():
            break
        try:
            status, out = run(address, key, "true", timeout=5)
            if status == 0:
                return time.monotonic() - started
            last = out
        except Exception as error:  # any connection failure means "not yet"
            last = str(error) or type(error).__name__
        time.sleep(0.3)
    raise KubeprovError(f"machine at {address} did not answer SSH ({last})", "see the machine's console.log")
