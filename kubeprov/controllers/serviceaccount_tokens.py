"""Legacy service-account token Secrets, as kube-controller-manager's serviceaccount-token controller.

Since 1.24 nothing makes these Secrets by itself, but a user may still ask for a long-lived token by
creating a Secret of type ``kubernetes.io/service-account-token`` annotated with
``kubernetes.io/service-account.name``. This controller fills it in: ``token`` (a non-expiring
token signed with the service-account key, which the API server accepts while the Secret holds it),
``ca.crt`` and ``namespace``, plus the ``kubernetes.io/service-account.uid`` annotation. A Secret whose
ServiceAccount is gone (or was replaced: another uid) is deleted, and so are an account's token
Secrets when the account is deleted.

It needs the service-account private key (``service_account_private_key_file``), so it runs with
the manager's own identity, as in Kubernetes.
"""

from __future__ import annotations

import base64
import copy
from pathlib import Path
from typing import Any

from kubeprov.api.status import StatusError
from kubeprov.apiserver.auth.serviceaccount import TokenIssuer
from kubeprov.controllers.base import Controller, Obj, key_of, meta
from kubeprov.controllers.rootcacert import kubeconfig_ca

TOKEN_TYPE = "kubernetes.io/service-account-token"
NAME_ANNOTATION = "kubernetes.io/service-account.name"
UID_ANNOTATION = "kubernetes.io/service-account.uid"


def _b64(text: str) -> str:
    return base64.b64encode(text.encode()).decode()


def is_token_secret(secret: Obj) -> bool:
    return secret.get("type") == TOKEN_TYPE


def needs_data(secret: Obj) -> bool:
    data = secret.get("data") or {}
    return not all(data.get(k) for k in ("token", "ca.crt", "namespace"))


class ServiceAccountTokensController(Controller):
    name = "serviceaccount-token"
    uses_manager_identity = True  # it signs tokens itself; Kubernetes runs it with the manager's credentials

    @classmethod
    def options(cls, config: Any) -> dict[str, Any] | None:
        key = getattr(config, "service_account_private_key_file", "")
        ca = Path(config.ca_file).read_text() if config.ca_file else (
            kubeconfig_ca(config.kubeconfig) if config.kubeconfig else None)
        if not key or ca is None:
            return None
        return {"signing_key_file": key, "ca_data": ca}

    def __init__(self, *args: Any, signing_key_file: str | Path, ca_data: str, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        # the issuer string of legacy tokens is fixed; the bound-token issuer is not used here
        self.issuer = TokenIssuer(signing_key_file=Path(signing_key_file), issuer="")
        self.ca_data = ca_data
        self.secrets = self.informer("v1", "secrets", field_selector=f"type={TOKEN_TYPE}")
        self.accounts = self.informer("v1", "serviceaccounts")
        self.secrets.add_handler(on_add=self._secret, on_update=lambda _old, new: self._secret(new))
        self.accounts.add_handler(on_delete=self._account_deleted)

    def _secret(self, secret: Obj) -> None:
        if is_token_secret(secret) and self.wants(meta(secret).get("namespace", "")):
            self.enqueue(key_of(secret))

    def _account_deleted(self, account: Obj) -> None:
        m = meta(account)
        for secret in self.secrets.list():
            sm = meta(secret)
            if sm.get("namespace") == m.get("namespace") and \
                    (sm.get("annotations") or {}).get(NAME_ANNOTATION) == m.get("name"):
                self._secret(secret)

    async def sync(self, key: str) -> None:
        namespace, _, name = key.partition("/")
        secret = self.secrets.get(namespace, name)
        if secret is None or meta(secret).get("deletionTimestamp"):
            return
        annotations = meta(secret).get("annotations") or {}
        account_name = annotations.get(NAME_ANNOTATION, "")
        account = self.accounts.get(namespace, account_name) if account_name else None
        if account is None:
            try:  # the informer may not have seen a new account yet
                account = await self.client.get("v1", "serviceaccounts", account_name, namespace) \
                    if account_name else None
            except StatusError as exc:
                if exc.code != 404:
                    raise
        wanted_uid = annotations.get(UID_ANNOTATION)
        if account is None or (wanted_uid and wanted_uid != meta(account).get("uid")):
            await self._delete(secret)
            return
        if not needs_data(secret) and wanted_uid:
            return
        await self._fill(secret, account)

    async def _fill(self, secret: Obj, account: Obj) -> None:
        m, am = meta(secret), meta(account)
        new = copy.deepcopy(secret)
        new["metadata"].setdefault("annotations", {})[UID_ANNOTATION] = am["uid"]
        data = new.setdefault("data", {})
        if not data.get("token"):
            data["token"] = _b64(self.issuer.issue_legacy(namespace=m["namespace"], service_account=am["name"],
                                                          sa_uid=am["uid"], secret_name=m["name"]))
        data["ca.crt"] = _b64(self.ca_data)
        data["namespace"] = _b64(m["namespace"])
        try:
            await self.client.update("v1", "secrets", new, m["namespace"])
        except StatusError as exc:
            if exc.code != 404:
                raise
            return
        self.log.info("filled in token Secret %s/%s for ServiceAccount %s", m["namespace"], m["name"], am["name"])

    async def _delete(self, secret: Obj) -> None:
        m = meta(secret)
        try:
            await self.client.delete("v1", "secrets", m["name"], m["namespace"], preconditions={"uid": m["uid"]})
        except StatusError as exc:
            if exc.code not in (404, 409):
                raise
            return
        self.log.info("deleted token Secret %s/%s: its ServiceAccount is gone", m["namespace"], m["name"])
