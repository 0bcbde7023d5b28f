"""Pod startup latency on a real node, and Service failover time after a backend pod is killed.

Run (root): ``.venv/bin/python benchmarks/pods.py [--pods 50] [--quick] [--keep]``. It runs ``kubeprov dev up
--kubelet`` in a temporary folder (etcd, control plane, kubelet, DNS, registry, proxy as processes), prints
figures and always ends with ``dev down`` (pods, interfaces and cgroups removed), also on failure.

Figures:
* **pod startup latency** (Kubernetes' SLI): for pods whose image is already cached (one warm-up pod pulls
  it first), from the pod's ``creationTimestamp`` to its ``Ready`` condition's ``lastTransitionTime``, p50
  and p99 over ``--pods`` pods created at once, printed beside the SLO (p99 <= 5 s). Both stamps have
  second resolution, as metav1.Time does, so the same latency is also printed as this process saw it (create
  request sent to the watch event showing Ready), in milliseconds;
* **Service failover** (when the service proxy runs): 3 web pods behind a Service; requests go to the
  ClusterIP from the host every 20 ms; one backend pod is deleted with grace period 0 (a crash as far as
  the Service is concerned); the time until requests stop failing and stop reaching the dead pod (the
  first of 25 answers in a row from live pods), and how many failed meanwhile.
"""

from __future__ import annotations

import argparse
import asyncio
import os
import shutil
import socket
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from kubeprov.api.client import ApiClient, ApiConnectionError
from kubeprov.api.status import StatusError
from kubeprov.controllers.timestamps import parse_time
from kubeprov.errors import KubeprovError
from kubeprov.etcd.local import free_port
from kubeprov.lifecycle.dev import dev_down_all, dev_up
from kubeprov.lifecycle.devhost import mounts_under
from kubeprov.lifecycle.devnode import proxy_available

NS = "bench"
BUSYBOX = "registry.local/busybox:1"
WEB = "registry.local/web:1"
IDLE = 'trap "exit 0" TERM; while true; do sleep 1; done'
SLO_P99_SECONDS = 5.0
CONCURRENCY = 10
HEALTHY_IN_A_ROW = 25
Obj = dict[str, Any]


def idle_pod(name: str) -> Obj:
    return {"apiVersion": "v1", "kind": "Pod", "metadata": {"name": name, "labels": {"bench": "startup"}},
            "spec": {"terminationGracePeriodSeconds": 2, "automountServiceAccountToken": False,
                     "containers": [{"name": "main", "image": BUSYBOX, "imagePullPolicy": "IfNotPresent",
                                     "command": ["sh", "-c", IDLE]}]}}


def ready_since(pod: Obj) -> str:
    for c in (pod.get("status") or {}).get("conditions") or []:
        if c.get("type") == "Ready" and c.get("status") == "True":
            return str(c.get("lastTransitionTime") or "")
    return ""


def percentile(values: list[float], q: float) -> float:
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, max(0, round(q / 100 * len(ordered) + 0.5) - 1))]


async def wait_for(check: Any, timeout: float, what: str) -> Any:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        try:
            result = await check()
        except StatusError as exc:
            if exc.code != 404:
                raise
            result = None
        if result:
            return result
        await asyncio.sleep(0.2)
    raise SystemExit(f"timed out after {timeout:g}s waiting for {what}")


async def prepare_namespace(client: ApiClient) -> None:
    await client.create("v1", "namespaces", {"metadata": {"name": NS}})
    await wait_for(lambda: client.get("v1", "serviceaccounts", "default", NS), 60, "the default ServiceAccount")


