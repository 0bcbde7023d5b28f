"""Preflight over SSH: every machine checked at once, every problem of every host in one report.

A host that cannot be reached becomes a problem of that host, so the other hosts' results still show.
"""

from __future__ import annotations

import shlex
from concurrent.futures import ThreadPoolExecutor, as_completed

import paramiko

from kubeprov.preflight import checks
from kubeprov.preflight.facts import (
    GATHER_SCRIPT,
    parse_df,
    parse_listeners,
    parse_meminfo_kib,
    parse_os_release,
    parse_owners,
    parse_words,
    split_sections,
)
from kubeprov.preflight.findings import Finding, HostReport, PreflightReport, error
from kubeprov.preflight.remote import Session, Unreachable, target
from kubeprov.providers.base import Machine, Progress

#: hosts checked at the same time; each is a few short commands, so a handful of threads is plenty
MAX_PARALLEL = 8


def run_preflight(machines: list[Machine], progress: Progress) -> PreflightReport:
    """Check every machine (concurrently) and return one report in the machines' order."""
    reports: dict[int, HostReport] = {}
    if machines:
        with ThreadPoolExecutor(max_workers=min(MAX_PARALLEL, len(machines))) as pool:
            futures = {pool.submit(check_host, machine): index for index, machine in enumerate(machines)}
            for future in as_completed(futures):
                report = future.result()
                reports[futures[future]] = report
                progress(report.summary())  # from this thread only: progress printers need not be thread-safe
    return PreflightReport([reports[index] for index in range(len(machines))])


def check_host(machine: Machine) -> HostReport:
    """One host's findings over one SSH connection; connection trouble is a finding, not an exception."""
    report = HostReport(machine.name, target(machine))
    try:
        with Session(machine) as session:
            report.findings.extend(_check_over(session, machine))
    except Unreachable as exc:
        report.findings.append(error("ssh", f"cannot log in: {exc.reason}", exc.hint or "check the host's entry"))
    except (paramiko.SSHException, OSError, EOFError) as exc:
        report.findings.append(
            error("ssh", f"the SSH connection failed during the checks: {exc or type(exc).__name__}",
                  "check the machine and the network, then run again")
        )  # fmt: skip
    return report


def _check_over(session: Session, machine: Machine) -> list[Finding]:
    findings: list[Finding] = []
    uid_result = session.run("id -u")
    uid = int(uid_result.stdout.strip()) if uid_result.stdout.strip().isdigit() else None
    sudo_ok: bool | None = None
    if uid != 0 and machine.become:
        sudo_ok = session.run("sudo -n true").status == 0
    findings += checks.check_privileges(machine.ssh_user, uid, machine.become, sudo_ok)
    privileged = uid == 0 or bool(sudo_ok)

    clock = session.run("date +%s.%N")
    findings += checks.check_skew(clock.started, clock.stdout, clock.finished)

    # through sh whatever the user's login shell is; the script is POSIX sh
    gathered = session.run(f"sh -c {shlex.quote(GATHER_SCRIPT)}", root=privileged and uid != 0)
    facts = split_sections(gathered.stdout)
    if "end" not in facts:
        findings.append(
            error("ssh", f"the preflight script did not finish (exit {gathered.status}): "
                  f"{gathered.stderr.strip()[:200] or 'no error output'}", "run it again; check the shell of the user")
        )  # fmt: skip
    findings += checks.check_os(parse_os_release(facts.get("os-release", "")))
    findings += checks.check_python(facts.get("python", ""))
    findings += checks.check_ports(
        machine.role, parse_listeners(facts.get("listeners", "")), parse_owners(facts.get("owners", ""))
    )
    findings += checks.check_kernel(
        filesystems=parse_words(facts.get("filesystems", "")),
        loaded_modules=parse_words(facts.get("modules", "")),
        available_modules=parse_words(facts.get("modules-available", "")),
        bridge_sysctl=facts.get("bridge-sysctl", "") == "present",
        container=facts.get("container", "").strip(),
    )
    forward = facts.get("ip-forward", "").splitlines()
    findings += checks.check_ip_forward(forward[0] if forward else "", "settable" in forward[1:], privileged)
    findings += checks.check_disk(parse_df(facts.get("disk", "")))
    findings += checks.check_memory(parse_meminfo_kib(facts.get("meminfo", "")))
    return findings
