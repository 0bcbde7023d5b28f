"""Each preflight check as a pure function of parsed machine facts, returning findings with a fix.

Kept free of SSH so every rule is tested with literal command output; ``runner`` feeds them.
"""

from __future__ import annotations

from collections.abc import Mapping

from kubeprov.preflight.facts import DiskSpace, Listener, Owner
from kubeprov.preflight.findings import Finding, error, info, warning
from kubeprov.stack.machines import MachineRole

MIN_DEBIAN = 12
#: codenames of Debian releases newer than bookworm, which may not carry VERSION_ID yet (testing, sid)
NEWER_DEBIAN_CODENAMES = frozenset({"trixie", "forky", "duke", "sid"})
MIN_PYTHON = (3, 11)
MAX_SKEW_SECONDS = 2.0
GIB = 1024**3
#: free bytes each directory needs: /var/lib holds etcd data, images and pods; /opt the kubeprov venvs
MIN_FREE = {"/var/lib": 2 * GIB, "/opt": 1 * GIB}
MIN_MEMORY = 1 * GIB
#: MemTotal leaves out what the kernel reserved, so a machine sold as 1 GiB reports a little less
MEMORY_TOLERANCE = 0.9

#: ports each role's components listen on, and what listens there
ROLE_PORTS: dict[str, dict[int, str]] = {
    "control-plane": {
        6443: "the API server",
        2379: "etcd clients",
        2380: "etcd peers",
        10250: "the kubelet",
        10257: "the controller manager",
        10259: "the scheduler",
    },
    "etcd": {2379: "etcd clients", 2380: "etcd peers"},
    "worker": {10250: "the kubelet", 10256: "the service proxy's health check"},
    "load-balancer": {6443: "the API load balancer"},
}


def check_os(os_release: Mapping[str, str]) -> list[Finding]:
    """Debian 12 (bookworm) or a newer Debian: the roles install Debian packages by name."""
    pretty = os_release.get("PRETTY_NAME") or os_release.get("NAME") or "an unknown system"
    fix = "install Debian 12 (bookworm) or newer on this machine"
    if os_release.get("ID") != "debian":
        return [error("os", f"the OS is {pretty}, not Debian", fix)]
    version = os_release.get("VERSION_ID", "")
    codename = os_release.get("VERSION_CODENAME", "")
    if version:
        major = version.split(".")[0]
        if not major.isdigit() or int(major) < MIN_DEBIAN:
            return [error("os", f"the OS is {pretty}; Debian {MIN_DEBIAN} or newer is needed", fix)]
        return [info("os", f"OS {pretty}")]
    if codename in NEWER_DEBIAN_CODENAMES:
        return [info("os", f"OS {pretty} ({codename})")]
    return [error("os", f"cannot tell the Debian release of {pretty} (no VERSION_ID in /etc/os-release)", fix)]


def check_python(version_text: str) -> list[Finding]:
    """python3 >= 3.11: the components run in a venv made from the machine's python3."""
    fix = "install Debian's python3 (3.11 or newer): apt-get install python3 python3-venv"
    text = version_text.strip()
    if not text:
        return [error("python", "python3 is not installed", fix)]
    try:
        version = tuple(int(part) for part in text.split(".")[:2])
    except ValueError:
        return [error("python", f"python3 reports an unreadable version {text!r}", fix)]
    if version < MIN_PYTHON:
        wanted = ".".join(map(str, MIN_PYTHON))
        return [error("python", f"python3 is {text}; {wanted} or newer is needed", fix)]
    return [info("python", f"python3 {text}")]


def is_ours(owner: Owner) -> bool:
    """A process kubeprov installed: it runs in a kubeprov-*.service unit or its command line says kubeprov."""
    return bool(owner.unit) or "kubeprov" in owner.cmdline


def check_ports(role: MachineRole, listeners: list[Listener], owners: Mapping[int, Owner]) -> list[Finding]:
    """Every port the role needs is free, or held by kubeprov's own component (a re-run on a finished cluster)."""
    findings = []
    for port, purpose in sorted(ROLE_PORTS[role].items()):
        holders = [listener for listener in listeners if listener.port == port]
        if not holders:
            continue
        processes = [proc for listener in holders for proc in listener.processes]
        known = [owners[pid] for _name, pid in processes if pid in owners]
        if known and len(known) == len(processes) and all(is_ours(owner) for owner in known):
            findings.append(info("ports", f"port {port} is held by kubeprov's own {_describe_ours(known)}"))
            continue
        who = ", ".join(f"{name} (pid {pid})" for name, pid in processes) or "an unknown process"
        findings.append(
            error(
                "ports",
                f"port {port} ({purpose}) is already in use by {who}",
                f"stop what listens on port {port} (see `ss -tlnp 'sport = :{port}'`) or use another machine",
            )
        )
    return findings


def _describe_ours(owners: list[Owner]) -> str:
    units = sorted({owner.unit for owner in owners if owner.unit})
    return ", ".join(units) if units else "process"


def measure_skew(local_before: float, remote: float, local_after: float) -> tuple[float, float]:
    """(skew, uncertainty): the remote clock minus the operator's at the middle of the round trip.

    The remote read happened somewhere between ``local_before`` and ``local_after``, so the true skew is
    within half the round trip of the estimate.
    """
    middle = (local_before + local_after) / 2
    return remote - middle, max(0.0, (local_after - local_before) / 2)


