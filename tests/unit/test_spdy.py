"""The SPDY/3.1 codec and session: frame layouts from the spec, header compression with the spec's dictionary,
flow control and ping."""

from __future__ import annotations

import asyncio
import struct
import zlib
from collections.abc import Awaitable, Callable

import pytest

from kubeprov.kubelet.streaming import portforward, spdy


def test_the_dictionary_is_the_specs_1423_bytes_with_its_zlib_id() -> None:
    assert len(spdy.DICTIONARY) == 1423
    assert spdy.DICTIONARY.startswith(b"\x00\x00\x00\x07options\x00\x00\x00\x04head")
    assert spdy.DICTIONARY.endswith(b"charset=iso-8859-1,utf-,*,enq=0.")
    assert zlib.adler32(spdy.DICTIONARY) == 0xE3C6A7C2  # the DICTID every SPDY/3 header block announces


def test_a_compressed_header_block_announces_the_dictionary() -> None:
    block = spdy.FrameEncoder().compress({"streamtype": "error"})
    assert block[2:6] == bytes.fromhex("e3c6a7c2")  # FDICT set, DICTID = adler32(dictionary)
    assert block[0] & 0x0F == 8 and (block[0] * 256 + block[1]) % 31 == 0 and block[1] & 0x20


def test_the_uncompressed_header_block_layout() -> None:
    assert spdy.encode_header_block({"streamType": "error"}) == (
        b"\x00\x00\x00\x01" b"\x00\x00\x00\x0astreamtype" b"\x00\x00\x00\x05error")


def test_a_syn_stream_frame_is_laid_out_byte_for_byte_as_the_spec_says() -> None:
    frame = spdy.FrameEncoder().encode(spdy.SynStream(1, {"streamtype": "error"}, priority=0, flags=spdy.FLAG_FIN))
    block = frame[18:]
    assert frame[:4] == b"\x80\x03\x00\x01"  # control bit, version 3, type SYN_STREAM
    assert frame[4] == spdy.FLAG_FIN and int.from_bytes(frame[5:8], "big") == 10 + len(block)
    assert frame[8:18] == b"\x00\x00\x00\x01" b"\x00\x00\x00\x00" b"\x00\x00"  # stream 1, no parent, pri 0, slot
    inflater = zlib.decompressobj(zdict=spdy.DICTIONARY)
    assert inflater.decompress(block) == spdy.encode_header_block({"streamtype": "error"})


def test_a_syn_stream_compressed_by_another_deflater_is_decoded() -> None:
    deflater = zlib.compressobj(9, zlib.DEFLATED, 15, 8, zlib.Z_DEFAULT_STRATEGY, spdy.DICTIONARY)
    block = deflater.compress(spdy.encode_header_block({"port": "8080", "streamtype": "data"}))
    block += deflater.flush(zlib.Z_SYNC_FLUSH)
    payload = struct.pack(">IIBB", 3, 0, 0, 0) + block
    raw = struct.pack(">HHI", 0x8003, spdy.SYN_STREAM, len(payload)) + payload
    assert spdy.FrameDecoder().feed(raw) == [spdy.SynStream(3, {"port": "8080", "streamtype": "data"})]


def test_a_data_frame_layout() -> None:
    assert spdy.FrameEncoder().encode(spdy.DataFrame(5, b"hi", spdy.FLAG_FIN)) == (
        b"\x00\x00\x00\x05" b"\x01\x00\x00\x02" b"hi")


ALL_FRAMES: list[spdy.Frame] = [
    spdy.DataFrame(1, b"payload", spdy.FLAG_FIN),
    spdy.SynStream(1, {"streamtype": "stdout"}, associated_id=0, priority=3, flags=spdy.FLAG_UNIDIRECTIONAL),
    spdy.SynReply(1, {}),
    spdy.Headers(1, {"x": "y"}, spdy.FLAG_FIN),
    spdy.RstStream(1, spdy.RST_CANCEL),
    spdy.Settings({spdy.SETTINGS_INITIAL_WINDOW_SIZE: 1 << 20}),
    spdy.Ping(7),
    spdy.GoAway(9, spdy.GOAWAY_OK),
    spdy.WindowUpdate(1, 4096),
]


def test_every_frame_type_round_trips_even_when_fed_a_byte_at_a_time() -> None:
    encoder, decoder = spdy.FrameEncoder(), spdy.FrameDecoder()
    wire = b"".join(encoder.encode(frame) for frame in ALL_FRAMES)
    decoded = [frame for i in range(len(wire)) for frame in decoder.feed(wire[i:i + 1])]
    assert decoded == ALL_FRAMES


def test_header_compression_keeps_one_context_across_blocks() -> None:
    encoder, decoder = spdy.FrameEncoder(), spdy.FrameDecoder()
    first = encoder.encode(spdy.SynStream(1, {"streamtype": "error"}))
    second = encoder.encode(spdy.SynStream(3, {"streamtype": "error"}))
    assert len(second) < len(first)  # the second block refers back to the first
    assert decoder.feed(first + second)[1] == spdy.SynStream(3, {"streamtype": "error"})
    with pytest.raises(spdy.ProtocolError):
        spdy.FrameDecoder().feed(second)  # without the first block the context is missing


def test_unknown_control_frames_are_skipped() -> None:
    unknown = struct.pack(">HHI", 0x8003, 99, 4) + b"abcd"
    assert spdy.FrameDecoder().feed(unknown + spdy.FrameEncoder().encode(spdy.Ping(1))) == [spdy.Ping(1)]


def test_another_spdy_version_is_a_protocol_error() -> None:
    with pytest.raises(spdy.ProtocolError):
        spdy.FrameDecoder().feed(struct.pack(">HHI", 0x8002, spdy.PING, 4) + b"\x00\x00\x00\x01")


