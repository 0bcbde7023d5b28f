"""The DNS wire format (RFC 1035, EDNS0 of RFC 6891): messages to and from bytes.

Our own codec rather than a DNS library, so the server decides exactly what it accepts: every
malformed packet raises :class:`DecodeError` (never an IndexError or a loop), names are compressed on
the way out (RFC 1035 4.1.4) except where RFC 2782 forbids it (SRV targets), and unknown record types
travel as opaque rdata.
"""

from __future__ import annotations

import ipaddress
import struct
from dataclasses import dataclass, field

__all__ = [
    "CLASS_IN", "DecodeError", "Message", "Question", "RR", "Rcode", "Type", "decode", "encode",
    "normalize_name",
]

CLASS_IN = 1
HEADER = struct.Struct("!HHHHHH")
MAX_NAME = 255
MAX_LABEL = 63
MAX_POINTER_HOPS = 64


class Type:
    """The record types we know by number (others pass through as rdata bytes)."""

    A = 1
    NS = 2
    CNAME = 5
    SOA = 6
    PTR = 12
    MX = 15
    TXT = 16
    AAAA = 28
    SRV = 33
    OPT = 41
    ANY = 255

    NAMES = {1: "A", 2: "NS", 5: "CNAME", 6: "SOA", 12: "PTR", 15: "MX", 16: "TXT", 28: "AAAA", 33: "SRV",
             41: "OPT", 255: "ANY"}

    @classmethod
    def name(cls, value: int) -> str:
        return cls.NAMES.get(value, f"TYPE{value}")


class Rcode:
    NOERROR = 0
    FORMERR = 1
    SERVFAIL = 2
    NXDOMAIN = 3
    NOTIMP = 4
    REFUSED = 5

    NAMES = {0: "NOERROR", 1: "FORMERR", 2: "SERVFAIL", 3: "NXDOMAIN", 4: "NOTIMP", 5: "REFUSED"}

    @classmethod
    def name(cls, value: int) -> str:
        return cls.NAMES.get(value, f"RCODE{value}")


class DecodeError(ValueError):
    """The bytes are not a well-formed DNS message."""


def normalize_name(name: str) -> str:
    """Lower-case, no trailing dot: the one spelling our tables use (DNS names compare case-insensitively)."""
    return name.rstrip(".").lower()


@dataclass(frozen=True)
class Question:
    name: str
    type: int
    cls: int = CLASS_IN


@dataclass(frozen=True)
class RR:
    """One resource record. ``data`` depends on the type: A/AAAA an address string, NS/CNAME/PTR a name,
    SRV (priority, weight, port, target), SOA (mname, rname, serial, refresh, retry, expire, minimum),
    TXT a tuple of strings, anything else (OPT included) raw bytes."""

    name: str
    type: int
    ttl: int
    data: object
    cls: int = CLASS_IN


@dataclass
class Message:
    id: int = 0
    qr: bool = False
    opcode: int = 0
    aa: bool = False
    tc: bool = False
    rd: bool = False
    ra: bool = False
    ad: bool = False
    cd: bool = False
    rcode: int = 0
    questions: list[Question] = field(default_factory=list)
    answers: list[RR] = field(default_factory=list)
    authority: list[RR] = field(default_factory=list)
    additional: list[RR] = field(default_factory=list)

    @property
    def opt(self) -> RR | None:
        """The EDNS0 OPT pseudo-record, if any."""
        return next((rr for rr in self.additional if rr.type == Type.OPT), None)

    @property
    def udp_size(self) -> int:
        """The UDP payload the sender can take: its EDNS0 size (at least 512), else 512."""
        opt = self.opt
        return max(512, opt.cls) if opt is not None else 512

    def flags(self) -> int:
        return ((self.qr << 15) | ((self.opcode & 0xF) << 11) | (self.aa << 10) | (self.tc << 9) | (self.rd << 8)
                | (self.ra << 7) | (self.ad << 5) | (self.cd << 4) | (self.rcode & 0xF))


def opt_record(udp_size: int, ext_rcode: int = 0, version: int = 0, do: bool = False,
               options: bytes = b"") -> RR:
    """An EDNS0 OPT record: the class carries the UDP size, the TTL the extended rcode, version and DO bit."""
    ttl = ((ext_rcode & 0xFF) << 24) | ((version & 0xFF) << 16) | (0x8000 if do else 0)
    return RR("", Type.OPT, ttl, options, cls=udp_size)


