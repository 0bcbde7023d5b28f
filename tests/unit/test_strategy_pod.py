"""Pods and the pod spec every template shares: Kubernetes 1.32 defaults, messages, update rules."""

from __future__ import annotations

import copy
from typing import Any

import pytest

from kubeprov.apiserver.resources.builtin import builtin_resources
from kubeprov.apiserver.strategy import strategy_for
from kubeprov.apiserver.strategy.containers import image_tag
from kubeprov.apiserver.strategy.core_pod import POD_UPDATE_FORBIDDEN, qos_class

PODS = next(rt for rt in builtin_resources() if rt.resource == "pods")
DEPLOYMENTS = next(rt for rt in builtin_resources() if rt.resource == "deployments")


def pod(spec: dict[str, Any] | None = None, **container: Any) -> dict[str, Any]:
    c = {"name": "web", "image": "nginx:1.27", **container}
    return {
        "apiVersion": "v1",
        "kind": "Pod",
        "metadata": {"name": "p", "namespace": "default"},
        "spec": spec if spec is not None else {"containers": [c]},
    }


def create(obj: dict[str, Any]) -> dict[str, Any]:
    s = strategy_for(PODS)
    s.default(obj)
    s.prepare_for_create(obj)
    return obj


def errors(obj: dict[str, Any]) -> list[str]:
    return [str(e) for e in strategy_for(PODS).validate(create(obj))]


def update_errors(old: dict[str, Any], new: dict[str, Any]) -> list[str]:
    s = strategy_for(PODS)
    s.default(new)
    s.prepare_for_update(new, old)
    return [str(e) for e in s.validate_update(new, old)]


def test_a_minimal_pod_comes_back_with_kubernetes_defaults() -> None:
    obj = create(pod())
    assert obj["spec"] == {
        "containers": [
            {
                "name": "web",
                "image": "nginx:1.27",
                "imagePullPolicy": "IfNotPresent",
                "resources": {},
                "terminationMessagePath": "/dev/termination-log",
                "terminationMessagePolicy": "File",
            }
        ],
        "dnsPolicy": "ClusterFirst",
        "enableServiceLinks": True,
        "restartPolicy": "Always",
        "schedulerName": "default-scheduler",
        "securityContext": {},
        "terminationGracePeriodSeconds": 30,
    }
    assert obj["status"] == {"phase": "Pending", "qosClass": "BestEffort"}


def test_service_account_name_is_left_to_admission() -> None:
    assert "serviceAccountName" not in create(pod())["spec"]


@pytest.mark.parametrize(
    ("image", "policy"),
    [
        ("nginx", "Always"),
        ("nginx:latest", "Always"),
        ("nginx:1.27", "IfNotPresent"),
        ("localhost:5000/app", "Always"),
        ("localhost:5000/app:v1", "IfNotPresent"),
        ("nginx@sha256:" + "a" * 64, "IfNotPresent"),
    ],
)
def test_image_pull_policy_defaults_from_the_tag(image: str, policy: str) -> None:
    assert create(pod(image=image))["spec"]["containers"][0]["imagePullPolicy"] == policy


def test_image_tag_of_a_registry_with_a_port_is_not_the_port() -> None:
    assert image_tag("registry:5000/team/app") == "latest"


def test_limits_become_requests_and_make_the_pod_guaranteed() -> None:
    obj = create(pod(resources={"limits": {"cpu": "0.5", "memory": "128Mi"}}))
    resources = obj["spec"]["containers"][0]["resources"]
    assert resources == {"limits": {"cpu": "500m", "memory": "128Mi"}, "requests": {"cpu": "500m", "memory": "128Mi"}}
    assert obj["status"]["qosClass"] == "Guaranteed"


def test_requests_without_limits_make_the_pod_burstable() -> None:
    spec = {"containers": [{"name": "a", "image": "x", "resources": {"requests": {"cpu": "100m"}}}]}
    assert qos_class(spec) == "Burstable"


def test_probe_and_http_action_defaults() -> None:
    obj = create(pod(livenessProbe={"httpGet": {"port": 8080}}))
    assert obj["spec"]["containers"][0]["livenessProbe"] == {
        "httpGet": {"port": 8080, "path": "/", "scheme": "HTTP"},
        "timeoutSeconds": 1,
        "periodSeconds": 10,
        "successThreshold": 1,
        "failureThreshold": 3,
    }


