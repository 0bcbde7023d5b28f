"""The local provider's pure parts: identities derived from addresses, the files and command lines it
writes, image keys, the host's apt mirror, mount and cgroup parsing, and leftovers of interrupted runs."""

from __future__ import annotations

import ipaddress
import os
from pathlib import Path

import pytest

from kubeprov.errors import KubeprovError
from kubeprov.providers import image, local, local_cgroups, local_mounts, local_net, nspawn, sshkeys
from kubeprov.stack.loader import parse_stack
from kubeprov.state.store import StateStore

SUBNET = ipaddress.IPv4Network("10.216.0.0/24")

STACK = """\
apiVersion: kubeprov.dev/v1alpha1
kind: Stack
name: unitmach
provider:
  type: local
controlPlane:
  count: 3
workers:
  - name: workers
    count: 2
network:
  machineSubnet: 10.216.0.0/24
"""


def test_mac_is_locally_administered_unicast_and_encodes_the_address():
    assert local_net.mac_for("10.216.0.10") == "02:6b:70:d8:00:0a"
    first = int(local_net.mac_for("10.216.0.10").split(":")[0], 16)
    assert first & 0b10 and not first & 0b1


def test_different_addresses_get_different_macs():
    macs = {local_net.mac_for(str(a)) for a in SUBNET.hosts()}
    assert len(macs) == SUBNET.num_addresses - 2


def test_networkd_file_sets_address_prefix_and_mac_without_a_gateway():
    text = local_net.networkd_file("10.216.0.11", SUBNET)
    assert "Name=host0" in text
    assert "Address=10.216.0.11/24" in text
    assert "MACAddress=02:6b:70:d8:00:0b" in text
    assert "Gateway" not in text and "DHCP" not in text


def test_hosts_file_names_the_machine_on_loopback():
    assert "127.0.1.1\tunitmach-cp-1\n" in local_net.hosts_file("unitmach-cp-1")


def test_nspawn_argv_has_the_flags_runc_inside_needs():
    argv = nspawn.nspawn_argv("m-1", Path("/s/m-1/root"), "kp-x", Path("/s/m-1/data"))
    assert argv[0] == "systemd-nspawn"
    for flag in ("--boot", "--register=no", "--keep-unit", "--network-bridge=kp-x", "--system-call-filter=@keyring",
                 "--machine=m-1", "--directory=/s/m-1/root", "--resolv-conf=off"):  # fmt: skip
        assert flag in argv
    assert f"--bind=/s/m-1/data:{nspawn.DATA_MOUNT}" in argv


def test_image_key_changes_with_the_package_lists_suite_and_customisation():
    key = image.image_key()
    assert image.image_key() == key
    assert image.image_key(layer=image.LAYER_PACKAGES + ("strace",)) != key
    assert image.image_key(base=image.BASE_PACKAGES[:-1]) != key
    assert image.image_key(suite="trixie") != key
    assert image.image_key(version=image.CUSTOMISATION_VERSION + 1) != key


def test_image_key_ignores_package_order():
    assert image.image_key(layer=tuple(reversed(image.LAYER_PACKAGES))) == image.image_key()


def test_image_packages_include_what_the_roles_rely_on():
    for package in ("openssh-server", "python3", "python3-venv", "runc", "etcd-server", "haproxy", "nftables"):
        assert package in image.IMAGE_PACKAGES


DEB822 = """\
Types: deb
# http://snapshot.debian.org/archive/debian/20250520T000000Z
URIs: http://deb.example.org/debian/
Suites: bookworm bookworm-updates
Components: main contrib
Signed-By: /usr/share/keyrings/debian-archive-keyring.gpg

Types: deb-src
URIs: http://src.example.org/debian
Suites: bookworm
Components: main

Types: deb
URIs: http://off.example.org/debian
Suites: bookworm
Components: main
Enabled: no

Types: deb
URIs: http://deb.example.org/debian-security
Suites: bookworm-security
Components: main
"""


def test_deb822_sources_keep_enabled_deb_stanzas_one_entry_per_suite():
    sources = image.parse_deb822_sources(DEB822)
    assert [(s.uri, s.suite) for s in sources] == [
        ("http://deb.example.org/debian", "bookworm"),
        ("http://deb.example.org/debian", "bookworm-updates"),
        ("http://deb.example.org/debian-security", "bookworm-security"),
    ]
    assert sources[0].components == ("main", "contrib")


def test_one_line_sources_skip_comments_deb_src_and_options():
    text = (
        "# comment\ndeb-src http://src.example.org/debian bookworm main\n"
        "deb [arch=amd64 signed-by=/k.gpg] http://m.example.org/debian bookworm main # trailing\n"
    )
    sources = image.parse_one_line_sources(text)
    assert [(s.uri, s.suite, s.components) for s in sources] == [("http://m.example.org/debian", "bookworm", ("main",))]


