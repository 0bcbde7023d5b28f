"""Eviction thresholds, node pressure conditions, status.images, image GC arithmetic and their config checks."""

from __future__ import annotations

import asyncio
from dataclasses import dataclass
from pathlib import Path

import pytest

from kubeprov.errors import KubeprovError
from kubeprov.kubelet.config import KubeletConfig
from kubeprov.kubelet.eviction import Observations, parse_thresholds, pressure, reserved
from kubeprov.kubelet.image_gc import ImageGC, ImageGCPolicy, bytes_to_free
from kubeprov.kubelet.images.service import GCResult
from kubeprov.kubelet.node_status import Machine, NodeStatus, capacity, cgroup_limits_problem, conditions, node_images

GI = 2**30
MACHINE = Machine(cpus=2, memory_bytes=8 * GI, memory_available=4 * GI, storage_bytes=100 * GI,
                  storage_available=50 * GI, pids_in_use=100, pid_max=32768, imagefs_bytes=10 * GI,
                  imagefs_available=1 * GI)


def test_thresholds_take_quantities_and_percentages() -> None:
    parsed = parse_thresholds({"memory.available": "100Mi", "nodefs.available": "10%"})
    assert parsed["memory.available"].limit(8 * GI) == 100 * 2**20
    assert parsed["nodefs.available"].limit(100 * GI) == 10 * GI


@pytest.mark.parametrize(("signal", "value", "words"), [
    ("memory.free", "1Gi", "unknown eviction signal"), ("memory.available", "lots", "invalid threshold"),
    ("nodefs.available", "120%", "between 0% and 100%"), ("nodefs.available", "-1Gi", "must not be negative")])
def test_bad_thresholds_are_refused_with_their_signal_named(signal: str, value: str, words: str) -> None:
    with pytest.raises(ValueError, match=words):
        parse_thresholds({signal: value})


def test_an_images_filesystem_below_its_threshold_is_disk_pressure() -> None:
    thresholds = parse_thresholds({"nodefs.available": "10%", "imagefs.available": "15%"})
    assert pressure(thresholds, MACHINE.observations()) == {
        "MemoryPressure": False, "DiskPressure": True, "PIDPressure": False}


def test_pressure_ignores_signals_it_cannot_observe() -> None:
    thresholds = parse_thresholds({"nodefs.inodesFree": "5%"})
    assert not pressure(thresholds, Observations({}))["DiskPressure"]


def test_allocatable_leaves_out_the_configured_thresholds() -> None:
    thresholds = parse_thresholds({"memory.available": "1Gi", "nodefs.available": "20%"})
    _, alloc = capacity(MACHINE, 110, thresholds)
    assert alloc["memory"] == f"{7 * GI // 1024}Ki"
    assert int(alloc["ephemeral-storage"]) == 80 * GI
    assert reserved(thresholds, "pid.available", 100) == 0


def test_the_ready_condition_carries_a_warning_note() -> None:
    ready = {c["type"]: c for c in conditions(MACHINE, [], ready_note="limits off")}["Ready"]
    assert (ready["status"], ready["message"]) == ("True", "kubelet is posting ready status. WARNING: limits off")


def test_node_status_tells_when_limits_are_not_enforced(tmp_path: Path) -> None:
    status = NodeStatus(None, "n1", node_ip="10.0.0.1", data_dir=tmp_path, labels={},  # type: ignore[arg-type]
                        limits_problem="cgroup hierarchy /x is not writable").status()
    ready = next(c for c in status["conditions"] if c["type"] == "Ready")
    assert ready["message"].endswith("cgroup hierarchy /x is not writable: cpu and memory limits are not enforced")


def test_cgroups_without_the_hierarchies_are_reported(tmp_path: Path) -> None:
    assert "is not writable" in cgroup_limits_problem(tmp_path / "absent")
    (tmp_path / "cgroup.controllers").write_text("cpuset io pids\n")
    assert cgroup_limits_problem(tmp_path) == "cgroup v2 controllers cpu, memory are not available"


@dataclass
class Record:
    name: str
    image_id: str
    repo_digest: str
    size: int


def test_status_images_group_names_by_image_biggest_first() -> None:
    records = [Record("r/a:1", "sha256:c1", "r/a@sha256:m1", 10), Record("r/a@sha256:m1", "sha256:c1",
                                                                          "r/a@sha256:m1", 10),
               Record("r/b:2", "sha256:c2", "r/b@sha256:m2", 30)]
    assert node_images(records) == [{"names": ["r/b@sha256:m2", "r/b:2"], "sizeBytes": 30},
                                    {"names": ["r/a@sha256:m1", "r/a:1"], "sizeBytes": 10}]
    assert len(node_images(records, limit=1)) == 1


def test_gc_frees_from_above_the_high_threshold_down_to_the_low_one() -> None:
    policy = ImageGCPolicy(high_percent=85, low_percent=80)
    assert bytes_to_free(84, 100, policy) == 0
    assert bytes_to_free(90, 100, policy) == 10


class FakeImages:
    def __init__(self, freed: int) -> None:
        self.freed = freed
        self.calls: list[set[str]] = []

    def garbage_collect(self, in_use: set[str], *args: object) -> GCResult:
        self.calls.append(in_use)
        return GCResult(["old"] if self.freed else [], self.freed)


def test_a_gc_pass_that_cannot_free_enough_warns_with_the_kubelets_message() -> None:
    warnings: list[tuple[str, str]] = []
    images = FakeImages(freed=3)

    async def in_use() -> set[str]:
        return {"busy"}

    gc = ImageGC(images, ImageGCPolicy(90, 50), in_use, lambda r, m: warnings.append((r, m)),  # type: ignore[arg-type]
                 usage=lambda: (95, 100))
    asyncio.run(gc.run_once())
    assert images.calls == [{"busy"}]
    assert warnings == [("FreeDiskSpaceFailed", "Failed to garbage collect required amount of images. "
                                                "Attempted to free 45 bytes, but only found 3 bytes eligible to free.")]


def test_no_gc_pass_below_the_high_threshold_or_when_disabled() -> None:
    images = FakeImages(freed=0)

    async def in_use() -> set[str]:
        return set()

    for policy, used in ((ImageGCPolicy(85, 80), 50), (ImageGCPolicy(100, 80), 100)):
        asyncio.run(ImageGC(images, policy, in_use, lambda r, m: None,  # type: ignore[arg-type]
                            usage=lambda used=used: (used, 100)).run_once())
    assert images.calls == []


@pytest.mark.parametrize(("settings", "words"), [
    ({"image_gc_high_threshold_percent": 70, "image_gc_low_threshold_percent": 80}, "image_gc_low_threshold"),
    ({"image_gc_high_threshold_percent": 101}, "image_gc_low_threshold"),
    ({"eviction_hard": {"memory.available": "plenty"}}, "eviction_hard: memory.available"),
    ({"sync_frequency": 0}, "sync_frequency")])
def test_bad_gc_and_eviction_settings_are_refused(settings: dict[str, object], words: str) -> None:
    with pytest.raises(KubeprovError, match=words):
        KubeletConfig.from_dict(settings)
