"""PodSecurity: namespace labels choose the level; enforce refuses, warn warns."""

from __future__ import annotations

import pytest

from kubeprov.api.status import StatusError
from kubeprov.apiserver.admission.podsecurity import LevelVersion, policy_from_labels
from kubeprov.apiserver.admission.podsecurity_policy import checks_for, evaluate, forbidden_detail
from tests.unit.test_admission_fakes import Cluster, container, create, pod

PLUGINS = ["PodSecurity"]
ENFORCE = "pod-security.kubernetes.io/enforce"
WARN = "pod-security.kubernetes.io/warn"
RESTRICTED_OK = {"allowPrivilegeEscalation": False, "capabilities": {"drop": ["ALL"]}, "runAsNonRoot": True,
                 "seccompProfile": {"type": "RuntimeDefault"}}


def deployment(*containers: dict) -> dict:
    return {"apiVersion": "apps/v1", "kind": "Deployment", "metadata": {"name": "web", "namespace": "team"},
            "spec": {"template": {"metadata": {}, "spec": {"containers": list(containers)}}}}


async def test_a_pod_breaking_the_enforced_restricted_level_is_forbidden():
    cluster = Cluster()
    cluster.namespace("team", {ENFORCE: "restricted"})
    with pytest.raises(StatusError) as err:
        await create(cluster, cluster.admission(PLUGINS), pod("x"), "pods")
    assert err.value.status == {
        "kind": "Status", "apiVersion": "v1", "metadata": {}, "status": "Failure",
        "message": 'pods "x" is forbidden: violates PodSecurity "restricted:latest": allowPrivilegeEscalation != '
                   'false (container "web" must set securityContext.allowPrivilegeEscalation=false), unrestricted '
                   'capabilities (container "web" must set securityContext.capabilities.drop=["ALL"]), runAsNonRoot '
                   '!= true (pod or container "web" must set securityContext.runAsNonRoot=true), seccompProfile (pod '
                   'or container "web" must set securityContext.seccompProfile.type to "RuntimeDefault" or '
                   '"Localhost")',
        "reason": "Forbidden", "details": {"name": "x", "kind": "pods"}, "code": 403}


async def test_a_pod_meeting_the_restricted_level_is_admitted_without_warnings():
    cluster = Cluster()
    cluster.namespace("team", {ENFORCE: "restricted"})
    obj = pod("web", "team", container(securityContext=RESTRICTED_OK))
    call = await create(cluster, cluster.admission(PLUGINS), obj, "pods")
    assert call.warnings == []


async def test_baseline_refuses_privileged_host_access():
    cluster = Cluster()
    cluster.namespace("team", {ENFORCE: "baseline"})
    obj = pod("web", "team", container("a", securityContext={"privileged": True}, ports=[{"containerPort": 80,
                                                                                         "hostPort": 8080}]),
              hostNetwork=True, volumes=[{"name": "host", "hostPath": {"path": "/"}}])
    with pytest.raises(StatusError) as err:
        await create(cluster, cluster.admission(PLUGINS), obj, "pods")
    assert err.value.message == (
        'pods "web" is forbidden: violates PodSecurity "baseline:latest": host namespaces (hostNetwork), '
        'hostPath volumes (volume "host"), hostPort (container "a" uses hostPort 8080), privileged (container "a" '
        "must not set securityContext.privileged=true)")


async def test_warn_only_adds_a_warning():
    cluster = Cluster()
    cluster.namespace("team", {WARN: "baseline"})
    obj = pod("web", "team", container(securityContext={"capabilities": {"add": ["NET_ADMIN", "SYS_TIME"]}}))
    call = await create(cluster, cluster.admission(PLUGINS), obj, "pods")
    assert call.warnings == [
        'would violate PodSecurity "baseline:latest": non-default capabilities (container "web" must not include '
        '"NET_ADMIN", "SYS_TIME" in securityContext.capabilities.add)']


