"""One query in, one answer out: the transport-independent part of the server.

Broken packets never raise: a message we cannot parse but whose header we can read gets FORMERR, one
shorter than a header (or a response, never answered, so two servers cannot ping-pong) is dropped.
UDP answers larger than the client's EDNS0 size (512 without EDNS0; never more than our own
``max_udp_size``) are cut at a record boundary with the TC bit set, so the client retries over TCP.
"""

from __future__ import annotations

import asyncio
import logging
import random
import struct
from collections import Counter
from dataclasses import dataclass

from kubeprov.dns.records import Lookup, Zone
from kubeprov.dns.wire import (
    CLASS_IN,
    RR,
    DecodeError,
    Message,
    Rcode,
    Type,
    decode,
    decode_header,
    encode,
    encode_parts,
    normalize_name,
    opt_record,
)

__all__ = ["DnsMetrics", "Forward", "Forwarder", "Responder"]

log = logging.getLogger("kubeprov.dns")
CLASS_ANY = 255
TCP_MAX = 65535


class DnsMetrics:
    """Counters behind /metrics: queries by protocol and type, responses by rcode."""

    def __init__(self) -> None:
        self.requests: Counter[tuple[str, str]] = Counter()
        self.responses: Counter[str] = Counter()
        self.truncated = 0
        self.forwarded = 0
        self.dropped = 0

    def render(self, sizes: dict[str, int]) -> str:
        lines = ["# HELP kubeprov_dns_requests_total DNS queries received, by transport and query type.",
                 "# TYPE kubeprov_dns_requests_total counter"]
        lines += [f'kubeprov_dns_requests_total{{proto="{p}",type="{t}"}} {n}'
                  for (p, t), n in sorted(self.requests.items())]
        lines += ["# HELP kubeprov_dns_responses_total DNS responses sent, by rcode.",
                  "# TYPE kubeprov_dns_responses_total counter"]
        lines += [f'kubeprov_dns_responses_total{{rcode="{r}"}} {n}' for r, n in sorted(self.responses.items())]
        lines += ["# HELP kubeprov_dns_truncated_total UDP responses truncated (TC bit set).",
                  "# TYPE kubeprov_dns_truncated_total counter", f"kubeprov_dns_truncated_total {self.truncated}",
                  "# HELP kubeprov_dns_forwarded_total Queries forwarded to an upstream server.",
                  "# TYPE kubeprov_dns_forwarded_total counter", f"kubeprov_dns_forwarded_total {self.forwarded}",
                  "# HELP kubeprov_dns_dropped_total Packets dropped unanswered (too short, or responses).",
                  "# TYPE kubeprov_dns_dropped_total counter", f"kubeprov_dns_dropped_total {self.dropped}",
                  "# HELP kubeprov_dns_cache_entries Entries in the DNS server's caches, by kind.",
                  "# TYPE kubeprov_dns_cache_entries gauge"]
        lines += [f'kubeprov_dns_cache_entries{{kind="{k}"}} {n}' for k, n in sorted(sizes.items())]
        return "\n".join(lines) + "\n"


class Forwarder:
    """Sends queries for names outside the cluster to the upstream servers, one after the other."""

    def __init__(self, upstreams: list[tuple[str, int]], timeout: float = 2.0) -> None:
        self.upstreams = upstreams
        self.timeout = timeout

    async def forward(self, query: bytes, tcp: bool) -> bytes | None:
        for host, port in random.sample(self.upstreams, len(self.upstreams)):
            try:
                async with asyncio.timeout(self.timeout):
                    reply = await (self._tcp(query, host, port) if tcp else self._udp(query, host, port))
                if reply[:2] == query[:2]:
                    return reply
            except (OSError, TimeoutError, asyncio.IncompleteReadError) as exc:
                log.warning("upstream %s:%d failed: %s", host, port, exc)
        return None

    async def _udp(self, query: bytes, host: str, port: int) -> bytes:
        loop = asyncio.get_running_loop()
        future: asyncio.Future[bytes] = loop.create_future()

        class _Protocol(asyncio.DatagramProtocol):
            def datagram_received(self, data: bytes, addr: object) -> None:
                if not future.done() and data[:2] == query[:2]:
                    future.set_result(data)

            def error_received(self, exc: Exception) -> None:
                if not future.done():
                    future.set_exception(exc)

        transport, _ = await loop.create_datagram_endpoint(_Protocol, remote_addr=(host, port))
        try:
            transport.sendto(query)
            return await future
        finally:
            transport.close()

    async def _tcp(self, query: bytes, host: str, port: int) -> bytes:
        reader, writer = await asyncio.open_connection(host, port)
        try:
            writer.write(struct.pack("!H", len(query)) + query)
            await writer.drain()
            (length,) = struct.unpack("!H", await reader.readexactly(2))
            return await reader.readexactly(length)
        finally:
            writer.close()


