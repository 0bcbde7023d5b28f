"""Cluster DNS throughput: queries per second our server answers for a Service name.

Run: ``.venv/bin/python benchmarks/dns.py [--seconds 10] [--window 64] [--services 1000]``. It starts etcd
and the API server (``kubeprov dev up`` in a temporary folder, whose scheduler and controller manager it
stops), creates ``--services`` ClusterIP Services, runs our DNS server as its own process
(``python -m kubeprov.dns --config FILE`` on 127.0.0.1 and a free port), waits until it answers the
last Service, then asks for one Service's A record for ``--seconds``.

The load comes from ``dnsperf`` (dig's sibling from the same DNS tooling family) when it is installed,
else from a small asyncio UDP generator of our own in this process: ``--window`` queries in flight on
one socket, each answer (matched by id) sending the next query, lost ones re-sent after 1 s. The figure
printed is answered queries per second, with the answers checked (NOERROR, the Service's ClusterIP).
"""

from __future__ import annotations

import argparse
import asyncio
import os
import re
import shutil
import signal
import subprocess
import sys
import tempfile
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from kubeprov.api.client import ApiClient
from kubeprov.dns.wire import Message, Question, Rcode, Type, decode, encode
from kubeprov.etcd.local import free_port
from kubeprov.lifecycle.dev import dev_down, dev_up
from kubeprov.lifecycle.devprocs import ProcessTable, is_ours

NS = "bench-dns"


def stop_dev_components(directory: Path) -> None:
    """Only etcd and the API server are needed."""
    for record in ProcessTable(directory / "processes.json").load():
        if record.name in ("scheduler", "controller-manager") and is_ours(record):
            os.kill(record.pid, signal.SIGTERM)


async def ask(port: int, name: str) -> Message | None:
    loop = asyncio.get_running_loop()
    future: asyncio.Future[bytes] = loop.create_future()

    class Once(asyncio.DatagramProtocol):
        def datagram_received(self, data: bytes, addr: object) -> None:
            if not future.done():
                future.set_result(data)

    transport, _ = await loop.create_datagram_endpoint(Once, remote_addr=("127.0.0.1", port))
    try:
        transport.sendto(encode(Message(id=1, questions=[Question(name, Type.A)])))
        async with asyncio.timeout(1.0):
            return decode(await future)
    except TimeoutError:
        return None
    finally:
        transport.close()


class Load(asyncio.DatagramProtocol):
    """Keeps ``window`` queries in flight; counts good answers."""

    def __init__(self, name: str, expected: str, window: int) -> None:
        self.queries = {i: encode(Message(id=i, rd=True, questions=[Question(name, Type.A)])) for i in range(window)}
        self.expected = expected
        self.sent_at: dict[int, float] = {}
        self.answered = 0
        self.bad = 0
        self.transport: asyncio.DatagramTransport | None = None
        self.running = True

    def connection_made(self, transport: asyncio.BaseTransport) -> None:
        self.transport = transport  # type: ignore[assignment]

    def send(self, ident: int) -> None:
        assert self.transport is not None
        self.sent_at[ident] = time.monotonic()
        self.transport.sendto(self.queries[ident])

    def datagram_received(self, data: bytes, addr: object) -> None:
        ident = int.from_bytes(data[:2], "big")
        if ident not in self.sent_at:
            return
        reply = decode(data)
        if reply.rcode == Rcode.NOERROR and [rr.data for rr in reply.answers] == [self.expected]:
            self.answered += 1
        else:
            self.bad += 1
        if self.running:
            self.send(ident)

    async def resend_lost(self) -> None:
        while self.running:
            await asyncio.sleep(0.5)
            now = time.monotonic()
            for ident, at in list(self.sent_at.items()):
                if now - at > 1.0:
                    self.send(ident)


async def own_generator(port: int, name: str, expected: str, seconds: float, window: int) -> tuple[float, int]:
    loop = asyncio.get_running_loop()
    transport, load = await loop.create_datagram_endpoint(lambda: Load(name, expected, window),
                                                          remote_addr=("127.0.0.1", port))
    resender = asyncio.create_task(load.resend_lost())
    started = time.perf_counter()
    for ident in load.queries:
        load.send(ident)
    await asyncio.sleep(seconds)
    answered, elapsed = load.answered, time.perf_counter() - started
    load.running = False
    resender.cancel()
    transport.close()
    return answered / elapsed, load.bad


