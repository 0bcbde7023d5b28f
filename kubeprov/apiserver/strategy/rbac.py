"""rbac.authorization.k8s.io/v1: Roles, ClusterRoles and their bindings."""

from __future__ import annotations

from typing import Any

from kubeprov.api.fielderrors import FieldError, Path, go_quote, not_supported, required, type_invalid
from kubeprov.api.names import name_is_dns_subdomain, validate_path_segment_name
from kubeprov.apiserver.strategy.base import Strategy
from kubeprov.apiserver.strategy.util import (
    Obj,
    as_list,
    as_map,
    as_str,
    check_list,
    go_invalid,
    go_str_list,
    label_selector,
    maps,
    msgs_to_errors,
    path_segment_name,
)

GROUP = "rbac.authorization.k8s.io"
SUBJECT_KINDS = ("ServiceAccount", "User", "Group")


def policy_rule_errors(rule: Any, namespaced: bool, path: Path) -> list[FieldError]:
    """``ValidatePolicyRule``."""
    if not isinstance(rule, dict):
        return [type_invalid(path, rule, "must be an object")]
    errs: list[FieldError] = []
    lists = {
        key: check_list(rule, key, path.child(key), errs)
        for key in ("verbs", "apiGroups", "resources", "resourceNames", "nonResourceURLs")
    }
    if not lists["verbs"]:
        errs.append(required(path.child("verbs"), "verbs must contain at least one value"))
    urls = lists["nonResourceURLs"]
    if urls:
        if namespaced:
            errs.append(
                go_invalid(
                    path.child("nonResourceURLs"),
                    go_str_list(urls),
                    "namespaced rules cannot apply to non-resource URLs",
                )
            )
        if lists["apiGroups"] or lists["resources"] or lists["resourceNames"]:
            errs.append(
                go_invalid(
                    path.child("nonResourceURLs"),
                    go_str_list(urls),
                    "rules cannot apply to both regular resources and non-resource URLs",
                )
            )
        return errs
    if not lists["apiGroups"]:
        errs.append(required(path.child("apiGroups"), "resource rules must supply at least one api group"))
    if not lists["resources"]:
        errs.append(required(path.child("resources"), "resource rules must supply at least one resource"))
    return errs


def subject_errors(subject: Obj, namespaced: bool, path: Path) -> list[FieldError]:
    """``ValidateRoleBindingSubject``."""
    errs: list[FieldError] = []
    name, kind, group = as_str(subject.get("name")), subject.get("kind"), as_str(subject.get("apiGroup"))
    if not name:
        errs.append(required(path.child("name"), ""))
    if kind == "ServiceAccount":
        if name:
            errs.extend(msgs_to_errors(path.child("name"), name, name_is_dns_subdomain(name, False)))
        if group:
            errs.append(not_supported(path.child("apiGroup"), group, ("",)))
        if not namespaced and not as_str(subject.get("namespace")):
            errs.append(required(path.child("namespace"), ""))
    elif kind in ("User", "Group"):
        if group != GROUP:
            errs.append(not_supported(path.child("apiGroup"), group, (GROUP,)))
    else:
        errs.append(not_supported(path.child("kind"), kind if kind is not None else "", SUBJECT_KINDS))
    return errs


def go_role_ref(ref: object) -> str:
    """``%#v`` of an ``rbac.RoleRef``."""
    ref = as_map(ref)
    fields = ", ".join(
        f"{name}:{go_quote(as_str(ref.get(key)))}"
        for name, key in (("APIGroup", "apiGroup"), ("Kind", "kind"), ("Name", "name"))
    )
    return f"rbac.RoleRef{{{fields}}}"


def default_subjects(obj: Obj) -> None:
    """``SetDefaults_Subject``/``SetDefaults_RoleBinding``: fill the apiGroups."""
    role_ref = obj.get("roleRef")
    if isinstance(role_ref, dict) and not role_ref.get("apiGroup"):
        role_ref["apiGroup"] = GROUP
    for _, subject in maps(obj.get("subjects")):
        if not subject.get("apiGroup"):
            if subject.get("kind") == "ServiceAccount":
                subject["apiGroup"] = ""
            elif subject.get("kind") in ("User", "Group"):
                subject["apiGroup"] = GROUP


class RoleStrategy(Strategy):
    """``Role`` and ``ClusterRole`` (cluster roles may aggregate others by label)."""

    kind = "Role"
    name_validator = staticmethod(validate_path_segment_name)

    def validate_object(self, obj: Obj, old: Obj | None) -> list[FieldError]:
        errs: list[FieldError] = []
        for i, rule in enumerate(check_list(obj, "rules", Path("rules"), errs)):
            errs.extend(policy_rule_errors(rule, self.namespaced, Path("rules").index(i)))
        aggregation = obj.get("aggregationRule")
        if not self.namespaced and isinstance(aggregation, dict):
            selectors = as_list(aggregation.get("clusterRoleSelectors"))
            spath = Path("aggregationRule", "clusterRoleSelectors")
            if not selectors:
                errs.append(required(spath, "at least one clusterRoleSelector required if aggregationRule is non-nil"))
            for i, selector in enumerate(selectors):
                sel_errs, _ = label_selector(selector, spath.index(i))
                errs.extend(sel_errs)
        return errs


class RoleBindingStrategy(Strategy):
    """``RoleBinding`` and ``ClusterRoleBinding``: the roleRef can never change."""

    kind = "RoleBinding"
    name_validator = staticmethod(validate_path_segment_name)

    def set_defaults(self, obj: Obj) -> None:
        default_subjects(obj)

    def validate_object(self, obj: Obj, old: Obj | None) -> list[FieldError]:
        errs: list[FieldError] = []
        role_ref = as_map(obj.get("roleRef"))
        path = Path("roleRef")
        group = as_str(role_ref.get("apiGroup"))
        if group != GROUP:
            errs.append(not_supported(path.child("apiGroup"), group, (GROUP,)))
        kinds = ("Role", "ClusterRole") if self.namespaced else ("ClusterRole",)
        if role_ref.get("kind") not in kinds:
            kind = role_ref.get("kind")
            errs.append(not_supported(path.child("kind"), kind if kind is not None else "", kinds))
        name = as_str(role_ref.get("name"))
        if not name:
            errs.append(required(path.child("name"), ""))
        else:
            errs.extend(msgs_to_errors(path.child("name"), name, path_segment_name(name)))
        for i, subject in enumerate(check_list(obj, "subjects", Path("subjects"), errs)):
            spath = Path("subjects").index(i)
            if isinstance(subject, dict):
                errs.extend(subject_errors(subject, self.namespaced, spath))
            else:
                errs.append(type_invalid(spath, subject, "must be an object"))
        return errs

    def validate_changes(self, new: Obj, old: Obj) -> list[FieldError]:
        if new.get("roleRef") != old.get("roleRef"):
            return [go_invalid(Path("roleRef"), go_role_ref(new.get("roleRef")), "cannot change roleRef")]
        return []
