"""The etcd client against a real etcd 3.4 over TLS with client certificates."""

from __future__ import annotations

import asyncio
import socket
import time
from collections.abc import Iterator
from pathlib import Path

import pytest

from kubeprov.etcd import (
    Compare,
    DeleteResult,
    EtcdClient,
    EtcdCompacted,
    EtcdError,
    EtcdTLS,
    EtcdUnavailable,
    LocalEtcd,
    LocalEtcdError,
    Op,
    PutResult,
    RangeResult,
    WatchCompacted,
    WatchResponse,
)
from kubeprov.etcd.local import free_port
from kubeprov.etcd.watch import Watch

pytestmark = [pytest.mark.integration, pytest.mark.timeout(30)]

ALL_BYTES = bytes(range(256))


@pytest.fixture
def blackhole_port() -> Iterator[int]:
    """A loopback port that accepts TCP (kernel backlog) but never speaks: TLS hangs there."""
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as s:
        s.bind(("127.0.0.1", 0))
        s.listen(8)
        yield s.getsockname()[1]


@pytest.fixture
def refused_port() -> int:
    """A loopback port with nothing listening (bound then released)."""
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


async def _collect(watch: Watch, count: int, timeout: float = 5.0) -> list:
    events: list = []
    async with asyncio.timeout(timeout):
        async for resp in watch:
            events.extend(resp.events)
            if len(events) >= count:
                break
    return events


# ---- key-value ---------------------------------------------------------------------------------


async def test_put_then_get_round_trips_binary_key_and_value(etcd):
    key = etcd.key("bin-") + b"\xff\x00\x80"
    revision = await etcd.client.put(key, ALL_BYTES)
    kv = await etcd.client.get(key)
    assert kv is not None
    assert (kv.key, kv.value) == (key, ALL_BYTES)
    assert kv.create_revision == kv.mod_revision == revision
    assert kv.version == 1 and kv.lease == 0


async def test_get_of_a_missing_key_is_none(etcd):
    assert await etcd.client.get(etcd.key("missing")) is None


async def test_empty_value_is_kept_as_empty_bytes(etcd):
    await etcd.client.put(etcd.key("empty"), b"")
    kv = await etcd.client.get(etcd.key("empty"))
    assert kv is not None and kv.value == b""


async def test_prefix_range_returns_only_keys_under_the_prefix_in_key_order(etcd):
    c = etcd.client
    for name in ("pods/b", "pods/a", "pods/c", "pods0", "pod", "podsx"):
        await c.put(etcd.key(name), name.encode())
    result = await c.range(etcd.key("pods/"), prefix=True)
    assert [kv.key for kv in result.kvs] == [etcd.key(n) for n in ("pods/a", "pods/b", "pods/c")]
    assert result.count == 3 and result.more is False


async def test_limit_sets_more_and_count_still_counts_every_key(etcd):
    c = etcd.client
    for i in range(5):
        await c.put(etcd.key(f"l/{i}"), b"v")
    result = await c.range(etcd.key("l/"), prefix=True, limit=2)
    assert [kv.key for kv in result.kvs] == [etcd.key("l/0"), etcd.key("l/1")]
    assert result.more is True and result.count == 5


async def test_count_only_returns_the_count_without_kvs(etcd):
    for i in range(3):
        await etcd.client.put(etcd.key(f"c/{i}"), b"v")
    result = await etcd.client.range(etcd.key("c/"), prefix=True, count_only=True)
    assert result.kvs == [] and result.count == 3


async def test_keys_only_and_descending_sort(etcd):
    for i in range(3):
        await etcd.client.put(etcd.key(f"s/{i}"), b"value")
    result = await etcd.client.range(
        etcd.key("s/"), prefix=True, keys_only=True, sort_target="KEY", sort_order="DESCEND"
    )
    assert [kv.key for kv in result.kvs] == [etcd.key(f"s/{i}") for i in (2, 1, 0)]
    assert all(kv.value == b"" for kv in result.kvs)


