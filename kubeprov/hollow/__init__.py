"""Hollow nodes: simulated kubelets (like kubemark's) that register Nodes, heartbeat and run pods on paper.

A :class:`HollowFleet` drives many :class:`HollowNode` objects from one process over one
:class:`~kubeprov.api.client.ApiClient`, one pod informer (indexed by ``spec.nodeName``) and one
node informer, so a thousand nodes cost no more watch connections than one.

Tests and operators steer them through the API (see :mod:`kubeprov.hollow.node`): the Pod annotation
``hollow.kubeprov.dev/unready: "true"`` fails its readiness probes until it is removed; the Node annotation
``hollow.kubeprov.dev/dead: "true"`` powers a node off (no Lease renewals, no status, pods frozen) until it
is removed; the Pod annotation ``hollow.kubeprov.dev/fail: "<code>"`` makes its containers exit with that
code; ``hollow.kubeprov.dev/exit-code`` and ``hollow.kubeprov.dev/run-seconds`` plan a container's exit.
"""

from kubeprov.hollow.fleet import HollowFleet
from kubeprov.hollow.node import (
    DEAD_ANNOTATION,
    EXIT_CODE_ANNOTATION,
    FAIL_ANNOTATION,
    RUN_SECONDS_ANNOTATION,
    HollowNode,
    HollowNodeSpec,
)

__all__ = ["DEAD_ANNOTATION", "EXIT_CODE_ANNOTATION", "FAIL_ANNOTATION", "RUN_SECONDS_ANNOTATION", "HollowFleet",
           "HollowNode", "HollowNodeSpec"]
