"""Kubernetes protobuf codec: descriptors extracted from the installed kubectl, JSON shaped like Go's."""

from __future__ import annotations

import base64
import gzip
import os
import time
from pathlib import Path
from typing import Any

import pytest

from kubeprov.apiserver.protobuf import MAGIC, ProtobufCodec, ProtobufError, extract
from kubeprov.apiserver.protobuf.decode import format_duration, format_time
from kubeprov.apiserver.protobuf.encode import parse_duration, parse_time

# Bodies captured from kubectl 1.32 (`create namespace demo`, `create configmap c1 -n demo --from-literal=a=b
# --from-file=bin.dat` with bin.dat = 00 01 02 ff).
KUBECTL_NAMESPACE = (
    b'k8s\x00\n\x0f\n\x02v1\x12\tNamespace\x12\x1c\n\x14\n\x04demo\x12\x00\x1a\x00"\x00*\x002\x008\x00B\x00'
    b'\x12\x00\x1a\x02\n\x00\x1a\x00"\x00'
)
KUBECTL_CONFIGMAP = (
    b'k8s\x00\n\x0f\n\x02v1\x12\tConfigMap\x121\n\x16\n\x02c1\x12\x00\x1a\x04demo"\x00*\x002\x008\x00B\x00'
    b'\x12\x06\n\x01a\x12\x01b\x1a\x0f\n\x07bin.dat\x12\x04\x00\x01\x02\xff\x1a\x00"\x00'
)


@pytest.fixture(scope="module")
def descriptor_file(tmp_path_factory: pytest.TempPathFactory) -> Path:
    if not extract.kubectl_candidates():
        pytest.skip(reason="no kubectl binary to extract the Kubernetes protobuf descriptors from")
    out = tmp_path_factory.mktemp("protobuf") / "k8s-descriptors.binpb.gz"
    assert extract.main(["--output", str(out)]) == 0
    assert out.is_file(), "kubectl exists but no descriptors were extracted from it"
    return out


@pytest.fixture(scope="module")
def codec(descriptor_file: Path) -> ProtobufCodec:
    loaded = ProtobufCodec.load(descriptor_file)
    assert loaded is not None
    return loaded


def round_trip(codec: ProtobufCodec, obj: dict[str, Any]) -> dict[str, Any]:
    body = codec.encode(obj)
    assert body.startswith(MAGIC)
    decoded = codec.decode(body)
    # Decoding gives Go's canonical form; encoding that again must give the same bytes.
    assert codec.encode(decoded) == body
    return decoded


def inner_message(body: bytes) -> bytes:
    """The raw object bytes of an envelope, read by hand (field 2 of runtime.Unknown)."""
    data = body[len(MAGIC) :]
    pos = 0
    while pos < len(data):
        tag = data[pos]
        pos += 1
        length = shift = 0
        while True:
            byte = data[pos]
            pos += 1
            length |= (byte & 0x7F) << shift
            shift += 7
            if byte < 0x80:
                break
        if tag == 0x12:
            return data[pos : pos + length]
        pos += length
    raise AssertionError("no raw field")


# --------------------------------------------------------------------------------------------- real kubectl bytes


def test_kubectl_namespace_body(codec: ProtobufCodec) -> None:
    obj = codec.decode(KUBECTL_NAMESPACE)
    assert obj == {
        "apiVersion": "v1",
        "kind": "Namespace",
        "metadata": {"name": "demo", "creationTimestamp": None},
        "spec": {},
        "status": {},
    }
    assert codec.encode(obj) == KUBECTL_NAMESPACE


def test_kubectl_configmap_body(codec: ProtobufCodec) -> None:
    obj = codec.decode(KUBECTL_CONFIGMAP)
    assert obj == {
        "apiVersion": "v1",
        "kind": "ConfigMap",
        "metadata": {"name": "c1", "namespace": "demo", "creationTimestamp": None},
        "data": {"a": "b"},
        "binaryData": {"bin.dat": base64.b64encode(b"\x00\x01\x02\xff").decode()},
    }
    assert codec.encode(obj) == KUBECTL_CONFIGMAP


# --------------------------------------------------------------------------------------------- round trips


