"""Per-controller identities, like kube-controller-manager's ``--use-service-account-credentials``.

Each controller then talks to the API server as ``system:serviceaccount:kube-system:<account>`` with
only the rights of its ``system:controller:<account>`` ClusterRole, instead of the manager's broad
identity: a bug in one controller cannot write what that controller has no business writing, and the
audit log says which controller did what. The manager keeps its own identity for the shared informers
(list/watch) and the leader Lease; it makes sure each account exists and gets it short-lived tokens
through ``serviceaccounts/<name>/token`` (TokenRequest), renewed well before they expire.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import ssl
from collections.abc import Mapping
from datetime import UTC, datetime
from pathlib import Path
from types import MappingProxyType

from kubeprov.api.client import ApiClient
from kubeprov.api.status import StatusError

log = logging.getLogger("kubeprov.controllers.identities")

NAMESPACE = "kube-system"
ROLE_PREFIX = "system:controller:"
TOKEN_SECONDS = 3600
# renew once this share of a token's lifetime has passed (client-go's token cache renews at 80%)
RENEW_AT = 0.8
RETRY_SECONDS = 10.0

# controller registry name -> (the ServiceAccount kube-controller-manager runs it as, the component its
# events name as their source: what `kubectl describe` shows in the From column); kube-controller-manager's
# names where it has them, "" where the controller has none
_IDENTITIES: Mapping[str, tuple[str, str]] = MappingProxyType({
    "deployment": ("deployment-controller", "deployment-controller"),
    "replicaset": ("replicaset-controller", "replicaset-controller"),
    "replicationcontroller": ("replication-controller", "replication-controller"),
    "namespace": ("namespace-controller", "namespace-controller"),
    "garbagecollector": ("generic-garbage-collector", "garbage-collector-controller"),
    "nodelifecycle": ("node-controller", "node-controller"),
    "serviceaccount": ("service-account-controller", "service-account-controller"),
    "root-ca-cert-publisher": ("root-ca-cert-publisher", "root-ca-cert-publisher"),
    "statefulset": ("statefulset-controller", "statefulset-controller"),
    "daemonset": ("daemon-set-controller", "daemonset-controller"),
    "job": ("job-controller", "job-controller"),
    "cronjob": ("cronjob-controller", "cronjob-controller"),
    "ttl-after-finished": ("ttl-after-finished-controller", "ttl-after-finished-controller"),
    "endpoint": ("endpoint-controller", "endpoint-controller"),
    "endpointslice": ("endpointslice-controller", "endpoint-slice-controller"),
    "resourcequota": ("resourcequota-controller", "resource-quota-controller"),
    "persistentvolume-binder": ("persistent-volume-binder", "persistentvolume-controller"),
    "disruption": ("disruption-controller", "controllermanager"),
    "csrapproving": ("certificate-controller", "certificate-controller"),
    "csrsigning": ("certificate-controller", "certificate-controller"),
    "csrcleaner": ("certificate-controller", "certificate-controller"),
    "horizontalpodautoscaling": ("horizontal-pod-autoscaler", "horizontal-pod-autoscaler"),
    "hostpath-provisioner": ("hostpath-provisioner", "hostpath-provisioner"),
    "podgc": ("pod-garbage-collector", "pod-garbage-collector"),
    "serviceaccount-token": ("", "tokens-controller"),
    "service-lb-ipam": ("", "service-lb-ipam"),
})

SERVICE_ACCOUNTS: Mapping[str, str] = MappingProxyType({n: a for n, (a, _) in _IDENTITIES.items() if a})
EVENT_SOURCES: Mapping[str, str] = MappingProxyType({n: e for n, (_, e) in _IDENTITIES.items() if e})


def event_source(controller: str) -> str:
    return EVENT_SOURCES.get(controller, f"{controller}-controller")


def service_account_for(name: str, cls: type | None = None) -> str:
    """The account a controller runs as: its class's ``service_account`` attribute, else the table; ``""``
    when neither knows it."""
    own = getattr(cls, "service_account", "") if cls is not None else ""
    return str(own or SERVICE_ACCOUNTS.get(name, ""))


def username(account: str, namespace: str = NAMESPACE) -> str:
    return f"system:serviceaccount:{namespace}:{account}"


def _expiry(token_request: dict) -> datetime | None:
    stamp = (token_request.get("status") or {}).get("expirationTimestamp", "")
    try:
        return datetime.strptime(stamp, "%Y-%m-%dT%H:%M:%SZ").replace(tzinfo=UTC)
    except ValueError:
        return None


class TokenClient(ApiClient):
    """An :class:`ApiClient` with a bearer token that can be replaced while requests keep flowing."""

    def __init__(self, server: str, token: str, *, ca_file: Path | None = None, ca_data: str | None = None,
                 user_agent: str = "kubeprov") -> None:
        super().__init__(server, ca_file=ca_file, token=token, user_agent=user_agent)
        if ca_data is not None and server.startswith("https://"):
            self._ssl = ssl.create_default_context(cadata=ca_data)

    @property
    def token(self) -> str:
        return self._token or ""

    def set_token(self, token: str) -> None:
        """Later requests (and watches opened later) carry ``token``."""
        self._token = token
        if self._session is not None:
            self._session.headers["Authorization"] = f"Bearer {token}"


class ControllerIdentities:
    """Accounts and token-carrying clients for the controllers of one manager; see the module docstring."""

    def __init__(self, client: ApiClient, *, ca_file: str | Path | None = None, ca_data: str | None = None,
                 namespace: str = NAMESPACE, token_seconds: int = TOKEN_SECONDS) -> None:
        self.client = client
        self.ca_file = Path(ca_file) if ca_file else None
        self.ca_data = ca_data
        self.namespace = namespace
        self.token_seconds = token_seconds
        self.clients: dict[str, TokenClient] = {}
        self._renewals: list[asyncio.Task[None]] = []

    async def ensure_account(self, account: str) -> None:
        """Create the ServiceAccount unless it exists."""
        try:
            await self.client.get("v1", "serviceaccounts", account, self.namespace)
            return
        except StatusError as exc:
            if exc.code != 404:
                raise
        try:
            await self.client.create("v1", "serviceaccounts", {
                "apiVersion": "v1", "kind": "ServiceAccount",
                "metadata": {"name": account, "namespace": self.namespace}}, self.namespace)
            log.info("created ServiceAccount %s/%s", self.namespace, account)
        except StatusError as exc:
            if exc.reason != "AlreadyExists":
                raise

    async def request_token(self, account: str) -> tuple[str, datetime | None]:
        answer = await self.client.create(
            "v1", "serviceaccounts",
            {"apiVersion": "authentication.k8s.io/v1", "kind": "TokenRequest",
             "spec": {"expirationSeconds": self.token_seconds}},
            self.namespace, name=account, subresource="token")
        token = (answer.get("status") or {}).get("token", "")
        if not token:
            raise RuntimeError(f"the TokenRequest for {self.namespace}/{account} returned no token")
        return token, _expiry(answer)

    async def client_for(self, account: str, user_agent: str = "kubeprov-controller-manager") -> TokenClient:
        """A client acting as ``account`` (one per account, shared by the controllers that run as it)."""
        if account in self.clients:
            return self.clients[account]
        await self.ensure_account(account)
        token, expires = await self.request_token(account)
        client = TokenClient(self.client.server, token, ca_file=self.ca_file, ca_data=self.ca_data,
                             user_agent=f"{user_agent}/{username(account, self.namespace)}")
        self.clients[account] = client
        self._renewals.append(asyncio.create_task(self._renew(account, client, expires), name=f"token-{account}"))
        return client

    async def _renew(self, account: str, client: TokenClient, expires: datetime | None) -> None:
        while True:
            await asyncio.sleep(self.renew_delay(expires))
            try:
                token, expires = await self.request_token(account)
            except asyncio.CancelledError:
                raise
            except Exception as exc:
                log.warning("renewing the token of %s failed (retrying in %gs): %s", account, RETRY_SECONDS, exc)
                expires = None
                continue
            client.set_token(token)
            log.info("renewed the token of %s/%s", self.namespace, account)

    def renew_delay(self, expires: datetime | None, now: datetime | None = None) -> float:
        """Seconds until the token expiring at ``expires`` should be replaced."""
        if expires is None:
            return RETRY_SECONDS
        left = (expires - (now or datetime.now(UTC))).total_seconds()
        return max(1.0, left - self.token_seconds * (1 - RENEW_AT))

    async def close(self) -> None:
        for task in self._renewals:
            task.cancel()
        await asyncio.gather(*self._renewals, return_exceptions=True)
        self._renewals = []
        for client in self.clients.values():
            with contextlib.suppress(Exception):
                await client.close()
        self.clients = {}
