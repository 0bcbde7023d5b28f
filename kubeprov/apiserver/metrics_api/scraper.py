"""The API server's metrics-server: scrape every kubelet's /metrics/resource each ``metric_resolution``.

Nodes that serve no kubelet API (port 0, hollow nodes) are skipped, and so are unreachable ones,
quietly: one log line when a node's state changes, not one per scrape. A node that went away or
stopped answering loses its usage, as in metrics-server.
"""

from __future__ import annotations

import asyncio
import logging
import ssl
import time
from collections.abc import Callable, Sequence
from typing import Any

import aiohttp

from kubeprov.aio import cancel_and_wait
from kubeprov.api.status import StatusError
from kubeprov.apiserver.kubelets.connection import is_hollow, kubelet_port, node_location
from kubeprov.apiserver.metrics_api.prometheus import parse_text
from kubeprov.apiserver.metrics_api.usage import UsageStore, decode

log = logging.getLogger("kubeprov.apiserver.metrics")
Obj = dict[str, Any]


class Scraper:
    def __init__(self, list_nodes: Callable[[], list[Obj]], ssl_context: ssl.SSLContext,
                 preferred: Sequence[str], resolution: float, store: UsageStore) -> None:
        self.list_nodes = list_nodes
        self.ssl_context = ssl_context
        self.preferred = tuple(preferred)
        self.resolution = resolution
        self.store = store
        self._states: dict[str, str] = {}
        self._session: aiohttp.ClientSession | None = None
        self._task: asyncio.Task[None] | None = None

    def start(self) -> None:
        if self.resolution <= 0 or self._task is not None:
            return
        self._session = aiohttp.ClientSession(connector=aiohttp.TCPConnector(ssl=self.ssl_context))
        self._task = asyncio.create_task(self._run(), name="metrics-scraper")

    async def stop(self) -> None:
        await cancel_and_wait(self._task)
        self._task = None
        if self._session is not None:
            await self._session.close()
            self._session = None

    async def _run(self) -> None:
        while True:
            started = time.monotonic()
            try:
                await self.scrape_once()
            except Exception:  # a bug in one round must not end scraping for the server's life
                log.exception("metrics scrape failed")
            await asyncio.sleep(max(0.0, self.resolution - (time.monotonic() - started)))

    async def scrape_once(self) -> None:
        nodes = {(n.get("metadata") or {}).get("name", ""): n for n in self.list_nodes()}
        for gone in set(self.store.nodes()) | set(self._states):
            if gone not in nodes:
                self.store.forget(gone)
                self._states.pop(gone, None)
        await asyncio.gather(*(self._scrape_node(name, node) for name, node in nodes.items() if name))

    def _state(self, node: str, state: str) -> None:
        if self._states.get(node) != state:
            self._states[node] = state
            log.info("metrics from node %s: %s", node, state)

    async def _scrape_node(self, name: str, node: Obj) -> None:
        if is_hollow(node) or kubelet_port(node) == 0:
            self.store.forget(name)
            self._state(name, "skipped (no kubelet API)")
            return
        try:
            location = node_location(node, self.preferred)
        except StatusError as err:
            self.store.forget(name)
            self._state(name, f"skipped ({err.message})")
            return
        assert self._session is not None
        timeout = aiohttp.ClientTimeout(total=max(1.0, min(10.0, self.resolution)))
        try:
            async with self._session.get(location.url("/metrics/resource"), timeout=timeout) as resp:
                if resp.status != 200:
                    raise OSError(f"HTTP {resp.status}")
                text = await resp.text()
        except (OSError, aiohttp.ClientError, TimeoutError) as err:
            self.store.forget(name)
            self._state(name, f"unreachable ({err or type(err).__name__})")
            return
        self.store.record(name, decode(parse_text(text), time.time()))
        self._state(name, "scraped")
