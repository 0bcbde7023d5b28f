"""The DNS wire codec: round trips, name compression, and malformed bytes that never crash anything."""

from __future__ import annotations

import asyncio
import struct

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from kubeprov.dns.handler import Responder
from kubeprov.dns.records import Zone
from kubeprov.dns.wire import (
    RR,
    DecodeError,
    Message,
    Question,
    Rcode,
    Type,
    decode,
    encode,
    normalize_name,
    opt_record,
)

labels = st.text(alphabet="abcdefghijklmnopqrstuvwxyz0123456789-", min_size=1, max_size=20)
names = st.lists(labels, min_size=1, max_size=6).map(".".join)
ipv4 = st.ip_addresses(v=4).map(str)
ipv6 = st.ip_addresses(v=6).map(str)
ttls = st.integers(0, 2**31 - 1)
records = st.one_of(
    st.builds(lambda n, t, a: RR(n, Type.A, t, a), names, ttls, ipv4),
    st.builds(lambda n, t, a: RR(n, Type.AAAA, t, a), names, ttls, ipv6),
    st.builds(lambda n, t, c: RR(n, Type.CNAME, t, c), names, ttls, names),
    st.builds(lambda n, t, c: RR(n, Type.PTR, t, c), names, ttls, names),
    st.builds(lambda n, t, p, w, port, target: RR(n, Type.SRV, t, (p, w, port, target)),
              names, ttls, st.integers(0, 65535), st.integers(0, 65535), st.integers(0, 65535), names),
    st.builds(lambda n, t, m, r, nums: RR(n, Type.SOA, t, (m, r, *nums)),
              names, ttls, names, names, st.tuples(*[st.integers(0, 2**32 - 1)] * 5)),
    st.builds(lambda n, t, txt: RR(n, Type.TXT, t, tuple(txt)), names, ttls,
              st.lists(st.text(alphabet="abc xyz", max_size=300), min_size=1, max_size=3)),
)
messages = st.builds(
    Message,
    id=st.integers(0, 65535), qr=st.booleans(), opcode=st.integers(0, 15), aa=st.booleans(), tc=st.booleans(),
    rd=st.booleans(), ra=st.booleans(), rcode=st.integers(0, 15),
    questions=st.lists(st.builds(Question, names, st.sampled_from([1, 5, 12, 28, 33, 255])), max_size=2),
    answers=st.lists(records, max_size=5), authority=st.lists(records, max_size=2),
)


def _txt_split(msg: Message) -> Message:
    """TXT strings over 255 bytes come back as several strings (that is the wire format)."""
    def fix(rr: RR) -> RR:
        if rr.type != Type.TXT:
            return rr
        parts = []
        for text in rr.data:  # type: ignore[attr-defined]
            parts += [text[i:i + 255] for i in range(0, max(len(text), 1), 255)]
        return RR(rr.name, rr.type, rr.ttl, tuple(parts), rr.cls)
    msg.answers = [fix(rr) for rr in msg.answers]
    msg.authority = [fix(rr) for rr in msg.authority]
    return msg


@settings(max_examples=300, deadline=None)
@given(messages)
def test_encode_then_decode_gives_the_same_message(msg: Message) -> None:
    assert decode(encode(msg)) == _txt_split(msg)


def test_repeated_names_are_compressed_to_pointers() -> None:
    name = "web.default.svc.cluster.local"
    msg = Message(id=1, qr=True, questions=[Question(name, Type.A)],
                  answers=[RR(name, Type.A, 5, f"10.0.0.{i}") for i in range(10)])
    data = encode(msg)
    # the name is spelled out once (in the question); each answer's owner is a 2-byte pointer
    assert data.count(b"\x03web\x07default") == 1
    assert len(data) == 12 + (len(name) + 2 + 4) + 10 * (2 + 10 + 4)
    assert decode(data).answers == msg.answers


def test_a_suffix_shared_by_different_names_is_compressed() -> None:
    msg = Message(answers=[RR("a.svc.cluster.local", Type.PTR, 5, "b.svc.cluster.local")])
    data = encode(msg)
    assert data.count(b"\x03svc\x07cluster\x05local\x00") == 1
    assert decode(data).answers[0].data == "b.svc.cluster.local"


