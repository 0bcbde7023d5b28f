"""Structural type information: how each field merges, is owned and is validated.

Field ownership and apply merging need to know, for every position in an object, whether it
is an object with named fields, a map, a list (atomic, a set, or keyed by fields) or a scalar.
Built-in kinds come from the Kubernetes 1.32 schema shipped with ``kubernetes-validate``;
custom resources from their CRD's ``openAPIV3Schema``. The conversion follows the rules
Kubernetes uses to build its structured-merge-diff schema (``kube-openapi/pkg/schemaconv``):

* a list without ``x-kubernetes-list-type`` is atomic, unless its patch strategy is ``merge``,
  which makes it a map keyed by ``x-kubernetes-patch-merge-key`` (or a set without a key);
* ``x-kubernetes-map-type`` makes an object or map atomic (also when set on a ``$ref``);
* an object without properties or additional properties accepts anything below it, as do
  ``x-kubernetes-preserve-unknown-fields`` and schemas without a type;
* ``Quantity``, int-or-string and time values are untyped scalars, ``RawExtension`` an atomic
  blob.
"""

from __future__ import annotations

import json
from importlib import resources
from typing import Any

SCALAR = "scalar"
MAP = "map"
LIST = "list"
ANY = "any"

DEFINITIONS = "kubernetes-json-schema/v1.32.0-local/_definitions.json"

_QUANTITY = "io.k8s.apimachinery.pkg.api.resource.Quantity"
_RAW_EXTENSION = "io.k8s.apimachinery.pkg.runtime.RawExtension"
_INT_OR_STRING = "io.k8s.apimachinery.pkg.util.intstr.IntOrString"
OBJECT_META = "io.k8s.apimachinery.pkg.apis.meta.v1.ObjectMeta"

# Defaults of list-map key fields. The published schema omits them, but Kubernetes' own
# OpenAPI carries them and apply uses them to key items that leave the field out.
_KEY_DEFAULTS: dict[str, dict[str, Any]] = {
    "io.k8s.api.core.v1.ContainerPort": {"protocol": "TCP"},
    "io.k8s.api.core.v1.ServicePort": {"protocol": "TCP"},
    "io.k8s.api.core.v1.LocalObjectReference": {"name": ""},
}

# What Go's zero value of a kind looks like once turned into JSON: non-pointer structs are
# there as objects and some non-omitempty fields as null. Kubernetes compares a new object to
# that zero value on create, which decides where FieldsV1 has ``".": {}`` entries.
_ZERO_STRUCTS: dict[str, tuple[str, ...]] = {
    "io.k8s.api.apps.v1.DeploymentSpec": ("template", "strategy"),
    "io.k8s.api.apps.v1.StatefulSetSpec": ("template", "updateStrategy"),
    "io.k8s.api.apps.v1.DaemonSetSpec": ("template", "updateStrategy"),
    "io.k8s.api.apps.v1.ReplicaSetSpec": ("template",),
    "io.k8s.api.batch.v1.JobSpec": ("template",),
    "io.k8s.api.batch.v1.CronJobSpec": ("jobTemplate",),
    "io.k8s.api.batch.v1.JobTemplateSpec": ("metadata", "spec"),
    "io.k8s.api.core.v1.PodTemplateSpec": ("metadata", "spec"),
    "io.k8s.api.core.v1.PodTemplate": ("template",),
    "io.k8s.api.core.v1.PersistentVolumeClaimSpec": ("resources",),
    "io.k8s.api.core.v1.ServiceStatus": ("loadBalancer",),
    "io.k8s.api.networking.v1.IngressStatus": ("loadBalancer",),
    "io.k8s.api.core.v1.NodeStatus": ("daemonEndpoints", "nodeInfo"),
    "io.k8s.api.core.v1.NodeDaemonEndpoints": ("kubeletEndpoint",),
    "io.k8s.api.core.v1.Event": ("involvedObject", "source"),
    "io.k8s.apiextensions-apiserver.pkg.apis.apiextensions.v1.CustomResourceDefinitionSpec": ("names",),
    "io.k8s.apiextensions-apiserver.pkg.apis.apiextensions.v1.CustomResourceDefinitionStatus": ("acceptedNames",),
}
_ZERO_NULLS: dict[str, tuple[str, ...]] = {
    OBJECT_META: ("creationTimestamp",),
    "io.k8s.api.core.v1.PodSpec": ("containers",),
    "io.k8s.api.core.v1.Event": ("eventTime", "firstTimestamp", "lastTimestamp"),
}
_TOP_LEVEL_STRUCTS = ("metadata", "spec", "status")


