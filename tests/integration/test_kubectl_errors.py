"""Bad input: every rejection is a 4xx ``Status`` worded like kube-apiserver's, and the server stays up.

Bodies kubectl would refuse to send go over raw HTTPS with the admin's client certificate.
"""

from __future__ import annotations

import json
import subprocess
from typing import Any

import pytest

from tests.integration.apiserver_fixture import ApiServerForTest
from tests.integration.certs import RawClient, Response

pytestmark = [pytest.mark.integration, pytest.mark.timeout(60)]

DNS1123_SUBDOMAIN = ("a lowercase RFC 1123 subdomain must consist of lower case alphanumeric characters, '-' or "
                     "'.', and must start and end with an alphanumeric character (e.g. 'example.com', regex used "
                     "for validation is '[a-z0-9]([-a-z0-9]*[a-z0-9])?(\\.[a-z0-9]([-a-z0-9]*[a-z0-9])?)*')")
DNS1035_LABEL = ("a DNS-1035 label must consist of lower case alphanumeric characters or '-', start with an "
                 "alphabetic character, and end with an alphanumeric character (e.g. 'my-name',  or 'abc-123', "
                 "regex used for validation is '[a-z]([-a-z0-9]*[a-z0-9])?')")


@pytest.fixture(scope="module")
def client(apiserver: ApiServerForTest) -> RawClient:
    return RawClient(apiserver.kubeconfig)


@pytest.fixture
def ns(apiserver: ApiServerForTest) -> str:
    """A fresh namespace with its "default" ServiceAccount (pod admission needs it; no controller makes it)."""
    name = apiserver.namespace("err")
    made = apiserver.kubectl("create", "serviceaccount", "default", "-n", name)
    assert made.returncode == 0 or "AlreadyExists" in made.stderr, made.stderr
    return name


def status_of(resp: Response, code: int, reason: str) -> dict[str, Any]:
    """The response is a Failure Status with this code and reason (and the HTTP status matches)."""
    assert resp.status == code, resp
    assert resp.headers.get("content-type", "").startswith("application/json"), resp.headers
    status = resp.json()
    assert (status["kind"], status["apiVersion"], status["status"]) == ("Status", "v1", "Failure"), status
    assert (status["code"], status["reason"]) == (code, reason), status
    return status


def assert_still_serving(client: RawClient) -> None:
    resp = client.get("/readyz")
    assert (resp.status, resp.body) == (200, b"ok")


def pod(name: str) -> dict[str, Any]:
    return {"apiVersion": "v1", "kind": "Pod", "metadata": {"name": name},
            "spec": {"containers": [{"name": "app", "image": "nginx:1.27"}]}}


def deployment(name: str, selector: dict[str, str], labels: dict[str, str]) -> dict[str, Any]:
    return {"apiVersion": "apps/v1", "kind": "Deployment", "metadata": {"name": name},
            "spec": {"selector": {"matchLabels": selector},
                     "template": {"metadata": {"labels": labels},
                                  "spec": {"containers": [{"name": "app", "image": "nginx:1.27"}]}}}}


# ---- undecodable bodies ------------------------------------------------------------------------

MALFORMED_JSON = b'{"apiVersion": "v1", "kind": "ConfigMap", "metadata": {"name": "x"'
MALFORMED_YAML = b"apiVersion: v1\nkind: ConfigMap\nmetadata:\n  name: x\n   bad: [unclosed\n"


def test_malformed_json_is_400_bad_request(client: RawClient, ns: str) -> None:
    status_of(client.post(f"/api/v1/namespaces/{ns}/configmaps", MALFORMED_JSON), 400, "BadRequest")
    assert_still_serving(client)


def test_malformed_json_message_says_what_kind_was_expected(client: RawClient, ns: str) -> None:
    status = status_of(client.post(f"/api/v1/namespaces/{ns}/configmaps", MALFORMED_JSON), 400, "BadRequest")
    assert status["message"].startswith("the object provided is unrecognized (must be of type ConfigMap): "
                                        "couldn't get version/kind; json parse error: "), status["message"]


def test_malformed_yaml_is_400_bad_request(client: RawClient, ns: str) -> None:
    resp = client.post(f"/api/v1/namespaces/{ns}/configmaps", MALFORMED_YAML, content_type="application/yaml")
    status = status_of(resp, 400, "BadRequest")
    assert "yaml: line" in status["message"], status["message"]
    assert_still_serving(client)


