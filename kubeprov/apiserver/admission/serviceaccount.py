"""ServiceAccount: every pod runs as a ServiceAccount that exists (``default`` unless it names one),
gets the account's image pull secrets, and, unless automounting is turned off, a projected volume
with a bound token, the cluster CA and its namespace at /var/run/secrets/kubernetes.io/serviceaccount.

Mirror pods (static pods the kubelet reports) are never changed and may not use accounts or
secrets."""

from __future__ import annotations

import asyncio
import random
from typing import Any, ClassVar

from kubeprov.api.names import generate_name
from kubeprov.apiserver.admission.attributes import CREATE, UPDATE, Attributes, mapping, maps, meta, sequence
from kubeprov.apiserver.admission.plugin import Plugin

DEFAULT_SERVICE_ACCOUNT = "default"
ENFORCE_MOUNTABLE_SECRETS = "kubernetes.io/enforce-mountable-secrets"
MIRROR_POD_ANNOTATION = "kubernetes.io/config.mirror"
VOLUME_PREFIX = "kube-api-access-"
MOUNT_PATH = "/var/run/secrets/kubernetes.io/serviceaccount"
# a token the kubelet refreshes hourly but that stays valid a little longer (the "warn only" window)
TOKEN_EXPIRATION_SECONDS = 3607
PROJECTED_DEFAULT_MODE = 0o644


def token_volume_source() -> dict[str, Any]:
    """The projected source Kubernetes gives every automounting pod."""
    return {
        "sources": [
            {"serviceAccountToken": {"expirationSeconds": TOKEN_EXPIRATION_SECONDS, "path": "token"}},
            {"configMap": {"name": "kube-root-ca.crt", "items": [{"key": "ca.crt", "path": "ca.crt"}]}},
            {"downwardAPI": {"items": [
                {"path": "namespace", "fieldRef": {"apiVersion": "v1", "fieldPath": "metadata.namespace"}},
            ]}},
        ],
        "defaultMode": PROJECTED_DEFAULT_MODE,
    }


def should_automount(account: dict, pod: dict) -> bool:
    """The pod's ``automountServiceAccountToken`` wins, then the account's; default true."""
    pod_choice = mapping(pod.get("spec")).get("automountServiceAccountToken")
    if isinstance(pod_choice, bool):
        return pod_choice
    account_choice = account.get("automountServiceAccountToken")
    if isinstance(account_choice, bool):
        return account_choice
    return True


def mount_token(pod: dict) -> None:
    """Add the token volume (unless one is there) and mount it in every container and init container
    that has nothing at the mount path."""
    spec = pod.setdefault("spec", {})
    volumes = spec.get("volumes")
    volume_name = ""
    for volume in maps(volumes):
        if str(volume.get("name", "")).startswith(VOLUME_PREFIX):
            volume_name = volume["name"]
            break
    has_volume = bool(volume_name)
    if not volume_name:
        volume_name = generate_name(VOLUME_PREFIX)
    needs_volume = False
    for field in ("initContainers", "containers"):
        for container in maps(spec.get(field)):
            mounts = container.get("volumeMounts")
            if any(m.get("mountPath") == MOUNT_PATH for m in maps(mounts)):
                continue
            if not isinstance(mounts, list):
                mounts = container["volumeMounts"] = []
            mounts.append({"name": volume_name, "readOnly": True, "mountPath": MOUNT_PATH})
            needs_volume = True
    if needs_volume and not has_volume:
        if not isinstance(volumes, list):
            volumes = spec["volumes"] = []
        volumes.append({"name": volume_name, "projected": token_volume_source()})


def _env_secret_refs(container: dict) -> tuple[list[tuple[str, str]], list[str]]:
    """(env var name, secret) of ``env[].valueFrom.secretKeyRef`` and the ``envFrom[].secretRef`` secrets."""
    env = [(str(e.get("name", "")), str(mapping(mapping(e.get("valueFrom")).get("secretKeyRef")).get("name", "")))
           for e in maps(container.get("env")) if mapping(mapping(e.get("valueFrom")).get("secretKeyRef"))]
    env_from = [str(mapping(e.get("secretRef")).get("name", ""))
                for e in maps(container.get("envFrom")) if isinstance(e.get("secretRef"), dict)]
    return env, env_from


