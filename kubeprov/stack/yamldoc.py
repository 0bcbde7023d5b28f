"""A parsed YAML document that remembers where every key and value was written.

PyYAML's composed nodes keep their start positions; walking a field path through them gives the
line and column to report, which plain ``yaml.safe_load`` output has already forgotten.
"""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import dataclass
from typing import Any

import yaml
from yaml.nodes import MappingNode, Node, ScalarNode, SequenceNode

from kubeprov.stack.errors import Loc

MERGE_TAG = "tag:yaml.org,2002:merge"


@dataclass(frozen=True)
class Position:
    """A 1-based line and column in the file."""

    line: int
    column: int

    @classmethod
    def of(cls, node: Node) -> Position:
        return cls(node.start_mark.line + 1, node.start_mark.column + 1)


@dataclass(frozen=True)
class DuplicateKey:
    """A key written twice in one mapping; YAML would silently keep only the last value."""

    loc: Loc
    first: Position
    again: Position


@dataclass(frozen=True)
class Document:
    """The root node of a YAML document and the plain Python data built from it."""

    root: Node
    data: Any
    # found before building ``data``: merge keys (<<) add copied keys to the nodes while building
    duplicate_keys: tuple[DuplicateKey, ...]

    @classmethod
    def parse(cls, text: str) -> Document | None:
        """Parse one document; None when the text holds no document. Raises ``yaml.MarkedYAMLError``."""
        loader = yaml.SafeLoader(text)
        try:
            root = loader.get_single_node()
            if root is None:
                return None
            duplicates = tuple(_duplicate_keys(root))
            return cls(root, loader.construct_document(root), duplicates)
        finally:
            loader.dispose()

    def position(self, loc: Loc, at_key: bool = False) -> Position:
        """Where ``loc`` was written: its value (or key), else the deepest part of it that exists.

        A missing field is thus reported at the mapping that should contain it.
        """
        node: Node = self.root
        key_node: Node | None = None
        for part in loc:
            found = _child(node, part)
            if found is None:
                return Position.of(node)
            key_node, node = found
        return Position.of(key_node if at_key and key_node is not None else node)


def _duplicate_keys(root: Node) -> Iterator[DuplicateKey]:
    for loc, mapping in _mappings(root, (), set()):
        first: dict[str, ScalarNode] = {}
        for key, _ in mapping.value:
            if not isinstance(key, ScalarNode) or key.tag == MERGE_TAG:
                continue
            if key.value in first:
                yield DuplicateKey((*loc, key.value), Position.of(first[key.value]), Position.of(key))
            else:
                first[key.value] = key


def _child(node: Node, part: str | int) -> tuple[Node | None, Node] | None:
    """The (key, value) nodes of ``part`` under ``node``; the last one wins, as when loading."""
    if isinstance(node, MappingNode):
        matches = [(k, v) for k, v in node.value if isinstance(k, ScalarNode) and k.value == str(part)]
        return matches[-1] if matches else None
    if isinstance(node, SequenceNode) and isinstance(part, int) and 0 <= part < len(node.value):
        return None, node.value[part]
    return None


def _mappings(node: Node, loc: Loc, seen: set[int]) -> Iterator[tuple[Loc, MappingNode]]:
    """Every mapping node with its field path; ``seen`` stops at YAML aliases already visited."""
    if id(node) in seen:
        return
    seen.add(id(node))
    if isinstance(node, MappingNode):
        yield loc, node
        for key, value in node.value:
            part = key.value if isinstance(key, ScalarNode) else "?"
            yield from _mappings(value, (*loc, part), seen)
    elif isinstance(node, SequenceNode):
        for index, item in enumerate(node.value):
            yield from _mappings(item, (*loc, index), seen)