def test_non_utf8_body_is_400_bad_request(client: RawClient, ns: str) -> None:
    status_of(client.post(f"/api/v1/namespaces/{ns}/configmaps", b"\xff\xfe\x00garbage"), 400, "BadRequest")
    assert_still_serving(client)


def test_body_of_the_wrong_kind_is_400_bad_request(client: RawClient, ns: str) -> None:
    body = {"apiVersion": "v1", "kind": "Service", "metadata": {"name": "x"}, "spec": {"ports": [{"port": 80}]}}
    status = status_of(client.post(f"/api/v1/namespaces/{ns}/configmaps", body), 400, "BadRequest")
    assert status["message"].startswith('Service in version "v1" cannot be handled as a ConfigMap'), status
    assert_still_serving(client)


def test_body_of_the_wrong_group_version_is_400_bad_request(client: RawClient, ns: str) -> None:
    body = deployment("web", {"app": "web"}, {"app": "web"})
    body["apiVersion"] = "v1"
    status_of(client.post(f"/apis/apps/v1/namespaces/{ns}/deployments", body), 400, "BadRequest")
    assert_still_serving(client)


def test_field_of_the_wrong_type_is_400_cannot_be_handled(client: RawClient, ns: str) -> None:
    body = {"apiVersion": "v1", "kind": "ConfigMap", "metadata": {"name": "typed"}, "data": {"port": 8080}}
    status = status_of(client.post(f"/api/v1/namespaces/{ns}/configmaps", body), 400, "BadRequest")
    assert status["message"] == ('ConfigMap in version "v1" cannot be handled as a ConfigMap: json: cannot '
                                 'unmarshal number into Go struct field ConfigMap.data of type string')
    assert_still_serving(client)


@pytest.mark.parametrize("field", ["name", "generateName"])
@pytest.mark.parametrize("value", [5, True, ["x"], {"a": 1}])
def test_metadata_name_of_the_wrong_type_is_400_not_500(client: RawClient, ns: str, field: str, value: Any) -> None:
    body = {"apiVersion": "v1", "kind": "ConfigMap", "metadata": {field: value}}
    status_of(client.post(f"/api/v1/namespaces/{ns}/configmaps", body), 400, "BadRequest")
    assert_still_serving(client)


def test_metadata_name_of_the_wrong_type_names_the_go_field(client: RawClient, ns: str) -> None:
    body = {"apiVersion": "v1", "kind": "ConfigMap", "metadata": {"name": 5}}
    status = status_of(client.post(f"/api/v1/namespaces/{ns}/configmaps", body), 400, "BadRequest")
    assert status["message"] == ('ConfigMap in version "v1" cannot be handled as a ConfigMap: json: cannot '
                                 'unmarshal number into Go struct field ObjectMeta.metadata.name of type string')


def test_json_array_body_is_400_bad_request(client: RawClient, ns: str) -> None:
    status_of(client.post(f"/api/v1/namespaces/{ns}/configmaps", b"[1, 2, 3]"), 400, "BadRequest")
    assert_still_serving(client)


def test_body_over_3_mib_is_413(client: RawClient, ns: str) -> None:
    body = {"apiVersion": "v1", "kind": "ConfigMap", "metadata": {"name": "huge"},
            "data": {"blob": "x" * (3 * 1024 * 1024 + 1024)}}
    status = status_of(client.post(f"/api/v1/namespaces/{ns}/configmaps", body), 413, "RequestEntityTooLarge")
    assert status["message"] == "Request entity too large: limit is 3145728"
    assert_still_serving(client)


def test_unsupported_content_type_is_415(client: RawClient, ns: str) -> None:
    resp = client.post(f"/api/v1/namespaces/{ns}/configmaps", b"name=x", content_type="text/plain")
    status_of(resp, 415, "UnsupportedMediaType")
    assert_still_serving(client)


# ---- invalid objects ---------------------------------------------------------------------------


def test_invalid_pod_name_is_422_with_kubernetes_message(client: RawClient, ns: str) -> None:
    status = status_of(client.post(f"/api/v1/namespaces/{ns}/pods", pod("My_Pod")), 422, "Invalid")
    assert status["message"] == f'Pod "My_Pod" is invalid: metadata.name: Invalid value: "My_Pod": {DNS1123_SUBDOMAIN}'
    assert status["details"] == {"name": "My_Pod", "kind": "Pod", "causes": [
        {"reason": "FieldValueInvalid", "message": f'Invalid value: "My_Pod": {DNS1123_SUBDOMAIN}',
         "field": "metadata.name"}]}
    assert_still_serving(client)


