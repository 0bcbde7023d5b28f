"""Hollow nodes: simulated kubelets (like kubemark's) that register Nodes, heartbeat and run pods on paper.

A :class:`HollowFleet` drives many :class:`HollowNode` objects from one process over one
:class:`~kubeprov.api.client.ApiClient`, one pod informer (indexed by ``spec.nodeName``) and one
node informer, so a thousand nodes cost no more watch connections than one.
"""

from kubeprov.hollow.fleet import HollowFleet
from kubeprov.hollow.node import (
    EXIT_CODE_ANNOTATION,
    RUN_SECONDS_ANNOTATION,
    HollowNode,
    HollowNodeSpec,
)

__all__ = ["EXIT_CODE_ANNOTATION", "RUN_SECONDS_ANNOTATION", "HollowFleet", "HollowNode", "HollowNodeSpec"]