def test_namespace(codec: ProtobufCodec) -> None:
    obj = {"apiVersion": "v1", "kind": "Namespace", "metadata": {"name": "x", "labels": {"b": "2", "a": "1"}}}
    assert round_trip(codec, obj) == {
        "apiVersion": "v1",
        "kind": "Namespace",
        "metadata": {"name": "x", "creationTimestamp": None, "labels": {"a": "1", "b": "2"}},
        "spec": {},
        "status": {},
    }


def test_configmap_data_and_binary_data(codec: ProtobufCodec) -> None:
    blob = bytes(range(256))
    obj = {
        "apiVersion": "v1",
        "kind": "ConfigMap",
        "metadata": {"name": "c", "namespace": "ns", "annotations": {"note": "ünïcode ✓"}},
        "data": {"a": "b", "empty": "", "multi": "line1\nline2\n"},
        "binaryData": {"blob": base64.b64encode(blob).decode()},
        "immutable": False,
    }
    got = round_trip(codec, obj)
    assert got["data"] == obj["data"]
    assert base64.b64decode(got["binaryData"]["blob"]) == blob
    assert got["metadata"]["annotations"] == {"note": "ünïcode ✓"}
    # immutable is a *bool: set to false it is still there.
    assert got["immutable"] is False


def test_secret_bytes(codec: ProtobufCodec) -> None:
    secret = b"s3cr3t\x00\xff"
    obj = {
        "apiVersion": "v1",
        "kind": "Secret",
        "metadata": {"name": "s", "namespace": "ns"},
        "type": "Opaque",
        "data": {"pw": base64.b64encode(secret).decode()},
    }
    body = codec.encode(obj)
    # On the wire the value is the raw bytes, not their base64 text.
    assert secret in inner_message(body)
    got = codec.decode(body)
    assert got["data"] == {"pw": base64.b64encode(secret).decode()}
    assert got["type"] == "Opaque"
    assert "immutable" not in got


def deployment(replicas: int) -> dict[str, Any]:
    return {
        "apiVersion": "apps/v1",
        "kind": "Deployment",
        "metadata": {"name": "web", "namespace": "ns", "generation": 3},
        "spec": {
            "replicas": replicas,
            "selector": {"matchLabels": {"app": "web"}},
            "strategy": {"type": "RollingUpdate", "rollingUpdate": {"maxSurge": "25%", "maxUnavailable": 1}},
            "template": {
                "metadata": {"labels": {"app": "web"}},
                "spec": {
                    "containers": [
                        {
                            "name": "web",
                            "image": "nginx:1.27",
                            "resources": {
                                "requests": {"cpu": "250m", "memory": "64Mi"},
                                "limits": {"cpu": "1", "memory": "1Gi", "ephemeral-storage": "2G"},
                            },
                        }
                    ]
                },
            },
        },
    }


def test_deployment_replicas_zero_quantities_intstr(codec: ProtobufCodec) -> None:
    got = round_trip(codec, deployment(0))
    spec = got["spec"]
    assert spec["replicas"] == 0
    assert spec["strategy"]["rollingUpdate"] == {"maxSurge": "25%", "maxUnavailable": 1}
    container = spec["template"]["spec"]["containers"][0]
    assert container["resources"] == {
        "requests": {"cpu": "250m", "memory": "64Mi"},
        "limits": {"cpu": "1", "ephemeral-storage": "2G", "memory": "1Gi"},
    }
    assert got["metadata"]["generation"] == 3
    assert got["status"] == {}
    assert spec["template"]["metadata"] == {"creationTimestamp": None, "labels": {"app": "web"}}
    # Non-pointer fields left at zero by the client are not invented (Go's omitempty).
    assert "paused" not in spec and "minReadySeconds" not in spec
    # Without replicas (a nil pointer) the field stays absent.
    no_replicas = deployment(1)
    del no_replicas["spec"]["replicas"]
    assert "replicas" not in round_trip(codec, no_replicas)["spec"]


