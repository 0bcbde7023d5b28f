"""CRD names and status: defaults, conflicts, conditions and stored versions."""

from __future__ import annotations

from typing import Any

from kubeprov.apiserver.crd import names, spec
from kubeprov.apiserver.crd.names import Acceptance, Claims


def crd(**status: Any) -> dict[str, Any]:
    return {"metadata": {"name": "crontabs.stable.example.com"},
            "spec": {"group": "stable.example.com", "names": {"plural": "crontabs", "kind": "CronTab",
                                                              "shortNames": ["ct", "cts"]},
                     "versions": [{"name": "v2", "served": True, "storage": True},
                                  {"name": "v1", "served": True, "storage": False}]},
            "status": status}


def test_names_get_kubernetes_defaults() -> None:
    assert spec.names(crd()) == {"plural": "crontabs", "singular": "crontab", "shortNames": ["ct", "cts"],
                                 "kind": "CronTab", "listKind": "CronTabList"}


def test_version_order_follows_kubernetes_priority() -> None:
    order = sorted(["v1alpha1", "foo", "v2", "v1beta2", "v1", "v10beta1", "bar"], key=spec.version_priority)
    assert order == ["v2", "v1", "v10beta1", "v1beta2", "v1alpha1", "bar", "foo"]


def test_short_name_conflicts_are_aggregated() -> None:
    claims = Claims({"ct", "cts"}, set())
    outcome = names.accept(crd(), claims)
    assert (outcome.accepted, outcome.reason, outcome.message) == (
        False, "ShortNamesConflict", '["ct" is already in use, "cts" is already in use]')


def test_names_already_accepted_stay_accepted() -> None:
    claims = Claims({"crontabs"}, {"CronTab"})
    previous = {"plural": "crontabs", "singular": "crontab", "kind": "CronTab", "listKind": "CronTabList",
                "shortNames": ["ct", "cts"]}
    assert names.accept(crd(acceptedNames=previous), claims).accepted


def test_desired_status_keeps_transition_times_and_stored_versions() -> None:
    first = names.desired_status(crd(storedVersions=["v1"]), Acceptance(spec.names(crd()), True), "T1")
    assert first["storedVersions"] == ["v1", "v2"]
    assert [c["lastTransitionTime"] for c in first["conditions"]] == ["T1", "T1"]
    again = names.desired_status({**crd(), "status": first}, Acceptance(spec.names(crd()), True), "T2")
    assert again == first
    lost = names.desired_status({**crd(), "status": first}, Acceptance(spec.names(crd()), False, "KindConflict",
                                                                       '"CronTab" is already in use'), "T3")
    assert [(c["type"], c["status"], c["lastTransitionTime"]) for c in lost["conditions"]] == [
        ("NamesAccepted", "False", "T3"), ("Established", "True", "T1")]  # once established, stays established
