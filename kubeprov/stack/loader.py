"""Read a stack file and either return a :class:`Stack` or report every problem in it at once."""

from __future__ import annotations

from pathlib import Path

import yaml
from pydantic_core import ErrorDetails

from kubeprov.stack.errors import Issue, StackError, StackProblem, format_path
from kubeprov.stack.introspect import choices_at
from kubeprov.stack.messages import explain
from kubeprov.stack.model import Stack
from kubeprov.stack.validate import validate_data, yaml_loc
from kubeprov.stack.yamldoc import Document, Position

EXAMPLE_HINT = "start from one of the examples in stacks/, e.g. stacks/local.yaml"


def load_stack(path: Path | str) -> Stack:
    """The stack in ``path``; raises :class:`StackError` listing every problem in the file."""
    name = str(path)
    try:
        text = Path(path).read_text(encoding="utf-8")
    except FileNotFoundError:
        raise StackError(f"stack file {name} does not exist", f"check the path, or {EXAMPLE_HINT}") from None
    except IsADirectoryError:
        raise StackError(f"stack file {name} is a directory", "pass the path of a .yaml file") from None
    except UnicodeDecodeError:
        raise StackError(f"stack file {name} is not UTF-8 text", "save the file as UTF-8") from None
    except OSError as err:
        raise StackError(
            f"cannot read stack file {name}: {err.strerror}", "check the file's permissions"
        ) from None
    return parse_stack(text, name)


def parse_stack(text: str, filename: str) -> Stack:
    """The stack written in ``text``; ``filename`` only names the file in problems."""
    try:
        document = Document.parse(text)
    except yaml.MarkedYAMLError as err:
        raise StackError.from_problems(filename, [_syntax_problem(err, filename)]) from None
    except yaml.reader.ReaderError as err:
        raise StackError.from_problems(filename, [_character_problem(err, text, filename)]) from None
    if document is None:
        problem = StackProblem(filename, 1, 1, "", "the file is empty", EXAMPLE_HINT)
        raise StackError.from_problems(filename, [problem])
    if not isinstance(document.data, dict):
        where = Position.of(document.root)
        problem = StackProblem(
            filename,
            where.line,
            where.column,
            "",
            "the top level must be a mapping of keys such as 'name:' and 'provider:'",
            EXAMPLE_HINT,
        )
        raise StackError.from_problems(filename, [problem])

    problems = [
        StackProblem(
            filename,
            dup.again.line,
            dup.again.column,
            format_path(dup.loc),
            f"key '{dup.loc[-1]}' is written twice (lines {dup.first.line} and {dup.again.line}); "
            "only the last value would be used",
            f"keep one of the two '{dup.loc[-1]}' lines",
        )
        for dup in document.duplicate_keys
    ]
    stack, errors, issues = validate_data(document.data)
    problems += [_error_problem(error, document, filename) for error in errors]
    problems += [_issue_problem(issue, document, filename) for issue in issues]
    if problems:
        raise StackError.from_problems(filename, problems)
    assert stack is not None  # no problems means the model validated
    return stack


def _error_problem(error: ErrorDetails, document: Document, filename: str) -> StackProblem:
    loc, at_key = yaml_loc(error["loc"], key_error=error["type"] == "invalid_key")
    raw = error["loc"]
    if error["type"] == "extra_forbidden":
        at_key, choices = True, choices_at(Stack, raw[:-1])
    else:
        choices = choices_at(Stack, raw)
    message, fix = explain(error, choices)
    where = document.position(loc, at_key)
    return StackProblem(filename, where.line, where.column, format_path(loc), message, fix)


def _issue_problem(issue: Issue, document: Document, filename: str) -> StackProblem:
    where = document.position(issue.loc)
    return StackProblem(filename, where.line, where.column, format_path(issue.loc), issue.message, issue.fix)


def _syntax_problem(err: yaml.MarkedYAMLError, filename: str) -> StackProblem:
    mark = err.problem_mark or err.context_mark
    line, column = (mark.line + 1, mark.column + 1) if mark is not None else (1, 1)
    what = ", ".join(part for part in (err.context, err.problem) if part) or "the file is not valid YAML"
    if "single document" in what:
        fix = "keep one document: remove this '---' line and what follows"
    elif "'\\t'" in what:
        fix = "indent with spaces, not tabs"
    else:
        fix = "check the indentation and quoting on this line"
    return StackProblem(filename, line, column, "", f"invalid YAML: {what}", fix)


def _character_problem(err: yaml.reader.ReaderError, text: str, filename: str) -> StackProblem:
    """A character YAML refuses anywhere (control characters); the reader gives only an offset."""
    line = text.count("\n", 0, err.position) + 1
    column = err.position - (text.rfind("\n", 0, err.position) + 1) + 1
    what = f"invalid YAML: character #x{err.character:04x} is not allowed"
    return StackProblem(filename, line, column, "", what, "remove the character")