async def test_range_at_an_older_revision_sees_the_old_value(etcd):
    key = etcd.key("old")
    first = await etcd.client.put(key, b"one")
    await etcd.client.put(key, b"two")
    await etcd.client.put(etcd.key("old-later"), b"x")
    result = await etcd.client.range(etcd.key("old"), prefix=True, revision=first)
    assert [(kv.key, kv.value) for kv in result.kvs] == [(key, b"one")]
    assert result.header_revision > first  # the header always carries the current revision


async def test_range_at_a_future_revision_is_an_error_with_the_grpc_code(etcd):
    with pytest.raises(EtcdError) as info:
        await etcd.client.range(etcd.key("x"), revision=10**12)
    assert info.value.code == 11 and "future revision" in info.value.message


async def test_put_with_prev_kv_returns_the_previous_value(etcd):
    key = etcd.key("prev")
    await etcd.client.put(key, b"before")
    result = await etcd.client.put(key, b"after", prev_kv=True)
    assert isinstance(result, PutResult)
    assert result.prev_kv is not None and result.prev_kv.value == b"before"


async def test_delete_prefix_returns_count_and_previous_kvs(etcd):
    for name in ("d/1", "d/2", "e"):
        await etcd.client.put(etcd.key(name), name.encode())
    result = await etcd.client.delete(etcd.key("d/"), prefix=True, prev_kv=True)
    assert result.deleted == 2
    assert sorted(kv.value for kv in result.prev_kvs) == [b"d/1", b"d/2"]
    assert (await etcd.client.get(etcd.key("e"))) is not None


# ---- optimistic concurrency ----------------------------------------------------------------------


async def test_create_if_absent_conflict_returns_the_existing_kv(etcd):
    key = etcd.key("create")
    created, revision, existing = await etcd.client.create(key, b"first")
    assert (created, existing) == (True, None)
    created, _, existing = await etcd.client.create(key, b"second")
    assert created is False
    assert existing is not None and existing.value == b"first" and existing.mod_revision == revision


async def test_update_if_with_a_stale_mod_revision_fails_and_returns_the_current_kv(etcd):
    key = etcd.key("upd")
    rev1 = await etcd.client.put(key, b"v1")
    ok, rev2, _ = await etcd.client.update_if(key, b"v2", rev1)
    assert ok and rev2 > rev1
    ok, _, current = await etcd.client.update_if(key, b"v3", rev1)
    assert ok is False
    assert current is not None and current.value == b"v2" and current.mod_revision == rev2


async def test_update_if_on_a_deleted_key_fails_with_no_current_kv(etcd):
    key = etcd.key("gone")
    rev = await etcd.client.put(key, b"v")
    await etcd.client.delete(key)
    assert await etcd.client.update_if(key, b"again", rev) == (False, rev + 1, None)


async def test_delete_if_deletes_only_at_the_expected_revision(etcd):
    key = etcd.key("del")
    rev = await etcd.client.put(key, b"v")
    ok, _, current = await etcd.client.delete_if(key, rev - 1)
    assert ok is False and current is not None and current.mod_revision == rev
    ok, _, deleted = await etcd.client.delete_if(key, rev)
    assert ok is True and deleted is not None and deleted.value == b"v"
    assert await etcd.client.get(key) is None


async def test_txn_runs_mixed_operations_atomically_and_parses_each_response(etcd):
    c = etcd.client
    a, b = etcd.key("a"), etcd.key("b")
    await c.put(b, b"to-delete")
    result = await c.txn(
        [Compare.version(a, "=", 0), Compare.value(b, "=", b"to-delete")],
        [Op.put(a, b"new"), Op.delete(b, prev_kv=True), Op.get(etcd.prefix, prefix=True)],
        [Op.get(a)],
    )
    assert result.succeeded is True
    put, delete, rng = result.responses
    assert isinstance(put, PutResult) and put.revision == result.revision
    assert (
        isinstance(delete, DeleteResult) and delete.deleted == 1 and delete.prev_kvs[0].value == b"to-delete"
    )
    assert isinstance(rng, RangeResult) and [kv.key for kv in rng.kvs] == [a]  # sees the txn's own writes
    again = await c.txn([Compare.version(a, "=", 0)], [Op.put(a, b"x")], [Op.get(a)])
    assert again.succeeded is False
    (current,) = again.responses
    assert isinstance(current, RangeResult) and current.kvs[0].value == b"new"


