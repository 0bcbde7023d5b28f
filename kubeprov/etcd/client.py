"""An asyncio etcd v3 client speaking etcd's JSON gRPC gateway over HTTPS.

Why the gateway: it needs nothing but aiohttp, works with TLS client certificates, and keeps the
protobuf/gRPC stack (and its version pins) out of the process. One ``ClientSession`` with a
bounded keep-alive pool serves every unary call; watches get a second, unbounded session so that a
few hundred long-lived watch streams can never starve ordinary requests of connections.

Failover: endpoints are tried in order starting from the last one that answered. A request moves
to the next endpoint when the previous one could not be reached (nothing was sent) or refused it as
unavailable before proposing it (no leader, unhealthy cluster); a read also moves on when the
connection broke or timed out. A write that may have reached raft (connection broken after sending,
proposal timed out) is not retried: ``EtcdUnavailable(uncertain=True)`` tells the caller to re-read.
"""

from __future__ import annotations

import ssl
import time
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path
from types import TracebackType
from typing import Any, Literal, overload

import aiohttp

from kubeprov.etcd._http import (
    JSON_HEADERS,
    describe_failure,
    dumps,
    error_from_answer,
    is_tls_rejection,
    loads,
    stream_error,
)
from kubeprov.etcd.codec import as_int, unb64
from kubeprov.etcd.errors import GRPC_UNAVAILABLE, EtcdError, EtcdUnavailable
from kubeprov.etcd.types import (
    Compare,
    DeleteResult,
    Json,
    KeyValue,
    Member,
    Op,
    PutResult,
    RangeResult,
    TxnResult,
    delete_request,
    parse_delete,
    parse_kv,
    parse_member,
    parse_put,
    parse_range,
    parse_txn,
    put_request,
    range_request,
    txn_request,
)
from kubeprov.etcd.watch import Watch

# aiohttp >= 3.10 tells a connect timeout apart; before, ServerTimeoutError meant the same here
# because the sessions set no socket-read timeout.
_ConnectTimeout: type[Exception] = getattr(aiohttp, "ConnectionTimeoutError", aiohttp.ServerTimeoutError)


def _may_have_applied(message: str) -> bool:
    """etcd's UNAVAILABLE answers that come after a write was proposed to raft."""
    return "timed out" in message or "leader changed" in message


@dataclass(frozen=True)
class EtcdTLS:
    """Files for a TLS connection to etcd; without cert/key the client presents no certificate."""

    ca_file: Path
    cert_file: Path | None = None
    key_file: Path | None = None

    def ssl_context(self) -> ssl.SSLContext:
        """Verify etcd against ``ca_file`` only (not the system store) and present our certificate."""
        try:
            ctx = ssl.create_default_context(ssl.Purpose.SERVER_AUTH, cafile=str(self.ca_file))
            if self.cert_file is not None:
                ctx.load_cert_chain(str(self.cert_file), str(self.key_file) if self.key_file else None)
        except (OSError, ssl.SSLError) as exc:
            raise EtcdError(f"cannot load the etcd TLS files ({self}): {exc}") from exc
        return ctx


def _normalize_endpoint(endpoint: str, tls: EtcdTLS | None) -> str:
    endpoint = endpoint.strip().rstrip("/")
    if "://" not in endpoint:
        endpoint = ("https://" if tls else "http://") + endpoint
    if not endpoint.startswith(("http://", "https://")):
        raise ValueError(f"etcd endpoint must be an http(s) URL, not {endpoint!r}")
    return endpoint


