"""Secrets encrypted at rest in etcd (checked with the real etcdctl), key rotation, and the audit log."""

from __future__ import annotations

import base64
import dataclasses
import json
import os
import subprocess
import time
from pathlib import Path

import pytest

from kubeprov.etcd.local import free_port
from tests.integration.apiserver_fixture import ApiServerForTest, extra_server
from tests.integration.certs import with_server

pytestmark = pytest.mark.integration


def key(name: str, seed: int) -> dict:
    return {"name": name, "secret": base64.b64encode(bytes([seed]) * 32).decode()}


def encryption_config(path: Path, keys: list[dict]) -> Path:
    path.write_text(json.dumps({
        "apiVersion": "apiserver.config.k8s.io/v1", "kind": "EncryptionConfiguration",
        "resources": [{"resources": ["secrets"], "providers": [{"aesgcm": {"keys": keys}}, {"identity": {}}]}],
    }))
    return path


def etcd_raw(apiserver: ApiServerForTest, key_path: str) -> bytes:
    cfg = apiserver.server.config
    env = {**os.environ, "ETCDCTL_API": "3"}
    out = subprocess.run(["etcdctl", f"--endpoints={cfg.etcd_endpoints[0]}", f"--cacert={cfg.etcd_ca_file}",
                          f"--cert={cfg.etcd_cert_file}", f"--key={cfg.etcd_key_file}", "get", key_path,
                          "--print-value-only"], capture_output=True, env=env, check=True, timeout=20)
    return out.stdout


def kubectl_on(apiserver: ApiServerForTest, port: int, tmp_path: Path, *args: str) -> subprocess.CompletedProcess:
    kubeconfig = with_server(apiserver.kubeconfig, f"https://127.0.0.1:{port}", tmp_path / f"kc-{port}")
    return apiserver.kubectl(*args, kubeconfig=kubeconfig)


def test_secret_written_through_an_encrypting_server_is_aesgcm_in_etcd(apiserver, tmp_path):
    ns = apiserver.namespace("enc")
    port = free_port()
    config = dataclasses.replace(apiserver.server.config, port=port, encryption_provider_config=str(
        encryption_config(tmp_path / "enc.json", [key("key1", 1)])))
    with extra_server(config):
        try:
            out = kubectl_on(apiserver, port, tmp_path, "create", "secret", "generic", "s1", "-n", ns,
                             "--from-literal=password=plain-text-value")
            assert out.returncode == 0, out.stderr
            raw = etcd_raw(apiserver, f"/registry/core/secrets/{ns}/s1")
            assert raw.startswith(b"k8s:enc:aesgcm:v1:key1:")
            assert b"plain-text-value" not in raw and base64.b64encode(b"plain-text-value") not in raw
            got = kubectl_on(apiserver, port, tmp_path, "get", "secret", "s1", "-n", ns, "-o",
                             "jsonpath={.data.password}")
            assert base64.b64decode(got.stdout) == b"plain-text-value"
        finally:  # the session's other server cannot read it: leave nothing it would fail to list
            kubectl_on(apiserver, port, tmp_path, "delete", "secret", "s1", "-n", ns, "--ignore-not-found")


def test_rotation_rewrites_secrets_with_the_new_first_key(apiserver, tmp_path):
    ns = apiserver.namespace("rot")
    port = free_port()
    base = apiserver.server.config
    old = dataclasses.replace(base, port=port, encryption_provider_config=str(
        encryption_config(tmp_path / "old.json", [key("key1", 1)])))
    with extra_server(old):
        assert kubectl_on(apiserver, port, tmp_path, "create", "secret", "generic", "s2", "-n", ns,
                          "--from-literal=a=b").returncode == 0
    rotated = dataclasses.replace(base, port=port, encryption_provider_config=str(
        encryption_config(tmp_path / "new.json", [key("key2", 2), key("key1", 1)])))
    with extra_server(rotated):
        try:
            current = kubectl_on(apiserver, port, tmp_path, "get", "secret", "s2", "-n", ns, "-o", "json")
            replaced = subprocess.run(["kubectl", "--kubeconfig", str(tmp_path / f"kc-{port}"), "replace", "-f",
                                       "-"], input=current.stdout, capture_output=True, text=True, timeout=30)
            assert replaced.returncode == 0, replaced.stderr
            assert etcd_raw(apiserver, f"/registry/core/secrets/{ns}/s2").startswith(b"k8s:enc:aesgcm:v1:key2:")
        finally:
            kubectl_on(apiserver, port, tmp_path, "delete", "secret", "s2", "-n", ns, "--ignore-not-found")


def test_audit_log_records_who_did_what(apiserver, tmp_path):
    ns = apiserver.namespace("audit")
    port = free_port()
    log = tmp_path / "audit.log"
    with extra_server(dataclasses.replace(apiserver.server.config, port=port, audit_log_path=str(log))):
        assert kubectl_on(apiserver, port, tmp_path, "create", "configmap", "audited", "-n", ns,
                          "--from-literal=a=b").returncode == 0
    deadline = time.monotonic() + 5
    while time.monotonic() < deadline and not log.exists():
        time.sleep(0.1)
    events = [json.loads(line) for line in log.read_text().splitlines()]
    done = [e for e in events if e["stage"] == "ResponseComplete" and e["verb"] == "create"
            and (e.get("objectRef") or {}).get("resource") == "configmaps"]
    assert done, events[-3:]
    assert done[0]["user"]["username"] == "kubernetes-admin"
    ref = done[0]["objectRef"]
    assert (ref["resource"], ref["namespace"], ref["apiVersion"]) == ("configmaps", ns, "v1")
    assert done[0]["responseStatus"]["code"] == 201
