"""Ownership tracking never fails a write, and what it writes reads back the same."""

from __future__ import annotations

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from kubeprov.api.status import StatusError
from kubeprov.apiserver.apply import FieldManager, FieldSet, SchemaStore
from kubeprov.apiserver.apply.typed import compare

STORE = SchemaStore()
FM = FieldManager(STORE)
DEPLOYMENT = STORE.for_kind("apps", "v1", "Deployment")
SETTINGS = settings(max_examples=150, deadline=None, suppress_health_check=[HealthCheck.too_slow])

# Names from the Deployment schema, so that generated objects walk real structure.
NAMES = st.sampled_from([
    "metadata", "spec", "status", "labels", "annotations", "finalizers", "ownerReferences", "name", "uid",
    "replicas", "selector", "template", "containers", "initContainers", "image", "args", "env", "value",
    "ports", "containerPort", "protocol", "resources", "limits", "strategy", "rollingUpdate", "maxSurge",
    "volumes", "configMap", "items", "key", "conditions", "type", "tolerations", "nodeSelector", "x",
])
SCALARS = st.none() | st.booleans() | st.integers(-3, 3) | st.floats(allow_nan=False, allow_infinity=False) | (
    st.sampled_from(["", "a", "TCP", "nginx", "<&>", "é"]))
JSON = st.recursive(
    SCALARS,
    lambda inner: st.lists(inner, max_size=3) | st.dictionaries(NAMES | st.text(max_size=3), inner, max_size=4),
    max_leaves=25,
)


def objects() -> st.SearchStrategy[dict]:
    container = st.fixed_dictionaries(
        {"name": st.sampled_from(["a", "b"])},
        optional={"image": JSON, "args": JSON, "ports": st.lists(
            st.fixed_dictionaries({"containerPort": st.sampled_from([80, 443])},
                                  optional={"protocol": st.sampled_from(["TCP", "UDP"])}), max_size=2),
                  "env": JSON, "x": JSON},
    )
    spec = st.fixed_dictionaries({}, optional={
        "replicas": JSON,
        "selector": JSON,
        "template": st.fixed_dictionaries({}, optional={
            "metadata": st.fixed_dictionaries({}, optional={"labels": JSON}),
            "spec": st.fixed_dictionaries({}, optional={"containers": st.lists(container, max_size=3) | JSON}),
        }) | JSON,
        "strategy": JSON,
    })
    meta = st.fixed_dictionaries({"name": st.just("d")}, optional={
        "labels": JSON, "finalizers": JSON, "ownerReferences": JSON, "annotations": JSON,
        "managedFields": JSON,
    })
    return st.fixed_dictionaries(
        {"apiVersion": st.just("apps/v1"), "kind": st.just("Deployment"), "metadata": meta},
        optional={"spec": spec | JSON, "status": JSON, "x": JSON},
    )


@SETTINGS
@given(live=st.none() | objects(), new=objects(), subresource=st.sampled_from(["", "status"]))
def test_update_never_raises_and_its_fields_v1_round_trip(live, new, subresource):
    out = FM.update(live=live, new=new, manager="m", api_version="apps/v1", kind="Deployment", group="apps",
                    subresource=subresource)
    for entry in out["metadata"].get("managedFields") or ():
        doc = entry["fieldsV1"]
        assert FieldSet.from_fields_v1(doc).to_fields_v1() == doc


@SETTINGS
@given(first=objects(), second=objects())
def test_update_chains_keep_managed_fields_readable(first, second):
    first["metadata"].pop("managedFields", None)
    second["metadata"].pop("managedFields", None)
    kw = {"api_version": "apps/v1", "kind": "Deployment", "group": "apps"}
    one = FM.update(live=None, new=first, manager="a", **kw)
    two = FM.update(live=one, new=second, manager="b", **kw)
    for entry in two["metadata"].get("managedFields") or ():
        assert FieldSet.from_fields_v1(entry["fieldsV1"]).to_fields_v1() == entry["fieldsV1"]
        assert not FieldSet.from_fields_v1(entry["fieldsV1"]).empty()


@SETTINGS
@given(a=objects(), b=objects())
def test_comparison_is_symmetric(a, b):
    forward, backward = compare(DEPLOYMENT, a, b), compare(DEPLOYMENT, b, a)
    assert forward.added.to_fields_v1() == backward.removed.to_fields_v1()
    assert forward.modified.to_fields_v1() == backward.modified.to_fields_v1()


@SETTINGS
@given(live=st.none() | objects(), applied=objects(), force=st.booleans())
def test_apply_either_succeeds_or_answers_with_a_status(live, applied, force):
    applied["metadata"].pop("managedFields", None)
    try:
        out = FM.apply(live=live, applied=applied, manager="ci", force=force, api_version="apps/v1",
                       kind="Deployment", group="apps")
    except StatusError as err:
        assert err.code in (400, 409, 500)
        return
    assert isinstance(out, dict)


@pytest.mark.parametrize("doc", [
    {},
    {"f:a": {}},
    {"f:a": {".": {}, 'k:{"name":"x"}': {".": {}, "f:name": {}}}, "f:b": {"v:1": {}, 'v:"1"': {}}},
])
def test_fields_v1_documents_round_trip(doc):
    assert FieldSet.from_fields_v1(doc).to_fields_v1() == doc