def test_volume_defaults() -> None:
    spec = {
        "containers": [{"name": "web", "image": "nginx"}],
        "volumes": [
            {"name": "scratch"},
            {"name": "cfg", "configMap": {"name": "cfg"}},
            {"name": "host", "hostPath": {"path": "/var/log"}},
        ],
    }
    volumes = create(pod(spec))["spec"]["volumes"]
    assert volumes == [
        {"name": "scratch", "emptyDir": {}},
        {"name": "cfg", "configMap": {"name": "cfg", "defaultMode": 420}},
        {"name": "host", "hostPath": {"path": "/var/log", "type": ""}},
    ]


def test_ports_default_to_tcp() -> None:
    assert create(pod(ports=[{"containerPort": 80}]))["spec"]["containers"][0]["ports"] == [
        {"containerPort": 80, "protocol": "TCP"}
    ]


def test_templates_do_not_get_pod_only_defaults() -> None:
    s = strategy_for(DEPLOYMENTS)
    obj = {
        "metadata": {"name": "d", "namespace": "default"},
        "spec": {
            "template": {"spec": {"containers": [{"name": "a", "image": "x", "resources": {"limits": {"cpu": "1"}}}]}}
        },
    }
    s.default(obj)
    tspec = obj["spec"]["template"]["spec"]
    assert "enableServiceLinks" not in tspec
    assert "requests" not in tspec["containers"][0]["resources"]


def test_container_names_must_be_unique_across_init_and_regular_containers() -> None:
    spec = {"containers": [{"name": "web", "image": "a"}], "initContainers": [{"name": "web", "image": "b"}]}
    assert 'spec.initContainers[0].name: Duplicate value: "web"' in errors(pod(spec))


def test_container_name_must_be_a_dns_label_and_image_is_required() -> None:
    assert errors(pod({"containers": [{"name": "Web"}]})) == [
        'spec.containers[0].name: Invalid value: "Web": a lowercase RFC 1123 label must consist of lower case '
        "alphanumeric characters or '-', and must start and end with an alphanumeric character (e.g. 'my-name',  "
        "or '123-abc', regex used for validation is '[a-z0-9]([-a-z0-9]*[a-z0-9])?')",
        "spec.containers[0].image: Required value",
    ]


def test_port_numbers_and_protocols() -> None:
    msgs = errors(pod(ports=[{"containerPort": 0}, {"containerPort": 70000, "protocol": "HTTP"}]))
    assert "spec.containers[0].ports[0].containerPort: Required value" in msgs
    assert (
        "spec.containers[0].ports[1].containerPort: Invalid value: 70000: must be between 1 and 65535, inclusive"
        in msgs
    )
    assert (
        'spec.containers[0].ports[1].protocol: Unsupported value: "HTTP": supported values: "SCTP", "TCP", "UDP"'
        in msgs
    )


def test_host_ports_may_not_collide() -> None:
    spec = {
        "containers": [
            {"name": "a", "image": "x", "ports": [{"containerPort": 80, "hostPort": 8080}]},
            {"name": "b", "image": "x", "ports": [{"containerPort": 81, "hostPort": 8080}]},
        ]
    }
    assert 'spec.containers[1].ports[0].hostPort: Duplicate value: "TCP//8080"' in errors(pod(spec))


def test_duplicate_container_ports_are_only_a_warning() -> None:
    obj = create(pod(ports=[{"containerPort": 80}, {"containerPort": 80}]))
    assert strategy_for(PODS).validate(obj) == []
    assert strategy_for(PODS).warnings(obj) == [
        "spec.containers[0].ports[1]: duplicate port definition with spec.containers[0].ports[0]"
    ]


def test_environment_variable_names_are_printable_ascii_without_equals() -> None:
    msgs = errors(pod(env=[{"name": "A=B", "value": "1"}, {"name": "my.var-1 x", "value": "ok"}]))
    assert msgs == [
        'spec.containers[0].env[0].name: Invalid value: "A=B": a valid environment variable name must '
        "consist only of printable ASCII characters other than '='"
    ]


def test_env_value_from_needs_exactly_one_source() -> None:
    msgs = errors(pod(env=[{"name": "A", "valueFrom": {}}]))
    assert msgs == [
        'spec.containers[0].env[0].valueFrom: Invalid value: "": must specify one of: `fieldRef`, '
        "`resourceFieldRef`, `configMapKeyRef` or `secretKeyRef`"
    ]


