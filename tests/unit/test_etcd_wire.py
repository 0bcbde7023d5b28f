"""Parsing recorded etcd 3.4 gateway answers and building requests, without a server."""

from __future__ import annotations

import json

import pytest

from kubeprov.etcd._http import LineSplitter, error_from_answer, stream_error
from kubeprov.etcd.errors import EtcdCompacted, EtcdError, EtcdUnavailable
from kubeprov.etcd.types import (
    Compare,
    DeleteResult,
    KeyValue,
    Op,
    PutResult,
    RangeResult,
    delete_request,
    parse_member,
    parse_range,
    parse_txn,
    parse_watch_result,
    range_request,
)

# Recorded from etcd 3.4.23 (POST /v3/kv/range, key "foo" prefix-less).
RANGE = (
    '{"header":{"cluster_id":"324952591200643719","member_id":"3319814642761637952","revision":"9004",'
    '"raft_term":"2"},"kvs":[{"key":"Zm9v","create_revision":"2","mod_revision":"9004","version":"2",'
    '"value":"eA=="}],"count":"1"}'
)
# A txn with a put (prev_kv), a delete of a missing key and a count-only range.
TXN = (
    '{"header":{"cluster_id":"1","member_id":"2","revision":"9004","raft_term":"2"},"succeeded":true,'
    '"responses":[{"response_put":{"header":{"revision":"9004"},"prev_kv":{"key":"Zm9v","create_revision":"2",'
    '"mod_revision":"2","version":"1","value":"YmFy"}}},{"response_delete_range":{"header":{"revision":"9004"}}},'
    '{"response_range":{"header":{"revision":"9004"},"count":"1"}}]}'
)
# Watch replay with prev_kv: a create, an update and a delete (type and zero fields omitted).
WATCH_EVENTS = (
    '{"result":{"header":{"cluster_id":"1","member_id":"2","revision":"6","raft_term":"2"},"events":['
    '{"kv":{"key":"YQ==","create_revision":"4","mod_revision":"4","version":"1","value":"MQ=="}},'
    '{"kv":{"key":"YQ==","create_revision":"4","mod_revision":"5","version":"2","value":"Mg=="},'
    '"prev_kv":{"key":"YQ==","create_revision":"4","mod_revision":"4","version":"1","value":"MQ=="}},'
    '{"type":"DELETE","kv":{"key":"YQ==","mod_revision":"6"},'
    '"prev_kv":{"key":"YQ==","create_revision":"4","mod_revision":"5","version":"2","value":"Mg=="}}]}}'
)
WATCH_CREATED = '{"result":{"header":{"revision":"6"},"created":true}}'
WATCH_COMPACTED = (
    '{"result":{"header":{"cluster_id":"1","raft_term":"2"},"canceled":true,"compact_revision":"3"}}'
)
COMPACTED_ERROR = (
    b'{"error":"etcdserver: mvcc: required revision has been compacted",'
    b'"message":"etcdserver: mvcc: required revision has been compacted","code":11}'
)


def test_range_answer_decodes_base64_and_string_integers():
    result = parse_range(json.loads(RANGE))
    assert result == RangeResult(
        kvs=[KeyValue(b"foo", b"x", create_revision=2, mod_revision=9004, version=2, lease=0)],
        more=False,
        count=1,
        header_revision=9004,
    )


def test_empty_range_answer_has_no_kvs_and_zero_count():
    assert parse_range({"header": {"revision": "6"}}) == RangeResult([], False, 0, 6)


def test_txn_answer_is_parsed_per_operation():
    result = parse_txn(json.loads(TXN))
    assert result.succeeded and result.revision == 9004
    put, delete, rng = result.responses
    assert put == PutResult(9004, KeyValue(b"foo", b"bar", 2, 2, 1, 0))
    assert delete == DeleteResult(0, [], 9004)
    assert isinstance(rng, RangeResult) and rng.count == 1 and rng.kvs == []


def test_failed_txn_has_succeeded_omitted():
    assert parse_txn({"header": {"revision": "3"}}).succeeded is False


