"""--register-with-taints: a control-plane kubelet creates its Node already tainted; bad taints are refused."""

from __future__ import annotations

import asyncio
from pathlib import Path
from typing import Any

import pytest

from kubeprov.errors import KubeprovError
from kubeprov.kubelet.config import KubeletConfig
from kubeprov.kubelet.node_status import NodeStatus

CONTROL_PLANE = {"key": "node-role.kubernetes.io/control-plane", "effect": "NoSchedule"}


class RecordingClient:
    def __init__(self) -> None:
        self.created: list[dict[str, Any]] = []

    async def create(self, api_version: str, resource: str, body: dict[str, Any]) -> dict[str, Any]:
        self.created.append(body)
        return body


def register(tmp_path: Path, taints: list[dict[str, str]] | None) -> dict[str, Any]:
    client = RecordingClient()
    status = NodeStatus(client, "cp-1", node_ip="10.0.0.1", data_dir=tmp_path, labels={},  # type: ignore[arg-type]
                        limits_problem="", taints=taints)
    asyncio.run(status.register())
    return client.created[0]


def test_a_kubelet_with_taints_creates_its_node_tainted(tmp_path: Path) -> None:
    assert register(tmp_path, [CONTROL_PLANE])["spec"] == {"taints": [CONTROL_PLANE]}


def test_a_kubelet_without_taints_creates_an_untainted_node(tmp_path: Path) -> None:
    assert register(tmp_path, None)["spec"] == {}


def test_the_config_carries_taints() -> None:
    config = KubeletConfig.from_dict({"register_with_taints": [CONTROL_PLANE]})
    assert config.register_with_taints == [CONTROL_PLANE]


@pytest.mark.parametrize("taint", [{"key": "x", "effect": "Sometimes"}, {"effect": "NoSchedule"}, "x=y"])
def test_a_taint_without_key_or_known_effect_is_refused(taint: Any) -> None:
    with pytest.raises(KubeprovError, match="register_with_taints entry"):
        KubeletConfig.from_dict({"register_with_taints": [taint]})
