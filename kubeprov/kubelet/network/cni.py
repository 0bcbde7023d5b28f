"""The CNI protocol: run a chain of plugins (ADD/CHECK/DEL) the way libcni does, and read their results.

Each plugin is an executable in ``CNI_PATH``; it gets the command and sandbox in environment variables and its
network configuration (plus ``prevResult`` and the ``runtimeConfig`` its capabilities ask for) as JSON on stdin.
The final ADD result is cached per (network, container, interface) so DEL and CHECK can hand it back as
``prevResult``, which is what lets portmap and bridge undo exactly what they did.
"""

from __future__ import annotations

import asyncio
import json
import os
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

CNI_VERSION = "1.0.0"
DEFAULT_CNI_PATH = Path("/usr/lib/cni")
DEFAULT_CACHE_DIR = Path("/var/lib/kubeprov/cni/cache")


class CniError(RuntimeError):
    """A plugin failed; ``code`` and ``details`` come from the CNI error object on its stdout."""

    def __init__(self, plugin: str, command: str, msg: str, code: int = 0, details: str = "") -> None:
        super().__init__(f"CNI plugin {plugin} {command} failed: {msg}" + (f" ({details})" if details else ""))
        self.plugin = plugin
        self.command = command
        self.code = code
        self.details = details


@dataclass(frozen=True)
class CniResult:
    """A plugin chain's result (CNI 1.0 shape); ``raw`` is what the last plugin printed."""

    raw: dict[str, Any]

    @property
    def ips(self) -> list[str]:
        """Addresses without their prefix length, in the order the plugins reported them."""
        return [entry["address"].split("/")[0] for entry in self.raw.get("ips") or [] if entry.get("address")]

    @property
    def ipv4(self) -> str:
        """The first IPv4 address, or ''."""
        return next((ip for ip in self.ips if ":" not in ip), "")

    @property
    def interfaces(self) -> list[dict[str, Any]]:
        return list(self.raw.get("interfaces") or [])


@dataclass(frozen=True)
class Invocation:
    """Who a chain runs for: the sandbox (container id + netns path), the interface, runtime arguments."""

    container_id: str
    netns: str
    ifname: str = "eth0"
    args: dict[str, str] = field(default_factory=dict)
    runtime_config: dict[str, Any] = field(default_factory=dict)


def bridge_conflist(name: str, bridge: str, subnets: list[str], data_dir: Path, *, is_gateway: bool = True,
                    ip_masq: bool = True, hairpin: bool = True, mtu: int = 0, portmap: bool = True) -> dict[str, Any]:
    """The node's pod network: bridge + host-local IPAM over the podCIDR(s), then portmap for hostPorts."""
    routes = [{"dst": "::/0" if ":" in subnet else "0.0.0.0/0"} for subnet in subnets]
    bridge_conf: dict[str, Any] = {
        "type": "bridge", "bridge": bridge, "isGateway": is_gateway, "ipMasq": ip_masq, "hairpinMode": hairpin,
        "ipam": {"type": "host-local", "ranges": [[{"subnet": subnet}] for subnet in subnets],
                 "routes": routes, "dataDir": str(data_dir)},
    }
    if mtu:
        bridge_conf["mtu"] = mtu
    plugins = [bridge_conf]
    if portmap:
        plugins.append({"type": "portmap", "capabilities": {"portMappings": True}, "snat": True})
    return {"cniVersion": CNI_VERSION, "name": name, "plugins": plugins}


def loopback_conflist() -> dict[str, Any]:
    """``lo`` up in the sandbox, run before the pod network as container runtimes do."""
    return {"cniVersion": CNI_VERSION, "name": "cni-loopback", "plugins": [{"type": "loopback"}]}