class EtcdClient:
    """Async etcd v3 client; use ``async with`` or call :meth:`close`."""

    def __init__(
        self,
        endpoints: Sequence[str],
        tls: EtcdTLS | None = None,
        *,
        timeout: float = 10.0,
        connect_timeout: float | None = None,
        pool_size: int = 100,
    ) -> None:
        if isinstance(endpoints, str):
            endpoints = [endpoints]
        if not endpoints:
            raise ValueError("at least one etcd endpoint is needed")
        self._endpoints = [_normalize_endpoint(e, tls) for e in endpoints]
        self._tls = tls
        self._ssl: ssl.SSLContext | bool = tls.ssl_context() if tls else True
        self._timeout = timeout
        # Shorter than the request timeout, so that a dead endpoint leaves time to try the next one.
        self._connect_timeout = min(timeout / 2, 3.0) if connect_timeout is None else connect_timeout
        self._request_timeout = aiohttp.ClientTimeout(total=timeout, sock_connect=self._connect_timeout)
        self._pool_size = pool_size
        self._current = 0
        self._session: aiohttp.ClientSession | None = None
        self._watch_session: aiohttp.ClientSession | None = None
        self._watches: set[Watch] = set()

    # ---- lifecycle ---------------------------------------------------------------------------

    @property
    def endpoints(self) -> list[str]:
        return list(self._endpoints)

    async def __aenter__(self) -> EtcdClient:
        self._unary_session()
        return self

    async def __aexit__(
        self, exc_type: type[BaseException] | None, exc: BaseException | None, tb: TracebackType | None
    ) -> None:
        await self.close()

    async def close(self) -> None:
        """Stop every open watch and close both connection pools."""
        for watch in list(self._watches):
            await watch.close()
        for session in (self._session, self._watch_session):
            if session is not None and not session.closed:
                await session.close()
        self._session = self._watch_session = None

    def _make_session(self, limit: int, total: float | None) -> aiohttp.ClientSession:
        connector = aiohttp.TCPConnector(limit=limit, ssl=self._ssl, keepalive_timeout=60.0)
        timeout = aiohttp.ClientTimeout(total=total, sock_connect=self._connect_timeout)
        return aiohttp.ClientSession(
            connector=connector,
            timeout=timeout,
            trust_env=False,  # never route etcd traffic through an HTTP(S)_PROXY from the environment
            skip_auto_headers=("User-Agent",),
        )

    def _unary_session(self) -> aiohttp.ClientSession:
        session = self._session
        if session is None or session.closed:
            session = self._session = self._make_session(self._pool_size, self._timeout)
        return session

    def _stream_session(self) -> aiohttp.ClientSession:
        session = self._watch_session
        if session is None or session.closed:
            session = self._watch_session = self._make_session(0, None)
        return session

    # ---- transport ---------------------------------------------------------------------------

    async def _post(self, path: str, body: Json, *, idempotent: bool, endpoint: str | None = None) -> Json:
        """POST one request, failing over between endpoints as the module docstring describes."""
        data = dumps(body).encode()
        session = self._unary_session()
        endpoints = self._endpoints
        if endpoint is not None:
            order = [_normalize_endpoint(endpoint, self._tls)]
        else:
            order = self._endpoint_order() if len(endpoints) > 1 else endpoints
        failures: dict[str, str] = {}
        deadline = time.monotonic() + self._timeout
        # The first try uses the session's timeout (passing None to aiohttp would mean "no timeout").
        timeout = self._request_timeout
        for ep in order:
            if failures:
                remaining = deadline - time.monotonic()
                if remaining <= 0:
                    failures[ep] = "not tried: the request timeout ran out"
                    continue
                timeout = aiohttp.ClientTimeout(total=remaining, sock_connect=self._connect_timeout)
            try:
                async with session.post(ep + path, data=data, headers=JSON_HEADERS, timeout=timeout) as resp:
                    raw = await resp.read()
                    status = resp.status
            except (aiohttp.ClientConnectorError, _ConnectTimeout) as exc:
                failures[ep] = describe_failure(exc)  # nothing was sent: always safe to try the next one
                continue
            except (TimeoutError, aiohttp.ClientError) as exc:
                failures[ep] = describe_failure(exc)
                if idempotent or is_tls_rejection(exc):
                    continue
                raise EtcdUnavailable(failures, uncertain=True) from exc
            if status == 200:
                if endpoint is None and ep is not endpoints[self._current]:
                    self._current = endpoints.index(ep)
                return loads(raw)
            error = error_from_answer(status, raw, ep)
            if error.code == GRPC_UNAVAILABLE:
                # "no leader", "unhealthy cluster", "not capable": refused before being proposed, so
                # another member may take it; a timed-out proposal may still be applied later.
                failures[ep] = error.message
                if idempotent or not _may_have_applied(error.message):
                    continue
                raise EtcdUnavailable(failures, uncertain=True)
            raise error
        raise EtcdUnavailable(failures)

    # ---- key-value ---------------------------------------------------------------------------

    async def get(
        self, key: bytes | str, *, revision: int = 0, serializable: bool = False
    ) -> KeyValue | None:
        """The key's current value (or at ``revision``), or None when it does not exist."""
        body = range_request(key, revision=revision, serializable=serializable)
        kvs = (await self._post("/v3/kv/range", body, idempotent=True)).get("kvs")
        return parse_kv(kvs[0]) if kvs else None

    async def range(
        self,
        key: bytes | str,
        range_end: bytes | str | None = None,
        *,
        prefix: bool = False,
        limit: int = 0,
        revision: int = 0,
        keys_only: bool = False,
        count_only: bool = False,
        serializable: bool = False,
        sort_target: Literal["KEY", "VERSION", "CREATE", "MOD", "VALUE"] | None = None,
        sort_order: Literal["NONE", "ASCEND", "DESCEND"] | None = None,
    ) -> RangeResult:
        """Keys in [key, range_end) (or under ``prefix``); raises EtcdCompacted for a compacted revision."""
        body = range_request(
            key,
            range_end,
            prefix=prefix,
            limit=limit,
            revision=revision,
            keys_only=keys_only,
            count_only=count_only,
            serializable=serializable,
            sort_target=sort_target,
            sort_order=sort_order,
        )
        return parse_range(await self._post("/v3/kv/range", body, idempotent=True))

    @overload
    async def put(
        self, key: bytes | str, value: bytes | str, *, lease: int = 0, prev_kv: Literal[False] = False
    ) -> int: ...

    @overload
    async def put(
        self, key: bytes | str, value: bytes | str, *, lease: int = 0, prev_kv: Literal[True]
    ) -> PutResult: ...

    async def put(
        self, key: bytes | str, value: bytes | str, *, lease: int = 0, prev_kv: bool = False
    ) -> int | PutResult:
        """Write the key; returns the new revision, or a PutResult with the old value if ``prev_kv``."""
        answer = await self._post(
            "/v3/kv/put", put_request(key, value, lease=lease, prev_kv=prev_kv), idempotent=False
        )
        if prev_kv:
            return parse_put(answer)
        return as_int(answer["header"].get("revision"))

    async def delete(
        self,
        key: bytes | str,
        range_end: bytes | str | None = None,
        *,
        prefix: bool = False,
        prev_kv: bool = False,
    ) -> DeleteResult:
        body = delete_request(key, range_end, prefix=prefix, prev_kv=prev_kv)
        return parse_delete(await self._post("/v3/kv/deleterange", body, idempotent=False))

    async def txn(self, compare: list[Compare], success: list[Op], failure: list[Op]) -> TxnResult:
        """Run ``success`` if every compare holds, else ``failure``, atomically at one revision."""
        read_only = all("request_range" in op.body for op in (*success, *failure))
        body = txn_request(compare, success, failure)
        return parse_txn(await self._post("/v3/kv/txn", body, idempotent=read_only))

    async def _guarded_write(self, guard: Compare, write: Op, key: bytes | str) -> tuple[bool, int, Json]:
        """Run ``write`` under ``guard``; on failure read the key in the same transaction."""
        answer = await self._post(
            "/v3/kv/txn", txn_request([guard], [write], [Op.get(key)]), idempotent=False
        )
        revision = as_int(answer["header"].get("revision"))
        responses = answer.get("responses") or ({},)
        return bool(answer.get("succeeded")), revision, responses[0]

    async def create(
        self, key: bytes | str, value: bytes | str, *, lease: int = 0
    ) -> tuple[bool, int, KeyValue | None]:
        """Put only if the key is absent: (True, new revision, None) or (False, revision, existing kv)."""
        ok, revision, response = await self._guarded_write(
            Compare.create_revision(key, "=", 0), Op.put(key, value, lease), key
        )
        if ok:
            return True, revision, None
        kvs = response.get("response_range", {}).get("kvs")
        return False, revision, parse_kv(kvs[0]) if kvs else None

    async def update_if(
        self, key: bytes | str, value: bytes | str, mod_revision: int, *, lease: int = 0
    ) -> tuple[bool, int, KeyValue | None]:
        """Put only if the key's mod_revision still equals ``mod_revision`` (optimistic concurrency).

        Returns (True, new revision, None), or (False, revision, current kv or None if deleted).
        """
        ok, revision, response = await self._guarded_write(
            Compare.mod_revision(key, "=", mod_revision), Op.put(key, value, lease), key
        )
        if ok:
            return True, revision, None
        kvs = response.get("response_range", {}).get("kvs")
        return False, revision, parse_kv(kvs[0]) if kvs else None

    async def delete_if(self, key: bytes | str, mod_revision: int) -> tuple[bool, int, KeyValue | None]:
        """Delete only if the key's mod_revision equals ``mod_revision``.

        Returns (True, revision, the deleted kv) or (False, revision, current kv or None).
        """
        ok, revision, response = await self._guarded_write(
            Compare.mod_revision(key, "=", mod_revision), Op.delete(key, prev_kv=True), key
        )
        if ok:
            prev = response.get("response_delete_range", {}).get("prev_kvs")
            return True, revision, parse_kv(prev[0]) if prev else None
        kvs = response.get("response_range", {}).get("kvs")
        return False, revision, parse_kv(kvs[0]) if kvs else None

    async def compact(self, revision: int, physical: bool = False) -> None:
        """Drop history before ``revision``; EtcdCompacted if it already was compacted that far."""
        body: Json = {"revision": str(revision)}
        if physical:
            body["physical"] = True
        await self._post("/v3/kv/compaction", body, idempotent=False)

    # ---- watch -------------------------------------------------------------------------------

    def watch(
        self,
        key: bytes | str,
        range_end: bytes | str | None = None,
        *,
        prefix: bool = False,
        start_revision: int = 0,
        prev_kv: bool = False,
        progress_notify: bool = False,
    ) -> Watch:
        """A watch stream; it connects on ``async with``, :meth:`Watch.start` or the first iteration."""
        body = range_request(key, range_end, prefix=prefix)
        if start_revision:
            body["start_revision"] = str(start_revision)
        if prev_kv:
            body["prev_kv"] = True
        if progress_notify:
            body["progress_notify"] = True
        return Watch(self, {"create_request": body})

    def _endpoint_order(self) -> list[str]:
        """Every endpoint once, starting with the one that answered last."""
        n = len(self._endpoints)
        return [self._endpoints[(self._current + i) % n] for i in range(n)]

    def _note_watch(self, watch: Watch, open_: bool) -> None:
        if open_:
            self._watches.add(watch)
        else:
            self._watches.discard(watch)

    # ---- leases ------------------------------------------------------------------------------

    async def lease_grant(self, ttl: int, lease_id: int = 0) -> int:
        """A new lease of ``ttl`` seconds; returns its id (``lease_id`` 0 lets etcd choose)."""
        body: Json = {"TTL": str(ttl)}
        if lease_id:
            body["ID"] = str(lease_id)
        answer = await self._post("/v3/lease/grant", body, idempotent=False)
        if answer.get("error"):
            raise EtcdError(str(answer["error"]))
        return as_int(answer.get("ID"))

    async def lease_revoke(self, lease_id: int) -> None:
        """Revoke the lease and delete every key attached to it."""
        await self._post("/v3/lease/revoke", {"ID": str(lease_id)}, idempotent=False)

    async def lease_keepalive_once(self, lease_id: int) -> int:
        """Renew the lease once; returns its TTL in seconds, 0 when it has expired or never existed."""
        answer = await self._post("/v3/lease/keepalive", {"ID": str(lease_id)}, idempotent=True)
        result = answer.get("result")
        if result is None:
            raise stream_error(answer, "")
        return as_int(result.get("TTL"))

    async def lease_time_to_live(self, lease_id: int) -> tuple[int, int, list[bytes]]:
        """(remaining TTL, granted TTL, attached keys); remaining is -1 when the lease is gone."""
        answer = await self._post(
            "/v3/lease/timetolive", {"ID": str(lease_id), "keys": True}, idempotent=True
        )
        return (
            int(answer.get("TTL") or 0),
            int(answer.get("grantedTTL") or 0),
            [unb64(k) for k in answer.get("keys") or ()],
        )

    # ---- maintenance and cluster -------------------------------------------------------------

    async def status(self, endpoint: str | None = None) -> dict[str, Any]:
        """Status of the member behind ``endpoint`` (default: whichever endpoint answers).

        Keys: version, dbSize, dbSizeInUse, leader, raftIndex, raftTerm, raftAppliedIndex,
        isLearner, errors, member_id, cluster_id, revision (all numbers as int).
        """
        answer = await self._post("/v3/maintenance/status", {}, idempotent=True, endpoint=endpoint)
        header = answer.get("header") or {}
        return {
            "version": answer.get("version", ""),
            "dbSize": as_int(answer.get("dbSize")),
            "dbSizeInUse": as_int(answer.get("dbSizeInUse")),
            "leader": as_int(answer.get("leader")),
            "raftIndex": as_int(answer.get("raftIndex")),
            "raftTerm": as_int(answer.get("raftTerm")),
            "raftAppliedIndex": as_int(answer.get("raftAppliedIndex")),
            "isLearner": bool(answer.get("isLearner")),
            "errors": list(answer.get("errors") or ()),
            "member_id": as_int(header.get("member_id")),
            "cluster_id": as_int(header.get("cluster_id")),
            "revision": as_int(header.get("revision")),
        }

    async def member_list(self) -> list[Member]:
        answer = await self._post("/v3/cluster/member/list", {}, idempotent=True)
        return [parse_member(m) for m in answer.get("members") or ()]

    async def member_add(self, peer_urls: Sequence[str], learner: bool = False) -> Member:
        """Announce a new member (start it afterwards with initial-cluster-state=existing)."""
        body: Json = {"peerURLs": list(peer_urls)}
        if learner:
            body["isLearner"] = True
        answer = await self._post("/v3/cluster/member/add", body, idempotent=False)
        return parse_member(answer.get("member") or {})

    async def member_remove(self, member_id: int) -> list[Member]:
        """Remove a member; returns the remaining members."""
        answer = await self._post("/v3/cluster/member/remove", {"ID": str(member_id)}, idempotent=False)
        return [parse_member(m) for m in answer.get("members") or ()]

    async def member_promote(self, member_id: int) -> list[Member]:
        """Turn a learner that has caught up into a voting member (FAILED_PRECONDITION until then)."""
        answer = await self._post("/v3/cluster/member/promote", {"ID": str(member_id)}, idempotent=False)
        return [parse_member(m) for m in answer.get("members") or ()]

    async def healthy(self, endpoint: str | None = None, *, timeout: float = 2.0) -> bool:
        """True when etcd (``endpoint`` or any endpoint) reports health; never raises.

        Uses etcd's ``/health``, which succeeds only when the member has a leader and no alarm.
        """
        targets = [_normalize_endpoint(endpoint, self._tls)] if endpoint else self._endpoint_order()
        session = self._unary_session()
        t = aiohttp.ClientTimeout(total=timeout, sock_connect=min(timeout, self._connect_timeout))
        for ep in targets:
            try:
                async with session.get(ep + "/health", timeout=t) as resp:
                    if resp.status == 200 and (loads(await resp.read())).get("health") == "true":
                        return True
            except Exception:  # a health probe reports, it never raises
                continue
        return False
