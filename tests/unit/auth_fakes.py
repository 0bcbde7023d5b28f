"""Test doubles shared by the authorization tests."""

from __future__ import annotations


class Store:
    """An RbacSource over a plain list of objects."""

    def __init__(self, objects: list[dict]) -> None:
        self.objects = objects

    def _of(self, kind: str, namespace: str | None = None) -> list[dict]:
        return [
            o
            for o in self.objects
            if o["kind"] == kind and (namespace is None or o["metadata"].get("namespace") == namespace)
        ]

    def roles(self, namespace: str) -> list[dict]:
        return self._of("Role", namespace)

    def role_bindings(self, namespace: str) -> list[dict]:
        return self._of("RoleBinding", namespace)

    def cluster_roles(self) -> list[dict]:
        return self._of("ClusterRole")

    def cluster_role_bindings(self) -> list[dict]:
        return self._of("ClusterRoleBinding")