def test_host_sources_read_list_and_sources_files_but_not_disabled_ones(tmp_path):
    (tmp_path / "debian.sources").write_text(DEB822)
    (tmp_path / "extra.list").write_text("deb http://x.example.org/debian trixie main\n")
    (tmp_path / "cloud.list.disabled-by-farm").write_text("deb http://y.example.org/apt bookworm main\n")
    sources = image.host_apt_sources(tmp_path / "missing.list", tmp_path)
    assert {s.uri for s in sources} == {
        "http://deb.example.org/debian", "http://deb.example.org/debian-security", "http://x.example.org/debian",
    }  # fmt: skip


def test_image_sources_keep_only_the_suite_its_updates_and_security():
    sources = image.parse_deb822_sources(DEB822) + image.parse_one_line_sources("deb http://x/debian trixie main")
    assert [s.suite for s in image.image_sources(sources)] == ["bookworm", "bookworm-updates", "bookworm-security"]
    assert image.image_sources(sources)[0].line() == "deb http://deb.example.org/debian bookworm main contrib"


def test_debootstrap_mirror_is_the_one_serving_the_suite_itself():
    sources = list(reversed(image.parse_deb822_sources(DEB822)))
    assert image.debootstrap_mirror(sources) == "http://deb.example.org/debian"


def test_missing_mirror_is_a_user_error_with_a_hint():
    with pytest.raises(KubeprovError) as caught:
        image.debootstrap_mirror(image.parse_one_line_sources("deb http://x/debian trixie main"))
    assert caught.value.hint and "bookworm" in caught.value.hint


def test_build_leftovers_are_the_temp_build_dirs_only(tmp_path):
    (tmp_path / ".build-bookworm-abc-123").mkdir()
    (tmp_path / image.image_key()).mkdir()
    (tmp_path / ".lock").write_text("")
    assert image.build_leftovers(tmp_path) == [tmp_path / ".build-bookworm-abc-123"]


def test_cached_image_is_used_without_building(tmp_path):
    cache = image.ImageCache(tmp_path)
    cache.image().rootfs.mkdir(parents=True)
    found, built = cache.ensure(lambda _line: None)
    assert (found.path, built) == (tmp_path / image.image_key(), False)


def test_image_cache_root_follows_the_environment(monkeypatch, tmp_path):
    monkeypatch.setenv(image.ENV_IMAGE_CACHE, str(tmp_path))
    assert image.ImageCache().root == tmp_path
    monkeypatch.delenv(image.ENV_IMAGE_CACHE)
    assert image.ImageCache().root == Path("/var/cache/kubeprov/images")


def test_customise_disables_debian_services_and_apt_timers_and_empties_machine_id(tmp_path):
    root = tmp_path
    wants = root / "etc/systemd/system/multi-user.target.wants"
    timers = root / "etc/systemd/system/timers.target.wants"
    for directory in (wants, timers, root / "etc/ssh", root / "var/lib/dbus"):
        directory.mkdir(parents=True)
    for unit in ("etcd.service", "haproxy.service", "docker-registry.service", "ssh.service"):
        (wants / unit).symlink_to(f"/lib/systemd/system/{unit}")
    (timers / "apt-daily.timer").symlink_to("/lib/systemd/system/apt-daily.timer")
    (root / "etc/machine-id").write_text("0123\n")
    (root / "etc/ssh/ssh_host_ed25519_key").write_text("secret")
    (root / "etc/resolv.conf").symlink_to("/run/somewhere/resolv.conf")
    image.customise(root)
    assert sorted(p.name for p in wants.iterdir()) == ["ssh.service", "systemd-networkd.service"]
    assert list(timers.iterdir()) == []
    assert (root / "etc/machine-id").read_text() == ""
    assert not list((root / "etc/ssh").glob("ssh_host_*"))
    resolv = (root / "etc/resolv.conf").read_text()
    assert [line.split()[1] for line in resolv.splitlines() if line.startswith("nameserver")] == ["127.0.0.1"]
    rw = root / "etc/systemd/system/sysinit.target.wants/kubeprov-cgroup-rw.service"
    assert "remount,bind,rw" in Path(root / "etc/systemd/system/kubeprov-cgroup-rw.service").read_text()
    assert os.readlink(rw) == "/etc/systemd/system/kubeprov-cgroup-rw.service"


MOUNTINFO = """\
22 1 254:0 / / rw,relatime - ext4 /dev/vda rw
40 22 0:50 / /s/m\\0401/root rw - overlay overlay rw,lowerdir=/img
41 40 0:51 / /s/m\\0401/root/proc rw - proc proc rw
42 22 0:52 / /s/m-10/root rw - overlay overlay rw
"""


def test_mounts_under_unescape_and_list_deepest_first():
    assert local_mounts.mounts_under(Path("/s/m 1"), MOUNTINFO) == ["/s/m 1/root/proc", "/s/m 1/root"]