def test_a_mount_of_an_unknown_volume_is_not_found() -> None:
    assert errors(pod(volumeMounts=[{"name": "data", "mountPath": "/data"}])) == [
        'spec.containers[0].volumeMounts[0].name: Not found: "data"'
    ]


def test_volume_names_are_unique_dns_labels_with_one_source() -> None:
    spec = {
        "containers": [{"name": "a", "image": "x"}],
        "volumes": [
            {"name": "v", "emptyDir": {}},
            {"name": "v", "emptyDir": {}},
            {"name": "w", "emptyDir": {}, "secret": {"secretName": "s"}},
        ],
    }
    msgs = errors(pod(spec))
    assert 'spec.volumes[1].name: Duplicate value: "v"' in msgs
    assert "spec.volumes[2].secret: Forbidden: may not specify more than 1 volume type" in msgs


def test_requests_may_not_exceed_limits() -> None:
    assert errors(pod(resources={"limits": {"cpu": "1"}, "requests": {"cpu": "2"}})) == [
        'spec.containers[0].resources.requests: Invalid value: "2": must be less than or equal to cpu limit of 1'
    ]


def test_resource_quantities_must_parse_and_names_must_be_standard() -> None:
    msgs = errors(pod(resources={"requests": {"cpu": "lots", "gpu": "1"}}))
    assert (
        'spec.containers[0].resources.requests[cpu]: Invalid value: "lots": quantities must match the regular '
        "expression '^([+-]?[0-9.]+)([eEinumkKMGTP]*[-+]?[0-9]*)$'"
    ) in msgs
    assert (
        'spec.containers[0].resources.requests[gpu]: Invalid value: "gpu": must be a standard resource for containers'
    ) in msgs


def test_probes_need_exactly_one_handler() -> None:
    assert errors(pod(livenessProbe={"periodSeconds": 5})) == [
        "spec.containers[0].livenessProbe: Required value: must specify a handler type"
    ]
    msgs = errors(pod(readinessProbe={"exec": {"command": ["true"]}, "tcpSocket": {"port": 80}}))
    assert msgs == ["spec.containers[0].readinessProbe.tcpSocket: Forbidden: may not specify more than 1 handler type"]


def test_liveness_probe_success_threshold_must_be_one() -> None:
    assert errors(pod(livenessProbe={"exec": {"command": ["true"]}, "successThreshold": 2})) == [
        "spec.containers[0].livenessProbe.successThreshold: Invalid value: 2: must be 1"
    ]


def test_restart_and_dns_policies() -> None:
    msgs = errors(
        pod({"containers": [{"name": "a", "image": "x"}], "restartPolicy": "Sometimes", "dnsPolicy": "Google"})
    )
    assert msgs == [
        'spec.restartPolicy: Unsupported value: "Sometimes": supported values: "Always", "OnFailure", "Never"',
        'spec.dnsPolicy: Unsupported value: "Google": supported values: "ClusterFirstWithHostNet", "ClusterFirst", '
        '"Default", "None"',
    ]


def test_tolerations() -> None:
    spec = {
        "containers": [{"name": "a", "image": "x"}],
        "tolerations": [
            {"key": "k", "operator": "Exists", "value": "v"},
            {"key": "k", "operator": "Equal", "value": "v", "effect": "NoRun"},
            {"key": "k", "value": "v", "effect": "NoSchedule", "tolerationSeconds": 5},
            {"operator": "Equal", "value": "v"},
        ],
    }
    assert errors(pod(spec)) == [
        "spec.tolerations[0].operator: Invalid value: \"v\": value must be empty when `operator` is 'Exists'",
        'spec.tolerations[1].effect: Unsupported value: "NoRun": supported values: "NoSchedule", '
        '"PreferNoSchedule", "NoExecute"',
        "spec.tolerations[2].effect: Invalid value: \"NoSchedule\": effect must be 'NoExecute' when "
        "`tolerationSeconds` is set",
        'spec.tolerations[3].operator: Invalid value: "Equal": operator must be Exists when `key` is empty, which '
        'means "match all values and all keys"',
    ]


