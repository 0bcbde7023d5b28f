"""Encryption at rest: Kubernetes' stored formats, provider order, key rotation, config errors."""

from __future__ import annotations

import base64
import json

import pytest
from cryptography.hazmat.primitives import padding
from cryptography.hazmat.primitives.ciphers import Cipher, algorithms, modes
from cryptography.hazmat.primitives.ciphers.aead import AESGCM

from kubeprov.apiserver.storage.codec import Codec
from kubeprov.apiserver.storage.encryption import (
    EncryptionTransformer,
    TransformError,
    load_encryption_config,
    parse_encryption_config,
)
from kubeprov.errors import KubeprovError

KEY1 = bytes(range(32))
KEY2 = bytes(range(100, 132))
KEY16 = bytes(range(16))
SECRET_KEY = "/registry/core/secrets/default/db"
CONFIGMAP_KEY = "/registry/core/configmaps/default/settings"
PLAIN = b'{"kind":"Secret","data":{"password":"aHVudGVyMg=="}}'


def b64(key: bytes) -> str:
    return base64.b64encode(key).decode()


def config(*entries: tuple[list[str], list[dict]]) -> str:
    return json.dumps({
        "apiVersion": "apiserver.config.k8s.io/v1",
        "kind": "EncryptionConfiguration",
        "resources": [{"resources": res, "providers": prov} for res, prov in entries],
    })


def aes(kind: str, *keys: tuple[str, bytes]) -> dict:
    return {kind: {"keys": [{"name": name, "secret": b64(secret)} for name, secret in keys]}}


IDENTITY = {"identity": {}}


def transformer(*entries: tuple[list[str], list[dict]]) -> EncryptionTransformer:
    return parse_encryption_config(config(*entries), "enc.yaml")


# ---- formats ---------------------------------------------------------------------------------


def test_aesgcm_format_matches_kubernetes_and_binds_the_etcd_key():
    t = transformer((["secrets"], [aes("aesgcm", ("key1", KEY1))]))
    stored = t.to_storage(SECRET_KEY, PLAIN)
    prefix = b"k8s:enc:aesgcm:v1:key1:"
    assert stored.startswith(prefix)
    body = stored[len(prefix):]
    assert len(body) == 12 + len(PLAIN) + 16
    # decrypt independently: nonce(12) + ciphertext+tag, etcd key as additional authenticated data
    assert AESGCM(KEY1).decrypt(body[:12], body[12:], SECRET_KEY.encode()) == PLAIN
    assert t.from_storage(SECRET_KEY, stored) == PLAIN


def test_aesgcm_reads_a_value_sealed_elsewhere():
    nonce = bytes(12)
    sealed = b"k8s:enc:aesgcm:v1:k:" + nonce + AESGCM(KEY16).encrypt(nonce, PLAIN, SECRET_KEY.encode())
    t = transformer((["secrets"], [aes("aesgcm", ("k", KEY16))]))
    assert t.from_storage(SECRET_KEY, sealed) == PLAIN


def test_aesgcm_nonces_differ_between_writes():
    t = transformer((["secrets"], [aes("aesgcm", ("key1", KEY1))]))
    assert t.to_storage(SECRET_KEY, PLAIN) != t.to_storage(SECRET_KEY, PLAIN)


