"""API server throughput, latency, list and watch fan-out, against raw etcd in the same run.

Run: ``.venv/bin/python benchmarks/apiserver.py [--pods 10000] [--watchers 1000]``. It starts its own
etcd and API server (as separate processes, through ``kubeprov dev up``) in a temporary folder, drives
them from this process over TLS with the admin client certificate, prints figures and stops them.

Figures:
* pod creates/s through the API server at concurrency 50, and raw etcd puts/s of the same pod JSON
  with the same concurrency through kubeprov's etcd client: the ratio is what the API server costs
  (TLS, authn/authz, decoding, defaulting, validation, managedFields, encoding);
* p50/p99 latency of single-object create, get and update with 50 concurrent clients;
* a full list of N pods, from etcd (resourceVersion unset) and from the watch cache (resourceVersion=0);
* the delay for one event to reach every one of W watchers (first and last delivery).
"""

from __future__ import annotations

import argparse
import asyncio
import json
import shutil
import ssl
import statistics
import sys
import tempfile
import time
from pathlib import Path

import aiohttp
import yaml

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from kubeprov.etcd import EtcdClient, EtcdTLS
from kubeprov.etcd.local import free_port
from kubeprov.lifecycle.dev import dev_down, dev_up

CONCURRENCY = 50
NS = "bench"


def pod(name: str) -> dict:
    return {"apiVersion": "v1", "kind": "Pod",
            "metadata": {"name": name, "namespace": NS, "labels": {"app": "bench", "tier": "web"}},
            "spec": {"containers": [{"name": "web", "image": "registry.local/web:1.0",
                                     "ports": [{"containerPort": 8080}],
                                     "resources": {"requests": {"cpu": "10m", "memory": "16Mi"}}}]}}


def percentile(values: list[float], q: float) -> float:
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, int(q * len(ordered)))] * 1000


class Api:
    def __init__(self, url: str, ssl_ctx: ssl.SSLContext, session: aiohttp.ClientSession) -> None:
        self.url, self.ssl, self.session = url, ssl_ctx, session

    async def request(self, method: str, path: str, body: dict | None = None) -> tuple[int, bytes]:
        async with self.session.request(method, self.url + path, ssl=self.ssl,
                                        data=json.dumps(body) if body is not None else None,
                                        headers={"Content-Type": "application/json"}) as resp:
            return resp.status, await resp.read()

    async def create(self, path: str, body: dict) -> None:
        """A create that must succeed: a benchmark of failing requests measures nothing."""
        status, answer = await self.request("POST", path, body)
        if status != 201:
            raise SystemExit(f"POST {path} answered {status}: {answer[:300]!r}")


def client_ssl(kubeconfig: Path, folder: Path) -> ssl.SSLContext:
    import base64

    doc = yaml.safe_load(kubeconfig.read_text())
    user = doc["users"][0]["user"]
    cluster = doc["clusters"][0]["cluster"]
    (folder / "ca.pem").write_bytes(base64.b64decode(cluster["certificate-authority-data"]))
    (folder / "client.pem").write_bytes(base64.b64decode(user["client-certificate-data"]))
    (folder / "client.key").write_bytes(base64.b64decode(user["client-key-data"]))
    ctx = ssl.create_default_context(cafile=str(folder / "ca.pem"))
    ctx.load_cert_chain(str(folder / "client.pem"), str(folder / "client.key"))
    return ctx


async def run_concurrently(count: int, op, concurrency: int = CONCURRENCY) -> tuple[float, list[float]]:
    """Run op(i) for i in range(count) with a fixed number of workers; (seconds, latencies)."""
    latencies: list[float] = []
    index = iter(range(count))

    async def worker() -> None:
        for i in index:
            t0 = time.perf_counter()
            await op(i)
            latencies.append(time.perf_counter() - t0)

    start = time.perf_counter()
    await asyncio.gather(*(worker() for _ in range(concurrency)))
    return time.perf_counter() - start, latencies