class Node:
    """One position of a schema.

    ``kind`` is ``map`` (an object: named ``fields`` plus ``elem`` for other keys), ``list``
    (``list_type`` atomic/set/map with ``keys``, items typed by ``elem``), ``scalar`` or
    ``any`` (type decided by the value; maps granular unless ``atomic``, lists atomic).

    ``elem`` of a map is what the schema declares for extra keys, which is what strict field
    validation accepts; ``open`` additionally lets apply and ownership tracking accept extra
    keys (inherited ``x-kubernetes-preserve-unknown-fields``, objects without properties).
    """

    __slots__ = (
        "atomic",
        "elem",
        "embedded",
        "fields",
        "key_defaults",
        "keys",
        "kind",
        "list_type",
        "name",
        "opaque",
        "open",
        "scalar",
        "zero_nulls",
        "zero_structs",
    )

    def __init__(self, kind: str, name: str = "") -> None:
        self.kind = kind
        self.name = name
        self.scalar = "untyped"
        self.fields: dict[str, Node] = {}
        self.elem: Node | None = None
        self.atomic = False
        self.list_type = "atomic"
        self.keys: tuple[str, ...] = ()
        self.key_defaults: dict[str, Any] = {}
        self.open = False
        self.embedded = False
        self.opaque = False
        self.zero_structs: tuple[str, ...] = ()
        self.zero_nulls: tuple[str, ...] = ()

    def __repr__(self) -> str:
        return f"Node({self.kind}{' ' + self.name if self.name else ''})"

    # ------------------------------------------------------------------ constructors

    @classmethod
    def scalar_of(cls, scalar: str = "untyped") -> Node:
        """A scalar of type ``string``, ``numeric``, ``boolean`` or ``untyped``."""
        node = cls(SCALAR)
        node.scalar = scalar
        return node

    @classmethod
    def deduced(cls, *, opaque: bool = False) -> Node:
        """Anything: maps are granular (and anything again below), lists atomic."""
        node = cls(ANY)
        node.opaque = opaque
        node.elem = node
        return node

    @classmethod
    def untyped_atomic(cls) -> Node:
        """Anything, owned and replaced as a whole."""
        node = cls(ANY)
        node.atomic = True
        node.opaque = True
        return node

    def variant(self, *, atomic: bool) -> Node:
        """The same type with another map type (``x-kubernetes-map-type`` on a reference)."""
        if self.atomic == atomic or self.kind != MAP:
            return self
        other = Node(self.kind, self.name)
        for slot in Node.__slots__:
            setattr(other, slot, getattr(self, slot))
        other.atomic = atomic
        return other

    # ------------------------------------------------------------------ navigation

    def field(self, name: str) -> Node | None:
        """The node of key ``name`` of a map for ownership tracking and merging (``None`` when
        the schema does not allow the key)."""
        found = self.fields.get(name)
        if found is not None:
            return found
        if self.elem is not None:
            return self.elem
        if self.open:
            return _DEDUCED
        return None

    def zero_value(self) -> dict[str, Any]:
        """The JSON form of Go's zero value of this object type (see ``_ZERO_STRUCTS``)."""
        out: dict[str, Any] = {}
        for name in self.zero_structs:
            child = self.fields.get(name)
            out[name] = child.zero_value() if child is not None and child.kind == MAP else {}
        for name in self.zero_nulls:
            out[name] = None
        return out

    def with_zero(self, value: Any) -> Any:
        """``value`` with the parts of Go's zero value it lacks filled in (copied where filled),
        so that ownership is computed on the shape Kubernetes' typed objects always have."""
        if not isinstance(value, dict) or not (self.zero_structs or self.zero_nulls):
            return value
        out: dict[str, Any] | None = None
        for name in self.zero_structs:
            child = self.fields.get(name)
            current = value.get(name)
            if current is None:
                filled: Any = child.zero_value() if child is not None and child.kind == MAP else {}
            elif child is not None:
                filled = child.with_zero(current)
                if filled is current:
                    continue
            else:
                continue
            out = out if out is not None else dict(value)
            out[name] = filled
        for name in self.zero_nulls:
            if name not in value:
                out = out if out is not None else dict(value)
                out[name] = None
        return out if out is not None else value

    # ------------------------------------------------------------------ CRD schemas

    @classmethod
    def from_openapi_v3(cls, schema: dict[str, Any], *, object_meta: Node | None = None) -> Node:
        """The node for a CRD version's ``openAPIV3Schema``.

        ``apiVersion``, ``kind`` and ``metadata`` are always allowed at the root and in
        embedded resources; ``object_meta`` (see ``SchemaStore.object_meta``) types metadata
        as Kubernetes does, else it accepts anything.
        """
        root = _from_v3(schema, preserve=False, object_meta=object_meta)
        if root.kind == MAP:
            _add_type_meta(root, object_meta)
        return root


