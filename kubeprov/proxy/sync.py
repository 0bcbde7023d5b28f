"""The Proxier: informers on Services and EndpointSlices, debounced syncs of one nftables table.

Every change marks the state dirty; the sync loop waits at least ``min_sync_period`` between syncs (so
a burst of changes is one sync) and resyncs every ``sync_period`` anyway. Each sync is ONE ``nft -f -``
transaction, so packets never see a half-written table. The first sync (and the one after a failure)
replaces the table's whole content -- add, flush, refill, drop leftovers -- in that one transaction:
the table is never missing, and established connections (kept by conntrack, not by our rules) survive
a restart of the proxy. Later syncs send only the difference from what was last installed.
"""

from __future__ import annotations

import asyncio
import contextlib
import ipaddress
import json
import logging
import time
from pathlib import Path

from kubeprov.api.client import ApiClient
from kubeprov.api.informer import Informer, SharedInformerFactory
from kubeprov.component import HealthServer, serve_until_signalled
from kubeprov.proxy import model, rules
from kubeprov.proxy.config import ProxyConfig
from kubeprov.proxy.healthcheck import ServiceHealth, ServiceHealthServers
from kubeprov.proxy.metrics import ProxyMetrics

__all__ = ["NftError", "Proxier", "serve_forever"]

log = logging.getLogger("kubeprov.proxy")
FAILURE_RETRY = 1.0
# as kube-proxy: once an hour the whole table is written again, repairing whatever else changed in it
FULL_SYNC_PERIOD = 3600.0


class NftError(RuntimeError):
    """nft refused a transaction (its message says why)."""


