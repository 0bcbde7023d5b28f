"""The Node authorizer: what a kubelet may touch, decided by what runs on its node.

A kubelet (user ``system:node:<name>`` in group ``system:nodes``) may read a Secret, ConfigMap,
PersistentVolumeClaim or PersistentVolume, or mint a token for a ServiceAccount, only when a pod
bound to its node (``spec.nodeName``) references it. Its own Node object and Lease are its own;
everything else is checked against the static node rules (the ``system:node`` ClusterRole's
rules). Requests from anyone else get "no opinion" and go on to RBAC.

The reasons given on refusal are Kubernetes' own, since they end up in 403 messages.
"""

from __future__ import annotations

from collections.abc import Callable, Iterator, Mapping
from typing import Any, Protocol

from kubeprov.api.fielderrors import go_quote
from kubeprov.api.fields import SelectorError
from kubeprov.api.fields import parse as parse_field_selector
from kubeprov.apiserver.auth.attributes import NO_OPINION, Attributes, Decision
from kubeprov.apiserver.auth.policy import node_rules
from kubeprov.apiserver.auth.rbac import Rule, rules_allow
from kubeprov.apiserver.auth.user import node_identity

NODE_LEASE_NAMESPACE = "kube-node-lease"
ALLOW = Decision(True)

Obj = Mapping[str, Any]


class NodeSource(Protocol):
    """Read access to the objects the Node authorizer follows, e.g. over the watch cache."""

    def pods_on_node(self, node: str) -> list[dict]:
        """Pods whose ``spec.nodeName`` is ``node``."""
        ...

    def get(self, resource: str, namespace: str, name: str) -> dict | None:
        """One object by plural resource name (``persistentvolumeclaims``...), or None."""
        ...


# ----------------------------------------------------------------------------- references


def _meta(obj: Obj, key: str) -> str:
    return str((obj.get("metadata") or {}).get(key) or "")


def _containers(pod: Obj) -> Iterator[Obj]:
    spec = pod.get("spec") or {}
    for key in ("initContainers", "containers", "ephemeralContainers"):
        yield from spec.get(key) or ()


def _ref_name(ref: Any, key: str = "name") -> str:
    return str(ref.get(key) or "") if isinstance(ref, Mapping) else ""


# Volume sources that name a Secret in the pod's namespace through ``secretRef``.
_SECRET_REF_VOLUMES = ("cephfs", "cinder", "flexVolume", "iscsi", "rbd", "scaleIO", "storageos")


def pod_secret_names(pod: Obj) -> set[str]:
    """Secrets a pod uses: image pull secrets, env, envFrom, secret/projected and plugin volumes."""
    spec = pod.get("spec") or {}
    names = {_ref_name(s) for s in spec.get("imagePullSecrets") or ()}
    for container in _containers(pod):
        names |= {_ref_name(e.get("secretRef")) for e in container.get("envFrom") or ()}
        names |= {_ref_name((e.get("valueFrom") or {}).get("secretKeyRef")) for e in container.get("env") or ()}
    for volume in spec.get("volumes") or ():
        names.add(_ref_name(volume.get("secret"), "secretName"))
        names.add(_ref_name(volume.get("azureFile"), "secretName"))
        names.add(_ref_name((volume.get("csi") or {}).get("nodePublishSecretRef")))
        names |= {_ref_name((volume.get(kind) or {}).get("secretRef")) for kind in _SECRET_REF_VOLUMES}
        for source in (volume.get("projected") or {}).get("sources") or ():
            names.add(_ref_name(source.get("secret")))
    names.discard("")
    return names


def pod_configmap_names(pod: Obj) -> set[str]:
    """ConfigMaps a pod uses: env, envFrom, configMap and projected volumes."""
    spec = pod.get("spec") or {}
    names: set[str] = set()
    for container in _containers(pod):
        names |= {_ref_name(e.get("configMapRef")) for e in container.get("envFrom") or ()}
        names |= {_ref_name((e.get("valueFrom") or {}).get("configMapKeyRef")) for e in container.get("env") or ()}
    for volume in spec.get("volumes") or ():
        names.add(_ref_name(volume.get("configMap")))
        for source in (volume.get("projected") or {}).get("sources") or ():
            names.add(_ref_name(source.get("configMap")))
    names.discard("")
    return names


