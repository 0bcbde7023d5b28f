"""The base image local machines boot: Debian from the host's own mirror, every package the install roles
need pre-installed (machines have no way out to a mirror), customised to boot as a container.

Built once per content key under the image cache and shared by every cluster: debootstrap takes over a
minute, so a machine must never wait for one unless the package lists or the customisation changed.
"""

from __future__ import annotations

import fcntl
import hashlib
import os
import subprocess
import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path

from kubeprov.errors import KubeprovError
from kubeprov.providers.base import Progress
from kubeprov.providers.local_mounts import mounts_under, remove_tree, unmount_tree

SUITE = "bookworm"
#: debootstrap --include: what a machine needs to boot, be reached and be configured by Ansible
BASE_PACKAGES: tuple[str, ...] = ("systemd", "systemd-sysv", "dbus", "openssh-server", "python3", "iproute2", "sudo")
#: the package layer: what the install roles and the kubelet use on a machine
LAYER_PACKAGES: tuple[str, ...] = (
    "python3-venv", "runc", "containernetworking-plugins", "iptables", "nftables", "etcd-server", "etcd-client",
    "haproxy", "docker-registry", "busybox-static", "curl", "ca-certificates", "kmod", "procps", "jq",
)  # fmt: skip
#: every package a machine has; the install roles may rely on these
IMAGE_PACKAGES: tuple[str, ...] = BASE_PACKAGES + LAYER_PACKAGES
#: bump whenever ``customise`` changes what it writes, so cached images are rebuilt
CUSTOMISATION_VERSION = 1

ENV_IMAGE_CACHE = "KUBEPROV_IMAGE_CACHE"
DEFAULT_IMAGE_CACHE = Path("/var/cache/kubeprov/images")
HOST_SOURCES_LIST = Path("/etc/apt/sources.list")
HOST_SOURCES_DIR = Path("/etc/apt/sources.list.d")
BUILD_PREFIX = ".build-"
ROOTFS = "rootfs"
# Debian's own units for software our units run under other names; they must not start on their own.
DISABLED_UNITS = ("etcd.service", "haproxy.service", "docker-registry.service", "apt-daily.timer",
                  "apt-daily-upgrade.timer", "e2scrub_all.timer", "fstrim.timer")  # fmt: skip
RETRIES = 3


@dataclass(frozen=True)
class AptSource:
    """One ``deb`` line of the host's apt configuration."""

    uri: str
    suite: str
    components: tuple[str, ...]

    def line(self) -> str:
        return f"deb {self.uri} {self.suite} {' '.join(self.components)}"


def parse_one_line_sources(text: str) -> list[AptSource]:
    """``deb [options] URI SUITE COMPONENT...`` lines (sources.list format); deb-src and comments skipped."""
    sources = []
    for raw in text.splitlines():
        words = raw.split("#", 1)[0].split()
        if not words or words[0] != "deb":
            continue
        words = words[1:]
        if words and words[0].startswith("["):
            while words and not words[0].endswith("]"):
                words = words[1:]
            words = words[1:]
        if len(words) >= 2:
            sources.append(AptSource(words[0].rstrip("/"), words[1], tuple(words[2:])))
    return sources


def parse_deb822_sources(text: str) -> list[AptSource]:
    """Stanzas of a ``.sources`` file (deb822 format); ``Enabled: no`` and non-``deb`` stanzas skipped."""
    sources = []
    for stanza in _stanzas(text):
        if "deb" not in stanza.get("types", "").split() or stanza.get("enabled", "yes").lower() == "no":
            continue
        components = tuple(stanza.get("components", "").split())
        for uri in stanza.get("uris", "").split():
            for suite in stanza.get("suites", "").split():
                sources.append(AptSource(uri.rstrip("/"), suite, components))
    return sources


def _stanzas(text: str) -> Iterator[dict[str, str]]:
    fields: dict[str, str] = {}
    key = None
    for raw in text.splitlines() + [""]:
        if raw.startswith("#"):
            continue
        if not raw.strip():
            if fields:
                yield fields
            fields, key = {}, None
        elif raw[0] in " \t" and key is not None:
            fields[key] += " " + raw.strip()
        elif ":" in raw:
            key, value = raw.split(":", 1)
            key = key.strip().lower()
            fields[key] = value.strip()


def host_apt_sources(sources_list: Path = HOST_SOURCES_LIST, sources_dir: Path = HOST_SOURCES_DIR) -> list[AptSource]:
    """Every enabled ``deb`` source of this host, in apt's reading order."""
    found = []
    if sources_list.is_file():
        found += parse_one_line_sources(sources_list.read_text())
    if sources_dir.is_dir():
        for path in sorted(sources_dir.iterdir()):
            if path.name.endswith(".list"):
                found += parse_one_line_sources(path.read_text())
            elif path.name.endswith(".sources"):
                found += parse_deb822_sources(path.read_text())
    return found