# ---- watch -------------------------------------------------------------------------------------


async def test_watch_from_a_past_revision_replays_puts_and_deletes_in_order_with_prev_kv(etcd):
    c = etcd.client
    key = etcd.key("w")
    start = await c.put(key, b"1")
    await c.put(key, b"2")
    await c.delete(key)
    async with c.watch(etcd.prefix, prefix=True, start_revision=start, prev_kv=True) as watch:
        await c.put(key, b"3")  # written after the watch started
        events = await _collect(watch, 4)
    assert [(e.type, e.kv.value) for e in events] == [
        ("PUT", b"1"),
        ("PUT", b"2"),
        ("DELETE", b""),
        ("PUT", b"3"),
    ]
    assert [e.kv.mod_revision for e in events] == [start, start + 1, start + 2, start + 3]
    assert [e.prev_kv.value if e.prev_kv else None for e in events] == [None, b"1", b"2", None]
    assert watch.revision == start + 3


async def test_watch_yields_only_live_changes_without_start_revision(etcd):
    c = etcd.client
    await c.put(etcd.key("before"), b"x")
    watch = c.watch(etcd.prefix, prefix=True)
    created_at = await watch.start()
    try:
        await c.put(etcd.key("after"), b"y")
        (event,) = await _collect(watch, 1)
    finally:
        await watch.close()
    assert event.kv.key == etcd.key("after") and event.kv.mod_revision == created_at + 1


async def test_closing_a_watch_from_another_task_ends_its_iteration(etcd):
    watch = etcd.client.watch(etcd.key("idle"))
    await watch.start()
    received: list[WatchResponse] = []

    async def consume() -> None:
        async for resp in watch:
            received.append(resp)

    task = asyncio.create_task(consume())
    await asyncio.sleep(0.1)
    await watch.close()
    await asyncio.wait_for(task, 2)
    assert received == []


async def test_watch_from_before_the_compaction_raises_watch_compacted(etcd):
    c = etcd.client
    key = etcd.key("compact-w")
    old = await c.put(key, b"1")
    new = await c.put(key, b"2")
    await c.compact(new)
    watch = c.watch(key, start_revision=old)
    with pytest.raises(WatchCompacted) as info:
        async with asyncio.timeout(5):
            async for _ in watch:
                pass
    assert info.value.compact_revision == new
    await watch.close()


async def test_range_at_a_compacted_revision_raises_etcd_compacted(etcd):
    c = etcd.client
    key = etcd.key("compact-r")
    old = await c.put(key, b"1")
    new = await c.put(key, b"2")
    await c.compact(new)
    with pytest.raises(EtcdCompacted):
        await c.range(key, revision=old)
    assert (await c.range(key, revision=new)).kvs[0].value == b"2"


# ---- load ---------------------------------------------------------------------------------------


async def test_200_concurrent_puts_all_succeed_with_distinct_revisions(etcd):
    revisions = await asyncio.gather(*(etcd.client.put(etcd.key(f"many/{i:03}"), b"v") for i in range(200)))
    assert len(set(revisions)) == 200
    assert (await etcd.client.range(etcd.key("many/"), prefix=True, count_only=True)).count == 200


async def test_a_replay_larger_than_one_chunk_arrives_whole(etcd):
    value = bytes(range(256)) * 80  # 20 KiB, about 27 KiB as base64
    first = await etcd.client.put(etcd.key("big/0"), value)
    await asyncio.gather(*(etcd.client.put(etcd.key(f"big/{i}"), value) for i in range(1, 100)))
    async with etcd.client.watch(etcd.key("big/"), prefix=True, start_revision=first) as watch:
        events = await _collect(watch, 100)
    assert len(events) == 100 and all(e.kv.value == value for e in events)


# ---- leases ------------------------------------------------------------------------------------


