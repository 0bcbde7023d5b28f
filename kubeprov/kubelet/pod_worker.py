"""One pod's worker: sandbox, network and volumes, init containers in order, then the containers, restarts
with CrashLoopBackOff, status through pods/status, and graceful termination with cleanup.

The worker is level-driven: every sync looks at what the runtime says about the pod's containers and moves
it one step on (the kubelet's SyncPod), so a wake-up from the informer and a periodic tick do the same thing.
"""

from __future__ import annotations

import asyncio
import contextlib
import copy
import logging
import secrets
import shutil
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Protocol

from kubeprov.api.client import ApiClient
from kubeprov.api.status import StatusError
from kubeprov.controllers.timestamps import now_text, parse_epoch
from kubeprov.kubelet.env import resource_field_value, termination_message
from kubeprov.kubelet.hooks import run_handler
from kubeprov.kubelet.images.errors import ImagePullBackOffError, ImagePullError, backoff_key, pull_failed_message
from kubeprov.kubelet.images.hosts import credentials_from_pull_secrets
from kubeprov.kubelet.images.service import ImageService
from kubeprov.kubelet.network import dns
from kubeprov.kubelet.network.pod_network import PodNetwork
from kubeprov.kubelet.network.service_env import service_env_for_pod
from kubeprov.kubelet.node_status import capacity, read_machine
from kubeprov.kubelet.probes import Prober, run_probe
from kubeprov.kubelet.runtime.manager import CREATED, EXITED, RUNNING, ContainerRuntime, ContainerStatus
from kubeprov.kubelet.runtime.shim import rfc3339nano_ns
from kubeprov.kubelet.runtime.spec import BindMount, verify_run_as_non_root
from kubeprov.kubelet.volumes.manager import MountedVolume, VolumeManager, subpath_source

Obj = dict[str, Any]
log = logging.getLogger(__name__)

CRASH_BACKOFF_INITIAL = 10.0
CRASH_BACKOFF_MAX = 300.0
DEFAULT_GRACE = 30
# the kubelet always gives a container this long between SIGTERM and SIGKILL (unless force-deleted)
MINIMUM_GRACE = 2
CONTAINER_ID_PREFIX = "kubeprov://"
RESTART_COUNT_LABEL = "io.kubernetes.container.restartCount"
# where the container's termination message file is on the host (read back after a kubelet restart)
TERMINATION_FILE_LABEL = "io.kubeprov.container.terminationMessageHostPath"
# how often API-backed volume contents (configMap, secret, downwardAPI, tokens) are looked at again
VOLUME_REFRESH_SECONDS = 60.0
DEADLINE_REASON = "DeadlineExceeded"
DEADLINE_MESSAGE = "Pod was active on the node longer than the specified deadline"


class Recorder(Protocol):
    def event(self, obj: Obj, type: str, reason: str, message: str) -> None: ...


@dataclass
class PodDeps:
    """What every worker of one kubelet shares."""

    client: ApiClient
    runtime: ContainerRuntime
    images: ImageService
    network: PodNetwork
    volumes: VolumeManager
    recorder: Recorder
    node_name: str
    node_ip: str
    root: Path
    cluster_dns: dns.ClusterDNS = field(default_factory=dns.ClusterDNS)
    sync_interval: float = 1.0
    # how often configMap/secret/downwardAPI/projected volume contents are brought up to date
    volume_refresh: float = VOLUME_REFRESH_SECONDS


@dataclass
class _Container:
    """The worker's memory of one container of the pod (the runtime knows the rest)."""

    spec: Obj
    init: bool
    cid: str = ""
    previous: str = ""
    image_id: str = ""
    restarts: int = 0
    waiting: tuple[str, str] = ("ContainerCreating", "")
    last_terminated: Obj | None = None
    delay: float = 0.0
    restarted_at: float = 0.0
    readiness: Prober | None = None
    liveness: Prober | None = None
    startup: Prober | None = None
    # container ID -> the host file bind-mounted at its terminationMessagePath
    termination_files: dict[str, Path] = field(default_factory=dict)

    @property
    def started(self) -> bool:
        """Running and past its startup probe (if any): liveness and readiness run only from then on."""
        return self.startup is None or self.startup.result

    @property
    def name(self) -> str:
        return str(self.spec["name"])


def crash_message(delay: float, name: str, pod: Obj) -> str:
    meta = pod["metadata"]
    return (f"back-off {int(delay)}s restarting failed container={name} "
            f"pod={meta['name']}_{meta['namespace']}({meta['uid']})")


def seconds(rfc3339nano: str) -> str | None:
    """The API's second-precision time for a runtime timestamp (None when unset)."""
    return rfc3339nano[:19] + "Z" if rfc3339nano else None


