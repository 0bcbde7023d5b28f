"""Every component's `python -m ... --config FILE`: a wrong config file is one clear message and exit 2."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import pytest

MODULES = ["kubeprov.scheduler", "kubeprov.controllers", "kubeprov.dns", "kubeprov.proxy", "kubeprov.kubelet"]


def run(module: str, config: Path) -> subprocess.CompletedProcess[str]:
    return subprocess.run([sys.executable, "-m", module, "--config", str(config)], capture_output=True, text=True,
                          timeout=60, check=False)


@pytest.mark.parametrize("module", MODULES)
def test_an_unknown_setting_names_the_file_and_the_known_ones(module: str, tmp_path: Path) -> None:
    config = tmp_path / "c.yaml"
    config.write_text("kubeconfig: /k\nnot_a_setting: 1\n")
    out = run(module, config)
    assert out.returncode == 2
    assert f"error: {config}: unknown settings not_a_setting (known settings: " in out.stderr
    assert "Traceback" not in out.stderr


@pytest.mark.parametrize("module", MODULES)
def test_a_missing_file_is_reported_not_raised(module: str, tmp_path: Path) -> None:
    out = run(module, tmp_path / "absent.yaml")
    assert out.returncode == 2
    assert "error: cannot read" in out.stderr and "absent.yaml" in out.stderr
    assert "Traceback" not in out.stderr


@pytest.mark.parametrize("module", MODULES)
def test_a_config_without_kubeconfig_is_refused(module: str, tmp_path: Path) -> None:
    config = tmp_path / "c.yaml"
    config.write_text("log_level: info\n")
    out = run(module, config)
    assert out.returncode == 2
    assert out.stderr.strip() == f"error: {config}: kubeconfig is required"


@pytest.mark.parametrize("module", MODULES)
def test_a_kubeconfig_that_does_not_exist_is_one_sentence(module: str, tmp_path: Path) -> None:
    config = tmp_path / "c.yaml"
    config.write_text(f"kubeconfig: {tmp_path}/absent.conf\n")
    out = run(module, config)
    assert out.returncode == 2
    assert out.stderr.startswith(f"error: {config}: cannot use kubeconfig {tmp_path}/absent.conf: ")
    assert "Traceback" not in out.stderr


def test_a_wrongly_typed_setting_is_a_message(tmp_path: Path) -> None:
    config = tmp_path / "c.yaml"
    config.write_text("kubeconfig: /k\nhealth_port: lots\n")
    out = run("kubeprov.controllers", config)
    assert out.returncode == 2
    assert "health_port lots out of range" in out.stderr and "Traceback" not in out.stderr


def test_the_api_server_names_a_missing_required_setting(tmp_path: Path) -> None:
    config = tmp_path / "c.yaml"
    config.write_text("port: 6443\n")
    out = run("kubeprov.apiserver", config)
    assert out.returncode == 2
    assert out.stderr.strip() == f"error: {config}: etcd_endpoints is required"


async def test_the_health_server_answers_each_check_and_picks_a_free_port() -> None:
    import aiohttp

    from kubeprov.component import HealthServer

    state = {"ready": "informers not synced"}
    server = HealthServer("127.0.0.1", 0, healthy=lambda: None, ready=lambda: state["ready"],
                          metrics=lambda: "up 1\n")
    await server.start()
    try:
        assert server.port > 0
        base = f"http://127.0.0.1:{server.port}"
        async with aiohttp.ClientSession() as session:
            async with session.get(f"{base}/healthz") as r:
                assert (r.status, await r.text()) == (200, "ok")
            async with session.get(f"{base}/readyz") as r:
                assert (r.status, await r.text()) == (500, "informers not synced")
            state["ready"] = None
            async with session.get(f"{base}/readyz") as r:
                assert r.status == 200
            async with session.get(f"{base}/metrics") as r:
                assert (await r.text(), r.content_type) == ("up 1\n", "text/plain")
    finally:
        await server.stop()