async def test_workloads_are_warned_about_not_refused_and_warn_follows_enforce():
    cluster = Cluster()
    cluster.namespace("team", {ENFORCE: "restricted"})
    call = await create(cluster, cluster.admission(PLUGINS), deployment(container()), "deployments", group="apps")
    assert len(call.warnings) == 1
    assert call.warnings[0].startswith('would violate PodSecurity "restricted:latest": allowPrivilegeEscalation')


async def test_cronjob_templates_are_found():
    cluster = Cluster()
    cluster.namespace("team", {WARN: "baseline"})
    cronjob = {"metadata": {"name": "c", "namespace": "team"}, "spec": {"jobTemplate": {"spec": {"template": {
        "spec": {"hostPID": True, "containers": [container()]}}}}}}
    call = await create(cluster, cluster.admission(PLUGINS), cronjob, "cronjobs", group="batch")
    assert call.warnings == ['would violate PodSecurity "baseline:latest": host namespaces (hostPID)']


async def test_a_namespace_without_labels_is_privileged():
    cluster = Cluster()
    cluster.namespace("kube-system")
    obj = pod("web", "kube-system", container(securityContext={"privileged": True}), hostPID=True)
    call = await create(cluster, cluster.admission(PLUGINS), obj, "pods")
    assert call.warnings == []


async def test_the_policy_version_selects_the_checks():
    cluster = Cluster()
    cluster.namespace("team", {ENFORCE: "restricted", "pod-security.kubernetes.io/enforce-version": "v1.22"})
    ok = {**RESTRICTED_OK, "runAsUser": 0}
    await create(cluster, cluster.admission(PLUGINS), pod("web", "team", container(securityContext=ok)), "pods")
    cluster.namespace("team", {ENFORCE: "restricted"})
    with pytest.raises(StatusError) as err:
        await create(cluster, cluster.admission(PLUGINS), pod("web", "team", container(securityContext=ok)), "pods")
    assert err.value.message.endswith('"restricted:latest": runAsUser=0 (container "web" must not set runAsUser=0)')


async def test_a_namespace_with_a_bad_level_is_invalid():
    cluster = Cluster()
    ns = {"metadata": {"name": "team", "labels": {ENFORCE: "strict"}}}
    with pytest.raises(StatusError) as err:
        await create(cluster, cluster.admission(PLUGINS), ns, "namespaces")
    assert err.value.code == 422
    assert err.value.message == ('Namespace "team" is invalid: metadata.labels[pod-security.kubernetes.io/enforce]: '
                                 'Invalid value: "strict": must be one of privileged, baseline, restricted')


async def test_a_stricter_enforce_label_warns_about_existing_pods():
    cluster = Cluster()
    cluster.namespace("team")
    cluster.add(pod("a", "team", container(securityContext={"privileged": True})), "pods")
    cluster.add(pod("b", "team", container(securityContext={"privileged": True})), "pods")
    cluster.add(pod("c", "team", container("web")), "pods")
    old = {"metadata": {"name": "team"}}
    new = {"metadata": {"name": "team", "labels": {ENFORCE: "baseline"}}}
    call = cluster.call("namespaces", "team", "team", verb="update")
    await cluster.admission(PLUGINS).validate(call, new, old)
    assert call.warnings == ['existing pods in namespace "team" violate the new PodSecurity enforce level '
                             '"baseline:latest"', "a (and 1 other pod): privileged"]


async def test_pod_updates_that_change_no_image_are_not_checked():
    cluster = Cluster()
    cluster.namespace("team", {ENFORCE: "restricted"})
    admission = cluster.admission(PLUGINS)
    old, new = pod(), pod()
    new["metadata"]["labels"] = {"x": "y"}
    await admission.validate(cluster.call("pods", "team", "web", verb="update"), new, old)
    new["spec"]["containers"][0]["image"] = "nginx:2"
    with pytest.raises(StatusError):
        await admission.validate(cluster.call("pods", "team", "web", verb="update"), new, old)


