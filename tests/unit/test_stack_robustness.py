"""Whatever a stack file holds, loading it ends in a Stack or a StackError, never a crash."""

from __future__ import annotations

import yaml
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from kubeprov.stack import Stack, StackError, parse_stack

KEYS = [
    "name",
    "provider",
    "type",
    "ssh",
    "local",
    "aws",
    "hosts",
    "address",
    "role",
    "pool",
    "controlPlane",
    "count",
    "etcd",
    "mode",
    "external",
    "workers",
    "labels",
    "taints",
    "key",
    "effect",
    "network",
    "podCIDR",
    "serviceCIDR",
    "dnsAddress",
    "machineSubnet",
    "certificates",
    "validityDays",
    "federation",
]
SCALARS = st.one_of(
    st.none(),
    st.booleans(),
    st.integers(-5, 70000),
    st.sampled_from(
        [
            "10.96.0.0/12",
            "10.244.0.0/16",
            "10.214.0.0/28",
            "192.0.2.1",
            "worker",
            "external",
            "control-plane",
            "ssh",
            "NoSchedule",
            "web",
            "Bad_Name",
            "3",
            "",
        ]
    ),
    st.text(max_size=8),
)
VALUES = st.recursive(
    SCALARS,
    lambda inner: st.lists(inner, max_size=3) | st.dictionaries(st.sampled_from(KEYS), inner, max_size=4),
    max_leaves=20,
)


@settings(max_examples=300, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(st.dictionaries(st.sampled_from(KEYS), VALUES, max_size=6))
def test_any_mapping_gives_a_stack_or_a_stack_error(data):
    text = yaml.safe_dump(data)
    try:
        result = parse_stack(text, "fuzz.yaml")
    except StackError as err:
        assert err.problems, err.message
        assert all(p.line >= 1 and p.column >= 1 for p in err.problems)
    else:
        assert isinstance(result, Stack)


@settings(max_examples=300, deadline=None)
@given(st.text(max_size=60))
def test_any_text_gives_a_stack_or_a_stack_error(text):
    try:
        parse_stack(text, "fuzz.yaml")
    except StackError as err:
        assert err.message.startswith("stack file fuzz.yaml has ")
