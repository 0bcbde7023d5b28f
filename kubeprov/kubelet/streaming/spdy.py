"""SPDY/3.1 as Kubernetes uses it (moby/spdystream on the other end): frame codec, zlib header compression with
the protocol's dictionary, and a session of streams with flow control and ping.

Frames (all integers big-endian): a control frame is ``1 | version(15) | type(16) | flags(8) | length(24) |
payload``; a data frame is ``0 | stream-id(31) | flags(8) | length(24) | data``. Header blocks (SYN_STREAM,
SYN_REPLY, HEADERS) are ``count(32)`` then ``len(32) name len(32) value`` pairs, compressed by one zlib stream
per direction primed with the SPDY/3 dictionary and flushed (Z_SYNC_FLUSH) after every block.

Flow control: every stream starts with a 64 KiB window each way. We always return the window (WINDOW_UPDATE) as
our reader consumes data; we only hold back our own sends once the peer shows it keeps windows (it sent a
WINDOW_UPDATE or a SETTINGS initial window), because spdystream neither sends nor reads WINDOW_UPDATE and would
otherwise stall every stream after 64 KiB.
"""

from __future__ import annotations

import asyncio
import struct
import zlib
from collections.abc import Awaitable, Callable
from dataclasses import dataclass, field

VERSION = 3
SYN_STREAM, SYN_REPLY, RST_STREAM, SETTINGS, PING, GOAWAY, HEADERS, WINDOW_UPDATE = 1, 2, 3, 4, 6, 7, 8, 9
FLAG_FIN = 0x01
FLAG_UNIDIRECTIONAL = 0x02
SETTINGS_INITIAL_WINDOW_SIZE = 7
DEFAULT_WINDOW = 65536
MAX_DATA_CHUNK = 32 * 1024
RST_PROTOCOL_ERROR, RST_INVALID_STREAM, RST_REFUSED_STREAM, RST_CANCEL = 1, 2, 3, 5
GOAWAY_OK, GOAWAY_PROTOCOL_ERROR = 0, 1

_WORDS = (
    "options head post put delete trace accept accept-charset accept-encoding accept-language accept-ranges age "
    "allow authorization cache-control connection content-base content-encoding content-language content-length "
    "content-location content-md5 content-range content-type date etag expect expires from host if-match "
    "if-modified-since if-none-match if-range if-unmodified-since last-modified location max-forwards pragma "
    "proxy-authenticate proxy-authorization range referer retry-after server te trailer transfer-encoding upgrade "
    "user-agent vary via warning www-authenticate method get status"
).split() + ["200 OK", "version", "HTTP/1.1", "url", "public", "set-cookie", "keep-alive", "origin"]
_TAIL = (
    "100101201202205206300302303304305306307402405406407408409410411412413414415416417502504505"
    "203 Non-Authoritative Information204 No Content301 Moved Permanently400 Bad Request401 Unauthorized"
    "403 Forbidden404 Not Found500 Internal Server Error501 Not Implemented503 Service Unavailable"
    "Jan Feb Mar Apr May Jun Jul Aug Sept Oct Nov Dec 00:00:00 Mon, Tue, Wed, Thu, Fri, Sat, Sun, GMT"
    "chunked,text/html,image/png,image/jpg,image/gif,application/xml,application/xhtml+xml,text/plain,"
    "text/javascript,publicprivatemax-age=gzip,deflate,sdchcharset=utf-8charset=iso-8859-1,utf-,*,enq=0."
)


def header_dictionary() -> bytes:
    """The SPDY/3 zlib dictionary (spec section 2.6.10.1): common words, each after its 4-byte length, then a
    run of status codes, reason phrases, dates and content types."""
    out = b"".join(struct.pack(">I", len(w)) + w.encode("ascii") for w in _WORDS)
    return out + _TAIL.encode("ascii")


DICTIONARY = header_dictionary()


class ProtocolError(ValueError):
    """The peer broke SPDY framing; the session ends with GOAWAY PROTOCOL_ERROR."""


# ------------------------------------------------------------------------------------------------ frames


@dataclass
class DataFrame:
    stream_id: int
    data: bytes
    flags: int = 0