# ---- encoding -----------------------------------------------------------------------------------


class _Writer:
    def __init__(self) -> None:
        self.buf = bytearray()
        self.offsets: dict[str, int] = {}

    def name(self, name: str, compress: bool = True) -> None:
        labels = [label for label in name.rstrip(".").split(".") if label] if name not in ("", ".") else []
        if sum(len(label.encode()) + 1 for label in labels) + 1 > MAX_NAME:
            raise ValueError(f"name too long: {name!r}")
        for i in range(len(labels)):
            suffix = ".".join(labels[i:]).lower()
            if compress and suffix in self.offsets:
                self.buf += struct.pack("!H", 0xC000 | self.offsets[suffix])
                return
            if compress and len(self.buf) < 0x4000:
                self.offsets[suffix] = len(self.buf)
            raw = labels[i].encode("latin-1")
            if not 0 < len(raw) <= MAX_LABEL:
                raise ValueError(f"bad label in {name!r}")
            self.buf.append(len(raw))
            self.buf += raw
        self.buf.append(0)

    def rr(self, rr: RR) -> None:
        self.name(rr.name)
        self.buf += struct.pack("!HHI", rr.type, rr.cls, rr.ttl & 0xFFFFFFFF)
        length_at = len(self.buf)
        self.buf += b"\0\0"
        self._rdata(rr)
        struct.pack_into("!H", self.buf, length_at, len(self.buf) - length_at - 2)

    def _rdata(self, rr: RR) -> None:
        data = rr.data
        if isinstance(data, bytes | bytearray):
            self.buf += data
        elif rr.type == Type.A:
            self.buf += ipaddress.IPv4Address(data).packed  # type: ignore[arg-type]
        elif rr.type == Type.AAAA:
            self.buf += ipaddress.IPv6Address(data).packed  # type: ignore[arg-type]
        elif rr.type in (Type.NS, Type.CNAME, Type.PTR):
            self.name(str(data))
        elif rr.type == Type.SRV:
            priority, weight, port, target = data  # type: ignore[misc]
            self.buf += struct.pack("!HHH", priority, weight, port)
            self.name(target, compress=False)  # RFC 2782: no compression for the target
        elif rr.type == Type.SOA:
            mname, rname, *numbers = data  # type: ignore[misc]
            self.name(mname)
            self.name(rname)
            self.buf += struct.pack("!IIIII", *numbers)
        elif rr.type == Type.TXT:
            for text in data:  # type: ignore[attr-defined]
                raw = text.encode()
                for start in range(0, max(len(raw), 1), 255):
                    chunk = raw[start:start + 255]
                    self.buf.append(len(chunk))
                    self.buf += chunk
        else:
            raise ValueError(f"no encoder for {Type.name(rr.type)} data {data!r}")


def encode_parts(msg: Message) -> tuple[bytes, list[int]]:
    """The message's bytes and the length after each record (for truncation at a record boundary)."""
    w = _Writer()
    w.buf += HEADER.pack(msg.id, msg.flags(), len(msg.questions), len(msg.answers), len(msg.authority),
                         len(msg.additional))
    for q in msg.questions:
        w.name(q.name)
        w.buf += struct.pack("!HH", q.type, q.cls)
    ends = []
    for rr in (*msg.answers, *msg.authority, *msg.additional):
        w.rr(rr)
        ends.append(len(w.buf))
    return bytes(w.buf), ends


def encode(msg: Message) -> bytes:
    return encode_parts(msg)[0]


# ---- decoding -----------------------------------------------------------------------------------