def test_pod_ports_and_probes(codec: ProtobufCodec) -> None:
    container = {
        "name": "app",
        "image": "busybox",
        "command": ["sh", "-c", "sleep 1d"],
        "ports": [{"name": "http", "containerPort": 8080, "protocol": "TCP"}],
        "env": [
            {"name": "A", "value": "1"},
            {"name": "B", "valueFrom": {"configMapKeyRef": {"name": "cm", "key": "b", "optional": True}}},
        ],
        "livenessProbe": {"httpGet": {"path": "/healthz", "port": 8080, "scheme": "HTTP"}, "periodSeconds": 10},
        "readinessProbe": {"tcpSocket": {"port": "http"}, "initialDelaySeconds": 5},
        "startupProbe": {"exec": {"command": ["true"]}, "failureThreshold": 30, "terminationGracePeriodSeconds": 0},
        "resources": {},
    }
    obj = {
        "apiVersion": "v1",
        "kind": "Pod",
        "metadata": {"name": "p", "namespace": "ns", "creationTimestamp": "2024-01-02T03:04:05Z"},
        "spec": {
            "containers": [container],
            "volumes": [{"name": "cfg", "configMap": {"name": "cm", "defaultMode": 420}}],
            "restartPolicy": "Always",
        },
    }
    got = round_trip(codec, obj)
    assert got["metadata"]["creationTimestamp"] == "2024-01-02T03:04:05Z"
    assert got["spec"]["containers"] == [container]
    # Inline Go structs (VolumeSource) flatten into their parent, as in Go's JSON.
    assert got["spec"]["volumes"] == [{"name": "cfg", "configMap": {"name": "cm", "defaultMode": 420}}]
    assert got["status"] == {}


def test_service_target_port(codec: ProtobufCodec) -> None:
    obj = {
        "apiVersion": "v1",
        "kind": "Service",
        "metadata": {"name": "svc", "namespace": "ns"},
        "spec": {
            "type": "ClusterIP",
            "selector": {"app": "web"},
            "ports": [
                {"name": "http", "protocol": "TCP", "port": 80, "targetPort": 8080},
                {"name": "named", "protocol": "TCP", "port": 81, "targetPort": "web"},
                {"name": "zero", "protocol": "TCP", "port": 82},
            ],
        },
    }
    ports = round_trip(codec, obj)["spec"]["ports"]
    assert ports[0]["targetPort"] == 8080
    assert ports[1]["targetPort"] == "web"
    # targetPort is a non-pointer IntOrString: Go prints its zero value.
    assert ports[2]["targetPort"] == 0


def test_rbac_group_uses_first_label(codec: ProtobufCodec) -> None:
    obj = {
        "apiVersion": "rbac.authorization.k8s.io/v1",
        "kind": "ClusterRole",
        "metadata": {"name": "reader"},
        "rules": [{"apiGroups": [""], "resources": ["pods"], "verbs": ["get", "list"]}],
    }
    got = round_trip(codec, obj)
    assert got["rules"] == obj["rules"]
    assert got["kind"] == "ClusterRole"


def test_delete_options_in_resource_group(codec: ProtobufCodec) -> None:
    obj = {"apiVersion": "apps/v1", "kind": "DeleteOptions", "gracePeriodSeconds": 0, "propagationPolicy": "Orphan"}
    assert codec.knows("apps/v1", "DeleteOptions")
    assert round_trip(codec, obj) == obj


def test_times_and_int64(codec: ProtobufCodec) -> None:
    lease = {
        "apiVersion": "coordination.k8s.io/v1",
        "kind": "Lease",
        "metadata": {"name": "l", "namespace": "kube-system", "deletionGracePeriodSeconds": 2**40},
        "spec": {
            "holderIdentity": "node-1",
            "leaseDurationSeconds": 40,
            "renewTime": "2024-05-06T07:08:09.123456Z",
            "acquireTime": "2024-05-06T09:08:09.5+02:00",
        },
    }
    got = codec.decode(codec.encode(lease))
    assert got["spec"]["renewTime"] == "2024-05-06T07:08:09.123456Z"
    assert got["spec"]["acquireTime"] == "2024-05-06T07:08:09.500000Z"
    assert got["metadata"]["deletionGracePeriodSeconds"] == 2**40
    # metav1.Time prints whole seconds only.
    ns = {
        "apiVersion": "v1",
        "kind": "Namespace",
        "metadata": {"name": "n", "creationTimestamp": "2024-01-02T03:04:05.9Z"},
    }
    assert codec.decode(codec.encode(ns))["metadata"]["creationTimestamp"] == "2024-01-02T03:04:05Z"
    assert round_trip(codec, got) == got


