"""The ``paths`` section of a group-version document: one operation per verb a resource serves.

Clients read more than schemas from here: kubectl explain finds a resource's kind through the
``x-kubernetes-group-version-kind`` of its operations, and kubectl decides whether the server
validates fields itself by looking for a ``fieldValidation`` parameter on the PATCH operation.
"""

from __future__ import annotations

import re

from kubeprov.apiserver.openapi.schemas import REF_PREFIX
from kubeprov.apiserver.resources import ResourceType, Subresource

DELETE_OPTIONS = "io.k8s.apimachinery.pkg.apis.meta.v1.DeleteOptions"
STATUS = "io.k8s.apimachinery.pkg.apis.meta.v1.Status"
PATCH = "io.k8s.apimachinery.pkg.apis.meta.v1.Patch"
API_RESOURCE_LIST = "io.k8s.apimachinery.pkg.apis.meta.v1.APIResourceList"

BUILTIN_CONTENT = ("application/json", "application/vnd.kubernetes.protobuf", "application/yaml")
CUSTOM_CONTENT = ("application/json", "application/yaml")
WATCH_CONTENT = ("application/json;stream=watch", "application/vnd.kubernetes.protobuf;stream=watch")
PATCH_TYPES = (
    "application/apply-patch+yaml",
    "application/json-patch+json",
    "application/merge-patch+json",
    "application/strategic-merge-patch+json",
)


def _query(name: str, kind: str, description: str) -> dict:
    return {"description": description, "in": "query", "name": name, "schema": {"type": kind, "uniqueItems": True}}


def _path_param(name: str, description: str) -> dict:
    return {"description": description, "in": "path", "name": name, "required": True,
            "schema": {"type": "string", "uniqueItems": True}}


PRETTY = _query("pretty", "string", "If 'true', the output is pretty printed.")
NAMESPACE = _path_param("namespace", "object name and auth scope, such as for teams and projects")
DRY_RUN = _query("dryRun", "string", "When present, modifications are not persisted. Valid value: All.")
FIELD_MANAGER = _query("fieldManager", "string", "Name of the actor or entity making these changes.")
FIELD_VALIDATION = _query(
    "fieldValidation", "string",
    "How the server treats unknown or duplicate fields in the request body: Ignore, Warn (the default) or "
    "Strict (reject the request).")
FORCE = _query("force", "boolean", "Force an apply request to take fields owned by other managers.")
GRACE = _query("gracePeriodSeconds", "integer", "Seconds before the object is deleted; zero deletes at once.")
ORPHAN = _query("orphanDependents", "boolean", "Deprecated: use propagationPolicy.")
PROPAGATION = _query("propagationPolicy", "string",
                     "How dependents are garbage collected: Orphan, Background or Foreground.")
LIST_PARAMS = (
    _query("allowWatchBookmarks", "boolean", "Ask a watch for BOOKMARK events."),
    _query("continue", "string", "The continue token of a previous chunked list."),
    _query("fieldSelector", "string", "Restrict the list of returned objects by their fields."),
    _query("labelSelector", "string", "Restrict the list of returned objects by their labels."),
    _query("limit", "integer", "Maximum number of objects to return in one chunk."),
    _query("resourceVersion", "string", "Constraint on the resource versions a request may be served from."),
    _query("resourceVersionMatch", "string", "How resourceVersion applies to a list: Exact or NotOlderThan."),
    _query("sendInitialEvents", "boolean", "Start a watch with synthetic events for the current objects."),
    _query("timeoutSeconds", "integer", "Timeout for the list or watch call."),
    _query("watch", "boolean", "Watch for changes to the described resources."),
)
WRITE_PARAMS = (DRY_RUN, FIELD_MANAGER, FIELD_VALIDATION)
DELETE_PARAMS = (DRY_RUN, GRACE, ORPHAN, PROPAGATION)
_DELETE_COLLECTION_SKIP = {"allowWatchBookmarks", "watch"}


def group_camel(group: str) -> str:
    """``rbac.authorization.k8s.io`` -> ``RbacAuthorization``; the core group is ``Core``."""
    if not group:
        return "Core"
    words = re.split(r"[.\-]", group.removesuffix(".k8s.io"))
    return "".join(w[:1].upper() + w[1:] for w in words if w)


def tag(group: str, version: str) -> str:
    camel = group_camel(group)
    return f"{camel[:1].lower()}{camel[1:]}_{version}"


def _schema_ref(name: str | None) -> dict:
    return {"$ref": REF_PREFIX + name} if name else {"type": "object"}


def _content(types: tuple[str, ...], name: str | None) -> dict:
    return {t: {"schema": _schema_ref(name)} for t in types}


def _responses(codes: tuple[tuple[str, str], ...], types: tuple[str, ...], name: str | None) -> dict:
    out = {code: {"content": _content(types, name), "description": text} for code, text in codes}
    out["401"] = {"description": "Unauthorized"}
    return out