def test_invalid_service_name_uses_dns_1035_label_rules(client: RawClient, ns: str) -> None:
    body = {"apiVersion": "v1", "kind": "Service", "metadata": {"name": "1web"},
            "spec": {"ports": [{"port": 80}]}}
    status = status_of(client.post(f"/api/v1/namespaces/{ns}/services", body), 422, "Invalid")
    assert status["message"] == f'Service "1web" is invalid: metadata.name: Invalid value: "1web": {DNS1035_LABEL}'


def test_deployment_selector_not_matching_template_is_422(client: RawClient, ns: str) -> None:
    body = deployment("web", {"app": "web"}, {"app": "other"})
    status = status_of(client.post(f"/apis/apps/v1/namespaces/{ns}/deployments", body), 422, "Invalid")
    assert status["message"] == ('Deployment.apps "web" is invalid: spec.template.metadata.labels: Invalid value: '
                                 'map[string]string{"app":"other"}: `selector` does not match template `labels`')
    assert status["details"]["group"] == "apps"
    assert status["details"]["kind"] == "Deployment"
    assert_still_serving(client)


def test_kubectl_shows_invalid_deployment_message(apiserver: ApiServerForTest, ns: str) -> None:
    result = apiserver.kubectl("create", "-n", ns, "-f", "-",
                               input=json.dumps(deployment("web", {"app": "web"}, {"app": "other"})))
    assert result.returncode == 1
    assert result.stderr.strip() == ('The Deployment "web" is invalid: spec.template.metadata.labels: Invalid value: '
                                     'map[string]string{"app":"other"}: `selector` does not match template `labels`')


def test_several_field_errors_are_listed_together(client: RawClient, ns: str) -> None:
    body = {"apiVersion": "v1", "kind": "Pod", "metadata": {"name": "p"},
            "spec": {"containers": [{"name": "app"}], "restartPolicy": "Sometimes"}}
    status = status_of(client.post(f"/api/v1/namespaces/{ns}/pods", body), 422, "Invalid")
    fields = [c["field"] for c in status["details"]["causes"]]
    assert "spec.containers[0].image" in fields and "spec.restartPolicy" in fields, status
    assert status["message"].startswith('Pod "p" is invalid: [')


def test_missing_name_is_422_required(client: RawClient, ns: str) -> None:
    body = {"apiVersion": "v1", "kind": "ConfigMap", "metadata": {}}
    status = status_of(client.post(f"/api/v1/namespaces/{ns}/configmaps", body), 422, "Invalid")
    assert status["message"] == ('ConfigMap "" is invalid: metadata.name: Required value: name or generateName '
                                 'is required')


def test_namespace_in_body_must_match_the_url(client: RawClient, ns: str) -> None:
    body = {"apiVersion": "v1", "kind": "ConfigMap", "metadata": {"name": "x", "namespace": "elsewhere"}}
    status = status_of(client.post(f"/api/v1/namespaces/{ns}/configmaps", body), 400, "BadRequest")
    assert status["message"] == "the namespace of the provided object does not match the namespace sent on the request"


# ---- missing and duplicate objects -------------------------------------------------------------


def test_get_missing_object_is_404_not_found(client: RawClient, ns: str) -> None:
    status = status_of(client.get(f"/api/v1/namespaces/{ns}/configmaps/nope"), 404, "NotFound")
    assert status["message"] == 'configmaps "nope" not found'
    assert status["details"] == {"name": "nope", "kind": "configmaps"}


def test_get_missing_grouped_object_names_the_group(client: RawClient, ns: str) -> None:
    status = status_of(client.get(f"/apis/apps/v1/namespaces/{ns}/deployments/nope"), 404, "NotFound")
    assert status["message"] == 'deployments.apps "nope" not found'
    assert status["details"] == {"name": "nope", "group": "apps", "kind": "deployments"}


def test_create_existing_object_is_409_already_exists(client: RawClient, ns: str) -> None:
    body = {"apiVersion": "v1", "kind": "ConfigMap", "metadata": {"name": "dup"}}
    assert client.post(f"/api/v1/namespaces/{ns}/configmaps", body).status == 201
    status = status_of(client.post(f"/api/v1/namespaces/{ns}/configmaps", body), 409, "AlreadyExists")
    assert status["message"] == 'configmaps "dup" already exists'
    assert status["details"] == {"name": "dup", "kind": "configmaps"}