_DEDUCED = Node.deduced()
_STRING = Node.scalar_of("string")


def _add_type_meta(node: Node, object_meta: Node | None) -> None:
    node.fields = dict(node.fields)
    node.fields.setdefault("apiVersion", _STRING)
    node.fields.setdefault("kind", _STRING)
    node.fields["metadata"] = object_meta if object_meta is not None else Node.deduced()


def _list_type(schema: dict[str, Any]) -> tuple[str, tuple[str, ...]]:
    list_type = schema.get("x-kubernetes-list-type")
    if list_type is not None:
        if list_type == "map":
            return "map", tuple(schema.get("x-kubernetes-list-map-keys") or ())
        return ("set", ()) if list_type == "set" else ("atomic", ())
    strategy = schema.get("x-kubernetes-patch-strategy")
    if strategy in ("merge", "merge,retainKeys"):
        merge_key = schema.get("x-kubernetes-patch-merge-key")
        return ("map", (merge_key,)) if isinstance(merge_key, str) else ("set", ())
    return "atomic", ()


def _scalar_type(type_name: str, fmt: str | None) -> str:
    if type_name in ("integer", "number"):
        return "numeric"
    if type_name == "boolean":
        return "boolean"
    if fmt in (None, "", "byte"):
        return "string"
    return "untyped"


def _type_of(schema: dict[str, Any]) -> str:
    declared = schema.get("type")
    if isinstance(declared, list):
        return next((t for t in declared if t != "null"), "")
    return declared or ""


def _from_v3(schema: dict[str, Any], *, preserve: bool, object_meta: Node | None) -> Node:
    if schema.get("x-kubernetes-preserve-unknown-fields") is True:
        preserve = True
    if schema.get("x-kubernetes-int-or-string") is True:
        return Node.scalar_of("untyped")
    type_name = _type_of(schema)
    if type_name == "object" or (not type_name and ("properties" in schema or "additionalProperties" in schema)):
        node = Node(MAP)
        props = schema.get("properties") or {}
        node.fields = {name: _from_v3(sub, preserve=preserve, object_meta=object_meta) for name, sub in props.items()}
        extra = schema.get("additionalProperties")
        if isinstance(extra, dict):
            node.elem = _from_v3(extra, preserve=preserve, object_meta=object_meta)
        elif extra is True or schema.get("x-kubernetes-preserve-unknown-fields") is True:
            node.elem = Node.deduced()
        node.open = preserve or not props
        node.atomic = schema.get("x-kubernetes-map-type") == "atomic"
        if schema.get("x-kubernetes-embedded-resource") is True:
            node.embedded = True
            _add_type_meta(node, object_meta)
        return node
    if type_name == "array":
        node = Node(LIST)
        node.list_type, node.keys = _list_type(schema)
        items = schema.get("items")
        if isinstance(items, dict):
            node.elem = _from_v3(items, preserve=preserve, object_meta=object_meta)
            props = items.get("properties") or {}
            node.key_defaults = {k: props[k]["default"] for k in node.keys if "default" in (props.get(k) or {})}
        else:
            node.elem = Node.untyped_atomic()
        return node
    if type_name:
        return Node.scalar_of(_scalar_type(type_name, schema.get("format")))
    return Node.deduced()


