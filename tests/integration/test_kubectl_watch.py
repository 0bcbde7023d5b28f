"""kubectl get --watch: the event stream kubectl prints as objects are created, changed and deleted.

kubectl runs in the background; each test first waits for the initial list (objects existing
before the watch show up as ADDED), so every later change is guaranteed to reach the watch.
"""

from __future__ import annotations

import subprocess
import threading
import time
from collections.abc import Callable, Iterator

import pytest

from tests.integration.apiserver_fixture import ApiServerForTest

pytestmark = [pytest.mark.integration, pytest.mark.timeout(60)]


def ok(result: subprocess.CompletedProcess[str]) -> str:
    assert result.returncode == 0, (f"kubectl exited {result.returncode}\nstdout: {result.stdout}\n"
                                    f"stderr: {result.stderr}")
    return result.stdout


class BackgroundKubectl:
    """A long-running kubectl whose stdout lines are collected as they arrive."""

    def __init__(self, apiserver: ApiServerForTest, *args: str) -> None:
        cmd = ["kubectl", "--kubeconfig", str(apiserver.kubeconfig), *args]
        self.proc = subprocess.Popen(cmd, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True, bufsize=1,
                                     env={"HOME": str(apiserver.root), "PATH": "/usr/bin:/bin"})
        self.lines: list[str] = []
        self._lock = threading.Lock()
        self._reader = threading.Thread(target=self._read, daemon=True)
        self._reader.start()

    def _read(self) -> None:
        assert self.proc.stdout is not None
        for line in self.proc.stdout:
            with self._lock:
                self.lines.append(line.rstrip("\n"))

    def snapshot(self) -> list[str]:
        with self._lock:
            return list(self.lines)

    def wait_for(self, predicate: Callable[[list[str]], bool], timeout: float = 15.0) -> list[str]:
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            lines = self.snapshot()
            if predicate(lines):
                return lines
            if self.proc.poll() is not None:
                break
            time.sleep(0.05)
        stderr = self.stop()
        raise AssertionError(f"timed out; kubectl printed {self.snapshot()!r}; stderr {stderr!r}")

    def stop(self) -> str:
        if self.proc.poll() is None:
            self.proc.terminate()
        try:
            _, stderr = self.proc.communicate(timeout=5)
        except subprocess.TimeoutExpired:
            self.proc.kill()
            _, stderr = self.proc.communicate()
        self._reader.join(2)
        return stderr or ""


@pytest.fixture
def background(apiserver: ApiServerForTest) -> Iterator[Callable[..., BackgroundKubectl]]:
    started: list[BackgroundKubectl] = []

    def start(*args: str) -> BackgroundKubectl:
        proc = BackgroundKubectl(apiserver, *args)
        started.append(proc)
        return proc

    yield start
    for proc in started:
        proc.stop()


def events(lines: list[str]) -> list[tuple[str, str]]:
    """(EVENT, NAME) pairs from a watch table printed with --output-watch-events."""
    pairs = []
    for line in lines:
        parts = line.split()
        if len(parts) >= 2 and parts[0] in ("ADDED", "MODIFIED", "DELETED", "BOOKMARK", "ERROR"):
            pairs.append((parts[0], parts[1]))
    return pairs


def test_watch_prints_added_modified_deleted(apiserver: ApiServerForTest, background: Callable) -> None:
    ns = apiserver.namespace("watch")
    ok(apiserver.kubectl("create", "configmap", "w1", "-n", ns, "--from-literal=a=1"))
    watch = background("get", "configmaps", "w1", "-n", ns, "--watch", "--output-watch-events")
    lines = watch.wait_for(lambda ls: ("ADDED", "w1") in events(ls))
    assert lines[0].split() == ["EVENT", "NAME", "DATA", "AGE"]
    ok(apiserver.kubectl("patch", "configmap", "w1", "-n", ns, "--type=merge", "-p", '{"data":{"b":"2"}}'))
    watch.wait_for(lambda ls: ("MODIFIED", "w1") in events(ls))
    ok(apiserver.kubectl("delete", "configmap", "w1", "-n", ns))
    lines = watch.wait_for(lambda ls: ("DELETED", "w1") in events(ls))
    watch.stop()
    assert events(lines) == [("ADDED", "w1"), ("MODIFIED", "w1"), ("DELETED", "w1")]
    modified = next(line.split() for line in lines if line.startswith("MODIFIED"))
    assert modified[2] == "2", "the MODIFIED row shows the new DATA count"