def test_srv_targets_are_not_compressed() -> None:
    msg = Message(answers=[RR("_http._tcp.web.ns.svc.cluster.local", Type.SRV, 5,
                              (0, 100, 80, "web.ns.svc.cluster.local"))])
    assert b"\x03web\x02ns\x03svc\x07cluster\x05local\x00" in encode(msg)


def test_opt_record_carries_the_udp_size() -> None:
    query = Message(id=7, rd=True, questions=[Question("x.cluster.local", Type.A)], additional=[opt_record(1232)])
    back = decode(encode(query))
    assert back.udp_size == 1232
    assert back.opt is not None and back.opt.name == ""


def test_udp_size_is_512_without_edns_and_never_below_512() -> None:
    assert Message().udp_size == 512
    assert Message(additional=[opt_record(100)]).udp_size == 512


def test_flags_round_trip() -> None:
    msg = Message(id=0xBEEF, qr=True, opcode=0, aa=True, tc=True, rd=True, ra=True, rcode=Rcode.NXDOMAIN)
    back = decode(encode(msg))
    assert (back.id, back.qr, back.aa, back.tc, back.rd, back.ra, back.rcode) == (0xBEEF, True, True, True, True,
                                                                                True, 3)


def test_a_pointer_loop_is_a_decode_error() -> None:
    header = struct.pack("!HHHHHH", 1, 0, 1, 0, 0, 0)
    looping = header + b"\xc0\x0c" + b"\x00\x01\x00\x01"  # points at itself
    with pytest.raises(DecodeError):
        decode(looping)


def test_a_forward_pointer_is_a_decode_error() -> None:
    header = struct.pack("!HHHHHH", 1, 0, 1, 0, 0, 0)
    with pytest.raises(DecodeError):
        decode(header + b"\xc0\x20" + b"\x00\x01\x00\x01" + b"\x00" * 30)


def test_a_name_over_255_bytes_is_a_decode_error() -> None:
    header = struct.pack("!HHHHHH", 1, 0, 1, 0, 0, 0)
    name = (b"\x3f" + b"a" * 63) * 5 + b"\x00"
    with pytest.raises(DecodeError):
        decode(header + name + b"\x00\x01\x00\x01")


def test_trailing_bytes_are_a_decode_error() -> None:
    data = encode(Message(questions=[Question("a.b", Type.A)])) + b"\x00"
    with pytest.raises(DecodeError):
        decode(data)


def test_record_length_must_match_its_data() -> None:
    good = encode(Message(answers=[RR("a.b", Type.A, 1, "1.2.3.4")]))
    bad = good[:-6] + struct.pack("!H", 5) + good[-4:] + b"\x00"
    with pytest.raises(DecodeError):
        decode(bad)


def test_names_compare_case_insensitively_after_normalizing() -> None:
    assert normalize_name("Web.Default.SVC.cluster.local.") == "web.default.svc.cluster.local"


@settings(max_examples=500, deadline=None)
@given(st.binary(max_size=600))
def test_random_bytes_decode_or_raise_decode_error(data: bytes) -> None:
    try:
        decode(data)
    except DecodeError:
        pass


@settings(max_examples=300, deadline=None)
@given(messages, st.data())
def test_mutated_messages_decode_or_raise_decode_error(msg: Message, data: st.DataObject) -> None:
    raw = bytearray(encode(msg))
    for _ in range(data.draw(st.integers(1, 4))):
        i = data.draw(st.integers(0, len(raw) - 1))
        raw[i] = data.draw(st.integers(0, 255))
    cut = data.draw(st.integers(0, len(raw)))
    try:
        decode(bytes(raw[:cut]))
    except DecodeError:
        pass


# ---- the responder: what the server sends back for any packet ----------------------------------

def _responder(max_udp_size: int = 1232) -> Responder:
    zone = Zone("cluster.local")
    endpoints = [{"addresses": [f"10.1.{i // 250}.{i % 250 + 1}"], "conditions": {"ready": True}} for i in range(100)]
    zone.set_service("default", "big", {"metadata": {"name": "big", "namespace": "default"},
                                        "spec": {"clusterIP": "None"}},
                     [{"metadata": {"name": "big-1", "namespace": "default"}, "addressType": "IPv4",
                       "endpoints": endpoints}])
    return Responder(zone, max_udp_size=max_udp_size)


