"""PodSecurity: the Pod Security Standards, chosen per namespace by its labels
``pod-security.kubernetes.io/enforce|audit|warn`` (and ``-version``).

Pods that break the ``enforce`` level are refused; breaking the ``warn`` level adds a warning.
Workload resources (Deployments, Jobs...) are only warned about: their pods are checked when the
controllers create them. A namespace whose labels change to a stricter ``enforce`` level gets
warnings naming the existing pods that would no longer be admitted. Without labels a namespace is
privileged (nothing is checked); no namespace, user or runtime class is exempt by default.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from typing import ClassVar

from kubeprov.api import status
from kubeprov.api.fielderrors import FieldError, Path, invalid
from kubeprov.api.status import StatusError
from kubeprov.apiserver.admission.attributes import CREATE, UPDATE, Attributes, mapping, maps, meta
from kubeprov.apiserver.admission.plugin import Plugin
from kubeprov.apiserver.admission.podsecurity_policy import (
    BASELINE,
    LEVELS,
    PRIVILEGED,
    RESTRICTED,
    evaluate,
    forbidden_detail,
    forbidden_reason,
)

LABEL_PREFIX = "pod-security.kubernetes.io/"
ENFORCE_LEVEL = LABEL_PREFIX + "enforce"
ENFORCE_VERSION = LABEL_PREFIX + "enforce-version"
AUDIT_LEVEL = LABEL_PREFIX + "audit"
AUDIT_VERSION = LABEL_PREFIX + "audit-version"
WARN_LEVEL = LABEL_PREFIX + "warn"
WARN_VERSION = LABEL_PREFIX + "warn-version"

POD_CONTROLLERS = frozenset({
    ("", "replicationcontrollers"), ("", "podtemplates"), ("apps", "replicasets"), ("apps", "deployments"),
    ("apps", "statefulsets"), ("apps", "daemonsets"), ("batch", "jobs"), ("batch", "cronjobs"),
})
# pod subresources that cannot change what runs; every other one is checked
IGNORED_POD_SUBRESOURCES = frozenset({"exec", "attach", "binding", "eviction", "log", "portforward", "proxy",
                                      "status"})
MAX_PODS_TO_CHECK = 3000
_VERSION = re.compile(r"^v1\.([0-9]|[1-9][0-9]*)$")
_LEVEL_ERROR = "must be one of " + ", ".join(LEVELS)
_VERSION_ERROR = 'must be "latest" or "v1.x"'


@dataclass(frozen=True)
class LevelVersion:
    level: str
    minor: int | None = None  # None: latest

    def __str__(self) -> str:
        return f"{self.level}:{'latest' if self.minor is None else f'v1.{self.minor}'}"


@dataclass(frozen=True)
class Policy:
    enforce: LevelVersion
    audit: LevelVersion
    warn: LevelVersion

    @property
    def fully_privileged(self) -> bool:
        return all(lv.level == PRIVILEGED for lv in (self.enforce, self.audit, self.warn))


DEFAULT_POLICY = Policy(LevelVersion(PRIVILEGED), LevelVersion(PRIVILEGED), LevelVersion(PRIVILEGED))
_STRICTNESS = {PRIVILEGED: 0, BASELINE: 1, RESTRICTED: 2}


def compare_levels(a: str, b: str) -> int:
    return (_STRICTNESS.get(a, 0) > _STRICTNESS.get(b, 0)) - (_STRICTNESS.get(a, 0) < _STRICTNESS.get(b, 0))


def parse_level(text: str) -> tuple[str, str]:
    """(level, error); a bad level reads as restricted."""
    return (text, "") if text in LEVELS else (RESTRICTED, _LEVEL_ERROR)


def parse_version(text: str) -> tuple[int | None, str]:
    """(minor or None for latest, error); a bad version reads as latest."""
    if text == "latest":
        return None, ""
    match = _VERSION.match(text)
    if not match:
        return None, _VERSION_ERROR
    return int(match.group(1)), ""


def policy_from_labels(labels: dict, defaults: Policy = DEFAULT_POLICY) -> tuple[Policy, list[FieldError]]:
    """``PolicyToEvaluate``: the namespace's policy, defaults for what is not labelled.

    A bad enforce level fails closed (restricted), bad audit/warn levels fail open (privileged).
    When only ``enforce`` is set, ``warn`` follows it so workloads get warned about what their pods
    would be refused for."""
    errors: list[FieldError] = []
    path = Path("metadata", "labels")
    if not labels:
        return defaults, errors

    def level_of(label: str, fallback: LevelVersion, fail_open: bool) -> tuple[str, bool]:
        if label not in labels:
            return fallback.level, False
        value = str(labels[label])
        level, err = parse_level(value)
        if err:
            errors.append(invalid(path.key(label), value, err))
            return (PRIVILEGED if fail_open else level), False
        return level, True

    def version_of(label: str, fallback: LevelVersion) -> tuple[int | None, bool]:
        if label not in labels:
            return fallback.minor, False
        value = str(labels[label])
        minor, err = parse_version(value)
        if err:
            errors.append(invalid(path.key(label), value, err))
        return minor, True

    enforce_level, has_enforce_level = level_of(ENFORCE_LEVEL, defaults.enforce, False)
    enforce_minor, _ = version_of(ENFORCE_VERSION, defaults.enforce)
    audit_level, _ = level_of(AUDIT_LEVEL, defaults.audit, True)
    audit_minor, _ = version_of(AUDIT_VERSION, defaults.audit)
    warn_level, _ = level_of(WARN_LEVEL, defaults.warn, True)
    has_warn_level = WARN_LEVEL in labels
    warn_minor, has_warn_version = version_of(WARN_VERSION, defaults.warn)
    if not has_warn_level and has_enforce_level and compare_levels(enforce_level, warn_level) > 0:
        warn_level = enforce_level
        if not has_warn_version:
            warn_minor = enforce_minor
    return Policy(LevelVersion(enforce_level, enforce_minor), LevelVersion(audit_level, audit_minor),
                  LevelVersion(warn_level, warn_minor)), errors


def pod_template(group: str, resource: str, obj: dict) -> tuple[dict, dict] | None:
    """(metadata, spec) of the pod template a workload object carries, or None."""
    if resource == "podtemplates":
        template = obj.get("template")
    elif resource == "cronjobs":
        template = mapping(mapping(mapping(obj.get("spec")).get("jobTemplate")).get("spec")).get("template")
    else:
        template = mapping(obj.get("spec")).get("template")
    if not isinstance(template, dict):
        return None
    return mapping(template.get("metadata")), mapping(template.get("spec"))


def is_significant_pod_update(pod: dict, old: dict) -> bool:
    """Only container images (and seccomp annotations) can change on a running pod, and ephemeral
    containers can be added: nothing else makes a pod update worth checking."""
    spec, old_spec = mapping(pod.get("spec")), mapping(old.get("spec"))
    annotations, old_annotations = mapping(meta(pod).get("annotations")), mapping(meta(old).get("annotations"))

    def changed(c: dict, o: dict) -> bool:
        key = "container.seccomp.security.alpha.kubernetes.io/" + str(c.get("name", ""))
        return c.get("image") != o.get("image") or annotations.get(key) != old_annotations.get(key)

    for field in ("containers", "initContainers"):
        new, before = maps(spec.get(field)), maps(old_spec.get(field))
        if len(new) != len(before) or any(changed(c, o) for c, o in zip(new, before, strict=True)):
            return True
    previous = {str(c.get("name", "")): c for c in maps(old_spec.get("ephemeralContainers"))}
    for c in maps(spec.get("ephemeralContainers")):
        o = previous.get(str(c.get("name", "")))
        if o is None or changed(c, o):
            return True
    return False


class PodSecurity(Plugin):
    name: ClassVar[str] = "PodSecurity"
    validating: ClassVar[bool] = True
    default_policy: ClassVar[Policy] = DEFAULT_POLICY
    exempt_namespaces: ClassVar[frozenset[str]] = frozenset()
    exempt_users: ClassVar[frozenset[str]] = frozenset()
    exempt_runtime_classes: ClassVar[frozenset[str]] = frozenset()

    async def validate(self, a: Attributes) -> None:
        if a.operation not in (CREATE, UPDATE) or a.obj is None:
            return
        if a.is_core("namespaces"):
            await self._namespace(a)
        elif a.is_core("pods"):
            await self._pod(a)
        elif (a.group, a.resource) in POD_CONTROLLERS:
            await self._controller(a)

    def policy(self, labels: dict) -> tuple[Policy, list[FieldError]]:
        return policy_from_labels(labels, self.default_policy)

    # ---- namespaces -----------------------------------------------------------------------

    async def _namespace(self, a: Attributes) -> None:
        if a.subresource:
            return
        assert a.obj is not None
        new_policy, errors = self.policy(mapping(meta(a.obj).get("labels")))
        if a.operation == CREATE:
            if errors:
                raise StatusError(status.invalid("Namespace", "", a.name, errors))
            return
        old_policy, old_errors = self.policy(mapping(meta(a.old).get("labels")))
        if errors and (not old_errors or errors != old_errors):
            raise StatusError(status.invalid("Namespace", "", a.name, errors))
        new, old = new_policy.enforce, old_policy.enforce
        if new == old or new.level == PRIVILEGED:
            return
        if new.minor == old.minor and compare_levels(new.level, old.level) < 1:
            return
        if a.name in self.exempt_namespaces:
            return
        for warning in await self.check_existing_pods(a.name, new):
            a.warn(warning)

    async def check_existing_pods(self, namespace: str, enforce: LevelVersion) -> list[str]:
        """Warnings naming the namespace's pods the new enforce level would refuse."""
        pods = await self.lookup.list("", "pods", namespace)
        first: list[dict] = []
        repeats: list[dict] = []
        controllers: set[str] = set()
        for pod in pods:
            if mapping(pod.get("spec")).get("runtimeClassName") in self.exempt_runtime_classes:
                continue
            owner = next((r for r in maps(meta(pod).get("ownerReferences")) if r.get("controller") is True), None)
            if owner is None:
                first.append(pod)
            elif str(owner.get("uid", "")) in controllers:
                repeats.append(pod)
            else:
                controllers.add(str(owner.get("uid", "")))
                first.append(pod)
        ordered = first + repeats
        total = len(ordered)
        ordered = ordered[:MAX_PODS_TO_CHECK]
        found: dict[str, tuple[str, int]] = {}  # reason -> (first pod name, count)
        for pod in ordered:
            results = evaluate(enforce.level, enforce.minor, meta(pod), mapping(pod.get("spec")))
            if results:
                reason = forbidden_reason(results)
                name = str(meta(pod).get("name", ""))
                first_name, count = found.get(reason, (name, 0))
                found[reason] = (min(first_name, name), count + 1)
        warnings: list[str] = []
        if len(ordered) < total:
            warnings.append(f"new PodSecurity enforce level only checked against the first {len(ordered)} "
                            f"of {total} existing pods")
        if found:
            warnings.append(f'existing pods in namespace "{namespace}" violate the new PodSecurity enforce level '
                            f'"{enforce}"')
        decorated = []
        for reason, (name, count) in found.items():
            if count == 1:
                decorated.append(f"{name}: {reason}")
            elif count == 2:
                decorated.append(f"{name} (and 1 other pod): {reason}")
            else:
                decorated.append(f"{name} (and {count - 1} other pods): {reason}")
        return warnings + sorted(decorated)

    # ---- pods and workloads ---------------------------------------------------------------

    async def _namespace_policy(self, a: Attributes) -> tuple[Policy, list[FieldError]] | None:
        namespace = await self.lookup.get("", "namespaces", "", a.namespace)
        if namespace is None:
            return None
        return self.policy(mapping(meta(namespace).get("labels")))

    def _exempt(self, a: Attributes) -> bool:
        return a.namespace in self.exempt_namespaces or (bool(a.user_name) and a.user_name in self.exempt_users)

    async def _pod(self, a: Attributes) -> None:
        if a.subresource in IGNORED_POD_SUBRESOURCES or self._exempt(a):
            return
        found = await self._namespace_policy(a)
        if found is None:
            raise StatusError(status.internal_error(f'failed to lookup namespace "{a.namespace}"'))
        policy, errors = found
        if not errors and policy.fully_privileged:
            return
        assert a.obj is not None
        if a.operation == UPDATE and a.old is not None and not is_significant_pod_update(a.obj, a.old):
            return
        self._evaluate(a, policy, meta(a.obj), mapping(a.obj.get("spec")), enforce=True)

    async def _controller(self, a: Attributes) -> None:
        if a.subresource or self._exempt(a):
            return
        found = await self._namespace_policy(a)
        if found is None:
            return
        policy, errors = found
        if not errors and policy.warn.level == PRIVILEGED and policy.audit.level == PRIVILEGED:
            return
        assert a.obj is not None
        template = pod_template(a.group, a.resource, a.obj)
        if template is None:
            return
        self._evaluate(a, policy, template[0], template[1], enforce=False)

    def _evaluate(self, a: Attributes, policy: Policy, pod_meta: dict, spec: dict, *, enforce: bool) -> None:
        if spec.get("runtimeClassName") and spec.get("runtimeClassName") in self.exempt_runtime_classes:
            return
        cached: dict[LevelVersion, list[tuple[str, str]]] = {}
        if enforce:
            results = cached[policy.enforce] = evaluate(
                policy.enforce.level, policy.enforce.minor, pod_meta, spec)
            if results:
                raise a.forbidden_named(
                    a.name, f'violates PodSecurity "{policy.enforce}": {forbidden_detail(results)}')
        # audit annotations belong to the audit log, which this server does not write per request
        warn = cached.get(policy.warn)
        if warn is None:
            warn = evaluate(policy.warn.level, policy.warn.minor, pod_meta, spec)
        if warn:
            a.warn(f'would violate PodSecurity "{policy.warn}": {forbidden_detail(warn)}')
