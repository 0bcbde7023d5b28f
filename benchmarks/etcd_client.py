"""Throughput and latency of kubeprov's etcd client against a local TLS etcd.

Run: ``.venv/bin/python benchmarks/etcd_client.py [--check-perf]``. It starts its own etcd (with
client-certificate auth, certificates from ``kubeprov.pki``) in a temporary folder, prints figures
and stops that etcd. Every phase is bounded in operations and seconds; the whole run stays under a
minute unless ``--check-perf`` adds etcdctl's fixed 60-second check.

Reference points:
* "raw gateway" posts pre-encoded bodies through a bare aiohttp session with the same TLS and pool:
  the difference to our client is the client's own cost (encoding, parsing, failover bookkeeping).
* etcdctl has no batch mode, and a process per put measures process start-up, not etcd; the only
  load tool it ships is ``etcdctl check perf``, which runs exactly 60 s at a fixed target rate
  (150 writes/s for --load=s), so it is a pass/fail check rather than a ceiling. It runs only on
  request.
"""

from __future__ import annotations

import argparse
import asyncio
import base64
import os
import re
import shutil
import statistics
import subprocess
import sys
import tempfile
import time
from collections.abc import Awaitable, Callable
from pathlib import Path

import aiohttp

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from kubeprov.etcd import EtcdClient, EtcdServerTLS, EtcdTLS, LocalEtcd
from kubeprov.pki import NodeSpec, PkiSpec, generate_pki

MEMBER = NodeSpec("bench", ("127.0.0.1",))
VALUE = b"x" * 256  # a small Kubernetes object is a few hundred bytes to a few KiB


def make_pki(root: Path) -> tuple[EtcdServerTLS, EtcdTLS]:
    spec = PkiSpec(
        cluster_name="bench",
        cluster_domain="cluster.local",
        service_cidr="10.96.0.0/12",
        api_endpoint="https://127.0.0.1:6443",
        control_plane=(MEMBER,),
        etcd_members=(MEMBER,),
        nodes=(MEMBER,),
    )
    pki = root / "pki"
    generate_pki(spec, pki, root / "kubeconfig")
    server = EtcdServerTLS(
        pki / "etcd" / "ca.crt", pki / "etcd" / "server-bench.crt", pki / "etcd" / "server-bench.key"
    )
    client = EtcdTLS(
        pki / "etcd" / "ca.crt", pki / "apiserver-etcd-client.crt", pki / "apiserver-etcd-client.key"
    )
    return server, client


async def measure(
    name: str, op: Callable[[int], Awaitable[object]], concurrency: int, count: int, seconds: float
) -> None:
    """Run ``op(i)`` for i < count on ``concurrency`` workers, stopping early after ``seconds``."""
    latencies: list[float] = []
    next_index = 0
    deadline = time.perf_counter() + seconds

    async def worker() -> None:
        nonlocal next_index
        while next_index < count and time.perf_counter() < deadline:
            i = next_index
            next_index += 1
            t0 = time.perf_counter()
            await op(i)
            latencies.append(time.perf_counter() - t0)

    started, cpu_started = time.perf_counter(), time.process_time()
    await asyncio.gather(*(worker() for _ in range(concurrency)))
    elapsed, cpu = time.perf_counter() - started, time.process_time() - cpu_started
    latencies.sort()
    n = len(latencies)
    p50 = statistics.median(latencies) * 1000
    p99 = latencies[min(n - 1, int(n * 0.99))] * 1000
    print(
        f"{name:<34} c={concurrency:<3} {n:>6} ops {elapsed:5.2f}s {n / elapsed:7.0f} ops/s  "
        f"p50 {p50:6.2f} ms  p99 {p99:6.2f} ms  python cpu {cpu / n * 1e6:4.0f} us/op",
        flush=True,
    )


