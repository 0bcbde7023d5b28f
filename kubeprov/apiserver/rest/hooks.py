"""Per-resource side effects of writes that are not validation: Service address allocation."""

from __future__ import annotations

from typing import Any

from kubeprov.apiserver.storage.allocator import ServiceAllocator

Obj = dict[str, Any]


class ResourceHooks:
    """No side effects; subclasses override what their resource needs."""

    async def before_create(self, obj: Obj) -> Any:
        """Reserve what the object needs; the returned token is passed to ``undo_create`` on failure."""
        return None

    async def undo_create(self, token: Any) -> None:
        return None

    async def before_update(self, new: Obj, old: Obj) -> Any:
        return None

    async def undo_update(self, token: Any) -> None:
        return None

    async def after_update(self, new: Obj, old: Obj) -> None:
        return None

    async def after_delete(self, obj: Obj) -> None:
        return None


class ServiceHooks(ResourceHooks):
    def __init__(self, allocator: ServiceAllocator) -> None:
        self.allocator = allocator

    async def before_create(self, obj: Obj) -> Any:
        return await self.allocator.allocate(obj)

    async def undo_create(self, token: Any) -> None:
        await self.allocator.rollback(token or [])

    async def before_update(self, new: Obj, old: Obj) -> Any:
        return await self.allocator.allocate(new, old)

    async def undo_update(self, token: Any) -> None:
        await self.allocator.rollback(token or [])

    async def after_update(self, new: Obj, old: Obj) -> None:
        await self.allocator.release(old, keep=new)

    async def after_delete(self, obj: Obj) -> None:
        await self.allocator.release(obj)