async def bench(args: argparse.Namespace, folder: Path) -> None:
    cluster = dev_up(folder / "cp", free_port())
    ctx = client_ssl(cluster.kubeconfig, folder)
    pki = folder / "cp" / "pki"
    etcd_endpoint = yaml.safe_load((folder / "cp" / "apiserver.yaml").read_text())["etcd_endpoints"][0]
    connector = aiohttp.TCPConnector(limit=0)
    async with aiohttp.ClientSession(connector=connector, timeout=aiohttp.ClientTimeout(total=None)) as session:
        api = Api(cluster.url, ctx, session)
        status, body = await api.request("POST", "/api/v1/namespaces",
                                         {"apiVersion": "v1", "kind": "Namespace", "metadata": {"name": NS}})
        assert status in (201, 409), body
        # what the controller manager's service-account controller does in every namespace
        account = {"apiVersion": "v1", "kind": "ServiceAccount", "metadata": {"name": "default"}}
        status, body = await api.request("POST", f"/api/v1/namespaces/{NS}/serviceaccounts", account)
        assert status in (201, 409), body
        # warm-up (connections, schema caches)
        await run_concurrently(100, lambda i: api.create(f"/api/v1/namespaces/{NS}/pods", pod(f"warm-{i}")))

        n = args.creates
        seconds, lat = await run_concurrently(
            n, lambda i: api.create(f"/api/v1/namespaces/{NS}/pods", pod(f"c-{i}")))
        api_rate = n / seconds
        print(f"pod creates through the API server, concurrency {CONCURRENCY}: {api_rate:8.0f}/s "
              f"(p50 {percentile(lat, 0.5):.1f} ms, p99 {percentile(lat, 0.99):.1f} ms)")

        raw_value = json.dumps(pod("raw")).encode()
        tls = EtcdTLS(pki / "etcd/ca.crt", pki / "apiserver-etcd-client.crt", pki / "apiserver-etcd-client.key")
        async with EtcdClient([etcd_endpoint], tls) as etcd:
            seconds_raw, lat_raw = await run_concurrently(
                n, lambda i: etcd.put(f"/bench-raw/{i}", raw_value))
            await etcd.delete("/bench-raw/", prefix=True)
        raw_rate = n / seconds_raw
        print(f"raw etcd puts of the same JSON, concurrency {CONCURRENCY}:     {raw_rate:8.0f}/s "
              f"(p50 {percentile(lat_raw, 0.5):.1f} ms, p99 {percentile(lat_raw, 0.99):.1f} ms)")
        print(f"ratio API server / raw etcd: {api_rate / raw_rate:.2f}")

        _, lat_get = await run_concurrently(
            n, lambda i: api.request("GET", f"/api/v1/namespaces/{NS}/pods/c-{i}"))

        async def update(i: int) -> None:
            patch_path = f"/api/v1/namespaces/{NS}/pods/c-{i}"
            async with session.patch(cluster.url + patch_path, ssl=ctx,
                                     data=json.dumps({"metadata": {"labels": {"round": "2"}}}),
                                     headers={"Content-Type": "application/merge-patch+json"}) as resp:
                await resp.read()

        _, lat_upd = await run_concurrently(n, update)
        for label, values in (("create", lat), ("get", lat_get), ("update (merge patch)", lat_upd)):
            print(f"latency {label:22s} at {CONCURRENCY} clients: p50 {percentile(values, 0.5):6.1f} ms, "
                  f"p99 {percentile(values, 0.99):6.1f} ms")

        total = args.pods
        have = n + 100
        if total > have:
            t0 = time.perf_counter()
            await run_concurrently(total - have, lambda i: api.create(f"/api/v1/namespaces/{NS}/pods", pod(f"l-{i}")))
            print(f"(filled to {total} pods in {time.perf_counter() - t0:.1f}s)")
        for label, query in (("from etcd (consistent)", ""), ("from the watch cache (resourceVersion=0)",
                                                              "?resourceVersion=0")):
            best = None
            for _ in range(3):
                t0 = time.perf_counter()
                status, body = await api.request("GET", f"/api/v1/namespaces/{NS}/pods{query}")
                took = (time.perf_counter() - t0) * 1000
                best = took if best is None else min(best, took)
            items = len(json.loads(body)["items"])
            print(f"list of {items} pods {label}: {best:.0f} ms ({len(body) / 1e6:.1f} MB)")

        await watch_fanout(api, session, ctx, cluster.url, args.watchers)


async def watch_fanout(api: Api, session: aiohttp.ClientSession, ctx: ssl.SSLContext, url: str, count: int) -> None:
    _, body = await api.request("GET", f"/api/v1/namespaces/{NS}/configmaps?limit=1")
    rv = json.loads(body)["metadata"]["resourceVersion"]
    arrivals: list[float] = []
    ready = asyncio.Event()
    opened = 0

    async def one() -> None:
        nonlocal opened
        path = f"{url}/api/v1/namespaces/{NS}/configmaps?watch=true&resourceVersion={rv}&timeoutSeconds=60"
        async with session.get(path, ssl=ctx) as resp:
            opened += 1
            if opened == count:
                ready.set()
            line = await resp.content.readline()
            arrivals.append(time.perf_counter())
            assert b'"ADDED"' in line, line

    tasks = [asyncio.create_task(one()) for _ in range(count)]
    await asyncio.wait_for(ready.wait(), 120)
    await asyncio.sleep(0.5)
    t0 = time.perf_counter()
    status, body = await api.request("POST", f"/api/v1/namespaces/{NS}/configmaps",
                                     {"apiVersion": "v1", "kind": "ConfigMap", "metadata": {"name": "fanout"},
                                      "data": {"k": "v"}})
    assert status == 201, body
    await asyncio.wait_for(asyncio.gather(*tasks), 120)
    first, last = min(arrivals) - t0, max(arrivals) - t0
    print(f"one event to {count} watchers: first after {first * 1000:.0f} ms, all after {last * 1000:.0f} ms "
          f"(median {statistics.median(a - t0 for a in arrivals) * 1000:.0f} ms)")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--creates", type=int, default=2000, help="objects for the create/get/update phases")
    parser.add_argument("--pods", type=int, default=10000, help="pods in the namespace for the list phase")
    parser.add_argument("--watchers", type=int, default=1000, help="concurrent watches for the fan-out phase")
    args = parser.parse_args()
    folder = Path(tempfile.mkdtemp(prefix="kubeprov-bench-"))
    try:
        asyncio.run(bench(args, folder))
    finally:
        dev_down(folder / "cp")
        shutil.rmtree(folder, ignore_errors=True)


if __name__ == "__main__":
    main()