def _ask(responder: Responder, name: str, qtype: int = Type.A, *, tcp: bool = False, edns: int | None = None,
         **flags: object) -> Message:
    query = Message(id=42, rd=True, questions=[Question(name, qtype)],
                    additional=[opt_record(edns)] if edns else [], **flags)  # type: ignore[arg-type]
    reply = asyncio.run(responder.respond(encode(query), tcp=tcp))
    assert reply is not None
    return decode(reply)


def test_a_big_udp_answer_is_truncated_to_512_bytes_with_tc() -> None:
    data = asyncio.run(_responder().respond(encode(Message(id=1, questions=[Question(
        "big.default.svc.cluster.local", Type.A)])), tcp=False))
    assert data is not None and len(data) <= 512
    reply = decode(data)
    assert reply.tc and 0 < len(reply.answers) < 100


def test_the_edns_size_raises_the_udp_limit_up_to_our_maximum() -> None:
    reply = _ask(_responder(max_udp_size=4096), "big.default.svc.cluster.local", edns=4096)
    assert not reply.tc and len(reply.answers) == 100
    assert reply.opt is not None and reply.opt.cls == 4096


def test_the_same_answer_over_tcp_is_whole() -> None:
    reply = _ask(_responder(), "big.default.svc.cluster.local", tcp=True)
    assert not reply.tc and len(reply.answers) == 100


def test_names_outside_the_zone_are_refused_without_upstreams() -> None:
    reply = _ask(_responder(), "example.com")
    assert (reply.rcode, reply.aa) == (Rcode.REFUSED, False)


def test_answers_in_the_zone_are_authoritative_and_echo_the_question() -> None:
    reply = _ask(_responder(), "Big.Default.svc.cluster.local")
    assert reply.aa and reply.qr and reply.rd and reply.id == 42
    assert reply.questions == [Question("Big.Default.svc.cluster.local", Type.A)]


def test_a_query_with_two_questions_is_formerr() -> None:
    query = Message(id=5, questions=[Question("a.cluster.local", Type.A), Question("b.cluster.local", Type.A)])
    reply = asyncio.run(_responder().respond(encode(query)))
    assert reply is not None and decode(reply).rcode == Rcode.FORMERR


def test_an_unparsable_query_gets_formerr_with_its_id() -> None:
    reply = asyncio.run(_responder().respond(struct.pack("!HHHHHH", 77, 0x0100, 1, 0, 0, 0) + b"\x05ab"))
    assert reply is not None
    back = decode(reply)
    assert (back.id, back.rcode, back.qr) == (77, Rcode.FORMERR, True)


def test_responses_and_runts_are_not_answered() -> None:
    responder = _responder()
    assert asyncio.run(responder.respond(b"\x00\x01\x02")) is None
    assert asyncio.run(responder.respond(encode(Message(id=1, qr=True)))) is None


@settings(max_examples=400, deadline=None)
@given(st.binary(max_size=400), st.booleans())
def test_the_responder_never_raises_on_random_bytes(data: bytes, tcp: bool) -> None:
    reply = asyncio.run(_RESPONDER.respond(data, tcp=tcp))
    if reply is not None:
        assert decode(reply).qr


@settings(max_examples=300, deadline=None)
@given(st.builds(Question, names.map(lambda n: n + ".svc.cluster.local"), st.integers(0, 65535),
                 st.integers(0, 65535)), st.data())
def test_the_responder_never_raises_on_mutated_queries(question: Question, data: st.DataObject) -> None:
    raw = bytearray(encode(Message(id=3, questions=[question], additional=[opt_record(1232)])))
    for _ in range(data.draw(st.integers(0, 3))):
        raw[data.draw(st.integers(0, len(raw) - 1))] = data.draw(st.integers(0, 255))
    reply = asyncio.run(_RESPONDER.respond(bytes(raw)))
    if reply is not None:
        assert len(reply) <= 1232 and decode(reply).qr


_RESPONDER = _responder()
