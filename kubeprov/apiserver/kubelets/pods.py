"""Which container of a pod a log or stream request means (kube-apiserver's validateContainer)."""

from __future__ import annotations

from typing import Any

from kubeprov.api import status
from kubeprov.api.status import StatusError

Obj = dict[str, Any]


def container_names(pod: Obj) -> list[str]:
    """Init, regular, then ephemeral containers, the order podutil.VisitContainers walks them."""
    spec = pod.get("spec") or {}
    return [c.get("name", "") for key in ("initContainers", "containers", "ephemeralContainers")
            for c in spec.get(key) or []]


def choose_container(pod: Obj, container: str) -> str:
    """The named container (which must exist) or the pod's only one; otherwise a 400 listing the choices."""
    name = (pod.get("metadata") or {}).get("name", "")
    if not container:
        regular = (pod.get("spec") or {}).get("containers") or []
        if len(regular) == 1:
            return str(regular[0].get("name", ""))
        if not regular:
            raise StatusError(status.bad_request(f"a container name must be specified for pod {name}"))
        choices = " ".join(container_names(pod))
        raise StatusError(status.bad_request(
            f"a container name must be specified for pod {name}, choose one of: [{choices}]"))
    if container not in container_names(pod):
        raise StatusError(status.bad_request(f"container {container} is not valid for pod {name}"))
    return container


def waiting_reason(pod: Obj, container: str) -> str:
    """Why the container has not started, from the pod's status; ContainerCreating when nothing says."""
    st = pod.get("status") or {}
    for key in ("initContainerStatuses", "containerStatuses", "ephemeralContainerStatuses"):
        for cs in st.get(key) or []:
            if cs.get("name") == container:
                reason = ((cs.get("state") or {}).get("waiting") or {}).get("reason")
                if reason:
                    return str(reason)
    return "ContainerCreating"


def not_started(pod: Obj, container: str) -> StatusError:
    """400 for a pod no kubelet runs yet, worded as the kubelet words a waiting container."""
    name = (pod.get("metadata") or {}).get("name", "")
    return StatusError(status.bad_request(
        f'container "{container}" in pod "{name}" is waiting to start: {waiting_reason(pod, container)}'))


def no_host(pod: Obj) -> StatusError:
    name = (pod.get("metadata") or {}).get("name", "")
    return StatusError(status.bad_request(f"pod {name} does not have a host assigned"))
