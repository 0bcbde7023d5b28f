"""Containers: defaults and validation shared by pods and every pod template.

Follows ``SetDefaults_Container``/``SetDefaults_Probe`` and ``validateContainers`` of
Kubernetes 1.32, including the relaxed environment variable names that are on by default.
"""

from __future__ import annotations

import re
from typing import Any

from kubeprov.api.fielderrors import (
    NEGATIVE_MSG,
    FieldError,
    Path,
    duplicate,
    forbidden,
    invalid,
    not_found,
    not_supported,
    required,
    type_invalid,
)
from kubeprov.api.names import empty_error, is_qualified_name, name_is_dns_subdomain
from kubeprov.api.quantity import Quantity
from kubeprov.apiserver.strategy.util import (
    Obj,
    as_list,
    as_map,
    as_str,
    canonicalize_resources,
    check_int,
    check_list,
    check_nonneg,
    check_str,
    config_key_errors,
    default_int,
    default_str,
    dns_label,
    enum,
    inclusive_range_error,
    is_int,
    local_descending_path,
    maps,
    msgs_to_errors,
    port_name_errors,
    port_num_errors,
    port_num_or_name,
    qualified_name,
    resource_list,
)

PROTOCOLS = ("SCTP", "TCP", "UDP")
PULL_POLICIES = ("Always", "IfNotPresent", "Never")
TERMINATION_MESSAGE_POLICIES = ("File", "FallbackToLogsOnError")
PROBE_KINDS = ("livenessProbe", "readinessProbe", "startupProbe")
MAX_UINT32 = 0xFFFFFFFF

_STANDARD_CONTAINER_RESOURCES = frozenset({"cpu", "memory", "ephemeral-storage"})
_ENV_FIELD_PATHS = (
    "metadata.name",
    "metadata.namespace",
    "metadata.uid",
    "spec.nodeName",
    "spec.serviceAccountName",
    "status.hostIP",
    "status.hostIPs",
    "status.podIP",
    "status.podIPs",
)
# every field label the downward API can convert for core/v1 (``ConvertDownwardAPIFieldLabel``)
_CONVERTIBLE_FIELD_PATHS = frozenset(
    {
        "metadata.annotations",
        "metadata.labels",
        "metadata.name",
        "metadata.namespace",
        "metadata.uid",
        "spec.nodeName",
        "spec.restartPolicy",
        "spec.serviceAccountName",
        "spec.schedulerName",
        "status.phase",
        "status.hostIP",
        "status.hostIPs",
        "status.podIP",
        "status.podIPs",
    }
)
RESOURCE_FIELD_PATHS = (
    "limits.cpu",
    "limits.ephemeral-storage",
    "limits.memory",
    "requests.cpu",
    "requests.ephemeral-storage",
    "requests.memory",
)
_SUBSCRIPTED = re.compile(r"^(metadata\.(?:labels|annotations))\['(.*)'\]$")


# --------------------------------------------------------------------------- defaults


def image_tag(image: str) -> str:
    """The tag ``ParseImageName`` finds: ``latest`` when neither tag nor digest is given."""
    if not image or any(ch.isspace() for ch in image):
        return ""
    name, _, digest = image.partition("@")
    last = name.rsplit("/", 1)[-1]
    tag = last.rpartition(":")[2] if ":" in last else ""
    if not tag and not digest:
        return "latest"
    return tag


def default_probe(probe: Any) -> None:
    """``SetDefaults_Probe`` plus the HTTP action defaults."""
    if not isinstance(probe, dict):
        return
    default_int(probe, "timeoutSeconds", 1)
    default_int(probe, "periodSeconds", 10)
    default_int(probe, "successThreshold", 1)
    default_int(probe, "failureThreshold", 3)
    default_http_get(probe.get("httpGet"))


def default_http_get(action: Any) -> None:
    """``SetDefaults_HTTPGetAction``: path ``/`` and scheme ``HTTP``."""
    if isinstance(action, dict):
        default_str(action, "path", "/")
        default_str(action, "scheme", "HTTP")