class Proxier:
    """See the module docstring. ``client`` (optional) is used instead of one from ``config.kubeconfig``
    and is not closed by :meth:`stop`; ``health=False`` serves no health port (tests)."""

    def __init__(self, config: ProxyConfig, *, client: ApiClient | None = None, health: bool = True) -> None:
        config.validate()
        self.config = config
        self.metrics = ProxyMetrics()
        cidr = str(ipaddress.IPv4Network(config.cluster_cidr, strict=False)) if config.cluster_cidr else ""
        self.options = rules.Options(
            node_name=config.name, cluster_cidr=cidr, masquerade_all=config.masquerade_all,
            nodeport_addresses=tuple(str(ipaddress.IPv4Network(a, strict=False)) for a in config.nodeport_addresses))
        self._client = client
        self._own_client = client is None
        self._serve_health = health
        self._factory: SharedInformerFactory | None = None
        self._services: Informer | None = None
        self._slices: Informer | None = None
        self._health: HealthServer | None = None
        self._dirty = asyncio.Event()
        self._task: asyncio.Task[None] | None = None
        self._started_at = time.monotonic()
        self._last_success: float | None = None
        self._last_full = 0.0
        self._lock = asyncio.Lock()
        self.service_health = ServiceHealthServers(config.service_health_bind_address,
                                                   lambda: self.healthy() is None)
        self._ports: list[model.ServicePort] = []
        self.applied: rules.Ruleset | None = None  # what the table holds after the last successful sync
        self.syncs = 0

    # -- lifecycle ------------------------------------------------------------------------------

    async def start(self) -> None:
        """Start informers, health server and the sync loop; returns at once (see :meth:`wait_synced`)."""
        if self._client is None:
            if not self.config.kubeconfig:
                raise ValueError("the proxy config names no kubeconfig")
            self._client = ApiClient.from_kubeconfig(Path(self.config.kubeconfig), user_agent="kubeprov-proxy")
        self._started_at = time.monotonic()
        factory = self._factory = SharedInformerFactory(self._client)
        self._services = factory.informer("v1", "services")
        self._slices = factory.informer("discovery.k8s.io/v1", "endpointslices")
        for informer in (self._services, self._slices):
            informer.add_handler(lambda _obj: self.request_sync(), lambda _old, _new: self.request_sync(),
                                 lambda _obj: self.request_sync())
        if self._serve_health:
            self._health = HealthServer(self.config.health_bind_address, self.config.health_port,
                                        healthy=self.healthy, ready=self.ready, metrics=self.metrics.text)
            await self._health.start()
        await factory.start()
        self._task = asyncio.create_task(self._loop(), name="proxy-sync")
        log.info("service proxy for node %s programming table ip %s", self.config.name, self.config.table)

    async def stop(self) -> None:
        """Stop syncing; the rules stay in place (traffic keeps flowing until the next proxy takes over)."""
        if self._task is not None:
            self._task.cancel()
            await asyncio.gather(self._task, return_exceptions=True)
            self._task = None
        if self._factory is not None:
            await self._factory.stop()
            self._factory = None
        await self.service_health.close()
        if self._health is not None:
            await self._health.stop()
            self._health = None
        if self._own_client and self._client is not None:
            await self._client.close()
            self._client = None

    @property
    def health_port(self) -> int:
        return self._health.port if self._health is not None else 0

    def healthy(self) -> str | None:
        """kube-proxy's rule: unhealthy when the rules have not been synced for 2 x sync_period."""
        since = self._last_success if self._last_success is not None else self._started_at
        age = time.monotonic() - since
        if age > 2 * self.config.sync_period:
            return f"rules last synced {age:.0f}s ago (more than 2 x sync_period)"
        return None

    def ready(self) -> str | None:
        if self._last_success is None:
            return "rules not synced yet"
        return None

    async def wait_synced(self, timeout: float | None = None) -> bool:
        """Wait until the informers have synced and one sync succeeded after that."""
        async def synced() -> None:
            while self._last_success is None:
                await asyncio.sleep(0.05)
        try:
            async with asyncio.timeout(timeout):
                await synced()
        except TimeoutError:
            return False
        return True

    def request_sync(self) -> None:
        self._dirty.set()

    # -- syncing --------------------------------------------------------------------------------

    async def _loop(self) -> None:
        assert self._factory is not None
        await self._factory.wait_synced()
        last_attempt = -float("inf")
        self._dirty.set()
        while True:
            with contextlib.suppress(TimeoutError):
                async with asyncio.timeout(self.config.sync_period):
                    await self._dirty.wait()
            wait = last_attempt + self.config.min_sync_period - time.monotonic()
            if wait > 0:
                await asyncio.sleep(wait)
            self._dirty.clear()
            last_attempt = time.monotonic()
            try:
                await self.sync()
            except asyncio.CancelledError:
                raise
            except Exception as exc:  # a failed sync is retried with the whole table
                log.warning("syncing proxy rules failed (retrying with a full sync): %s", exc)
                self._dirty.set()
                await asyncio.sleep(FAILURE_RETRY)

    def desired(self) -> rules.Ruleset:
        services = self._services.list() if self._services is not None else []
        slices = self._slices.list() if self._slices is not None else []
        ports = self._ports = model.build(services, slices)
        ruleset = rules.render(ports, self.config.table, self.options)
        self.metrics.services = len(ports)
        self.metrics.endpoints = sum(1 for c in ruleset.chains if c.startswith("endpoint-"))
        return ruleset

    async def sync(self) -> None:
        """One sync now: the whole table when nothing is known to be installed, else the difference."""
        async with self._lock:
            started = time.monotonic()
            new = self.desired()
            full = self.applied is None or started - self._last_full > FULL_SYNC_PERIOD
            try:
                if full:
                    script = rules.full_transaction(new, await self._existing())
                else:
                    assert self.applied is not None
                    script = rules.diff_transaction(self.applied, new)
                if script:
                    await self._nft(script)
            except Exception:
                self.applied = None
                self.metrics.failures += 1
                raise
            self.applied = new
            self.syncs += 1
            if full:
                self._last_full = started
            took = time.monotonic() - started
            self.metrics.sync.observe(took)
            (self.metrics.full_sync if full else self.metrics.partial_sync).observe(took)
            self.metrics.last_sync_timestamp = time.time()
            self._last_success = time.monotonic()
            log.debug("%s sync of %d chains took %.3fs", "full" if full else "partial", len(new.chains), took)
            await self.service_health.update({
                port: ServiceHealth(ns, name, count)
                for port, (ns, name, count) in model.health_checks(self._ports, self.config.name).items()})

    async def _nft(self, script: str, *args: str) -> str:
        argv = [*self.config.nft, *(args or ("-f", "-"))]
        proc = await asyncio.create_subprocess_exec(*argv, stdin=asyncio.subprocess.PIPE,
                                                    stdout=asyncio.subprocess.PIPE, stderr=asyncio.subprocess.PIPE)
        out, err = await proc.communicate(script.encode())
        if proc.returncode != 0:
            raise NftError(f"{' '.join(argv)} failed: {err.decode(errors='replace').strip()[:2000]}")
        return out.decode()

    async def _existing(self) -> list[tuple[str, str]]:
        """(kind, name) of the chains, sets and maps the installed table has (a previous proxy's, maybe)."""
        try:
            listing = await self._nft("", "-j", "list", "table", "ip", self.config.table)
        except NftError:
            return []  # no table yet
        found = []
        for entry in json.loads(listing or "{}").get("nftables", []):
            for kind in ("chain", "set", "map"):
                if kind in entry:
                    found.append((kind, entry[kind].get("name", "")))
        return found


async def serve_forever(config: ProxyConfig) -> None:
    """Run until SIGTERM/SIGINT (what ``python -m kubeprov.proxy`` does); ``run_component`` has checked the
    kubeconfig and turns a health port already taken into an error message and exit code 2."""
    client = ApiClient.from_kubeconfig(Path(config.kubeconfig), user_agent="kubeprov-proxy")
    try:
        await serve_until_signalled(Proxier(config, client=client))
    finally:
        await client.close()
