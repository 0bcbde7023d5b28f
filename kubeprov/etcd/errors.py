"""Errors raised by the etcd client.

Every error carries the sentence etcd (or the transport) gave, so callers can show it as is; the
API server maps them onto Kubernetes status codes (``EtcdCompacted`` -> 410 Gone, ``EtcdUnavailable``
-> 503).
"""

from __future__ import annotations

from collections.abc import Mapping

# gRPC status codes the gateway reports in its JSON error body ("code").
GRPC_INVALID_ARGUMENT = 3
GRPC_NOT_FOUND = 5
GRPC_FAILED_PRECONDITION = 9
GRPC_OUT_OF_RANGE = 11
GRPC_UNAVAILABLE = 14


class EtcdError(Exception):
    """An error answered by etcd (or a client-side misuse), with the gateway's message and gRPC code."""

    def __init__(
        self, message: str, *, code: int | None = None, http_status: int | None = None, endpoint: str = ""
    ) -> None:
        super().__init__(message)
        self.message = message
        self.code = code
        self.http_status = http_status
        self.endpoint = endpoint

    def __str__(self) -> str:
        where = f" (from {self.endpoint})" if self.endpoint else ""
        code = f" [grpc code {self.code}]" if self.code is not None else ""
        return f"{self.message}{code}{where}"


class EtcdUnavailable(EtcdError):
    """No endpoint answered: the message names every endpoint tried and why it failed.

    ``uncertain`` is true when a write was sent but the connection broke before the answer came,
    so the write may or may not have been applied (the caller must re-read before retrying).
    """

    def __init__(self, failures: Mapping[str, str], *, uncertain: bool = False, what: str = "") -> None:
        self.failures = dict(failures)
        self.uncertain = uncertain
        tried = "; ".join(f"{ep}: {why}" for ep, why in self.failures.items()) or "no endpoint configured"
        head = what or "etcd is unavailable"
        tail = " (the write may or may not have been applied)" if uncertain else ""
        super().__init__(f"{head}: {tried}{tail}", code=GRPC_UNAVAILABLE)

    def __str__(self) -> str:
        return self.message


class EtcdCompacted(EtcdError):
    """A read asked for a revision that compaction has already removed."""


class WatchCompacted(EtcdError):
    """A watch asked to start before the compacted revision; restart it from a fresh list."""

    def __init__(self, compact_revision: int, *, endpoint: str = "") -> None:
        super().__init__(
            f"watch start revision is older than the compacted revision {compact_revision}",
            code=GRPC_OUT_OF_RANGE,
            endpoint=endpoint,
        )
        self.compact_revision = compact_revision