def test_raw_json_fields(codec: ProtobufCodec) -> None:
    revision = {
        "apiVersion": "apps/v1",
        "kind": "ControllerRevision",
        "metadata": {
            "name": "r",
            "namespace": "ns",
            "managedFields": [
                {
                    "manager": "kubectl",
                    "operation": "Update",
                    "apiVersion": "apps/v1",
                    "time": "2024-01-02T03:04:05Z",
                    "fieldsType": "FieldsV1",
                    "fieldsV1": {"f:metadata": {"f:labels": {".": {}, "f:app": {}}}},
                }
            ],
        },
        "data": {"spec": {"template": {"x": [1, 2.5, None, True, "s"]}}},
        "revision": 7,
    }
    got = round_trip(codec, revision)
    assert got["data"] == revision["data"]
    assert got["metadata"]["managedFields"] == revision["metadata"]["managedFields"]
    assert got["revision"] == 7


def test_named_slice_map_values(codec: ProtobufCodec) -> None:
    review = {
        "apiVersion": "authorization.k8s.io/v1",
        "kind": "SubjectAccessReview",
        "metadata": {},
        "spec": {
            "user": "alice",
            "groups": ["devs"],
            "extra": {"scopes": ["a", "b"]},
            "resourceAttributes": {"namespace": "ns", "verb": "get", "resource": "pods"},
        },
    }
    got = round_trip(codec, review)
    assert got["spec"]["extra"] == {"scopes": ["a", "b"]}
    assert got["spec"]["resourceAttributes"] == review["spec"]["resourceAttributes"]
    assert got["status"] == {}


def test_inline_ingress_rule_value(codec: ProtobufCodec) -> None:
    rule = {
        "host": "foo.com",
        "http": {
            "paths": [
                {
                    "path": "/bar",
                    "pathType": "Exact",
                    "backend": {"service": {"name": "svc1", "port": {"number": 8080}}},
                }
            ]
        },
    }
    obj = {
        "apiVersion": "networking.k8s.io/v1",
        "kind": "Ingress",
        "metadata": {"name": "i"},
        "spec": {"rules": [rule]},
    }
    assert round_trip(codec, obj)["spec"]["rules"] == [rule]


def _ld(tag: int, payload: bytes) -> bytes:
    """One length-delimited protobuf field (payloads here stay under 128 bytes)."""
    assert len(payload) < 128
    return bytes([tag, len(payload)]) + payload


def _envelope(api_version: bytes, kind: bytes, raw: bytes, content_type: bytes = b"") -> bytes:
    type_meta = _ld(0x0A, api_version) + _ld(0x12, kind)
    return MAGIC + _ld(0x0A, type_meta) + _ld(0x12, raw) + _ld(0x1A, b"") + _ld(0x22, content_type)


def test_meta_list_with_nested_envelopes(codec: ProtobufCodec) -> None:
    item = codec.encode({"apiVersion": "v1", "kind": "ConfigMap", "metadata": {"name": "a"}, "data": {"k": "v"}})
    json_item = b'{"apiVersion":"v1","kind":"Secret","metadata":{"name":"b"}}'
    items = _ld(0x12, _ld(0x0A, item)) + _ld(0x12, _ld(0x0A, json_item))
    got = codec.decode(_envelope(b"v1", b"List", _ld(0x0A, b"") + items))
    assert got == {
        "apiVersion": "v1",
        "kind": "List",
        "metadata": {},
        "items": [
            {
                "apiVersion": "v1",
                "kind": "ConfigMap",
                "metadata": {"name": "a", "creationTimestamp": None},
                "data": {"k": "v"},
            },
            {"apiVersion": "v1", "kind": "Secret", "metadata": {"name": "b"}},
        ],
    }


