"""`kubeprov stack validate` and `kubeprov stack schema`, and the example stacks they check."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from kubeprov.cli.main import main
from kubeprov.stack import load_stack, plan_machines

REPO = Path(__file__).resolve().parents[2]
EXAMPLES = sorted((REPO / "stacks").glob("*.yaml"))


def test_all_five_examples_exist():
    assert [p.name for p in EXAMPLES] == [
        "aws.example.yaml",
        "baremetal.example.yaml",
        "gcp.example.yaml",
        "local.yaml",
        "single.yaml",
    ]


@pytest.mark.parametrize("example", EXAMPLES, ids=[p.name for p in EXAMPLES])
def test_every_example_validates(example, capsys):
    assert main(["stack", "validate", str(example)]) == 0
    assert f"{example}: valid (cluster " in capsys.readouterr().out


def test_validate_summarises_the_local_example(capsys):
    file = REPO / "stacks" / "local.yaml"
    assert main(["stack", "validate", str(file)]) == 0
    out = capsys.readouterr().out
    assert out.splitlines()[0] == f"{file}: valid (cluster local, provider local, 6 machines)"
    assert "local-workers-2" in out and "10.214.0.14" in out


def test_local_example_is_three_control_planes_and_two_workers():
    s = load_stack(REPO / "stacks" / "local.yaml")
    roles = [m.role for m in plan_machines(s)]
    assert (s.name, s.control_plane.etcd.mode) == ("local", "stacked")
    assert roles == ["control-plane"] * 3 + ["worker"] * 2 + ["load-balancer"]


def test_single_example_runs_beside_local():
    single, local = load_stack(REPO / "stacks" / "single.yaml"), load_stack(REPO / "stacks" / "local.yaml")
    assert (single.name, single.control_plane.count, single.workers) == ("single", 1, [])
    assert not single.network.machine_subnet.overlaps(local.network.machine_subnet)
    assert single.provider.bridge != local.provider.bridge


def test_baremetal_example_uses_documentation_addresses():
    s = load_stack(REPO / "stacks" / "baremetal.example.yaml")
    assert all(host.address.startswith("192.0.2.") for host in s.provider.hosts)


def test_validate_of_a_broken_file_exits_2_with_the_report_on_stderr(tmp_path, capsys):
    file = tmp_path / "broken.yaml"
    file.write_text("name: demo\ncontrolPlane:\n  count: 2\n")
    assert main(["stack", "validate", str(file)]) == 2
    out, err = capsys.readouterr()
    assert out == ""
    assert err.splitlines()[:2] == [
        f"error: stack file {file} has 1 problem:",
        f"{file}:3:10: controlPlane.count: a control plane of 2 machines is not allowed: "
        "etcd needs an odd number of members to keep quorum. Fix: set count to 1 or 3.",
    ]


def test_schema_prints_json_to_stdout(capsys):
    assert main(["stack", "schema"]) == 0
    assert json.loads(capsys.readouterr().out)["title"] == "kubeprov stack"


def test_schema_writes_a_file(tmp_path, capsys):
    target = tmp_path / "stack.schema.json"
    assert main(["stack", "schema", "--output", str(target)]) == 0
    assert json.loads(target.read_text())["$schema"].endswith("2020-12/schema")
    assert capsys.readouterr().out == ""


def test_schema_to_an_unwritable_place_is_a_usage_error(tmp_path, capsys):
    assert main(["stack", "schema", "-o", str(tmp_path / "missing" / "dir" / "s.json")]) == 2
    assert "cannot write" in capsys.readouterr().err
