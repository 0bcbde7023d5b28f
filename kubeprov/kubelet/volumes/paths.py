"""Where a pod's volumes live on the node: ``<root>/pods/<uid>/volumes/<plugin>/<name>`` like the kubelet.

Plugin directory names are the kubelet's escaped plugin names (``kubernetes.io/empty-dir`` ->
``kubernetes.io~empty-dir``) so operators find the usual paths.
"""

from __future__ import annotations

from pathlib import Path

PLUGINS = {
    "emptyDir": "kubernetes.io~empty-dir",
    "configMap": "kubernetes.io~configmap",
    "secret": "kubernetes.io~secret",
    "downwardAPI": "kubernetes.io~downward-api",
    "projected": "kubernetes.io~projected",
}


def pod_dir(root: Path, uid: str) -> Path:
    return root / "pods" / uid


def volumes_dir(root: Path, uid: str) -> Path:
    return pod_dir(root, uid) / "volumes"


def volume_dir(root: Path, uid: str, kind: str, name: str) -> Path:
    """The directory of a volume the kubelet materializes (not hostPath or PVC, which are host paths)."""
    return volumes_dir(root, uid) / PLUGINS[kind] / name