@dataclass
class SynStream:
    stream_id: int
    headers: dict[str, str]
    associated_id: int = 0
    priority: int = 0
    flags: int = 0


@dataclass
class SynReply:
    stream_id: int
    headers: dict[str, str]
    flags: int = 0


@dataclass
class Headers:
    stream_id: int
    headers: dict[str, str]
    flags: int = 0


@dataclass
class RstStream:
    stream_id: int
    status: int


@dataclass
class Settings:
    values: dict[int, int]
    flags: int = 0


@dataclass
class Ping:
    id: int


@dataclass
class GoAway:
    last_good_stream_id: int
    status: int = GOAWAY_OK


@dataclass
class WindowUpdate:
    stream_id: int
    delta: int


Frame = DataFrame | SynStream | SynReply | Headers | RstStream | Settings | Ping | GoAway | WindowUpdate


def encode_header_block(headers: dict[str, str]) -> bytes:
    """The uncompressed name/value block; names are lowercased as SPDY requires."""
    out = [struct.pack(">I", len(headers))]
    for name, value in headers.items():
        n, v = name.lower().encode("utf-8"), value.encode("utf-8")
        out += [struct.pack(">I", len(n)), n, struct.pack(">I", len(v)), v]
    return b"".join(out)


def decode_header_block(block: bytes) -> dict[str, str]:
    try:
        (count,), pos = struct.unpack_from(">I", block), 4
        headers: dict[str, str] = {}
        for _ in range(count):
            (n,) = struct.unpack_from(">I", block, pos)
            name = block[pos + 4:pos + 4 + n]
            pos += 4 + n
            (m,) = struct.unpack_from(">I", block, pos)
            value = block[pos + 4:pos + 4 + m]
            pos += 4 + m
            if len(name) != n or len(value) != m:
                raise ProtocolError("truncated header block")
            headers[name.decode("utf-8", "replace").lower()] = value.decode("utf-8", "replace")
        return headers
    except struct.error:
        raise ProtocolError("truncated header block") from None


class FrameEncoder:
    """Serialises frames; owns the outgoing header-compression stream, so frames must go out in encode order."""

    def __init__(self) -> None:
        self._deflate = zlib.compressobj(zlib.Z_DEFAULT_COMPRESSION, zlib.DEFLATED, 15, 9, zlib.Z_DEFAULT_STRATEGY,
                                         DICTIONARY)

    def compress(self, headers: dict[str, str]) -> bytes:
        block = encode_header_block(headers)
        return self._deflate.compress(block) + self._deflate.flush(zlib.Z_SYNC_FLUSH)

    @staticmethod
    def control(kind: int, flags: int, payload: bytes) -> bytes:
        return struct.pack(">HHI", 0x8000 | VERSION, kind, (flags << 24) | len(payload)) + payload

    def encode(self, frame: Frame) -> bytes:
        if isinstance(frame, DataFrame):
            return struct.pack(">II", frame.stream_id & 0x7FFFFFFF, (frame.flags << 24) | len(frame.data)) + frame.data
        if isinstance(frame, SynStream):
            head = struct.pack(">IIBB", frame.stream_id, frame.associated_id, (frame.priority & 7) << 5, 0)
            return self.control(SYN_STREAM, frame.flags, head + self.compress(frame.headers))
        if isinstance(frame, SynReply | Headers):
            kind = SYN_REPLY if isinstance(frame, SynReply) else HEADERS
            return self.control(kind, frame.flags, struct.pack(">I", frame.stream_id) + self.compress(frame.headers))
        if isinstance(frame, RstStream):
            return self.control(RST_STREAM, 0, struct.pack(">II", frame.stream_id, frame.status))
        if isinstance(frame, Settings):
            entries = b"".join(struct.pack(">II", key & 0xFFFFFF, value) for key, value in frame.values.items())
            return self.control(SETTINGS, frame.flags, struct.pack(">I", len(frame.values)) + entries)
        if isinstance(frame, Ping):
            return self.control(PING, 0, struct.pack(">I", frame.id))
        if isinstance(frame, GoAway):
            return self.control(GOAWAY, 0, struct.pack(">II", frame.last_good_stream_id, frame.status))
        if isinstance(frame, WindowUpdate):
            return self.control(WINDOW_UPDATE, 0, struct.pack(">II", frame.stream_id, frame.delta & 0x7FFFFFFF))
        raise TypeError(f"not a SPDY frame: {frame!r}")