def default_container(container: Any) -> None:
    """``SetDefaults_Container`` and the defaults of its nested types."""
    if not isinstance(container, dict):
        return
    if container.get("imagePullPolicy") in (None, ""):
        tag = image_tag(as_str(container.get("image")))
        container["imagePullPolicy"] = "Always" if tag == "latest" else "IfNotPresent"
    default_str(container, "terminationMessagePath", "/dev/termination-log")
    default_str(container, "terminationMessagePolicy", "File")
    for _, port in maps(container.get("ports")):
        default_str(port, "protocol", "TCP")
    for _, env in maps(container.get("env")):
        field_ref = as_map(env.get("valueFrom")).get("fieldRef")
        if isinstance(field_ref, dict):
            default_str(field_ref, "apiVersion", "v1")
    if container.get("resources") is None:
        container["resources"] = {}
    canonicalize_resources(container.get("resources"), "limits", "requests")
    for key in PROBE_KINDS:
        default_probe(container.get(key))
    lifecycle = container.get("lifecycle")
    if isinstance(lifecycle, dict):
        for hook in ("postStart", "preStop"):
            default_http_get(as_map(lifecycle.get(hook)).get("httpGet"))


def default_requests_from_limits(container: Any) -> None:
    """Pods only: a resource with a limit but no request gets the limit as request."""
    resources = as_map(as_map(container).get("resources"))
    limits = resources.get("limits")
    if not isinstance(limits, dict) or not limits:
        return
    requests = resources.get("requests")
    if requests is None:
        requests = resources["requests"] = {}
    if isinstance(requests, dict):
        for name, value in limits.items():
            requests.setdefault(name, value)


# --------------------------------------------------------------------------- resources


def is_hugepages(name: str) -> bool:
    return name.startswith("hugepages-")


def is_native_resource(name: str) -> bool:
    return "/" not in name or "kubernetes.io/" in name


def is_extended_resource(name: str) -> bool:
    if is_native_resource(name) or name.startswith("requests."):
        return False
    return not is_qualified_name("requests." + name)


def overcommit_allowed(name: str) -> bool:
    return is_native_resource(name) and not is_hugepages(name)


def container_resource_name_errors(name: str, path: Path) -> list[FieldError]:
    """``validateContainerResourceName``."""
    errs = msgs_to_errors(path, name, is_qualified_name(name))
    if errs:
        return errs
    if "/" not in name:
        if name not in _STANDARD_CONTAINER_RESOURCES and not is_hugepages(name):
            return [invalid(path, name, "must be a standard resource for containers")]
    elif not is_native_resource(name) and not is_extended_resource(name):
        return [invalid(path, name, "doesn't follow extended resource name standard")]
    return []


def quantity_value_errors(name: str, q: Quantity, path: Path) -> list[FieldError]:
    """``ValidateResourceQuantityValue``: not negative; whole numbers for integer resources."""
    errs: list[FieldError] = []
    if q.sign() < 0:
        errs.append(invalid(path, str(q), NEGATIVE_MSG))
    integer = name in _INTEGER_RESOURCES or is_extended_resource(name)
    if integer and q.milli_value() % 1000 != 0:
        errs.append(invalid(path, str(q), "must be an integer"))
    return errs


_INTEGER_RESOURCES = frozenset(
    {
        "pods",
        "services",
        "replicationcontrollers",
        "resourcequotas",
        "secrets",
        "configmaps",
        "persistentvolumeclaims",
        "services.nodeports",
        "services.loadbalancers",
    }
)


