"""Encryption at rest: Kubernetes' EncryptionConfiguration file and byte-compatible stored values.

The API server reads the file named by ``encryption_provider_config`` once at start. Each entry of
``resources`` lists resources (``secrets``, ``deployments.apps``, ``*.apps``, ``*.`` for the core group,
``*.*`` for everything) and providers. The FIRST provider (and its first key) encrypts every write; every
provider of the entry can read, so values written under an older key or provider stay readable. Values
look exactly like Kubernetes' in etcd::

    k8s:enc:aesgcm:v1:<key>:    nonce(12)  ciphertext+tag      (the etcd key is the authenticated data)
    k8s:enc:aescbc:v1:<key>:    iv(16)     ciphertext (PKCS#7)
    k8s:enc:secretbox:v1:<key>: nonce(24)  tag+ciphertext      (needs PyNaCl)
    identity:                   the plain JSON

Because aesgcm binds each value to its etcd key, a value copied to another key (or from a Kubernetes
etcd, whose keys are laid out differently) does not decrypt.

Rotating a key (every API server reads the same file; restart means restart all of them)
-------------------------------------------------------------------------------------------

1. Generate a key: ``head -c 32 /dev/urandom | base64``.
2. Add it as the SECOND key of the provider (``keys: [old, new]``) and restart every API server. Now
   every server can read values written with the new key, before any server writes one.
   (With a single API server you may skip this step.)
3. Move the new key first (``keys: [new, old]``) and restart every API server: writes use the new key.
4. Rewrite every object of the encrypted resources so it is stored with the new key::

       kubectl get secrets -A -o json | kubectl replace -f -

5. Remove the old key and restart every API server. Keep the old key somewhere safe until etcd
   backups taken before step 4 have expired: they can only be read with it.

Turning encryption on: put ``aesgcm`` first and ``identity: {}`` after it, restart, rewrite (step 4).
Turning it off: put ``identity: {}`` first and keep the old provider after it, restart, rewrite,
then remove the entry.
"""

from __future__ import annotations

import base64
import binascii
import os
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import yaml
from cryptography.exceptions import InvalidTag
from cryptography.hazmat.primitives import padding
from cryptography.hazmat.primitives.ciphers import Cipher, algorithms, modes
from cryptography.hazmat.primitives.ciphers.aead import AESGCM

from kubeprov.apiserver.storage.keys import INTERNAL_GROUP, REGISTRY
from kubeprov.errors import KubeprovError

API_VERSION = "apiserver.config.k8s.io/v1"
KIND = "EncryptionConfiguration"
ENCRYPTED_MARK = b"k8s:enc:"
PROVIDER_PREFIXES = {
    "aesgcm": "k8s:enc:aesgcm:v1:",
    "aescbc": "k8s:enc:aescbc:v1:",
    "secretbox": "k8s:enc:secretbox:v1:",
}
AES_KEY_SIZES = (16, 24, 32)
SECRETBOX_KEY_SIZES = (32,)
KNOWN_PROVIDERS = ("aesgcm", "aescbc", "secretbox", "identity", "kms")
# resources with no REST API in Kubernetes: refused there, so refused here too
NON_REST_RESOURCES = ("apiserveripinfo", "serviceipallocations", "servicenodeportallocations")
KEY_HINT = "generate a key with: head -c 32 /dev/urandom | base64"

GroupResource = tuple[str, str]  # (group, resource); "" is the core group, "*" a wildcard


class TransformError(KubeprovError):
    """A stored value cannot be read with the configured providers (wrong key, tampering, missing key)."""


# ---- ciphers ---------------------------------------------------------------------------------