def test_create_in_missing_namespace_is_404(client: RawClient) -> None:
    body = {"apiVersion": "v1", "kind": "ConfigMap", "metadata": {"name": "x"}}
    status = status_of(client.post("/api/v1/namespaces/no-such-ns/configmaps", body), 404, "NotFound")
    assert status["message"] == 'namespaces "no-such-ns" not found'


def test_update_with_stale_resource_version_is_409_conflict(client: RawClient, ns: str) -> None:
    created = client.post(f"/api/v1/namespaces/{ns}/configmaps",
                          {"apiVersion": "v1", "kind": "ConfigMap", "metadata": {"name": "c"}, "data": {"a": "1"}})
    obj = created.json()
    first = dict(obj, data={"a": "2"})
    assert client.request("PUT", f"/api/v1/namespaces/{ns}/configmaps/c", first).status == 200
    stale = dict(obj, data={"a": "3"})
    status = status_of(client.request("PUT", f"/api/v1/namespaces/{ns}/configmaps/c", stale), 409, "Conflict")
    assert status["message"] == ('Operation cannot be fulfilled on configmaps "c": the object has been modified; '
                                 'please apply your changes to the latest version and try again')


def test_unknown_resource_is_404(client: RawClient, ns: str) -> None:
    status = status_of(client.get(f"/api/v1/namespaces/{ns}/widgetz"), 404, "NotFound")
    assert status["message"] == "the server could not find the requested resource"


def test_unknown_field_selector_is_400(client: RawClient, ns: str) -> None:
    status = status_of(client.get(f"/api/v1/namespaces/{ns}/pods?fieldSelector=spec.image%3Dnginx"), 400,
                       "BadRequest")
    assert status["message"] == "field label not supported: spec.image"


def test_invalid_label_selector_is_400(client: RawClient, ns: str) -> None:
    resp = client.get(f"/api/v1/namespaces/{ns}/pods?labelSelector=app%3D%3D%3Dx")
    status_of(resp, 400, "BadRequest")


def test_kubectl_reports_not_found_and_exits_1(apiserver: ApiServerForTest, ns: str) -> None:
    result = apiserver.kubectl("get", "configmap", "nope", "-n", ns)
    assert result.returncode == 1
    assert result.stderr.strip() == 'Error from server (NotFound): configmaps "nope" not found'


def test_kubectl_reports_already_exists(apiserver: ApiServerForTest, ns: str) -> None:
    assert apiserver.kubectl("create", "configmap", "dup", "-n", ns).returncode == 0
    result = apiserver.kubectl("create", "configmap", "dup", "-n", ns)
    assert result.returncode == 1
    assert result.stderr.strip() == 'error: failed to create configmap: configmaps "dup" already exists'


def test_kubectl_unknown_field_selector_fails(apiserver: ApiServerForTest, ns: str) -> None:
    result: subprocess.CompletedProcess[str] = apiserver.kubectl("get", "pods", "-n", ns, "--field-selector",
                                                                 "spec.image=nginx")
    assert result.returncode == 1
    assert "Error from server (BadRequest)" in result.stderr
    assert "field label not supported: spec.image" in result.stderr


def test_deeply_nested_json_is_rejected_without_crashing(client: RawClient, ns: str) -> None:
    resp = client.post(f"/api/v1/namespaces/{ns}/configmaps", b"[" * 200_000)
    status_of(resp, 400, "BadRequest")
    nested = b'{"apiVersion":"v1","kind":"ConfigMap","metadata":{"name":"deep"},"data":' + b'{"a":' * 5000 + \
        b'"x"' + b"}" * 5001
    resp = client.post(f"/api/v1/namespaces/{ns}/configmaps", nested)
    assert 400 <= resp.status < 500, resp
    assert_still_serving(client)


def test_server_keeps_serving_after_a_burst_of_bad_requests(client: RawClient, ns: str) -> None:
    for body in (MALFORMED_JSON, b"", b"null", b"{}", b'"string"', b"\x00" * 64, b"{" * 5000):
        resp = client.post(f"/api/v1/namespaces/{ns}/configmaps", body)
        assert 400 <= resp.status < 500, (body[:20], resp)
    assert_still_serving(client)
