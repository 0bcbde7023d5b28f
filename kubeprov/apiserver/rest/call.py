"""Everything one API call carries: what is asked, by whom, in which representation."""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any

from kubeprov.apiserver.request_info import RequestInfo
from kubeprov.apiserver.resources.types import ResourceType
from kubeprov.apiserver.rest.negotiate import Accept


@dataclass
class Call:
    info: RequestInfo
    rt: ResourceType
    query: Mapping[str, str]
    accept: Accept
    user: Any = None  # auth.UserInfo once authenticated
    user_agent: str = ""
    content_type: str = ""
    # Warning headers for the response (unknown fields under fieldValidation=Warn, deprecations)
    warnings: list[str] = field(default_factory=list)

    @property
    def namespace(self) -> str:
        return self.info.namespace if self.rt.namespaced else ""

    @property
    def dry_run(self) -> bool:
        return self.query.get("dryRun", "") == "All"

    @property
    def field_manager(self) -> str:
        """The manager recorded in managedFields: ``fieldManager`` or, like Kubernetes, the User-Agent's
        program name (``kubectl``, ``OpenAPI-Generator``)."""
        explicit = self.query.get("fieldManager", "")
        if explicit:
            return explicit
        return (self.user_agent.split("/", 1)[0] or "unknown")[:128]