def test_node_selector_labels_and_node_affinity() -> None:
    spec = {
        "containers": [{"name": "a", "image": "x"}],
        "nodeSelector": {"disk": "ssd fast"},
        "affinity": {"nodeAffinity": {"requiredDuringSchedulingIgnoredDuringExecution": {"nodeSelectorTerms": []}}},
    }
    msgs = errors(pod(spec))
    assert any(m.startswith('spec.nodeSelector: Invalid value: "ssd fast": a valid label must be') for m in msgs)
    assert (
        "spec.affinity.nodeAffinity.requiredDuringSchedulingIgnoredDuringExecution.nodeSelectorTerms: Required "
        "value: must have at least one node selector term"
    ) in msgs


def test_host_port_range() -> None:
    assert errors(pod(ports=[{"containerPort": 80, "hostPort": 65536}])) == [
        "spec.containers[0].ports[0].hostPort: Invalid value: 65536: must be between 1 and 65535, inclusive"
    ]


def test_changing_the_image_is_an_allowed_update() -> None:
    old = create(pod())
    new = copy.deepcopy(old)
    new["spec"]["containers"][0]["image"] = "nginx:1.28"
    new["status"] = {"phase": "Running"}
    assert update_errors(old, new) == []
    assert new["status"] == old["status"]


def test_other_spec_changes_are_forbidden_with_the_kubernetes_message() -> None:
    old = create(pod(ports=[{"containerPort": 80}]))
    new = copy.deepcopy(old)
    new["spec"]["containers"][0]["ports"][0]["containerPort"] = 81
    msgs = update_errors(old, new)
    assert len(msgs) == 1
    assert msgs[0].startswith(
        "spec: Forbidden: pod updates may not change fields other than `spec.containers[*].image`,"
        "`spec.initContainers[*].image`,`spec.activeDeadlineSeconds`,`spec.tolerations` (only additions to existing "
        "tolerations),`spec.terminationGracePeriodSeconds` (allow it to be set to 1 if it was previously negative)\n"
    )
    assert POD_UPDATE_FORBIDDEN in msgs[0]


def test_tolerations_may_only_be_added() -> None:
    old = create(
        pod(
            {
                "containers": [{"name": "a", "image": "x"}],
                "tolerations": [{"key": "k", "operator": "Exists", "effect": "NoExecute", "tolerationSeconds": 5}],
            }
        )
    )
    added = copy.deepcopy(old)
    added["spec"]["tolerations"].append({"key": "other", "operator": "Exists"})
    added["spec"]["tolerations"][0]["tolerationSeconds"] = 10
    assert update_errors(old, added) == []
    removed = copy.deepcopy(old)
    removed["spec"]["tolerations"] = []
    assert update_errors(old, removed) == [
        "spec.tolerations: Forbidden: existing toleration can not be modified except its tolerationSeconds"
    ]


def test_active_deadline_may_only_shrink_and_containers_may_not_be_added() -> None:
    old = create(pod({"containers": [{"name": "a", "image": "x"}], "activeDeadlineSeconds": 30}))
    longer = copy.deepcopy(old)
    longer["spec"]["activeDeadlineSeconds"] = 60
    assert update_errors(old, longer) == [
        "spec.activeDeadlineSeconds: Invalid value: 60: must be less than or equal to previous value"
    ]
    more = copy.deepcopy(old)
    more["spec"]["containers"].append({"name": "b", "image": "y"})
    assert "spec.containers: Forbidden: pod updates may not add or remove containers" in update_errors(old, more)


def test_status_update_takes_only_the_status() -> None:
    s = strategy_for(PODS)
    old = create(pod())
    new = copy.deepcopy(old)
    new["spec"]["containers"][0]["image"] = "evil"
    new["metadata"]["labels"] = {"sneaky": "yes"}
    new["status"] = {"phase": "Running", "qosClass": "BestEffort", "podIP": "10.0.0.5"}
    s.prepare_for_status_update(new, old)
    assert new["spec"] == old["spec"]
    assert "labels" not in new["metadata"]
    assert new["status"]["phase"] == "Running"
    assert s.validate_status_update(new, old) == []
    new["status"]["qosClass"] = "Guaranteed"
    assert [str(e) for e in s.validate_status_update(new, old)] == [
        'status.qosClass: Invalid value: "Guaranteed": field is immutable'
    ]


def test_scheduling_gates_set_the_scheduled_condition() -> None:
    obj = create(pod({"containers": [{"name": "a", "image": "x"}], "schedulingGates": [{"name": "example.com/wait"}]}))
    assert obj["status"]["conditions"][0]["reason"] == "SchedulingGated"