def resource_requirements(resources: Any, path: Path) -> list[FieldError]:
    """``ValidateContainerResourceRequirements``."""
    if resources is None:
        return []
    if not isinstance(resources, dict):
        return [type_invalid(path, resources, "must be an object")]
    errs: list[FieldError] = []
    lim_path, req_path = path.child("limits"), path.child("requests")
    limits = resource_list(resources.get("limits"), lim_path, errs)
    requests = resource_list(resources.get("requests"), req_path, errs)
    has_qos = has_huge = False
    for name, q in limits.items():
        errs.extend(container_resource_name_errors(name, lim_path.key(name)))
        errs.extend(quantity_value_errors(name, q, lim_path.key(name)))
        has_huge = has_huge or is_hugepages(name)
        has_qos = has_qos or name in ("cpu", "memory")
    for name, q in requests.items():
        errs.extend(container_resource_name_errors(name, req_path.key(name)))
        errs.extend(quantity_value_errors(name, q, req_path.key(name)))
        limit = limits.get(name)
        if limit is not None:
            if q != limit and not overcommit_allowed(name):
                errs.append(invalid(req_path, str(q), f"must be equal to {name} limit of {limit}"))
            elif q > limit:
                errs.append(invalid(req_path, str(q), f"must be less than or equal to {name} limit of {limit}"))
        elif not overcommit_allowed(name):
            errs.append(required(lim_path, "Limit must be set for non overcommitable resources"))
        has_huge = has_huge or is_hugepages(name)
        has_qos = has_qos or name in ("cpu", "memory")
    if has_huge and not has_qos:
        errs.append(forbidden(path, "HugePages require cpu or memory"))
    return errs


# --------------------------------------------------------------------------- ports and env


def container_ports(ports: list[Any], path: Path) -> list[FieldError]:
    """``validateContainerPorts``."""
    errs: list[FieldError] = []
    names: set[str] = set()
    for i, port in enumerate(ports):
        ipath = path.index(i)
        if not isinstance(port, dict):
            errs.append(type_invalid(ipath, port, "must be an object"))
            continue
        name = check_str(port, "name", ipath.child("name"), errs)
        if name:
            msgs = port_name_errors(name)
            if msgs:
                errs.extend(msgs_to_errors(ipath.child("name"), name, msgs))
            elif name in names:
                errs.append(duplicate(ipath.child("name"), name))
            else:
                names.add(name)
        container_port = port.get("containerPort")
        if container_port is None or container_port == 0 and is_int(container_port):
            errs.append(required(ipath.child("containerPort"), ""))
        elif not is_int(container_port):
            errs.append(type_invalid(ipath.child("containerPort"), container_port, "must be an integer"))
        else:
            errs.extend(msgs_to_errors(ipath.child("containerPort"), container_port, port_num_errors(container_port)))
        host_port = check_int(port, "hostPort", ipath.child("hostPort"), errs)
        if host_port:
            errs.extend(msgs_to_errors(ipath.child("hostPort"), host_port, port_num_errors(host_port)))
        enum(port.get("protocol"), ipath.child("protocol"), PROTOCOLS, errs)
    return errs


def relaxed_env_name_errors(name: str) -> list[str]:
    """``IsRelaxedEnvVarName``: printable ASCII other than ``=``."""
    if not name:
        return ["environment variable name " + empty_error()]
    if any(ord(ch) > 0x7E or ord(ch) < 0x20 or ch == "=" for ch in name):
        return ["a valid environment variable name must consist only of printable ASCII characters other than '='"]
    return []


def _field_ref(ref: Obj, path: Path, expressions: tuple[str, ...]) -> list[FieldError]:
    """``validateObjectFieldSelector``."""
    api_version = as_str(ref.get("apiVersion"))
    field_path = as_str(ref.get("fieldPath"))
    if not api_version:
        return [required(path.child("apiVersion"), "")]
    if not field_path:
        return [required(path.child("fieldPath"), "")]
    if api_version != "v1":
        return [
            invalid(
                path.child("fieldPath"),
                field_path,
                f"error converting fieldPath: unsupported pod version: {api_version}",
            )
        ]
    m = _SUBSCRIPTED.match(field_path)
    if m:
        base, subscript = m.groups()
        key = subscript.lower() if base == "metadata.annotations" else subscript
        return qualified_name(key, path)
    if field_path not in _CONVERTIBLE_FIELD_PATHS:
        return [
            invalid(
                path.child("fieldPath"),
                field_path,
                f"error converting fieldPath: field label not supported: {field_path}",
            )
        ]
    if field_path not in expressions:
        return [not_supported(path.child("fieldPath"), field_path, sorted(expressions))]
    return []


