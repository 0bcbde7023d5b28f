"""CustomResourceDefinitions and the custom resources they define.

``CrdController`` follows the stored CRDs and makes the registry serve their served versions
(with their schemas registered for field ownership), writes the status Kubernetes' CRD
controllers write, and deletes a CRD's objects when the CRD goes. ``CustomResourceStrategy`` is
the Strategy of every custom resource: pruning, defaulting and validation from the version's
``openAPIV3Schema``, status and scale subresources.

Modules: ``spec`` (reading a CRD), ``names`` (name conflicts and status conditions),
``controller``, ``validation`` (schema validation with Kubernetes' messages), ``formats``,
``defaulting`` (pruning and defaults) and ``strategy``.
"""

from kubeprov.apiserver.crd.controller import CrdController, resource_types
from kubeprov.apiserver.crd.defaulting import apply_defaults, normalize, prune
from kubeprov.apiserver.crd.strategy import CustomResourceStrategy
from kubeprov.apiserver.crd.validation import SchemaValidator, structural_problems, validate_schema

__all__ = [
    "CrdController",
    "CustomResourceStrategy",
    "SchemaValidator",
    "apply_defaults",
    "normalize",
    "prune",
    "resource_types",
    "structural_problems",
    "validate_schema",
]
