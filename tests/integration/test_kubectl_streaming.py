"""The real kubectl's (and the official Python client's) exec, attach and port-forward through the session API
server to an in-process kubelet: the API server splices the upgraded connection, so the clients' own protocols
(websocket v5/v4.channel.k8s.io, SPDY/3.1 with v4.channel.k8s.io, SPDY-in-websocket and plain SPDY
port-forward, the native websocket port-forward) reach the kubelet's streaming code."""

from __future__ import annotations

import asyncio
import fcntl
import os
import re
import select
import struct
import subprocess
import termios
from collections.abc import AsyncIterator
from pathlib import Path
from typing import Any

import aiohttp
import pytest
from kubernetes.client import ApiClient as K8sApiClient
from kubernetes.client import Configuration, CoreV1Api
from kubernetes.config import load_kube_config
from kubernetes.stream import portforward, stream

from kubeprov.api.client import ApiClient
from tests.integration.apiserver_fixture import ApiServerForTest
from tests.integration.controller_env import eventually
from tests.integration.kubelet_env import BUSYBOX, WEB, Env
from tests.integration.test_kubelet_streaming import streaming_kubelet

pytestmark = [
    pytest.mark.integration,
    pytest.mark.timeout(120),
    pytest.mark.skipif(os.geteuid() != 0, reason="needs root: runc, mounts, namespaces and bridges"),
]


@pytest.fixture
async def env(api_client: ApiClient, oci_registry: Any, tmp_path: Path,
              apiserver: ApiServerForTest) -> AsyncIterator[Env]:
    # the Node's InternalIP is loopback, so the API server reaches this kubelet's server
    async with streaming_kubelet(api_client, oci_registry, tmp_path, node_ip="127.0.0.1",
                                 client_ca_file=str(apiserver.pki_dir / "ca.crt")) as environment:
        yield environment


async def running_pod(env: Env, name: str, image: str = BUSYBOX) -> None:
    command = {"command": ["sleep", "3600"]} if image == BUSYBOX else {}
    await env.create_pod(name, [{"name": "c", "image": image, **command}])

    async def running() -> bool:
        status = await env.container_status(name)
        return bool(status and "running" in status.get("state", {}))

    assert await eventually(running, timeout=60)


def kubectl_env(apiserver: ApiServerForTest, **extra: str) -> dict[str, str]:
    env = {k: v for k, v in os.environ.items() if k != "KUBECONFIG"}
    env["HOME"] = str(apiserver.root)
    env.update(extra)
    return env


async def kubectl(apiserver: ApiServerForTest, *args: str, input: str | None = None,
                  **extra_env: str) -> subprocess.CompletedProcess[str]:
    return await asyncio.to_thread(
        subprocess.run, ["kubectl", "--kubeconfig", str(apiserver.kubeconfig), *args], input=input,
        capture_output=True, text=True, timeout=60, env=kubectl_env(apiserver, **extra_env), check=False)


async def test_kubectl_exec_prints_output_and_exits_with_the_commands_code(
        apiserver: ApiServerForTest, env: Env) -> None:
    await running_pod(env, "ex")
    out = await kubectl(apiserver, "-n", env.ns, "exec", "ex", "--", "sh", "-c", "echo hi; echo oops >&2; exit 3")
    assert out.stdout == "hi\n"
    assert "oops" in out.stderr
    assert out.returncode == 3


async def test_kubectl_exec_i_passes_stdin_until_its_end(apiserver: ApiServerForTest, env: Env) -> None:
    await running_pod(env, "ex")
    out = await kubectl(apiserver, "-n", env.ns, "exec", "-i", "ex", "--", "cat", input="one\ntwo\n")
    assert out.returncode == 0, out.stderr
    assert out.stdout == "one\ntwo\n"


async def test_kubectl_exec_over_spdy_passes_stdin_output_and_exit_code(
        apiserver: ApiServerForTest, env: Env) -> None:
    await running_pod(env, "ex")
    out = await kubectl(apiserver, "-n", env.ns, "exec", "-i", "ex", "--", "sh", "-c", "cat; exit 4",
                        input="over spdy\n", KUBECTL_REMOTE_COMMAND_WEBSOCKETS="false")
    assert out.stdout == "over spdy\n"
    assert out.returncode == 4, out.stderr


