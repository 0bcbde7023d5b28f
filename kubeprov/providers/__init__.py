"""Where machines come from: the provider protocol (base.py) and one module per provider."""

from __future__ import annotations

from typing import TYPE_CHECKING

from kubeprov.errors import NotYetAvailable

if TYPE_CHECKING:
    from kubeprov.providers.base import Provider
    from kubeprov.stack import Stack
    from kubeprov.state.store import ClusterState


def provider_for(stack: Stack, state: ClusterState) -> Provider:
    """The stack's provider; imported on demand (the local one needs root tools, clouds need Pulumi)."""
    kind = stack.provider.type
    if kind == "local":
        from kubeprov.providers.local import LocalProvider

        return LocalProvider(stack, state)
    if kind == "ssh":
        from kubeprov.providers.ssh import SshProvider

        return SshProvider(stack, state)
    raise NotYetAvailable(f"provisioning {kind} machines is not yet available in this kubeprov version",
                          "use a local or ssh stack")
