"""The OCI runtime spec (runc's config.json) for one container of a pod.

Pure functions over the Kubernetes container (a JSON dict), the image config and what the caller has
already resolved (env valueFrom, volume bind mounts, the sandbox's namespace paths), so every rule the
kubelet and containerd's CRI plugin apply is testable without root.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from kubeprov.api.quantity import Quantity
from kubeprov.kubelet.images.unpack import LayerError, resolve_in_root

# containerd's CRI default capability set (what `docker run` and every CRI runtime give a container).
DEFAULT_CAPABILITIES = (
    "CAP_CHOWN",
    "CAP_DAC_OVERRIDE",
    "CAP_FSETID",
    "CAP_FOWNER",
    "CAP_MKNOD",
    "CAP_NET_RAW",
    "CAP_SETGID",
    "CAP_SETUID",
    "CAP_SETFCAP",
    "CAP_SETPCAP",
    "CAP_NET_BIND_SERVICE",
    "CAP_SYS_CHROOT",
    "CAP_KILL",
    "CAP_AUDIT_WRITE",
)

# Every capability in kernel order (linux/capability.h), for privileged containers and add: [ALL].
ALL_CAPABILITIES = (
    "CAP_CHOWN", "CAP_DAC_OVERRIDE", "CAP_DAC_READ_SEARCH", "CAP_FOWNER", "CAP_FSETID", "CAP_KILL",
    "CAP_SETGID", "CAP_SETUID", "CAP_SETPCAP", "CAP_LINUX_IMMUTABLE", "CAP_NET_BIND_SERVICE",
    "CAP_NET_BROADCAST", "CAP_NET_ADMIN", "CAP_NET_RAW", "CAP_IPC_LOCK", "CAP_IPC_OWNER", "CAP_SYS_MODULE",
    "CAP_SYS_RAWIO", "CAP_SYS_CHROOT", "CAP_SYS_PTRACE", "CAP_SYS_PACCT", "CAP_SYS_ADMIN", "CAP_SYS_BOOT",
    "CAP_SYS_NICE", "CAP_SYS_RESOURCE", "CAP_SYS_TIME", "CAP_SYS_TTY_CONFIG", "CAP_MKNOD", "CAP_LEASE",
    "CAP_AUDIT_WRITE", "CAP_AUDIT_CONTROL", "CAP_SETFCAP", "CAP_MAC_OVERRIDE", "CAP_MAC_ADMIN", "CAP_SYSLOG",
    "CAP_WAKE_ALARM", "CAP_BLOCK_SUSPEND", "CAP_AUDIT_READ", "CAP_PERFMON", "CAP_BPF", "CAP_CHECKPOINT_RESTORE",
)  # fmt: skip

# containerd's default masked and read-only paths (unprivileged containers only).
MASKED_PATHS = (
    "/proc/acpi", "/proc/asound", "/proc/kcore", "/proc/keys", "/proc/latency_stats", "/proc/timer_list",
    "/proc/timer_stats", "/proc/sched_debug", "/proc/scsi", "/sys/firmware", "/sys/devices/virtual/powercap",
)  # fmt: skip
READONLY_PATHS = ("/proc/bus", "/proc/fs", "/proc/irq", "/proc/sys", "/proc/sysrq-trigger")

# kubelet's cm constants (pkg/kubelet/cm/helpers_linux.go, pkg/kubelet/qos/policy.go).
MIN_SHARES = 2
SHARES_PER_CPU = 1024
QUOTA_PERIOD = 100_000
MIN_QUOTA_PERIOD = 1000
GUARANTEED_OOM_SCORE_ADJ = -997
BEST_EFFORT_OOM_SCORE_ADJ = 1000

DEFAULT_PATH = "/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin"
PTS_OPTIONS = ("nosuid", "noexec", "newinstance", "ptmxmode=0666", "mode=0620", "gid=5")


# ---------------------------------------------------------------------------------- $(VAR) expansion


def expand(text: str, lookup: Callable[[str], str | None]) -> str:
    """Kubernetes' ``$(VAR)`` expansion (third_party/forked/golang/expansion): ``$(NAME)`` becomes the
    value when NAME is defined and stays verbatim when not; ``$$`` is an escaped ``$``; an unclosed
    ``$(`` and a ``$`` before anything else stay as written."""
    out: list[str] = []
    i, n = 0, len(text)
    while i < n:
        ch = text[i]
        if ch != "$" or i + 1 >= n:
            out.append(ch)
            i += 1
            continue
        nxt = text[i + 1]
        if nxt == "$":
            out.append("$")
            i += 2
        elif nxt == "(":
            close = text.find(")", i + 2)
            if close < 0:
                out.append("$(")
                i += 2
                continue
            name = text[i + 2 : close]
            value = lookup(name)
            out.append(value if value is not None else f"$({name})")
            i = close + 1
        else:
            out.append("$" + nxt)
            i += 2
    return "".join(out)


def container_env(env: list[dict[str, Any]], service_env: Mapping[str, str] | None = None) -> list[tuple[str, str]]:
    """The container's own variables in order, each value expanded against the service variables and
    the variables defined before it (kubelet's makeEnvironmentVariables). ``env`` items carry resolved
    ``value`` strings (valueFrom is the caller's)."""
    defined: dict[str, str] = dict(service_env or {})
    out: dict[str, str] = {}
    for item in env:
        name = item["name"]
        value = expand(str(item.get("value") or ""), defined.get)
        defined[name] = value
        out[name] = value
    for name, value in (service_env or {}).items():
        out.setdefault(name, value)
    return list(out.items())


def merge_env(image_env: list[str], ours: list[tuple[str, str]]) -> list[str]:
    """Image variables first, ours replacing same-named ones in place and the rest appended (containerd's
    WithEnv); a PATH is always present."""
    order: list[str] = []
    values: dict[str, str] = {}
    for item in image_env:
        name, _, value = item.partition("=")
        if name not in values:
            order.append(name)
        values[name] = value
    for name, value in ours:
        if name not in values:
            order.append(name)
        values[name] = value
    if "PATH" not in values:
        order.insert(0, "PATH")
        values["PATH"] = DEFAULT_PATH
    return [f"{name}={values[name]}" for name in order]


def process_args(
    container: Mapping[str, Any], image_config: Mapping[str, Any], env: list[tuple[str, str]]
) -> list[str]:
    """Kubernetes' command/args against the image's Entrypoint/Cmd: a command replaces both (args or
    nothing follow it); args alone replace Cmd after the Entrypoint; then ``$(VAR)`` expansion with the
    container's variables."""
    command = list(container.get("command") or [])
    args = list(container.get("args") or [])
    entrypoint = list(image_config.get("Entrypoint") or [])
    cmd = list(image_config.get("Cmd") or [])
    if command:
        argv = command + args
    elif args:
        argv = entrypoint + args
    else:
        argv = entrypoint + cmd
    lookup = dict(env).get
    return [expand(a, lookup) for a in argv]


# ---------------------------------------------------------------------------------- users


@dataclass
class UserDB:
    """/etc/passwd and /etc/group of the image's root filesystem (names are the runtime's to resolve)."""

    passwd: dict[str, tuple[int, int]] = field(default_factory=dict)  # name -> (uid, gid)
    groups: dict[str, int] = field(default_factory=dict)

    @classmethod
    def from_rootfs(cls, rootfs: Path | None) -> UserDB:
        db = cls()
        if rootfs is None:
            return db
        for line in _read_lines(resolve_in_root(rootfs, "etc/passwd", follow_last=True)):
            parts = line.split(":")
            if len(parts) >= 4 and parts[2].isdigit() and parts[3].isdigit():
                db.passwd[parts[0]] = (int(parts[2]), int(parts[3]))
        for line in _read_lines(resolve_in_root(rootfs, "etc/group", follow_last=True)):
            parts = line.split(":")
            if len(parts) >= 3 and parts[2].isdigit():
                db.groups[parts[0]] = int(parts[2])
        return db

    def primary_gid(self, uid: int) -> int:
        return next((gid for u, gid in self.passwd.values() if u == uid), 0)


def _read_lines(path: Path) -> list[str]:
    try:
        return path.read_text(errors="replace").splitlines()
    except (OSError, LayerError):
        return []


class UserError(ValueError):
    """The image's User names a user or group its /etc/passwd or /etc/group does not have."""


def resolve_user(security: Mapping[str, Any], image_user: str, users: UserDB) -> tuple[int, int]:
    """(uid, gid): runAsUser/runAsGroup win over the image's ``User`` (uid, name, uid:gid, name:group);
    a uid without a group gets its primary group from /etc/passwd, else 0."""
    uid: int | None = security.get("runAsUser")
    gid: int | None = security.get("runAsGroup")
    if uid is None and image_user:
        user, _, group = image_user.partition(":")
        if user.isdigit():
            uid = int(user)
        elif user in users.passwd:
            uid, primary = users.passwd[user]
            gid = gid if gid is not None else (None if group else primary)
        else:
            raise UserError(f"unable to find user {user}: no matching entries in passwd file")
        if group and gid is None:
            if group.isdigit():
                gid = int(group)
            elif group in users.groups:
                gid = users.groups[group]
            else:
                raise UserError(f"unable to find group {group}: no matching entries in group file")
    uid = uid or 0
    if gid is None:
        gid = users.primary_gid(uid)
    return uid, gid


# ---------------------------------------------------------------------------------- capabilities


def _cap(name: str) -> str:
    name = name.upper()
    return name if name.startswith("CAP_") else f"CAP_{name}"


def current_capabilities(status: Path = Path("/proc/self/status")) -> tuple[str, ...]:
    """The capabilities this process holds (CapEff), in kernel order: what containerd gives a privileged
    container (``cap.Current()``), since runc cannot grant one outside the runtime's own bounding set
    (a node that is itself a container often lacks some) and fails with EPERM."""
    try:
        line = next(x for x in status.read_text().splitlines() if x.startswith("CapEff:"))
        mask = int(line.split(":", 1)[1], 16)
    except (OSError, StopIteration, ValueError):
        return ALL_CAPABILITIES
    return tuple(name for bit, name in enumerate(ALL_CAPABILITIES) if mask >> bit & 1)


def capabilities(security: Mapping[str, Any], available: tuple[str, ...] = ALL_CAPABILITIES) -> list[str]:
    """containerd's rules: privileged = all ``available`` (the runtime's own); add ALL = the same; drop
    ALL = none; then the named adds and drops (drops win)."""
    if security.get("privileged"):
        return list(available)
    caps = security.get("capabilities") or {}
    add = [c.upper() for c in caps.get("add") or []]
    drop = [c.upper() for c in caps.get("drop") or []]
    current = list(available) if "ALL" in add else list(DEFAULT_CAPABILITIES)
    if "ALL" in drop:
        current = []
    for name in add:
        if name != "ALL" and _cap(name) not in current:
            current.append(_cap(name))
    dropped = {_cap(name) for name in drop if name != "ALL"}
    return [c for c in current if c not in dropped]


# ---------------------------------------------------------------------------------- resources


def _quantity(value: Any) -> Quantity | None:
    if value is None:
        return None
    return value if isinstance(value, Quantity) else Quantity.parse(str(value))


def milli_cpu_to_shares(milli: int) -> int:
    """kubelet's MilliCPUToShares: 1024 shares per cpu, at least 2 (BestEffort gets 2)."""
    if milli == 0:
        return MIN_SHARES
    return max(MIN_SHARES, milli * SHARES_PER_CPU // 1000)


def milli_cpu_to_quota(milli: int, period: int = QUOTA_PERIOD) -> int:
    """kubelet's MilliCPUToQuota: 0 = no limit; otherwise at least 1 ms per period."""
    if milli == 0:
        return 0
    return max(MIN_QUOTA_PERIOD, milli * period // 1000)


def linux_resources(container: Mapping[str, Any], period: int = QUOTA_PERIOD) -> dict[str, Any]:
    """cpu shares from the request, CFS quota from the limit, memory limit in bytes; a missing request
    with a limit uses the limit (the API server defaults it, callers may not have)."""
    resources = container.get("resources") or {}
    requests, limits = resources.get("requests") or {}, resources.get("limits") or {}
    cpu_limit = _quantity(limits.get("cpu"))
    cpu_request = _quantity(requests.get("cpu")) or cpu_limit
    out: dict[str, Any] = {"cpu": {"shares": milli_cpu_to_shares(cpu_request.milli_value() if cpu_request else 0)}}
    quota = milli_cpu_to_quota(cpu_limit.milli_value() if cpu_limit else 0, period)
    if quota:
        out["cpu"].update(quota=quota, period=period)
    memory = _quantity(limits.get("memory"))
    if memory is not None and memory.value() > 0:
        out["memory"] = {"limit": memory.value()}
    return out


def oom_score_adj(qos_class: str, container: Mapping[str, Any], memory_capacity: int, critical: bool = False) -> int:
    """kubelet's GetContainerOOMScoreAdjust."""
    if critical or qos_class == "Guaranteed":
        return GUARANTEED_OOM_SCORE_ADJ
    if qos_class == "BestEffort":
        return BEST_EFFORT_OOM_SCORE_ADJ
    requests = (container.get("resources") or {}).get("requests") or {}
    memory = _quantity(requests.get("memory"))
    request = memory.value() if memory else 0
    adj = 1000 - (1000 * request) // memory_capacity if memory_capacity > 0 else 1000
    if adj < 1000 + GUARANTEED_OOM_SCORE_ADJ:
        return 1000 + GUARANTEED_OOM_SCORE_ADJ
    if adj == BEST_EFFORT_OOM_SCORE_ADJ:
        return adj - 1
    return int(adj)


# ---------------------------------------------------------------------------------- the spec


@dataclass
class BindMount:
    """A host path the caller prepared (volume, /etc/hosts, resolv.conf, termination-log)."""

    container_path: str
    host_path: str
    read_only: bool = False
    propagation: str = "rprivate"  # rprivate (None), rslave (HostToContainer), rshared (Bidirectional)


@dataclass
class SandboxNamespaces:
    """Paths of the pod sandbox's namespaces to join; None = the host's (hostNetwork, hostIPC)."""

    network: str | None = None
    ipc: str | None = None
    uts: str | None = None


@dataclass
class ContainerConfig:
    """Everything spec building needs beyond the container and image dicts."""

    container: dict[str, Any]
    image_config: dict[str, Any]
    rootfs: str
    cgroups_path: str
    namespaces: SandboxNamespaces
    hostname: str = ""
    env: list[dict[str, Any]] = field(default_factory=list)  # resolved container env (name/value)
    service_env: dict[str, str] = field(default_factory=dict)
    mounts: list[BindMount] = field(default_factory=list)
    pod_security: dict[str, Any] = field(default_factory=dict)
    qos_class: str = "BestEffort"
    memory_capacity: int = 0
    critical: bool = False
    users: UserDB = field(default_factory=UserDB)
    rlimits: tuple[dict[str, Any], ...] = ()  # none: inherit the runtime's, as containerd does
    # what privileged and add: [ALL] mean on this node (the runtime's own capabilities)
    available_capabilities: tuple[str, ...] = field(default_factory=current_capabilities)
    annotations: dict[str, str] = field(default_factory=dict)


def effective_security(pod_security: Mapping[str, Any], container: Mapping[str, Any]) -> dict[str, Any]:
    """The container's securityContext over the pod's (runAsUser, runAsGroup, runAsNonRoot are shared)."""
    out = {k: pod_security[k] for k in ("runAsUser", "runAsGroup", "runAsNonRoot") if k in pod_security}
    out.update(container.get("securityContext") or {})
    return out


class NonRootError(ValueError):
    """runAsNonRoot is set but the container would run as root, or its image user cannot be checked."""


def image_uid(image_user: str) -> tuple[int | None, str]:
    """(uid, username) from the image's ``User`` as the CRI reports it: the part before ``:``, numeric
    or a name; no user at all is root."""
    user = image_user.partition(":")[0]
    if not user:
        return 0, ""
    return (int(user), "") if user.isdigit() else (None, user)


def verify_run_as_non_root(pod_security: Mapping[str, Any], container: Mapping[str, Any], image_user: str,
                           pod: str) -> None:
    """The kubelet's verifyRunAsNonRoot before creating a container (``pod`` is ``name_namespace(uid)``);
    raises NonRootError, which the kubelet reports as CreateContainerConfigError."""
    security = effective_security(pod_security, container)
    if not security.get("runAsNonRoot"):
        return
    name = container.get("name", "")
    if security.get("runAsUser") is not None:
        if security["runAsUser"] == 0:
            raise NonRootError(f'container\'s runAsUser breaks non-root policy (pod: "{pod}", container: {name})')
        return
    uid, username = image_uid(image_user)
    if uid == 0:
        raise NonRootError(f'container has runAsNonRoot and image will run as root (pod: "{pod}", container: {name})')
    if uid is None:
        raise NonRootError(f"container has runAsNonRoot and image has non-numeric user ({username}), cannot verify "
                           f'user is non-root (pod: "{pod}", container: {name})')


def _mount(destination: str, kind: str, source: str, *options: str) -> dict[str, Any]:
    return {"destination": destination, "type": kind, "source": source, "options": list(options)}


def default_mounts(privileged: bool) -> list[dict[str, Any]]:
    """runc's and containerd's standard mounts; /sys and the cgroup tree read-only unless privileged."""
    ro = () if privileged else ("ro",)
    nosuid = ("nosuid", "noexec", "nodev")
    return [
        _mount("/proc", "proc", "proc", *nosuid),
        _mount("/dev", "tmpfs", "tmpfs", "nosuid", "strictatime", "mode=755", "size=65536k"),
        _mount("/dev/pts", "devpts", "devpts", *PTS_OPTIONS),
        _mount("/dev/shm", "tmpfs", "shm", *nosuid, "mode=1777", "size=65536k"),
        _mount("/dev/mqueue", "mqueue", "mqueue", *nosuid),
        _mount("/sys", "sysfs", "sysfs", *nosuid, *ro),
        _mount("/sys/fs/cgroup", "cgroup", "cgroup", *nosuid, "relatime", *ro),
    ]


def bind_mount(mount: BindMount) -> dict[str, Any]:
    options = ["rbind", mount.propagation, "ro" if mount.read_only else "rw"]
    return {"destination": mount.container_path, "type": "bind", "source": mount.host_path, "options": options}


def build_spec(cfg: ContainerConfig) -> dict[str, Any]:
    """The config.json for runc (OCI runtime spec 1.0.2)."""
    container, image = cfg.container, cfg.image_config
    security = effective_security(cfg.pod_security, container)
    privileged = bool(security.get("privileged"))
    ours = container_env(cfg.env, cfg.service_env)
    uid, gid = resolve_user(security, str(image.get("User") or ""), cfg.users)
    extra_gids = sorted(
        {*cfg.pod_security.get("supplementalGroups", []), *filter(None, [cfg.pod_security.get("fsGroup")])}
    )
    caps = capabilities(security, cfg.available_capabilities)
    tty = bool(container.get("tty"))
    process: dict[str, Any] = {
        "terminal": False,  # our shim holds pipes; a tty container is logged through its pipe too
        "user": {"uid": uid, "gid": gid, **({"additionalGids": extra_gids} if extra_gids else {})},
        "args": process_args(container, image, ours),
        "env": merge_env(list(image.get("Env") or []), ours + ([("TERM", "xterm")] if tty else [])),
        "cwd": container.get("workingDir") or image.get("WorkingDir") or "/",
        "capabilities": {"bounding": caps, "effective": caps, "permitted": caps},
        "noNewPrivileges": security.get("allowPrivilegeEscalation") is False and not privileged,
        "oomScoreAdj": oom_score_adj(cfg.qos_class, container, cfg.memory_capacity, cfg.critical),
    }
    if cfg.rlimits:
        process["rlimits"] = [dict(r) for r in cfg.rlimits]
    namespaces: list[dict[str, str]] = [{"type": "pid"}, {"type": "mount"}]
    ns = cfg.namespaces
    for kind, path in (("network", ns.network), ("ipc", ns.ipc), ("uts", ns.uts)):
        if path:
            namespaces.append({"type": kind, "path": path})
    mounts = default_mounts(privileged)
    taken = {m.container_path for m in cfg.mounts}
    mounts = [m for m in mounts if m["destination"] not in taken] + [bind_mount(m) for m in cfg.mounts]
    linux: dict[str, Any] = {
        "namespaces": namespaces,
        "cgroupsPath": cfg.cgroups_path,
        "resources": {
            "devices": [{"allow": privileged, "access": "rwm"}],
            **linux_resources(container),
        },
    }
    if not privileged:
        linux["maskedPaths"] = list(MASKED_PATHS)
        linux["readonlyPaths"] = list(READONLY_PATHS)
    return {
        "ociVersion": "1.0.2",
        "process": process,
        "root": {"path": cfg.rootfs, "readonly": bool(security.get("readOnlyRootFilesystem"))},
        "hostname": cfg.hostname if ns.uts else "",
        "mounts": mounts,
        "linux": linux,
        "annotations": dict(cfg.annotations),
    }
