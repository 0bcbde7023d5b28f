"""securityContext rules that need no container: runAsNonRoot checks and the capabilities a privileged
container can get on this node."""

from __future__ import annotations

from pathlib import Path

import pytest

from kubeprov.kubelet.runtime.spec import (
    ALL_CAPABILITIES,
    NonRootError,
    capabilities,
    current_capabilities,
    image_uid,
    verify_run_as_non_root,
)

POD = "web_team(1234-abcd)"


def _check(pod_security: dict, container_security: dict | None = None, image_user: str = "") -> None:
    container = {"name": "app", **({"securityContext": container_security} if container_security else {})}
    verify_run_as_non_root(pod_security, container, image_user, POD)


def test_run_as_non_root_refuses_an_image_without_a_user() -> None:
    with pytest.raises(NonRootError) as err:
        _check({"runAsNonRoot": True})
    assert str(err.value) == f'container has runAsNonRoot and image will run as root (pod: "{POD}", container: app)'


def test_run_as_non_root_refuses_image_user_zero_with_a_group() -> None:
    with pytest.raises(NonRootError, match="image will run as root"):
        _check({}, {"runAsNonRoot": True}, "0:1000")


def test_run_as_non_root_accepts_a_numeric_non_root_image_user() -> None:
    _check({"runAsNonRoot": True}, image_user="1000:1000")


def test_run_as_non_root_cannot_verify_a_named_image_user() -> None:
    with pytest.raises(NonRootError) as err:
        _check({"runAsNonRoot": True}, image_user="nobody")
    assert str(err.value) == ('container has runAsNonRoot and image has non-numeric user (nobody), cannot verify '
                              f'user is non-root (pod: "{POD}", container: app)')


def test_a_non_root_run_as_user_satisfies_run_as_non_root_whatever_the_image_user() -> None:
    _check({"runAsNonRoot": True, "runAsUser": 1000}, image_user="root")


def test_run_as_user_zero_breaks_the_non_root_policy() -> None:
    with pytest.raises(NonRootError) as err:
        _check({"runAsNonRoot": True, "runAsUser": 1000}, {"runAsUser": 0})
    assert str(err.value) == f'container\'s runAsUser breaks non-root policy (pod: "{POD}", container: app)'


def test_the_container_can_switch_run_as_non_root_off() -> None:
    _check({"runAsNonRoot": True}, {"runAsNonRoot": False})


def test_image_uid_reads_the_user_part_of_the_image_user() -> None:
    assert [image_uid(u) for u in ("", "0", "1000:50", "app", "app:staff")] == [
        (0, ""), (0, ""), (1000, ""), (None, "app"), (None, "app")]


def test_current_capabilities_are_the_bits_of_cap_eff(tmp_path: Path) -> None:
    status = tmp_path / "status"
    status.write_text("Name:\tx\nCapInh:\t0000000000000000\nCapEff:\t0000000000003001\n")
    assert current_capabilities(status) == ("CAP_CHOWN", "CAP_NET_ADMIN", "CAP_NET_RAW")


def test_current_capabilities_without_a_status_file_are_all_known_ones(tmp_path: Path) -> None:
    assert current_capabilities(tmp_path / "missing") == ALL_CAPABILITIES


def test_privileged_and_add_all_get_only_the_available_capabilities() -> None:
    available = ("CAP_CHOWN", "CAP_NET_ADMIN")
    assert capabilities({"privileged": True}, available) == list(available)
    assert capabilities({"capabilities": {"add": ["ALL"], "drop": ["CHOWN"]}}, available) == ["CAP_NET_ADMIN"]