def _resource_field_ref(ref: Obj, path: Path, volume: bool) -> list[FieldError]:
    """``validateContainerResourceFieldSelector``."""
    resource = as_str(ref.get("resource"))
    if volume and not as_str(ref.get("containerName")):
        return [required(path.child("containerName"), "")]
    if not resource:
        return [required(path.child("resource"), "")]
    if resource not in RESOURCE_FIELD_PATHS and not resource.startswith(("requests.hugepages-", "limits.hugepages-")):
        return [not_supported(path.child("resource"), resource, RESOURCE_FIELD_PATHS)]
    return []


def _key_selector(sel: Obj, path: Path) -> list[FieldError]:
    """``validateConfigMapKeySelector``/``validateSecretKeySelector``."""
    name = as_str(sel.get("name"))
    errs = msgs_to_errors(path.child("name"), name, name_is_dns_subdomain(name, False))
    key = as_str(sel.get("key"))
    if not key:
        errs.append(required(path.child("key"), ""))
    else:
        errs.extend(msgs_to_errors(path.child("key"), key, config_key_errors(key)))
    return errs


def env_vars(env: list[Any], path: Path) -> list[FieldError]:
    """``ValidateEnv`` with relaxed names."""
    errs: list[FieldError] = []
    for i, var in enumerate(env):
        ipath = path.index(i)
        if not isinstance(var, dict):
            errs.append(type_invalid(ipath, var, "must be an object"))
            continue
        name = check_str(var, "name", ipath.child("name"), errs)
        if not name:
            errs.append(required(ipath.child("name"), ""))
        else:
            errs.extend(msgs_to_errors(ipath.child("name"), name, relaxed_env_name_errors(name)))
        value = check_str(var, "value", ipath.child("value"), errs)
        value_from = var.get("valueFrom")
        if value_from is None:
            continue
        vpath = ipath.child("valueFrom")
        if not isinstance(value_from, dict):
            errs.append(type_invalid(vpath, value_from, "must be an object"))
            continue
        sources = 0
        if isinstance(value_from.get("fieldRef"), dict):
            sources += 1
            errs.extend(_field_ref(value_from["fieldRef"], vpath.child("fieldRef"), _ENV_FIELD_PATHS))
        if isinstance(value_from.get("resourceFieldRef"), dict):
            sources += 1
            errs.extend(_resource_field_ref(value_from["resourceFieldRef"], vpath.child("resourceFieldRef"), False))
        for key in ("configMapKeyRef", "secretKeyRef"):
            if isinstance(value_from.get(key), dict):
                sources += 1
                errs.extend(_key_selector(value_from[key], vpath.child(key)))
        if sources == 0:
            errs.append(
                invalid(
                    vpath,
                    "",
                    "must specify one of: `fieldRef`, `resourceFieldRef`, `configMapKeyRef` or `secretKeyRef`",
                )
            )
        elif value:
            errs.append(invalid(vpath, "", "may not be specified when `value` is not empty"))
        elif sources > 1:
            errs.append(invalid(vpath, "", "may not have more than one field specified at a time"))
    return errs


def env_from(sources: list[Any], path: Path) -> list[FieldError]:
    """``ValidateEnvFrom``."""
    errs: list[FieldError] = []
    for i, src in enumerate(sources):
        ipath = path.index(i)
        if not isinstance(src, dict):
            errs.append(type_invalid(ipath, src, "must be an object"))
            continue
        prefix = as_str(src.get("prefix"))
        if prefix:
            errs.extend(msgs_to_errors(ipath.child("prefix"), prefix, relaxed_env_name_errors(prefix)))
        count = 0
        for key in ("configMapRef", "secretRef"):
            ref = src.get(key)
            if isinstance(ref, dict):
                count += 1
                name = as_str(ref.get("name"))
                if not name:
                    errs.append(required(ipath.child(key, "name"), ""))
                else:
                    errs.extend(msgs_to_errors(ipath.child(key, "name"), name, name_is_dns_subdomain(name, True)))
        if count == 0:
            errs.append(invalid(path, "", "must specify one of: `configMapRef` or `secretRef`"))
        elif count > 1:
            errs.append(invalid(path, "", "may not have more than one field specified at a time"))
    return errs