# volume sources that name a secret: (source, path to the secret's name)
_VOLUME_SECRETS = (
    ("secret", ("secretName",)), ("azureFile", ("secretName",)), ("cephfs", ("secretRef", "name")),
    ("cinder", ("secretRef", "name")), ("flexVolume", ("secretRef", "name")), ("rbd", ("secretRef", "name")),
    ("scaleIO", ("secretRef", "name")), ("iscsi", ("secretRef", "name")), ("storageos", ("secretRef", "name")),
    ("csi", ("nodePublishSecretRef", "name")),
)


def references_secrets(pod: dict) -> bool:
    """Whether the pod names any secret (``VisitPodSecretNames``)."""
    spec = mapping(pod.get("spec"))
    if maps(spec.get("imagePullSecrets")):
        return True
    for field in ("initContainers", "containers", "ephemeralContainers"):
        for container in maps(spec.get(field)):
            env, env_from = _env_secret_refs(container)
            if env or env_from:
                return True
    for volume in maps(spec.get("volumes")):
        for source, path in _VOLUME_SECRETS:
            found = volume.get(source)
            if isinstance(found, dict) and (len(path) == 1 or isinstance(found.get(path[0]), dict)):
                return True
        for projection in maps(mapping(volume.get("projected")).get("sources")):
            if isinstance(projection.get("secret"), dict):
                return True
    return False


class ServiceAccount(Plugin):
    name: ClassVar[str] = "ServiceAccount"
    mutating: ClassVar[bool] = True
    validating: ClassVar[bool] = True
    # the default account is made by a controller just after its namespace: look a few times
    default_account_attempts: ClassVar[int] = 10
    retry_interval: ClassVar[tuple[float, float]] = (0.1, 0.2)

    @staticmethod
    def _ignored(a: Attributes) -> bool:
        return not a.is_core("pods") or a.subresource not in ("", "ephemeralcontainers") or a.obj is None

    async def admit(self, a: Attributes) -> None:
        if self._ignored(a) or a.operation != CREATE:
            return
        pod = a.obj
        assert pod is not None
        if MIRROR_POD_ANNOTATION in mapping(meta(pod).get("annotations")):
            await self.validate(a)
            return
        spec = pod.setdefault("spec", {})
        # serviceAccount is the deprecated alias; the new field wins, and both are written back
        name = str(spec.get("serviceAccountName") or spec.get("serviceAccount") or DEFAULT_SERVICE_ACCOUNT)
        spec["serviceAccountName"] = name
        spec["serviceAccount"] = name
        account = await self._account(a, name)
        if should_automount(account, pod):
            mount_token(pod)
        if not maps(spec.get("imagePullSecrets")):
            pull = [{"name": s.get("name", "")} for s in maps(account.get("imagePullSecrets"))]
            if pull:
                spec["imagePullSecrets"] = pull
        await self.validate(a)

    async def validate(self, a: Attributes) -> None:
        if self._ignored(a):
            return
        pod = a.obj
        assert pod is not None
        spec = mapping(pod.get("spec"))
        if a.operation == UPDATE and a.subresource == "ephemeralcontainers":
            await self._limit_ephemeral(a, pod)
            return
        if a.operation != CREATE:
            return
        if MIRROR_POD_ANNOTATION in mapping(meta(pod).get("annotations")):
            if spec.get("serviceAccountName"):
                raise a.forbidden("a mirror pod may not reference service accounts")
            if references_secrets(pod):
                raise a.forbidden("a mirror pod may not reference secrets")
            for volume in maps(spec.get("volumes")):
                for projection in maps(mapping(volume.get("projected")).get("sources")):
                    if isinstance(projection.get("serviceAccountToken"), dict):
                        raise a.forbidden("a mirror pod may not use ServiceAccountToken volume projections")
            return
        name = str(spec.get("serviceAccountName") or "")
        if not name:
            raise a.forbidden(f"no service account specified for pod {a.namespace}/{meta(pod).get('name', '')}")
        account = await self._account(a, name)
        if _enforces_mountable_secrets(account):
            err = _limit_secret_references(account, pod)
            if err:
                raise a.forbidden(err)

    async def _account(self, a: Attributes, name: str) -> dict:
        account = self.lookup.cached("", "serviceaccounts", a.namespace, name)
        if account is not None:
            return account
        attempts = self.default_account_attempts if name == DEFAULT_SERVICE_ACCOUNT else 1
        interval = random.uniform(*self.retry_interval)
        for attempt in range(max(1, attempts)):
            if attempt:
                await asyncio.sleep(interval)
            account = await self.lookup.live("", "serviceaccounts", a.namespace, name)
            if account is not None:
                return account
        raise a.forbidden(f'error looking up service account {a.namespace}/{name}: serviceaccount "{name}" not found')

    async def _limit_ephemeral(self, a: Attributes, pod: dict) -> None:
        spec = mapping(pod.get("spec"))
        name = str(spec.get("serviceAccountName") or "")
        if not name:
            raise a.forbidden(f"no service account specified for pod {a.namespace}/{meta(pod).get('name', '')}")
        account = await self._account(a, name)
        if not _enforces_mountable_secrets(account):
            return
        mountable = {str(s.get("name", "")) for s in maps(account.get("secrets"))}
        for container in maps(spec.get("ephemeralContainers")):
            err = _container_secret_error(container, "ephemeral container", mountable, account)
            if err:
                raise a.forbidden(err)