async def test_pod_status_updates_are_not_checked():
    cluster = Cluster()
    cluster.namespace("team", {ENFORCE: "restricted"})
    call = cluster.call("pods", "team", "web", subresource="status", verb="update")
    await cluster.admission(PLUGINS).validate(call, pod(), pod())


# ---- the policy itself -----------------------------------------------------------------------


def test_labels_choose_enforce_warn_and_audit_levels_with_versions():
    policy, errors = policy_from_labels({ENFORCE: "baseline", "pod-security.kubernetes.io/enforce-version": "v1.22",
                                         "pod-security.kubernetes.io/audit": "restricted"})
    assert errors == []
    assert (policy.enforce, policy.warn, policy.audit) == (
        LevelVersion("baseline", 22), LevelVersion("baseline", 22), LevelVersion("restricted"))
    assert str(policy.enforce) == "baseline:v1.22"


def test_bad_labels_fail_closed_for_enforce_and_open_for_warn():
    policy, errors = policy_from_labels({ENFORCE: "nope", WARN: "nope"})
    assert (policy.enforce.level, policy.warn.level) == ("restricted", "privileged")
    assert [str(e) for e in errors] == [
        'metadata.labels[pod-security.kubernetes.io/enforce]: Invalid value: "nope": must be one of privileged, '
        "baseline, restricted",
        'metadata.labels[pod-security.kubernetes.io/warn]: Invalid value: "nope": must be one of privileged, '
        "baseline, restricted"]


def test_restricted_runs_baseline_checks_then_its_own_each_in_id_order():
    assert [c.id for c in checks_for("restricted", 32)] == [
        "appArmorProfile", "hostNamespaces", "hostPorts", "privileged", "procMount", "seLinuxOptions", "sysctls",
        "windowsHostProcess", "allowPrivilegeEscalation", "capabilities_restricted", "restrictedVolumes",
        "runAsNonRoot", "runAsUser", "seccompProfile_restricted"]


@pytest.mark.parametrize(("spec", "detail"), [
    ({"securityContext": {"seccompProfile": {"type": "Unconfined"}}, "containers": [{"name": "c"}]},
     'seccompProfile (pod must not set securityContext.seccompProfile.type to "Unconfined")'),
    ({"securityContext": {"sysctls": [{"name": "kernel.msgmax", "value": "1"}, {"name": "net.ipv4.tcp_rmem",
                                                                               "value": "1"}]},
      "containers": [{"name": "c"}]},
     "forbidden sysctls (kernel.msgmax)"),
    ({"containers": [{"name": "c", "securityContext": {"seLinuxOptions": {"type": "spc_t", "user": "u"}}}]},
     'seLinuxOptions (container "c" set forbidden securityContext.seLinuxOptions: type "spc_t"; user may not be set)'),
    ({"containers": [{"name": "c", "securityContext": {"procMount": "Unmasked"}}]},
     'procMount (container "c" must not set securityContext.procMount to "Unmasked")'),
    ({"containers": [{"name": "c", "securityContext": {"appArmorProfile": {"type": "Unconfined"}}}]},
     'forbidden AppArmor profile (container "c" must not set AppArmor profile type to "Unconfined")'),
    ({"securityContext": {"windowsOptions": {"hostProcess": True}}, "containers": [{"name": "c"}]},
     "hostProcess (pod must not set securityContext.windowsOptions.hostProcess=true)"),
])
def test_baseline_checks_explain_themselves(spec, detail):
    assert forbidden_detail(evaluate("baseline", None, {}, spec)) == detail


def test_restricted_volume_types_are_named():
    spec = {"containers": [{"name": "c", "securityContext": RESTRICTED_OK}],
            "volumes": [{"name": "host", "hostPath": {"path": "/"}}, {"name": "nfs", "nfs": {"server": "s"}},
                        {"name": "tmp", "emptyDir": {}}]}
    assert forbidden_detail(evaluate("restricted", None, {}, spec)) == (
        'restricted volume types (volumes "host", "nfs" use restricted volume types "hostPath", "nfs")')