class _AesGcm:
    """AES-GCM with a random 96-bit nonce; the etcd key is authenticated so values cannot be moved."""

    NONCE = 12

    def __init__(self, key: bytes) -> None:
        self._aead = AESGCM(key)

    def seal(self, aad: bytes, data: bytes) -> bytes:
        nonce = os.urandom(self.NONCE)
        return nonce + self._aead.encrypt(nonce, data, aad)

    def open(self, aad: bytes, body: bytes) -> bytes:
        if len(body) < self.NONCE + 16:
            raise ValueError("the stored data is shorter than nonce and tag")
        try:
            return self._aead.decrypt(body[: self.NONCE], body[self.NONCE:], aad)
        except InvalidTag:
            raise ValueError("authentication failed: wrong key, tampered data, or a value moved from "
                             "another etcd key") from None


class _AesCbc:
    """AES-CBC with PKCS#7 padding and a random IV (unauthenticated, kept for existing clusters)."""

    BLOCK = 16

    def __init__(self, key: bytes) -> None:
        self._algorithm = algorithms.AES(key)

    def seal(self, aad: bytes, data: bytes) -> bytes:
        iv = os.urandom(self.BLOCK)
        padder = padding.PKCS7(self.BLOCK * 8).padder()
        encryptor = Cipher(self._algorithm, modes.CBC(iv)).encryptor()
        padded = padder.update(data) + padder.finalize()
        return iv + encryptor.update(padded) + encryptor.finalize()

    def open(self, aad: bytes, body: bytes) -> bytes:
        if len(body) < 2 * self.BLOCK:
            raise ValueError("the stored data is shorter than IV and one block")
        if len(body) % self.BLOCK:
            raise ValueError("the stored data is not a multiple of the block size")
        decryptor = Cipher(self._algorithm, modes.CBC(body[: self.BLOCK])).decryptor()
        padded = decryptor.update(body[self.BLOCK:]) + decryptor.finalize()
        unpadder = padding.PKCS7(self.BLOCK * 8).unpadder()
        try:
            return unpadder.update(padded) + unpadder.finalize()
        except ValueError:
            raise ValueError("invalid PKCS#7 padding: wrong key or tampered data") from None


class _Secretbox:
    """NaCl secretbox (XSalsa20-Poly1305), as Kubernetes' secretbox provider; needs PyNaCl."""

    def __init__(self, key: bytes) -> None:
        from nacl.secret import SecretBox  # optional dependency, checked when the config is loaded

        self._box = SecretBox(key)

    def seal(self, aad: bytes, data: bytes) -> bytes:
        return bytes(self._box.encrypt(data))  # nonce(24) + tag(16) + ciphertext, like Go's secretbox.Seal

    def open(self, aad: bytes, body: bytes) -> bytes:
        from nacl.exceptions import CryptoError

        if len(body) < 24 + 16:
            raise ValueError("the stored data is shorter than nonce and tag")
        try:
            return self._box.decrypt(body)
        except CryptoError:
            raise ValueError("authentication failed: wrong key or tampered data") from None


_CIPHERS: Mapping[str, Callable[[bytes], Any]] = {"aesgcm": _AesGcm, "aescbc": _AesCbc, "secretbox": _Secretbox}


@dataclass(frozen=True)
class _Slot:
    """One key of one provider (or identity): values it wrote start with ``prefix``."""

    provider: str
    key_name: str
    prefix: bytes
    cipher: Any  # _AesGcm | _AesCbc | _Secretbox; None for identity

    @property
    def label(self) -> str:
        return f"{self.provider}:{self.key_name}" if self.key_name else self.provider


_IDENTITY = _Slot("identity", "", b"", None)


# ---- the transformer -------------------------------------------------------------------------