def image_sources(sources: list[AptSource], suite: str = SUITE) -> list[AptSource]:
    """The host's sources for ``suite`` and its updates/security suites: the only ones valid in the image."""
    wanted = {suite, f"{suite}-updates", f"{suite}-security"}
    return [s for s in sources if s.suite in wanted]


def debootstrap_mirror(sources: list[AptSource], suite: str = SUITE) -> str:
    """The mirror serving ``suite`` itself, which debootstrap needs."""
    for source in sources:
        if source.suite == suite:
            return source.uri
    raise KubeprovError(
        f"no Debian mirror for {suite} found in this computer's apt sources",
        f"add a 'deb <mirror> {suite} main' source under /etc/apt, then run the command again",
    )


def image_key(
    suite: str = SUITE,
    base: tuple[str, ...] = BASE_PACKAGES,
    layer: tuple[str, ...] = LAYER_PACKAGES,
    version: int = CUSTOMISATION_VERSION,
) -> str:
    """A name for the image's content: a different suite, package list or customisation is another image."""
    text = "\n".join([suite, " ".join(sorted(base)), " ".join(sorted(layer)), str(version)])
    return f"{suite}-{hashlib.sha256(text.encode()).hexdigest()[:16]}"


def image_cache_root() -> Path:
    env = os.environ.get(ENV_IMAGE_CACHE)
    return Path(env) if env else DEFAULT_IMAGE_CACHE


def build_leftovers(root: Path) -> list[Path]:
    """Half-built images of an interrupted run (only safe to remove while holding the build lock)."""
    if not root.is_dir():
        return []
    return sorted(p for p in root.iterdir() if p.name.startswith(BUILD_PREFIX) and p.is_dir())


@dataclass(frozen=True)
class BaseImage:
    key: str
    path: Path

    @property
    def rootfs(self) -> Path:
        return self.path / ROOTFS


class ImageCache:
    """Images by key under one root; building happens in a temp dir renamed into place when complete."""

    def __init__(self, root: Path | None = None) -> None:
        self.root = root if root is not None else image_cache_root()

    def image(self, key: str | None = None) -> BaseImage:
        key = key or image_key()
        return BaseImage(key, self.root / key)

    def ensure(self, progress: Progress) -> tuple[BaseImage, bool]:
        """The image, built first if missing; returns it and whether it was built now."""
        image = self.image()
        if image.rootfs.is_dir():
            return image, False
        with self._build_lock(progress):
            if image.rootfs.is_dir():  # another run built it while we waited
                return image, False
            for leftover in build_leftovers(self.root):
                progress(f"removing half-built image {leftover.name}")
                remove_tree(leftover)
            build = self.root / f"{BUILD_PREFIX}{image.key}-{os.getpid()}"
            try:
                build_image(build / ROOTFS, progress)
                os.rename(build, image.path)
            finally:
                if build.exists():
                    remove_tree(build)
        return image, True

    def remove(self, key: str) -> None:
        with self._build_lock(lambda _line: None):
            remove_tree(self.root / key)

    @contextmanager
    def _build_lock(self, progress: Progress) -> Iterator[None]:
        self.root.mkdir(parents=True, exist_ok=True)
        fd = os.open(self.root / ".lock", os.O_RDWR | os.O_CREAT, 0o600)
        try:
            try:
                fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
            except BlockingIOError:
                progress("waiting for another kubeprov run building the base image")
                fcntl.flock(fd, fcntl.LOCK_EX)
            yield
        finally:
            os.close(fd)


def build_image(rootfs: Path, progress: Progress) -> None:
    """debootstrap, package layer, customisation: the whole image in ``rootfs``."""
    sources = image_sources(host_apt_sources())
    mirror = debootstrap_mirror(sources)
    started = time.monotonic()
    progress(f"building the {SUITE} base image from {mirror} (about two minutes, once)")
    _retry(lambda: _debootstrap(rootfs, mirror), "debootstrap", lambda: _reset_dir(rootfs))
    progress(f"base system ready after {time.monotonic() - started:.0f}s; installing the package layer")
    (rootfs / "etc/apt/sources.list").write_text("".join(s.line() + "\n" for s in sources))
    for extra in (rootfs / "etc/apt/sources.list.d").glob("*"):
        extra.unlink()
    _install_layer(rootfs)
    customise(rootfs)
    progress(f"base image built in {time.monotonic() - started:.0f}s")


def _reset_dir(path: Path) -> None:
    remove_tree(path)
    path.mkdir(parents=True)


def _retry(action: Callable[[], None], what: str, cleanup: Callable[[], None] | None = None) -> None:
    """Transient mirror errors are common enough that one failed download must not fail a whole run."""
    for attempt in range(1, RETRIES + 1):
        try:
            action()
            return
        except subprocess.CalledProcessError as error:
            if attempt == RETRIES:
                output = (error.stdout or b"").decode(errors="replace")[-1500:]
                raise KubeprovError(
                    f"{what} failed {RETRIES} times while building the machine base image:\n{output}",
                    "check that this computer reaches its Debian mirror (apt-get update), then run again",
                ) from None
            if cleanup is not None:
                cleanup()
            time.sleep(3 * attempt)