class SchemaStore:
    """Structural schemas of the built-in kinds, loaded on first use and kept per store."""

    def __init__(self, definitions: str = DEFINITIONS) -> None:
        self._resource = definitions
        self._defs: dict[str, Any] | None = None
        self._kinds: dict[tuple[str, str, str], str] = {}
        self._nodes: dict[str, Node] = {}
        self._custom: dict[tuple[str, str, str], tuple[Node, bool]] = {}

    def _load(self) -> dict[str, Any]:
        if self._defs is None:
            text = resources.files("kubernetes_validate").joinpath(self._resource).read_text(encoding="utf-8")
            self._defs = json.loads(text)["$defs"]
            for name, schema in self._defs.items():
                for gvk in schema.get("x-kubernetes-group-version-kind") or ():
                    self._kinds.setdefault((gvk.get("group", ""), gvk.get("version", ""), gvk.get("kind", "")), name)
        return self._defs

    def register(self, group: str, version: str, kind: str, node: Node, *, status_subresource: bool = False) -> None:
        """Serve a custom resource version with ``node`` (see ``for_custom``); with a status
        subresource, writes to the main resource do not own ``status``."""
        self._custom[(group, version, kind)] = (node, status_subresource)

    def unregister(self, group: str, version: str, kind: str) -> None:
        """Forget a custom resource version."""
        self._custom.pop((group, version, kind), None)

    def custom(self, group: str, version: str, kind: str) -> tuple[Node, bool] | None:
        """A registered custom kind's node and whether it has a status subresource."""
        return self._custom.get((group, version, kind))

    def for_kind(self, group: str, version: str, kind: str) -> Node | None:
        """The schema of a kind (registered custom kinds first), ``None`` for unknown kinds."""
        custom = self._custom.get((group, version, kind))
        if custom is not None:
            return custom[0]
        self._load()
        name = self._kinds.get((group, version, kind))
        return self.definition(name) if name else None

    def definition(self, name: str) -> Node | None:
        """The node of a named definition (``io.k8s.api.apps.v1.Deployment``)."""
        defs = self._load()
        node = self._nodes.get(name)
        if node is None:
            schema = defs.get(name)
            if schema is None:
                return None
            node = self._nodes[name] = Node(MAP, name)
            self._fill(node, name, schema)
        return node

    def object_meta(self) -> Node:
        """``ObjectMeta``, for the metadata of custom resources."""
        node = self.definition(OBJECT_META)
        assert node is not None
        return node

    def for_custom(self, openapi_v3_schema: dict[str, Any]) -> Node:
        """The node of a custom resource version, metadata typed as ObjectMeta."""
        return Node.from_openapi_v3(openapi_v3_schema, object_meta=self.object_meta())

    # ------------------------------------------------------------------ conversion

    def _fill(self, node: Node, name: str, schema: dict[str, Any]) -> None:
        # ``node`` is registered before it is filled so that recursive types resolve
        if name in (_QUANTITY, _INT_OR_STRING):
            node.kind, node.scalar = SCALAR, "untyped"
            return
        if name == _RAW_EXTENSION:
            node.kind, node.atomic, node.opaque = ANY, True, True
            return
        converted = self._convert(schema, name)
        for slot in Node.__slots__:
            if slot != "name":
                setattr(node, slot, getattr(converted, slot))
        if node.elem is converted:
            node.elem = node
        if node.kind == MAP:
            structs = _ZERO_STRUCTS.get(name, ())
            if schema.get("x-kubernetes-group-version-kind"):
                structs = tuple(f for f in _TOP_LEVEL_STRUCTS if f in node.fields)
            node.zero_structs = structs
            node.zero_nulls = _ZERO_NULLS.get(name, ())

    def _ref(self, schema: dict[str, Any]) -> Node:
        target = schema["$ref"].rsplit("/", 1)[-1]
        node = self.definition(target) or Node.deduced()
        map_type = schema.get("x-kubernetes-map-type")
        if map_type in ("atomic", "granular"):
            return node.variant(atomic=map_type == "atomic")
        return node

    def _convert(self, schema: dict[str, Any], name: str = "") -> Node:
        if "$ref" in schema:
            return self._ref(schema)
        type_name = _type_of(schema)
        if type_name == "object":
            props = schema.get("properties") or {}
            extra = schema.get("additionalProperties")
            if not props and extra is None:
                # FieldsV1, Patch, empty structs: Go types decoding raw JSON themselves
                return Node.deduced(opaque=True)
            node = Node(MAP, name)
            node.fields = {key: self._convert(sub) for key, sub in props.items()}
            if isinstance(extra, dict):
                node.elem = self._convert(extra)
            elif extra is True:
                node.elem = Node.deduced()
            node.atomic = schema.get("x-kubernetes-map-type") == "atomic"
            return node
        if type_name == "array":
            node = Node(LIST, name)
            node.list_type, node.keys = _list_type(schema)
            items = schema.get("items")
            node.elem = self._convert(items) if isinstance(items, dict) else Node.untyped_atomic()
            if node.keys and isinstance(items, dict) and "$ref" in items:
                defaults = _KEY_DEFAULTS.get(items["$ref"].rsplit("/", 1)[-1], {})
                node.key_defaults = {k: defaults[k] for k in node.keys if k in defaults}
            return node
        if type_name:
            return Node.scalar_of(_scalar_type(type_name, schema.get("format")))
        if "oneOf" in schema or "anyOf" in schema:
            return Node.scalar_of("untyped")
        return Node.deduced(opaque=True)