def test_aescbc_format_matches_kubernetes():
    t = transformer((["secrets"], [aes("aescbc", ("key1", KEY1))]))
    stored = t.to_storage(SECRET_KEY, PLAIN)
    prefix = b"k8s:enc:aescbc:v1:key1:"
    assert stored.startswith(prefix)
    body = stored[len(prefix):]
    assert len(body) == 16 + (len(PLAIN) // 16 + 1) * 16  # IV + PKCS#7 always adds 1..16 bytes
    decryptor = Cipher(algorithms.AES(KEY1), modes.CBC(body[:16])).decryptor()
    padded = decryptor.update(body[16:]) + decryptor.finalize()
    unpadder = padding.PKCS7(128).unpadder()
    assert unpadder.update(padded) + unpadder.finalize() == PLAIN
    assert t.from_storage(SECRET_KEY, stored) == PLAIN


def test_secretbox_format_matches_kubernetes():
    secret = pytest.importorskip("nacl.secret")
    t = transformer((["secrets"], [aes("secretbox", ("sb", KEY1))]))
    stored = t.to_storage(SECRET_KEY, PLAIN)
    prefix = b"k8s:enc:secretbox:v1:sb:"
    assert stored.startswith(prefix)
    body = stored[len(prefix):]
    assert len(body) == 24 + 16 + len(PLAIN)  # nonce + tag + ciphertext
    assert secret.SecretBox(KEY1).decrypt(body) == PLAIN
    assert t.from_storage(SECRET_KEY, stored) == PLAIN


@pytest.mark.parametrize("size", [16, 24, 32])
@pytest.mark.parametrize("kind", ["aesgcm", "aescbc"])
def test_round_trip_with_every_aes_key_size(kind, size):
    t = transformer((["secrets"], [aes(kind, ("k", bytes(size)))]))
    for plain in (b"", b"x", bytes(range(256)) * 40):
        assert t.from_storage(SECRET_KEY, t.to_storage(SECRET_KEY, plain)) == plain


def test_identity_stores_plain_bytes():
    t = transformer((["secrets"], [IDENTITY]))
    assert t.to_storage(SECRET_KEY, PLAIN) == PLAIN
    assert t.from_storage(SECRET_KEY, PLAIN) == PLAIN


def test_codec_round_trip_through_the_transformer():
    codec = Codec(transformer((["secrets"], [aes("aesgcm", ("key1", KEY1))])))
    obj = {"kind": "Secret", "metadata": {"name": "db", "resourceVersion": "5"}, "data": {"p": "eA=="}}
    stored = codec.encode(SECRET_KEY, obj)
    assert stored.startswith(b"k8s:enc:aesgcm:v1:key1:") and b"eA==" not in stored
    back = codec.decode(SECRET_KEY, stored, 9)
    assert back["data"] == {"p": "eA=="} and back["metadata"]["resourceVersion"] == "9"


# ---- failures ------------------------------------------------------------------------------


@pytest.mark.parametrize("position", [len(b"k8s:enc:aesgcm:v1:key1:") + 3, -1, -20])
def test_tampered_aesgcm_value_is_refused(position):
    t = transformer((["secrets"], [aes("aesgcm", ("key1", KEY1))]))
    stored = bytearray(t.to_storage(SECRET_KEY, PLAIN))
    stored[position] ^= 0x01
    with pytest.raises(TransformError, match="authentication failed"):
        t.from_storage(SECRET_KEY, bytes(stored))


def test_aesgcm_value_moved_to_another_key_is_refused():
    t = transformer((["secrets"], [aes("aesgcm", ("key1", KEY1))]))
    stored = t.to_storage(SECRET_KEY, PLAIN)
    with pytest.raises(TransformError, match="/registry/core/secrets/default/other"):
        t.from_storage("/registry/core/secrets/default/other", stored)


def test_truncated_values_are_refused():
    t = transformer((["secrets"], [aes("aesgcm", ("g", KEY1)), aes("aescbc", ("c", KEY1))]))
    with pytest.raises(TransformError, match="shorter"):
        t.from_storage(SECRET_KEY, b"k8s:enc:aesgcm:v1:g:" + bytes(10))
    with pytest.raises(TransformError, match="multiple of the block size"):
        t.from_storage(SECRET_KEY, b"k8s:enc:aescbc:v1:c:" + bytes(40))


def test_wrong_aescbc_key_is_refused_or_garbled():
    writer = transformer((["secrets"], [aes("aescbc", ("c", KEY1))]))
    reader = transformer((["secrets"], [aes("aescbc", ("c", KEY2))]))
    stored = writer.to_storage(SECRET_KEY, PLAIN)
    try:
        assert reader.from_storage(SECRET_KEY, stored) != PLAIN  # CBC is unauthenticated
    except TransformError as err:
        assert "padding" in str(err)


def test_plain_value_needs_identity_among_the_providers():
    with_identity = transformer((["secrets"], [aes("aesgcm", ("key1", KEY1)), IDENTITY]))
    assert with_identity.from_storage(SECRET_KEY, PLAIN) == PLAIN
    strict = transformer((["secrets"], [aes("aesgcm", ("key1", KEY1))]))
    with pytest.raises(TransformError, match="unencrypted but identity is not among the providers"):
        strict.from_storage(SECRET_KEY, PLAIN)


def test_value_from_an_unknown_key_names_provider_and_key():
    old = transformer((["secrets"], [aes("aesgcm", ("old", KEY1))]))
    new = transformer((["secrets"], [aes("aesgcm", ("new", KEY2)), IDENTITY]))
    with pytest.raises(TransformError, match="aesgcm:old.*not among the providers.*aesgcm:new, identity"):
        new.from_storage(SECRET_KEY, old.to_storage(SECRET_KEY, PLAIN))


def test_encrypted_value_of_a_resource_without_entry_is_refused():
    t = transformer((["configmaps"], [IDENTITY]))
    with pytest.raises(TransformError, match="no entry for secrets"):
        t.from_storage(SECRET_KEY, b"k8s:enc:aesgcm:v1:key1:" + bytes(40))


# ---- provider order and key rotation ---------------------------------------------------------


def test_rotation_reads_old_key_and_writes_new_key():
    before = transformer((["secrets"], [aes("aesgcm", ("key1", KEY1))]))
    old_value = before.to_storage(SECRET_KEY, PLAIN)
    during = transformer((["secrets"], [aes("aesgcm", ("key2", KEY2), ("key1", KEY1))]))
    assert during.from_storage(SECRET_KEY, old_value) == PLAIN
    assert during.is_stale(SECRET_KEY, old_value)
    rewritten = during.to_storage(SECRET_KEY, during.from_storage(SECRET_KEY, old_value))
    assert rewritten.startswith(b"k8s:enc:aesgcm:v1:key2:")
    assert not during.is_stale(SECRET_KEY, rewritten)
    after = transformer((["secrets"], [aes("aesgcm", ("key2", KEY2))]))
    assert after.from_storage(SECRET_KEY, rewritten) == PLAIN
    with pytest.raises(TransformError, match="aesgcm:key1"):
        after.from_storage(SECRET_KEY, old_value)


def test_switching_provider_reads_the_old_one():
    cbc = transformer((["secrets"], [aes("aescbc", ("c", KEY1))]))
    gcm_then_cbc = transformer((["secrets"], [aes("aesgcm", ("g", KEY2)), aes("aescbc", ("c", KEY1))]))
    assert gcm_then_cbc.from_storage(SECRET_KEY, cbc.to_storage(SECRET_KEY, PLAIN)) == PLAIN
    assert gcm_then_cbc.to_storage(SECRET_KEY, PLAIN).startswith(b"k8s:enc:aesgcm:v1:g:")


def test_identity_first_decrypts_away():
    t = transformer((["secrets"], [IDENTITY, aes("aesgcm", ("key1", KEY1))]))
    encrypted = transformer((["secrets"], [aes("aesgcm", ("key1", KEY1))])).to_storage(SECRET_KEY, PLAIN)
    assert t.from_storage(SECRET_KEY, encrypted) == PLAIN
    assert t.is_stale(SECRET_KEY, encrypted)
    assert t.to_storage(SECRET_KEY, PLAIN) == PLAIN
    assert not t.is_stale(SECRET_KEY, PLAIN)


def test_resource_in_two_entries_reads_with_both():
    t = transformer(
        (["secrets"], [aes("aesgcm", ("a", KEY1))]),
        (["secrets", "configmaps"], [aes("aescbc", ("b", KEY2))]),
    )
    assert t.to_storage(SECRET_KEY, PLAIN).startswith(b"k8s:enc:aesgcm:v1:a:")
    assert t.to_storage(CONFIGMAP_KEY, PLAIN).startswith(b"k8s:enc:aescbc:v1:b:")
    other = transformer((["secrets"], [aes("aescbc", ("b", KEY2))]))
    assert t.from_storage(SECRET_KEY, other.to_storage(SECRET_KEY, PLAIN)) == PLAIN


# ---- which resources ------------------------------------------------------------------------


def test_other_resources_are_not_encrypted():
    t = transformer((["secrets"], [aes("aesgcm", ("key1", KEY1))]))
    assert t.to_storage(CONFIGMAP_KEY, PLAIN) == PLAIN
    assert t.from_storage(CONFIGMAP_KEY, PLAIN) == PLAIN
    assert t.to_storage("/registry/apps/secrets/ns/x", PLAIN) == PLAIN  # same name, other group


@pytest.mark.parametrize(
    ("resources", "key", "encrypted"),
    [
        (["*.apps"], "/registry/apps/deployments/ns/web", True),
        (["*.apps"], SECRET_KEY, False),
        (["*."], SECRET_KEY, True),
        (["*."], "/registry/core/namespaces/ns", True),
        (["*."], "/registry/apps/deployments/ns/web", False),
        (["*.*"], "/registry/stable.example.com/crontabs/ns/x", True),
        (["*.*"], "/registry/_internal/ranges/serviceips", False),
        (["deployments.apps"], "/registry/apps/deployments/ns/web", True),
        (["deployments.apps"], "/registry/apps/replicasets/ns/web", False),
        (["crontabs.stable.example.com"], "/registry/stable.example.com/crontabs/ns/x", True),
    ],
)
def test_resource_matching(resources, key, encrypted):
    t = transformer((resources, [aes("aesgcm", ("key1", KEY1))]))
    assert t.to_storage(key, PLAIN).startswith(b"k8s:enc:") is encrypted


def test_earlier_entry_wins_over_wildcard():
    t = transformer((["events"], [IDENTITY]), (["*.*"], [aes("aesgcm", ("key1", KEY1))]))
    assert t.to_storage("/registry/core/events/ns/e", PLAIN) == PLAIN
    assert t.to_storage(SECRET_KEY, PLAIN).startswith(b"k8s:enc:aesgcm:v1:key1:")


@pytest.mark.parametrize(
    ("key", "resource"),
    [
        (SECRET_KEY, "secrets"),
        ("/registry/core/namespaces/kube-system", "namespaces"),
        ("/registry/apps/deployments/ns/web", "deployments.apps"),
        ("/registry/rbac.authorization.k8s.io/clusterroles/admin", "clusterroles.rbac.authorization.k8s.io"),
        ("/registry/_internal/ranges/serviceips", None),
        ("/other/core/secrets/ns/x", None),
        ("/registry/core", None),
    ],
)
def test_resource_of(key, resource):
    assert EncryptionTransformer.resource_of(key) == resource


def test_describe_lists_providers_without_key_material():
    t = transformer((["secrets", "*.apps"], [aes("aesgcm", ("key1", KEY1)), IDENTITY]))
    lines = t.describe()
    assert lines == ["secrets: aesgcm:key1, identity", "*.apps: aesgcm:key1, identity"]
    assert b64(KEY1) not in "".join(lines)


# ---- the file ---------------------------------------------------------------------------------


def test_load_from_yaml_file(tmp_path):
    path = tmp_path / "enc.yaml"
    path.write_text(f"""\
apiVersion: apiserver.config.k8s.io/v1
kind: EncryptionConfiguration
resources:
  - resources: [secrets, configmaps]
    providers:
      - aesgcm:
          keys:
            - name: key1
              secret: {b64(KEY1)}
      - identity: {{}}
""")
    t = load_encryption_config(path)
    assert t.to_storage(CONFIGMAP_KEY, PLAIN).startswith(b"k8s:enc:aesgcm:v1:key1:")
    assert t.source == str(path)


GOOD_PROVIDERS = [aes("aesgcm", ("key1", KEY1))]


@pytest.mark.parametrize(
    ("raw", "expected"),
    [
        ("kind: [", "not valid YAML"),
        ("[]", "expected an EncryptionConfiguration mapping"),
        ('{"kind": "EncryptionConfig", "apiVersion": "apiserver.config.k8s.io/v1"}', "kind: must be"),
        ('{"kind": "EncryptionConfiguration", "apiVersion": "v1"}', "apiVersion: must be apiserver.config.k8s.io/v1"),
        (config(), "resources: at least one entry"),
        (config(([], GOOD_PROVIDERS)), r"resources\[0\].resources: at least one resource"),
        (config((["secrets"], [])), r"resources\[0\].providers: at least one provider"),
        (config((["secrets"], [{"aesgcmm": {}}])), r"resources\[0\].providers\[0\]: unknown provider aesgcmm"),
        (config((["secrets"], [{"kms": {"name": "x"}}])), r"providers\[0\].kms: the kms provider is not supported"),
        (config((["secrets"], [{**GOOD_PROVIDERS[0], "identity": {}}])), "more than one provider"),
        (config((["secrets"], [{"aesgcm": {"keys": []}}])), r"providers\[0\].aesgcm.keys: at least one key"),
        (config((["secrets"], [aes("aesgcm", ("k", bytes(10)))])),
         r"aesgcm.keys\[0\].secret: decodes to 10 bytes; aesgcm keys must be 16, 24 or 32 bytes"),
        (config((["secrets"], [aes("secretbox", ("k", bytes(16)))])),
         r"secretbox.keys\[0\].secret: decodes to 16 bytes; secretbox keys must be 32 bytes"),
        (config((["secrets"], [{"aescbc": {"keys": [{"name": "k", "secret": "not base64!"}]}}])),
         r"aescbc.keys\[0\].secret: is not valid base64"),
        (config((["secrets"], [{"aescbc": {"keys": [{"name": "k"}]}}])), r"keys\[0\].secret: a base64-encoded"),
        (config((["secrets"], [{"aescbc": {"keys": [{"secret": b64(KEY1)}]}}])), r"keys\[0\].name: a key name"),
        (config((["secrets"], [aes("aesgcm", ("k", KEY1), ("k", KEY2))])), r"keys\[1\].name: duplicate key name"),
        (config((["secrets"], [{"identity": {"x": 1}}])), r"providers\[0\].identity: takes no settings"),
        (config((["Secrets"], GOOD_PROVIDERS)), r"resources\[0\].resources\[0\]: 'Secrets'.*capital"),
        (config((["*"], GOOD_PROVIDERS)), r"resources\[0\]: use '\*\.'"),
        (config((["secrets.*"], GOOD_PROVIDERS)), "across all groups"),
        (config((["events.events.k8s.io"], GOOD_PROVIDERS)), "list 'events' instead"),
        (config((["serviceipallocations"], GOOD_PROVIDERS)), "no REST API"),
        (config((["secrets", "secrets"], GOOD_PROVIDERS)), "listed more than once"),
        (config((["secrets", "*."], GOOD_PROVIDERS)), "overlap"),
        (config((["*.*", "secrets"], GOOD_PROVIDERS)), "overlap"),
        (config((["*.apps"], GOOD_PROVIDERS), (["deployments.apps"], GOOD_PROVIDERS)),
         r"resources\[1\].resources: 'deployments.apps' is masked by the earlier entry for '\*.apps'"),
        (config((["*.*"], GOOD_PROVIDERS), (["secrets"], GOOD_PROVIDERS)), "masked by the earlier entry for"),
    ],
)
def test_bad_config_names_file_and_field(tmp_path, raw, expected):
    path = tmp_path / "encryption.yaml"
    path.write_text(raw)
    with pytest.raises(KubeprovError, match=expected) as info:
        load_encryption_config(path)
    assert str(info.value).startswith(f"{path}: ")


def test_errors_never_show_the_secret(tmp_path):
    path = tmp_path / "enc.yaml"
    path.write_text(config((["secrets"], [aes("aesgcm", ("k", b"0123456789"))])))
    with pytest.raises(KubeprovError) as info:
        load_encryption_config(path)
    assert b64(b"0123456789") not in str(info.value)
    assert "head -c 32 /dev/urandom | base64" in str(info.value)


def test_missing_file(tmp_path):
    with pytest.raises(KubeprovError, match=f"cannot read encryption provider config {tmp_path}/nope.yaml"):
        load_encryption_config(tmp_path / "nope.yaml")