@pytest.mark.parametrize("websockets", ["true", "false"])
async def test_kubectl_port_forward_reaches_the_pods_port(apiserver: ApiServerForTest, env: Env,
                                                          websockets: str) -> None:
    await running_pod(env, "web", WEB)
    proc = await asyncio.create_subprocess_exec(
        "kubectl", "--kubeconfig", str(apiserver.kubeconfig), "-n", env.ns, "port-forward", "pod/web",
        "--address", "127.0.0.1", ":8080", stdout=asyncio.subprocess.PIPE, stderr=asyncio.subprocess.PIPE,
        env=kubectl_env(apiserver, KUBECTL_PORT_FORWARD_WEBSOCKETS=websockets))
    try:
        assert proc.stdout is not None
        line = (await asyncio.wait_for(proc.stdout.readline(), 30)).decode()
        match = re.search(r"127\.0\.0\.1:(\d+) -> 8080", line)
        assert match, line
        async with aiohttp.ClientSession() as http:
            for _ in range(2):  # two connections over the same session
                async with http.get(f"http://127.0.0.1:{match.group(1)}/",
                                    timeout=aiohttp.ClientTimeout(total=30)) as resp:
                    body = await resp.text()
                assert resp.status == 200 and "web" in body
    finally:
        if proc.returncode is None:
            proc.terminate()
        await proc.wait()


async def test_kubectl_attach_i_feeds_a_stdin_once_container_until_its_input_ends(
        apiserver: ApiServerForTest, env: Env) -> None:
    await env.create_pod("at", [{"name": "c", "image": BUSYBOX, "stdin": True, "stdinOnce": True,
                                 "command": ["sh", "-c", 'while read l; do echo "echo:$l"; done; echo bye']}],
                         restartPolicy="Never")

    async def running() -> bool:
        status = await env.container_status("at")
        return bool(status and "running" in status.get("state", {}))

    assert await eventually(running, timeout=60)
    out = await kubectl(apiserver, "-n", env.ns, "attach", "-i", "at", input="one\ntwo\n")
    assert out.returncode == 0, out.stderr
    assert out.stdout.endswith("echo:one\necho:two\nbye\n")


@pytest.mark.parametrize("websockets", ["true", "false"])
async def test_kubectl_exec_delivers_a_large_output_whole(apiserver: ApiServerForTest, env: Env,
                                                          websockets: str) -> None:
    await running_pod(env, "ex")
    out = await kubectl(apiserver, "-n", env.ns, "exec", "ex", "--", "sh", "-c",
                        "head -c 3000000 /dev/zero | tr '\\0' x", KUBECTL_REMOTE_COMMAND_WEBSOCKETS=websockets)
    assert out.returncode == 0, out.stderr
    assert len(out.stdout) == 3000000 and set(out.stdout) == {"x"}


@pytest.mark.parametrize("websockets", ["true", "false"])
async def test_kubectl_exec_i_delivers_a_large_input_whole(apiserver: ApiServerForTest, env: Env,
                                                           websockets: str) -> None:
    await running_pod(env, "ex")
    out = await kubectl(apiserver, "-n", env.ns, "exec", "-i", "ex", "--", "wc", "-c", input="y" * 3000000,
                        KUBECTL_REMOTE_COMMAND_WEBSOCKETS=websockets)
    assert out.returncode == 0, out.stderr
    assert out.stdout.strip() == "3000000"


async def test_kubectl_exec_of_a_missing_executable_shows_the_runtimes_error(
        apiserver: ApiServerForTest, env: Env) -> None:
    await running_pod(env, "ex")
    out = await kubectl(apiserver, "-n", env.ns, "exec", "ex", "--", "no-such-command")
    assert out.returncode == 1
    assert out.stderr.startswith("error: Internal error occurred: error executing command in container: ")
    assert '"no-such-command": executable file not found in $PATH' in out.stderr


def run_on_terminal(argv: list[str], env: dict[str, str], rows: int, cols: int,
                    typed: bytes = b"") -> tuple[int, str]:
    """Run ``argv`` with a pty of the given size as its stdin/stdout/stderr, ``typed`` waiting in its input;
    (exit code, everything it wrote)."""
    master, slave = os.openpty()
    fcntl.ioctl(slave, termios.TIOCSWINSZ, struct.pack("HHHH", rows, cols, 0, 0))
    proc = subprocess.Popen(argv, stdin=slave, stdout=slave, stderr=slave, env=env, start_new_session=True)
    os.close(slave)
    if typed:
        os.write(master, typed)
    output = b""
    try:
        while select.select([master], [], [], 60)[0]:
            try:
                chunk = os.read(master, 65536)
            except OSError:  # EIO: the last writer closed the terminal
                break
            if not chunk:
                break
            output += chunk
    finally:
        os.close(master)
        if proc.poll() is None:
            proc.kill()
        proc.wait(30)
    return proc.returncode, output.decode(errors="replace")