class EncryptionTransformer:
    """The storage Transformer: per resource, seal with the first provider, open with any of them."""

    def __init__(self, rules: Mapping[GroupResource, Sequence[_Slot]], source: str = "") -> None:
        self._rules = {gr: tuple(slots) for gr, slots in rules.items()}
        self.source = source

    @staticmethod
    def resource_of(key: str) -> str | None:
        """``/registry/core/secrets/ns/x`` -> ``secrets``; ``/registry/apps/deployments/...`` ->
        ``deployments.apps``; None for keys that hold no API object (allocator state)."""
        gr = _group_resource(key)
        if gr is None:
            return None
        group, resource = gr
        return f"{resource}.{group}" if group else resource

    def _slots(self, key: str) -> tuple[_Slot, ...] | None:
        gr = _group_resource(key)
        if gr is None:
            return None
        return self._rules.get(gr) or self._rules.get((gr[0], "*")) or self._rules.get(("*", "*"))

    def to_storage(self, key: str, data: bytes) -> bytes:
        slots = self._slots(key)
        if not slots:
            return data
        writer = slots[0]
        if writer.cipher is None:
            return data
        return writer.prefix + writer.cipher.seal(key.encode(), data)

    def from_storage(self, key: str, data: bytes) -> bytes:
        slots = self._slots(key)
        slot = self._reader(key, data, slots)
        if slot is None or slot.cipher is None:
            return data
        try:
            return slot.cipher.open(key.encode(), data[len(slot.prefix):])
        except ValueError as err:
            raise TransformError(f"cannot decrypt {key} with {slot.label}: {err}") from None

    def is_stale(self, key: str, data: bytes) -> bool:
        """Whether a stored value was written by another provider or key than the one writing now,
        i.e. still needs the rewrite of a key rotation."""
        slots = self._slots(key)
        slot = self._reader(key, data, slots)
        return (slot or _IDENTITY) != (slots[0] if slots else _IDENTITY)

    def _reader(self, key: str, data: bytes, slots: tuple[_Slot, ...] | None) -> _Slot | None:
        """The slot that wrote ``data``; None for plain data of a resource without encryption."""
        if not slots:
            if data.startswith(ENCRYPTED_MARK):
                raise TransformError(
                    f"{key} is stored encrypted ({_describe_prefix(data)}) but the encryption config has no "
                    f"entry for {self.resource_of(key)}",
                    "add the entry back with the key that wrote it",
                )
            return None
        for slot in slots:
            if slot.cipher is not None and data.startswith(slot.prefix):
                return slot
        if data.startswith(ENCRYPTED_MARK):
            raise TransformError(
                f"{key} is stored encrypted with {_describe_prefix(data)}, which is not among the providers "
                f"for {self.resource_of(key)} ({', '.join(s.label for s in slots)})",
                "add that provider and key back to the encryption config",
            )
        if _IDENTITY in slots:
            return _IDENTITY
        raise TransformError(
            f"{key} is stored unencrypted but identity is not among the providers for {self.resource_of(key)}",
            "add 'identity: {}' after the encrypting provider, restart, and rewrite the objects",
        )

    def describe(self) -> list[str]:
        """One line per configured resource, writer first: for the startup log (no key material)."""
        lines = []
        for gr, slots in self._rules.items():
            lines.append(f"{_gr_text(gr)}: {', '.join(s.label for s in slots)}")
        return lines


def _group_resource(key: str) -> GroupResource | None:
    if not key.startswith(REGISTRY):
        return None
    parts = key[len(REGISTRY):].split("/")
    if len(parts) < 3 or not parts[0] or not parts[1] or parts[0] == INTERNAL_GROUP:
        return None
    return ("" if parts[0] == "core" else parts[0], parts[1])


def _describe_prefix(data: bytes) -> str:
    """``aesgcm:key1`` from ``k8s:enc:aesgcm:v1:key1:...`` (for messages; never the payload)."""
    head = data[len(ENCRYPTED_MARK):len(ENCRYPTED_MARK) + 200].split(b":")
    provider = head[0].decode(errors="replace") if head else "?"
    name = head[2].decode(errors="replace") if len(head) > 3 else "?"
    return f"{provider}:{name}"


# ---- loading the file ------------------------------------------------------------------------


def load_encryption_config(path: Path) -> EncryptionTransformer:
    """Read and validate an EncryptionConfiguration file; errors name the file and the field."""
    path = Path(path)
    try:
        text = path.read_text()
    except OSError as exc:
        raise KubeprovError(f"cannot read encryption provider config {path}: {exc.strerror or exc}") from None
    return parse_encryption_config(text, str(path))