def test_watch_events_keep_order_types_and_prev_kv():
    resp = parse_watch_result(json.loads(WATCH_EVENTS)["result"])
    assert [e.type for e in resp.events] == ["PUT", "PUT", "DELETE"]
    assert [e.kv.mod_revision for e in resp.events] == [4, 5, 6]
    assert resp.events[0].prev_kv is None and resp.events[1].prev_kv.value == b"1"
    assert resp.events[2].kv == KeyValue(b"a", b"", 0, 6, 0, 0)
    assert resp.revision == 6 and not resp.progress and not resp.canceled


def test_created_message_is_not_a_progress_notification_but_an_empty_one_is():
    assert parse_watch_result(json.loads(WATCH_CREATED)["result"]).progress is False
    assert parse_watch_result({"header": {"revision": "9"}}).progress is True


def test_compacted_watch_cancel_carries_the_compact_revision():
    resp = parse_watch_result(json.loads(WATCH_COMPACTED)["result"])
    assert resp.canceled and resp.compact_revision == 3 and resp.events == []


def test_member_that_has_not_started_has_no_name():
    member = parse_member(
        {"ID": "10488869487569686946", "peerURLs": ["http://127.0.0.1:23999"], "isLearner": True}
    )
    assert member.id == 10488869487569686946 and member.name == "" and member.client_urls == ()
    assert member.is_learner


def test_compacted_error_answer_becomes_etcd_compacted():
    err = error_from_answer(400, COMPACTED_ERROR, "https://127.0.0.1:2379")
    assert isinstance(err, EtcdCompacted) and err.code == 11 and err.http_status == 400
    assert "https://127.0.0.1:2379" in str(err)


def test_non_json_error_answer_keeps_the_text():
    err = error_from_answer(405, b"Method Not Allowed\n", "e")
    assert type(err) is EtcdError and err.message == "Method Not Allowed" and err.code is None


def test_stream_error_object_is_mapped():
    err = stream_error({"error": {"grpc_code": 14, "http_code": 503, "message": "no leader"}}, "e")
    assert err.code == 14 and err.message == "no leader"


def test_unavailable_names_every_endpoint():
    err = EtcdUnavailable({"https://a:1": "refused", "https://b:2": "timed out"}, uncertain=True)
    assert "https://a:1: refused" in str(err) and "https://b:2: timed out" in str(err)
    assert "may or may not" in str(err)


def test_prefix_range_request_with_empty_prefix_covers_the_whole_keyspace():
    assert range_request(b"", prefix=True) == {"key": "AA==", "range_end": "AA=="}


def test_range_request_omits_defaults_and_sends_int64_as_strings():
    body = range_request("k", limit=5, revision=9, sort_target="mod", sort_order="descend")
    assert body == {
        "key": "aw==",
        "limit": "5",
        "revision": "9",
        "sort_target": "MOD",
        "sort_order": "DESCEND",
    }


def test_prefix_and_range_end_together_are_refused():
    with pytest.raises(ValueError):
        range_request("a", "b", prefix=True)
    with pytest.raises(ValueError):
        delete_request("a", "b", prefix=True)


def test_compare_and_op_wire_forms():
    assert Compare.version("k", "=", 0).body == {
        "key": "aw==",
        "target": "VERSION",
        "result": "EQUAL",
        "version": "0",
    }
    assert Compare.mod_revision("k", "<", 7).body["result"] == "LESS"
    assert Compare.value("k", "!=", b"v").body == {
        "key": "aw==",
        "target": "VALUE",
        "result": "NOT_EQUAL",
        "value": "dg==",
    }
    assert Op.put("k", b"v", 5).body == {"request_put": {"key": "aw==", "value": "dg==", "lease": "5"}}
    assert Op.delete("k", prefix=True).body == {"request_delete_range": {"key": "aw==", "range_end": "bA=="}}
    with pytest.raises(ValueError):
        Compare.version("k", "<=", 1)  # type: ignore[arg-type]


def test_line_splitter_handles_lines_split_across_chunks_and_chunks_with_many_lines():
    stream = b'{"a":1}\n{"b":2}\n\n{"c":"' + b"3" * 100_000 + b'"}\n'
    splitter = LineSplitter()
    out: list[bytes] = []
    for i in range(0, len(stream), 7):
        splitter.feed(stream[i : i + 7])
        while (line := splitter.pop()) is not None:
            out.append(line)
    assert [json.loads(x) for x in out] == [{"a": 1}, {"b": 2}, {"c": "3" * 100_000}]
    assert splitter.pending == 0
