"""`kubeprov stack` commands: check a stack file and print the schema of stack files."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Annotated

import typer
from rich.table import Table

from kubeprov.cli.output import make_console
from kubeprov.errors import UsageError
from kubeprov.stack import load_stack, plan_machines, stack_json_schema

app = typer.Typer(help="Check stack files and print their schema.", no_args_is_help=True)


@app.command()
def validate(
    file: Annotated[Path, typer.Argument(help="Stack file to check.", show_default=False)],
) -> None:
    """Check a stack file and list the machines it plans; every problem is reported at once."""
    stack = load_stack(file)
    machines = plan_machines(stack)
    console = make_console()
    count = f"{len(machines)} machine{'' if len(machines) == 1 else 's'}"
    summary = f"cluster {stack.name}, provider {stack.provider.type}, {count}"
    console.print(f"{file}: valid ({summary})", markup=False)
    table = Table("machine", "role", "pool", "address")
    for machine in machines:
        table.add_row(
            machine.name, machine.role, machine.pool or "-", machine.address or "(after provisioning)"
        )
    console.print(table)


@app.command()
def schema(
    output: Annotated[
        Path | None, typer.Option("--output", "-o", help="Write the schema to this file instead of stdout.")
    ] = None,
) -> None:
    """Print the JSON Schema of stack files (draft 2020-12), for editors and documentation."""
    text = json.dumps(stack_json_schema(), indent=2) + "\n"
    if output is None:
        typer.echo(text, nl=False)
        return
    try:
        output.write_text(text, encoding="utf-8")
    except OSError as err:
        raise UsageError(f"cannot write {output}: {err.strerror}", "choose a writable path") from None
    make_console(stderr=True).print(f"wrote the stack schema to {output}", markup=False)
