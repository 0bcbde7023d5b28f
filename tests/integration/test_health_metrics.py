"""Health endpoints, Prometheus metrics, and what an anonymous caller may see."""

from __future__ import annotations

import json
import ssl
import urllib.error
import urllib.request

import pytest

from tests.integration.apiserver_fixture import ApiServerForTest
from tests.integration.certs import RawClient

pytestmark = pytest.mark.integration


def anonymous(apiserver: ApiServerForTest, path: str) -> tuple[int, bytes]:
    ctx = ssl.create_default_context(cafile=str(apiserver.pki_dir / "ca.crt"))
    try:
        with urllib.request.urlopen(apiserver.url + path, context=ctx, timeout=10) as resp:
            return resp.status, resp.read()
    except urllib.error.HTTPError as err:
        return err.code, err.read()


@pytest.mark.parametrize("path", ["/healthz", "/livez", "/readyz", "/version"])
def test_anonymous_callers_may_read_health_and_version(apiserver: ApiServerForTest, path: str) -> None:
    code, body = anonymous(apiserver, path)
    assert code == 200, body


def test_anonymous_callers_may_not_list_the_api(apiserver: ApiServerForTest) -> None:
    code, body = anonymous(apiserver, "/api/v1/namespaces")
    doc = json.loads(body)
    assert code == 403
    assert doc["message"] == ('namespaces is forbidden: User "system:anonymous" cannot list resource "namespaces" '
                              'in API group "" at the cluster scope')


def test_verbose_readyz_lists_each_check_including_etcd(apiserver: ApiServerForTest) -> None:
    code, body = anonymous(apiserver, "/readyz?verbose")
    text = body.decode()
    assert code == 200
    assert "[+]etcd ok" in text and "[+]informer-sync ok" in text
    assert text.strip().endswith("readyz check passed")


def test_metrics_count_requests_by_verb_resource_and_code(apiserver: ApiServerForTest) -> None:
    client = RawClient(apiserver.kubeconfig)
    assert client.request("GET", "/api/v1/namespaces/default/configmaps").status == 200
    resp = client.request("GET", "/metrics")
    text = resp.body.decode()
    assert resp.status == 200
    assert resp.headers["content-type"].startswith("text/plain")
    lines = [line for line in text.splitlines() if line.startswith("apiserver_request_total{")]
    assert any('verb="GET"' in line and 'resource="configmaps"' in line and 'code="200"' in line for line in lines)
    assert "apiserver_request_duration_seconds_bucket{" in text
