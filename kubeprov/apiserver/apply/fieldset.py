"""Sets of field paths and their FieldsV1 encoding, as structured-merge-diff defines them.

A set is a trie: ``members`` are the path elements that are themselves in the set and
``children`` the sub-sets below an element. Being a child does not imply membership: a
manager owning ``spec.replicas`` owns neither ``spec`` nor the whole object. FieldsV1 writes
a member with no children as ``{}``, children as a nested object, and an element that is both
as the nested object with an extra ``".": {}`` entry.

The operations mirror structured-merge-diff's exactly because ownership depends on their
subtle edges: ``difference`` only removes exact paths (removing a parent leaves its children
alone) while ``recursive_difference`` removes whole subtrees.
"""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

from kubeprov.apiserver.apply import pathelement

Path = tuple[str, ...]


class FieldsV1Error(ValueError):
    """A FieldsV1 document that is not a well-formed field set."""


class FieldSet:
    """A set of field paths (see the module docstring).

    The algebra returns new sets that may share sub-sets with their operands; ``copy`` one
    before inserting into it.
    """

    __slots__ = ("children", "members")

    def __init__(self) -> None:
        self.members: set[str] = set()
        self.children: dict[str, FieldSet] = {}

    # ------------------------------------------------------------------ building

    @classmethod
    def of(cls, *paths: Path) -> FieldSet:
        """A set holding ``paths``."""
        out = cls()
        for path in paths:
            out.insert(path)
        return out

    def insert(self, path: Path) -> None:
        """Add ``path`` (its parents are not added; the empty path is ignored, as the whole
        object is never owned)."""
        if not path:
            return
        node = self
        for pe in path[:-1]:
            child = node.children.get(pe)
            if child is None:
                child = node.children[pe] = FieldSet()
            node = child
        node.members.add(path[-1])

    def copy(self) -> FieldSet:
        """A deep copy."""
        out = FieldSet()
        out.members = set(self.members)
        out.children = {pe: child.copy() for pe, child in self.children.items()}
        return out

    # ------------------------------------------------------------------ queries

    def empty(self) -> bool:
        """Whether no path is a member (children holding nothing do not count)."""
        if self.members:
            return False
        return all(child.empty() for child in self.children.values())

    def has(self, path: Path) -> bool:
        """Whether ``path`` itself is a member."""
        if not path:
            return False
        node: FieldSet | None = self
        for pe in path[:-1]:
            node = node.children.get(pe)  # type: ignore[union-attr]
            if node is None:
                return False
        return path[-1] in node.members  # type: ignore[union-attr]

    def child(self, pe: str) -> FieldSet:
        """The paths below ``pe``, without the prefix (an empty set when there are none)."""
        return self.children.get(pe) or FieldSet()

    def __iter__(self) -> Iterator[Path]:
        """Member paths in structured-merge-diff order: at each level the members, then the
        children's paths, each group sorted."""
        yield from self._iterate(())

    def _iterate(self, prefix: Path) -> Iterator[Path]:
        for pe in pathelement.sorted_elements(self.members):
            yield (*prefix, pe)
        for pe in pathelement.sorted_elements(self.children):
            yield from self.children[pe]._iterate((*prefix, pe))

    def paths(self, prefix: Path = ()) -> Iterator[Path]:
        """Member paths in no particular order (cheaper than iterating)."""
        for pe in self.members:
            yield (*prefix, pe)
        for pe, child in self.children.items():
            yield from child.paths((*prefix, pe))

    def size(self) -> int:
        """The number of member paths."""
        return len(self.members) + sum(child.size() for child in self.children.values())

    def __eq__(self, other: object) -> bool:
        if not isinstance(other, FieldSet):
            return NotImplemented
        return self.to_fields_v1() == other.to_fields_v1()

    def __hash__(self) -> int:  # mutable: hash by identity like a plain object
        return id(self)

    def __repr__(self) -> str:
        return f"FieldSet({self.to_fields_v1()!r})"

    # ------------------------------------------------------------------ algebra

    def union(self, other: FieldSet) -> FieldSet:
        """Paths in either set."""
        out = FieldSet()
        out.members = self.members | other.members
        children = dict(self.children)
        for pe, child in other.children.items():
            mine = children.get(pe)
            children[pe] = child if mine is None else mine.union(child)
        out.children = children
        return out

    def intersection(self, other: FieldSet) -> FieldSet:
        """Paths in both sets."""
        out = FieldSet()
        out.members = self.members & other.members
        for pe, child in self.children.items():
            theirs = other.children.get(pe)
            if theirs is not None:
                both = child.intersection(theirs)
                if not both.empty():
                    out.children[pe] = both
        return out

    def difference(self, other: FieldSet) -> FieldSet:
        """Paths of this set that are not in ``other``; removing a parent keeps its children."""
        out = FieldSet()
        out.members = self.members - other.members
        for pe, child in self.children.items():
            theirs = other.children.get(pe)
            if theirs is None:
                out.children[pe] = child
                continue
            rest = child.difference(theirs)
            if not rest.empty():
                out.children[pe] = rest
        return out

    def recursive_difference(self, other: FieldSet) -> FieldSet:
        """Paths of this set not in ``other`` nor below a member of ``other``."""
        out = FieldSet()
        out.members = self.members - other.members
        for pe, child in self.children.items():
            if pe in other.members:
                continue
            theirs = other.children.get(pe)
            if theirs is None:
                out.children[pe] = child
                continue
            rest = child.recursive_difference(theirs)
            if not rest.empty():
                out.children[pe] = rest
        return out

    # ------------------------------------------------------------------ FieldsV1

    def to_fields_v1(self) -> dict[str, Any]:
        """The FieldsV1 document, keys in the order Kubernetes writes them."""
        out: dict[str, Any] = {}
        members, children = self.members, self.children
        keys = members | {pe for pe, child in children.items() if not child.empty()}
        for pe in pathelement.sorted_elements(keys):
            child = children.get(pe)
            if child is None or child.empty():
                out[pe] = {}
                continue
            encoded = child.to_fields_v1()
            out[pe] = {".": {}, **encoded} if pe in members else encoded
        return out

    @classmethod
    def from_fields_v1(cls, doc: Any) -> FieldSet:
        """Decode a FieldsV1 document; unknown element kinds are dropped as Kubernetes does."""
        if not isinstance(doc, dict):
            raise FieldsV1Error(f"expected a FieldsV1 object, got {type(doc).__name__}")
        out, _ = cls._decode(doc)
        return out or FieldSet()

    @classmethod
    def _decode(cls, doc: dict[str, Any]) -> tuple[FieldSet | None, bool]:
        # returns (children below this node or None, whether this node is itself a member)
        node: FieldSet | None = None
        is_member = False
        for pe, sub in doc.items():
            if not isinstance(sub, dict):
                raise FieldsV1Error(f"expected an object under {pe!r}")
            if pe == ".":
                is_member = True
                continue
            if not pathelement.is_valid(pe):
                if len(pe) >= 2 and pe[1] == ":" and pe[0] not in "fkvi":
                    continue
                raise FieldsV1Error(f"parsing key as path element: {pe!r}")
            grandchildren, child_is_member = cls._decode(sub)
            if node is None:
                node = FieldSet()
            if child_is_member:
                node.members.add(pe)
            if grandchildren is not None:
                node.children[pe] = grandchildren
        if node is None:
            return None, True
        return node, is_member
