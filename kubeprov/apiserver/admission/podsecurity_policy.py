"""The Pod Security Standards as Kubernetes 1.32 checks them: each check looks at a pod's metadata and
spec and says why it is not allowed (a short reason and the details), worded as Kubernetes words it.

Checks are versioned by policy version (``v1.x``); ``latest`` is the newest version any check has,
1.32 here. A restricted evaluation runs the baseline checks (minus the ones a restricted check
replaces) then the restricted ones, each group in check-ID order, as Kubernetes orders them.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

from kubeprov.apiserver.admission.attributes import mapping, maps, sequence

PRIVILEGED, BASELINE, RESTRICTED = "privileged", "baseline", "restricted"
LEVELS = (PRIVILEGED, BASELINE, RESTRICTED)
LATEST_MINOR = 32  # the newest policy version a check is defined for in Kubernetes 1.32

Meta = dict[str, Any]
Spec = dict[str, Any]
Result = tuple[str, str] | None  # (reason, detail) when forbidden


def join_quote(items: list[str]) -> str:
    return '"' + '", "'.join(items) + '"' if items else ""


def pluralize(singular: str, plural: str, count: int) -> str:
    return singular if count == 1 else plural


def containers(spec: Spec) -> list[dict]:
    """Init containers, containers, then ephemeral containers (``visitContainers``)."""
    return maps(spec.get("initContainers")) + maps(spec.get("containers")) + maps(spec.get("ephemeralContainers"))


def sc(container: dict) -> dict:
    return mapping(container.get("securityContext"))


def pod_sc(spec: Spec) -> dict:
    return mapping(spec.get("securityContext"))


def _name(container: dict) -> str:
    return str(container.get("name", ""))


def _containers_phrase(names: list[str]) -> str:
    return f"{pluralize('container', 'containers', len(names))} {join_quote(names)}"


def _is_windows(spec: Spec) -> bool:
    return mapping(spec.get("os")).get("name") == "windows"


# ---- baseline --------------------------------------------------------------------------------

APPARMOR_ANNOTATION_PREFIX = "container.apparmor.security.beta.kubernetes.io/"


def app_armor_profile(meta: Meta, spec: Spec, minor: int) -> Result:
    setters: list[str] = []
    values: set[str] = set()
    profile = mapping(pod_sc(spec).get("appArmorProfile"))
    if profile and profile.get("type") not in ("RuntimeDefault", "Localhost"):
        setters.append("pod")
        values.add(str(profile.get("type", "")))
    bad: list[str] = []
    for c in containers(spec):
        profile = mapping(sc(c).get("appArmorProfile"))
        if profile and profile.get("type") not in ("RuntimeDefault", "Localhost"):
            bad.append(_name(c))
            values.add(str(profile.get("type", "")))
    if bad:
        setters.append(_containers_phrase(bad))
    bad_values = sorted(values)
    annotations = sorted(
        f'{k}="{v}"' for k, v in mapping(meta.get("annotations")).items()
        if str(k).startswith(APPARMOR_ANNOTATION_PREFIX)
        and not (v == "" or v == "runtime/default" or str(v).startswith("localhost/")))
    if annotations:
        bad_values.extend(annotations)
        setters.append(pluralize("annotation", "annotations", len(annotations)))
    if not setters:
        return None
    return (pluralize("forbidden AppArmor profile", "forbidden AppArmor profiles", len(bad_values)),
            f"{' and '.join(setters)} must not set AppArmor profile type to {join_quote(bad_values)}")


BASELINE_CAPABILITIES = frozenset({
    "AUDIT_WRITE", "CHOWN", "DAC_OVERRIDE", "FOWNER", "FSETID", "KILL", "MKNOD", "NET_BIND_SERVICE", "SETFCAP",
    "SETGID", "SETPCAP", "SETUID", "SYS_CHROOT",
})


def capabilities_baseline(meta: Meta, spec: Spec, minor: int) -> Result:
    bad: list[str] = []
    caps: set[str] = set()
    for c in containers(spec):
        extra = [str(x) for x in sequence(mapping(sc(c).get("capabilities")).get("add"))
                 if str(x) not in BASELINE_CAPABILITIES]
        if extra:
            bad.append(_name(c))
            caps.update(extra)
    if not bad:
        return None
    return ("non-default capabilities",
            f"{_containers_phrase(bad)} must not include {join_quote(sorted(caps))} "
            "in securityContext.capabilities.add")


def host_namespaces(meta: Meta, spec: Spec, minor: int) -> Result:
    used = sorted(k for k in ("hostNetwork", "hostPID", "hostIPC") if spec.get(k) is True)
    return ("host namespaces", ", ".join(used)) if used else None


def host_path_volumes(meta: Meta, spec: Spec, minor: int) -> Result:
    names = [str(v.get("name", "")) for v in maps(spec.get("volumes")) if v.get("hostPath") is not None]
    if not names:
        return None
    return "hostPath volumes", f"{pluralize('volume', 'volumes', len(names))} {join_quote(names)}"


def host_ports(meta: Meta, spec: Spec, minor: int) -> Result:
    bad: list[str] = []
    ports: set[str] = set()
    for c in containers(spec):
        used = [str(p.get("hostPort")) for p in maps(c.get("ports")) if p.get("hostPort") not in (None, 0)]
        if used:
            bad.append(_name(c))
            ports.update(used)
    if not bad:
        return None
    return ("hostPort", f"{_containers_phrase(bad)} {pluralize('uses', 'use', len(bad))} "
                        f"{pluralize('hostPort', 'hostPorts', len(ports))} {', '.join(sorted(ports))}")


def privileged(meta: Meta, spec: Spec, minor: int) -> Result:
    bad = [_name(c) for c in containers(spec) if sc(c).get("privileged") is True]
    if not bad:
        return None
    return "privileged", f"{_containers_phrase(bad)} must not set securityContext.privileged=true"


def proc_mount(meta: Meta, spec: Spec, minor: int) -> Result:
    bad: list[str] = []
    kinds: set[str] = set()
    for c in containers(spec):
        value = sc(c).get("procMount")
        if value is not None and value != "Default":
            bad.append(_name(c))
            kinds.add(str(value))
    if not bad:
        return None
    return ("procMount",
            f"{_containers_phrase(bad)} must not set securityContext.procMount to {join_quote(sorted(kinds))}")


SELINUX_TYPES = frozenset({"", "container_t", "container_init_t", "container_kvm_t"})


def se_linux_options(meta: Meta, spec: Spec, minor: int) -> Result:
    allowed = SELINUX_TYPES | ({"container_engine_t"} if minor >= 31 else set())
    bad_types: set[str] = set()
    flags = {"user": False, "role": False}

    def valid(options: dict) -> bool:
        ok = True
        kind = str(options.get("type") or "")
        if kind not in allowed:
            ok = False
            bad_types.add(kind)
        for field in ("user", "role"):
            if options.get(field):
                ok = False
                flags[field] = True
        return ok

    setters: list[str] = []
    options = pod_sc(spec).get("seLinuxOptions")
    if isinstance(options, dict) and not valid(options):
        setters.append("pod")
    bad = [_name(c) for c in containers(spec)
           if isinstance(sc(c).get("seLinuxOptions"), dict) and not valid(sc(c)["seLinuxOptions"])]
    if bad:
        setters.append(_containers_phrase(bad))
    if not setters:
        return None
    data: list[str] = []
    if bad_types:
        data.append(f"{pluralize('type', 'types', len(bad_types))} {join_quote(sorted(bad_types))}")
    if flags["user"]:
        data.append("user may not be set")
    if flags["role"]:
        data.append("role may not be set")
    return "seLinuxOptions", f"{' and '.join(setters)} set forbidden securityContext.seLinuxOptions: {'; '.join(data)}"


SECCOMP_POD_ANNOTATION = "seccomp.security.alpha.kubernetes.io/pod"
SECCOMP_CONTAINER_PREFIX = "container.seccomp.security.alpha.kubernetes.io/"


def _valid_seccomp(profile: dict) -> bool:
    return profile.get("type") in ("RuntimeDefault", "Localhost")


def seccomp_profile_baseline(meta: Meta, spec: Spec, minor: int) -> Result:
    if minor < 19:
        annotations = mapping(meta.get("annotations"))
        keys = [SECCOMP_POD_ANNOTATION] + [SECCOMP_CONTAINER_PREFIX + _name(c) for c in containers(spec)]
        forbidden = sorted({f'{k}="{annotations[k]}"' for k in keys if k in annotations and not (
            annotations[k] in ("runtime/default", "docker/default") or str(annotations[k]).startswith("localhost/"))})
        if not forbidden:
            return None
        return ("seccompProfile",
                f"forbidden {pluralize('annotation', 'annotations', len(forbidden))} {', '.join(forbidden)}")
    setters: list[str] = []
    values: set[str] = set()
    profile = pod_sc(spec).get("seccompProfile")
    if isinstance(profile, dict) and not _valid_seccomp(profile):
        setters.append("pod")
        values.add(str(profile.get("type", "")))
    bad: list[str] = []
    for c in containers(spec):
        profile = sc(c).get("seccompProfile")
        if isinstance(profile, dict) and not _valid_seccomp(profile):
            bad.append(_name(c))
            values.add(str(profile.get("type", "")))
    if bad:
        setters.append(_containers_phrase(bad))
    if not setters:
        return None
    return ("seccompProfile",
            f"{' and '.join(setters)} must not set securityContext.seccompProfile.type to {join_quote(sorted(values))}")


SAFE_SYSCTLS = {
    0: ("kernel.shm_rmid_forced", "net.ipv4.ip_local_port_range", "net.ipv4.tcp_syncookies",
        "net.ipv4.ping_group_range", "net.ipv4.ip_unprivileged_port_start"),
    27: ("net.ipv4.ip_local_reserved_ports",),
    29: ("net.ipv4.tcp_keepalive_time", "net.ipv4.tcp_fin_timeout", "net.ipv4.tcp_keepalive_intvl",
         "net.ipv4.tcp_keepalive_probes"),
    32: ("net.ipv4.tcp_rmem", "net.ipv4.tcp_wmem"),
}


def sysctls(meta: Meta, spec: Spec, minor: int) -> Result:
    safe = {name for since, names in SAFE_SYSCTLS.items() if since <= minor for name in names}
    bad = [str(s.get("name", "")) for s in maps(pod_sc(spec).get("sysctls")) if s.get("name") not in safe]
    return ("forbidden sysctls", ", ".join(bad)) if bad else None


def windows_host_process(meta: Meta, spec: Spec, minor: int) -> Result:
    setters: list[str] = []
    if mapping(pod_sc(spec).get("windowsOptions")).get("hostProcess") is True:
        setters.append("pod")
    bad = [_name(c) for c in containers(spec) if mapping(sc(c).get("windowsOptions")).get("hostProcess") is True]
    if bad:
        setters.append(_containers_phrase(bad))
    if not setters:
        return None
    return "hostProcess", f"{' and '.join(setters)} must not set securityContext.windowsOptions.hostProcess=true"


# ---- restricted ------------------------------------------------------------------------------


def allow_privilege_escalation(meta: Meta, spec: Spec, minor: int) -> Result:
    if minor >= 25 and _is_windows(spec):
        return None
    bad = [_name(c) for c in containers(spec) if sc(c).get("allowPrivilegeEscalation") is not False]
    if not bad:
        return None
    return ("allowPrivilegeEscalation != false",
            f"{_containers_phrase(bad)} must set securityContext.allowPrivilegeEscalation=false")


def capabilities_restricted(meta: Meta, spec: Spec, minor: int) -> Result:
    if minor >= 25 and _is_windows(spec):
        return None
    missing_drop: list[str] = []
    adding: list[str] = []
    caps: set[str] = set()
    for c in containers(spec):
        capabilities = sc(c).get("capabilities")
        if not isinstance(capabilities, dict):
            missing_drop.append(_name(c))
            continue
        if "ALL" not in [str(x) for x in sequence(capabilities.get("drop"))]:
            missing_drop.append(_name(c))
        extra = [str(x) for x in sequence(capabilities.get("add")) if str(x) != "NET_BIND_SERVICE"]
        if extra:
            adding.append(_name(c))
            caps.update(extra)
    details: list[str] = []
    if missing_drop:
        details.append(f'{_containers_phrase(missing_drop)} must set securityContext.capabilities.drop=["ALL"]')
    if adding:
        details.append(f"{_containers_phrase(adding)} must not include {join_quote(sorted(caps))} "
                       "in securityContext.capabilities.add")
    return ("unrestricted capabilities", "; ".join(details)) if details else None


ALLOWED_VOLUME_SOURCES = ("configMap", "csi", "downwardAPI", "emptyDir", "ephemeral", "persistentVolumeClaim",
                          "projected", "secret")
RESTRICTED_VOLUME_SOURCES = ("hostPath", "gcePersistentDisk", "awsElasticBlockStore", "gitRepo", "nfs", "iscsi",
                             "glusterfs", "rbd", "flexVolume", "cinder", "cephfs", "flocker", "fc", "azureFile",
                             "vsphereVolume", "quobyte", "azureDisk", "photonPersistentDisk", "portworxVolume",
                             "scaleIO", "storageos")


def restricted_volumes(meta: Meta, spec: Spec, minor: int) -> Result:
    bad: list[str] = []
    kinds: set[str] = set()
    for volume in maps(spec.get("volumes")):
        if any(volume.get(source) is not None for source in ALLOWED_VOLUME_SOURCES):
            continue
        bad.append(str(volume.get("name", "")))
        kinds.add(next((s for s in RESTRICTED_VOLUME_SOURCES if volume.get(s) is not None), "unknown"))
    if not bad:
        return None
    return ("restricted volume types",
            f"{pluralize('volume', 'volumes', len(bad))} {join_quote(bad)} {pluralize('uses', 'use', len(bad))} "
            f"{pluralize('restricted volume type', 'restricted volume types', len(kinds))} "
            f"{join_quote(sorted(kinds))}")


def run_as_non_root(meta: Meta, spec: Spec, minor: int) -> Result:
    setters: list[str] = []
    pod_non_root = False
    value = pod_sc(spec).get("runAsNonRoot")
    if value is not None:
        if value is False:
            setters.append("pod")
        else:
            pod_non_root = True
    explicit: list[str] = []
    implicit: list[str] = []
    for c in containers(spec):
        own = sc(c).get("runAsNonRoot")
        if own is not None:
            if own is False:
                explicit.append(_name(c))
        elif not pod_non_root:
            implicit.append(_name(c))
    if explicit:
        setters.append(_containers_phrase(explicit))
    if setters:
        return "runAsNonRoot != true", f"{' and '.join(setters)} must not set securityContext.runAsNonRoot=false"
    if implicit:
        return ("runAsNonRoot != true",
                f"pod or {_containers_phrase(implicit)} must set securityContext.runAsNonRoot=true")
    return None


def _is_root(value: Any) -> bool:
    return isinstance(value, int) and not isinstance(value, bool) and value == 0


def run_as_user(meta: Meta, spec: Spec, minor: int) -> Result:
    setters: list[str] = []
    if _is_root(pod_sc(spec).get("runAsUser")):
        setters.append("pod")
    bad = [_name(c) for c in containers(spec) if _is_root(sc(c).get("runAsUser"))]
    if bad:
        setters.append(_containers_phrase(bad))
    return ("runAsUser=0", f"{' and '.join(setters)} must not set runAsUser=0") if setters else None


def seccomp_profile_restricted(meta: Meta, spec: Spec, minor: int) -> Result:
    if minor >= 25 and _is_windows(spec):
        return None
    setters: list[str] = []
    values: set[str] = set()
    pod_set = False
    profile = pod_sc(spec).get("seccompProfile")
    if isinstance(profile, dict):
        if _valid_seccomp(profile):
            pod_set = True
        else:
            setters.append("pod")
            values.add(str(profile.get("type", "")))
    explicit: list[str] = []
    implicit: list[str] = []
    for c in containers(spec):
        profile = sc(c).get("seccompProfile")
        if isinstance(profile, dict):
            if not _valid_seccomp(profile):
                explicit.append(_name(c))
                values.add(str(profile.get("type", "")))
        elif not pod_set:
            implicit.append(_name(c))
    if explicit:
        setters.append(_containers_phrase(explicit))
    if setters:
        return ("seccompProfile", f"{' and '.join(setters)} must not set securityContext.seccompProfile.type to "
                                  f"{join_quote(sorted(values))}")
    if implicit:
        return ("seccompProfile", f"pod or {_containers_phrase(implicit)} must set securityContext.seccompProfile.type "
                                  'to "RuntimeDefault" or "Localhost"')
    return None


# ---- the registry ----------------------------------------------------------------------------


@dataclass(frozen=True)
class Check:
    id: str
    level: str
    since: int  # the first policy version (1.x) it applies to
    run: Callable[[Meta, Spec, int], Result]
    overrides: tuple[str, ...] = ()  # baseline checks it replaces at the restricted level


CHECKS = (
    Check("appArmorProfile", BASELINE, 0, app_armor_profile),
    Check("capabilities_baseline", BASELINE, 0, capabilities_baseline),
    Check("hostNamespaces", BASELINE, 0, host_namespaces),
    Check("hostPathVolumes", BASELINE, 0, host_path_volumes),
    Check("hostPorts", BASELINE, 0, host_ports),
    Check("privileged", BASELINE, 0, privileged),
    Check("procMount", BASELINE, 0, proc_mount),
    Check("seLinuxOptions", BASELINE, 0, se_linux_options),
    Check("seccompProfile_baseline", BASELINE, 0, seccomp_profile_baseline),
    Check("sysctls", BASELINE, 0, sysctls),
    Check("windowsHostProcess", BASELINE, 0, windows_host_process),
    Check("allowPrivilegeEscalation", RESTRICTED, 8, allow_privilege_escalation),
    Check("capabilities_restricted", RESTRICTED, 22, capabilities_restricted, ("capabilities_baseline",)),
    Check("restrictedVolumes", RESTRICTED, 0, restricted_volumes, ("hostPathVolumes",)),
    Check("runAsNonRoot", RESTRICTED, 0, run_as_non_root),
    Check("runAsUser", RESTRICTED, 23, run_as_user),
    Check("seccompProfile_restricted", RESTRICTED, 19, seccomp_profile_restricted, ("seccompProfile_baseline",)),
)


def checks_for(level: str, minor: int) -> list[Check]:
    """The checks of a level at a policy version, in evaluation order."""
    if level == PRIVILEGED:
        return []
    active = [c for c in CHECKS if c.since <= minor]
    baseline = sorted((c for c in active if c.level == BASELINE), key=lambda c: c.id)
    if level == BASELINE:
        return baseline
    restricted = sorted((c for c in active if c.level == RESTRICTED), key=lambda c: c.id)
    replaced = {o for c in restricted for o in c.overrides}
    return [c for c in baseline if c.id not in replaced] + restricted


def evaluate(level: str, minor: int | None, meta: Meta, spec: Spec) -> list[tuple[str, str]]:
    """The (reason, detail) of every check the pod fails; ``minor`` None is ``latest``."""
    version = LATEST_MINOR if minor is None else min(minor, LATEST_MINOR)
    out: list[tuple[str, str]] = []
    for check in checks_for(level, version):
        result = check.run(mapping(meta), mapping(spec), version)
        if result is not None:
            out.append((result[0] or "unknown forbidden reason", result[1]))
    return out


def forbidden_detail(results: list[tuple[str, str]]) -> str:
    """``host ports (8080, 9090), privileged containers, ...``"""
    return ", ".join(f"{reason} ({detail})" if detail else reason for reason, detail in results)


def forbidden_reason(results: list[tuple[str, str]]) -> str:
    return ", ".join(reason for reason, _ in results)
