"""State store: one folder per cluster, atomic writes, append-only history."""

from kubeprov.state.store import ClusterState, StateStore, default_state_root

__all__ = ["ClusterState", "StateStore", "default_state_root"]
