"""``python -m kubeprov.controllers --config FILE``: run the controller manager until interrupted."""

from __future__ import annotations

import sys

from kubeprov.component import run_component, serve_until_signalled
from kubeprov.controllers.config import ControllerManagerConfig


async def serve_forever(config: ControllerManagerConfig) -> None:
    from kubeprov.controllers.manager import ControllerManager

    await serve_until_signalled(ControllerManager(config))


def main(argv: list[str] | None = None) -> int:
    return run_component("kubeprov-controller-manager", "kubeprov controller manager", ControllerManagerConfig,
                         serve_forever, argv)


if __name__ == "__main__":
    sys.exit(main())
