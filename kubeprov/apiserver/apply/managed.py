"""Field ownership on every write, and server-side apply.

``FieldManager.update`` runs on create, update and patch: the writer (``kubectl-edit``,
``kube-controller-manager``...) takes ownership of every field it added or changed, other
managers lose those fields and any field that was removed, and entries left empty disappear.
An existing object without managedFields (cleared by a client) is left untracked until the
next apply, which first credits its fields to ``before-first-apply``.
``FieldManager.apply`` merges an apply configuration into the live object, prunes what the
applier stopped applying, refuses to change fields other managers own unless forced, and
records what the applier applied.

The steps and their order are those of Kubernetes' field manager chain
(``k8s.io/apimachinery/pkg/util/managedfields``): decode the entries (from the request when
it carries some, else from the live object), compute ownership, strip the metadata nobody
owns, stamp the time of entries whose fields changed, cap the number of update entries, and
sort the result.
"""

from __future__ import annotations

import json
from datetime import datetime
from typing import Any

from kubeprov.api.status import StatusError, bad_request, failure
from kubeprov.apiserver.apply import entries as wire
from kubeprov.apiserver.apply.conflicts import ApplyConflict, Conflict, manager_identifier
from kubeprov.apiserver.apply.entries import APPLY, UPDATE, Entry, Key, ManagedFieldsError
from kubeprov.apiserver.apply.fieldset import FieldSet
from kubeprov.apiserver.apply.merge import drop_null_fields, merge, prune
from kubeprov.apiserver.apply.pathelement import display_path, json_value
from kubeprov.apiserver.apply.reset import reset_fields
from kubeprov.apiserver.apply.schema import Node, SchemaStore
from kubeprov.apiserver.apply.typed import compare, equal, to_field_set

LAST_APPLIED = "kubectl.kubernetes.io/last-applied-configuration"
BEFORE_FIRST_APPLY = "before-first-apply"

# Never owned by anyone: identity and bookkeeping the server sets (Kubernetes' strip set, plus
# the deletion markers, which Kubernetes writes outside the field manager).
_STRIPPED = FieldSet.of(
    ("f:apiVersion",),
    ("f:kind",),
    ("f:metadata",),
    *(
        ("f:metadata", "f:" + name)
        for name in (
            "name",
            "namespace",
            "creationTimestamp",
            "selfLink",
            "uid",
            "clusterName",
            "generation",
            "managedFields",
            "resourceVersion",
            "deletionTimestamp",
            "deletionGracePeriodSeconds",
        )
    ),
)


def _split_api_version(api_version: str) -> tuple[str, str]:
    group, _, version = api_version.rpartition("/")
    return group, version


def _without_managed_fields(obj: dict[str, Any]) -> dict[str, Any]:
    meta = obj.get("metadata")
    if isinstance(meta, dict) and "managedFields" in meta:
        obj = dict(obj)
        obj["metadata"] = {k: v for k, v in meta.items() if k != "managedFields"}
    return obj


def _managed_of(obj: dict[str, Any] | None) -> Any:
    meta = obj.get("metadata") if isinstance(obj, dict) else None
    return meta.get("managedFields") if isinstance(meta, dict) else None


def _with_managed_fields(obj: dict[str, Any], encoded: list[dict[str, Any]] | None) -> dict[str, Any]:
    out = dict(obj)
    meta = {k: v for k, v in (out.get("metadata") or {}).items() if k != "managedFields"}
    if encoded is not None:
        meta["managedFields"] = encoded
    out["metadata"] = meta
    return out


