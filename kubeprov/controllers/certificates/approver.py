"""Auto-approval of kubelet client certificates (kube-controller-manager's ``csrapproving``).

A request for signer ``kubernetes.io/kube-apiserver-client-kubelet`` whose x509 request is a valid
kubelet client request is approved when a SubjectAccessReview says its requester may
``create certificatesigningrequests/selfnodeclient`` (a node renewing its own certificate: the
requester is the CN) or ``.../nodeclient`` (a new node, typically a bootstrap token in
``system:bootstrappers``). Anything else is left for a person (or another approver) to decide.

Kubelet serving certificates are not auto-approved by Kubernetes; with ``approve_kubelet_serving``
this controller approves those a node asks for itself whose names are all addresses of that Node.
"""

from __future__ import annotations

import copy
from typing import Any

from cryptography import x509

from kubeprov.controllers.base import Controller, Obj, meta
from kubeprov.controllers.certificates import csr as c

SELF_NODE_MESSAGE = "Auto approving self kubelet client certificate after SubjectAccessReview."
NODE_MESSAGE = "Auto approving kubelet client certificate after SubjectAccessReview."
SERVING_MESSAGE = "Auto approving kubelet serving certificate: its names are the node's addresses."


def is_node_client(csr: Obj, req: x509.CertificateSigningRequest) -> bool:
    return c.spec(csr).get("signerName") == c.KUBELET_CLIENT_SIGNER and not c.kubelet_client_error(req, c.usages(csr))


def is_self_node_client(csr: Obj, req: x509.CertificateSigningRequest) -> bool:
    return is_node_client(csr, req) and c.spec(csr).get("username") == c.common_name(req)


def serving_names_are_the_nodes(req: x509.CertificateSigningRequest, node: Obj | None) -> bool:
    """Every DNS and IP SAN is one of the Node's ``status.addresses``."""
    if node is None:
        return False
    known = {str(a.get("address", "")) for a in (node.get("status") or {}).get("addresses") or []
             if isinstance(a, dict)}
    wanted = [*c.dns_names(req), *c.ip_addresses(req)]
    return bool(wanted) and all(name in known for name in wanted)


def approval_condition(message: str, now: str) -> Obj:
    return c.new_condition("Approved", "AutoApproved", message, now)


class CSRApprovingController(Controller):
    name = "csrapproving"
    service_account = "certificate-controller"

    @classmethod
    def options(cls, config: Any) -> dict[str, Any] | None:
        return {"approve_kubelet_serving": bool(getattr(config, "approve_kubelet_serving", False))}

    def __init__(self, *args: Any, approve_kubelet_serving: bool = False, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        self.approve_kubelet_serving = approve_kubelet_serving
        self.csrs = self.informer(c.API_VERSION, c.RESOURCE)
        self.nodes = self.informer("v1", "nodes") if approve_kubelet_serving else None
        self.csrs.add_handler(on_add=self._csr, on_update=lambda _old, new: self._csr(new))

    def _csr(self, csr: Obj) -> None:
        if not c.issued_certificate(csr) and not c.is_decided(csr):
            self.enqueue(meta(csr).get("name", ""))

    async def sync(self, key: str) -> None:
        csr = self.csrs.get("", key)
        if csr is None or c.issued_certificate(csr) or c.is_decided(csr):
            return
        try:
            req = c.parse_request(csr)
        except ValueError as exc:
            self.log.info("CSR %s: unparseable request: %s", key, exc)
            return
        tried = []
        for subresource, recognized, message in (
                ("selfnodeclient", is_self_node_client(csr, req), SELF_NODE_MESSAGE),
                ("nodeclient", is_node_client(csr, req), NODE_MESSAGE)):
            if not recognized:
                continue
            tried.append(subresource)
            if await self.allowed(csr, subresource):
                await self.approve(csr, message)
                return
        if tried:
            self.log.info("recognized CSR %s as %s but the SubjectAccessReview was not approved", key, tried)
            return
        if self.approve_kubelet_serving and self.is_own_serving_request(csr, req):
            await self.approve(csr, SERVING_MESSAGE)

    def is_own_serving_request(self, csr: Obj, req: x509.CertificateSigningRequest) -> bool:
        s = c.spec(csr)
        if s.get("signerName") != c.KUBELET_SERVING_SIGNER or c.kubelet_serving_error(req, c.usages(csr)):
            return False
        cn = c.common_name(req)
        if s.get("username") != cn or c.NODES_GROUP not in (s.get("groups") or []):
            return False
        node = self.nodes.get("", cn.removeprefix(c.NODE_PREFIX)) if self.nodes is not None else None
        return serving_names_are_the_nodes(req, node)

    async def allowed(self, csr: Obj, subresource: str) -> bool:
        """Whether the requester may ``create certificatesigningrequests/<subresource>``."""
        s = c.spec(csr)
        review: Obj = {
            "apiVersion": "authorization.k8s.io/v1", "kind": "SubjectAccessReview",
            "spec": {"user": s.get("username", ""), "groups": list(s.get("groups") or []),
                     "resourceAttributes": {"group": "certificates.k8s.io", "version": "*", "verb": "create",
                                            "resource": "certificatesigningrequests",
                                            "subresource": subresource}}}
        if s.get("uid"):
            review["spec"]["uid"] = s["uid"]
        if s.get("extra"):
            review["spec"]["extra"] = copy.deepcopy(s["extra"])
        answer = await self.client.create("authorization.k8s.io/v1", "subjectaccessreviews", review)
        return bool((answer.get("status") or {}).get("allowed"))

    async def approve(self, csr: Obj, message: str) -> None:
        new = copy.deepcopy(csr)
        status = new.setdefault("status", {})
        status["conditions"] = [*c.conditions(new), approval_condition(message, c.now_stamp())]
        await self.client.update(c.API_VERSION, c.RESOURCE, new, subresource="approval")
        self.log.info("approved CSR %s: %s", meta(csr).get("name"), message)
