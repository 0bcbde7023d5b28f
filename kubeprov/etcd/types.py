"""Values exchanged with etcd: key-values, results, transaction compares and operations.

Parsing lives next to the types so that every place turning gateway JSON into Python objects
agrees on the proto3 JSON rules (missing field = default, int64 as string, bytes as base64).
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any, Literal

from kubeprov.etcd.codec import as_int, b64, prefix_range_end, to_bytes, unb64

Json = dict[str, Any]


@dataclass(frozen=True, slots=True)
class KeyValue:
    """One key at one revision; ``lease`` is 0 when the key has no lease."""

    key: bytes
    value: bytes
    create_revision: int
    mod_revision: int
    version: int
    lease: int = 0


def parse_kv(d: Json) -> KeyValue:
    """A ``mvccpb.KeyValue`` from its JSON form (deleted keys in watch events carry only key and mod)."""
    g = d.get
    value = g("value")
    return KeyValue(
        unb64(d["key"]),
        unb64(value) if value else b"",
        int(g("create_revision") or 0),
        int(g("mod_revision") or 0),
        int(g("version") or 0),
        int(g("lease") or 0),
    )


def _kv_or_none(d: Json | None) -> KeyValue | None:
    return parse_kv(d) if d else None


def _header_revision(d: Json) -> int:
    header = d.get("header")
    return as_int(header.get("revision")) if header else 0


@dataclass(frozen=True, slots=True)
class RangeResult:
    """``count`` is the number of keys in the range, even when ``limit`` returned fewer (``more``)."""

    kvs: list[KeyValue]
    more: bool
    count: int
    header_revision: int


def parse_range(d: Json) -> RangeResult:
    kvs = d.get("kvs")
    return RangeResult(
        [parse_kv(kv) for kv in kvs] if kvs else [],
        bool(d.get("more")),
        as_int(d.get("count")),
        _header_revision(d),
    )


@dataclass(frozen=True, slots=True)
class PutResult:
    revision: int
    prev_kv: KeyValue | None = None


def parse_put(d: Json) -> PutResult:
    return PutResult(_header_revision(d), _kv_or_none(d.get("prev_kv")))


@dataclass(frozen=True, slots=True)
class DeleteResult:
    deleted: int
    prev_kvs: list[KeyValue]
    revision: int


def parse_delete(d: Json) -> DeleteResult:
    prev = d.get("prev_kvs")
    return DeleteResult(
        as_int(d.get("deleted")), [parse_kv(kv) for kv in prev] if prev else [], _header_revision(d)
    )


@dataclass(frozen=True, slots=True)
class TxnResult:
    """``responses`` hold one parsed result per operation of the branch that ran."""

    succeeded: bool
    revision: int
    responses: list[RangeResult | PutResult | DeleteResult | TxnResult]


def parse_txn(d: Json) -> TxnResult:
    out: list[RangeResult | PutResult | DeleteResult | TxnResult] = []
    for r in d.get("responses") or ():
        if "response_range" in r:
            out.append(parse_range(r["response_range"]))
        elif "response_put" in r:
            out.append(parse_put(r["response_put"]))
        elif "response_delete_range" in r:
            out.append(parse_delete(r["response_delete_range"]))
        elif "response_txn" in r:
            out.append(parse_txn(r["response_txn"]))
        else:  # pragma: no cover - a response kind added by a later etcd
            raise ValueError(f"unknown transaction response {sorted(r)}")
    return TxnResult(bool(d.get("succeeded")), _header_revision(d), out)


@dataclass(frozen=True, slots=True)
class Member:
    id: int
    name: str
    peer_urls: tuple[str, ...]
    client_urls: tuple[str, ...]
    is_learner: bool


def parse_member(d: Json) -> Member:
    """A member; one added but not started yet has no name and no client URLs."""
    return Member(
        as_int(d.get("ID")),
        d.get("name", ""),
        tuple(d.get("peerURLs") or ()),
        tuple(d.get("clientURLs") or ()),
        bool(d.get("isLearner")),
    )


# ---- transactions -----------------------------------------------------------------------------

_RESULTS = {"=": "EQUAL", "==": "EQUAL", "!=": "NOT_EQUAL", "<": "LESS", ">": "GREATER"}
CompareOp = Literal["=", "==", "!=", "<", ">"]


@dataclass(frozen=True, slots=True)
class Compare:
    """One condition of a transaction, already in wire form; build it with the class methods."""

    body: Json

    @staticmethod
    def _make(key: bytes | str, op: str, target: str, field_name: str, wire_value: str) -> Compare:
        try:
            result = _RESULTS[op]
        except KeyError:
            raise ValueError(f"compare operator must be one of {sorted(_RESULTS)}, not {op!r}") from None
        return Compare({"key": b64(key), "target": target, "result": result, field_name: wire_value})

    @classmethod
    def version(cls, key: bytes | str, op: CompareOp, version: int) -> Compare:
        """Version 0 means the key does not exist."""
        return cls._make(key, op, "VERSION", "version", str(version))

    @classmethod
    def create_revision(cls, key: bytes | str, op: CompareOp, revision: int) -> Compare:
        return cls._make(key, op, "CREATE", "create_revision", str(revision))

    @classmethod
    def mod_revision(cls, key: bytes | str, op: CompareOp, revision: int) -> Compare:
        return cls._make(key, op, "MOD", "mod_revision", str(revision))

    @classmethod
    def value(cls, key: bytes | str, op: CompareOp, value: bytes | str) -> Compare:
        return cls._make(key, op, "VALUE", "value", b64(value))

    @classmethod
    def lease(cls, key: bytes | str, op: CompareOp, lease_id: int) -> Compare:
        return cls._make(key, op, "LEASE", "lease", str(lease_id))


def range_request(
    key: bytes | str,
    range_end: bytes | str | None = None,
    *,
    prefix: bool = False,
    limit: int = 0,
    revision: int = 0,
    keys_only: bool = False,
    count_only: bool = False,
    serializable: bool = False,
    sort_target: str | None = None,
    sort_order: str | None = None,
) -> Json:
    """The JSON body of a RangeRequest; defaults are left out as the gateway would."""
    k = to_bytes(key)
    if prefix:
        if range_end is not None:
            raise ValueError("give either prefix=True or range_end, not both")
        range_end = prefix_range_end(k)
        if not k:
            k = b"\0"  # etcd refuses an empty key; "\0" .. "\0" is the whole keyspace
    body: Json = {"key": b64(k)}
    if range_end is not None:
        body["range_end"] = b64(range_end)
    if limit:
        body["limit"] = str(limit)
    if revision:
        body["revision"] = str(revision)
    if keys_only:
        body["keys_only"] = True
    if count_only:
        body["count_only"] = True
    if serializable:
        body["serializable"] = True
    if sort_target:
        body["sort_target"] = sort_target.upper()
    if sort_order:
        body["sort_order"] = sort_order.upper()
    return body


def put_request(key: bytes | str, value: bytes | str, *, lease: int = 0, prev_kv: bool = False) -> Json:
    body: Json = {"key": b64(key), "value": b64(value)}
    if lease:
        body["lease"] = str(lease)
    if prev_kv:
        body["prev_kv"] = True
    return body


def delete_request(
    key: bytes | str, range_end: bytes | str | None = None, *, prefix: bool = False, prev_kv: bool = False
) -> Json:
    k = to_bytes(key)
    if prefix:
        if range_end is not None:
            raise ValueError("give either prefix=True or range_end, not both")
        range_end = prefix_range_end(k)
        if not k:
            k = b"\0"
    body: Json = {"key": b64(k)}
    if range_end is not None:
        body["range_end"] = b64(range_end)
    if prev_kv:
        body["prev_kv"] = True
    return body


def txn_request(compare: list[Compare], success: list[Op], failure: list[Op]) -> Json:
    body: Json = {}
    if compare:
        body["compare"] = [c.body for c in compare]
    if success:
        body["success"] = [o.body for o in success]
    if failure:
        body["failure"] = [o.body for o in failure]
    return body


@dataclass(frozen=True, slots=True)
class Op:
    """One operation of a transaction branch, already in wire form; build it with the class methods."""

    body: Json

    @classmethod
    def put(cls, key: bytes | str, value: bytes | str, lease: int = 0, *, prev_kv: bool = False) -> Op:
        return cls({"request_put": put_request(key, value, lease=lease, prev_kv=prev_kv)})

    @classmethod
    def get(
        cls,
        key: bytes | str,
        range_end: bytes | str | None = None,
        prefix: bool = False,
        *,
        limit: int = 0,
        revision: int = 0,
        keys_only: bool = False,
        count_only: bool = False,
    ) -> Op:
        body = range_request(
            key,
            range_end,
            prefix=prefix,
            limit=limit,
            revision=revision,
            keys_only=keys_only,
            count_only=count_only,
        )
        return cls({"request_range": body})

    @classmethod
    def delete(
        cls,
        key: bytes | str,
        range_end: bytes | str | None = None,
        prefix: bool = False,
        *,
        prev_kv: bool = False,
    ) -> Op:
        return cls({"request_delete_range": delete_request(key, range_end, prefix=prefix, prev_kv=prev_kv)})

    @classmethod
    def txn(cls, compare: list[Compare], success: list[Op], failure: list[Op]) -> Op:
        """A nested transaction (etcd 3.3+); it may not write a key another op of the txn writes."""
        return cls({"request_txn": txn_request(compare, success, failure)})


# ---- watch ------------------------------------------------------------------------------------


@dataclass(frozen=True, slots=True)
class WatchEvent:
    type: Literal["PUT", "DELETE"]
    kv: KeyValue
    prev_kv: KeyValue | None = None


@dataclass(frozen=True, slots=True)
class WatchResponse:
    """One message of a watch stream.

    ``revision`` is the store revision when the message was sent (for a progress notification:
    every change up to it has been delivered). ``progress`` marks an empty progress notification.
    """

    events: list[WatchEvent]
    revision: int
    compact_revision: int = 0
    canceled: bool = False
    progress: bool = False
    cancel_reason: str = ""


def parse_event(d: Json) -> WatchEvent:
    prev = d.get("prev_kv")
    return WatchEvent(
        "DELETE" if d.get("type") == "DELETE" else "PUT",
        parse_kv(d["kv"]),
        parse_kv(prev) if prev else None,
    )


def parse_watch_result(d: Json) -> WatchResponse:
    events = d.get("events")
    canceled = bool(d.get("canceled"))
    return WatchResponse(
        [parse_event(e) for e in events] if events else [],
        _header_revision(d),
        as_int(d.get("compact_revision")),
        canceled,
        not events and not canceled and not d.get("created"),
        d.get("cancel_reason", ""),
    )
