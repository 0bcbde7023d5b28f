"""The OCI runtime spec built from a Kubernetes container and an image config."""

from __future__ import annotations

from pathlib import Path

import pytest

from kubeprov.kubelet.runtime.spec import (
    ALL_CAPABILITIES,
    DEFAULT_CAPABILITIES,
    BindMount,
    ContainerConfig,
    SandboxNamespaces,
    UserDB,
    UserError,
    build_spec,
    capabilities,
    container_env,
    expand,
    linux_resources,
    merge_env,
    milli_cpu_to_quota,
    milli_cpu_to_shares,
    oom_score_adj,
    process_args,
    resolve_user,
)

IMAGE = {"Entrypoint": ["/entry"], "Cmd": ["serve", "--port=80"], "Env": ["PATH=/bin", "A=image"], "WorkingDir": "/app"}


def spec_for(container: dict, **kw) -> dict:
    cfg = ContainerConfig(
        container={"name": "c", **container},
        image_config=kw.pop("image", IMAGE),
        rootfs="/r",
        cgroups_path="/kubeprov/p/c",
        namespaces=kw.pop("namespaces", SandboxNamespaces("/run/n/net", "/run/n/ipc", "/run/n/uts")),
        hostname="pod-a",
        **kw,
    )
    return build_spec(cfg)


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        ("$(A)", "1"),
        ("x$(A)y$(B)", "x1y2"),
        ("$(MISSING)", "$(MISSING)"),
        ("$$(A)", "$(A)"),
        ("$$", "$"),
        ("$(A", "$(A"),
        ("$x", "$x"),
        ("end$", "end$"),
        ("$()", "$()"),
    ],
)
def test_expand_follows_kubernetes_rules(text: str, expected: str) -> None:
    assert expand(text, {"A": "1", "B": "2"}.get) == expected


def test_env_values_expand_earlier_variables_only() -> None:
    env = container_env(
        [{"name": "X", "value": "$(Y)-a"}, {"name": "Y", "value": "y"}, {"name": "Z", "value": "$(Y)!"}]
    )
    assert env == [("X", "$(Y)-a"), ("Y", "y"), ("Z", "y!")]


def test_service_env_is_visible_to_expansion_and_overridden_by_container_env() -> None:
    env = container_env([{"name": "U", "value": "$(SVC_HOST)"}, {"name": "SVC_PORT", "value": "9"}],
                        {"SVC_HOST": "10.0.0.1", "SVC_PORT": "80"})  # fmt: skip
    assert dict(env) == {"U": "10.0.0.1", "SVC_PORT": "9", "SVC_HOST": "10.0.0.1"}


def test_merge_env_keeps_image_order_and_replaces_in_place() -> None:
    assert merge_env(["PATH=/bin", "A=image", "B=b"], [("A", "ours"), ("C", "c")]) == [
        "PATH=/bin",
        "A=ours",
        "B=b",
        "C=c",
    ]


def test_merge_env_adds_a_default_path() -> None:
    assert merge_env([], [])[0].startswith("PATH=/usr/local/sbin:")


@pytest.mark.parametrize(
    ("container", "expected"),
    [
        ({}, ["/entry", "serve", "--port=80"]),
        ({"args": ["x"]}, ["/entry", "x"]),
        ({"command": ["sh"]}, ["sh"]),
        ({"command": ["sh"], "args": ["-c", "echo $(A)"]}, ["sh", "-c", "echo ours"]),
    ],
)
def test_command_and_args_against_entrypoint_and_cmd(container: dict, expected: list[str]) -> None:
    assert process_args(container, IMAGE, [("A", "ours")]) == expected


def test_image_env_is_not_used_for_command_expansion() -> None:
    assert process_args({"command": ["echo", "$(A)"]}, IMAGE, []) == ["echo", "$(A)"]