async def test_revoking_a_lease_deletes_its_keys(etcd):
    c = etcd.client
    lease = await c.lease_grant(30)
    await c.put(etcd.key("leased"), b"v", lease=lease)
    kv = await c.get(etcd.key("leased"))
    assert kv is not None and kv.lease == lease
    assert 0 < await c.lease_keepalive_once(lease) <= 30
    remaining, granted, keys = await c.lease_time_to_live(lease)
    assert 0 < remaining <= 30 and granted == 30 and keys == [etcd.key("leased")]
    await c.lease_revoke(lease)
    assert await c.get(etcd.key("leased")) is None
    assert await c.lease_keepalive_once(lease) == 0


async def test_put_with_an_unknown_lease_is_refused_as_not_found(etcd):
    with pytest.raises(EtcdError) as info:
        await etcd.client.put(etcd.key("x"), b"v", lease=123456789)
    assert info.value.code == 5 and "lease not found" in info.value.message


async def test_lease_grant_with_a_chosen_id_uses_it(etcd):
    lease = await etcd.client.lease_grant(10, lease_id=0x1234_5678_9ABC)
    try:
        assert lease == 0x1234_5678_9ABC
    finally:
        await etcd.client.lease_revoke(lease)


# ---- maintenance and cluster ---------------------------------------------------------------------


async def test_status_and_member_list_describe_the_single_member(etcd):
    status = await etcd.client.status()
    assert status["version"].startswith("3.4.")
    assert status["dbSize"] > 0 and status["leader"] == status["member_id"] != 0
    (member,) = await etcd.client.member_list()
    assert member.id == status["member_id"] and member.name == "etcd-test"
    assert member.client_urls == (etcd.server.local.client_url,) and member.is_learner is False
    assert await etcd.client.healthy() is True


async def test_a_learner_can_be_added_and_removed_without_disturbing_the_cluster(etcd, refused_port):
    peer = f"http://127.0.0.1:{refused_port}"
    learner = await etcd.client.member_add([peer], learner=True)
    try:
        assert learner.is_learner and learner.peer_urls == (peer,) and learner.name == ""
        assert learner.id in {m.id for m in await etcd.client.member_list()}
        assert await etcd.client.put(etcd.key("still-writable"), b"v") > 0
    finally:
        remaining = await etcd.client.member_remove(learner.id)
    assert [m.name for m in remaining] == ["etcd-test"]


async def test_a_started_learner_joins_and_can_be_promoted(tmp_path: Path):
    first = LocalEtcd(tmp_path / "a", name="a")
    await first.start_async()
    peer_url = f"http://127.0.0.1:{free_port()}"
    second = LocalEtcd(
        tmp_path / "b",
        name="b",
        peer_port=int(peer_url.rsplit(":", 1)[1]),
        initial_cluster=f"a={first.peer_url},b={peer_url}",
        initial_cluster_state="existing",
    )
    try:
        async with EtcdClient([first.client_url], timeout=5) as client:
            learner = await client.member_add([peer_url], learner=True)
            await second.start_async()
            for _ in range(50):  # promotion waits until the learner has caught up with the leader
                try:
                    members = await client.member_promote(learner.id)
                    break
                except EtcdError as exc:
                    assert exc.code == 9, exc  # FAILED_PRECONDITION: not in sync yet
                    await asyncio.sleep(0.1)
            else:
                pytest.fail("the learner never caught up")
            by_name = {m.name: m for m in members}
            assert set(by_name) == {"a", "b"} and not by_name["b"].is_learner
            assert by_name["b"].client_urls == (second.client_url,)
            assert (await client.status(endpoint=second.client_url))["member_id"] == learner.id
    finally:
        # Leader first: it hands leadership to the live follower at once. A leader whose follower
        # is already gone may spend ~7 s trying to hand it over before it exits.
        first.stop()
        second.stop()


async def test_member_promote_of_an_unknown_member_is_an_error(etcd):
    with pytest.raises(EtcdError) as info:
        await etcd.client.member_promote(42)
    assert info.value.code is not None


# ---- TLS, reachability, failover ----------------------------------------------------------------