# --------------------------------------------------------------------------- mounts and probes


def volume_mounts(mounts: list[Any], path: Path, volumes: dict[str, Obj], container: Obj) -> list[FieldError]:
    """``ValidateVolumeMounts``."""
    errs: list[FieldError] = []
    seen_paths: set[str] = set()
    privileged = as_map(container.get("securityContext")).get("privileged") is True
    for i, mount in enumerate(mounts):
        ipath = path.index(i)
        if not isinstance(mount, dict):
            errs.append(type_invalid(ipath, mount, "must be an object"))
            continue
        name = check_str(mount, "name", ipath.child("name"), errs)
        if not name:
            errs.append(required(ipath.child("name"), ""))
        if name not in volumes:
            errs.append(not_found(ipath.child("name"), name))
        mount_path = check_str(mount, "mountPath", ipath.child("mountPath"), errs)
        if not mount_path:
            errs.append(required(ipath.child("mountPath"), ""))
        if mount_path in seen_paths:
            errs.append(invalid(ipath.child("mountPath"), mount_path, "must be unique"))
        seen_paths.add(mount_path)
        sub_path = as_str(mount.get("subPath"))
        if sub_path:
            errs.extend(local_descending_path(sub_path, path.child("subPath")))
        sub_expr = as_str(mount.get("subPathExpr"))
        if sub_expr:
            if sub_path:
                errs.append(
                    invalid(ipath.child("subPathExpr"), sub_expr, "subPathExpr and subPath are mutually exclusive")
                )
            errs.extend(local_descending_path(sub_expr, path.child("subPathExpr")))
        propagation = mount.get("mountPropagation")
        if propagation is not None:
            ppath = path.child("mountPropagation")
            if propagation not in ("Bidirectional", "HostToContainer", "None"):
                errs.append(not_supported(ppath, propagation, ("Bidirectional", "HostToContainer", "None")))
            if propagation == "Bidirectional" and not privileged:
                errs.append(
                    forbidden(ppath, "Bidirectional mount propagation is available only to privileged containers")
                )
    return errs


def _handler(handler: Obj, path: Path, grace: int | None, *, probe: bool) -> list[FieldError]:
    """``validateHandler``: exactly one action, each well-formed."""
    errs: list[FieldError] = []
    kinds = ("exec", "httpGet", "tcpSocket", "grpc") if probe else ("exec", "httpGet", "tcpSocket", "sleep")
    count = 0
    for kind in kinds:
        action = handler.get(kind)
        if action is None:
            continue
        if count > 0:
            errs.append(forbidden(path.child(kind), "may not specify more than 1 handler type"))
            continue
        count += 1
        apath = path.child(kind)
        if not isinstance(action, dict):
            errs.append(type_invalid(apath, action, "must be an object"))
            continue
        if kind == "exec":
            if not as_list(action.get("command")):
                errs.append(required(apath.child("command"), ""))
        elif kind == "httpGet":
            if not as_str(action.get("path")):
                errs.append(required(apath.child("path"), ""))
            errs.extend(port_num_or_name(action.get("port"), apath.child("port")))
            scheme = action.get("scheme")
            if scheme not in ("HTTP", "HTTPS"):
                errs.append(
                    not_supported(apath.child("scheme"), scheme if scheme is not None else "", ("HTTP", "HTTPS"))
                )
        elif kind == "tcpSocket":
            errs.extend(port_num_or_name(action.get("port"), apath.child("port")))
        elif kind == "grpc":
            port = action.get("port")
            errs.extend(port_num_or_name(port if is_int(port) else 0, apath.child("port")))
        elif kind == "sleep":
            seconds = action.get("seconds")
            seconds = seconds if is_int(seconds) else 0
            if grace is not None and (seconds <= 0 or seconds > grace):
                errs.append(
                    invalid(
                        apath,
                        seconds,
                        f"must be greater than 0 and less than terminationGracePeriodSeconds "
                        f"({grace}). Enable AllowPodLifecycleSleepActionZeroValue feature "
                        "gate for zero sleep.",
                    )
                )
    if count == 0:
        errs.append(required(path, "must specify a handler type"))
    return errs


