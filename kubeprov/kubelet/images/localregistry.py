"""A local OCI registry process (Debian's docker-registry) for tests, benchmarks and the local stack.

Filesystem storage in a directory we own, listening on 127.0.0.1 only, plain HTTP (loopback registries
are spoken to over HTTP by default, and ``registry.local`` is aliased to it through RegistryHosts).
With ``users`` it asks for HTTP basic auth from an htpasswd file (bcrypt hashes, the only kind
docker-registry accepts), as a private registry behind imagePullSecrets does.
"""

from __future__ import annotations

import json
import socket
import subprocess
import time
import urllib.error
import urllib.request
from collections.abc import Mapping
from pathlib import Path

DOCKER_REGISTRY = "/usr/bin/docker-registry"
AUTH_REALM = "kubeprov-local-registry"


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def htpasswd(users: Mapping[str, str]) -> str:
    """htpasswd file text with a bcrypt hash per user (docker-registry rejects every other hash kind)."""
    import bcrypt  # only needed for registries with auth

    return "".join(
        f"{user}:{bcrypt.hashpw(password.encode(), bcrypt.gensalt(rounds=5)).decode()}\n"
        for user, password in users.items()
    )


class LocalRegistry:
    """start()/stop() one docker-registry process; ``address`` is ``127.0.0.1:PORT``."""

    def __init__(self, workdir: Path, port: int | None = None, binary: str = DOCKER_REGISTRY,
                 users: Mapping[str, str] | None = None) -> None:
        self.workdir = Path(workdir)
        self.port = port or free_port()
        self.binary = binary
        self.users = dict(users or {})
        self._proc: subprocess.Popen[bytes] | None = None

    @property
    def address(self) -> str:
        return f"127.0.0.1:{self.port}"

    @property
    def url(self) -> str:
        return f"http://{self.address}"

    @property
    def log_path(self) -> Path:
        return self.workdir / "registry.log"

    @property
    def htpasswd_path(self) -> Path:
        return self.workdir / "htpasswd"

    def config(self) -> dict:
        config: dict = {
            "version": 0.1,
            "log": {"level": "warn", "accesslog": {"disabled": True}},
            "storage": {
                "filesystem": {"rootdirectory": str(self.workdir / "data")},
                "delete": {"enabled": True},
                "cache": {"blobdescriptor": "inmemory"},
            },
            "http": {"addr": self.address, "secret": "kubeprov-local-registry"},
        }
        if self.users:
            config["auth"] = {"htpasswd": {"realm": AUTH_REALM, "path": str(self.htpasswd_path)}}
        return config

    def start(self, timeout: float = 30.0) -> LocalRegistry:
        """Start the process and wait until ``/v2/`` answers; raises with the log tail if it does not."""
        self.workdir.mkdir(parents=True, exist_ok=True)
        if self.users:
            self.htpasswd_path.write_text(htpasswd(self.users))
        config = self.workdir / "config.yml"
        config.write_text(json.dumps(self.config()))  # JSON is YAML
        with self.log_path.open("ab") as log:
            self._proc = subprocess.Popen(
                [self.binary, "serve", str(config)],
                stdout=log,
                stderr=subprocess.STDOUT,
                stdin=subprocess.DEVNULL,
                start_new_session=True,
            )
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            if self._proc.poll() is not None:
                break
            if self.ready():
                return self
            time.sleep(0.1)
        self.stop()
        tail = self.log_path.read_text(errors="replace")[-2000:]
        raise RuntimeError(f"docker-registry did not answer on {self.url}/v2/ within {timeout:.0f}s:\n{tail}")

    def ready(self) -> bool:
        """``/v2/`` answers 200, or 401 when the registry wants credentials."""
        try:
            with urllib.request.urlopen(f"{self.url}/v2/", timeout=2) as resp:
                return resp.status == 200
        except urllib.error.HTTPError as e:
            return e.code == 401 and bool(self.users)
        except (urllib.error.URLError, OSError):
            return False

    def stop(self) -> None:
        proc, self._proc = self._proc, None
        if proc is None or proc.poll() is not None:
            return
        proc.terminate()
        try:
            proc.wait(10)
        except subprocess.TimeoutExpired:
            proc.kill()
            proc.wait()

    def __enter__(self) -> LocalRegistry:
        return self.start()

    def __exit__(self, *exc: object) -> None:
        self.stop()
