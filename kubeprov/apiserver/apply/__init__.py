"""Server-side apply, field ownership (``metadata.managedFields``) and strict field validation.

``FieldManager(SchemaStore())`` is created once per server. Every create, update and patch
passes its result through ``FieldManager.update``; ``application/apply-patch+yaml`` patches go
through ``FieldManager.apply`` instead (its result still needs defaulting). Custom resources
are served once their CRD version is registered with ``SchemaStore.register``.
``strict_problems`` lists the unknown and duplicate fields ``fieldValidation`` reports.

Modules: ``schema`` (structural types), ``pathelement`` and ``fieldset`` (field sets and
FieldsV1), ``typed`` (field sets and comparisons of values), ``merge`` (apply merge and
pruning), ``entries`` (the managedFields wire format), ``managed`` (the field manager),
``conflicts``, ``reset`` (fields strategies reset) and ``strict``.
"""

from kubeprov.apiserver.apply.conflicts import ApplyConflict, Conflict
from kubeprov.apiserver.apply.fieldset import FieldSet, FieldsV1Error
from kubeprov.apiserver.apply.managed import FieldManager
from kubeprov.apiserver.apply.schema import Node, SchemaStore
from kubeprov.apiserver.apply.strict import strict_problems

__all__ = [
    "ApplyConflict",
    "Conflict",
    "FieldManager",
    "FieldSet",
    "FieldsV1Error",
    "Node",
    "SchemaStore",
    "strict_problems",
]