async def bench(local: LocalEtcd, tls: EtcdTLS) -> None:
    async with EtcdClient([local.client_url], tls) as client:
        await client.put("/bench/warmup", VALUE)

        async def put(i: int) -> None:
            await client.put(f"/bench/k{i % 1000:04}", VALUE)

        async def get(i: int) -> None:
            await client.get(f"/bench/k{i % 1000:04}")

        async def get_serializable(i: int) -> None:
            await client.get(f"/bench/k{i % 1000:04}", serializable=True)

        await measure("client put", put, 1, 1500, 4)
        await measure("client put", put, 50, 10000, 6)
        await measure("client get (linearizable)", get, 1, 1500, 4)
        await measure("client get (linearizable)", get, 50, 10000, 6)
        await measure("client get (serializable)", get_serializable, 50, 10000, 6)
        async with client.watch("/bench/", prefix=True) as watch:
            seen = 0

            async def consume() -> None:
                nonlocal seen
                async for resp in watch:
                    seen += len(resp.events)

            consumer = asyncio.create_task(consume())
            await measure("client put + prefix watch consumed", put, 50, 5000, 4)
            await asyncio.sleep(0.2)
        await consumer
        print(f"{'  events received by the watch':<34}       {seen:>6}")
        listing = await client.range("/bench/", prefix=True)
        started = time.perf_counter()
        for _ in range(20):
            await client.range("/bench/", prefix=True)
        per_list = (time.perf_counter() - started) / 20 * 1000
        print(f"{'client range of ' + str(len(listing.kvs)) + ' keys':<34} c=1   {per_list:.1f} ms per range")

    await raw_gateway(local, tls)


async def raw_gateway(local: LocalEtcd, tls: EtcdTLS) -> None:
    """Pre-encoded puts through a bare aiohttp session: the transport's own ceiling from Python."""
    connector = aiohttp.TCPConnector(limit=100, ssl=tls.ssl_context())
    value = base64.b64encode(VALUE)
    bodies = [
        b'{"key":"%s","value":"%s"}' % (base64.b64encode(f"/bench/k{i:04}".encode()), value)
        for i in range(1000)
    ]
    url = local.client_url + "/v3/kv/put"
    headers = {"Content-Type": "application/json"}
    async with aiohttp.ClientSession(connector=connector, trust_env=False) as session:

        async def put(i: int) -> None:
            async with session.post(url, data=bodies[i % 1000], headers=headers) as resp:
                await resp.read()

        await measure("raw gateway put (bare aiohttp)", put, 50, 10000, 6)


def check_perf(local: LocalEtcd, tls: EtcdTLS) -> None:
    etcdctl = shutil.which("etcdctl")
    if etcdctl is None:
        print("etcdctl check perf: etcdctl not installed; no raw bound measured")
        return
    env = {k: v for k, v in os.environ.items() if not k.startswith("ETCDCTL_")}
    env["ETCDCTL_API"] = "3"
    cmd = [
        etcdctl,
        f"--endpoints={local.client_url}",
        f"--cacert={tls.ca_file}",
        f"--cert={tls.cert_file}",
        f"--key={tls.key_file}",
        "check",
        "perf",
        "--load=s",
    ]
    out = subprocess.run(cmd, capture_output=True, text=True, env=env, timeout=90, check=False)
    # The progress bar and the verdicts share lines; keep only "PASS: ..." / "FAIL: ..." sentences.
    verdicts = re.findall(r"(?:PASS|FAIL)[^\n]*?(?=PASS|FAIL|$|\n)", out.stdout.replace("\r", "\n"))
    print("etcdctl check perf --load=s (gRPC, 60 s at a 150 writes/s target):")
    for line in verdicts or [out.stderr.strip()[-300:] or "(no output)"]:
        print("   ", line.strip())


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--check-perf", action="store_true", help="also run `etcdctl check perf` (60 s)")
    args = parser.parse_args()
    with tempfile.TemporaryDirectory(prefix="kubeprov-etcd-bench-") as tmp:
        root = Path(tmp)
        server_tls, client_tls = make_pki(root)
        local = LocalEtcd(root / "data", name=MEMBER.name, tls=server_tls)
        started = time.perf_counter()
        local.start()
        print(
            f"etcd {local.client_url} (TLS, client cert auth) up in {time.perf_counter() - started:.2f}s; "
            f"values of {len(VALUE)} bytes; python {sys.version.split()[0]}, aiohttp {aiohttp.__version__}"
        )
        try:
            asyncio.run(bench(local, client_tls))
            if args.check_perf:
                check_perf(local, client_tls)
            else:
                print(
                    "no etcdctl bound measured: `etcdctl check perf` takes a fixed 60 s at a capped rate "
                    "(run with --check-perf to add it)"
                )
        finally:
            local.stop()


if __name__ == "__main__":
    main()
