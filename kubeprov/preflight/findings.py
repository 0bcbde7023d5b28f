"""What preflight found, per host, and how it is told to the user.

Every problem of every host is collected before anything is reported, so one run of ``create`` shows the
operator the whole list to fix instead of one problem per attempt.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Literal

from kubeprov.errors import KubeprovError

Severity = Literal["error", "warning", "info"]


@dataclass(frozen=True)
class Finding:
    """One fact about a host: an error fails preflight, a warning is shown, info is for the record."""

    severity: Severity
    check: str  # short name of the check ("os", "ports", ...)
    message: str
    fix: str | None = None

    def line(self) -> str:
        text = f"{self.severity}: {self.message}"
        return f"{text} (fix: {self.fix})" if self.fix else text


def error(check: str, message: str, fix: str) -> Finding:
    return Finding("error", check, message, fix)


def warning(check: str, message: str, fix: str | None = None) -> Finding:
    return Finding("warning", check, message, fix)


def info(check: str, message: str) -> Finding:
    return Finding("info", check, message)


@dataclass
class HostReport:
    """The findings of one host; ``target`` is how it was reached (user@address:port)."""

    name: str
    target: str
    findings: list[Finding] = field(default_factory=list)

    @property
    def errors(self) -> list[Finding]:
        return [f for f in self.findings if f.severity == "error"]

    @property
    def warnings(self) -> list[Finding]:
        return [f for f in self.findings if f.severity == "warning"]

    def summary(self) -> str:
        if self.errors:
            return f"preflight {self.name}: {len(self.errors)} problem(s)"
        if self.warnings:
            return f"preflight {self.name}: ok, {len(self.warnings)} warning(s)"
        return f"preflight {self.name}: ok"


@dataclass
class PreflightReport:
    """Every host's findings, in the order the machines were given."""

    hosts: list[HostReport]

    @property
    def failed(self) -> bool:
        return any(host.errors for host in self.hosts)

    def lines(self, severities: tuple[Severity, ...] = ("error", "warning")) -> list[str]:
        """Host by host, one line per finding of the given severities (hosts without any are left out)."""
        out: list[str] = []
        for host in self.hosts:
            chosen = [f for f in host.findings if f.severity in severities]
            if chosen:
                out.append(f"{host.name} ({host.target}):")
                out.extend(f"  {finding.line()}" for finding in chosen)
        return out

    def raise_if_failed(self) -> None:
        """One error naming every failing host and each of its problems with the fix."""
        if not self.failed:
            return
        failing = [host for host in self.hosts if host.errors]
        problems = sum(len(host.errors) for host in failing)
        body = []
        for host in failing:
            body.append(f"{host.name} ({host.target}):")
            body.extend(f"  - {f.message} (fix: {f.fix})" if f.fix else f"  - {f.message}" for f in host.errors)
        raise KubeprovError(
            f"preflight found {problems} problem(s) on {len(failing)} of {len(self.hosts)} machine(s):\n"
            + "\n".join(body),
            "fix these on the machines, then run the command again",
        )