def parse_encryption_config(text: str, source: str = "encryption config") -> EncryptionTransformer:
    try:
        raw = yaml.safe_load(text)
    except yaml.YAMLError as exc:
        raise KubeprovError(f"{source}: not valid YAML: {exc}") from None
    return _Parser(source).parse(raw)


class _Parser:
    def __init__(self, source: str) -> None:
        self.source = source

    def fail(self, field: str, message: str, hint: str | None = None) -> KubeprovError:
        where = f"{self.source}: {field}: " if field else f"{self.source}: "
        return KubeprovError(where + message, hint)

    def parse(self, raw: Any) -> EncryptionTransformer:
        if not isinstance(raw, dict):
            raise self.fail("", f"expected an {KIND} mapping")
        if raw.get("kind") != KIND:
            raise self.fail("kind", f"must be {KIND}, got {raw.get('kind')!r}")
        if raw.get("apiVersion") != API_VERSION:
            raise self.fail("apiVersion", f"must be {API_VERSION}, got {raw.get('apiVersion')!r}")
        entries = raw.get("resources")
        if not isinstance(entries, list) or not entries:
            raise self.fail("resources", "at least one entry is required")
        rules: dict[GroupResource, list[_Slot]] = {}
        for i, entry in enumerate(entries):
            at = f"resources[{i}]"
            if not isinstance(entry, dict):
                raise self.fail(at, "expected a mapping with resources and providers")
            unknown = sorted(set(entry) - {"resources", "providers"})
            if unknown:
                raise self.fail(at, f"unknown field(s) {', '.join(map(str, unknown))}")
            resources = self.resources(entry.get("resources"), f"{at}.resources")
            slots = self.providers(entry.get("providers"), f"{at}.providers")
            for name, gr in resources:
                for earlier in ((gr[0], "*"), ("*", "*")):
                    if earlier in rules:
                        raise self.fail(f"{at}.resources", f"{name!r} is masked by the earlier entry for "
                                        f"{_gr_text(earlier)!r}", "list specific resources before wildcards")
                rules.setdefault(gr, []).extend(slots)
        return EncryptionTransformer(rules, self.source)

    def resources(self, raw: Any, at: str) -> list[tuple[str, GroupResource]]:
        if not isinstance(raw, list) or not raw:
            raise self.fail(at, "at least one resource is required")
        out: list[tuple[str, GroupResource]] = []
        for j, name in enumerate(raw):
            field = f"{at}[{j}]"
            if not isinstance(name, str) or not name:
                raise self.fail(field, "must be a resource name such as secrets or deployments.apps")
            if name.lower() != name:
                raise self.fail(field, f"{name!r}: resource names must not contain capital letters")
            if name == "*":
                raise self.fail(field, "use '*.' for every resource of the core group or '*.*' for all resources")
            resource, _, group = name.partition(".")
            if resource in NON_REST_RESOURCES:
                raise self.fail(field, f"{name!r} has no REST API and cannot be encrypted")
            if group == "events.k8s.io":
                raise self.fail(field, "events.k8s.io events are stored as core 'events'; list 'events' instead")
            if group == "extensions":
                raise self.fail(field, "the extensions group has been removed and cannot be encrypted")
            if group == "*" and resource != "*":
                raise self.fail(field, f"{name!r}: encrypting one resource across all groups is not supported")
            out.append((name, (group, resource)))
        grs = [gr for _, gr in out]
        if len(set(grs)) != len(grs):
            raise self.fail(at, "the same resource is listed more than once")
        for a in grs:
            for b in grs:
                if a != b and (a == ("*", "*") or (a[0] == b[0] and "*" in (a[1], b[1]))):
                    raise self.fail(at, f"{_gr_text(a)!r} and {_gr_text(b)!r} overlap; one would mask the other")
        return out

    def providers(self, raw: Any, at: str) -> list[_Slot]:
        if not isinstance(raw, list) or not raw:
            raise self.fail(at, "at least one provider is required")
        slots: list[_Slot] = []
        for j, item in enumerate(raw):
            field = f"{at}[{j}]"
            if not isinstance(item, dict) or not item:
                raise self.fail(field, f"expected one provider: {', '.join(KNOWN_PROVIDERS)}")
            unknown = sorted(str(k) for k in item if k not in KNOWN_PROVIDERS)
            if unknown:
                raise self.fail(field, f"unknown provider {', '.join(unknown)}",
                                f"known providers: {', '.join(KNOWN_PROVIDERS)}")
            if len(item) > 1:
                raise self.fail(field, "more than one provider in a single element; split them into list items")
            (kind, conf), = item.items()
            if kind == "identity":
                if conf not in (None, {}):
                    raise self.fail(f"{field}.identity", "takes no settings: write 'identity: {}'")
                slots.append(_IDENTITY)
            elif kind == "kms":
                raise self.fail(f"{field}.kms", "the kms provider is not supported by kubeprov",
                                "use aesgcm (or aescbc, secretbox)")
            else:
                slots.extend(self.keys(kind, conf, f"{field}.{kind}"))
        return slots

    def keys(self, kind: str, conf: Any, at: str) -> list[_Slot]:
        if not isinstance(conf, dict):
            raise self.fail(at, "expected a mapping with keys")
        unknown = sorted(str(k) for k in conf if k != "keys")
        if unknown:
            raise self.fail(at, f"unknown field(s) {', '.join(unknown)}")
        keys = conf.get("keys")
        if not isinstance(keys, list) or not keys:
            raise self.fail(f"{at}.keys", "at least one key is required", KEY_HINT)
        if kind == "secretbox":
            try:
                import nacl.secret  # noqa: F401
            except ImportError:
                raise self.fail(at, "the secretbox provider needs the PyNaCl package",
                                "install pynacl, or use aesgcm") from None
        sizes = SECRETBOX_KEY_SIZES if kind == "secretbox" else AES_KEY_SIZES
        seen: set[str] = set()
        slots: list[_Slot] = []
        for k, key in enumerate(keys):
            field = f"{at}.keys[{k}]"
            if not isinstance(key, dict):
                raise self.fail(field, "expected a mapping with name and secret")
            unknown = sorted(str(x) for x in key if x not in ("name", "secret"))
            if unknown:
                raise self.fail(field, f"unknown field(s) {', '.join(unknown)}")
            name = key.get("name")
            if not isinstance(name, str) or not name:
                raise self.fail(f"{field}.name", "a key name is required")
            if name in seen:
                raise self.fail(f"{field}.name", f"duplicate key name {name!r}; names must be unique")
            seen.add(name)
            secret = self.secret(key.get("secret"), f"{field}.secret", kind, sizes)
            prefix = (PROVIDER_PREFIXES[kind] + name + ":").encode()
            slots.append(_Slot(kind, name, prefix, _CIPHERS[kind](secret)))
        return slots

    def secret(self, raw: Any, at: str, kind: str, sizes: tuple[int, ...]) -> bytes:
        # never echo the secret: messages end up in logs
        if not isinstance(raw, str) or not raw.strip():
            raise self.fail(at, "a base64-encoded secret is required", KEY_HINT)
        try:
            secret = base64.b64decode(raw.strip(), validate=True)
        except (binascii.Error, ValueError):
            raise self.fail(at, "is not valid base64", KEY_HINT) from None
        if len(secret) not in sizes:
            allowed = " or ".join(str(s) for s in sizes) if len(sizes) < 3 else "16, 24 or 32"
            raise self.fail(at, f"decodes to {len(secret)} bytes; {kind} keys must be {allowed} bytes", KEY_HINT)
        return secret


def _gr_text(gr: GroupResource) -> str:
    group, resource = gr
    return f"{resource}.{group}" if group else (f"{resource}." if resource == "*" else resource)