class FieldManager:
    """Tracks which manager owns which fields of every object, and serves server-side apply."""

    def __init__(self, schemas: SchemaStore) -> None:
        self.schemas = schemas

    # ------------------------------------------------------------------ schema

    def _schema(self, group: str, api_version: str, kind: str, subresource: str) -> tuple[Node, FieldSet, bool]:
        """The kind's node, the fields this write ignores, and whether it is a built-in kind."""
        _, version = _split_api_version(api_version)
        custom = self.schemas.custom(group, version, kind)
        if custom is not None:
            node, has_status = custom
            if subresource == "" and not has_status:
                return node, FieldSet(), False
            return node, reset_fields(group, kind, subresource, node), False
        node = self.schemas.for_kind(group, version, kind)
        if node is None:
            return Node.deduced(), reset_fields(group, kind, subresource, None), False
        return node, reset_fields(group, kind, subresource, node), True

    # ------------------------------------------------------------------ update

    def update(
        self,
        *,
        live: dict[str, Any] | None,
        new: dict[str, Any],
        manager: str,
        api_version: str,
        kind: str,
        group: str,
        subresource: str = "",
        now: datetime | None = None,
    ) -> dict[str, Any]:
        """``new`` with managedFields updated for a create (``live`` is ``None``), update or
        patch by ``manager`` (operation ``Update``). Never fails: managedFields that cannot be
        read are replaced by the live object's, as Kubernetes does."""
        if not isinstance(new, dict) or not isinstance(new.get("metadata"), dict):
            return new
        node, ignored, builtin = self._schema(group, api_version, kind, subresource)
        managed = self._starting_entries(live, new, subresource)
        if not managed and live is not None and (live.get("metadata") or {}).get("uid"):
            # an existing object nobody owns fields of stays untracked until it is applied to
            return _with_managed_fields(new, None)
        base = _without_managed_fields(live) if live is not None else {}
        target = _without_managed_fields(new)
        if builtin:
            base, target = node.with_zero(base), node.with_zero(target)
        comparison = compare(node, base, target)
        others = comparison.excluding(ignored)
        changed = others.changed()
        taken = list(changed.paths())
        removed = list(others.removed.paths())
        for key, entry in list(managed.items()):
            if not entry.owns_any(taken) and not entry.owns_any(removed):
                continue
            rest = entry.fields().difference(changed).difference(others.removed)
            if rest.empty():
                del managed[key]
            else:
                entry.replace(rest)
        mine = comparison.changed().difference(comparison.removed).recursive_difference(ignored)
        mine = mine.difference(_STRIPPED)
        if not mine.empty():
            key = wire.entry_key(manager or "unknown", UPDATE, api_version, subresource)
            previous = managed.get(key)
            if previous is not None:
                mine = mine.union(previous.fields())
            managed[key] = Entry(manager or "unknown", UPDATE, api_version, subresource, wire.rfc3339(now))
            managed[key].replace(mine)
        wire.cap_updaters(managed)
        return _with_managed_fields(new, wire.encode(managed))

    def _starting_entries(self, live: dict[str, Any] | None, new: dict[str, Any], subresource: str) -> dict[Key, Entry]:
        """The request's managedFields when it sends usable ones (clients may edit them; ``[]``
        or ``[{}]`` clears them), else the live object's; subresources always use the live's."""
        if not subresource:
            sent = _managed_of(new)
            if sent is not None and live is not None and sent == _managed_of(live):
                sent = None  # the usual echo of what was read: decode lazily below
            if wire.is_reset(sent):
                return {}
            try:
                decoded = wire.decode(sent, check_fields=True)
            except ManagedFieldsError:
                decoded = {}
            if decoded:
                return decoded
        try:
            return wire.decode(_managed_of(live))
        except ManagedFieldsError:
            return {}

    # ------------------------------------------------------------------ apply

    def apply(
        self,
        *,
        live: dict[str, Any] | None,
        applied: dict[str, Any],
        manager: str,
        force: bool,
        api_version: str,
        kind: str,
        group: str,
        subresource: str = "",
        now: datetime | None = None,
        name: str = "",
    ) -> dict[str, Any]:
        """The object after applying ``applied`` (creating it when ``live`` is ``None``), with
        managedFields recording ``manager`` (operation ``Apply``).

        Raises ``ApplyConflict`` (409) when the configuration changes fields other managers
        own and ``force`` is false, and ``StatusError`` for configurations Kubernetes rejects.
        ``name`` is the name in the URL, used to word a missing name as Kubernetes does. The
        result must be defaulted again: like Kubernetes, pruning may drop defaulted fields.
        """
        node, ignored, builtin = self._schema(group, api_version, kind, subresource)
        self._check_applied(applied, api_version, kind, live, name)
        manager = manager or "unknown"
        try:
            managed = wire.decode(_managed_of(live))
        except ManagedFieldsError as err:
            raise StatusError(failure(500, "", f"failed to decode managed fields: {err}")) from err
        if not managed and live is not None:
            # fields set before anything was tracked belong to "before-first-apply"
            seeded = self.update(live=None, new=_without_managed_fields(live), manager=BEFORE_FIRST_APPLY,
                                 api_version=api_version, kind=kind, group=group, subresource=subresource, now=now)
            managed = wire.decode(_managed_of(seeded))
        errors: list[str] = []
        applied_set = to_field_set(node, applied, errors)
        if errors:
            raise StatusError(failure(500, "", self._typed_error(applied, api_version, kind, errors)))
        base = _without_managed_fields(live) if live is not None else {}
        key = wire.entry_key(manager, APPLY, api_version, subresource)
        previous = managed.get(key)
        last = previous.fields() if previous is not None else None
        applied_set = applied_set.recursive_difference(ignored)
        entry = Entry(manager, APPLY, api_version, subresource, previous.time if previous else None)
        entry.replace(applied_set)
        managed[key] = entry
        merged = merge(node, base, applied)
        if last is not None and not last.empty():
            merged = prune(node, merged, last, [e.fields() for e in managed.values()])
        before, after = (node.with_zero(base), node.with_zero(merged)) if builtin else (base, merged)
        self._take_ownership(node, before, after, managed, key, ignored, force, manager, api_version)
        mine = entry.fields().difference(_STRIPPED)
        if mine.empty():
            del managed[key]
        else:
            entry.replace(mine)
            if not equal(base, merged):
                entry.time = wire.rfc3339(now)
        if manager == "kubectl" and live is not None and self._last_applied(live) is not None:
            merged = self._sync_last_applied(merged, applied)
        out = json.loads(json.dumps(_with_managed_fields(merged, wire.encode(managed))))
        drop_null_fields(node, out)
        return out

    def _check_applied(
        self, applied: Any, api_version: str, kind: str, live: dict[str, Any] | None, name: str
    ) -> None:
        if not isinstance(applied, dict):
            raise StatusError(bad_request(
                f"error decoding YAML: json: cannot unmarshal {json_value(applied)} into Go value of type "
                "map[string]interface {}"))
        sent_version = applied.get("apiVersion") if isinstance(applied.get("apiVersion"), str) else ""
        sent_kind = applied.get("kind") if isinstance(applied.get("kind"), str) else ""
        if (sent_version, sent_kind) != (api_version, kind):
            group, version = _split_api_version(sent_version)
            raise StatusError(bad_request(f"invalid object type: {group}/{version}, Kind={sent_kind}"))
        meta = applied.get("metadata")
        if meta is not None and not isinstance(meta, dict):
            raise StatusError(bad_request("metadata: expected an object"))
        meta = meta or {}
        if meta.get("managedFields") is not None:
            raise StatusError(bad_request("metadata.managedFields must be nil"))
        if live is None and not meta.get("name"):
            raise StatusError(bad_request(
                f"the name of the object ({name} based on URL) was undeterminable: name must be provided"))

    @staticmethod
    def _typed_error(applied: dict[str, Any], api_version: str, kind: str, errors: list[str]) -> str:
        meta = applied.get("metadata") or {}
        group, version = _split_api_version(api_version)
        where = f"{meta.get('namespace', '')}/{meta.get('name', '')}; {group}/{version}, Kind={kind}"
        detail = errors[0] if len(errors) == 1 else "errors:\n" + "\n".join("  " + e for e in errors)
        return f"failed to create typed patch object ({where}): {detail}"

    def _take_ownership(
        self,
        node: Node,
        base: dict[str, Any],
        merged: dict[str, Any],
        managed: dict[Key, Entry],
        applier: Key,
        ignored: FieldSet,
        force: bool,
        manager: str,
        api_version: str,
    ) -> None:
        """Other managers lose what the apply changes (a conflict unless forced) or removes."""
        comparison = compare(node, base, merged).excluding(ignored)
        changed, removed = comparison.changed(), comparison.removed
        changed_paths, removed_paths = list(changed.paths()), list(removed.paths())
        conflicts: dict[Key, FieldSet] = {}
        for key, entry in managed.items():
            if key != applier and entry.owns_any(changed_paths):
                conflicts[key] = entry.fields().intersection(changed)
        if conflicts and not force:
            allowed = self._allowed_by_last_applied(node, base, api_version) if manager == "kubectl" else None
            remaining = self._conflicts(managed, conflicts, allowed)
            if remaining:
                raise ApplyConflict(remaining)
        for key, entry in list(managed.items()):
            if key == applier or (key not in conflicts and not entry.owns_any(removed_paths)):
                continue
            rest = entry.fields().difference(conflicts.get(key, FieldSet())).difference(removed)
            if rest.empty():
                del managed[key]
            else:
                entry.replace(rest)

    @staticmethod
    def _conflicts(
        managed: dict[Key, Entry], conflicts: dict[Key, FieldSet], allowed: FieldSet | None
    ) -> list[Conflict]:
        out: list[Conflict] = []
        for key in sorted(conflicts, key=lambda k: _identifier(managed[k])):
            entry = managed[key]
            for path in conflicts[key]:
                if allowed is not None and allowed.has(path):
                    continue
                out.append(Conflict(entry.manager, entry.operation, entry.api_version, display_path(path),
                                    entry.subresource))
        return out

    # ------------------------------------------------------------------ client-side apply interplay

    @staticmethod
    def _last_applied(obj: dict[str, Any]) -> str | None:
        annotations = (obj.get("metadata") or {}).get("annotations") or {}
        value = annotations.get(LAST_APPLIED) if isinstance(annotations, dict) else None
        return value if isinstance(value, str) and value else None

    def _allowed_by_last_applied(self, node: Node, live: dict[str, Any], api_version: str) -> FieldSet | None:
        """Fields ``kubectl apply --server-side`` may take over without conflict: those the
        client-side apply annotation set and that still hold the values it set."""
        text = self._last_applied(live)
        if text is None:
            return None
        try:
            last = json.loads(text)
        except ValueError:
            return None
        if not isinstance(last, dict) or last.get("apiVersion") != api_version:
            return None
        comparison = compare(node, last, live)
        return (
            to_field_set(node, last)
            .difference(comparison.modified)
            .difference(comparison.added)
            .difference(comparison.removed)
        )

    def _sync_last_applied(self, merged: dict[str, Any], applied: dict[str, Any]) -> dict[str, Any]:
        """Keep the client-side apply annotation in step, so that going back to client-side
        apply computes the right patch."""
        config = json.loads(json.dumps(applied))
        annotations = (config.get("metadata") or {}).get("annotations")
        if isinstance(annotations, dict):
            annotations.pop(LAST_APPLIED, None)
        out = dict(merged)
        meta = dict(out.get("metadata") or {})
        # encoded as Kubernetes' JSON encoder writes it, newline included
        meta["annotations"] = {**(meta.get("annotations") or {}), LAST_APPLIED: json_value(config) + "\n"}
        out["metadata"] = meta
        return out


def _identifier(entry: Entry) -> str:
    return manager_identifier(entry.manager, entry.operation, entry.api_version, entry.subresource)