OK = (("200", "OK"),)
WRITE_CODES = (("200", "OK"), ("201", "Created"))
CREATE_CODES = (("200", "OK"), ("201", "Created"), ("202", "Accepted"))
DELETE_CODES = (("200", "OK"), ("202", "Accepted"))


class _Builder:
    """Operations of one resource; holds what every operation repeats (GVK, tag, content types)."""

    def __init__(self, rt: ResourceType, kind_name: str | None, list_name: str | None) -> None:
        self.rt = rt
        self.kind_name = kind_name
        self.list_name = list_name
        self.content = CUSTOM_CONTENT if rt.custom else BUILTIN_CONTENT
        self.patch_types = PATCH_TYPES[:3] if rt.custom else PATCH_TYPES
        self.prefix = f"{group_camel(rt.group)}{rt.version[:1].upper()}{rt.version[1:]}"
        self.tags = [tag(rt.group, rt.version)]
        base = f"/apis/{rt.group}/{rt.version}" if rt.group else f"/api/{rt.version}"
        self.base = base
        scope = f"{base}/namespaces/{{namespace}}" if rt.namespaced else base
        self.collection = f"{scope}/{rt.resource}"
        self.item = f"{self.collection}/{{name}}"
        self.scope_params = [NAMESPACE] if rt.namespaced else []
        self.scoped = "Namespaced" if rt.namespaced else ""

    def _op(self, action: str, op_id: str, description: str, gvk: dict, **extra: object) -> dict:
        op: dict = {"description": description, "operationId": op_id, **extra, "tags": self.tags,
                    "x-kubernetes-action": action, "x-kubernetes-group-version-kind": gvk}
        return op

    def gvk(self, group: str | None = None, version: str | None = None, kind: str | None = None) -> dict:
        return {"group": self.rt.group if group is None else group,
                "kind": kind or self.rt.kind,
                "version": version or self.rt.version}

    def _body(self, name: str | None, types: tuple[str, ...] = ("*/*",), required: bool = True) -> dict:
        body: dict = {"content": {t: {"schema": _schema_ref(name)} for t in types}}
        if required:
            body["required"] = True
        return body

    def collection_ops(self) -> dict[str, dict]:
        rt, kind, gvk = self.rt, self.rt.kind, self.gvk()
        ops: dict = {}
        if "list" in rt.verbs:
            ops["get"] = self._op(
                "list", f"list{self.prefix}{self.scoped}{kind}", f"list or watch objects of kind {kind}", gvk,
                parameters=list(LIST_PARAMS),
                responses=_responses(OK, self.content + WATCH_CONTENT[: 1 if rt.custom else 2], self.list_name))
        if "create" in rt.verbs:
            ops["post"] = self._op(
                "post", f"create{self.prefix}{self.scoped}{kind}", f"create a {kind}", gvk,
                parameters=list(WRITE_PARAMS), requestBody=self._body(self.kind_name),
                responses=_responses(CREATE_CODES, self.content, self.kind_name))
        if "deletecollection" in rt.verbs:
            params = [p for p in LIST_PARAMS if p["name"] not in _DELETE_COLLECTION_SKIP]
            ops["delete"] = self._op(
                "deletecollection", f"delete{self.prefix}Collection{self.scoped}{kind}",
                f"delete collection of {kind}", gvk,
                parameters=sorted([*params, *DELETE_PARAMS], key=lambda p: p["name"]),
                requestBody=self._body(DELETE_OPTIONS, required=False),
                responses=_responses(OK, self.content, STATUS))
        if ops:
            ops["parameters"] = [*self.scope_params, PRETTY]
        return ops

    def item_ops(self) -> dict[str, dict]:
        rt, kind, gvk = self.rt, self.rt.kind, self.gvk()
        ops: dict = {}
        if "get" in rt.verbs:
            ops["get"] = self._op("get", f"read{self.prefix}{self.scoped}{kind}", f"read the specified {kind}", gvk,
                                  responses=_responses(OK, self.content, self.kind_name))
        if "update" in rt.verbs:
            ops["put"] = self._op(
                "put", f"replace{self.prefix}{self.scoped}{kind}", f"replace the specified {kind}", gvk,
                parameters=list(WRITE_PARAMS), requestBody=self._body(self.kind_name),
                responses=_responses(WRITE_CODES, self.content, self.kind_name))
        if "patch" in rt.verbs:
            ops["patch"] = self._op(
                "patch", f"patch{self.prefix}{self.scoped}{kind}", f"partially update the specified {kind}", gvk,
                parameters=[*WRITE_PARAMS, FORCE], requestBody=self._body(PATCH, self.patch_types),
                responses=_responses(WRITE_CODES, self.content, self.kind_name))
        if "delete" in rt.verbs:
            ops["delete"] = self._op(
                "delete", f"delete{self.prefix}{self.scoped}{kind}", f"delete a {kind}", gvk,
                parameters=list(DELETE_PARAMS), requestBody=self._body(DELETE_OPTIONS, required=False),
                responses=_responses(DELETE_CODES, self.content, STATUS))
        if ops:
            ops["parameters"] = [_path_param("name", f"name of the {kind}"), *self.scope_params, PRETTY]
        return ops

    def all_namespaces_ops(self) -> dict[str, dict]:
        rt, kind = self.rt, self.rt.kind
        if not rt.namespaced or "list" not in rt.verbs:
            return {}
        return {
            "get": self._op("list", f"list{self.prefix}{kind}ForAllNamespaces", f"list or watch objects of kind {kind}",
                            self.gvk(), responses=_responses(OK, self.content + WATCH_CONTENT[:1], self.list_name)),
            "parameters": [*LIST_PARAMS[:6], PRETTY, *LIST_PARAMS[6:]],
        }

    def subresource_ops(self, sub: Subresource, sub_name: str | None) -> dict[str, dict]:
        kind = self.rt.kind
        suffix = sub.name[:1].upper() + sub.name[1:]
        gvk = self.gvk(sub.group, sub.version, sub.kind or kind)
        ops: dict = {}
        if sub.connect:
            for method, verb in (("get", "get"), ("post", "create"), ("put", "update"), ("patch", "patch"),
                                 ("delete", "delete")):
                if verb in sub.verbs:
                    ops[method] = self._op(
                        "connect", f"connect{self.prefix}{method.title()}{self.scoped}{kind}{suffix}",
                        f"connect {method.upper()} requests to {sub.name} of {kind}", gvk,
                        responses={"200": {"content": {"*/*": {"schema": {"type": "string"}}}, "description": "OK"},
                                   "401": {"description": "Unauthorized"}})
        else:
            if "get" in sub.verbs:
                ops["get"] = self._op("get", f"read{self.prefix}{self.scoped}{kind}{suffix}",
                                      f"read {sub.name} of the specified {kind}", gvk,
                                      responses=_responses(OK, self.content, sub_name))
            if "create" in sub.verbs:
                ops["post"] = self._op("post", f"create{self.prefix}{self.scoped}{kind}{suffix}",
                                       f"create {sub.name} of a {kind}", gvk, parameters=list(WRITE_PARAMS),
                                       requestBody=self._body(sub_name),
                                       responses=_responses(CREATE_CODES, self.content, sub_name))
            if "update" in sub.verbs:
                ops["put"] = self._op("put", f"replace{self.prefix}{self.scoped}{kind}{suffix}",
                                      f"replace {sub.name} of the specified {kind}", gvk,
                                      parameters=list(WRITE_PARAMS), requestBody=self._body(sub_name),
                                      responses=_responses(WRITE_CODES, self.content, sub_name))
            if "patch" in sub.verbs:
                ops["patch"] = self._op("patch", f"patch{self.prefix}{self.scoped}{kind}{suffix}",
                                        f"partially update {sub.name} of the specified {kind}", gvk,
                                        parameters=[*WRITE_PARAMS, FORCE],
                                        requestBody=self._body(PATCH, self.patch_types),
                                        responses=_responses(WRITE_CODES, self.content, sub_name))
        if ops:
            ops["parameters"] = [_path_param("name", f"name of the {sub.kind or kind}"), *self.scope_params, PRETTY]
        return ops


