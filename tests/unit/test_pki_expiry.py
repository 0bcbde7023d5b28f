"""list_certificates and expiring: the inventory behind `certs check-expiration`."""

from __future__ import annotations

from dataclasses import replace
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest

from kubeprov.pki import CertInfo, NodeSpec, PkiSpec, expiring, generate_pki, list_certificates

NODE = NodeSpec("ex-cp-1", ("10.0.0.11",))
SPEC = PkiSpec(
    cluster_name="ex",
    cluster_domain="cluster.local",
    service_cidr="10.96.0.0/12",
    api_endpoint="https://10.0.0.11:6443",
    control_plane=(NODE,),
    etcd_members=(NODE,),
    nodes=(NODE,),
)
MONTH = timedelta(days=30)


def generated(root: Path, spec: PkiSpec) -> list[CertInfo]:
    generate_pki(spec, root / "pki", root / "kubeconfigs")
    return list_certificates(root / "pki", root / "kubeconfigs")


@pytest.fixture(scope="module")
def year(tmp_path_factory: pytest.TempPathFactory) -> list[CertInfo]:
    return generated(tmp_path_factory.mktemp("year"), SPEC)


@pytest.fixture(scope="module")
def day(tmp_path_factory: pytest.TempPathFactory) -> list[CertInfo]:
    return generated(tmp_path_factory.mktemp("day"), replace(SPEC, validity_days=1))


def by_name(infos: list[CertInfo]) -> dict[str, CertInfo]:
    return {i.name: i for i in infos}


def test_lists_cas_leaves_and_kubeconfig_client_certs(year: list[CertInfo]) -> None:
    infos = by_name(year)
    assert {
        "ca",
        "etcd/ca",
        "front-proxy-ca",
        "apiserver",
        "etcd/server-ex-cp-1",
        "kubeconfig/admin.conf",
    } <= set(infos)
    assert [i.kind for i in year] == sorted((i.kind for i in year), key=["ca", "leaf", "kubeconfig"].index)


def test_info_carries_subject_issuer_and_kind(year: list[CertInfo]) -> None:
    infos = by_name(year)
    assert (infos["etcd/ca"].kind, infos["etcd/ca"].is_ca) == ("ca", True)
    server = infos["etcd/server-ex-cp-1"]
    assert (server.kind, server.is_ca, server.subject, server.issuer) == (
        "leaf",
        False,
        "ex-cp-1",
        "kubeprov-ex-etcd-ca",
    )
    admin = infos["kubeconfig/admin.conf"]
    assert (admin.kind, admin.subject, admin.path.name) == ("kubeconfig", "kubernetes-admin", "admin.conf")


def test_not_after_is_aware_utc_and_residual_counts_from_now(year: list[CertInfo]) -> None:
    apiserver = by_name(year)["apiserver"]
    assert apiserver.not_after.tzinfo is not None and apiserver.not_after.utcoffset() == timedelta(0)
    assert timedelta(days=364) < apiserver.residual <= timedelta(days=365)


def test_one_day_certificates_are_flagged_within_a_month(day: list[CertInfo]) -> None:
    flagged = {i.name for i in expiring(day, MONTH)}
    assert flagged == {i.name for i in day if not i.is_ca}


def test_one_year_certificates_are_not_flagged_within_a_month(year: list[CertInfo]) -> None:
    assert expiring(year, MONTH) == []


def test_expiring_puts_the_soonest_first(day: list[CertInfo], year: list[CertInfo]) -> None:
    ends = [i.not_after for i in expiring([*year, *day], timedelta(days=4000))]
    assert ends == sorted(ends)


def test_now_moves_the_clock_for_residual(tmp_path: Path) -> None:
    generate_pki(SPEC, tmp_path / "pki", tmp_path / "kubeconfigs")
    later = datetime.now(UTC) + timedelta(days=400)
    apiserver = by_name(list_certificates(tmp_path / "pki", tmp_path / "kubeconfigs", now=later))["apiserver"]
    assert apiserver.expired and apiserver.residual < timedelta(0)


def test_missing_folders_give_an_empty_list(tmp_path: Path) -> None:
    assert list_certificates(tmp_path / "none", tmp_path / "none-either") == []
