"""Per-kind strategies: what kube-apiserver's registry strategies do for each built-in resource.

``strategy_for(rt)`` gives the Strategy of a resource type; the generic REST layer calls its
``default``/``prepare_for_*``/``validate*`` hooks around storage. Unknown resources (custom
resources, anything not listed) get the metadata-only :class:`Strategy`.
"""

from __future__ import annotations

from kubeprov.apiserver.resources.types import ResourceType
from kubeprov.apiserver.strategy.apiextensions import CustomResourceDefinitionStrategy
from kubeprov.apiserver.strategy.apps import (
    ControllerRevisionStrategy,
    DaemonSetStrategy,
    DeploymentStrategy,
    ReplicaSetStrategy,
    StatefulSetStrategy,
)
from kubeprov.apiserver.strategy.autoscaling import HorizontalPodAutoscalerStrategy, hpa_v1_to_v2, hpa_v2_to_v1
from kubeprov.apiserver.strategy.base import Strategy
from kubeprov.apiserver.strategy.batch import CronJobStrategy, JobStrategy
from kubeprov.apiserver.strategy.certificates import CertificateSigningRequestStrategy, set_requester
from kubeprov.apiserver.strategy.coordination import LeaseStrategy
from kubeprov.apiserver.strategy.core_config import ConfigMapStrategy, SecretStrategy
from kubeprov.apiserver.strategy.core_namespace import NamespaceStrategy, ServiceAccountStrategy
from kubeprov.apiserver.strategy.core_node import EventStrategy, NodeStrategy
from kubeprov.apiserver.strategy.core_pod import PodStrategy
from kubeprov.apiserver.strategy.core_quota import LimitRangeStrategy, ResourceQuotaStrategy
from kubeprov.apiserver.strategy.core_rc import ReplicationControllerStrategy
from kubeprov.apiserver.strategy.core_service import EndpointsStrategy, ServiceStrategy
from kubeprov.apiserver.strategy.core_storage import PersistentVolumeClaimStrategy, PersistentVolumeStrategy
from kubeprov.apiserver.strategy.discovery import EndpointSliceStrategy
from kubeprov.apiserver.strategy.networking import IngressClassStrategy, IngressStrategy, NetworkPolicyStrategy
from kubeprov.apiserver.strategy.podtemplate import PodTemplateStrategy
from kubeprov.apiserver.strategy.policy import PodDisruptionBudgetStrategy
from kubeprov.apiserver.strategy.rbac import RoleBindingStrategy, RoleStrategy
from kubeprov.apiserver.strategy.scheduling import PriorityClassStrategy
from kubeprov.apiserver.strategy.storage import StorageClassStrategy

# (group, resource) -> strategy class; versions share the strategy (objects are converted first)
STRATEGIES: dict[tuple[str, str], type[Strategy]] = {
    ("", "namespaces"): NamespaceStrategy,
    ("", "pods"): PodStrategy,
    ("", "services"): ServiceStrategy,
    ("", "endpoints"): EndpointsStrategy,
    ("", "configmaps"): ConfigMapStrategy,
    ("", "secrets"): SecretStrategy,
    ("", "serviceaccounts"): ServiceAccountStrategy,
    ("", "nodes"): NodeStrategy,
    ("", "events"): EventStrategy,
    ("", "persistentvolumes"): PersistentVolumeStrategy,
    ("", "persistentvolumeclaims"): PersistentVolumeClaimStrategy,
    ("", "resourcequotas"): ResourceQuotaStrategy,
    ("", "limitranges"): LimitRangeStrategy,
    ("", "podtemplates"): PodTemplateStrategy,
    ("", "replicationcontrollers"): ReplicationControllerStrategy,
    ("apps", "deployments"): DeploymentStrategy,
    ("apps", "replicasets"): ReplicaSetStrategy,
    ("apps", "statefulsets"): StatefulSetStrategy,
    ("apps", "daemonsets"): DaemonSetStrategy,
    ("apps", "controllerrevisions"): ControllerRevisionStrategy,
    ("batch", "jobs"): JobStrategy,
    ("batch", "cronjobs"): CronJobStrategy,
    ("autoscaling", "horizontalpodautoscalers"): HorizontalPodAutoscalerStrategy,
    ("coordination.k8s.io", "leases"): LeaseStrategy,
    ("rbac.authorization.k8s.io", "roles"): RoleStrategy,
    ("rbac.authorization.k8s.io", "clusterroles"): RoleStrategy,
    ("rbac.authorization.k8s.io", "rolebindings"): RoleBindingStrategy,
    ("rbac.authorization.k8s.io", "clusterrolebindings"): RoleBindingStrategy,
    ("policy", "poddisruptionbudgets"): PodDisruptionBudgetStrategy,
    ("networking.k8s.io", "ingresses"): IngressStrategy,
    ("networking.k8s.io", "ingressclasses"): IngressClassStrategy,
    ("networking.k8s.io", "networkpolicies"): NetworkPolicyStrategy,
    ("storage.k8s.io", "storageclasses"): StorageClassStrategy,
    ("discovery.k8s.io", "endpointslices"): EndpointSliceStrategy,
    ("scheduling.k8s.io", "priorityclasses"): PriorityClassStrategy,
    ("certificates.k8s.io", "certificatesigningrequests"): CertificateSigningRequestStrategy,
    ("apiextensions.k8s.io", "customresourcedefinitions"): CustomResourceDefinitionStrategy,
}


def strategy_for(rt: ResourceType) -> Strategy:
    """The Strategy of ``rt``; custom resources get their CRD's, unknown ones the metadata-only one."""
    if rt.custom:
        from kubeprov.apiserver.crd.strategy import CustomResourceStrategy  # lazy: crd imports this package

        return CustomResourceStrategy(rt)
    cls = STRATEGIES.get((rt.group, rt.resource))
    return (cls or Strategy)(rt)


__all__ = [
    "STRATEGIES",
    "Strategy",
    "hpa_v1_to_v2",
    "hpa_v2_to_v1",
    "set_requester",
    "strategy_for",
]