def check_skew(local_before: float, remote_text: str, local_after: float) -> list[Finding]:
    """Clocks within 2 s of the operator's: certificates and leases compare times across machines."""
    fix = "synchronise the clock (e.g. apt-get install systemd-timesyncd, or chrony)"
    try:
        remote = float(remote_text.strip())
    except ValueError:
        return [warning("time", f"could not read the machine's clock (date printed {remote_text.strip()!r})")]
    skew, uncertainty = measure_skew(local_before, remote, local_after)
    direction = "ahead of" if skew > 0 else "behind"
    if abs(skew) - uncertainty > MAX_SKEW_SECONDS:
        return [
            error(
                "time",
                f"the clock is {abs(skew):.1f} s {direction} this computer's (more than {MAX_SKEW_SECONDS:g} s)",
                fix,
            )
        ]
    if uncertainty > MAX_SKEW_SECONDS:
        return [warning("time", f"clock skew unknown: the round trip took {2 * uncertainty:.1f} s")]
    return [info("time", f"clock skew {skew:+.3f} s (±{uncertainty:.3f} s)")]


def check_kernel(
    filesystems: set[str],
    loaded_modules: set[str],
    available_modules: set[str],
    bridge_sysctl: bool,
    container: str,
) -> list[Finding]:
    """overlay (image layers) and br_netfilter (Service traffic between pods on one bridge)."""
    findings = []
    if "overlay" in filesystems or "overlay" in available_modules:
        findings.append(info("kernel", "overlay filesystem available"))
    else:
        findings.append(
            error("kernel", "the kernel has no overlay filesystem", "load it with `modprobe overlay` "
                  "(package linux-image-amd64 ships the module)")
        )  # fmt: skip
    if "br_netfilter" in loaded_modules or "br_netfilter" in available_modules or bridge_sysctl:
        findings.append(info("kernel", "br_netfilter available"))
    elif container and container != "none":
        findings.append(
            warning(
                "kernel",
                f"br_netfilter is not visible inside this {container} container",
                "load it on the container's host with `modprobe br_netfilter`",
            )
        )
    else:
        findings.append(
            error("kernel", "the br_netfilter module is neither loaded nor available", "load it with "
                  "`modprobe br_netfilter` (package linux-image-amd64 ships the module)")
        )  # fmt: skip
    return findings


def check_ip_forward(value: str, settable: bool, privileged: bool) -> list[Finding]:
    """Our common role turns forwarding on; that fails only when it is off and cannot be changed."""
    value = value.strip() or "unknown"
    if settable or not privileged:
        return [info("ip_forward", f"net.ipv4.ip_forward is {value}")]
    if value == "1":
        return [info("ip_forward", "net.ipv4.ip_forward is 1 (read-only here)")]
    return [
        error(
            "ip_forward",
            f"net.ipv4.ip_forward is {value} and cannot be changed on this machine",
            "allow writing /proc/sys/net/ipv4/ip_forward (a container's host must grant it) or set it to 1",
        )
    ]


def check_disk(spaces: list[DiskSpace]) -> list[Finding]:
    """Free space where kubeprov writes: /var/lib (data) and /opt (software)."""
    findings = []
    by_path = {space.path: space for space in spaces}
    for path, needed in MIN_FREE.items():
        space = by_path.get(path)
        if space is None:
            findings.append(warning("disk", f"could not read the free space at {path}"))
        elif space.available < needed:
            findings.append(
                error(
                    "disk",
                    f"{path} (on {space.mount}) has {_gib(space.available)} free; {_gib(needed)} is needed",
                    f"free space on {space.mount} or grow that filesystem",
                )
            )
        else:
            findings.append(info("disk", f"{path} has {_gib(space.available)} free"))
    return findings


def check_memory(mem_total_kib: int | None) -> list[Finding]:
    """At least 1 GiB: a control plane alone uses several hundred MiB."""
    if mem_total_kib is None:
        return [warning("memory", "could not read MemTotal from /proc/meminfo")]
    total = mem_total_kib * 1024
    if total < MIN_MEMORY * MEMORY_TOLERANCE:
        return [
            error("memory", f"the machine has {_gib(total)} of memory; {_gib(MIN_MEMORY)} is needed",
                  "give the machine more memory")
        ]  # fmt: skip
    return [info("memory", f"{_gib(total)} of memory")]


def check_privileges(user: str, uid: int | None, become: bool, sudo_ok: bool | None) -> list[Finding]:
    """Installing needs root: logging in as root, or passwordless sudo when ``become`` is set."""
    if uid == 0:
        return [info("privileges", "logged in as root" if user == "root" else f"logged in as {user} (uid 0)")]
    if not become:
        return [
            error("privileges", f"user {user} is not root and the host does not set become: true",
                  "log in as root, or set become: true for this host and allow passwordless sudo")
        ]  # fmt: skip
    if not sudo_ok:
        return [
            error("privileges", f"user {user} cannot run `sudo -n` without a password",
                  f"add `{user} ALL=(ALL) NOPASSWD: ALL` in /etc/sudoers.d/ on the machine")
        ]  # fmt: skip
    return [info("privileges", f"user {user} uses passwordless sudo")]


def _gib(size: float) -> str:
    return f"{size / GIB:.1f} GiB"
