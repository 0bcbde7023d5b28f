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
        if hasattr(config, "kubeconfig") and not config.kubeconfig:
            raise KubeprovError(f"{args.config}: kubeconfig is required")
    except KubeprovError as err:
        print(f"error: {err}", file=sys.stderr)
        return 2
    setup_logging(getattr(config, "log_level", "info"))
    asyncio.run(serve(config))
    return 0
