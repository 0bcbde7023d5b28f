"""apiextensions.k8s.io/v1: the structural checks of CustomResourceDefinitions.

Schema semantics (structural schemas, defaults, CEL) are handled by the custom resource code;
here are the rules every CRD must meet to be stored.
"""

from __future__ import annotations

import copy
from typing import ClassVar

from kubeprov.api.fielderrors import FieldError, Path, duplicate, invalid, not_supported, required
from kubeprov.api.names import is_dns1035_label, is_dns1123_subdomain
from kubeprov.apiserver.strategy.base import Strategy
from kubeprov.apiserver.strategy.util import Obj, as_list, as_map, as_str, dig, immutable, maps, sub

STORAGE_VERSION_MSG = "must have exactly one version marked as storage version"


def storage_version(crd: Obj) -> str:
    """The name of the version marked ``storage: true`` (first one), or ``""``."""
    for _, version in maps(dig(crd, "spec", "versions")):
        if version.get("storage") is True:
            return as_str(version.get("name"))
    return ""


def _mixed_case(value: str, path: Path) -> list[FieldError]:
    msgs = is_dns1035_label(value.lower())
    if value and msgs:
        return [invalid(path, value, "may have mixed case, but should otherwise match: " + ",".join(msgs))]
    return []


def names_errors(names: Obj, path: Path) -> list[FieldError]:
    """``ValidateCustomResourceDefinitionNames``."""
    errs: list[FieldError] = []
    plural, singular = as_str(names.get("plural")), as_str(names.get("singular"))
    if not plural:
        errs.append(required(path.child("plural"), ""))
    else:
        errs.extend(invalid(path.child("plural"), plural, msg) for msg in is_dns1035_label(plural))
    if singular:
        errs.extend(invalid(path.child("singular"), singular, msg) for msg in is_dns1035_label(singular))
    kind, list_kind = as_str(names.get("kind")), as_str(names.get("listKind"))
    errs.extend(_mixed_case(kind, path.child("kind")))
    errs.extend(_mixed_case(list_kind, path.child("listKind")))
    for i, short in enumerate(as_list(names.get("shortNames"))):
        msgs = is_dns1035_label(as_str(short))
        if msgs:
            errs.append(invalid(path.child("shortNames").index(i), short, ",".join(msgs)))
    if not kind:
        errs.append(required(path.child("kind"), ""))
    if not list_kind:
        errs.append(required(path.child("listKind"), ""))
    elif kind == list_kind:
        errs.append(invalid(path.child("listKind"), list_kind, "kind and listKind may not be the same"))
    return errs


class CustomResourceDefinitionStrategy(Strategy):
    """``CustomResourceDefinition``."""

    kind = "CustomResourceDefinition"
    has_status = True
    tracks_generation = True
    initial_status: ClassVar[Obj | None] = {"acceptedNames": {"kind": "", "plural": ""}, "storedVersions": []}

    def set_defaults(self, obj: Obj) -> None:
        spec = sub(obj, "spec")
        if spec is None:
            return
        names = sub(spec, "names")
        if names is not None:
            kind = names.get("kind")
            if isinstance(kind, str) and kind:
                if not names.get("singular"):
                    names["singular"] = kind.lower()
                if not names.get("listKind"):
                    names["listKind"] = kind + "List"
        conversion = spec.get("conversion")
        if conversion is None:
            spec["conversion"] = {"strategy": "None"}
        elif isinstance(conversion, dict) and not conversion.get("strategy"):
            conversion["strategy"] = "None"

    def on_create(self, obj: Obj) -> None:
        version = storage_version(obj)
        if version:
            obj["status"]["storedVersions"] = [version]

    def on_update(self, new: Obj, old: Obj) -> None:
        version = storage_version(new)
        status = new.get("status")
        if version and isinstance(status, dict):
            stored = status.get("storedVersions")
            stored = copy.deepcopy(stored) if isinstance(stored, list) else []
            if version not in stored:
                stored.append(version)
            status["storedVersions"] = stored

    def validate_object(self, obj: Obj, old: Obj | None) -> list[FieldError]:
        spec = as_map(obj.get("spec"))
        path = Path("spec")
        errs: list[FieldError] = []
        names = as_map(spec.get("names"))
        group = as_str(spec.get("group"))
        name = as_str(dig(obj, "metadata", "name"))
        if name != f"{as_str(names.get('plural'))}.{group}":
            errs.append(invalid(Path("metadata", "name"), name, 'must be spec.names.plural+"."+spec.group'))
        if not group:
            errs.append(required(path.child("group"), ""))
        elif is_dns1123_subdomain(group):
            errs.append(invalid(path.child("group"), group, ",".join(is_dns1123_subdomain(group))))
        elif len(group.split(".")) < 2:
            errs.append(invalid(path.child("group"), group, "should be a domain with at least one dot"))
        scope = spec.get("scope")
        if not scope:
            errs.append(required(path.child("scope"), ""))
        elif scope not in ("Cluster", "Namespaced"):
            errs.append(not_supported(path.child("scope"), scope, ("Cluster", "Namespaced")))
        versions = as_list(spec.get("versions"))
        storage = 0
        seen: set[str] = set()
        for i, version in maps(versions):
            vpath = path.child("versions").index(i)
            vname = as_str(version.get("name"))
            if not vname:
                errs.append(required(vpath.child("name"), ""))
            else:
                errs.extend(invalid(vpath.child("name"), vname, msg) for msg in is_dns1035_label(vname))
            if vname in seen:
                errs.append(duplicate(vpath.child("name"), vname))
            seen.add(vname)
            if version.get("storage") is True:
                storage += 1
            if not isinstance(dig(version, "schema", "openAPIV3Schema"), dict):
                errs.append(required(vpath.child("schema", "openAPIV3Schema"), "schemas are required"))
        if storage != 1:
            errs.append(invalid(path.child("versions"), versions, STORAGE_VERSION_MSG))
        errs.extend(names_errors(names, path.child("names")))
        strategy = as_map(spec.get("conversion")).get("strategy")
        if strategy not in ("None", "Webhook"):
            errs.append(
                not_supported(
                    path.child("conversion", "strategy"), strategy if strategy is not None else "", ("None", "Webhook")
                )
            )
        return errs

    def validate_changes(self, new: Obj, old: Obj) -> list[FieldError]:
        spec, old_spec = as_map(new.get("spec")), as_map(old.get("spec"))
        errs = immutable(spec.get("group"), old_spec.get("group"), Path("spec", "group"))
        errs.extend(
            immutable(
                as_map(spec.get("names")).get("plural"),
                as_map(old_spec.get("names")).get("plural"),
                Path("spec", "names", "plural"),
            )
        )
        return errs