@pytest.mark.parametrize("websockets", ["true", "false"])
async def test_kubectl_exec_it_gives_the_command_the_users_terminal_size(apiserver: ApiServerForTest, env: Env,
                                                                        websockets: str) -> None:
    await running_pod(env, "ex")
    # kubectl's first resize may reach the kubelet after the command started: the command waits (up to 10 s)
    # until its terminal has a size. On a terminal of size 0 busybox stty prints an error instead of "0 0"
    # and still exits 0, so the wait is on its output
    script = ('i=0; until s=$(stty size 2>/dev/null); [ -n "$s" ] && [ "$s" != "0 0" ] || [ $i -ge 100 ]; '
              'do sleep 0.1; i=$((i+1)); done; stty size')
    argv = ["kubectl", "--kubeconfig", str(apiserver.kubeconfig), "-n", env.ns, "exec", "-it", "ex", "--",
            "sh", "-c", script]
    code, output = await asyncio.to_thread(
        run_on_terminal, argv, kubectl_env(apiserver, KUBECTL_REMOTE_COMMAND_WEBSOCKETS=websockets), 33, 77)
    assert code == 0, output
    assert "33 77" in output


def official_client(apiserver: ApiServerForTest) -> CoreV1Api:
    configuration = Configuration()
    load_kube_config(config_file=str(apiserver.kubeconfig), client_configuration=configuration)
    return CoreV1Api(K8sApiClient(configuration))


async def test_the_official_python_clients_exec_reaches_the_container(apiserver: ApiServerForTest,
                                                                      env: Env) -> None:
    await running_pod(env, "ex")
    api = official_client(apiserver)
    output = await asyncio.to_thread(stream, api.connect_get_namespaced_pod_exec, "ex", env.ns,
                                     command=["sh", "-c", "echo from-python"], stdout=True, stderr=True,
                                     stdin=False, tty=False)
    assert output == "from-python\n"


async def test_the_official_python_clients_port_forward_reaches_the_pods_port(apiserver: ApiServerForTest,
                                                                              env: Env) -> None:
    await running_pod(env, "web", WEB)
    api = official_client(apiserver)

    def fetch() -> bytes:
        forward = portforward(api.connect_get_namespaced_pod_portforward, "web", env.ns, ports="8080")
        sock = forward.socket(8080)
        sock.settimeout(30)
        sock.sendall(b"GET / HTTP/1.0\r\nHost: x\r\n\r\n")
        reply = b""
        while chunk := sock.recv(65536):
            reply += chunk
        forward.close()
        return reply

    reply = await asyncio.to_thread(fetch)
    assert reply.startswith(b"HTTP/1.") and b"web" in reply


@pytest.mark.parametrize("websockets", ["true", "false"])
async def test_kubectl_attach_it_reaches_a_tty_containers_terminal_with_the_users_size(
        apiserver: ApiServerForTest, env: Env, websockets: str) -> None:
    # kubectl attach first sends the size plus one (to force a redraw), then the real one, on a stream of its
    # own that may arrive after the typed Enter: wait up to 5 s for the real size, then print what there is
    script = ('read x; i=0; while [ "$(stty size)" != "21 55" ] && [ $i -lt 50 ]; do sleep 0.1; i=$((i+1)); done; '
              'stty size')
    await env.create_pod("tt", [{"name": "c", "image": BUSYBOX, "stdin": True, "stdinOnce": True, "tty": True,
                                 "command": ["sh", "-c", script]}], restartPolicy="Never")

    async def running() -> bool:
        status = await env.container_status("tt")
        return bool(status and "running" in status.get("state", {}))

    assert await eventually(running, timeout=60)
    argv = ["kubectl", "--kubeconfig", str(apiserver.kubeconfig), "-n", env.ns, "attach", "-it", "tt"]
    code, output = await asyncio.to_thread(
        run_on_terminal, argv, kubectl_env(apiserver, KUBECTL_REMOTE_COMMAND_WEBSOCKETS=websockets), 21, 55,
        typed=b"\r")
    assert code == 0, output
    assert "21 55" in output


async def test_kubectl_cp_copies_a_file_into_the_pod_and_back(apiserver: ApiServerForTest, env: Env,
                                                              tmp_path: Path) -> None:
    await running_pod(env, "ex")
    source, back = tmp_path / "source.txt", tmp_path / "back.txt"
    source.write_text("copied through exec\n" * 1000)
    into = await kubectl(apiserver, "-n", env.ns, "cp", str(source), "ex:/tmp/copied.txt")
    assert into.returncode == 0, into.stderr
    out = await kubectl(apiserver, "-n", env.ns, "cp", "ex:/tmp/copied.txt", str(back))
    assert out.returncode == 0, out.stderr
    assert back.read_text() == source.read_text()
