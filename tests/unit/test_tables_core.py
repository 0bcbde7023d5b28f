"""Rows of core kinds other than pods: services, nodes, namespaces, config, events, volumes, quotas."""

from __future__ import annotations

from datetime import UTC, datetime

import pytest

from kubeprov.apiserver.resources import Registry, builtin_resources
from kubeprov.apiserver.tables import to_table

NOW = datetime(2025, 3, 1, 12, 0, 0, tzinfo=UTC)
REGISTRY = Registry(builtin_resources())


def row(resource: str, obj: dict, name: str = "x") -> list:
    rt = REGISTRY.get("", "v1", resource)
    assert rt is not None
    meta = {"name": name, "creationTimestamp": "2025-03-01T09:00:00Z", **obj.pop("metadata", {})}
    return to_table(rt, [{"metadata": meta, **obj}], now=NOW)["rows"][0]["cells"]


@pytest.mark.parametrize(("spec", "status", "cells"), [
    ({"type": "ClusterIP", "clusterIP": "10.96.0.1", "clusterIPs": ["10.96.0.1"],
      "ports": [{"port": 443, "protocol": "TCP"}]}, {}, ["ClusterIP", "10.96.0.1", "<none>", "443/TCP"]),
    ({"type": "NodePort", "clusterIPs": ["10.96.1.2"], "ports": [{"port": 80, "nodePort": 30080, "protocol": "TCP"},
                                                               {"port": 53, "protocol": "UDP"}]},
     {}, ["NodePort", "10.96.1.2", "<none>", "80:30080/TCP,53/UDP"]),
    ({"type": "LoadBalancer", "clusterIPs": ["10.96.1.3"], "ports": [{"port": 80, "nodePort": 31000}]},
     {}, ["LoadBalancer", "10.96.1.3", "<pending>", "80:31000/TCP"]),
    ({"type": "LoadBalancer", "clusterIPs": ["10.96.1.3"], "externalIPs": ["192.0.2.9"], "ports": []},
     {"loadBalancer": {"ingress": [{"ip": "203.0.113.7"}, {"hostname": "lb.example.com"}]}},
     ["LoadBalancer", "10.96.1.3", "203.0.113.7,lb.example.com,192.0.2.9", "<none>"]),
    ({"type": "ExternalName", "externalName": "db.example.com"}, {}, ["ExternalName", "<none>", "db.example.com",
                                                                      "<none>"]),
    ({"type": "ClusterIP", "clusterIP": "None", "clusterIPs": ["None"], "ports": [{"port": 5432}]}, {},
     ["ClusterIP", "None", "<none>", "5432/TCP"]),
])
def test_service_row(spec: dict, status: dict, cells: list) -> None:
    assert row("services", {"spec": spec, "status": status})[1:5] == cells


def test_service_selector_is_the_wide_column() -> None:
    cells = row("services", {"spec": {"selector": {"tier": "db", "app": "web"}}})
    assert cells[5:] == ["3h", "app=web,tier=db"]


NODE_INFO = {"kubeletVersion": "v1.32.0", "osImage": "Debian GNU/Linux 12 (bookworm)",
             "kernelVersion": "6.1.0-18-amd64", "containerRuntimeVersion": "containerd://1.7.13"}


def test_ready_control_plane_node() -> None:
    obj = {"metadata": {"labels": {"node-role.kubernetes.io/control-plane": "", "kubernetes.io/os": "linux"}},
           "status": {"conditions": [{"type": "MemoryPressure", "status": "False"},
                                     {"type": "Ready", "status": "True"}],
                      "addresses": [{"type": "InternalIP", "address": "192.168.1.10"},
                                    {"type": "Hostname", "address": "cp-1"}], "nodeInfo": NODE_INFO}}
    assert row("nodes", obj, "cp-1") == ["cp-1", "Ready", "control-plane", "3h", "v1.32.0", "192.168.1.10", "<none>",
                                         "Debian GNU/Linux 12 (bookworm)", "6.1.0-18-amd64", "containerd://1.7.13"]


def test_cordoned_not_ready_node_with_legacy_role_label() -> None:
    obj = {"metadata": {"labels": {"kubernetes.io/role": "worker", "node-role.kubernetes.io/gpu": ""}},
           "spec": {"unschedulable": True}, "status": {"conditions": [{"type": "Ready", "status": "Unknown"}]}}
    assert row("nodes", obj)[1:3] == ["NotReady,SchedulingDisabled", "gpu,worker"]


def test_node_without_status_is_unknown() -> None:
    assert row("nodes", {})[1:] == ["Unknown", "<none>", "3h", "", "<none>", "<none>", "<unknown>", "<unknown>",
                                    "<unknown>"]


def test_namespace_secret_and_service_account_rows() -> None:
    assert row("namespaces", {"status": {"phase": "Terminating"}}) == ["x", "Terminating", "3h"]
    assert row("secrets", {"type": "kubernetes.io/tls", "data": {"tls.crt": "", "tls.key": ""}}) == [
        "x", "kubernetes.io/tls", 2, "3h"]
    assert row("serviceaccounts", {}) == ["x", 0, "3h"]


