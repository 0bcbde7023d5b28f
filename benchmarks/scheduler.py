"""Scheduler throughput on 1,000 hollow nodes, and a 1,000-replica Deployment from creation to all Ready.

Run: ``.venv/bin/python benchmarks/scheduler.py [--nodes 1000] [--pods 10000] [--replicas 1000] [--quick]
[--profile FILE]``. It starts etcd and the API server as separate processes (``kubeprov dev up`` in a
temporary folder, whose own scheduler and controller manager it stops at once), registers the hollow
nodes from this process (an in-process :class:`~kubeprov.hollow.HollowFleet` with long lease and status
intervals), prints figures and stops everything.

Figures:
* **scheduling throughput**: the pods are created up front, naming a scheduler that does not run yet;
  then our scheduler starts as its own process (``python -m kubeprov.scheduler``) and the pods bound
  per second, first bind to last bind, are seen through a watch. As in kube-scheduler's
  scheduler_perf, no kubelet runs during this phase (the fleet registered the Nodes and stopped), so
  the figure is the scheduler's and the API server's. It is printed beside the 100-300 pods/s that
  Kubernetes publishes for kube-scheduler at this scale (SLO of 100 pods/s for 5,000 nodes; scheduler_perf
  reports in that range for 1,000-5,000 nodes), with the ratio to both ends;
* **Deployment to Ready**: the fleet runs again (its kubelets take over the Nodes), the replicaset and
  deployment controllers run as ``python -m kubeprov.controllers`` and the scheduler as before; the time
  from creating a Deployment of ``--replicas`` to ``readyReplicas`` reaching it.

``--profile FILE`` runs the throughput phase's scheduler under cProfile (``FILE`` gets the stats).
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import os
import shutil
import signal
import subprocess
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from kubeprov.api.client import ApiClient
from kubeprov.api.status import StatusError
from kubeprov.etcd.local import free_port
from kubeprov.hollow import HollowFleet, HollowNodeSpec
from kubeprov.lifecycle.dev import dev_down, dev_up
from kubeprov.lifecycle.devprocs import ProcessTable, is_ours

NS = "bench"
BENCH_SCHEDULER = "bench-scheduler"
CONCURRENCY = 50
KUBE_SCHEDULER_PODS_PER_SECOND = (100.0, 300.0)
# no node lifecycle controller runs: heartbeats only need to exist, not to be frequent
LEASE_INTERVAL, STATUS_INTERVAL = 300.0, 3600.0


def pod(name: str) -> dict[str, Any]:
    return {"apiVersion": "v1", "kind": "Pod", "metadata": {"name": name, "labels": {"app": "throughput"}},
            "spec": {"schedulerName": BENCH_SCHEDULER,
                     "containers": [{"name": "app", "image": "registry.local/app:1.0",
                                     "resources": {"requests": {"cpu": "10m", "memory": "16Mi"}}}]}}


def deployment(replicas: int) -> dict[str, Any]:
    labels = {"app": "ready"}
    return {"apiVersion": "apps/v1", "kind": "Deployment", "metadata": {"name": "ready"},
            "spec": {"replicas": replicas, "selector": {"matchLabels": labels},
                     "template": {"metadata": {"labels": labels},
                                  "spec": {"containers": [{"name": "app", "image": "registry.local/app:1.0",
                                                           "resources": {"requests": {"cpu": "10m",
                                                                                      "memory": "16Mi"}}}]}}}}


def node_specs(count: int) -> list[HollowNodeSpec]:
    return [HollowNodeSpec(f"bench-{i:04d}", zone=f"zone-{i % 3}") for i in range(count)]


class Component:
    """One control-plane process this benchmark started (and alone stops)."""

    def __init__(self, folder: Path, name: str, module: str, config: str, profile: Path | None = None) -> None:
        path = folder / f"{name}.yaml"
        path.write_text(config)
        runner = ["-m", "cProfile", "-o", str(profile)] if profile else []
        self.log = folder / f"{name}.log"
        with open(self.log, "ab") as out:
            self.proc = subprocess.Popen([sys.executable, *runner, "-m", module, "--config", str(path)],
                                         stdin=subprocess.DEVNULL, stdout=out, stderr=out, start_new_session=True)

    def stop(self) -> None:
        if self.proc.poll() is None:
            self.proc.send_signal(signal.SIGINT)
            try:
                self.proc.wait(30)
            except subprocess.TimeoutExpired:
                self.proc.kill()
                self.proc.wait()


def scheduler_config(kubeconfig: Path, name: str) -> str:
    return (f"kubeconfig: {kubeconfig}\nscheduler_name: {name}\nleader_elect: false\nhealth_port: 0\n"
            "log_level: warning\n")


def controllers_config(kubeconfig: Path, ca: Path) -> str:
    return (f"kubeconfig: {kubeconfig}\ncontrollers: [replicaset, deployment]\nleader_elect: false\n"
            f"health_port: 0\nca_file: {ca}\n")


def stop_dev_components(directory: Path) -> None:
    """`dev up` started its own scheduler and controller manager: this benchmark runs its own instead."""
    for record in ProcessTable(directory / "processes.json").load():
        if record.name in ("scheduler", "controller-manager") and is_ours(record):
            os.kill(record.pid, signal.SIGTERM)


async def run_concurrently(count: int, op: Any, concurrency: int = CONCURRENCY) -> float:
    started = time.perf_counter()
    queue: asyncio.Queue[int] = asyncio.Queue()
    for i in range(count):
        queue.put_nowait(i)

    async def worker() -> None:
        while not queue.empty():
            await op(queue.get_nowait())

    await asyncio.gather(*(worker() for _ in range(concurrency)))
    return time.perf_counter() - started


async def watch_binds(client: ApiClient, resource_version: str, total: int, times: list[float]) -> None:
    """Append the local time of each pod's first event showing it bound, until ``total`` are."""
    seen: set[str] = set()
    rv = resource_version
    while len(seen) < total:
        async for kind, obj in client.watch("v1", "pods", NS, resource_version=rv):
            meta = obj.get("metadata") or {}
            rv = meta.get("resourceVersion") or rv
            if kind in ("ADDED", "MODIFIED") and (obj.get("spec") or {}).get("nodeName"):
                if meta["name"] not in seen:
                    seen.add(meta["name"])
                    times.append(time.perf_counter())
                    if len(seen) >= total:
                        return