class FrameDecoder:
    """Parses a byte stream into frames; owns the incoming header-decompression stream. Unknown control frame
    types are skipped, as the spec asks."""

    def __init__(self, max_frame: int = 16 * 1024 * 1024) -> None:
        self._buffer = bytearray()
        self._inflate = zlib.decompressobj(zdict=DICTIONARY)
        self.max_frame = max_frame

    def decompress(self, data: bytes) -> dict[str, str]:
        try:
            block = self._inflate.decompress(data)
        except zlib.error as exc:
            raise ProtocolError(f"header block: {exc}") from None
        return decode_header_block(block)

    def feed(self, data: bytes) -> list[Frame]:
        self._buffer += data
        frames: list[Frame] = []
        while len(self._buffer) >= 8:
            first, second = struct.unpack_from(">II", self._buffer)
            length = second & 0xFFFFFF
            if length > self.max_frame:
                raise ProtocolError(f"frame of {length} bytes is too large")
            if len(self._buffer) < 8 + length:
                break
            payload = bytes(self._buffer[8:8 + length])
            del self._buffer[:8 + length]
            flags = second >> 24
            if first & 0x80000000:
                frame = self._control((first >> 16) & 0x7FFF, first & 0xFFFF, flags, payload)
                if frame is not None:
                    frames.append(frame)
            else:
                frames.append(DataFrame(first & 0x7FFFFFFF, payload, flags))
        return frames

    def _control(self, version: int, kind: int, flags: int, p: bytes) -> Frame | None:
        if version != VERSION:
            raise ProtocolError(f"unsupported SPDY version {version}")
        try:
            if kind == SYN_STREAM:
                sid, assoc, prio, _slot = struct.unpack_from(">IIBB", p)
                return SynStream(sid & 0x7FFFFFFF, self.decompress(p[10:]), assoc & 0x7FFFFFFF, prio >> 5, flags)
            if kind in (SYN_REPLY, HEADERS):
                (sid,) = struct.unpack_from(">I", p)
                cls = SynReply if kind == SYN_REPLY else Headers
                return cls(sid & 0x7FFFFFFF, self.decompress(p[4:]), flags)
            if kind == RST_STREAM:
                sid, code = struct.unpack_from(">II", p)
                return RstStream(sid & 0x7FFFFFFF, code)
            if kind == SETTINGS:
                (count,) = struct.unpack_from(">I", p)
                values = {}
                for i in range(count):
                    key, value = struct.unpack_from(">II", p, 4 + 8 * i)
                    values[key & 0xFFFFFF] = value
                return Settings(values, flags)
            if kind == PING:
                return Ping(struct.unpack_from(">I", p)[0])
            if kind == GOAWAY:
                last, code = struct.unpack_from(">II", p)
                return GoAway(last & 0x7FFFFFFF, code)
            if kind == WINDOW_UPDATE:
                sid, delta = struct.unpack_from(">II", p)
                return WindowUpdate(sid & 0x7FFFFFFF, delta & 0x7FFFFFFF)
        except struct.error:
            raise ProtocolError(f"short control frame of type {kind}") from None
        return None


# ------------------------------------------------------------------------------------------------ session

Writer = Callable[[bytes], Awaitable[None]]