def _run(argv: list[str]) -> None:
    subprocess.run(argv, check=True, stdin=subprocess.DEVNULL, stdout=subprocess.PIPE, stderr=subprocess.STDOUT)


def _debootstrap(rootfs: Path, mirror: str) -> None:
    rootfs.mkdir(parents=True, exist_ok=True)
    try:
        _run(["debootstrap", "--variant=minbase", f"--include={','.join(BASE_PACKAGES)}", SUITE, str(rootfs), mirror])
    finally:
        unmount_tree(rootfs)  # debootstrap leaves proc/sys mounted when it fails half-way


def _install_layer(rootfs: Path) -> None:
    policy = rootfs / "usr/sbin/policy-rc.d"
    policy.write_text("#!/bin/sh\n# no service starts while the image is built\nexit 101\n")
    policy.chmod(0o755)
    (rootfs / "proc").mkdir(exist_ok=True)
    subprocess.run(["mount", "-t", "proc", "proc", str(rootfs / "proc")], check=True)
    try:
        apt = ["chroot", str(rootfs), "/usr/bin/env", "DEBIAN_FRONTEND=noninteractive", "apt-get", "-q", "-y"]
        _retry(lambda: _run(apt + ["update"]), "apt-get update")
        _retry(lambda: _run(apt + ["install", "--no-install-recommends", *LAYER_PACKAGES]), "apt-get install")
        _run(apt + ["clean"])
    finally:
        unmount_tree(rootfs)
        policy.unlink(missing_ok=True)
    if mounts_under(rootfs):
        raise KubeprovError(f"could not unmount {rootfs}/proc after building the image", "unmount it by hand")


CGROUP_RW_UNIT = """\
[Unit]
Description=Writable cgroup v1 controllers, so runc in this machine can set pod limits
# systemd-nspawn mounts them read-only; only a per-mount bind remount works (the superblock is the host's)
DefaultDependencies=no
Before=sysinit.target
ConditionPathIsReadWrite=!/sys/fs/cgroup/memory

[Service]
Type=oneshot
RemainAfterExit=yes
ExecStart=/bin/sh -c 'mount -o remount,rw /sys/fs/cgroup || exit 1; \
for c in /sys/fs/cgroup/*; do [ -L "$c" ] && continue; \
[ "$(findmnt -rno FSTYPE "$c")" = cgroup ] || continue; mount -o remount,bind,rw "$c" || exit 1; done'

[Install]
WantedBy=sysinit.target
"""

SSH_HOSTKEYS_DROPIN = """\
# Host keys are made at each machine's first boot, so machines from one image do not share them.
[Service]
ExecStartPre=
ExecStartPre=/usr/bin/ssh-keygen -A
ExecStartPre=/usr/sbin/sshd -t
"""

# Nothing listens on the machine's loopback at port 53 unless a role installs a resolver: lookups of
# outside names fail at once instead of leaking to, or waiting for, a server off the machine.
RESOLV_CONF = """\
# kubeprov: no DNS server off this machine
nameserver 127.0.0.1
options timeout:1 attempts:1
"""


def customise(rootfs: Path) -> None:
    """What makes the debootstrapped tree a machine image (bump CUSTOMISATION_VERSION on any change)."""
    system = rootfs / "etc/systemd/system"
    _enable(rootfs, "systemd-networkd.service", "multi-user.target.wants")
    _enable(rootfs, "systemd-networkd.socket", "sockets.target.wants")
    for wants in system.glob("*.wants"):
        for unit in DISABLED_UNITS:
            (wants / unit).unlink(missing_ok=True)
        (wants / "getty@tty1.service").unlink(missing_ok=True)
    (rootfs / "etc/machine-id").write_text("")
    (rootfs / "var/lib/dbus/machine-id").unlink(missing_ok=True)
    for key in (rootfs / "etc/ssh").glob("ssh_host_*"):
        key.unlink()
    dropin = system / "ssh.service.d"
    dropin.mkdir(parents=True, exist_ok=True)
    (dropin / "10-kubeprov-hostkeys.conf").write_text(SSH_HOSTKEYS_DROPIN)
    resolv = rootfs / "etc/resolv.conf"
    resolv.unlink(missing_ok=True)
    resolv.write_text(RESOLV_CONF)
    (system / "kubeprov-cgroup-rw.service").write_text(CGROUP_RW_UNIT)
    _enable(rootfs, "kubeprov-cgroup-rw.service", "sysinit.target.wants", unit_dir="/etc/systemd/system")
    (rootfs / "var/lib/kubeprov").mkdir(parents=True, exist_ok=True)


def _enable(rootfs: Path, unit: str, wants: str, unit_dir: str = "/lib/systemd/system") -> None:
    link = rootfs / "etc/systemd/system" / wants / unit
    link.parent.mkdir(parents=True, exist_ok=True)
    link.unlink(missing_ok=True)
    link.symlink_to(f"{unit_dir}/{unit}")