def probe_errors(kind: str, probe: Any, path: Path, grace: int | None) -> list[FieldError]:
    """``validateLivenessProbe``/``validateReadinessProbe``/``validateStartupProbe``."""
    if probe is None:
        return []
    if not isinstance(probe, dict):
        return [type_invalid(path, probe, "must be an object")]
    errs = _handler(probe, path, grace, probe=True)
    for key in ("initialDelaySeconds", "timeoutSeconds", "periodSeconds", "successThreshold", "failureThreshold"):
        check_nonneg(probe, key, path.child(key), errs)
    tgps = check_int(probe, "terminationGracePeriodSeconds", path.child("terminationGracePeriodSeconds"), errs)
    if tgps is not None and tgps <= 0:
        errs.append(invalid(path.child("terminationGracePeriodSeconds"), tgps, "must be greater than 0"))
    if kind in ("livenessProbe", "startupProbe"):
        success = probe.get("successThreshold")
        if is_int(success) and success != 1:
            errs.append(invalid(path.child("successThreshold"), success, "must be 1"))
    elif tgps is not None:
        errs.append(invalid(path.child("terminationGracePeriodSeconds"), tgps, "must not be set for readinessProbes"))
    return errs


def lifecycle_errors(lifecycle: Any, path: Path, grace: int | None) -> list[FieldError]:
    """``validateLifecycle``."""
    if not isinstance(lifecycle, dict):
        return [] if lifecycle is None else [type_invalid(path, lifecycle, "must be an object")]
    errs: list[FieldError] = []
    for hook in ("postStart", "preStop"):
        handler = lifecycle.get(hook)
        if isinstance(handler, dict):
            errs.extend(_handler(handler, path.child(hook), grace, probe=False))
    return errs


def id_range(obj: Obj, key: str, path: Path, errs: list[FieldError]) -> None:
    """Unix user/group IDs: 0..2^32-1."""
    value = check_int(obj, key, path, errs)
    if value is not None and not 0 <= value <= MAX_UINT32:
        errs.append(invalid(path, value, inclusive_range_error(0, MAX_UINT32)))


def seccomp_profile(profile: Any, path: Path) -> list[FieldError]:
    """``validateSeccompProfileField``."""
    if not isinstance(profile, dict):
        return []
    errs: list[FieldError] = []
    ptype = profile.get("type")
    supported = ("Localhost", "RuntimeDefault", "Unconfined")
    enum(ptype, path.child("type"), supported, errs)
    local = profile.get("localhostProfile")
    if ptype == "Localhost":
        if local is None:
            errs.append(required(path.child("localhostProfile"), "must be set when seccomp type is Localhost"))
        else:
            errs.extend(local_descending_path(as_str(local), path.child("localhostProfile")))
    elif local is not None:
        errs.append(invalid(path.child("localhostProfile"), profile, "can only be set when seccomp type is Localhost"))
    return errs


def security_context(sc: Any, path: Path, host_users: bool) -> list[FieldError]:
    """``ValidateSecurityContext`` for one container."""
    if sc is None:
        return []
    if not isinstance(sc, dict):
        return [type_invalid(path, sc, "must be an object")]
    errs: list[FieldError] = []
    id_range(sc, "runAsUser", path.child("runAsUser"), errs)
    id_range(sc, "runAsGroup", path.child("runAsGroup"), errs)
    proc_mount = sc.get("procMount")
    if proc_mount is not None:
        if proc_mount not in ("Default", "Unmasked"):
            errs.append(not_supported(path.child("procMount"), proc_mount, ("Default", "Unmasked")))
        elif host_users and proc_mount == "Unmasked":
            errs.append(invalid(path.child("procMount"), proc_mount, "`hostUsers` must be false to use `Unmasked`"))
    errs.extend(seccomp_profile(sc.get("seccompProfile"), path.child("seccompProfile")))
    if sc.get("allowPrivilegeEscalation") is False:
        if sc.get("privileged") is True:
            errs.append(invalid(path, sc, "cannot set `allowPrivilegeEscalation` to false and `privileged` to true"))
        if "CAP_SYS_ADMIN" in as_list(as_map(sc.get("capabilities")).get("add")):
            errs.append(
                invalid(path, sc, "cannot set `allowPrivilegeEscalation` to false and `capabilities.Add` CAP_SYS_ADMIN")
            )
    return errs