def test_watch_sees_objects_created_after_it_started(apiserver: ApiServerForTest, background: Callable) -> None:
    ns = apiserver.namespace("watch")
    ok(apiserver.kubectl("create", "configmap", "first", "-n", ns))
    watch = background("get", "configmaps", "-n", ns, "--watch", "--output-watch-events")
    watch.wait_for(lambda ls: ("ADDED", "first") in events(ls))
    ok(apiserver.kubectl("create", "configmap", "second", "-n", ns))
    ok(apiserver.kubectl("label", "configmap", "second", "-n", ns, "x=y"))
    lines = watch.wait_for(lambda ls: ("MODIFIED", "second") in events(ls))
    assert events(lines) == [("ADDED", "first"), ("ADDED", "second"), ("MODIFIED", "second")]


def test_watch_with_name_output_prints_resource_names(apiserver: ApiServerForTest, background: Callable) -> None:
    ns = apiserver.namespace("watch")
    ok(apiserver.kubectl("create", "configmap", "first", "-n", ns))
    watch = background("get", "configmaps", "-n", ns, "--watch", "-o", "name")
    watch.wait_for(lambda ls: "configmap/first" in ls)
    ok(apiserver.kubectl("create", "configmap", "second", "-n", ns))
    lines = watch.wait_for(lambda ls: "configmap/second" in ls)
    assert lines == ["configmap/first", "configmap/second"]


def test_watch_with_label_selector_filters_and_reports_leaving_objects(apiserver: ApiServerForTest,
                                                                      background: Callable) -> None:
    ns = apiserver.namespace("watch")
    ok(apiserver.kubectl("create", "configmap", "keep", "-n", ns))
    ok(apiserver.kubectl("label", "configmap", "keep", "-n", ns, "app=x"))
    watch = background("get", "configmaps", "-n", ns, "-l", "app=x", "--watch", "--output-watch-events")
    watch.wait_for(lambda ls: ("ADDED", "keep") in events(ls))
    ok(apiserver.kubectl("create", "configmap", "skip", "-n", ns))
    ok(apiserver.kubectl("label", "configmap", "skip", "-n", ns, "app=y"))
    ok(apiserver.kubectl("label", "configmap", "keep", "-n", ns, "app=y", "--overwrite"))
    lines = watch.wait_for(lambda ls: ("DELETED", "keep") in events(ls))
    assert events(lines) == [("ADDED", "keep"), ("DELETED", "keep")], \
        "an object whose labels stop matching the selector leaves the watch as DELETED"


def test_watch_deployments_prints_deployment_columns(apiserver: ApiServerForTest, background: Callable) -> None:
    ns = apiserver.namespace("watch")
    ok(apiserver.kubectl("create", "deployment", "web", "-n", ns, "--image=nginx:1.27", "--replicas=1"))
    watch = background("get", "deployments", "-n", ns, "--watch", "--output-watch-events")
    watch.wait_for(lambda ls: ("ADDED", "web") in events(ls))
    ok(apiserver.kubectl("scale", "deployment", "web", "-n", ns, "--replicas=3"))
    lines = watch.wait_for(lambda ls: ("MODIFIED", "web") in events(ls))
    assert lines[0].split() == ["EVENT", "NAME", "READY", "UP-TO-DATE", "AVAILABLE", "AGE"]
    modified = next(line.split() for line in lines if line.startswith("MODIFIED"))
    assert modified[:3] == ["MODIFIED", "web", "0/3"]