class _Reader:
    def __init__(self, data: bytes) -> None:
        self.data = data
        self.pos = 0

    def take(self, n: int) -> bytes:
        if n < 0 or self.pos + n > len(self.data):
            raise DecodeError(f"message ends early (need {n} bytes at {self.pos})")
        chunk = self.data[self.pos:self.pos + n]
        self.pos += n
        return chunk

    def unpack(self, fmt: struct.Struct) -> tuple[int, ...]:
        return fmt.unpack(self.take(fmt.size))

    def name(self) -> str:
        labels: list[str] = []
        length = 1
        pos = self.pos
        jumped = False
        hops = 0
        while True:
            if pos >= len(self.data):
                raise DecodeError("name runs past the end of the message")
            n = self.data[pos]
            if n & 0xC0 == 0xC0:
                if pos + 1 >= len(self.data):
                    raise DecodeError("truncated compression pointer")
                target = ((n & 0x3F) << 8) | self.data[pos + 1]
                if target >= pos:
                    raise DecodeError("compression pointer does not point backwards")
                hops += 1
                if hops > MAX_POINTER_HOPS:
                    raise DecodeError("too many compression pointers")
                if not jumped:
                    self.pos = pos + 2
                    jumped = True
                pos = target
                continue
            if n & 0xC0:
                raise DecodeError(f"unsupported label type {n >> 6:#x}")
            if n == 0:
                if not jumped:
                    self.pos = pos + 1
                return ".".join(labels)
            raw = self.data[pos + 1:pos + 1 + n]
            if len(raw) != n:
                raise DecodeError("label runs past the end of the message")
            length += n + 1
            if length > MAX_NAME:
                raise DecodeError("name longer than 255 bytes")
            labels.append(raw.decode("latin-1"))
            pos += n + 1

    def rr(self) -> RR:
        name = self.name()
        rtype, cls, ttl, rdlength = self.unpack(struct.Struct("!HHIH"))
        end = self.pos + rdlength
        if end > len(self.data):
            raise DecodeError("record data runs past the end of the message")
        data = self._rdata(rtype, end)
        if self.pos != end:
            raise DecodeError(f"{Type.name(rtype)} record data has the wrong length")
        return RR(name, rtype, ttl, data, cls)

    def _rdata(self, rtype: int, end: int) -> object:
        if rtype == Type.A:
            return str(ipaddress.IPv4Address(self.take(4)))
        if rtype == Type.AAAA:
            return str(ipaddress.IPv6Address(self.take(16)))
        if rtype in (Type.NS, Type.CNAME, Type.PTR):
            return self.name()
        if rtype == Type.SRV:
            priority, weight, port = self.unpack(struct.Struct("!HHH"))
            return (priority, weight, port, self.name())
        if rtype == Type.SOA:
            mname = self.name()
            rname = self.name()
            return (mname, rname, *self.unpack(struct.Struct("!IIIII")))
        if rtype == Type.TXT:
            texts = []
            while self.pos < end:
                n = self.take(1)[0]
                texts.append(self.take(n).decode("utf-8", "replace"))
            return tuple(texts)
        return self.take(end - self.pos)


def decode_header(data: bytes) -> Message:
    """Only the header (id, flags; empty sections): enough to answer FORMERR to a broken query."""
    if len(data) < HEADER.size:
        raise DecodeError("shorter than a DNS header")
    ident, flags, *_ = HEADER.unpack_from(data)
    return Message(id=ident, qr=bool(flags & 0x8000), opcode=(flags >> 11) & 0xF, aa=bool(flags & 0x400),
                   tc=bool(flags & 0x200), rd=bool(flags & 0x100), ra=bool(flags & 0x80), ad=bool(flags & 0x20),
                   cd=bool(flags & 0x10), rcode=flags & 0xF)


def decode(data: bytes) -> Message:
    """Parse a whole message; :class:`DecodeError` for anything malformed (trailing bytes included)."""
    msg = decode_header(data)
    r = _Reader(data)
    _, _, qd, an, ns, ar = r.unpack(HEADER)
    for _ in range(qd):
        name = r.name()
        qtype, qcls = r.unpack(struct.Struct("!HH"))
        msg.questions.append(Question(name, qtype, qcls))
    try:
        msg.answers = [r.rr() for _ in range(an)]
        msg.authority = [r.rr() for _ in range(ns)]
        msg.additional = [r.rr() for _ in range(ar)]
    except (ValueError, struct.error) as exc:  # bad addresses inside rdata
        if isinstance(exc, DecodeError):
            raise
        raise DecodeError(str(exc)) from None
    if r.pos != len(data):
        raise DecodeError("trailing bytes after the last record")
    if sum(rr.type == Type.OPT for rr in msg.additional) > 1:
        raise DecodeError("more than one OPT record")
    return msg
