"""``python -m kubeprov.controllers --config FILE``: run the controller manager until interrupted."""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import signal

from kubeprov.controllers.config import ControllerManagerConfig
from kubeprov.controllers.manager import ControllerManager
from kubeprov.logs import setup_logging


async def _run(config: ControllerManagerConfig) -> None:
    manager = ControllerManager(config)
    stop = asyncio.Event()
    loop = asyncio.get_running_loop()
    for sig in (signal.SIGINT, signal.SIGTERM):
        with contextlib.suppress(NotImplementedError):
            loop.add_signal_handler(sig, stop.set)
    await manager.start()
    try:
        await stop.wait()
    finally:
        await manager.stop()


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(prog="python -m kubeprov.controllers", description=__doc__)
    parser.add_argument("--config", required=True, help="controller manager YAML configuration")
    args = parser.parse_args(argv)
    config = ControllerManagerConfig.from_yaml(args.config)
    setup_logging(config.log_level)
    asyncio.run(_run(config))


if __name__ == "__main__":
    main()