# --------------------------------------------------------------------------- containers


def container_common(c: Obj, path: Path, volumes: dict[str, Obj], host_users: bool) -> list[FieldError]:
    """``validateContainerCommon``: what every container type must satisfy."""
    errs: list[FieldError] = []
    name = check_str(c, "name", path.child("name"), errs)
    if not name:
        errs.append(required(path.child("name"), ""))
    else:
        errs.extend(dns_label(name, path.child("name")))
    if not check_str(c, "image", path.child("image"), errs):
        errs.append(required(path.child("image"), ""))
    enum(c.get("terminationMessagePolicy"), path.child("terminationMessagePolicy"), TERMINATION_MESSAGE_POLICIES, errs)
    errs.extend(container_ports(check_list(c, "ports", path.child("ports"), errs), path.child("ports")))
    errs.extend(env_vars(check_list(c, "env", path.child("env"), errs), path.child("env")))
    errs.extend(env_from(check_list(c, "envFrom", path.child("envFrom"), errs), path.child("envFrom")))
    mounts = check_list(c, "volumeMounts", path.child("volumeMounts"), errs)
    errs.extend(volume_mounts(mounts, path.child("volumeMounts"), volumes, c))
    enum(c.get("imagePullPolicy"), path.child("imagePullPolicy"), PULL_POLICIES, errs)
    errs.extend(resource_requirements(c.get("resources"), path.child("resources")))
    errs.extend(security_context(c.get("securityContext"), path.child("securityContext"), host_users))
    for key in ("command", "args"):
        for j, item in enumerate(check_list(c, key, path.child(key), errs)):
            if not isinstance(item, str):
                errs.append(type_invalid(path.child(key).index(j), item, "must be a string"))
    return errs


def host_port_conflicts(containers: list[Obj], path: Path, indexes: list[int]) -> list[FieldError]:
    """``AccumulateUniqueHostPorts``: one protocol/hostIP/hostPort per pod."""
    errs: list[FieldError] = []
    seen: set[str] = set()
    for ci, c in zip(indexes, containers, strict=True):
        for pi, port in maps(c.get("ports")):
            host_port = port.get("hostPort")
            if not is_int(host_port) or host_port == 0:
                continue
            key = f"{as_str(port.get('protocol'))}/{as_str(port.get('hostIP'))}/{host_port}"
            if key in seen:
                errs.append(duplicate(path.index(ci).child("ports").index(pi).child("hostPort"), key))
            seen.add(key)
    return errs


def containers_errors(
    containers: Any, path: Path, volumes: dict[str, Obj], grace: int | None, host_users: bool
) -> list[FieldError]:
    """``validateContainers``: the regular containers of a pod spec."""
    if containers is not None and not isinstance(containers, list):
        return [type_invalid(path, containers, "must be an array")]
    if not containers:
        return [required(path, "")]
    errs: list[FieldError] = []
    names: set[str] = set()
    good: list[Obj] = []
    idx: list[int] = []
    for i, c in enumerate(containers):
        cpath = path.index(i)
        if not isinstance(c, dict):
            errs.append(type_invalid(cpath, c, "must be an object"))
            continue
        errs.extend(container_common(c, cpath, volumes, host_users))
        name = as_str(c.get("name"))
        if name in names:
            errs.append(duplicate(cpath.child("name"), name))
        else:
            names.add(name)
        errs.extend(lifecycle_errors(c.get("lifecycle"), cpath.child("lifecycle"), grace))
        for kind in PROBE_KINDS:
            errs.extend(probe_errors(kind, c.get(kind), cpath.child(kind), grace))
        if c.get("restartPolicy") is not None:
            errs.append(forbidden(cpath.child("restartPolicy"), "may not be set for non-init containers"))
        good.append(c)
        idx.append(i)
    errs.extend(host_port_conflicts(good, path, idx))
    return errs


