"""The facts preflight reads from a machine, in one shell script, and their parsing.

One script over one SSH channel keeps a host's check to a couple of round trips however many checks there
are; each fact comes back in its own marked section so a missing tool on the machine empties one section
instead of breaking the others. Parsers here are pure functions of text so they are tested without SSH.
"""

from __future__ import annotations

import re
from dataclasses import dataclass

MARK = "@@kubeprov-preflight "

#: POSIX sh; run as root (directly or through sudo) so ``ss -p`` can name the owners of listening ports
GATHER_SCRIPT = r"""
m() { printf '\n%s%s@@\n' '@@kubeprov-preflight ' "$1"; }
m os-release; cat /etc/os-release 2>/dev/null || cat /usr/lib/os-release 2>/dev/null
m python; python3 -c 'import sys; print("%d.%d.%d" % sys.version_info[:3])' 2>/dev/null
m listeners
if command -v ss >/dev/null 2>&1; then ss -Htlnp 2>/dev/null
else echo proc; cat /proc/net/tcp /proc/net/tcp6 2>/dev/null; fi
m owners
for pid in $(ss -Htlnp 2>/dev/null | grep -o 'pid=[0-9]*' | cut -d= -f2 | sort -u); do
  unit=$(grep -o 'kubeprov-[A-Za-z0-9_.@-]*\.service' /proc/$pid/cgroup 2>/dev/null | head -n1)
  cmd=$(tr '\0' ' ' < /proc/$pid/cmdline 2>/dev/null)
  printf '%s\t%s\t%s\n' "$pid" "$unit" "$cmd"
done
m filesystems; cat /proc/filesystems 2>/dev/null
m modules; cut -d' ' -f1 /proc/modules 2>/dev/null
m modules-available; for mod in overlay br_netfilter; do modprobe -n -q $mod 2>/dev/null && echo $mod; done
m bridge-sysctl; [ -d /proc/sys/net/bridge ] && echo present
m container; systemd-detect-virt --container 2>/dev/null || cat /run/systemd/container 2>/dev/null
m ip-forward
v=$(cat /proc/sys/net/ipv4/ip_forward 2>/dev/null); echo "$v"
if [ "$(id -u)" = 0 ] && [ -n "$v" ] && (echo "$v" > /proc/sys/net/ipv4/ip_forward) 2>/dev/null; then echo settable; fi
m disk
for d in /var/lib /opt; do
  p=$d; while [ ! -e "$p" ]; do p=$(dirname "$p"); done
  printf '%s ' "$d"; df -PB1 "$p" 2>/dev/null | tail -n1
done
m meminfo; cat /proc/meminfo 2>/dev/null
m end
"""


def split_sections(output: str) -> dict[str, str]:
    """``{section: text}`` from the script's output; sections that printed nothing map to ``""``."""
    sections: dict[str, str] = {}
    current: str | None = None
    lines: list[str] = []
    for line in output.splitlines():
        if line.startswith(MARK) and line.endswith("@@"):
            if current is not None:
                sections[current] = "\n".join(lines).strip()
            current = line[len(MARK) : -2]
            lines = []
        elif current is not None:
            lines.append(line)
    if current is not None:
        sections[current] = "\n".join(lines).strip()
    return sections


def parse_os_release(text: str) -> dict[str, str]:
    """KEY=value lines, quotes removed."""
    values: dict[str, str] = {}
    for line in text.splitlines():
        key, sep, value = line.strip().partition("=")
        if sep and key and not key.startswith("#"):
            values[key] = value.strip().strip("\"'")
    return values


@dataclass(frozen=True)
class Listener:
    """A listening TCP port and the processes holding it (empty when the machine did not say)."""

    port: int
    address: str
    processes: tuple[tuple[str, int], ...] = ()  # (process name, pid)


_SS_USER = re.compile(r'\("([^"]*)",pid=(\d+)')


def parse_ss(text: str) -> list[Listener]:
    """``ss -Htlnp`` lines (State Recv-Q Send-Q Local Peer [users:...])."""
    listeners = []
    for line in text.splitlines():
        fields = line.split()
        if len(fields) < 4 or fields[0] != "LISTEN":
            continue
        address, _, port = fields[3].rpartition(":")
        if not port.isdigit():
            continue
        processes = tuple((name, int(pid)) for name, pid in _SS_USER.findall(line))
        listeners.append(Listener(int(port), address, processes))
    return listeners


_TCP_LISTEN = "0A"


def parse_proc_net_tcp(text: str) -> list[Listener]:
    """/proc/net/tcp and tcp6 rows in state LISTEN (used when ``ss`` is missing; owners are unknown)."""
    listeners = []
    for line in text.splitlines():
        fields = line.split()
        if len(fields) < 4 or fields[3] != _TCP_LISTEN or ":" not in fields[1]:
            continue
        address, _, port = fields[1].rpartition(":")
        try:
            listeners.append(Listener(int(port, 16), address))
        except ValueError:
            continue
    return listeners


def parse_listeners(text: str) -> list[Listener]:
    """The listeners section: ``ss`` output, or ``proc`` followed by /proc/net/tcp*."""
    if text.startswith("proc"):
        return parse_proc_net_tcp(text)
    return parse_ss(text)


@dataclass(frozen=True)
class Owner:
    """A process holding a port: its kubeprov systemd unit (when it runs in one) and its command line."""

    pid: int
    unit: str
    cmdline: str


def parse_owners(text: str) -> dict[int, Owner]:
    """``pid<TAB>unit<TAB>cmdline`` lines."""
    owners = {}
    for line in text.splitlines():
        parts = line.split("\t", 2)
        if len(parts) == 3 and parts[0].isdigit():
            owners[int(parts[0])] = Owner(int(parts[0]), parts[1].strip(), parts[2].strip())
    return owners


def parse_meminfo_kib(text: str, key: str = "MemTotal") -> int | None:
    """``key`` of /proc/meminfo in KiB."""
    for line in text.splitlines():
        name, _, rest = line.partition(":")
        if name.strip() == key:
            number = rest.split()
            if number and number[0].isdigit():
                return int(number[0])
    return None


@dataclass(frozen=True)
class DiskSpace:
    path: str  # the directory asked about
    mount: str  # the mount point holding it (or its nearest existing parent)
    available: int  # bytes


def parse_df(text: str) -> list[DiskSpace]:
    """``<path> <df -PB1 data line>`` lines: path, filesystem, size, used, available, capacity, mount."""
    spaces = []
    for line in text.splitlines():
        fields = line.split()
        if len(fields) >= 7 and fields[4].isdigit():
            spaces.append(DiskSpace(fields[0], " ".join(fields[6:]), int(fields[4])))
    return spaces


def parse_words(text: str) -> set[str]:
    """One word per line (module names, filesystems' last column)."""
    return {line.split()[-1] for line in text.splitlines() if line.split()}
