"""The Admission chain: configuration and the order plugins run in."""

from __future__ import annotations

import pytest

from kubeprov.apiserver.admission import PLUGIN_NAMES, Admission
from kubeprov.apiserver.admission.attributes import Attributes
from tests.unit.test_admission_fakes import Cluster, pod


def test_unknown_plugin_name_is_refused_with_the_valid_names():
    cluster = Cluster()
    with pytest.raises(ValueError) as err:
        Admission(["NamespaceLifecycle", "AlwaysPullImages"], cache=cluster.cache, store=cluster.store,
                  registry=cluster.registry)
    assert str(err.value) == (
        "unknown admission plugin 'AlwaysPullImages'; valid plugins: NamespaceLifecycle, LimitRanger, "
        "ServiceAccount, PodSecurity, Priority, DefaultTolerationSeconds, DefaultStorageClass, ResourceQuota")


def test_plugins_run_in_kubernetes_order_whatever_the_configured_order():
    admission = Cluster().admission(["ResourceQuota", "PodSecurity", "NamespaceLifecycle"])
    assert admission.enabled == ["NamespaceLifecycle", "PodSecurity", "ResourceQuota"]


def test_every_default_plugin_is_known():
    admission = Cluster().admission()
    # every plugin we have is on by default, as in kube-apiserver
    assert set(admission.enabled) == set(PLUGIN_NAMES)


async def test_no_plugins_admits_everything():
    cluster = Cluster()  # not even the namespace exists
    admission = cluster.admission([])
    obj = pod()
    call = cluster.call("pods", "team")
    await admission.mutate(call, obj, None)
    await admission.validate(call, obj, None)
    assert obj == pod()


def test_attributes_name_a_generated_object_by_its_prefix_until_it_has_a_name():
    cluster = Cluster()
    obj = {"metadata": {"generateName": "web-", "namespace": "team"}}
    a = Attributes.from_call(cluster.call("pods", "team"), obj, None)
    assert (a.operation, a.object_name, a.name) == ("CREATE", "web-", "")
    assert a.forbidden("no").message == 'pods "web-" is forbidden: no'


def test_attributes_of_an_update_carry_the_old_object_and_the_url_name():
    cluster = Cluster()
    old, new = pod(), pod()
    a = Attributes.from_call(cluster.call("deployments", "team", "web", group="apps", verb="update"), new, old)
    assert (a.operation, a.group_resource, a.name, a.old is old) == ("UPDATE", "deployments.apps", "web", True)
