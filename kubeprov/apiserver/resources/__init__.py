"""The registry of resources the API server serves (built-in now, custom resources later)."""

from kubeprov.apiserver.resources.builtin import builtin_resources
from kubeprov.apiserver.resources.registry import Registry
from kubeprov.apiserver.resources.types import ResourceType, Subresource

__all__ = ["Registry", "ResourceType", "Subresource", "builtin_resources"]