@dataclass(eq=False)
class Stream:
    """One SPDY stream: ``read`` until b"" (peer's FIN or reset), ``write``, ``close`` (our FIN)."""

    session: SpdySession
    id: int
    headers: dict[str, str]
    send_window: int = DEFAULT_WINDOW
    _incoming: asyncio.Queue[bytes | None] = field(default_factory=asyncio.Queue)
    _window_open: asyncio.Event = field(default_factory=asyncio.Event)
    _unacked: int = 0
    local_closed: bool = False
    remote_closed: bool = False
    remote_fin: bool = False
    reset: bool = False
    replied: asyncio.Event = field(default_factory=asyncio.Event)

    def __post_init__(self) -> None:
        self._window_open.set()

    async def read(self) -> bytes:
        """Next chunk of data; b"" once the peer finished (or reset) the stream."""
        if self.remote_closed and self._incoming.empty():
            return b""
        data = await self._incoming.get()
        if data is None:
            self.remote_closed = True
            return b""
        self._unacked += len(data)
        if self._unacked >= DEFAULT_WINDOW // 2 and not self.reset:
            delta, self._unacked = self._unacked, 0
            await self.session.send(WindowUpdate(self.id, delta))
        return data

    async def write(self, data: bytes) -> None:
        view = memoryview(data)
        while view and not (self.local_closed or self.reset or self.session.closed):
            if self.session.peer_flow_control:
                while self.send_window <= 0 and not (self.reset or self.session.closed):
                    self._window_open.clear()
                    await self._window_open.wait()
                size = min(len(view), MAX_DATA_CHUNK, max(self.send_window, 0))
            else:
                size = min(len(view), MAX_DATA_CHUNK)
            if size <= 0:
                return
            self.send_window -= size
            await self.session.send(DataFrame(self.id, bytes(view[:size])))
            view = view[size:]

    async def close(self) -> None:
        """Half-close: we will send no more (an empty DATA frame with FIN)."""
        if not (self.local_closed or self.reset or self.session.closed):
            self.local_closed = True
            await self.session.send(DataFrame(self.id, b"", FLAG_FIN))

    async def send_reset(self, status: int = RST_CANCEL) -> None:
        if not self.reset:
            self._on_reset()
            await self.session.send(RstStream(self.id, status))

    def _on_data(self, data: bytes, fin: bool) -> None:
        if data:
            self._incoming.put_nowait(data)
        if fin:
            self._incoming.put_nowait(None)

    def _on_reset(self) -> None:
        self.reset = True
        self._incoming.put_nowait(None)
        self._window_open.set()

    def _grow_window(self, delta: int) -> None:
        self.send_window += delta
        if self.send_window > 0:
            self._window_open.set()