async def throughput(client: ApiClient, folder: Path, kubeconfig: Path, args: argparse.Namespace) -> None:
    elapsed = await run_concurrently(args.pods, lambda i: client.create("v1", "pods", pod(f"p-{i:05d}"), NS))
    print(f"  {args.pods} pending pods created in {elapsed:.1f}s ({args.pods / elapsed:.0f}/s)")
    listed = await client.list("v1", "pods", NS, limit=1)
    binds: list[float] = []
    watcher = asyncio.create_task(watch_binds(client, listed["metadata"]["resourceVersion"], args.pods, binds))
    started = time.perf_counter()
    scheduler = Component(folder, "bench-scheduler", "kubeprov.scheduler",
                          scheduler_config(kubeconfig, BENCH_SCHEDULER), profile=args.profile)
    try:
        await asyncio.wait_for(watcher, args.timeout)
    except TimeoutError:
        print(f"  only {len(binds)} of {args.pods} pods were bound within {args.timeout:g}s")
    finally:
        scheduler.stop()
    if len(binds) < 2:
        raise SystemExit(f"too few binds to measure; see {scheduler.log}")
    span = binds[-1] - binds[0]
    rate = (len(binds) - 1) / span if span > 0 else float("inf")
    low, high = KUBE_SCHEDULER_PODS_PER_SECOND
    print(f"  scheduler start -> first bind {binds[0] - started:.1f}s (process start, informer sync)")
    print(f"  scheduled {len(binds)} pods in {span:.1f}s (first to last bind): {rate:.0f} pods/s")
    print(f"  kube-scheduler published: {low:.0f}-{high:.0f} pods/s at this scale -> ratio "
          f"{rate / low:.2f}x of {low:.0f}, {rate / high:.2f}x of {high:.0f}")
    if args.profile:
        print(f"  cProfile stats of the scheduler process: {args.profile}")
    await client.delete_collection("v1", "pods", NS, grace_period_seconds=0)


async def watch_milestones(client: ApiClient, resource_version: str, total: int, started: float,
                           out: dict[str, float]) -> None:
    """When the Deployment's pods were all created, all bound and all Ready (seconds after ``started``)."""
    created: set[str] = set()
    bound: set[str] = set()
    ready: set[str] = set()
    async for kind, obj in client.watch("v1", "pods", NS, resource_version=resource_version,
                                        label_selector="app=ready"):
        if kind not in ("ADDED", "MODIFIED"):
            continue
        name = obj["metadata"]["name"]
        created.add(name)
        if (obj.get("spec") or {}).get("nodeName"):
            bound.add(name)
        if any(c.get("type") == "Ready" and c.get("status") == "True"
               for c in (obj.get("status") or {}).get("conditions") or []):
            ready.add(name)
        for label, names in (("created", created), ("bound", bound), ("ready", ready)):
            if label not in out and len(names) >= total:
                out[label] = time.perf_counter() - started
        if len(out) == 3:
            return


