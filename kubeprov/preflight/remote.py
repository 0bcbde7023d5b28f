"""One SSH session to a machine, as the machine's record says to reach it, and why it failed when it did.

Shared by preflight and the SSH provider so both log in the same way and word failures alike.
"""

from __future__ import annotations

import shlex
import socket
import time
from dataclasses import dataclass
from types import TracebackType

import paramiko

from kubeprov.errors import KubeprovError
from kubeprov.providers.base import Machine

CONNECT_TIMEOUT = 5.0
COMMAND_TIMEOUT = 60.0


class Unreachable(KubeprovError):
    """A machine kubeprov could not log in to; ``reason`` says why in a few words."""

    def __init__(self, machine: Machine, reason: str, hint: str) -> None:
        super().__init__(f"cannot log in to {machine.name} as {target(machine)}: {reason}", hint)
        self.machine = machine
        self.reason = reason


def target(machine: Machine) -> str:
    """``user@address:port``, the way the operator would type it."""
    return f"{machine.ssh_user}@{machine.address}:{machine.ssh_port}"


@dataclass(frozen=True)
class Result:
    status: int
    stdout: str
    stderr: str
    started: float  # time.time() before the command was sent
    finished: float  # time.time() once its output was read


class Session:
    """An open SSH connection to one machine; ``run(..., root=True)`` goes through ``sudo -n`` if needed."""

    def __init__(self, machine: Machine, connect_timeout: float = CONNECT_TIMEOUT) -> None:
        self.machine = machine
        self._client = _connect(machine, connect_timeout)

    def __enter__(self) -> Session:
        return self

    def __exit__(
        self, kind: type[BaseException] | None, value: BaseException | None, traceback: TracebackType | None
    ) -> None:
        self.close()

    def close(self) -> None:
        self._client.close()

    def run(self, command: str, root: bool = False, timeout: float = COMMAND_TIMEOUT) -> Result:
        if root and self.machine.ssh_user != "root":
            command = f"sudo -n sh -c {shlex.quote(command)}"
        started = time.time()
        _stdin, stdout, stderr = self._client.exec_command(command, timeout=timeout)
        out = stdout.read().decode(errors="replace")
        err = stderr.read().decode(errors="replace")
        status = stdout.channel.recv_exit_status()
        return Result(status, out, err, started, time.time())


def _connect(machine: Machine, timeout: float) -> paramiko.SSHClient:
    key = machine.ssh_key.expanduser()
    if not key.is_file():
        raise Unreachable(machine, f"the private key {key} does not exist",
                          "create the key or set key: for this host in the stack file")  # fmt: skip
    client = paramiko.SSHClient()
    # kubeprov keeps no known_hosts of its own yet: a host's key is accepted on first sight, not pinned
    client.set_missing_host_key_policy(paramiko.AutoAddPolicy())
    try:
        client.connect(
            machine.address, port=machine.ssh_port, username=machine.ssh_user, key_filename=str(key),
            timeout=timeout, banner_timeout=timeout * 2, auth_timeout=timeout * 2,
            allow_agent=False, look_for_keys=False,
        )  # fmt: skip
    except Exception as exc:  # every failure to log in is the same kind of user problem, worded below
        client.close()
        reason, hint = describe_failure(exc, machine)
        raise Unreachable(machine, reason, hint) from exc
    return client


def describe_failure(exc: BaseException, machine: Machine) -> tuple[str, str]:
    """(what went wrong, what to do) for an exception raised while connecting or logging in."""
    where = f"{machine.address} port {machine.ssh_port}"
    if isinstance(exc, paramiko.PasswordRequiredException):
        return (f"the key {machine.ssh_key} is protected by a passphrase",
                "use a key without a passphrase for kubeprov")  # fmt: skip
    if isinstance(exc, paramiko.AuthenticationException):
        return (f"the key {machine.ssh_key} was refused for user {machine.ssh_user}",
                f"add the public key to ~{machine.ssh_user}/.ssh/authorized_keys on the machine")  # fmt: skip
    if isinstance(exc, paramiko.ssh_exception.NoValidConnectionsError | ConnectionRefusedError):
        return f"connection refused by {where}", "check that sshd runs on the machine and listens on that port"
    if isinstance(exc, socket.gaierror):
        return f"the name {machine.address} does not resolve", "use the machine's IP address or fix DNS"
    if isinstance(exc, TimeoutError | socket.timeout):
        return f"no answer from {where}", "check the address, the port and any firewall in between"
    if isinstance(exc, paramiko.SSHException):
        return f"SSH failed: {exc}", "check that the port is an SSH server's"
    if isinstance(exc, OSError):
        return f"{exc.strerror or exc} ({where})", "check the address and the network"
    if isinstance(exc, ValueError):  # paramiko's answer to a key file it cannot read
        return f"the key {machine.ssh_key} cannot be read: {exc}", "use an OpenSSH or PEM private key"
    return f"{type(exc).__name__}: {exc}", "check the host's entry in the stack file"