async def test_a_client_without_a_client_certificate_is_refused_quickly(etcd_server):
    started = time.monotonic()
    async with EtcdClient(etcd_server.endpoints, EtcdTLS(etcd_server.tls.ca_file), timeout=5) as client:
        with pytest.raises(EtcdUnavailable) as info:
            await client.get("/x")
    assert time.monotonic() - started < 2
    assert "TLS rejected" in str(info.value) and etcd_server.local.client_url in str(info.value)


async def test_a_client_that_distrusts_the_server_certificate_names_the_problem(etcd_server, tmp_path):
    other_ca = etcd_server.pki_dir / "ca.crt"  # the cluster CA, not the etcd CA
    tls = EtcdTLS(other_ca, etcd_server.tls.cert_file, etcd_server.tls.key_file)
    async with EtcdClient(etcd_server.endpoints, tls, timeout=5) as client:
        with pytest.raises(EtcdUnavailable, match="certificate was not accepted"):
            await client.get("/x")


async def test_an_unreachable_endpoint_raises_unavailable_naming_it_within_the_timeout(
    etcd_server, blackhole_port, refused_port
):
    endpoints = [f"https://127.0.0.1:{blackhole_port}", f"https://127.0.0.1:{refused_port}"]
    started = time.monotonic()
    async with EtcdClient(endpoints, etcd_server.tls, timeout=1.0) as client:
        with pytest.raises(EtcdUnavailable) as info:
            await client.put("/x", b"v")
        assert await client.healthy() is False
    assert time.monotonic() - started < 5
    assert all(ep in str(info.value) for ep in endpoints)
    assert info.value.uncertain is False  # nothing was sent


async def test_failover_skips_a_dead_endpoint_and_sticks_to_the_live_one(etcd, refused_port):
    dead = f"https://127.0.0.1:{refused_port}"
    async with EtcdClient([dead, *etcd.server.endpoints], etcd.server.tls, timeout=5) as client:
        revision = await client.put(etcd.key("failover"), b"ok")
        kv = await client.get(etcd.key("failover"))
        assert kv is not None and kv.mod_revision == revision
        async with client.watch(etcd.key("failover"), start_revision=revision) as watch:
            assert watch.endpoint == etcd.server.local.client_url


async def test_status_of_a_named_endpoint_asks_that_member(etcd):
    status = await etcd.client.status(endpoint=etcd.server.local.client_url)
    assert status["member_id"] != 0


async def test_etcdctl_reads_what_we_wrote_and_we_read_what_it_wrote(etcd):
    key = etcd.key("from-client")
    await etcd.client.put(key, b"hello etcdctl")
    got = etcd.server.etcdctl("get", key.decode(), "--print-value-only")
    assert got.returncode == 0, got.stderr
    assert got.stdout.strip() == "hello etcdctl"
    put = etcd.server.etcdctl("put", etcd.key("from-etcdctl").decode(), "hello client")
    assert put.returncode == 0, put.stderr
    kv = await etcd.client.get(etcd.key("from-etcdctl"))
    assert kv is not None and kv.value == b"hello client"


# ---- local etcd process ------------------------------------------------------------------------


async def test_a_watch_raises_unavailable_when_etcd_goes_away(tmp_path: Path):
    local = LocalEtcd(tmp_path / "etcd")
    await local.start_async()
    try:
        assert local.pid is not None and (tmp_path / "etcd" / "etcd.pid").read_text().strip() == str(
            local.pid
        )
        async with EtcdClient([local.client_url], timeout=5) as client:
            async with client.watch("/k") as watch:
                await local.stop_async()
                with pytest.raises(EtcdUnavailable):
                    await _collect(watch, 1)
    finally:
        local.stop()
    assert not local.is_running() and not (tmp_path / "etcd" / "etcd.pid").exists()
    local.stop()  # idempotent


def test_local_etcd_that_exits_at_start_reports_its_log_tail(tmp_path: Path):
    local = LocalEtcd(tmp_path / "etcd", extra_args=["--no-such-flag"])
    with pytest.raises(LocalEtcdError, match="no-such-flag"):
        local.start(timeout=5)
    assert not local.is_running()
