"""Open the cluster a command acts on: its stack file, parsed, and its state folder."""

from __future__ import annotations

import hashlib
from dataclasses import dataclass
from pathlib import Path

from kubeprov.stack import Stack, load_stack
from kubeprov.state import ClusterState, StateStore


@dataclass(frozen=True)
class ClusterRef:
    stack: Stack
    stack_path: Path
    stack_text: str
    state: ClusterState

    @property
    def fingerprint(self) -> str:
        """Identifies the stack a run was made for, so a resume never mixes two versions of it."""
        return hashlib.sha256(self.stack_text.encode()).hexdigest()


def open_cluster(stack_path: Path, state_dir: Path | None) -> ClusterRef:
    stack = load_stack(stack_path)
    text = Path(stack_path).read_text()
    state = StateStore(state_dir).cluster(stack.name)
    return ClusterRef(stack=stack, stack_path=Path(stack_path), stack_text=text, state=state)