def terminated_state(status: ContainerStatus) -> Obj:
    out: Obj = {"exitCode": status.exit_code, "reason": status.reason, "startedAt": seconds(status.started_at),
                "finishedAt": seconds(status.finished_at), "containerID": CONTAINER_ID_PREFIX + status.id}
    if status.message:
        out["message"] = status.message
    return out


def should_restart(policy: str, exit_code: int | None) -> bool:
    return policy == "Always" or (policy == "OnFailure" and exit_code != 0)


def compute_phase(statuses: list[Obj], policy: str, initialized: bool, init_failed: bool) -> str:
    """The kubelet's getPhase over the regular containers' statuses."""
    if init_failed:
        return "Failed"
    if not initialized:
        return "Pending"
    running = waiting = stopped = succeeded = 0
    for s in statuses:
        state = s["state"]
        if "running" in state:
            running += 1
        elif "terminated" in state:
            stopped += 1
            succeeded += state["terminated"].get("exitCode") == 0
        elif s.get("lastState", {}).get("terminated"):
            stopped += 1
        else:
            waiting += 1
    if waiting:
        return "Pending"
    if running:
        return "Running"
    if policy == "Always":
        return "Running"
    if stopped == succeeded:
        return "Succeeded"
    return "Failed" if policy == "Never" else "Running"