def resource_paths(rt: ResourceType, kind_name: str | None, list_name: str | None,
                   sub_names: dict[str, str | None] | None = None) -> dict[str, dict]:
    """Path items for one resource: collection, item, all-namespaces list and subresources.

    ``kind_name``/``list_name`` are component names for the kind and its list (None when no schema
    is known); ``sub_names`` maps a subresource name to the component its body uses.
    """
    builder = _Builder(rt, kind_name, list_name)
    sub_names = sub_names or {}
    paths: dict[str, dict] = {}
    for path, ops in (
        (builder.collection, builder.collection_ops()),
        (builder.item, builder.item_ops()),
        (f"{builder.base}/{rt.resource}", builder.all_namespaces_ops()),
    ):
        if ops:
            paths[path] = ops
    for sub in rt.subresources:
        ops = builder.subresource_ops(sub, sub_names.get(sub.name, kind_name))
        if ops:
            paths[f"{builder.item}/{sub.name}"] = ops
    return paths


def resources_path(group: str, version: str) -> tuple[str, dict]:
    """``GET /apis/<g>/<v>/``: the discovery list, described like the other operations."""
    base = f"/apis/{group}/{version}/" if group else f"/api/{version}/"
    op = {"description": "get available resources", "operationId": f"get{group_camel(group)}"
          f"{version[:1].upper()}{version[1:]}APIResources",
          "responses": _responses(OK, ("application/json", "application/vnd.kubernetes.protobuf", "application/yaml"),
                                  API_RESOURCE_LIST),
          "tags": [tag(group, version)]}
    return base, {"get": op}