class SpdySession:
    """Both ends of a SPDY connection over any byte transport: ``run(reader)`` consumes incoming bytes and
    dispatches frames; peer-initiated streams are replied to (empty SYN_REPLY, as the kubelet's server does)
    and queued on ``incoming``; ``open_stream`` starts one of ours (odd ids for a client, even for a server)."""

    def __init__(self, writer: Writer, server: bool = True) -> None:
        self._writer = writer
        self._encoder = FrameEncoder()
        self._decoder = FrameDecoder()
        self._lock = asyncio.Lock()
        self.server = server
        self.streams: dict[int, Stream] = {}
        self.incoming: asyncio.Queue[Stream | None] = asyncio.Queue()
        self.closed = False
        self.ended = asyncio.Event()  # set once the session is over (GOAWAY, transport end, error)
        self.peer_flow_control = False
        self.initial_window = DEFAULT_WINDOW
        self._next_id = 2 if server else 1
        self._last_peer_id = 0
        self._pings: dict[int, asyncio.Future[None]] = {}
        self._next_ping = 2 if server else 1

    async def send(self, frame: Frame) -> None:
        if self.closed and not isinstance(frame, GoAway):
            return
        async with self._lock:  # compression state: encode and write in one order
            try:
                await self._writer(self._encoder.encode(frame))
            except (ConnectionError, RuntimeError):
                self._shutdown()

    async def run(self, reader: Callable[[], Awaitable[bytes]]) -> None:
        """Read and dispatch until the transport ends (``reader`` returns b"") or a GOAWAY/protocol error."""
        try:
            while not self.closed:
                data = await reader()
                if not data:
                    break
                for frame in self._decoder.feed(data):
                    await self._dispatch(frame)
        except ProtocolError:
            await self.send(GoAway(self._last_peer_id, GOAWAY_PROTOCOL_ERROR))
        finally:
            self._shutdown()

    def _shutdown(self) -> None:
        if self.closed:
            return
        self.closed = True
        self.ended.set()
        for stream in self.streams.values():
            stream._on_reset()
        for fut in self._pings.values():
            if not fut.done():
                fut.cancel()
        self.incoming.put_nowait(None)

    async def _dispatch(self, frame: Frame) -> None:
        if isinstance(frame, DataFrame):
            stream = self.streams.get(frame.stream_id)
            if stream is None or stream.remote_fin:
                await self.send(RstStream(frame.stream_id, RST_INVALID_STREAM))
                return
            stream._on_data(frame.data, bool(frame.flags & FLAG_FIN))
            stream.remote_fin = bool(frame.flags & FLAG_FIN)
        elif isinstance(frame, SynStream):
            await self._on_syn_stream(frame)
        elif isinstance(frame, SynReply | Headers):
            stream = self.streams.get(frame.stream_id)
            if stream is not None:
                if isinstance(frame, SynReply):
                    stream.headers.update(frame.headers)
                    stream.replied.set()
                if frame.flags & FLAG_FIN:
                    stream._on_data(b"", True)
                    stream.remote_fin = True
        elif isinstance(frame, RstStream):
            stream = self.streams.pop(frame.stream_id, None)
            if stream is not None:
                stream._on_reset()
        elif isinstance(frame, Settings):
            if SETTINGS_INITIAL_WINDOW_SIZE in frame.values:
                new = frame.values[SETTINGS_INITIAL_WINDOW_SIZE]
                self.peer_flow_control = True
                for stream in self.streams.values():
                    stream._grow_window(new - self.initial_window)
                self.initial_window = new
        elif isinstance(frame, Ping):
            if (frame.id % 2 == 0) == self.server:  # the answer to one of ours
                fut = self._pings.pop(frame.id, None)
                if fut is not None and not fut.done():
                    fut.set_result(None)
            else:
                await self.send(frame)
        elif isinstance(frame, GoAway):
            self._shutdown()
        elif isinstance(frame, WindowUpdate):
            self.peer_flow_control = True
            stream = self.streams.get(frame.stream_id)
            if stream is not None:
                stream._grow_window(frame.delta)

    async def _on_syn_stream(self, frame: SynStream) -> None:
        peer_parity = 1 if self.server else 0
        if frame.stream_id % 2 != peer_parity or frame.stream_id <= self._last_peer_id:
            await self.send(GoAway(self._last_peer_id, GOAWAY_PROTOCOL_ERROR))
            self._shutdown()
            return
        self._last_peer_id = frame.stream_id
        stream = Stream(self, frame.stream_id, dict(frame.headers), send_window=self.initial_window)
        stream.remote_fin = bool(frame.flags & FLAG_FIN)
        self.streams[frame.stream_id] = stream
        await self.send(SynReply(frame.stream_id, {}))
        stream.replied.set()
        if frame.flags & FLAG_FIN:
            stream._on_data(b"", True)
        self.incoming.put_nowait(stream)

    async def accept(self) -> Stream | None:
        """The next stream the peer opened; None once the session is over."""
        if self.closed and self.incoming.empty():
            return None
        return await self.incoming.get()

    async def open_stream(self, headers: dict[str, str], fin: bool = False) -> Stream:
        stream_id, self._next_id = self._next_id, self._next_id + 2
        stream = Stream(self, stream_id, dict(headers), send_window=self.initial_window)
        self.streams[stream_id] = stream
        if fin:
            stream.local_closed = True
        await self.send(SynStream(stream_id, headers, flags=FLAG_FIN if fin else 0))
        return stream

    async def ping(self, timeout: float = 10.0) -> None:
        ping_id, self._next_ping = self._next_ping, self._next_ping + 2
        fut: asyncio.Future[None] = asyncio.get_running_loop().create_future()
        self._pings[ping_id] = fut
        await self.send(Ping(ping_id))
        await asyncio.wait_for(fut, timeout)

    async def go_away(self) -> None:
        """Tell the peer we are done (spdystream's Close does the same), then stop."""
        if not self.closed:
            await self.send(GoAway(self._last_peer_id, GOAWAY_OK))
            self._shutdown()