def test_spec_process_env_cwd_and_args() -> None:
    spec = spec_for({"command": ["sh", "-c", "$(G)"], "workingDir": "/w"}, env=[{"name": "G", "value": "hi"}])
    assert spec["process"]["args"] == ["sh", "-c", "hi"]
    assert spec["process"]["env"] == ["PATH=/bin", "A=image", "G=hi"]
    assert spec["process"]["cwd"] == "/w"
    assert spec_for({})["process"]["cwd"] == "/app"


def test_user_from_security_context_beats_image_user() -> None:
    users = UserDB({"nobody": (65534, 65534)}, {"nogroup": 65534})
    assert resolve_user({"runAsUser": 1000, "runAsGroup": 7}, "nobody", users) == (1000, 7)
    assert resolve_user({}, "nobody", users) == (65534, 65534)
    assert resolve_user({}, "5:nogroup", users) == (5, 65534)
    assert resolve_user({}, "", users) == (0, 0)
    assert resolve_user({"runAsUser": 65534}, "", users) == (65534, 65534)


def test_unknown_image_user_is_an_error() -> None:
    with pytest.raises(UserError, match="unable to find user ghost"):
        resolve_user({}, "ghost", UserDB())


def test_user_db_reads_the_rootfs(tmp_path: Path) -> None:
    (tmp_path / "etc").mkdir()
    (tmp_path / "etc/passwd").write_text("app:x:42:43::/:/bin/sh\n")
    (tmp_path / "etc/group").write_text("app:x:43:\n")
    assert resolve_user({}, "app", UserDB.from_rootfs(tmp_path)) == (42, 43)


def test_pod_security_context_applies_and_supplemental_groups_are_added() -> None:
    spec = spec_for({}, pod_security={"runAsUser": 9, "runAsGroup": 9, "supplementalGroups": [5], "fsGroup": 3})
    assert spec["process"]["user"] == {"uid": 9, "gid": 9, "additionalGids": [3, 5]}


def test_default_capabilities_with_add_and_drop() -> None:
    assert capabilities({}) == list(DEFAULT_CAPABILITIES)
    caps = capabilities({"capabilities": {"add": ["NET_ADMIN"], "drop": ["CAP_KILL", "net_raw"]}})
    assert "CAP_NET_ADMIN" in caps and "CAP_KILL" not in caps and "CAP_NET_RAW" not in caps


def test_drop_all_then_add_one() -> None:
    assert capabilities({"capabilities": {"drop": ["ALL"], "add": ["NET_BIND_SERVICE"]}}) == ["CAP_NET_BIND_SERVICE"]


def test_privileged_and_add_all_get_every_capability() -> None:
    assert capabilities({"privileged": True}) == list(ALL_CAPABILITIES)
    assert capabilities({"capabilities": {"add": ["ALL"]}}) == list(ALL_CAPABILITIES)


def test_privileged_spec_has_writable_sys_and_no_masked_paths() -> None:
    spec = spec_for({"securityContext": {"privileged": True}})
    sys_mount = next(m for m in spec["mounts"] if m["destination"] == "/sys")
    assert "ro" not in sys_mount["options"] and "maskedPaths" not in spec["linux"]
    assert spec["linux"]["resources"]["devices"] == [{"allow": True, "access": "rwm"}]
    assert "maskedPaths" in spec_for({})["linux"]


def test_readonly_rootfs_and_no_new_privileges() -> None:
    spec = spec_for({"securityContext": {"readOnlyRootFilesystem": True, "allowPrivilegeEscalation": False}})
    assert spec["root"] == {"path": "/r", "readonly": True} and spec["process"]["noNewPrivileges"] is True
    assert spec_for({})["process"]["noNewPrivileges"] is False


@pytest.mark.parametrize(("milli", "shares"), [(0, 2), (1, 2), (100, 102), (1000, 1024), (2500, 2560)])
def test_cpu_shares(milli: int, shares: int) -> None:
    assert milli_cpu_to_shares(milli) == shares


