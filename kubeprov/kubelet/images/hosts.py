"""Where a registry name is served from: mirrors, aliases and plain-HTTP hosts, like containerd's hosts.toml.

``registry.local`` -> ``http://127.0.0.1:5000`` makes the test images' name work on every node; a
registry with no entry is spoken to at ``https://<name>`` (``docker.io`` at ``registry-1.docker.io``),
except loopback hosts, which default to plain HTTP as docker and containerd do.
"""

from __future__ import annotations

import base64
import binascii
import json
import tomllib
from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field
from pathlib import Path

DOCKER_HUB = "docker.io"
DOCKER_HUB_SERVER = "https://registry-1.docker.io"
ALL_CAPABILITIES = frozenset({"pull", "resolve", "push"})
DOCKER_CONFIG_JSON = "kubernetes.io/dockerconfigjson"
DOCKER_CFG = "kubernetes.io/dockercfg"


@dataclass(frozen=True)
class Endpoint:
    """One place to talk to: ``scheme://host[:port]`` plus what it may be used for."""

    url: str
    capabilities: frozenset[str] = ALL_CAPABILITIES
    skip_verify: bool = False

    @property
    def host(self) -> str:
        return self.url.split("://", 1)[1]


@dataclass(frozen=True)
class RegistryHosts:
    """Registry name -> endpoints in the order they are tried (mirrors first, then the server)."""

    hosts: Mapping[str, tuple[Endpoint, ...]] = field(default_factory=dict)

    def endpoints(self, registry: str, capability: str = "pull") -> list[Endpoint]:
        configured = self.hosts.get(registry)
        if configured is None:
            configured = (default_endpoint(registry),)
        return [e for e in configured if capability in e.capabilities]

    @classmethod
    def from_config(cls, config: Mapping[str, object]) -> RegistryHosts:
        """From the kubelet config's ``registries`` map: name -> server URL, or a dict with
        ``server``, ``mirrors`` (URLs or dicts with url/capabilities/skip_verify)."""
        hosts: dict[str, tuple[Endpoint, ...]] = {}
        for name, value in config.items():
            if isinstance(value, str):
                hosts[name] = (Endpoint(_url(value)),)
                continue
            if not isinstance(value, Mapping):
                raise ValueError(f"registry {name!r}: expected a URL or a mapping, got {value!r}")
            endpoints = [_endpoint(m, ("pull", "resolve")) for m in value.get("mirrors", ())]
            server = value.get("server")
            if server is not None:
                endpoints.append(Endpoint(_url(str(server)), skip_verify=bool(value.get("skip_verify", False))))
            elif not endpoints or value.get("fallback", True):
                endpoints.append(default_endpoint(name))
            hosts[name] = tuple(endpoints)
        return cls(hosts)

    @classmethod
    def from_hosts_dir(cls, certs_d: Path) -> RegistryHosts:
        """containerd's layout: ``<certs.d>/<registry>/hosts.toml`` with ``server`` and ``[host."url"]``."""
        hosts: dict[str, tuple[Endpoint, ...]] = {}
        for path in sorted(Path(certs_d).glob("*/hosts.toml")):
            data = tomllib.loads(path.read_text())
            name = path.parent.name
            name = "docker.io" if name == "_default" else name
            endpoints = [
                _endpoint({"url": url, **opts}, ("pull", "resolve")) for url, opts in data.get("host", {}).items()
            ]
            if "server" in data:
                endpoints.append(Endpoint(_url(data["server"])))
            hosts[name] = tuple(endpoints) or (default_endpoint(name),)
        return cls(hosts)


def default_endpoint(registry: str) -> Endpoint:
    if registry == DOCKER_HUB:
        return Endpoint(DOCKER_HUB_SERVER)
    hostname = registry.rsplit(":", 1)[0] if not registry.startswith("[") else registry.split("]")[0] + "]"
    if hostname in ("localhost", "127.0.0.1", "[::1]") or hostname.startswith("127."):
        return Endpoint(f"http://{registry}")
    return Endpoint(f"https://{registry}")


def _url(value: str) -> str:
    value = value.rstrip("/")
    if value.endswith("/v2"):
        value = value[:-3]
    if "://" not in value:
        value = f"https://{value}"
    return value


def _endpoint(value: object, default_caps: Iterable[str]) -> Endpoint:
    if isinstance(value, str):
        return Endpoint(_url(value), frozenset(default_caps))
    if not isinstance(value, Mapping) or "url" not in value:
        raise ValueError(f"mirror must be a URL or a mapping with 'url', got {value!r}")
    caps = frozenset(value.get("capabilities", default_caps))
    return Endpoint(_url(str(value["url"])), caps, bool(value.get("skip_verify", False)))


Credentials = Mapping[str, tuple[str, str]]


def credentials_from_pull_secrets(secrets: Iterable[Mapping]) -> dict[str, tuple[str, str]]:
    """Registry host -> (username, password) from Secrets of type dockerconfigjson or dockercfg.

    Earlier secrets win, as the kubelet tries imagePullSecrets in order; malformed ones, and secrets of
    another type (the kubelet's keyring reads each key only under its own type), are skipped.
    """
    out: dict[str, tuple[str, str]] = {}
    for secret in secrets:
        data = secret.get("data") or {}
        kind = secret.get("type")
        try:
            if kind == DOCKER_CONFIG_JSON and data.get(".dockerconfigjson"):
                auths = json.loads(base64.b64decode(data[".dockerconfigjson"])).get("auths", {})
            elif kind == DOCKER_CFG and data.get(".dockercfg"):
                auths = json.loads(base64.b64decode(data[".dockercfg"]))
            else:
                continue
        except (ValueError, binascii.Error):
            continue
        for key, entry in auths.items():
            creds = _entry_credentials(entry)
            if creds:
                out.setdefault(normalize_registry_key(key), creds)
    return out


def _entry_credentials(entry: Mapping) -> tuple[str, str] | None:
    if entry.get("username") is not None:
        return str(entry["username"]), str(entry.get("password", ""))
    if entry.get("auth"):
        try:
            user, _, password = base64.b64decode(entry["auth"]).decode().partition(":")
        except (ValueError, binascii.Error):
            return None
        return user, password
    return None


def normalize_registry_key(key: str) -> str:
    """``https://index.docker.io/v1/`` -> ``docker.io``; ``http://host:5000/x`` -> ``host:5000``."""
    host = key.split("://", 1)[-1].split("/", 1)[0]
    return DOCKER_HUB if host in ("index.docker.io", "registry-1.docker.io") else host


def lookup_credentials(creds: Credentials | None, registry: str, endpoint: Endpoint) -> tuple[str, str] | None:
    """Credentials for the image's registry name, else for the endpoint host actually contacted."""
    if not creds:
        return None
    return creds.get(registry) or creds.get(endpoint.host)