class PodWorker:
    """Runs one pod until it is terminal or deleted; ``update`` hands it the newest object."""

    def __init__(self, deps: PodDeps, pod: Obj) -> None:
        self.deps = deps
        self.pod = pod
        meta = pod["metadata"]
        self.uid: str = meta["uid"]
        self.namespace: str = meta["namespace"]
        self.name: str = meta["name"]
        spec = pod.get("spec") or {}
        self.containers = [_Container(c, True) for c in spec.get("initContainers") or []]
        self.containers += [_Container(c, False) for c in spec.get("containers") or []]
        self.pod_ip = ""
        self.sandbox_ready = False
        self.mounted: dict[str, MountedVolume] | None = None
        self._refresh_at = 0.0
        self.start_time = ""
        self.terminal = False
        self.removed = False
        self.done = False
        self._adopted = False
        self._written: Obj | None = None
        self._wake = asyncio.Event()
        self._task: asyncio.Task[None] | None = None
        self._halted = False

    @property
    def key(self) -> str:
        return f"{self.namespace}/{self.name}"

    @property
    def pod_dir(self) -> Path:
        return self.deps.root / "pods" / self.uid

    # ------------------------------------------------------------------ driving

    def start(self) -> None:
        self._task = asyncio.create_task(self._run(), name=f"pod worker {self.key}")

    def update(self, pod: Obj) -> None:
        """Take the newer object; wake at once only for a deletion (our own status writes come back here
        too, and waking on them would cut short states like ErrImagePull to a few milliseconds)."""
        self.pod = pod
        if (pod.get("metadata") or {}).get("deletionTimestamp"):
            self._wake.set()

    def forget(self) -> None:
        """The pod is gone from the API (force-deleted): stop at once, clean up, write nothing."""
        self.removed = True
        self._wake.set()

    async def cancel(self) -> None:
        """Stop the worker's loop. Python 3.11's ``wait_for`` can swallow a cancellation that lands as the
        awaited future completes, so the loop also checks a flag and the cancel is repeated until it ends."""
        self._halted = True
        task = self._task
        while task is not None and not task.done():
            task.cancel()
            await asyncio.wait({task}, timeout=1.0)

    async def _run(self) -> None:
        while not self.done and not self._halted:
            try:
                await self.sync()
            except asyncio.CancelledError:
                raise
            except Exception:
                log.exception("pod %s: sync failed", self.key)
            if self.done:
                return
            with contextlib.suppress(TimeoutError):
                await asyncio.wait_for(self._wake.wait(), self.deps.sync_interval)
            self._wake.clear()

    def event(self, type_: str, reason: str, message: str) -> None:
        self.deps.recorder.event(self.pod, type_, reason, message)

    # ------------------------------------------------------------------ one sync

    async def sync(self) -> None:
        if self.removed or (self.pod.get("metadata") or {}).get("deletionTimestamp"):
            await self.terminate()
            return
        if (self.pod.get("status") or {}).get("phase") in ("Succeeded", "Failed"):
            self.terminal = True  # a terminal pod never runs again, even when a restarted kubelet finds it
        if self.terminal:
            return
        if not self._adopted:
            await self._adopt()
        if not self.start_time:
            self.start_time = ((self.pod.get("status") or {}).get("startTime")) or now_text()
        if self.past_deadline(time.time()):
            await self._deadline_exceeded()
            return
        mounted = await self._ensure_sandbox()
        if mounted is not None:
            init_done, init_failed = await self._sync_init(mounted)
            if init_done and not init_failed:
                for c in self.containers:
                    if not c.init:
                        await self._sync_container(c, mounted)
            status = await self.status(init_done, init_failed)
        else:
            status = await self.status(False, False)
        await self._write(status)
        if status["phase"] in ("Succeeded", "Failed"):
            self.terminal = True
            await self._release_terminal_network()

    def past_deadline(self, now: float) -> bool:
        """spec.activeDeadlineSeconds ran out, counted from status.startTime."""
        deadline = (self.pod.get("spec") or {}).get("activeDeadlineSeconds")
        started = parse_epoch(self.start_time)
        return deadline is not None and started is not None and now - started >= int(deadline)

    async def _deadline_exceeded(self) -> None:
        """Kill every container and report the pod Failed with reason DeadlineExceeded (the kubelet's
        active deadline handler); the pod never runs again."""
        self.event("Warning", DEADLINE_REASON, DEADLINE_MESSAGE)
        grace = self.grace_period()

        async def kill(c: _Container) -> None:
            with contextlib.suppress(KeyError):
                if (await self.deps.runtime.container_status(c.cid)).state in (RUNNING, CREATED):
                    await self.kill_container(c, grace, f"Stopping container {c.name}")

        await asyncio.gather(*(kill(c) for c in self.containers if c.cid))
        for c in self.containers:
            c.waiting = ("", "") if c.cid else c.waiting
        status = await self.status(True, False)
        status.update(phase="Failed", reason=DEADLINE_REASON, message=DEADLINE_MESSAGE)
        for item in status["conditions"]:
            if item["type"] in ("Ready", "ContainersReady", "PodReadyToStartContainers"):
                item.update(status="False")
        await self._write(status)
        self.terminal = True
        await self._release_terminal_network()

    async def _adopt(self) -> None:
        """Take back what a previous kubelet left running for this pod (its containers outlive it): the newest
        container of each name is current, the one before it previous, the restart count from its label."""
        self._adopted = True
        runtime = self.deps.runtime
        if runtime.get_sandbox(self.uid) is None:
            return
        found = sorted((s for s in await runtime.list_containers(self.uid)), key=lambda s: rfc3339nano_ns(s.created_at))
        for c in self.containers:
            mine = [s for s in found if s.name == c.name]
            if not mine:
                continue
            current = mine[-1]
            c.cid, c.previous = current.id, mine[-2].id if len(mine) > 1 else ""
            c.image_id = current.image_id
            c.restarts = int(current.labels.get(RESTART_COUNT_LABEL) or 0)
            c.waiting = ("", "")
            for status in mine:
                if status.labels.get(TERMINATION_FILE_LABEL):
                    c.termination_files[status.id] = Path(status.labels[TERMINATION_FILE_LABEL])
            if len(mine) > 1:
                c.last_terminated = self._terminated(c, mine[-2])
            self._start_probers(c)
        log.info("pod %s: adopted %d containers", self.key, sum(1 for c in self.containers if c.cid))

    def _start_probers(self, c: _Container) -> None:
        probe = c.spec.get("startupProbe")
        c.startup = Prober.for_container(probe, False) if probe and not c.init else None
        probe = c.spec.get("readinessProbe")
        c.readiness = Prober.for_container(probe, False) if probe and not c.init else None
        probe = c.spec.get("livenessProbe")
        c.liveness = Prober.for_container(probe, True) if probe and not c.init else None

    async def _ensure_sandbox(self) -> dict[str, MountedVolume] | None:
        """Network, volumes, /etc files and namespaces; None (with the reason logged/evented) until possible."""
        pod = self.pod
        host_net = bool((pod.get("spec") or {}).get("hostNetwork"))
        try:
            if not self.sandbox_ready:
                self.pod_ip = self.deps.node_ip if host_net else await self.deps.network.setup(pod)
            if self.mounted is None:
                self.mounted = await self.deps.volumes.setup(pod)
                self._refresh_at = time.monotonic() + self.deps.volume_refresh
            elif time.monotonic() >= self._refresh_at:
                await self.deps.volumes.refresh(pod)
                self._refresh_at = time.monotonic() + self.deps.volume_refresh
            mounted = self.mounted
        except Exception as exc:
            self.event("Warning", "FailedMount" if "MountVolume" in str(exc) else "FailedCreatePodSandBox", str(exc))
            return None
        if self.sandbox_ready:
            return mounted
        self.pod_dir.mkdir(parents=True, exist_ok=True)
        node_hosts = Path("/etc/hosts").read_text() if host_net else ""
        (self.pod_dir / "etc-hosts").write_text(dns.hosts_file(pod, [self.pod_ip], self.deps.cluster_dns.domain,
                                                               node_hosts))
        (self.pod_dir / "resolv.conf").write_text(dns.resolv_conf(pod, self.deps.cluster_dns).render())
        hostname, _ = dns.pod_hostname(pod)
        if self.deps.runtime.get_sandbox(self.uid) is None:
            netns = None if host_net else str(self.deps.network.netns_path(pod))
            await self.deps.runtime.create_sandbox(self.uid, hostname, netns=netns, host_network=host_net)
        self.sandbox_ready = True
        return mounted

    async def _sync_init(self, mounted: dict[str, MountedVolume]) -> tuple[bool, bool]:
        """(all init containers succeeded, one failed for good): they run one at a time, in order."""
        policy = (self.pod.get("spec") or {}).get("restartPolicy") or "Always"
        for c in self.containers:
            if not c.init:
                continue
            if not c.cid:
                await self._start(c, mounted)
                return False, False
            status = await self.deps.runtime.container_status(c.cid)
            if status.state != EXITED:
                return False, False
            if status.exit_code == 0:
                continue
            if policy == "Never":
                return False, True
            await self._restart_with_backoff(c, status, mounted)
            return False, False
        return True, False

    async def _sync_container(self, c: _Container, mounted: dict[str, MountedVolume]) -> None:
        if not c.cid:
            await self._start(c, mounted)
            return
        status = await self.deps.runtime.container_status(c.cid)
        if status.state == RUNNING:
            await self._probe(c)
            return
        if status.state != EXITED:
            return
        policy = (self.pod.get("spec") or {}).get("restartPolicy") or "Always"
        if should_restart(policy, status.exit_code):
            await self._restart_with_backoff(c, status, mounted)
        else:
            c.waiting = ("", "")  # e.g. PostStartHookError: the container stays terminated

    async def _restart_with_backoff(self, c: _Container, status: ContainerStatus,
                                    mounted: dict[str, MountedVolume]) -> None:
        """Restart at once after the first exit, then only when the doubling back-off (10 s .. 5 min) ran out."""
        now = time.monotonic()
        if c.delay and now < c.restarted_at + c.delay:
            reason = "CrashLoopBackOff"
            if c.waiting[0] != reason:
                self.event("Warning", "BackOff", f"Back-off restarting failed container {c.name} in pod "
                                                 f"{self.name}_{self.namespace}({self.uid})")
            c.waiting = (reason, crash_message(c.delay, c.name, self.pod))
            c.last_terminated = self._terminated(c, status)
            return
        c.delay = min(c.delay * 2, CRASH_BACKOFF_MAX) if c.delay else CRASH_BACKOFF_INITIAL
        c.restarted_at = now
        c.last_terminated = self._terminated(c, status)
        if c.previous:
            with contextlib.suppress(KeyError):
                await self.deps.runtime.remove_container(c.previous)
        c.previous, c.cid = c.cid, ""
        c.restarts += 1
        await self._start(c, mounted)

    def _exec(self, cid: str) -> Any:
        runtime = self.deps.runtime

        async def exec_(argv: list[str], timeout: float) -> tuple[int, bytes]:
            result = await runtime.exec(cid, argv, timeout=timeout or None)
            return result.exit_code, result.stdout + result.stderr

        return exec_

    async def _probe(self, c: _Container) -> None:
        """Run the due probes: the startup probe alone until it succeeds, then readiness and liveness. A startup
        or liveness failure past its threshold kills the container (preStop first) and the restart policy takes
        it from there."""
        cid = c.cid
        exec_ = self._exec(cid)
        if c.startup is not None and not c.startup.result:
            probers = [("Startup", c.startup)]
        else:
            probers = [("Readiness", c.readiness), ("Liveness", c.liveness)]
        for kind, prober in probers:
            if prober is None or not prober.due(time.monotonic()):
                continue
            ok, message = await run_probe(prober.probe, c.spec, self.pod_ip, exec_)
            if not ok:
                self.event("Warning", "Unhealthy", f"{kind} probe failed: {message}")
            flipped = prober.record(ok, time.monotonic())
            if (kind == "Liveness" and flipped and not prober.result) or (kind == "Startup"
                                                                          and prober.failed_for_good()):
                grace = prober.probe.get("terminationGracePeriodSeconds")
                await self.kill_container(c, self.grace_period() if grace is None else int(grace),
                                          f"Container {c.name} failed {kind.lower()} probe, will be restarted")
                return

    async def kill_container(self, c: _Container, grace: int, message: str, cid: str = "") -> None:
        """The kubelet's killContainer: the Killing event, the preStop hook within the grace period, then
        SIGTERM with what is left of it (at least MINIMUM_GRACE s) before SIGKILL. A force deletion
        (``removed``) skips the hook and kills at once."""
        cid = cid or c.cid
        self.event("Normal", "Killing", message)
        pre_stop = (c.spec.get("lifecycle") or {}).get("preStop")
        if self.removed:
            await self.deps.runtime.stop_container(cid, 0)
            return
        if pre_stop and grace > 0:
            began = time.monotonic()
            try:
                failure = await asyncio.wait_for(run_handler(pre_stop, c.spec, self.pod, self.pod_ip,
                                                             self._exec(cid)), grace)
            except TimeoutError:
                failure = None
                log.info("pod %s: preStop hook of %s did not complete in %ds", self.key, c.name, grace)
            if failure:
                self.event("Warning", "FailedPreStopHook", failure)
            grace -= int(time.monotonic() - began)
        await self.deps.runtime.stop_container(cid, max(grace, MINIMUM_GRACE))

    # ------------------------------------------------------------------ starting a container

    async def _start(self, c: _Container, mounted: dict[str, MountedVolume]) -> None:
        image = str(c.spec.get("image", ""))
        images = self.deps.images
        present = images.lookup(image) is not None
        policy = c.spec.get("imagePullPolicy")
        pulling = not present or policy == "Always"
        began = time.monotonic()
        creds = credentials_from_pull_secrets(await self._pull_secrets()) if pulling else None
        if pulling and not images.backoff.in_backoff(backoff_key(self.uid, image)):
            self.event("Normal", "Pulling", f'Pulling image "{image}"')
        try:
            record = await images.ensure(image, policy, creds, backoff_key=backoff_key(self.uid, image))
        except ImagePullBackOffError as exc:
            c.waiting = (exc.reason, str(exc))
            self.event("Normal", "BackOff", str(exc))
            return
        except ImagePullError as exc:
            c.waiting = (exc.reason, str(exc))
            self.event("Warning", "Failed", pull_failed_message(image, exc))
            self.event("Warning", "Failed", f"Error: {exc.reason}")
            return
        if pulling:
            took = time.monotonic() - began
            self.event("Normal", "Pulled", f'Successfully pulled image "{image}" in {took:.3f}s '
                                           f"({took:.3f}s including waiting). Image size: {record.size} bytes.")
        else:
            self.event("Normal", "Pulled", f'Container image "{image}" already present on machine')
        c.image_id = record.repo_digest
        try:
            verify_run_as_non_root((self.pod.get("spec") or {}).get("securityContext") or {}, c.spec,
                                   str(record.config.get("config", {}).get("User") or ""),
                                   f"{self.name}_{self.namespace}({self.uid})")
            env = await self._env(c.spec)
            mounts = self._mounts(c.spec, mounted)
            termination_file = self._termination_file(c, mounts)
        except (ValueError, KeyError, OSError) as exc:
            c.waiting = ("CreateContainerConfigError", str(exc))
            self.event("Warning", "Failed", f"Error: {exc}")
            return
        sandbox = self.deps.runtime.get_sandbox(self.uid)
        assert sandbox is not None
        log_path = (self.deps.root / "logs" / f"{self.namespace}_{self.name}_{self.uid}" / c.name
                    / f"{c.restarts}.log")
        spec = self.pod.get("spec") or {}
        try:
            cid = await self.deps.runtime.create_container(
                sandbox, c.spec, record.config.get("config", {}), images.lowerdirs(record), log_path,
                image=image, image_id=c.image_id, env=env, service_env=await self._service_env(), mounts=mounts,
                pod_security=spec.get("securityContext") or {},
                qos_class=(self.pod.get("status") or {}).get("qosClass") or "BestEffort",
                labels={"io.kubernetes.pod.uid": self.uid, "io.kubernetes.container.name": c.name,
                        RESTART_COUNT_LABEL: str(c.restarts),
                        **({TERMINATION_FILE_LABEL: str(termination_file)} if termination_file else {})})
        except Exception as exc:
            c.waiting = ("CreateContainerError", str(exc))
            self.event("Warning", "Failed", f"Error: {exc}")
            return
        if termination_file is not None:
            c.termination_files[cid] = termination_file
        self.event("Normal", "Created", f"Created container {c.name}")
        try:
            await self.deps.runtime.start_container(cid)
        except Exception as exc:
            c.cid = cid
            c.waiting = ("RunContainerError", str(exc))
            self.event("Warning", "Failed", f"Error: {exc}")
            return
        self.event("Normal", "Started", f"Started container {c.name}")
        post_start = (c.spec.get("lifecycle") or {}).get("postStart")
        if post_start:
            # the container is not Running (nor probed) until its postStart hook returned
            failure = await self._post_start(post_start, c, cid)
            if failure:
                self.event("Warning", "FailedPostStartHook", failure)
                await self.kill_container(c, self.grace_period(), "FailedPostStartHook", cid)
                c.cid = cid
                c.waiting = ("PostStartHookError", failure)
                return
        c.cid = cid
        c.waiting = ("", "")
        self._start_probers(c)

    async def _pull_secrets(self) -> list[Obj]:
        """The kubelet's getPullSecretsForPod: each named Secret in order; the ones it cannot read are
        named in one FailedToRetrieveImagePullSecret warning and the pull goes on without them."""
        found, failed = [], []
        for ref in (self.pod.get("spec") or {}).get("imagePullSecrets") or []:
            name = str((ref or {}).get("name") or "")
            if not name:
                continue
            try:
                found.append(await self.deps.client.get("v1", "secrets", name, self.namespace))
            except StatusError:
                failed.append(name)
        if failed:
            self.event("Warning", "FailedToRetrieveImagePullSecret",
                       f"Unable to retrieve some image pull secrets ({', '.join(failed)}); "
                       "attempting to pull the image may not succeed.")
        return found

    def _stopping(self) -> bool:
        return self.removed or bool((self.pod.get("metadata") or {}).get("deletionTimestamp"))

    async def _post_start(self, handler: Obj, c: _Container, cid: str) -> str | None:
        """Run the postStart hook; a deletion meanwhile abandons it (the kubelet cancels the sync), so the
        next sync's termination is not held up by a hook that never ends."""
        task = asyncio.ensure_future(run_handler(handler, c.spec, self.pod, self.pod_ip, self._exec(cid)))
        try:
            while not task.done():
                await asyncio.wait({task}, timeout=0.5)
                if not task.done() and self._stopping():
                    task.cancel()
                    await asyncio.wait({task})  # unlike awaiting it, never swallows our own cancellation
                    return None
        finally:
            if not task.done():
                task.cancel()
        return task.result()

    async def _env(self, container: Obj) -> list[Obj]:
        """Container env with valueFrom resolved (fieldRef, configMapKeyRef, secretKeyRef)."""
        out = []
        for item in container.get("env") or []:
            source = item.get("valueFrom")
            if not source:
                out.append({"name": item["name"], "value": item.get("value", "")})
                continue
            out.append({"name": item["name"], "value": await self._value_from(source, container)})
        return out

    async def _value_from(self, source: Obj, container: Obj) -> str:
        if "resourceFieldRef" in source:
            ref = source["resourceFieldRef"]
            named = ref.get("containerName")
            if named and named != container.get("name"):
                container = next((c.spec for c in self.containers if c.name == named), None) or {}
                if not container:
                    raise ValueError(f"container {named!r} not found in the pod")
            allocatable = self.deps.volumes.config.node_allocatable or capacity(read_machine(self.deps.root), 1)[1]
            return resource_field_value(ref, container, allocatable)
        if "fieldRef" in source:
            path = source["fieldRef"].get("fieldPath", "")
            meta = self.pod["metadata"]
            simple = {"metadata.name": meta["name"], "metadata.namespace": self.namespace, "metadata.uid": self.uid,
                      "spec.nodeName": self.deps.node_name, "status.hostIP": self.deps.node_ip,
                      "status.podIP": self.pod_ip, "status.podIPs": self.pod_ip,
                      "spec.serviceAccountName": (self.pod.get("spec") or {}).get("serviceAccountName", "")}
            if path in simple:
                return str(simple[path])
            for kind in ("labels", "annotations"):
                prefix = f"metadata.{kind}['"
                if path.startswith(prefix) and path.endswith("']"):
                    return str((meta.get(kind) or {}).get(path[len(prefix):-2], ""))
            raise ValueError(f"unsupported fieldPath {path!r}")
        for ref, resource in (("configMapKeyRef", "configmaps"), ("secretKeyRef", "secrets")):
            if ref in source:
                sel = source[ref]
                try:
                    obj = await self.deps.client.get("v1", resource, sel["name"], self.namespace)
                except StatusError as exc:
                    if exc.code == 404 and sel.get("optional"):
                        return ""
                    raise ValueError(f'{resource[:-1]} "{sel["name"]}" not found') from exc
                if resource == "secrets":
                    import base64

                    data = {k: base64.b64decode(v).decode() for k, v in (obj.get("data") or {}).items()}
                else:
                    data = dict(obj.get("data") or {})
                if sel["key"] not in data:
                    if sel.get("optional"):
                        return ""
                    raise ValueError(f"couldn't find key {sel['key']} in {resource[:-1]} "
                                     f"{self.namespace}/{sel['name']}")
                return str(data[sel["key"]])
        return ""

    async def _service_env(self) -> dict[str, str]:
        services: list[Obj] = []
        for namespace in dict.fromkeys((self.namespace, "default")):
            with contextlib.suppress(StatusError):
                services += (await self.deps.client.list("v1", "services", namespace)).get("items") or []
        return service_env_for_pod(self.pod, services)

    def _termination_file(self, c: _Container, mounts: list[BindMount]) -> Path | None:
        """A fresh empty host file for this instance, bind-mounted at terminationMessagePath (added to mounts)."""
        target = c.spec.get("terminationMessagePath")
        if not target or any(m.container_path == target for m in mounts):
            return None
        directory = self.pod_dir / "containers" / c.name
        directory.mkdir(parents=True, exist_ok=True)
        path = directory / secrets.token_hex(4)
        path.touch()
        path.chmod(0o666)
        mounts.append(BindMount(str(target), str(path)))
        return path

    def _terminated(self, c: _Container, status: ContainerStatus) -> Obj:
        """terminated state with the termination message (file, or log tail with FallbackToLogsOnError)."""
        out = terminated_state(status)
        message = termination_message(c.spec, c.termination_files.get(status.id), status.exit_code,
                                      Path(status.log_path))
        if message:
            out["message"] = message
        return out

    def _mounts(self, container: Obj, mounted: dict[str, MountedVolume]) -> list[BindMount]:
        out = []
        for vm in container.get("volumeMounts") or []:
            volume = mounted.get(vm["name"])
            if volume is None:
                raise ValueError(f'volume "{vm["name"]}" not found')
            out.append(BindMount(vm["mountPath"], str(subpath_source(volume, vm)),
                                 bool(vm.get("readOnly")) or volume.read_only))
        taken = {m.container_path for m in out}
        for path, name in (("/etc/hosts", "etc-hosts"), ("/etc/resolv.conf", "resolv.conf")):
            if path not in taken:
                out.append(BindMount(path, str(self.pod_dir / name)))
        return out

    # ------------------------------------------------------------------ status

    async def _container_status(self, c: _Container) -> Obj:
        out: Obj = {"name": c.name, "image": c.spec.get("image", ""), "imageID": c.image_id,
                    "restartCount": c.restarts, "ready": False, "started": False, "lastState": {}}
        if c.last_terminated:
            out["lastState"] = {"terminated": c.last_terminated}
        status = None
        if c.cid:
            with contextlib.suppress(KeyError):
                status = await self.deps.runtime.container_status(c.cid)
        if status is None or status.state == CREATED or (c.waiting[0] and status.state != RUNNING):
            reason, message = c.waiting if c.waiting[0] else ("ContainerCreating", "")
            out["state"] = {"waiting": {"reason": reason, **({"message": message} if message else {})}}
            return out
        out["containerID"] = CONTAINER_ID_PREFIX + status.id
        if status.state == RUNNING:
            out["state"] = {"running": {"startedAt": seconds(status.started_at)}}
            out["started"] = c.started
            out["ready"] = c.started and (c.readiness is None or c.readiness.result)
        else:
            out["state"] = {"terminated": self._terminated(c, status)}
        return out

    async def status(self, init_done: bool, init_failed: bool) -> Obj:
        pod = self.pod
        spec = pod.get("spec") or {}
        old = pod.get("status") or {}
        init = [await self._container_status(c) for c in self.containers if c.init]
        regular = [await self._container_status(c) for c in self.containers if not c.init]
        policy = spec.get("restartPolicy") or "Always"
        phase = compute_phase(regular, policy, init_done, init_failed)
        not_ready = [s["name"] for s in regular if not s["ready"]]
        incomplete = [s["name"] for s in init if not ("terminated" in s["state"]
                                                       and s["state"]["terminated"]["exitCode"] == 0)]
        before = {c.get("type"): c for c in old.get("conditions") or []}
        conditions = [before.get("PodScheduled") or {"type": "PodScheduled", "status": "True"}]

        def cond(kind: str, ok: bool, reason: str = "", message: str = "") -> None:
            status = "True" if ok else "False"
            prev = before.get(kind) or {}
            item: Obj = {"type": kind, "status": status, "lastProbeTime": None,
                         "lastTransitionTime": prev.get("lastTransitionTime") if prev.get("status") == status
                         else now_text()}
            if reason:
                item["reason"] = reason
            if message:
                item["message"] = message
            conditions.append(item)

        terminal = phase in ("Succeeded", "Failed")
        cond("PodReadyToStartContainers", self.sandbox_ready and not terminal)
        if init_done or not init:
            cond("Initialized", True, "PodCompleted" if terminal and init else "")
        else:
            cond("Initialized", False, "ContainersNotInitialized",
                 f"containers with incomplete status: [{' '.join(incomplete)}]")
        if terminal:
            cond("ContainersReady", False, "PodCompleted")
            cond("Ready", False, "PodCompleted")
        else:
            message = f"containers with unready status: [{' '.join(not_ready)}]"
            cond("ContainersReady", not not_ready, "" if not not_ready else "ContainersNotReady",
                 "" if not not_ready else message)
            cond("Ready", not not_ready, "" if not not_ready else "ContainersNotReady",
                 "" if not not_ready else message)
        out: Obj = {"phase": phase, "conditions": conditions, "hostIP": self.deps.node_ip,
                    "hostIPs": [{"ip": self.deps.node_ip}], "startTime": self.start_time,
                    "qosClass": old.get("qosClass") or "BestEffort", "containerStatuses": regular}
        if self.pod_ip:
            out["podIP"], out["podIPs"] = self.pod_ip, [{"ip": self.pod_ip}]
        if init:
            out["initContainerStatuses"] = init
        return out

    async def _write(self, status: Obj) -> None:
        if status == self._written:
            return
        pod = self.pod
        for _ in range(5):
            body = copy.deepcopy(pod)
            body["status"] = {**(pod.get("status") or {}), **status}
            try:
                self.pod = await self.deps.client.update("v1", "pods", body, self.namespace, subresource="status")
                self._written = status
                return
            except StatusError as exc:
                if exc.code == 404:
                    self.removed = True
                    return
                if exc.code != 409:
                    raise
            pod = await self.deps.client.get("v1", "pods", self.name, self.namespace)
            if pod["metadata"].get("uid") != self.uid:
                self.removed = True
                return
        raise RuntimeError(f"pod {self.key}: status update kept conflicting")

    # ------------------------------------------------------------------ termination

    def grace_period(self) -> int:
        if self.removed:
            return 0
        meta = self.pod.get("metadata") or {}
        grace = meta.get("deletionGracePeriodSeconds")
        if grace is None:
            grace = (self.pod.get("spec") or {}).get("terminationGracePeriodSeconds")
        return DEFAULT_GRACE if grace is None else int(grace)

    async def terminate(self) -> None:
        """Stop the containers with the grace period, report them, clean up, then remove the pod (grace 0)."""
        grace = self.grace_period()
        runtime = self.deps.runtime

        async def kill(c: _Container) -> None:
            try:
                status = await runtime.container_status(c.cid)
            except KeyError:
                return  # removed already (a terminate that ran before)
            if status.state in (RUNNING, CREATED):
                await self.kill_container(c, grace, f"Stopping container {c.name}")

        await asyncio.gather(*(kill(c) for c in self.containers if c.cid))
        if not self.removed and not self.terminal:
            for c in self.containers:
                c.waiting = ("", "") if c.cid else c.waiting
            status = await self.status(True, False)
            if status["phase"] not in ("Succeeded", "Failed"):
                status["phase"] = "Failed" if any(
                    "terminated" in s["state"] and s["state"]["terminated"]["exitCode"] != 0
                    for s in status["containerStatuses"]) else "Succeeded"
            with contextlib.suppress(StatusError):
                await self._write(status)
        await self.cleanup()
        if not self.removed:
            try:
                await self.deps.client.delete("v1", "pods", self.name, self.namespace, grace_period_seconds=0,
                                              preconditions={"uid": self.uid})
            except StatusError as exc:
                if exc.code not in (404, 409):
                    raise
        self.done = True

    async def _release_terminal_network(self) -> None:
        """A terminal pod's address goes back at once; a failure here only waits for the deletion's cleanup
        (which runs the idempotent teardown again), it must not keep the terminal status from being written."""
        try:
            await self._release_network()
        except Exception:
            log.exception("pod %s: releasing the network of a terminal pod failed (retried on deletion)", self.key)

    async def _release_network(self) -> None:
        if not (self.pod.get("spec") or {}).get("hostNetwork"):
            await self.deps.network.teardown(self.pod)

    async def cleanup(self) -> None:
        """Containers, namespaces, cgroups, the pod network (IP, veth, netns), volumes and the pod's files."""
        await self.deps.runtime.remove_sandbox(self.uid)
        try:
            await self._release_network()
        finally:
            # volumes (tmpfs mounts) go even when the network teardown failed; the error is still raised
            await asyncio.to_thread(self.deps.volumes.teardown, self.uid)
            await asyncio.to_thread(shutil.rmtree, self.pod_dir, True)
