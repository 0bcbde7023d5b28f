"""Pod template specs (``PodTemplateSpec``) and the PodTemplate kind.

Every workload controller embeds a template; the controller kinds share
:func:`controller_template_errors` for the selector match and restart-policy rules.
"""

from __future__ import annotations

from typing import Any, ClassVar

from kubeprov.api.fielderrors import FieldError, Path, forbidden, not_supported, required, type_invalid
from kubeprov.api.labels import Selector
from kubeprov.api.names import validate_annotations
from kubeprov.apiserver.strategy.base import Strategy
from kubeprov.apiserver.strategy.podspec import default_pod_spec, pod_spec_errors
from kubeprov.apiserver.strategy.util import Obj, as_map, go_invalid, go_str_map, labels_map, str_map


def default_template(template: Any) -> None:
    """Defaults of a pod template: pod-spec defaults, and the ``creationTimestamp: null`` that
    Kubernetes 1.32 writes into every embedded ObjectMeta."""
    if not isinstance(template, dict):
        return
    meta = template.get("metadata")
    if meta is None:
        meta = template["metadata"] = {}
    if isinstance(meta, dict):
        meta.setdefault("creationTimestamp", None)
    spec = template.get("spec")
    if spec is None:
        spec = template["spec"] = {}
    default_pod_spec(spec, is_pod=False)


def template_errors(template: Any, path: Path) -> list[FieldError]:
    """``ValidatePodTemplateSpec`` (labels are reported at ``<path>.labels``, as Kubernetes does)."""
    if not isinstance(template, dict):
        return [type_invalid(path, template, "must be an object")]
    meta = template.get("metadata")
    if meta is not None and not isinstance(meta, dict):
        return [type_invalid(path.child("metadata"), meta, "must be an object")]
    meta = as_map(meta)
    errs = labels_map(meta.get("labels"), path.child("labels"))
    annotations = meta.get("annotations")
    if isinstance(annotations, dict):
        errs.extend(validate_annotations(annotations, path.child("annotations")))
    elif annotations is not None:
        errs.append(type_invalid(path.child("annotations"), annotations, "must be an object"))
    errs.extend(pod_spec_errors(template.get("spec"), path.child("spec"), is_pod=False))
    if as_map(template.get("spec")).get("ephemeralContainers"):
        errs.append(
            forbidden(path.child("spec", "ephemeralContainers"), "ephemeral containers not allowed in pod template")
        )
    return errs


def selector_mismatch(template: Any, selector: Selector | None, path: Path) -> list[FieldError]:
    """The template's labels must be selected by the controller's (non-empty) selector."""
    if selector is None or selector.is_empty():
        return []
    labels = as_map(as_map(template).get("metadata")).get("labels")
    if selector.matches(str_map(labels)):
        return []
    # a template without labels is reported as ``null``, the way Go prints a nil map
    return [
        go_invalid(path.child("metadata", "labels"), go_str_map(labels), "`selector` does not match template `labels`")
    ]


def controller_template_errors(template: Any, selector: Selector | None, path: Path, kind: str) -> list[FieldError]:
    """``ValidatePodTemplateSpecForReplicaSet`` and friends: selector match, restartPolicy Always."""
    if template is None:
        return [required(path, "")]
    errs = selector_mismatch(template, selector, path)
    errs.extend(template_errors(template, path))
    spec = as_map(as_map(template).get("spec"))
    policy = spec.get("restartPolicy")
    if policy != "Always":
        errs.append(
            not_supported(path.child("spec", "restartPolicy"), policy if policy is not None else "", ("Always",))
        )
    if spec.get("activeDeadlineSeconds") is not None:
        errs.append(
            forbidden(path.child("spec", "activeDeadlineSeconds"), f"activeDeadlineSeconds in {kind} is not Supported")
        )
    return errs


class PodTemplateStrategy(Strategy):
    """``PodTemplate``: a stored template, validated like the ones controllers embed."""

    kind = "PodTemplate"
    tracks_generation = True
    generation_fields: ClassVar[tuple[str, ...]] = ("template",)

    def set_defaults(self, obj: Obj) -> None:
        if obj.get("template") is None:
            obj["template"] = {}
        default_template(obj.get("template"))

    def validate_object(self, obj: Obj, old: Obj | None) -> list[FieldError]:
        return template_errors(obj.get("template", {}), Path("template"))