async def startup_latency(client: ApiClient, count: int, timeout: float) -> None:
    warm = idle_pod("warm-up")
    await client.create("v1", "pods", warm, NS)
    await wait_for(lambda: _ready(client, "warm-up"), timeout, "the warm-up pod (image pull)")
    await client.delete("v1", "pods", "warm-up", NS)

    seen: dict[str, float] = {}
    bound: dict[str, float] = {}
    sent: dict[str, float] = {}
    watcher = asyncio.create_task(_watch_ready(client, seen, bound))
    gate = asyncio.Semaphore(CONCURRENCY)

    async def create(name: str) -> None:
        async with gate:
            sent[name] = time.perf_counter()
            await client.create("v1", "pods", idle_pod(name), NS)

    names = [f"start-{i:03d}" for i in range(count)]
    started = time.perf_counter()
    try:
        await asyncio.gather(*(create(n) for n in names))
        deadline = time.monotonic() + timeout
        while len([n for n in names if n in seen]) < count and time.monotonic() < deadline:
            await asyncio.sleep(0.2)
    finally:
        watcher.cancel()
    took = time.perf_counter() - started
    pods = {p["metadata"]["name"]: p for p in (await client.list_all("v1", "pods", namespace=NS))[0]}
    by_stamps = [parse_time(ready_since(pods[n])) - parse_time(pods[n]["metadata"]["creationTimestamp"])
                 for n in names if n in pods and ready_since(pods[n])]
    observed = [seen[n] - sent[n] for n in names if n in seen and n in sent]
    scheduled = [bound[n] - sent[n] for n in names if n in bound and n in sent]
    print(f"pod startup latency, {count} pods created at once (cached image), all Ready after {took:.1f}s")
    if len(by_stamps) < count:
        print(f"  only {len(by_stamps)} of {count} pods became Ready within {timeout:g}s")
    if by_stamps:
        p50, p99 = percentile(by_stamps, 50), percentile(by_stamps, 99)
        verdict = "meets" if p99 <= SLO_P99_SECONDS else "misses"
        print(f"  creationTimestamp -> Ready (1 s stamps): p50 {p50:.0f}s  p99 {p99:.0f}s   "
              f"SLO p99 <= {SLO_P99_SECONDS:g}s: {verdict}")
    if observed:
        print(f"  as observed (create sent -> Ready watched): p50 {percentile(observed, 50) * 1000:.0f} ms  "
              f"p99 {percentile(observed, 99) * 1000:.0f} ms  max {max(observed) * 1000:.0f} ms")
    if scheduled:
        print(f"  of which create sent -> bound to the node: p50 {percentile(scheduled, 50) * 1000:.0f} ms  "
              f"p99 {percentile(scheduled, 99) * 1000:.0f} ms")
    await client.delete_collection("v1", "pods", NS, label_selector="bench=startup")


async def _ready(client: ApiClient, name: str) -> bool:
    return bool(ready_since(await client.get("v1", "pods", name, NS)))


async def _watch_ready(client: ApiClient, seen: dict[str, float], bound: dict[str, float]) -> None:
    """Note when each pod is first seen bound to the node and Ready (this process's clock)."""
    while True:
        try:
            async for _kind, pod in client.watch("v1", "pods", namespace=NS):
                name = (pod.get("metadata") or {}).get("name", "")
                if name not in bound and (pod.get("spec") or {}).get("nodeName"):
                    bound[name] = time.perf_counter()
                if name not in seen and ready_since(pod):
                    seen[name] = time.perf_counter()
        except (StatusError, ApiConnectionError):
            await asyncio.sleep(0.2)


def ask(address: str, port: int = 80) -> str:
    """One HTTP/1.0 GET to ``address``; the answering pod's name ('' on any failure)."""
    try:
        with socket.create_connection((address, port), timeout=1.0) as sock:
            sock.settimeout(1.0)
            sock.sendall(b"GET / HTTP/1.0\r\n\r\n")
            data = b""
            while chunk := sock.recv(4096):
                data += chunk
    except OSError:
        return ""
    text = data.decode(errors="replace")
    return text.rsplit(" ", 1)[-1].strip() if text.startswith("HTTP/1.1 200") else ""