def pod_claim_names(pod: Obj) -> set[str]:
    """PersistentVolumeClaims a pod mounts, including those of its generic ephemeral volumes."""
    names: set[str] = set()
    for volume in (pod.get("spec") or {}).get("volumes") or ():
        names.add(_ref_name(volume.get("persistentVolumeClaim"), "claimName"))
        if volume.get("ephemeral") is not None:
            names.add(f"{_meta(pod, 'name')}-{volume.get('name') or ''}")
    names.discard("")
    return names


def pod_resource_claim_names(pod: Obj) -> set[str]:
    """ResourceClaims a pod uses, named directly or generated from a template."""
    names = {_ref_name(c, "resourceClaimName") for c in (pod.get("spec") or {}).get("resourceClaims") or ()}
    names |= {_ref_name(s, "resourceClaimName") for s in (pod.get("status") or {}).get("resourceClaimStatuses") or ()}
    names.discard("")
    return names


def pv_secret_refs(pv: Obj) -> set[tuple[str, str]]:
    """``(namespace, name)`` of the Secrets a PersistentVolume's plugin needs."""
    spec = pv.get("spec") or {}
    claim_namespace = str((spec.get("claimRef") or {}).get("namespace") or "")
    refs: set[tuple[str, str]] = set()

    def add(ref: Any, default_namespace: str = claim_namespace) -> None:
        if isinstance(ref, Mapping) and ref.get("name"):
            refs.add((str(ref.get("namespace") or default_namespace), str(ref["name"])))

    azure = spec.get("azureFile") or {}
    if azure.get("secretName"):
        refs.add((str(azure.get("secretNamespace") or claim_namespace), str(azure["secretName"])))
    for kind in _SECRET_REF_VOLUMES:
        add((spec.get(kind) or {}).get("secretRef"))
    csi = spec.get("csi") or {}
    for key in (
        "controllerPublishSecretRef",
        "nodeStageSecretRef",
        "nodePublishSecretRef",
        "controllerExpandSecretRef",
        "nodeExpandSecretRef",
    ):
        add(csi.get(key), "")
    return refs


# ----------------------------------------------------------------------------- authorizer


def _no_relationship(node: str) -> Decision:
    return Decision(False, f"no relationship found between node '{node}' and this object")


def _selects(attrs: Attributes, field: str, value: str) -> bool:
    """Whether the request's field selector pins ``field`` to ``value``."""
    try:
        selector = parse_field_selector(attrs.field_selector)
    except SelectorError:
        return False
    return any(t.field == field and t.op == "=" and t.value == value for t in selector.terms)


Handler = Callable[[str, Attributes], Decision]


