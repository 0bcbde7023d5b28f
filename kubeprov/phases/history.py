"""Phase events in the cluster's ``history.jsonl``, and finding the run a new run resumes.

One JSON line per event::

    {"command": "create", "run": "<id>", "fingerprint": "<sha>", "phase": "pki", "event": "started"}
    {... "event": "done", "changed": true, "message": "12 certificates created", "seconds": 0.4}
    {... "event": "failed", "changed": false, "message": "<reason>", "seconds": 0.1}
    {... "event": "skipped"}                     # --skip
    {... "event": "resumed", "from": "<id>"}     # done by an earlier run, not run again
    {"command": "create", "run": "<id>", "fingerprint": "<sha>", "event": "completed"}

"completed" is written only when every leaf of the tree ended done or resumed, so a successful
``--only``/``--skip`` run leaves the rest for the next plain run. Records of a run that resumes
another carry ``"resumes": "<id>"``; following those links keeps the set of finished phases across
any number of interrupted attempts, even one killed before it wrote anything.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from kubeprov.state.store import ClusterState


@dataclass
class ResumePoint:
    """The interrupted run to continue and the leaf paths it (or its predecessors) finished."""

    run_id: str
    done: set[str]


def find_resume(state: ClusterState | None, command: str, fingerprint: str) -> ResumePoint | None:
    """The latest run of ``command`` if it stopped before completing, with the same fingerprint."""
    if state is None:
        return None
    records = [r for r in state.history() if r.get("command") == command and r.get("run")]
    if not records:
        return None
    by_run: dict[str, list[dict[str, Any]]] = {}
    for r in records:
        by_run.setdefault(r["run"], []).append(r)
    latest = records[-1]["run"]
    mine = by_run[latest]
    if any(r.get("event") == "completed" for r in mine) or mine[0].get("fingerprint", "") != fingerprint:
        return None
    chain = {latest}
    prev = mine[0].get("resumes")
    while prev and prev in by_run and prev not in chain:
        chain.add(prev)
        prev = by_run[prev][0].get("resumes")
    done: set[str] = set()
    for r in records:  # file order is time order, so a later event wins
        if r["run"] not in chain or not r.get("phase"):
            continue
        if r.get("event") in ("done", "resumed"):
            done.add(r["phase"])
        elif r.get("event") in ("started", "failed"):
            done.discard(r["phase"])
    return ResumePoint(latest, done)


class HistoryWriter:
    """Appends one run's events; writes nothing without a state folder or during a dry run."""

    def __init__(
        self,
        state: ClusterState | None,
        *,
        command: str,
        run_id: str,
        fingerprint: str,
        resumes: str | None,
        enabled: bool,
    ) -> None:
        self.state = state if enabled else None
        self.base: dict[str, Any] = {"command": command, "run": run_id, "fingerprint": fingerprint}
        if resumes:
            self.base["resumes"] = resumes

    def event(self, phase: str | None, event: str, **extra: Any) -> None:
        if self.state is None:
            return
        entry = dict(self.base)
        if phase is not None:
            entry["phase"] = phase
        entry["event"] = event
        if "seconds" in extra:
            extra["seconds"] = round(extra["seconds"], 3)
        entry.update(extra)
        self.state.append_history(entry)