@dataclass
class Forward:
    """The query must go upstream; ``reply`` is what to fill in with SERVFAIL if that fails."""

    reply: Message
    query: Message


class Responder:
    """Answers queries from a :class:`Zone`; forwards other names when a :class:`Forwarder` is given."""

    def __init__(self, zone: Zone, *, forwarder: Forwarder | None = None, max_udp_size: int = 1232,
                 metrics: DnsMetrics | None = None) -> None:
        self.zone = zone
        self.forwarder = forwarder
        self.max_udp_size = max_udp_size
        self.metrics = metrics or DnsMetrics()

    async def respond(self, data: bytes, *, tcp: bool = False) -> bytes | None:
        """The reply to the packet ``data`` (None: send nothing)."""
        result = self.answer(data, tcp=tcp)
        if not isinstance(result, Forward):
            return result
        assert self.forwarder is not None
        upstream = await self.forwarder.forward(data, tcp)
        if upstream is not None:
            self._count(upstream)
            return upstream
        result.reply.rcode = Rcode.SERVFAIL
        return self._finish(result.reply, result.query, tcp)

    def answer(self, data: bytes, *, tcp: bool = False) -> bytes | None | Forward:
        """Like :meth:`respond` without waiting: a :class:`Forward` when an upstream must be asked."""
        proto = "tcp" if tcp else "udp"
        try:
            query = decode(data)
        except DecodeError:
            try:
                header = decode_header(data)
            except DecodeError:
                self.metrics.dropped += 1
                return None
            if header.qr:
                self.metrics.dropped += 1
                return None
            self.metrics.requests[(proto, "malformed")] += 1
            return self._finish(Message(id=header.id, qr=True, opcode=header.opcode, rd=header.rd,
                                        rcode=Rcode.FORMERR), None, tcp)
        if query.qr:
            self.metrics.dropped += 1
            return None
        reply = Message(id=query.id, qr=True, opcode=query.opcode, rd=query.rd, cd=query.cd,
                        ra=self.forwarder is not None, questions=query.questions[:1])
        if query.opcode != 0:
            self.metrics.requests[(proto, "other")] += 1
            reply.rcode = Rcode.NOTIMP
            return self._finish(reply, query, tcp)
        if len(query.questions) != 1:
            self.metrics.requests[(proto, "other")] += 1
            reply.rcode = Rcode.FORMERR
            return self._finish(reply, query, tcp)
        question = query.questions[0]
        # known types by name, the rest as "other" (a client must not grow our metrics without bound)
        qtype = Type.NAMES.get(question.type, "other")
        self.metrics.requests[(proto, qtype)] += 1
        name = normalize_name(question.name)
        if question.cls not in (CLASS_IN, CLASS_ANY):
            reply.rcode = Rcode.REFUSED
        elif self.zone.contains(name) or self.zone.owns_reverse(name):
            if question.type in (Type.OPT, 251, 252):  # OPT, IXFR, AXFR: not for this server
                reply.rcode = Rcode.NOTIMP if question.type != Type.OPT else Rcode.FORMERR
            else:
                self._answer(reply, self.zone.lookup(name, question.type))
        elif self.forwarder is not None:
            self.metrics.forwarded += 1
            return Forward(reply, query)
        else:
            reply.rcode = Rcode.REFUSED
        return self._finish(reply, query, tcp)

    @staticmethod
    def _answer(reply: Message, result: Lookup) -> None:
        reply.aa = True
        reply.rcode = result.rcode
        reply.answers = result.answers
        reply.authority = result.authority

    def _finish(self, reply: Message, query: Message | None, tcp: bool) -> bytes:
        limit = TCP_MAX
        if query is not None and query.opt is not None:
            reply.additional.append(opt_record(self.max_udp_size))
        if not tcp:
            limit = min(query.udp_size if query is not None else 512, self.max_udp_size)
        data = self._fit(reply, limit)
        self.metrics.responses[Rcode.name(reply.rcode)] += 1
        return data

    def _fit(self, reply: Message, limit: int) -> bytes:
        """The encoded reply, cut to ``limit`` bytes at a record boundary with TC set when too big."""
        data, ends = encode_parts(reply)
        if len(data) <= limit:
            return data
        self.metrics.truncated += 1
        opt: list[RR] = [rr for rr in reply.additional if rr.type == Type.OPT]
        reply.tc = True
        reply.authority = []
        reply.additional = opt
        opt_size = len(encode(Message(additional=opt))) - 12 if opt else 0
        keep = sum(1 for end in ends[:len(reply.answers)] if end + opt_size <= limit)
        while True:
            reply.answers = reply.answers[:keep]
            data = encode(reply)
            if len(data) <= limit or keep == 0:
                return data
            keep -= 1

    def _count(self, upstream: bytes) -> None:
        try:
            self.metrics.responses[Rcode.name(decode_header(upstream).rcode)] += 1
        except DecodeError:
            pass