# ------------------------------------------------------------------------------------------ sessions


class Pipe:
    """One direction of an in-memory connection."""

    def __init__(self) -> None:
        self.queue: asyncio.Queue[bytes] = asyncio.Queue()

    async def write(self, data: bytes) -> None:
        await self.queue.put(data)

    async def read(self) -> bytes:
        return await self.queue.get()


async def connected() -> tuple[spdy.SpdySession, spdy.SpdySession, Callable[[], Awaitable[None]]]:
    to_server, to_client = Pipe(), Pipe()
    server = spdy.SpdySession(to_client.write, server=True)
    client = spdy.SpdySession(to_server.write, server=False)
    tasks = [asyncio.create_task(server.run(to_server.read)), asyncio.create_task(client.run(to_client.read))]

    async def stop() -> None:
        for task in tasks:
            task.cancel()
        await asyncio.gather(*tasks, return_exceptions=True)

    return server, client, stop


async def test_a_client_stream_is_replied_to_and_carries_data_both_ways_until_fin() -> None:
    server, client, stop = await connected()
    try:
        stream = await client.open_stream({"streamType": "stdin"})
        await stream.write(b"to server")
        await stream.close()
        accepted = await server.accept()
        assert accepted is not None and accepted.headers == {"streamtype": "stdin"}
        await asyncio.wait_for(stream.replied.wait(), 5)
        assert await accepted.read() == b"to server" and await accepted.read() == b""
        await accepted.write(b"to client")
        await accepted.close()
        assert await stream.read() == b"to client" and await stream.read() == b""
    finally:
        await stop()


async def test_a_ping_is_answered() -> None:
    server, client, stop = await connected()
    try:
        await asyncio.wait_for(client.ping(), 5)
    finally:
        await stop()


async def test_sends_wait_for_the_window_once_the_peer_does_flow_control() -> None:
    server, client, stop = await connected()
    try:
        await client.send(spdy.Settings({spdy.SETTINGS_INITIAL_WINDOW_SIZE: 10}))
        stream = await client.open_stream({"streamType": "stdout"})
        accepted = await asyncio.wait_for(server.accept(), 5)
        assert accepted is not None
        await asyncio.wait_for(_until(lambda: server.peer_flow_control), 5)
        writer = asyncio.create_task(accepted.write(b"0123456789abcdef"))
        assert await asyncio.wait_for(stream.read(), 5) == b"0123456789"
        assert not writer.done()  # 6 bytes wait for window
        await client.send(spdy.WindowUpdate(accepted.id, 6))
        assert await asyncio.wait_for(stream.read(), 5) == b"abcdef"
        await asyncio.wait_for(writer, 5)
    finally:
        await stop()


async def test_without_peer_flow_control_sends_are_not_held_back() -> None:
    server, client, stop = await connected()
    try:
        stream = await client.open_stream({"streamType": "stdout"})
        accepted = await asyncio.wait_for(server.accept(), 5)
        assert accepted is not None
        big = b"x" * (3 * spdy.DEFAULT_WINDOW)
        await asyncio.wait_for(accepted.write(big), 5)
        await accepted.close()
        received = b""
        while chunk := await asyncio.wait_for(stream.read(), 5):
            received += chunk
        assert received == big
    finally:
        await stop()


async def test_consumed_data_is_acknowledged_with_window_updates() -> None:
    to_server = Pipe()
    sent: list[bytes] = []

    async def capture(data: bytes) -> None:
        sent.append(data)

    server = spdy.SpdySession(capture, server=True)
    runner = asyncio.create_task(server.run(to_server.read))
    encoder = spdy.FrameEncoder()
    try:
        await to_server.write(encoder.encode(spdy.SynStream(1, {"streamtype": "stdin"})))
        await to_server.write(encoder.encode(spdy.DataFrame(1, b"x" * spdy.DEFAULT_WINDOW)))
        stream = await asyncio.wait_for(server.accept(), 5)
        assert stream is not None
        assert len(await asyncio.wait_for(stream.read(), 5)) == spdy.DEFAULT_WINDOW
        frames = spdy.FrameDecoder().feed(b"".join(sent))
        assert spdy.WindowUpdate(1, spdy.DEFAULT_WINDOW) in frames
    finally:
        runner.cancel()


async def test_data_for_an_unknown_stream_is_answered_with_rst_stream() -> None:
    to_server = Pipe()
    sent: list[bytes] = []

    async def capture(data: bytes) -> None:
        sent.append(data)

    server = spdy.SpdySession(capture, server=True)
    runner = asyncio.create_task(server.run(to_server.read))
    try:
        await to_server.write(spdy.FrameEncoder().encode(spdy.DataFrame(9, b"?")))
        await asyncio.wait_for(_until(lambda: bool(sent)), 5)
        assert spdy.FrameDecoder().feed(b"".join(sent)) == [spdy.RstStream(9, spdy.RST_INVALID_STREAM)]
    finally:
        runner.cancel()


async def _until(check: Callable[[], bool]) -> None:
    while not check():
        await asyncio.sleep(0.01)


async def test_a_port_forward_request_whose_data_stream_never_comes_is_reset() -> None:
    server, client, stop = await connected()
    forwarding = asyncio.create_task(portforward.serve_spdy(server, portforward.Target("p", "u", None),
                                                            pair_timeout=0.2))
    try:
        error = await client.open_stream({"streamType": "error", "port": "80", "requestID": "0"})
        assert await asyncio.wait_for(error.read(), 5) == b""
        assert error.reset
    finally:
        forwarding.cancel()
        await stop()