@pytest.mark.parametrize(("subsets", "text"), [
    ([], "<none>"),
    ([{"addresses": [{"ip": "10.0.0.1"}, {"ip": "10.0.0.2"}], "ports": [{"port": 8080}]}],
     "10.0.0.1:8080,10.0.0.2:8080"),
    ([{"addresses": [{"ip": "10.0.0.1"}, {"ip": "10.0.0.2"}], "ports": [{"port": 80}, {"port": 443}]}],
     "10.0.0.1:80,10.0.0.2:80,10.0.0.1:443 + 1 more..."),
    ([{"addresses": [{"ip": "fd00::1"}], "ports": [{"port": 53}]}], "[fd00::1]:53"),
    ([{"addresses": [{"ip": "10.0.0.9"}]}], "10.0.0.9"),
])
def test_endpoints_row(subsets: list, text: str) -> None:
    assert row("endpoints", {"subsets": subsets})[1] == text


def test_event_row_has_wide_cells_after_the_message() -> None:
    obj = {"type": "Warning", "reason": "BackOff", "message": " Back-off restarting failed container \n",
           "involvedObject": {"kind": "Pod", "name": "web-1", "fieldPath": "spec.containers{app}"},
           "source": {"component": "kubelet", "host": "node-1"}, "count": 7,
           "firstTimestamp": "2025-03-01T11:00:00Z", "lastTimestamp": "2025-03-01T11:58:00Z"}
    assert row("events", obj, "web-1.17f") == [
        "2m", "Warning", "BackOff", "pod/web-1", "spec.containers{app}", "kubelet, node-1",
        "Back-off restarting failed container", "60m", 7, "web-1.17f"]


def test_new_style_event_uses_event_time_and_series() -> None:
    obj = {"type": "Normal", "reason": "Scheduled", "involvedObject": {"kind": "Node"},
           "eventTime": "2025-03-01T11:59:30.000000Z", "reportingComponent": "default-scheduler",
           "series": {"count": 3, "lastObservedTime": "2025-03-01T11:59:50.000000Z"}}
    cells = row("events", obj)
    assert cells[0] == "10s" and cells[3] == "node" and cells[5] == "default-scheduler" and cells[7:9] == ["30s", 3]


def test_event_columns() -> None:
    rt = REGISTRY.get("", "v1", "events")
    assert rt is not None
    columns = to_table(rt, [], now=NOW)["columnDefinitions"]
    assert [(c["name"], c["priority"]) for c in columns] == [
        ("Last Seen", 0), ("Type", 0), ("Reason", 0), ("Object", 0), ("Subobject", 1), ("Source", 1),
        ("Message", 0), ("First Seen", 1), ("Count", 1), ("Name", 1)]


def test_bound_persistent_volume_row() -> None:
    obj = {"spec": {"capacity": {"storage": "10Gi"}, "accessModes": ["ReadWriteMany", "ReadWriteOnce"],
                    "persistentVolumeReclaimPolicy": "Retain", "storageClassName": "fast",
                    "claimRef": {"namespace": "default", "name": "data"}, "volumeMode": "Filesystem"},
           "status": {"phase": "Bound"}}
    assert row("persistentvolumes", obj) == ["x", "10Gi", "RWO,RWX", "Retain", "Bound", "default/data", "fast",
                                             "<unset>", "", "3h", "Filesystem"]


def test_pending_claim_shows_no_capacity_and_a_deleted_one_terminates() -> None:
    pending = {"spec": {"storageClassName": "fast", "resources": {"requests": {"storage": "1Gi"}}},
               "status": {"phase": "Pending"}}
    assert row("persistentvolumeclaims", pending) == ["x", "Pending", "", "", "", "fast", "<unset>", "3h", "<unset>"]
    bound = {"metadata": {"deletionTimestamp": "2025-03-01T11:00:00Z"},
             "spec": {"volumeName": "pv-1", "volumeMode": "Block"},
             "status": {"phase": "Bound", "capacity": {"storage": "5Gi"}, "accessModes": ["ReadWriteOncePod"]}}
    assert row("persistentvolumeclaims", bound) == ["x", "Terminating", "pv-1", "5Gi", "RWOP", "", "<unset>", "3h",
                                                    "Block"]


def test_resource_quota_splits_requests_and_limits() -> None:
    obj = {"status": {"hard": {"requests.cpu": "2", "limits.memory": "4Gi", "pods": "10", "limits.cpu": "4"},
                      "used": {"requests.cpu": "500m", "pods": "3"}}}
    assert row("resourcequotas", obj) == [
        "x", "pods: 3/10, requests.cpu: 500m/2", "limits.cpu: 0/4, limits.memory: 0/4Gi", "3h"]


def test_pod_template_row() -> None:
    obj = {"template": {"metadata": {"labels": {"app": "web"}},
                        "spec": {"containers": [{"name": "nginx", "image": "nginx:1.27"}]}}}
    assert row("podtemplates", obj) == ["x", "nginx", "nginx:1.27", "app=web"]