def test_json_inside_envelope(codec: ProtobufCodec) -> None:
    body = _envelope(b"v1", b"ConfigMap", b'{"metadata":{"name":"j"}}', b"application/json")
    assert codec.decode(body) == {"apiVersion": "v1", "kind": "ConfigMap", "metadata": {"name": "j"}}
    with pytest.raises(ProtobufError, match="content type"):
        codec.decode(_envelope(b"v1", b"ConfigMap", b"x", b"application/yaml"))


# --------------------------------------------------------------------------------------------- errors


def test_bad_envelopes(codec: ProtobufCodec) -> None:
    body = codec.encode({"apiVersion": "v1", "kind": "Namespace", "metadata": {"name": "x"}})
    with pytest.raises(ProtobufError, match="k8s"):
        codec.decode(b'{"apiVersion":"v1"}')
    with pytest.raises(ProtobufError, match="k8s"):
        codec.decode(b"")
    for cut in (len(body) - 1, len(body) // 2, 6):
        with pytest.raises(ProtobufError, match="malformed"):
            codec.decode(body[:cut])
    with pytest.raises(ProtobufError, match="apiVersion and kind"):
        codec.decode(MAGIC)
    unknown_kind = body.replace(b"\x12\tNamespace", b"\x12\tWidgetzzz")
    with pytest.raises(ProtobufError, match="Widgetzzz"):
        codec.decode(unknown_kind)
    with pytest.raises(ProtobufError):
        codec.decode(MAGIC + b"\xff\xff\xff\xff")
    # The envelope is intact but the object inside is not.
    garbage = MAGIC + b"\n\x0f\n\x02v1\x12\tNamespace\x12\x03\x0a\x05a"
    with pytest.raises(ProtobufError, match="malformed protobuf Namespace"):
        codec.decode(garbage)
    assert isinstance(ProtobufError("x"), ValueError)


def test_invalid_utf8_becomes_replacement_char(codec: ProtobufCodec) -> None:
    body = codec.encode({"apiVersion": "v1", "kind": "Namespace", "metadata": {"name": "abcd"}})
    got = codec.decode(body.replace(b"abcd", b"ab\xff\xfe"))
    assert got["metadata"]["name"].startswith("ab\ufffd")


def test_encode_rejects_what_it_cannot_represent(codec: ProtobufCodec) -> None:
    with pytest.raises(ProtobufError, match="unknown field"):
        codec.encode({"apiVersion": "v1", "kind": "Namespace", "metadata": {"name": "x", "nmae": "typo"}})
    relaxed = codec.decode(
        codec.encode({"apiVersion": "v1", "kind": "Namespace", "metadata": {"name": "x", "nmae": "t"}}, strict=False)
    )
    assert relaxed["metadata"] == {"name": "x", "creationTimestamp": None}
    with pytest.raises(ProtobufError, match="integer"):
        codec.encode(deployment("3"))  # type: ignore[arg-type]
    with pytest.raises(ProtobufError, match="base64"):
        codec.encode({"apiVersion": "v1", "kind": "Secret", "metadata": {}, "data": {"a": "not base64!"}})
    with pytest.raises(ProtobufError, match="no protobuf schema"):
        codec.encode({"apiVersion": "example.com/v1", "kind": "Widget"})
    with pytest.raises(ProtobufError, match="apiVersion and kind"):
        codec.encode({"metadata": {}})


def test_knows(codec: ProtobufCodec) -> None:
    assert codec.knows("v1", "Namespace")
    assert codec.knows("v1", "ConfigMapList")
    assert codec.knows("apps/v1", "Deployment")
    assert codec.knows("rbac.authorization.k8s.io/v1", "RoleBinding")
    assert codec.knows("v1", "Status")
    assert not codec.knows("v1", "Deployment")
    assert not codec.knows("v1", "ObjectMeta")
    assert not codec.knows("v1", "Secret.DataEntry")
    assert not codec.knows("example.com/v1", "Widget")
    assert not codec.knows("", "Namespace")


# --------------------------------------------------------------------------------------------- Go formats


@pytest.mark.parametrize(
    ("nanos", "text"),
    [
        (0, "0s"),
        (1, "1ns"),
        (1_100, "1.1\u00b5s"),
        (2_200_000, "2.2ms"),
        (3_300_000_000, "3.3s"),
        (4 * 60_000_000_000 + 5_000_000_000, "4m5s"),
        (4 * 60_000_000_000 + 5_001_000_000, "4m5.001s"),
        (5 * 3_600_000_000_000 + 6 * 60_000_000_000 + 7_001_000_000, "5h6m7.001s"),
        (8 * 60_000_000_000 + 1, "8m0.000000001s"),
        (3_600_000_000_000, "1h0m0s"),
        (-1_500_000_000, "-1.5s"),
    ],
)
def test_go_durations(nanos: int, text: str) -> None:
    assert format_duration(nanos) == text
    assert parse_duration(text) == nanos


def test_parse_duration_forms() -> None:
    assert parse_duration("0") == 0
    assert parse_duration("1h30m") == 5_400_000_000_000
    assert parse_duration("1.5h") == 5_400_000_000_000
    assert parse_duration("10us") == 10_000
    for bad in ("", "1", "h", "1x", "--1s", "1.s.", "."):
        with pytest.raises(ProtobufError):
            parse_duration(bad)


def test_time_formats() -> None:
    assert format_time(0) == "1970-01-01T00:00:00Z"
    assert format_time(1704164645) == "2024-01-02T03:04:05Z"
    assert format_time(1704164645, 123_456_789, micro=True) == "2024-01-02T03:04:05.123456Z"
    assert parse_time("2024-01-02T04:04:05.5+01:00") == (1704164645, 500_000_000)
    for bad in ("2024-13-01T00:00:00Z", "2024-02-30T00:00:00Z", "yesterday", "2024-01-02 03:04:05Z"):
        with pytest.raises(ProtobufError):
            parse_time(bad)


# --------------------------------------------------------------------------------------------- loading, extraction


def test_load_missing_and_corrupt(tmp_path: Path) -> None:
    assert ProtobufCodec.load(tmp_path / "absent.binpb.gz") is None
    corrupt = tmp_path / "corrupt.binpb.gz"
    corrupt.write_bytes(b"not gzip")
    with pytest.raises(ProtobufError, match="re-run"):
        ProtobufCodec.load(corrupt)
    wrong = tmp_path / "wrong.binpb.gz"
    wrong.write_bytes(gzip.compress(b"\xff\xff\xff"))
    with pytest.raises(ProtobufError):
        ProtobufCodec.load(wrong)


def test_extraction_is_idempotent(descriptor_file: Path, tmp_path: Path) -> None:
    out = tmp_path / "d.binpb.gz"
    assert extract.main(["--output", str(out)]) == 0
    first = out.stat().st_mtime_ns
    content = out.read_bytes()
    os.utime(out, ns=(first, first))
    started = time.monotonic()
    assert extract.main(["--output", str(out)]) == 0
    assert time.monotonic() - started < 1.0
    assert out.stat().st_mtime_ns == first
    # --force re-extracts; gzip without a timestamp makes the bytes reproducible.
    assert extract.main(["--output", str(out), "--force"]) == 0
    assert out.read_bytes() == content == descriptor_file.read_bytes()
    names = {f.name for f in extract.read_set(out).file}
    assert set(extract.REQUIRED_FILES) <= names
    assert "k8s.io/api/apps/v1/generated.proto" in names


def test_extract_without_kubectl(
    monkeypatch: pytest.MonkeyPatch, tmp_path: Path, capsys: pytest.CaptureFixture
) -> None:
    monkeypatch.setattr(extract, "kubectl_candidates", lambda: [])
    out = tmp_path / "d.binpb.gz"
    assert extract.main(["--output", str(out)]) == 0
    assert not out.exists()
    assert "no kubectl found" in capsys.readouterr().err


def test_extract_from_binary_without_descriptors(tmp_path: Path, capsys: pytest.CaptureFixture) -> None:
    fake = tmp_path / "kubectl"
    fake.write_bytes(b"\x7fELF" + gzip.compress(b"just text", mtime=0) + b"\x00" * 100)
    out = tmp_path / "d.binpb.gz"
    assert extract.main(["--binary", str(fake), "--output", str(out)]) == 1
    assert not out.exists()
    assert "no Kubernetes protobuf descriptors" in capsys.readouterr().err
    assert extract.main(["--binary", str(tmp_path / "missing"), "--output", str(out)]) == 1
