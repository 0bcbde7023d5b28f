"""Pure parts of lifecycle hooks and probes: handler messages, probe request headers, startup thresholds."""

from __future__ import annotations

import asyncio

from kubeprov.kubelet.hooks import run_handler
from kubeprov.kubelet.probes import Exec, Prober, request_headers

POD = {"metadata": {"name": "p", "namespace": "ns", "uid": "u1"}}


def exits(code: int, output: bytes) -> Exec:
    async def exec_(argv: list[str], timeout: float) -> tuple[int, bytes]:
        return code, output
    return exec_


def test_a_failing_exec_hook_reports_the_command_exit_code_and_output() -> None:
    exec_ = (exits(2, b"bad"))
    message = asyncio.run(run_handler({"exec": {"command": ["sh", "-c", "x"]}}, {"name": "c"}, POD, "", exec_))
    assert message == ('Exec lifecycle hook ([sh -c x]) for Container "c" in Pod "p_ns(u1)" failed - error: '
                       "command 'sh -c x' exited with 2: bad, message: \"bad\"")


def test_a_succeeding_exec_hook_and_a_zero_sleep_report_nothing() -> None:
    exec_ = (exits(0, b""))
    assert asyncio.run(run_handler({"exec": {"command": ["true"]}}, {"name": "c"}, POD, "", exec_)) is None
    assert asyncio.run(run_handler({"sleep": {"seconds": 0}}, {"name": "c"}, POD, "", exec_)) is None


def test_an_http_hook_with_nothing_listening_fails_naming_its_path() -> None:
    exec_ = (exits(0, b""))
    message = asyncio.run(run_handler({"httpGet": {"port": 9, "path": "/x"}}, {"name": "c"}, POD, "127.0.0.1",
                                      exec_))
    assert message is not None and message.startswith('HTTP lifecycle hook (/x) for Container "c" in Pod "p_ns(u1)"')


def test_probe_headers_let_the_probe_replace_host_and_keep_the_other_defaults() -> None:
    headers = request_headers("10.0.0.5", 80, [{"name": "host", "value": "example.test"},
                                               {"name": "X-Token", "value": "t"}])
    assert headers == [("User-Agent", "kube-probe/1.32"), ("Accept", "*/*"), ("host", "example.test"),
                       ("X-Token", "t")]


def test_a_startup_prober_fails_for_good_only_after_failure_threshold_failures() -> None:
    prober = Prober.for_container({"failureThreshold": 3, "periodSeconds": 1}, False, now=0.0)
    prober.record(False, 1.0)
    prober.record(False, 2.0)
    assert not prober.failed_for_good()
    prober.record(False, 3.0)
    assert prober.failed_for_good()


def test_a_startup_prober_succeeds_on_its_first_success() -> None:
    prober = Prober.for_container({"failureThreshold": 3}, False, now=0.0)
    prober.record(False, 1.0)
    assert prober.record(True, 2.0) and prober.result and not prober.failed_for_good()
