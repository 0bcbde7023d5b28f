"""Encryption at rest against real etcd: what etcdctl sees is ciphertext in Kubernetes' format."""

from __future__ import annotations

import base64
import json
import uuid

import pytest

from kubeprov.apiserver.storage.codec import Codec
from kubeprov.apiserver.storage.encryption import parse_encryption_config

pytestmark = [pytest.mark.integration, pytest.mark.timeout(30)]

PASSWORD = "correct-horse-battery-staple"


def _config(*keys: tuple[str, bytes]) -> str:
    return json.dumps({
        "apiVersion": "apiserver.config.k8s.io/v1",
        "kind": "EncryptionConfiguration",
        "resources": [{"resources": ["secrets"], "providers": [
            {"aesgcm": {"keys": [{"name": n, "secret": base64.b64encode(k).decode()} for n, k in keys]}},
            {"identity": {}},
        ]}],
    })


def _raw_value(etcd_server, key: str) -> bytes:
    """The stored bytes as the real etcdctl reads them (JSON output keeps binary values intact)."""
    done = etcd_server.etcdctl("get", key, "-w", "json")
    assert done.returncode == 0, done.stderr
    kvs = json.loads(done.stdout)["kvs"]
    return base64.b64decode(kvs[0]["value"])


async def test_secret_is_stored_encrypted_and_rotates(etcd):
    # transformer keys must be real object keys (/registry/<group>/<resource>/...): a unique namespace isolates us
    namespace = f"enc-{uuid.uuid4().hex[:10]}"
    key = f"/registry/core/secrets/{namespace}/db"
    other = f"/registry/core/configmaps/{namespace}/settings"
    key1, key2 = bytes(range(32)), bytes(range(32, 64))
    secret = {"apiVersion": "v1", "kind": "Secret", "metadata": {"name": "db", "namespace": namespace},
              "stringData": {"password": PASSWORD}}
    configmap = {"apiVersion": "v1", "kind": "ConfigMap", "metadata": {"name": "settings", "namespace": namespace},
                 "data": {"password": PASSWORD}}
    try:
        codec = Codec(parse_encryption_config(_config(("key1", key1))))
        await etcd.client.put(key, codec.encode(key, secret))
        await etcd.client.put(other, codec.encode(other, configmap))

        raw = _raw_value(etcd.server, key)
        assert raw.startswith(b"k8s:enc:aesgcm:v1:key1:")
        assert PASSWORD.encode() not in raw and namespace.encode() not in raw
        assert PASSWORD.encode() in _raw_value(etcd.server, other)  # configmaps are not in the config

        kv = await etcd.client.get(key)
        assert kv is not None
        assert codec.decode(key, kv.value, kv.mod_revision)["stringData"] == {"password": PASSWORD}

        # rotation: the new key first, the old one still readable; rewriting moves the value to key2
        rotated_transformer = parse_encryption_config(_config(("key2", key2), ("key1", key1)))
        rotated = Codec(rotated_transformer)
        obj = rotated.decode(key, kv.value, kv.mod_revision)
        assert rotated_transformer.is_stale(key, kv.value)
        await etcd.client.put(key, rotated.encode(key, obj))
        raw = _raw_value(etcd.server, key)
        assert raw.startswith(b"k8s:enc:aesgcm:v1:key2:")
        assert not rotated_transformer.is_stale(key, raw)

        only_new = Codec(parse_encryption_config(_config(("key2", key2))))
        kv = await etcd.client.get(key)
        assert kv is not None
        assert only_new.decode(key, kv.value, kv.mod_revision)["stringData"] == {"password": PASSWORD}
    finally:
        await etcd.client.delete(f"/registry/core/secrets/{namespace}/", prefix=True)
        await etcd.client.delete(f"/registry/core/configmaps/{namespace}/", prefix=True)