def init_containers_errors(
    inits: Any, regular: Any, path: Path, volumes: dict[str, Obj], grace: int | None, host_users: bool
) -> list[FieldError]:
    """``validateInitContainers``; names must not clash with regular containers."""
    if inits is None:
        return []
    if not isinstance(inits, list):
        return [type_invalid(path, inits, "must be an array")]
    errs: list[FieldError] = []
    names = {as_str(c.get("name")) for _, c in maps(regular)}
    for i, c in enumerate(inits):
        cpath = path.index(i)
        if not isinstance(c, dict):
            errs.append(type_invalid(cpath, c, "must be an object"))
            continue
        errs.extend(container_common(c, cpath, volumes, host_users))
        restart = c.get("restartPolicy")
        if restart is not None and restart != "Always":
            errs.append(not_supported(cpath.child("restartPolicy"), restart, ("Always",)))
        name = as_str(c.get("name"))
        if name in names:
            errs.append(duplicate(cpath.child("name"), name))
        elif name:
            names.add(name)
        errs.extend(host_port_conflicts([c], path, [i]))
        if restart == "Always":
            errs.extend(lifecycle_errors(c.get("lifecycle"), cpath.child("lifecycle"), grace))
            for kind in PROBE_KINDS:
                errs.extend(probe_errors(kind, c.get(kind), cpath.child(kind), grace))
        else:
            for key in ("lifecycle", *PROBE_KINDS):
                if c.get(key) is not None:
                    errs.append(
                        forbidden(cpath.child(key), "may not be set for init containers without restartPolicy=Always")
                    )
    return errs


def ephemeral_containers_errors(
    ephemeral: Any, spec: Obj, path: Path, volumes: dict[str, Obj], host_users: bool
) -> list[FieldError]:
    """``validateEphemeralContainers`` (the common checks, unique names and targets)."""
    if not ephemeral:
        return []
    if not isinstance(ephemeral, list):
        return [type_invalid(path, ephemeral, "must be an array")]
    errs: list[FieldError] = []
    others = {as_str(c.get("name")) for _, c in maps(spec.get("containers"))}
    others |= {as_str(c.get("name")) for _, c in maps(spec.get("initContainers"))}
    names = set(others)
    for i, c in enumerate(ephemeral):
        cpath = path.index(i)
        if not isinstance(c, dict):
            errs.append(type_invalid(cpath, c, "must be an object"))
            continue
        errs.extend(container_common(c, cpath, volumes, host_users))
        name = as_str(c.get("name"))
        if name in names:
            errs.append(duplicate(cpath.child("name"), name))
        else:
            names.add(name)
        target = as_str(c.get("targetContainerName"))
        if target and target not in others:
            errs.append(not_found(cpath.child("targetContainerName"), target))
        for key in ("ports", "resources", "lifecycle", *PROBE_KINDS):
            value = c.get(key)
            if value not in (None, {}, []):
                errs.append(forbidden(cpath.child(key), "cannot be set for an Ephemeral Container"))
    return errs


def duplicate_port_warnings(spec: Obj, path: Path) -> list[str]:
    """Warn about a containerPort/protocol declared twice (Kubernetes only warns)."""
    warnings: list[str] = []
    for ci, c in maps(spec.get("containers")):
        seen: dict[tuple[Any, Any], int] = {}
        for pi, port in maps(c.get("ports")):
            key = (port.get("containerPort"), port.get("protocol") or "TCP")
            if key in seen:
                ports = path.child("containers").index(ci).child("ports")
                warnings.append(f"{ports.index(pi)}: duplicate port definition with {ports.index(seen[key])}")
            else:
                seen[key] = pi
    return warnings