class NodeAuthorizer:
    """Kubernetes' Node authorizer over a :class:`NodeSource` (the relationship graph is computed
    from the pods on the node when asked, instead of being kept up to date)."""

    def __init__(self, source: NodeSource, rules: list[dict] | None = None) -> None:
        self._source = source
        self._rules: list[Rule] = list(node_rules() if rules is None else rules)
        self._handlers: dict[tuple[str, str], Handler] = {
            ("", "secrets"): lambda n, a: self._read_namespaced(n, a, self._secret_related),
            ("", "configmaps"): lambda n, a: self._read_namespaced(n, a, self._configmap_related),
            ("", "persistentvolumeclaims"): self._pvc,
            ("", "persistentvolumes"): lambda n, a: self._get_only(n, a, self._pv_related),
            ("resource.k8s.io", "resourceclaims"): lambda n, a: self._get_only(n, a, self._resource_claim_related),
            ("storage.k8s.io", "volumeattachments"): lambda n, a: self._get_only(n, a, self._attachment_related),
            ("", "serviceaccounts"): self._service_account_token,
            ("coordination.k8s.io", "leases"): self._lease,
            ("storage.k8s.io", "csinodes"): self._csi_node,
            ("resource.k8s.io", "resourceslices"): self._resource_slice,
            ("", "nodes"): self._node,
            ("", "pods"): self._pod,
        }

    def authorize(self, attrs: Attributes) -> Decision:
        node, is_node = node_identity(attrs.user)
        if not is_node:
            return NO_OPINION
        if not node:
            return Decision(False, f"unknown node for user {go_quote(attrs.user.name)}")
        if attrs.resource_request:
            handler = self._handlers.get((attrs.api_group, attrs.resource))
            if handler is not None:
                return handler(node, attrs)
        return ALLOW if rules_allow(attrs, self._rules) else NO_OPINION

    # --- relationships

    def _pods(self, node: str, namespace: str | None = None) -> list[dict]:
        pods = self._source.pods_on_node(node)
        if namespace is None:
            return pods
        return [p for p in pods if _meta(p, "namespace") == namespace]

    def _pod_related(self, node: str, namespace: str, name: str) -> bool:
        return any(_meta(p, "name") == name for p in self._pods(node, namespace))

    def _claims_on_node(self, node: str) -> set[tuple[str, str]]:
        return {(_meta(p, "namespace"), claim) for p in self._pods(node) for claim in pod_claim_names(p)}

    def _secret_related(self, node: str, namespace: str, name: str) -> bool:
        if any(name in pod_secret_names(p) for p in self._pods(node, namespace)):
            return True
        return any((namespace, name) in pv_secret_refs(pv) for pv in self._volumes_on_node(node))

    def _configmap_related(self, node: str, namespace: str, name: str) -> bool:
        return any(name in pod_configmap_names(p) for p in self._pods(node, namespace))

    def _pvc_related(self, node: str, namespace: str, name: str) -> bool:
        return any(name in pod_claim_names(p) for p in self._pods(node, namespace))

    def _volumes_on_node(self, node: str) -> Iterator[dict]:
        """PersistentVolumes bound (both ways) to claims used by pods on the node."""
        for namespace, claim in sorted(self._claims_on_node(node)):
            pvc = self._source.get("persistentvolumeclaims", namespace, claim)
            volume = str(((pvc or {}).get("spec") or {}).get("volumeName") or "")
            pv = self._source.get("persistentvolumes", "", volume) if volume else None
            ref = ((pv or {}).get("spec") or {}).get("claimRef") or {}
            if pv is not None and (ref.get("namespace"), ref.get("name")) == (namespace, claim):
                yield pv

    def _pv_related(self, node: str, _namespace: str, name: str) -> bool:
        pv = self._source.get("persistentvolumes", "", name)
        ref = ((pv or {}).get("spec") or {}).get("claimRef") or {}
        if pv is None or not ref.get("name"):
            return False
        return (str(ref.get("namespace") or ""), str(ref["name"])) in self._claims_on_node(node)

    def _resource_claim_related(self, node: str, namespace: str, name: str) -> bool:
        return any(name in pod_resource_claim_names(p) for p in self._pods(node, namespace))

    def _attachment_related(self, node: str, _namespace: str, name: str) -> bool:
        attachment = self._source.get("volumeattachments", "", name)
        return attachment is not None and (attachment.get("spec") or {}).get("nodeName") == node

    def _service_account_related(self, node: str, namespace: str, name: str) -> bool:
        return any((p.get("spec") or {}).get("serviceAccountName") == name for p in self._pods(node, namespace))

    def _slice_related(self, node: str, _namespace: str, name: str) -> bool:
        resource_slice = self._source.get("resourceslices", "", name)
        return resource_slice is not None and (resource_slice.get("spec") or {}).get("nodeName") == node

    # --- request kinds

    def _related(self, node: str, attrs: Attributes, related: Callable[[str, str, str], bool]) -> Decision:
        if not attrs.name:
            return Decision(False, "No Object name found")
        return ALLOW if related(node, attrs.namespace, attrs.name) else _no_relationship(node)

    def _read_namespaced(self, node: str, attrs: Attributes, related: Callable[[str, str, str], bool]) -> Decision:
        if attrs.verb not in ("get", "list", "watch"):
            return Decision(False, "can only read resources of this type")
        if attrs.subresource:
            return Decision(False, "cannot read subresource")
        if not attrs.namespace:
            return Decision(False, "can only read namespaced object of this type")
        return self._related(node, attrs, related)

    def _get_only(self, node: str, attrs: Attributes, related: Callable[[str, str, str], bool]) -> Decision:
        if attrs.verb != "get":
            return Decision(False, "can only get individual resources of this type")
        if attrs.subresource:
            return Decision(False, "cannot get subresource")
        return self._related(node, attrs, related)

    def _pvc(self, node: str, attrs: Attributes) -> Decision:
        if attrs.subresource != "status":
            return self._get_only(node, attrs, self._pvc_related)
        if attrs.verb not in ("update", "patch"):
            return Decision(False, "can only get/update/patch this type")
        return self._related(node, attrs, self._pvc_related)

    def _service_account_token(self, node: str, attrs: Attributes) -> Decision:
        if attrs.verb != "create" or not attrs.name:
            return Decision(False, "can only create tokens for individual service accounts")
        if attrs.subresource != "token":
            return Decision(False, "can only create token subresource of serviceaccount")
        return self._related(node, attrs, self._service_account_related)

    def _lease(self, node: str, attrs: Attributes) -> Decision:
        if attrs.verb not in ("get", "create", "update", "patch", "delete"):
            return Decision(False, "can only get, create, update, patch, or delete a node lease")
        if attrs.namespace != NODE_LEASE_NAMESPACE:
            return Decision(False, f"can only access leases in the {go_quote(NODE_LEASE_NAMESPACE)} system namespace")
        # on create the name is in the body, which the NodeRestriction admission plugin checks
        if attrs.verb != "create" and attrs.name != node:
            return Decision(False, "can only access node lease with the same name as the requesting node")
        return ALLOW

    def _csi_node(self, node: str, attrs: Attributes) -> Decision:
        if attrs.verb not in ("get", "create", "update", "patch", "delete"):
            return Decision(False, "can only get, create, update, patch, or delete a CSINode")
        if attrs.subresource:
            return Decision(False, "cannot authorize CSINode subresources")
        if attrs.verb != "create" and attrs.name != node:
            return Decision(False, "can only access CSINode with the same name as the requesting node")
        return ALLOW

    def _resource_slice(self, node: str, attrs: Attributes) -> Decision:
        if attrs.subresource:
            return Decision(False, "cannot authorize ResourceSlice subresources")
        if attrs.verb == "create":
            return ALLOW
        if attrs.verb in ("get", "update", "patch", "delete"):
            return self._related(node, attrs, self._slice_related)
        if attrs.verb in ("watch", "list", "deletecollection"):
            if _selects(attrs, "spec.nodeName", node) or _selects(attrs, "nodeName", node):
                return ALLOW
            return Decision(False, "can only list/watch/deletecollection resourceslices with nodeName field selector")
        return Decision(
            False,
            "only the following verbs are allowed for a ResourceSlice: "
            "get, watch, list, create, update, patch, delete, deletecollection",
        )

    def _node(self, node: str, attrs: Attributes) -> Decision:
        if attrs.verb in ("update", "patch") and attrs.subresource in ("", "status") and attrs.name != node:
            # Kubernetes leaves this to the NodeRestriction admission plugin; refusing here keeps a
            # kubelet off other nodes even without it, with that plugin's wording.
            return Decision(False, f"node {go_quote(node)} is not allowed to modify node {go_quote(attrs.name)}")
        if not attrs.subresource:
            if attrs.verb in ("create", "update", "patch"):
                return ALLOW  # the name of a new Node is in the body; admission checks it
            if attrs.verb in ("get", "list", "watch"):
                # compared by name, so a kubelet can look for its Node before creating it
                if attrs.name == node:
                    return ALLOW
                if not attrs.name:
                    return Decision(False, f"node '{node}' cannot read all nodes, only its own Node object")
                return Decision(False, f"node '{node}' cannot read '{attrs.name}', only its own Node object")
        elif attrs.subresource == "status" and attrs.verb in ("update", "patch"):
            return ALLOW
        return NO_OPINION

    def _pod(self, node: str, attrs: Attributes) -> Decision:
        if not attrs.subresource:
            if attrs.verb == "get":
                return self._get_only(node, attrs, self._pod_related)
            if attrs.verb in ("list", "watch"):
                if _selects(attrs, "spec.nodeName", node):
                    return ALLOW
                if attrs.name:
                    return self._related(node, attrs, self._pod_related)
                return Decision(False, "can only list/watch pods with spec.nodeName field selector")
            if attrs.verb in ("create", "delete"):
                return ALLOW  # mirror pods; NodeRestriction admission keeps them on this node
        elif attrs.subresource == "status" and attrs.verb in ("update", "patch"):
            return ALLOW
        elif attrs.subresource == "eviction" and attrs.verb == "create":
            return ALLOW
        return NO_OPINION
