"""Stack files: the declarative YAML description of one cluster, loaded, checked and planned."""

from kubeprov.stack.errors import StackError, StackProblem
from kubeprov.stack.loader import load_stack, parse_stack
from kubeprov.stack.machines import PlannedMachine, plan_machines
from kubeprov.stack.model import Stack
from kubeprov.stack.schema import stack_json_schema

__all__ = [
    "PlannedMachine",
    "Stack",
    "StackError",
    "StackProblem",
    "load_stack",
    "parse_stack",
    "plan_machines",
    "stack_json_schema",
]
