"""The shape every admission plugin has."""

from __future__ import annotations

from typing import ClassVar

from kubeprov.apiserver.admission.attributes import Attributes
from kubeprov.apiserver.admission.lookup import Lookup


class Plugin:
    """A plugin may mutate (``admit``, the mutating phase) and validate (``validate``)."""

    name: ClassVar[str] = ""
    mutating: ClassVar[bool] = False
    validating: ClassVar[bool] = False

    def __init__(self, lookup: Lookup) -> None:
        self.lookup = lookup

    async def admit(self, a: Attributes) -> None:
        """Mutating phase: may change ``a.obj`` in place, or refuse with a StatusError."""

    async def validate(self, a: Attributes) -> None:
        """Validating phase: refuse with a StatusError, or add warnings."""

    async def validate_delete(self, a: Attributes) -> None:
        """A DELETE about to happen (``a.obj`` is the object as stored)."""