def _enforces_mountable_secrets(account: dict) -> bool:
    value = str(mapping(meta(account).get("annotations")).get(ENFORCE_MOUNTABLE_SECRETS, ""))
    return value.lower() in ("1", "t", "true")


def _container_secret_error(container: dict, what: str, mountable: set[str], account: dict) -> str:
    sa = meta(account).get("name", "")
    env, env_from = _env_secret_refs(container)
    cname = container.get("name", "")
    for var, secret in env:
        if secret not in mountable:
            return (f'{what} {cname} with envVar {var} referencing secret.secretName="{secret}" is not allowed '
                    f"because service account {sa} does not reference that secret")
    for secret in env_from:
        if secret not in mountable:
            return (f'{what} {cname} with envFrom referencing secret.secretName="{secret}" is not allowed '
                    f"because service account {sa} does not reference that secret")
    return ""


def _limit_secret_references(account: dict, pod: dict) -> str:
    """Why the pod may not use a secret its (enforcing) account does not list, or ""."""
    sa = meta(account).get("name", "")
    spec = mapping(pod.get("spec"))
    mountable = {str(s.get("name", "")) for s in maps(account.get("secrets"))}
    for volume in maps(spec.get("volumes")):
        source = volume.get("secret")
        if not isinstance(source, dict):
            continue
        secret = str(source.get("secretName", ""))
        if secret not in mountable:
            return (f'volume with secret.secretName="{secret}" is not allowed because service account {sa} '
                    "does not reference that secret")
    for field, what in (("initContainers", "init container"), ("containers", "container")):
        for container in maps(spec.get(field)):
            err = _container_secret_error(container, what, mountable, account)
            if err:
                return err
    pull = {str(s.get("name", "")) for s in maps(account.get("imagePullSecrets"))}
    for i, ref in enumerate(sequence(spec.get("imagePullSecrets"))):
        secret = str(mapping(ref).get("name", ""))
        if secret not in pull:
            return (f'imagePullSecrets[{i}].name="{secret}" is not allowed because service account {sa} '
                    "does not reference that imagePullSecret")
    return ""
