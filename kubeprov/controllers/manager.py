"""The controller manager: one client, one shared informer factory, leader election, health.

With ``leader_elect`` only the holder of Lease ``kube-system/kube-controller-manager`` runs
controllers; a standby waits for the lease. Losing the lease stops the controllers (and the
informers) and the manager goes back to standby. ``/healthz``, ``/readyz`` and ``/metrics``
are served on ``health_address:health_port`` (port 0 picks a free one, see :attr:`port`).
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import socket
import uuid
from collections.abc import Callable
from pathlib import Path

from kubeprov.api.client import ApiClient
from kubeprov.api.events import EventRecorder
from kubeprov.api.informer import SharedInformerFactory
from kubeprov.api.leaderelection import LeaderElectionConfig, LeaderElector
from kubeprov.component import HealthServer
from kubeprov.controllers.base import Controller
from kubeprov.controllers.certificates import CSRApprovingController, CSRCleanerController, CSRSigningController
from kubeprov.controllers.config import ControllerManagerConfig
from kubeprov.controllers.cronjob import CronJobController
from kubeprov.controllers.daemonset import DaemonSetController
from kubeprov.controllers.deployment import DeploymentController
from kubeprov.controllers.disruption import DisruptionController
from kubeprov.controllers.endpoints import EndpointsController
from kubeprov.controllers.endpointslices import EndpointSliceController
from kubeprov.controllers.garbagecollector import GarbageCollector
from kubeprov.controllers.identities import ControllerIdentities, event_source, service_account_for
from kubeprov.controllers.job import JobController
from kubeprov.controllers.namespace import NamespaceController
from kubeprov.controllers.nodelifecycle import NodeLifecycleController
from kubeprov.controllers.podautoscaler import HorizontalPodAutoscalerController
from kubeprov.controllers.podgc import PodGCController
from kubeprov.controllers.replicaset import ReplicaSetController, ReplicationControllerController
from kubeprov.controllers.resourcequota import ResourceQuotaController
from kubeprov.controllers.rootcacert import RootCACertPublisher, kubeconfig_ca
from kubeprov.controllers.serviceaccount import ServiceAccountsController
from kubeprov.controllers.serviceaccount_tokens import ServiceAccountTokensController
from kubeprov.controllers.servicelb import ServiceLBController
from kubeprov.controllers.statefulset import StatefulSetController
from kubeprov.controllers.ttlafterfinished import TTLAfterFinishedController
from kubeprov.controllers.volumes.hostpath import HostPathProvisioner
from kubeprov.controllers.volumes.pvbinder import PersistentVolumeBinder

log = logging.getLogger("kubeprov.controllers.manager")

CONTROLLERS: dict[str, type[Controller]] = {
    "serviceaccount": ServiceAccountsController,
    "root-ca-cert-publisher": RootCACertPublisher,
    "namespace": NamespaceController,
    "replicaset": ReplicaSetController,
    "replicationcontroller": ReplicationControllerController,
    "deployment": DeploymentController,
    "garbagecollector": GarbageCollector,
    "nodelifecycle": NodeLifecycleController,
    "csrapproving": CSRApprovingController,
    "csrsigning": CSRSigningController,
    "csrcleaner": CSRCleanerController,
    "daemonset": DaemonSetController,
    "job": JobController,
    "cronjob": CronJobController,
    "ttl-after-finished": TTLAfterFinishedController,
    "podgc": PodGCController,
    "serviceaccount-token": ServiceAccountTokensController,
    "endpoint": EndpointsController,
    "endpointslice": EndpointSliceController,
    "resourcequota": ResourceQuotaController,
    "disruption": DisruptionController,
    "horizontalpodautoscaling": HorizontalPodAutoscalerController,
    "statefulset": StatefulSetController,
    "persistentvolume-binder": PersistentVolumeBinder,
    "hostpath-provisioner": HostPathProvisioner,
    "service-lb-ipam": ServiceLBController,
}
# kube-controller-manager also accepts these names
ALIASES = {
    "deployment-controller": "deployment",
    "garbage-collector-controller": "garbagecollector",
    "node-lifecycle-controller": "nodelifecycle",
    "csrapproving-controller": "csrapproving",
    "csrsigning-controller": "csrsigning",
    "csrcleaner-controller": "csrcleaner",
    "certificatesigningrequest-approving-controller": "csrapproving",
    "certificatesigningrequest-signing-controller": "csrsigning",
    "certificatesigningrequest-cleaner-controller": "csrcleaner",
    "daemonset-controller": "daemonset",
    "job-controller": "job",
    "cronjob-controller": "cronjob",
    "ttl-after-finished-controller": "ttl-after-finished",
    "pod-garbage-collector-controller": "podgc",
    "serviceaccount-token-controller": "serviceaccount-token",
    "endpoints-controller": "endpoint",
    "endpointslice-controller": "endpointslice",
    "resourcequota-controller": "resourcequota",
    "disruption-controller": "disruption",
    "horizontal-pod-autoscaler": "horizontalpodautoscaling",
    "statefulset-controller": "statefulset",
    "persistentvolume-binder-controller": "persistentvolume-binder",
    "serviceaccount-controller": "serviceaccount",
    "root-ca-certificate-publisher-controller": "root-ca-cert-publisher",
    "root-ca-cert-publisher-controller": "root-ca-cert-publisher",
    "namespace-controller": "namespace",
    "replicaset-controller": "replicaset",
    "replicationcontroller-controller": "replicationcontroller",
}


def canonical(name: str) -> str:
    return ALIASES.get(name, name)


def enabled_controllers(patterns: list[str]) -> list[str]:
    """``["*", "-replicaset"]``: every controller but replicaset; a bare name enables it, ``-name`` disables it."""
    known = set(CONTROLLERS)
    for pattern in patterns:
        name = canonical(pattern.removeprefix("-"))
        if name != "*" and name not in known:
            raise ValueError(f"unknown controller {pattern!r}; known: {', '.join(sorted(known))}")
    explicit_on = {canonical(p) for p in patterns if not p.startswith("-") and p != "*"}
    explicit_off = {canonical(p[1:]) for p in patterns if p.startswith("-")}
    star = "*" in patterns
    return [n for n in CONTROLLERS if n in explicit_on or (star and n not in explicit_off)]


class ControllerManager:
    def __init__(self, config: ControllerManagerConfig, *, client: ApiClient | None = None) -> None:
        config.validate()
        self.config = config
        self.enabled = enabled_controllers(config.controllers)
        self.identity = config.identity or f"{socket.gethostname()}_{uuid.uuid4()}"
        self._client = client
        self._own_client = client is None
        self.controllers: dict[str, Controller] = {}
        self.factory: SharedInformerFactory | None = None
        self._recorders: list[EventRecorder] = []
        self._identities: ControllerIdentities | None = None
        self._elector: LeaderElector | None = None
        self._elect_task: asyncio.Task[None] | None = None
        self._health: HealthServer | None = None
        self._lock = asyncio.Lock()
        self._stopping = False
        self._started = False
        self.leading = False

    @property
    def client(self) -> ApiClient:
        if self._client is None:
            if not self.config.kubeconfig:
                raise ValueError("the controller manager needs a kubeconfig")
            self._client = ApiClient.from_kubeconfig(Path(self.config.kubeconfig),
                                                     user_agent="kubeprov-controller-manager")
        return self._client

    def namespace_filter(self) -> Callable[[str], bool] | None:
        if not self.config.namespaces:
            return None
        return lambda namespace: namespace in self.config.namespaces

    # ---- lifecycle -------------------------------------------------------------------------

    async def start(self) -> None:
        """Serve health, then lead (or wait as standby in the background); returns at once."""
        self.client  # noqa: B018 - fail early on a bad kubeconfig
        await self._start_health()
        self._started = True
        log.info("controller manager %s starting; controllers: %s", self.identity, ", ".join(self.enabled))
        if self.config.leader_elect:
            self._elect_task = asyncio.create_task(self._elect_loop(), name="controller-manager-election")
        else:
            await self._start_controllers()

    async def stop(self) -> None:
        self._stopping = True
        if self._elect_task is not None:
            self._elect_task.cancel()
            await asyncio.gather(self._elect_task, return_exceptions=True)
            self._elect_task = None
        await self._stop_controllers()
        if self._health is not None:
            await self._health.stop()
            self._health = None
        if self._own_client and self._client is not None:
            await self._client.close()
        log.info("controller manager %s stopped", self.identity)

    async def run_forever(self) -> None:
        await self.start()
        try:
            await asyncio.Event().wait()
        finally:
            await self.stop()

    async def _elect_loop(self) -> None:
        cfg = LeaderElectionConfig(
            lock_namespace=self.config.lease_namespace, lock_name=self.config.lease_name, identity=self.identity,
            lease_duration=self.config.lease_duration, renew_deadline=self.config.renew_deadline,
            retry_period=self.config.retry_period)
        while not self._stopping:
            self._elector = LeaderElector(self.client, cfg, on_started_leading=self._lead,
                                          on_stopped_leading=self._stop_controllers,
                                          on_new_leader=lambda who: log.info("new leader: %s", who))
            try:
                await self._elector.run()
            except asyncio.CancelledError:
                raise
            except Exception:
                log.exception("leader election failed; retrying")
                await asyncio.sleep(self.config.retry_period)
            else:
                log.warning("%s lost the lease %s/%s; back to standby", self.identity,
                            self.config.lease_namespace, self.config.lease_name)

    async def _lead(self) -> None:
        log.info("%s became leader", self.identity)
        await self._start_controllers()
        await asyncio.Event().wait()

    async def _start_controllers(self) -> None:
        async with self._lock:
            if self.controllers:
                return
            self.leading = True
            self.factory = SharedInformerFactory(self.client)
            flt = self.namespace_filter()
            for name in self.enabled:
                cls = CONTROLLERS[name]
                kwargs = cls.options(self.config)
                if kwargs is None:
                    log.warning("the configuration lacks what %s needs: it is not started", name)
                    continue
                client = await self._controller_client(name, cls)
                recorder = EventRecorder(client, event_source(name), self.identity.split("_")[0])
                self.controllers[name] = cls(client, self.factory, workers=self.config.workers(name),
                                             namespace_filter=flt, recorder=recorder, **kwargs)
                self._recorders.append(recorder)
                await recorder.start()
            await self.factory.start()
            for name, controller in self.controllers.items():
                await controller.start(self.config.sync_timeout)
                log.info("started controller %s", name)

    async def _controller_client(self, name: str, cls: type[Controller]) -> ApiClient:
        """The manager's client, or with ``use_service_account_credentials`` one acting as the controller's
        own ServiceAccount."""
        if not self.config.use_service_account_credentials or getattr(cls, "uses_manager_identity", False):
            return self.client
        account = service_account_for(name, cls)
        if not account:
            log.warning("controller %s has no ServiceAccount of its own; it uses the manager's identity", name)
            return self.client
        if self._identities is None:
            ca = kubeconfig_ca(self.config.kubeconfig) if self.config.kubeconfig and not self.config.ca_file else None
            self._identities = ControllerIdentities(self.client, ca_file=self.config.ca_file or None, ca_data=ca)
        return await self._identities.client_for(account)

    async def _stop_controllers(self) -> None:
        async with self._lock:
            controllers, self.controllers = self.controllers, {}
            for controller in controllers.values():
                await controller.stop()
            if self.factory is not None:
                await self.factory.stop()
                self.factory = None
            for recorder in self._recorders:
                with contextlib.suppress(Exception):
                    await recorder.stop()
            self._recorders = []
            if self._identities is not None:
                await self._identities.close()
                self._identities = None
            if self.leading:
                log.info("%s stopped its controllers", self.identity)
            self.leading = False

    # ---- health and metrics ------------------------------------------------------------------

    async def _start_health(self) -> None:
        self._health = HealthServer(self.config.health_address, self.config.health_port,
                                    healthy=lambda: "not running" if self._stopping or not self._started else None,
                                    ready=lambda: None if self.ready() else "controllers not synced",
                                    metrics=self._metrics_text)
        await self._health.start()
        log.info("serving /healthz /readyz /metrics on %s:%d", self.config.health_address, self.port)

    @property
    def port(self) -> int:
        """The port /healthz, /readyz and /metrics are served on (the chosen one when configured as 0)."""
        return self._health.port if self._health is not None else 0

    def ready(self) -> bool:
        if self._stopping or not self._started:
            return False
        if self.leading:
            return all(c.synced for c in self.controllers.values())
        return True

    def _metrics_text(self) -> str:
        lines = [
            "# HELP leader_election_master_status Whether this instance is the leader (1) or not (0).",
            "# TYPE leader_election_master_status gauge",
            f'leader_election_master_status{{name="{self.config.lease_name}"}} {1 if self.leading else 0}',
            "# HELP kubeprov_controller_syncs_total Sync calls per controller.",
            "# TYPE kubeprov_controller_syncs_total counter",
        ]
        controllers = dict(self.controllers)
        lines += [f'kubeprov_controller_syncs_total{{controller="{n}"}} {c.metrics.syncs}'
                  for n, c in controllers.items()]
        lines += ["# HELP kubeprov_controller_sync_errors_total Failed sync calls per controller.",
                  "# TYPE kubeprov_controller_sync_errors_total counter"]
        lines += [f'kubeprov_controller_sync_errors_total{{controller="{n}"}} {c.metrics.errors}'
                  for n, c in controllers.items()]
        lines += ["# HELP kubeprov_controller_sync_seconds_total Time spent syncing per controller.",
                  "# TYPE kubeprov_controller_sync_seconds_total counter"]
        lines += [f'kubeprov_controller_sync_seconds_total{{controller="{n}"}} {c.metrics.sync_seconds:.6f}'
                  for n, c in controllers.items()]
        lines += ["# HELP workqueue_depth Current depth of the work queue.", "# TYPE workqueue_depth gauge"]
        lines += [f'workqueue_depth{{name="{n}"}} {len(c.queue)}' for n, c in controllers.items()]
        return "\n".join(lines) + "\n"