def dnsperf(dnsperf_bin: str, port: int, name: str, seconds: float, folder: Path) -> float:
    queries = folder / "queries.txt"
    queries.write_text(f"{name} A\n")
    out = subprocess.run([dnsperf_bin, "-s", "127.0.0.1", "-p", str(port), "-d", str(queries), "-l", str(seconds)],
                         capture_output=True, text=True, check=True).stdout
    match = re.search(r"Queries per second:\s+([\d.]+)", out)
    if not match:
        raise SystemExit(f"cannot read dnsperf's output:\n{out}")
    return float(match.group(1))


async def bench(args: argparse.Namespace, folder: Path) -> None:
    cluster = dev_up(folder / "dev", port=free_port())
    stop_dev_components(cluster.directory)
    kubeconfig = cluster.directory / "kubeconfigs" / "admin.conf"
    dns_port, health_port = free_port(), free_port()
    config = folder / "dns.yaml"
    config.write_text(f"kubeconfig: {kubeconfig}\nlisten_address: 127.0.0.1\nport: {dns_port}\n"
                      f"health_port: {health_port}\nlog_level: warning\n")
    proc: subprocess.Popen[bytes] | None = None
    try:
        async with ApiClient.from_kubeconfig(kubeconfig, user_agent="kubeprov-bench") as client:
            await client.create("v1", "namespaces", {"metadata": {"name": NS}})
            ips = []
            for i in range(args.services):
                svc = await client.create("v1", "services", {"metadata": {"name": f"svc-{i}"}, "spec": {
                    "selector": {"app": f"a{i}"}, "ports": [{"name": "http", "port": 80}]}}, NS)
                ips.append(svc["spec"]["clusterIP"])
        with (folder / "dns.log").open("wb") as log:
            proc = subprocess.Popen([sys.executable, "-m", "kubeprov.dns", "--config", str(config)],
                                    stdout=log, stderr=subprocess.STDOUT)
        last = f"svc-{args.services - 1}.{NS}.svc.cluster.local"
        started = time.perf_counter()
        while True:
            reply = await ask(dns_port, last)
            if reply is not None and [rr.data for rr in reply.answers] == [ips[-1]]:
                break
            if time.perf_counter() - started > 60 or proc.poll() is not None:
                raise SystemExit(f"the DNS server did not answer {last}; see {folder / 'dns.log'}")
            await asyncio.sleep(0.1)
        print(f"kubeprov cluster DNS benchmark: {args.services} Services; server answering after "
              f"{time.perf_counter() - started:.1f}s")
        name = f"svc-0.{NS}.svc.cluster.local"
        tool = shutil.which("dnsperf")
        if tool:
            qps = dnsperf(tool, dns_port, name, args.seconds, folder)
            print(f"  dnsperf, {args.seconds:.0f}s, A {name}: {qps:,.0f} queries/s")
        else:
            qps, bad = await own_generator(dns_port, name, ips[0], args.seconds, args.window)
            print(f"  own asyncio UDP load ({args.window} in flight, {args.seconds:.0f}s; dnsperf not installed), "
                  f"A {name}: {qps:,.0f} queries/s answered ({bad} wrong answers)")
    finally:
        if proc is not None:
            proc.terminate()
            try:
                proc.wait(10)
            except subprocess.TimeoutExpired:
                proc.kill()
                proc.wait()
        dev_down(cluster.directory)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--seconds", type=float, default=10.0, help="how long to send queries")
    parser.add_argument("--window", type=int, default=64, help="queries in flight (own generator)")
    parser.add_argument("--services", type=int, default=1000, help="Services in the cluster")
    parser.add_argument("--keep", action="store_true", help="keep the temporary folder (logs)")
    args = parser.parse_args()
    folder = Path(tempfile.mkdtemp(prefix="kubeprov-bench-dns-"))
    try:
        asyncio.run(bench(args, folder))
    finally:
        if args.keep:
            print(f"logs kept in {folder}")
        else:
            shutil.rmtree(folder, ignore_errors=True)


if __name__ == "__main__":
    main()