async def failover(client: ApiClient, timeout: float) -> None:
    labels = {"app": "failover"}
    container = {"name": "web", "image": WEB, "ports": [{"containerPort": 8080}],
                 "env": [{"name": "POD_NAME", "valueFrom": {"fieldRef": {"fieldPath": "metadata.name"}}}],
                 "readinessProbe": {"tcpSocket": {"port": 8080}, "periodSeconds": 1}}
    await client.create("apps/v1", "deployments", {
        "metadata": {"name": "failover"},
        "spec": {"replicas": 3, "selector": {"matchLabels": labels},
                 "template": {"metadata": {"labels": labels},
                              "spec": {"terminationGracePeriodSeconds": 2, "containers": [container]}}}}, NS)
    service = await client.create("v1", "services", {
        "metadata": {"name": "failover"},
        "spec": {"selector": labels, "ports": [{"port": 80, "targetPort": 8080}]}}, NS)
    address = service["spec"]["clusterIP"]

    async def all_answer() -> set[str]:
        pods, _ = await client.list_all("v1", "pods", namespace=NS, label_selector="app=failover")
        names = {p["metadata"]["name"] for p in pods if ready_since(p)}
        answered = {await asyncio.to_thread(ask, address) for _ in range(30)} if len(names) == 3 else set()
        return names if answered >= names else set()

    names = await wait_for(all_answer, timeout, "3 web pods answering on the ClusterIP")
    victim = sorted(names)[0]
    killed = time.perf_counter()
    await client.delete("v1", "pods", victim, NS, grace_period_seconds=0)
    failures, in_a_row, recovered = 0, 0, 0.0
    while time.perf_counter() - killed < timeout:
        answer = await asyncio.to_thread(ask, address)
        if answer and answer != victim:
            in_a_row += 1
            if in_a_row == 1:
                recovered = time.perf_counter() - killed
            if in_a_row >= HEALTHY_IN_A_ROW:
                break
        else:
            failures += not answer
            in_a_row = 0
        await asyncio.sleep(0.02)
    print("Service failover (3 backends, one deleted with grace 0, requests to the ClusterIP every 20 ms)")
    if in_a_row >= HEALTHY_IN_A_ROW:
        print(f"  healthy again after {recovered * 1000:.0f} ms ({failures} failed requests meanwhile)")
    else:
        print(f"  not healthy within {timeout:g}s ({failures} failed requests)")


async def bench(args: argparse.Namespace, directory: Path) -> None:
    cluster = await asyncio.to_thread(dev_up, directory, free_port(), 0, False, True)
    async with ApiClient.from_kubeconfig(cluster.kubeconfig, user_agent="kubeprov-bench") as client:
        await prepare_namespace(client)
        await startup_latency(client, args.pods, args.timeout)
        if proxy_available():
            await failover(client, args.timeout)
        else:
            print("Service failover: skipped, the service proxy is not part of this build")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--pods", type=int, default=50, help="pods created at once for the startup latency")
    parser.add_argument("--quick", action="store_true", help="a small run: 10 pods")
    parser.add_argument("--timeout", type=float, default=180.0, help="seconds each phase may take")
    parser.add_argument("--keep", action="store_true", help="keep the temporary folder (logs)")
    args = parser.parse_args()
    if args.quick:
        args.pods = 10
    if os.geteuid() != 0:
        raise SystemExit("benchmarks/pods.py runs a real kubelet: run it as root")
    folder = Path(tempfile.mkdtemp(prefix="kubeprov-bench-pods-"))
    directory = folder / "dev"
    try:
        asyncio.run(bench(args, directory))
    except KubeprovError as err:
        raise SystemExit(f"error: {err}") from None
    finally:
        stopped, removed = dev_down_all(directory)
        print(f"dev down: stopped {len(stopped)} processes; removed: {', '.join(removed) or 'nothing'}")
        if args.keep or mounts_under(folder):
            print(f"logs kept in {folder}")
        else:
            shutil.rmtree(folder)


if __name__ == "__main__":
    main()
