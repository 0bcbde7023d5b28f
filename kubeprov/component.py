"""What every long-running component shares: one YAML config file, and `python -m <component> --config FILE`.

A component's config is a dataclass deriving from :class:`ComponentConfig`: reading it names the
file and the unknown settings (with the known ones as the hint), and its ``validate`` says what is
wrong in one sentence. :func:`run_component` is the whole ``__main__`` of a component: a bad config
is an error message and exit code 2, never a traceback; otherwise logging is set up and the
component serves until SIGINT/SIGTERM.
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import dataclasses
import signal
import sys
from collections.abc import Awaitable, Callable
from pathlib import Path
from typing import Any, ClassVar, Protocol, Self

import yaml
from aiohttp import web

from kubeprov.errors import KubeprovError
from kubeprov.logs import setup_logging


class ComponentConfig:
    """Mixin for a component's config dataclass (``what`` names it in messages)."""

    what: ClassVar[str] = "component"

    @classmethod
    def load(cls, path: str | Path) -> Self:
        try:
            raw = yaml.safe_load(Path(path).read_text()) or {}
        except (OSError, yaml.YAMLError) as exc:
            raise KubeprovError(f"cannot read {cls.what} config {path}: {exc}") from None
        return cls.from_dict(raw, str(path))

    @classmethod
    def from_dict(cls, raw: Any, source: str = "config") -> Self:
        if not isinstance(raw, dict):
            raise KubeprovError(f"{source}: expected a mapping of settings")
        known = {f.name for f in dataclasses.fields(cls)}  # type: ignore[arg-type]
        names = cls.prepare({str(k).replace("-", "_"): v for k, v in raw.items()})
        unknown = sorted(set(names) - known)
        if unknown:
            raise KubeprovError(f"{source}: unknown settings {', '.join(unknown)}",
                                f"known settings: {', '.join(sorted(known))}")
        fields = dataclasses.fields(cls)  # type: ignore[arg-type]
        missing = [f.name for f in fields if f.name not in names and f.default is dataclasses.MISSING
                   and f.default_factory is dataclasses.MISSING]
        if missing:
            raise KubeprovError(f"{source}: {', '.join(missing)} is required")
        try:
            config = cls(**names)
        except TypeError as exc:
            raise KubeprovError(f"{source}: {exc}") from None
        config.validate(source)
        return config

    @classmethod
    def prepare(cls, names: dict[str, Any]) -> dict[str, Any]:
        """Adjust the raw settings before they become the dataclass (e.g. drop nulls meaning 'default')."""
        return names

    def validate(self, source: str = "config") -> None:
        """Raise KubeprovError naming ``source`` when a setting is out of range."""


Check = Callable[[], str | None]


async def start_site(app: web.Application, address: str, port: int,
                     ssl_context: Any = None) -> tuple[web.AppRunner, int]:
    """Serve ``app`` on address:port (0 = a free port); the runner and the port actually bound. A port
    already taken raises OSError with nothing left running."""
    runner = web.AppRunner(app, access_log=None, handle_signals=False)
    await runner.setup()
    site = web.TCPSite(runner, address, port, ssl_context=ssl_context)
    try:
        await site.start()
    except OSError:
        await runner.cleanup()
        raise
    sockets = getattr(site._server, "sockets", None) or []  # aiohttp tells the bound port only here
    return runner, (sockets[0].getsockname()[1] if sockets else port)


class HealthServer:
    """``/healthz`` (and ``/livez``), ``/readyz`` and ``/metrics`` of a component.

    ``healthy`` and ``ready`` return None when all is well, else the reason served with a 500;
    ``metrics`` returns the Prometheus text. Port 0 picks a free port (see :attr:`port`).
    """

    def __init__(self, address: str, port: int, *, healthy: Check, ready: Check,
                 metrics: Callable[[], str]) -> None:
        self.address = address
        self.port = port
        self._healthy, self._ready, self._metrics = healthy, ready, metrics
        self._runner: web.AppRunner | None = None

    async def start(self) -> None:
        app = web.Application()
        app.router.add_get("/healthz", self._serve_healthz)
        app.router.add_get("/livez", self._serve_healthz)
        app.router.add_get("/readyz", self._serve_readyz)
        app.router.add_get("/metrics", self._serve_metrics)
        self._runner, self.port = await start_site(app, self.address, self.port)

    async def stop(self) -> None:
        if self._runner is not None:
            await self._runner.cleanup()
            self._runner = None

    @staticmethod
    def _answer(problem: str | None) -> web.Response:
        return web.Response(status=500, text=problem) if problem else web.Response(text="ok")

    async def _serve_healthz(self, _request: web.Request) -> web.Response:
        return self._answer(self._healthy())

    async def _serve_readyz(self, _request: web.Request) -> web.Response:
        return self._answer(self._ready())

    async def _serve_metrics(self, _request: web.Request) -> web.Response:
        return web.Response(text=self._metrics(), content_type="text/plain", charset="utf-8",
                            headers={"X-Content-Type-Options": "nosniff"})


class Component(Protocol):
    async def start(self) -> None: ...

    async def stop(self) -> None: ...


async def serve_until_signalled(component: Component) -> None:
    """Start ``component``, wait for SIGINT or SIGTERM, stop it."""
    stop = asyncio.Event()
    loop = asyncio.get_running_loop()
    for sig in (signal.SIGINT, signal.SIGTERM):
        with contextlib.suppress(NotImplementedError):
            loop.add_signal_handler(sig, stop.set)
    await component.start()
    try:
        await stop.wait()
    finally:
        await component.stop()


def run_component(prog: str, description: str, config_cls: type[ComponentConfig],
                  serve: Callable[[Any], Awaitable[None]], argv: list[str] | None = None) -> int:
    """The ``main`` of a component: parse ``--config``, load it, set up logging, serve."""
    parser = argparse.ArgumentParser(prog=prog, description=description)
    parser.add_argument("--config", required=True, type=Path, help=f"{config_cls.what} config file (YAML)")
    args = parser.parse_args(argv)
    try:
        config = config_cls.load(args.config)
        if hasattr(config, "kubeconfig"):
            if not config.kubeconfig:
                raise KubeprovError(f"{args.config}: kubeconfig is required")
            asyncio.run(_check_kubeconfig(args.config, Path(config.kubeconfig)))
    except KubeprovError as err:
        print(f"error: {err}", file=sys.stderr)
        return 2
    setup_logging(getattr(config, "log_level", "info"))
    try:
        asyncio.run(serve(config))
    except OSError as err:  # a port taken, a directory not writable: the operator's to fix, not a traceback
        print(f"error: {err}", file=sys.stderr)
        return 2
    return 0


async def _check_kubeconfig(source: Path, path: Path) -> None:
    """Fail at start, in one sentence, on a kubeconfig the component could never use."""
    from kubeprov.api.client import ApiClient

    try:
        client = ApiClient.from_kubeconfig(path)
    except Exception as exc:  # missing file, bad YAML, unknown context: all the operator's to fix
        raise KubeprovError(f"{source}: cannot use kubeconfig {path}: {exc}") from None
    await client.close()