async def deployment_ready(client: ApiClient, folder: Path, kubeconfig: Path, ca: Path,
                           args: argparse.Namespace) -> None:
    fleet = HollowFleet(client, node_specs(args.nodes), lease_interval=LEASE_INTERVAL,
                        status_interval=STATUS_INTERVAL)
    await fleet.start()
    components = [Component(folder, "controllers", "kubeprov.controllers", controllers_config(kubeconfig, ca)),
                  Component(folder, "scheduler", "kubeprov.scheduler", scheduler_config(kubeconfig,
                                                                                       "default-scheduler"))]
    watcher: asyncio.Task[None] | None = None
    try:
        await asyncio.sleep(3)  # both processes list and sync their informers before the clock starts
        listed = await client.list("v1", "pods", NS, limit=1)
        started = time.perf_counter()
        milestones: dict[str, float] = {}
        watcher = asyncio.create_task(watch_milestones(client, listed["metadata"]["resourceVersion"],
                                                       args.replicas, started, milestones))
        await client.create("apps/v1", "deployments", deployment(args.replicas), NS)
        ready = 0
        deadline = started + args.timeout
        while time.perf_counter() < deadline:
            status = (await client.get("apps/v1", "deployments", "ready", NS)).get("status") or {}
            ready = status.get("readyReplicas") or 0
            if ready >= args.replicas:
                break
            await asyncio.sleep(0.25)
        took = time.perf_counter() - started
        if ready >= args.replicas:
            print(f"  Deployment of {args.replicas} replicas all Ready in {took:.1f}s "
                  f"({args.replicas / took:.0f} pods/s end to end)")
            with contextlib.suppress(TimeoutError):
                await asyncio.wait_for(asyncio.shield(watcher), 5)
            print("  all pods created after {created:.1f}s, all bound after {bound:.1f}s, all Ready (pod "
                  "condition) after {ready:.1f}s".format(**{k: milestones.get(k, float("nan"))
                                                           for k in ("created", "bound", "ready")}))
        else:
            print(f"  Deployment: only {ready} of {args.replicas} Ready after {took:.0f}s")
    finally:
        if watcher is not None:
            watcher.cancel()
        for component in components:
            component.stop()
        await fleet.stop()


async def bench(args: argparse.Namespace, folder: Path) -> None:
    cluster = dev_up(folder / "dev", port=free_port())
    stop_dev_components(cluster.directory)
    kubeconfig = cluster.directory / "kubeconfigs" / "admin.conf"
    ca = cluster.directory / "pki" / "ca.crt"
    print(f"kubeprov scheduler benchmark: {args.nodes} hollow nodes, {args.pods} pods, "
          f"a Deployment of {args.replicas}")
    try:
        async with ApiClient.from_kubeconfig(kubeconfig, user_agent="kubeprov-bench") as client:
            await client.create("v1", "namespaces", {"metadata": {"name": NS}})
            await client.create("v1", "serviceaccounts", {"metadata": {"name": "default"}}, NS)
            started = time.perf_counter()
            fleet = HollowFleet(client, node_specs(args.nodes), lease_interval=LEASE_INTERVAL,
                                status_interval=STATUS_INTERVAL)
            await fleet.start()
            await fleet.stop()  # the Nodes stay; no kubelet runs while the scheduler is measured
            print(f"  {args.nodes} hollow nodes registered in {time.perf_counter() - started:.1f}s")
            print("scheduling throughput")
            await throughput(client, folder, kubeconfig, args)
            print("Deployment to Ready (replicaset + deployment controllers, scheduler, hollow kubelets)")
            await deployment_ready(client, folder, kubeconfig, ca, args)
    except StatusError as exc:
        raise SystemExit(f"API error: {exc}") from None
    finally:
        dev_down(cluster.directory)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--nodes", type=int, default=1000, help="hollow nodes")
    parser.add_argument("--pods", type=int, default=10000, help="pending pods for the throughput phase")
    parser.add_argument("--replicas", type=int, default=1000, help="replicas of the Deployment phase")
    parser.add_argument("--quick", action="store_true", help="a small run: 50 nodes, 500 pods, 100 replicas")
    parser.add_argument("--timeout", type=float, default=600.0, help="seconds each phase may take")
    parser.add_argument("--profile", type=Path, default=None, help="cProfile the throughput phase's scheduler")
    parser.add_argument("--keep", action="store_true", help="keep the temporary folder (logs)")
    args = parser.parse_args()
    if args.quick:
        args.nodes, args.pods, args.replicas = 50, 500, 100
    if args.profile:
        args.profile = args.profile.resolve()
    folder = Path(tempfile.mkdtemp(prefix="kubeprov-bench-scheduler-"))
    try:
        asyncio.run(bench(args, folder))
    finally:
        if args.keep:
            print(f"logs kept in {folder}")
        else:
            shutil.rmtree(folder, ignore_errors=True)


if __name__ == "__main__":
    main()
