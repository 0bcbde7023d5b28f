"""etcd v3 access for kubeprov: an asyncio client over etcd's JSON gateway and a local etcd runner."""

from kubeprov.etcd.client import EtcdClient, EtcdTLS
from kubeprov.etcd.codec import ALL_KEYS_END, prefix_range_end
from kubeprov.etcd.errors import EtcdCompacted, EtcdError, EtcdUnavailable, WatchCompacted
from kubeprov.etcd.local import EtcdServerTLS, LocalEtcd, LocalEtcdError
from kubeprov.etcd.types import (
    Compare,
    DeleteResult,
    KeyValue,
    Member,
    Op,
    PutResult,
    RangeResult,
    TxnResult,
    WatchEvent,
    WatchResponse,
)
from kubeprov.etcd.watch import Watch

__all__ = [
    "ALL_KEYS_END",
    "Compare",
    "DeleteResult",
    "EtcdClient",
    "EtcdCompacted",
    "EtcdError",
    "EtcdServerTLS",
    "EtcdTLS",
    "EtcdUnavailable",
    "KeyValue",
    "LocalEtcd",
    "LocalEtcdError",
    "Member",
    "Op",
    "PutResult",
    "RangeResult",
    "TxnResult",
    "Watch",
    "WatchCompacted",
    "WatchEvent",
    "WatchResponse",
    "prefix_range_end",
]
