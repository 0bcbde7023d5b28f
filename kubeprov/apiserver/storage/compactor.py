"""Periodic etcd compaction: without it etcd keeps every revision forever and its database grows.

Like kube-apiserver, each interval compacts to the revision seen one interval earlier, so clients
always have at least one interval of history to resume watches and continue lists from. Several API
servers may run it at once: compacting to an already-compacted revision is harmless.
"""

from __future__ import annotations

import asyncio
import logging

from kubeprov.aio import cancel_and_wait
from kubeprov.etcd import EtcdClient, EtcdError

log = logging.getLogger("kubeprov.apiserver.compactor")


class Compactor:
    def __init__(self, client: EtcdClient, interval: float) -> None:
        self.client = client
        self.interval = interval
        self._task: asyncio.Task[None] | None = None
        self.compacted = 0

    def start(self) -> None:
        if self.interval > 0:
            self._task = asyncio.create_task(self._run(), name="etcd-compactor")

    async def stop(self) -> None:
        await cancel_and_wait(self._task)
        self._task = None

    async def _run(self) -> None:
        previous = 0
        while True:
            await asyncio.sleep(self.interval)
            try:
                current = (await self.client.range("/registry/", prefix=True, count_only=True)).header_revision
                if previous:
                    await self.client.compact(previous)
                    self.compacted = previous
                    log.info("compacted etcd history up to revision %d", previous)
                previous = current
            except EtcdError as exc:
                if "compacted" not in str(exc):
                    log.warning("etcd compaction failed: %s", exc)
                previous = 0