@pytest.mark.parametrize(("milli", "quota"), [(0, 0), (1, 1000), (250, 25000), (2000, 200000)])
def test_cpu_quota(milli: int, quota: int) -> None:
    assert milli_cpu_to_quota(milli) == quota


def test_resources_from_requests_and_limits() -> None:
    res = linux_resources({"resources": {"requests": {"cpu": "250m"}, "limits": {"cpu": "500m", "memory": "64Mi"}}})
    assert res == {"cpu": {"shares": 256, "quota": 50000, "period": 100000}, "memory": {"limit": 64 * 1024 * 1024}}


def test_cpu_limit_alone_sets_shares_too() -> None:
    assert linux_resources({"resources": {"limits": {"cpu": "1"}}})["cpu"]["shares"] == 1024


def test_best_effort_resources() -> None:
    assert linux_resources({}) == {"cpu": {"shares": 2}}


def test_oom_score_adj_per_qos_class() -> None:
    gi = 1024**3
    assert oom_score_adj("Guaranteed", {}, gi) == -997
    assert oom_score_adj("BestEffort", {}, gi) == 1000
    assert oom_score_adj("Burstable", {"resources": {"requests": {"memory": "512Mi"}}}, gi) == 500
    assert oom_score_adj("Burstable", {"resources": {"requests": {"memory": "1Gi"}}}, gi) == 3
    assert oom_score_adj("Burstable", {}, gi) == 999
    assert oom_score_adj("BestEffort", {}, gi, critical=True) == -997


def test_namespaces_join_the_sandbox_and_hostname_is_set() -> None:
    spec = spec_for({})
    assert spec["linux"]["namespaces"] == [
        {"type": "pid"},
        {"type": "mount"},
        {"type": "network", "path": "/run/n/net"},
        {"type": "ipc", "path": "/run/n/ipc"},
        {"type": "uts", "path": "/run/n/uts"},
    ]
    assert spec["hostname"] == "pod-a"


def test_host_network_uses_host_network_and_uts() -> None:
    spec = spec_for({}, namespaces=SandboxNamespaces(None, "/run/n/ipc", None))
    assert {n["type"] for n in spec["linux"]["namespaces"]} == {"pid", "mount", "ipc"}
    assert spec["hostname"] == ""


def test_mounts_have_the_defaults_and_the_callers_binds() -> None:
    spec = spec_for({}, mounts=[BindMount("/etc/hosts", "/var/p/hosts", read_only=True), BindMount("/data", "/v")])
    by_dest = {m["destination"]: m for m in spec["mounts"]}
    assert {"/proc", "/dev", "/dev/pts", "/dev/shm", "/dev/mqueue", "/sys", "/sys/fs/cgroup"} <= set(by_dest)
    assert "ro" in by_dest["/sys"]["options"] and "ro" in by_dest["/sys/fs/cgroup"]["options"]
    assert by_dest["/etc/hosts"] == {"destination": "/etc/hosts", "type": "bind", "source": "/var/p/hosts",
                                     "options": ["rbind", "rprivate", "ro"]}  # fmt: skip
    assert by_dest["/data"]["options"][-1] == "rw"


def test_caller_mount_replaces_a_default_one() -> None:
    spec = spec_for({}, mounts=[BindMount("/dev/shm", "/var/p/shm")])
    assert [m["type"] for m in spec["mounts"] if m["destination"] == "/dev/shm"] == ["bind"]


def test_cgroups_path_rlimits_and_oom_score() -> None:
    nofile = {"type": "RLIMIT_NOFILE", "hard": 4096, "soft": 4096}
    spec = spec_for({"resources": {"limits": {"memory": "1Gi", "cpu": "1"}}}, qos_class="Guaranteed", rlimits=(nofile,))
    assert spec["linux"]["cgroupsPath"] == "/kubeprov/p/c"
    assert spec["linux"]["resources"]["memory"] == {"limit": 1024**3}
    assert spec["process"]["oomScoreAdj"] == -997
    assert spec["process"]["rlimits"] == [nofile] and "rlimits" not in spec_for({})["process"]