class CniRunner:
    """Runs conflists; stateless apart from the result cache on disk (safe across kubelet restarts)."""

    def __init__(self, cni_path: Path = DEFAULT_CNI_PATH, cache_dir: Path = DEFAULT_CACHE_DIR) -> None:
        self.cni_path = cni_path
        self.cache_dir = cache_dir

    async def add(self, conflist: dict[str, Any], inv: Invocation) -> CniResult:
        """ADD through the chain, each plugin getting the previous one's result; the final result is cached."""
        result: dict[str, Any] | None = None
        for plugin in conflist["plugins"]:
            result = await self._exec("ADD", conflist, plugin, inv, result)
        final = CniResult(result or {})
        self._save(conflist, inv, final)
        return final

    async def check(self, conflist: dict[str, Any], inv: Invocation) -> None:
        """CHECK the chain against the cached result (raises CniError when something is off or not cached)."""
        cached = self.cached(conflist["name"], inv.container_id, inv.ifname)
        if cached is None:
            raise CniError(conflist["name"], "CHECK", "no cached result for this sandbox")
        for plugin in conflist["plugins"]:
            await self._exec("CHECK", conflist, plugin, inv, cached.raw)

    async def delete(self, conflist: dict[str, Any], inv: Invocation) -> None:
        """DEL in reverse order with the cached result; works without a cache or netns (crash leftovers)."""
        cached = self.cached(conflist["name"], inv.container_id, inv.ifname)
        prev = cached.raw if cached else None
        for plugin in reversed(conflist["plugins"]):
            await self._exec("DEL", conflist, plugin, inv, prev)
        self._cache_file(conflist["name"], inv.container_id, inv.ifname).unlink(missing_ok=True)

    def cached(self, network: str, container_id: str, ifname: str = "eth0") -> CniResult | None:
        """The cached ADD result, or None."""
        try:
            data = json.loads(self._cache_file(network, container_id, ifname).read_text())
        except (OSError, ValueError):
            return None
        return CniResult(data.get("result") or {})

    def _cache_file(self, network: str, container_id: str, ifname: str) -> Path:
        return self.cache_dir / f"{network}-{container_id}-{ifname}.json"

    def _save(self, conflist: dict[str, Any], inv: Invocation, result: CniResult) -> None:
        self.cache_dir.mkdir(parents=True, exist_ok=True)
        path = self._cache_file(conflist["name"], inv.container_id, inv.ifname)
        tmp = path.with_suffix(".tmp")
        tmp.write_text(json.dumps({"kind": "cniCacheV1", "containerId": inv.container_id, "ifName": inv.ifname,
                                   "networkName": conflist["name"], "netns": inv.netns,
                                   "runtimeConfig": inv.runtime_config, "result": result.raw}))
        os.replace(tmp, path)

    async def _exec(self, command: str, conflist: dict[str, Any], plugin: dict[str, Any], inv: Invocation,
                    prev: dict[str, Any] | None) -> dict[str, Any]:
        netconf = plugin_config(conflist, plugin, inv.runtime_config, prev)
        env = {
            "PATH": os.environ.get("PATH", "/usr/sbin:/usr/bin:/sbin:/bin"),
            "CNI_COMMAND": command, "CNI_CONTAINERID": inv.container_id, "CNI_NETNS": inv.netns,
            "CNI_IFNAME": inv.ifname, "CNI_PATH": str(self.cni_path),
            "CNI_ARGS": ";".join(f"{key}={value}" for key, value in inv.args.items()),
        }
        binary = self.cni_path / plugin["type"]
        proc = await asyncio.create_subprocess_exec(str(binary), env=env, stdin=asyncio.subprocess.PIPE,
                                                    stdout=asyncio.subprocess.PIPE, stderr=asyncio.subprocess.PIPE)
        out, err = await proc.communicate(json.dumps(netconf).encode())
        if proc.returncode != 0:
            raise _error(plugin["type"], command, out, err)
        if command != "ADD" or not out.strip():
            return prev or {}
        return json.loads(out)


def plugin_config(conflist: dict[str, Any], plugin: dict[str, Any], runtime_config: dict[str, Any],
                  prev: dict[str, Any] | None) -> dict[str, Any]:
    """One plugin's stdin: its config plus the list's name/version, prevResult and the runtimeConfig it asks for."""
    netconf = dict(plugin)
    netconf["name"] = conflist["name"]
    netconf["cniVersion"] = conflist.get("cniVersion", CNI_VERSION)
    wanted = {key for key, on in (plugin.get("capabilities") or {}).items() if on}
    runtime = {key: value for key, value in runtime_config.items() if key in wanted}
    if runtime:
        netconf["runtimeConfig"] = runtime
    if prev is not None:
        netconf["prevResult"] = prev
    return netconf


def _error(plugin: str, command: str, out: bytes, err: bytes) -> CniError:
    try:
        data = json.loads(out)
        return CniError(plugin, command, data.get("msg", ""), int(data.get("code", 0)), data.get("details", ""))
    except (ValueError, AttributeError):
        return CniError(plugin, command, (err or out).decode(errors="replace").strip())
