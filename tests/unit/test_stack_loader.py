"""Loading stack files: the report as a whole, YAML-level problems and unreadable files."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import pytest

from kubeprov.cli.main import main
from kubeprov.errors import UsageError
from kubeprov.stack import StackError, StackProblem, load_stack, parse_stack

DATA = Path(__file__).parent / "data" / "stacks"
KUBEPROV = Path(sys.executable).parent / "kubeprov"


def problems(text: str, filename: str = "s.yaml") -> tuple[StackProblem, ...]:
    with pytest.raises(StackError) as caught:
        parse_stack(text, filename)
    return caught.value.problems


def test_stack_error_is_a_usage_error_with_exit_code_2():
    with pytest.raises(UsageError) as caught:
        parse_stack("name: Bad_Name\n", "s.yaml")
    assert caught.value.exit_code == 2


def test_every_problem_of_a_file_is_reported_in_one_run():
    with pytest.raises(StackError) as caught:
        load_stack(DATA / "many_problems.yaml")
    found = {(p.line, p.path) for p in caught.value.problems}
    assert found == {
        (4, "controlPlane.count"),
        (7, "controlPlane.etcd.count"),
        (10, "workers[0].count"),
        (11, "workers[1].name"),
        (14, "network.podCIDR"),
        (15, "network.machineSubnet"),
        (17, "certificates.validityDays"),
    }


def test_report_starts_with_the_file_and_the_number_of_problems():
    with pytest.raises(StackError) as caught:
        load_stack(DATA / "many_problems.yaml")
    first, *rest = caught.value.message.splitlines()
    assert first == f"stack file {DATA / 'many_problems.yaml'} has 7 problems:"
    assert len(rest) == 7


def test_report_lines_are_ordered_by_position_in_the_file():
    found = problems("name: Bad_Name\nworkers:\n  - name: web\n    count: -1\ncontrolPlane: {count: 2}\n")
    assert [p.line for p in found] == sorted(p.line for p in found)
    assert [p.path for p in found] == ["name", "workers[0].count", "controlPlane.count"]


def test_problem_line_has_file_line_column_path_message_and_fix():
    (problem,) = problems("name: demo\nworkers:\n  - name: web\n    count: 101\n")
    assert problem.format() == (
        "s.yaml:4:12: workers[0].count: must be at most 100, got 101. Fix: use a number at most 100."
    )


def test_hint_points_at_the_schema_command():
    with pytest.raises(StackError) as caught:
        parse_stack("name: Bad_Name\n", "s.yaml")
    assert "kubeprov stack schema" in (caught.value.hint or "")


def test_unknown_key_is_located_at_the_key_not_its_value():
    (problem,) = problems("name: demo\ncontrolPlane:\n  cuont: 3\n")
    assert (problem.line, problem.column) == (3, 3)


def test_missing_field_is_located_at_the_mapping_that_should_hold_it():
    (problem,) = problems("name: demo\nprovider:\n  type: ssh\n")
    assert (problem.line, problem.column, problem.path) == (3, 3, "provider.hosts")


def test_missing_name_is_reported_at_the_top_of_the_file():
    (problem,) = problems("# comment\ncontrolPlane:\n  count: 1\n")
    assert (problem.line, problem.path, problem.message) == (2, "name", "'name' is required")


def test_quoted_number_is_not_taken_for_a_number():
    (problem,) = problems('name: demo\ncontrolPlane:\n  count: "3"\n')
    assert problem.message == "expected a whole number, got '3'"


def test_duplicate_key_names_both_lines():
    (problem,) = problems("name: demo\nnetwork:\n  podCIDR: 10.244.0.0/16\n  podCIDR: 10.245.0.0/16\n")
    assert (problem.line, problem.path) == (4, "network.podCIDR")
    assert "lines 3 and 4" in problem.message


def test_merge_keys_are_not_duplicates():
    stack = load_stack(DATA / "merge_keys.yaml")
    assert [(p.name, p.labels) for p in stack.workers] == [("web", {"tier": "web"}), ("api", {"tier": "web"})]


def test_yaml_syntax_error_is_placed_by_the_parser():
    with pytest.raises(StackError) as caught:
        load_stack(DATA / "syntax_error.yaml")
    (problem,) = caught.value.problems
    assert (problem.file, problem.line, problem.column) == (str(DATA / "syntax_error.yaml"), 4, 9)
    assert problem.message == "invalid YAML: mapping values are not allowed here"


def test_tab_indentation_gets_a_specific_fix():
    (problem,) = problems("name: demo\ncontrolPlane:\n\tcount: 3\n")
    assert problem.line == 3
    assert problem.fix == "indent with spaces, not tabs"


@pytest.mark.parametrize("text", ["", "\n", "# only a comment\n"])
def test_empty_file_is_one_problem(text):
    (problem,) = problems(text)
    assert (problem.line, problem.message) == (1, "the file is empty")


@pytest.mark.parametrize("text", ["- name: demo\n", "just text\n", "42\n"])
def test_top_level_must_be_a_mapping(text):
    (problem,) = problems(text)
    assert problem.message.startswith("the top level must be a mapping")


def test_two_documents_are_refused():
    (problem,) = problems("name: a\n---\nname: b\n")
    assert (problem.line, problem.fix) == (2, "keep one document: remove this '---' line and what follows")


def test_missing_file_names_the_file(tmp_path):
    missing = tmp_path / "nope.yaml"
    with pytest.raises(StackError) as caught:
        load_stack(missing)
    assert caught.value.message == f"stack file {missing} does not exist"


def test_directory_is_not_a_stack_file(tmp_path):
    with pytest.raises(StackError, match="is a directory"):
        load_stack(tmp_path)


def test_non_utf8_file_is_reported(tmp_path):
    file = tmp_path / "latin1.yaml"
    file.write_bytes("name: d\xe9mo\n".encode("latin-1"))
    with pytest.raises(StackError, match="is not UTF-8 text"):
        load_stack(file)


def test_missing_file_through_the_cli_is_one_error_line(tmp_path, capsys):
    missing = tmp_path / "nope.yaml"
    rc = main(["stack", "validate", str(missing)])
    err = capsys.readouterr().err
    assert rc == 2
    assert err.splitlines()[0] == f"error: stack file {missing} does not exist"
    assert "Traceback" not in err


def test_console_script_reports_problems_without_a_traceback():
    file = DATA / "many_problems.yaml"
    run = subprocess.run([str(KUBEPROV), "stack", "validate", str(file)], capture_output=True, text=True)
    assert run.returncode == 2
    assert "Traceback" not in run.stdout + run.stderr
    assert f"{file}:4:10: controlPlane.count: " in run.stderr
