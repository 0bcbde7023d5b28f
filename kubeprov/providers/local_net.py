"""The cluster's host bridge and each machine's network identity (address, MAC, hostname).

Machines get a static address and a MAC derived from it, so a re-created machine is the same neighbour to
the others (no stale ARP entries), and no gateway: nothing on a machine can reach past the host.
"""

from __future__ import annotations

import ipaddress
import json
import subprocess

from kubeprov.errors import KubeprovError

NETWORK_FILE = "etc/systemd/network/10-kubeprov-host0.network"
# 02 = locally administered unicast; 6b:70 = "kp"
_MAC_PREFIX = (0x02, 0x6B, 0x70)


def mac_for(address: str) -> str:
    """A stable locally administered MAC from the last three bytes of an IPv4 address."""
    packed = ipaddress.IPv4Address(address).packed
    return ":".join(f"{b:02x}" for b in (*_MAC_PREFIX, *packed[1:]))


def networkd_file(address: str, subnet: ipaddress.IPv4Network) -> str:
    """host0 (the machine's end of its veth) with a static address, its fixed MAC and no gateway."""
    return (
        "# written by kubeprov: static address, no gateway (machines have no way out)\n"
        "[Match]\nName=host0\n\n"
        f"[Link]\nMACAddress={mac_for(address)}\n\n"
        f"[Network]\nAddress={address}/{subnet.prefixlen}\nLinkLocalAddressing=no\nIPv6AcceptRA=no\n"
    )


def hosts_file(name: str) -> str:
    return f"127.0.0.1\tlocalhost\n127.0.1.1\t{name}\n::1\tlocalhost ip6-localhost ip6-loopback\n"


def _ip(*args: str, check: bool = True) -> subprocess.CompletedProcess[str]:
    result = subprocess.run(["ip", *args], capture_output=True, text=True)
    if check and result.returncode != 0:
        raise KubeprovError(f"ip {' '.join(args)} failed: {result.stderr.strip()}", "check the host's network setup")
    return result


def link_kind(name: str) -> str | None:
    """'bridge', 'veth'... for an existing link, None when there is no such link."""
    result = _ip("-j", "-d", "link", "show", "dev", name, check=False)
    if result.returncode != 0:
        return None
    info = json.loads(result.stdout)[0].get("linkinfo", {})
    return str(info.get("info_kind", "device"))


def ensure_bridge(name: str, subnet: ipaddress.IPv4Network, host_address: ipaddress.IPv4Address) -> bool:
    """The bridge up with the host's address on it; returns whether anything had to change."""
    kind = link_kind(name)
    changed = False
    if kind is None:
        _ip("link", "add", name, "address", mac_for(str(host_address)), "type", "bridge")
        changed = True
    elif kind != "bridge":
        raise KubeprovError(
            f"network interface {name} exists and is not a bridge",
            "set provider.bridge in the stack file to an unused name",
        )
    wanted = f"{host_address}/{subnet.prefixlen}"
    shown = json.loads(_ip("-j", "addr", "show", "dev", name).stdout)[0]
    if wanted not in {f"{a['local']}/{a['prefixlen']}" for a in shown.get("addr_info", [])}:
        _ip("addr", "replace", wanted, "dev", name)
        changed = True
    if "UP" not in shown.get("flags", []):
        _ip("link", "set", name, "up")
        changed = True
    return changed


def remove_bridge(name: str) -> bool:
    """Delete the bridge if it exists (never a link of another kind); returns whether it existed."""
    if link_kind(name) != "bridge":
        return False
    _ip("link", "del", name)
    return True