def test_mounts_under_does_not_match_a_sibling_with_the_same_prefix():
    assert local_mounts.mounts_under(Path("/s/m-1"), MOUNTINFO) == []


def test_remove_tree_deletes_an_unmounted_tree(tmp_path):
    (tmp_path / "m/root/etc").mkdir(parents=True)
    local_mounts.remove_tree(tmp_path / "m")
    assert not (tmp_path / "m").exists()


CGROUP_MOUNTINFO = """\
31 23 0:28 / /sys/fs/cgroup rw,relatime - tmpfs tmpfs rw,mode=755
32 31 0:29 / /sys/fs/cgroup/cpu,cpuacct rw,relatime - cgroup cgroup rw,cpu,cpuacct
35 31 0:32 / /sys/fs/cgroup/memory rw,relatime - cgroup cgroup rw,memory
40 31 0:37 / /sys/fs/cgroup/systemd rw,relatime - cgroup cgroup rw,xattr,name=systemd
41 31 0:38 / /sys/fs/cgroup/unified rw,relatime - cgroup2 cgroup2 rw
50 22 0:32 /nested /mnt/memory-again rw,relatime - cgroup cgroup rw,memory
"""
PROC_CGROUP = "9:name=systemd:/\n4:memory:/job/7\n2:cpu,cpuacct:/\n0::/\n"


def test_machine_cgroups_are_below_our_own_cgroup_in_every_hierarchy():
    dirs = local_cgroups.machine_cgroup_dirs("kubeprov-m", CGROUP_MOUNTINFO, PROC_CGROUP)
    assert dirs == [
        Path("/sys/fs/cgroup/cpu,cpuacct/kubeprov-m"),
        Path("/sys/fs/cgroup/memory/job/7/kubeprov-m"),
        Path("/sys/fs/cgroup/systemd/kubeprov-m"),
        Path("/sys/fs/cgroup/unified/kubeprov-m"),
    ]


@pytest.mark.parametrize(
    ("made", "running", "mounted", "cgroups", "kind"),
    [
        (False, False, False, False, "half-made"),
        (False, False, True, True, "half-made"),
        (True, False, True, False, "stale"),
        (True, False, False, True, "stale"),
        (True, False, False, False, None),
        (True, True, True, True, None),
    ],
)
def test_leftover_kind_of_a_machine_folder(made, running, mounted, cgroups, kind):
    assert local.leftover_kind(made, running, mounted, cgroups) == kind


def test_overlay_options_use_the_image_as_lower_and_the_machine_folder_for_the_rest():
    files = local.MachineFiles(Path("/s/machines/m"))
    assert local.overlay_options(Path("/img/rootfs"), files) == (
        "lowerdir=/img/rootfs,upperdir=/s/machines/m/upper,workdir=/s/machines/m/work"
    )


def test_ssh_key_is_made_once_private_and_in_openssh_format(tmp_path):
    key, new = sshkeys.ensure_key(tmp_path / "ssh", "kubeprov-test")
    assert new and key.stat().st_mode & 0o777 == 0o600
    assert key.read_text().startswith("-----BEGIN OPENSSH PRIVATE KEY-----")
    assert sshkeys.public_key_line(key).startswith("ssh-ed25519 ")
    again, new_again = sshkeys.ensure_key(tmp_path / "ssh", "kubeprov-test")
    assert (again, new_again) == (key, False)


def _provider(tmp_path: Path) -> local.LocalProvider:
    stack = parse_stack(STACK, "unitmach.yaml")
    return local.LocalProvider(stack, StateStore(tmp_path).cluster("unitmach"), image.ImageCache(tmp_path / "img"))


def test_provider_uses_the_default_bridge_name_and_no_machines_before_provision(tmp_path):
    provider = _provider(tmp_path)
    assert provider.bridge == "kp-unitmach"
    assert provider.machines() == []


def test_plan_lists_image_bridge_and_every_machine_before_anything_exists(tmp_path):
    lines = _provider(tmp_path).plan()
    assert lines[0].startswith("build the base image")
    assert "create bridge kp-unitmach (10.216.0.1/24)" in lines
    assert "create machine unitmach-lb at 10.216.0.2" in lines
    assert sum(line.startswith("create machine") for line in lines) == 6


def test_not_root_is_a_user_error_saying_so(tmp_path, monkeypatch):
    monkeypatch.setattr(os, "geteuid", lambda: 1000)
    provider = _provider(tmp_path)
    for action in (lambda: provider.provision(print), lambda: provider.destroy(print)):
        with pytest.raises(KubeprovError) as caught:
            action()
        assert "root" in caught.value.message and caught.value.hint


def test_power_on_an_unknown_machine_is_a_user_error(tmp_path, monkeypatch):
    monkeypatch.setattr(local, "require_root", lambda: None)
    with pytest.raises(KubeprovError, match="no machine named"):
        _provider(tmp_path).power_on("nope", print)
