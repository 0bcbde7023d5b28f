"""The three patch formats the API server accepts: JSON patch, JSON merge patch and
strategic merge patch."""

from kubeprov.api.patch.json_patch import JSONPatchError, apply_json_patch
from kubeprov.api.patch.merge_patch import apply_merge_patch, create_merge_patch
from kubeprov.api.patch.strategic import (
    StrategicMergePatchError,
    StrategicMergeUnsupported,
    strategic_merge,
    supports_strategic_merge,
)

__all__ = [
    "JSONPatchError",
    "StrategicMergePatchError",
    "StrategicMergeUnsupported",
    "apply_json_patch",
    "apply_merge_patch",
    "create_merge_patch",
    "strategic_merge",
    "supports_strategic_merge",
]
