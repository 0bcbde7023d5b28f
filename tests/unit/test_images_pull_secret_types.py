"""Which Secrets the kubelet reads registry credentials from, and the htpasswd file of the local registry."""

from __future__ import annotations

import base64
import json

import bcrypt

from kubeprov.kubelet.images.hosts import credentials_from_pull_secrets
from kubeprov.kubelet.images.localregistry import htpasswd


def _b64(value: object) -> str:
    return base64.b64encode(json.dumps(value).encode()).decode()


def _config_json(user: str, password: str, type_: str = "kubernetes.io/dockerconfigjson") -> dict:
    return {"type": type_, "data": {".dockerconfigjson": _b64({"auths": {"r.example": {"username": user,
                                                                                      "password": password}}})}}


def test_a_dockerconfigjson_key_in_an_opaque_secret_is_not_read() -> None:
    assert credentials_from_pull_secrets([_config_json("u", "p", "Opaque")]) == {}


def test_the_first_secret_naming_a_registry_wins() -> None:
    creds = credentials_from_pull_secrets([_config_json("first", "1"), _config_json("second", "2")])
    assert creds == {"r.example": ("first", "1")}


def test_a_malformed_secret_is_skipped_and_the_next_one_is_used() -> None:
    broken = {"type": "kubernetes.io/dockerconfigjson", "data": {".dockerconfigjson": "not base64 json!"}}
    assert credentials_from_pull_secrets([broken, _config_json("u", "p")]) == {"r.example": ("u", "p")}


def test_htpasswd_lines_hold_bcrypt_hashes_of_each_password() -> None:
    lines = htpasswd({"alice": "a-pass", "bob": "b-pass"}).splitlines()
    users = dict(line.split(":", 1) for line in lines)
    assert set(users) == {"alice", "bob"}
    assert users["alice"].startswith("$2")
    assert bcrypt.checkpw(b"a-pass", users["alice"].encode())
    assert not bcrypt.checkpw(b"b-pass", users["alice"].encode())
