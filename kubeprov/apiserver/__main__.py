"""`python -m kubeprov.apiserver --config FILE`: what the systemd unit and `kubeprov dev up` run."""

from __future__ import annotations

import sys

from kubeprov.apiserver.config import ApiServerConfig
from kubeprov.component import run_component


def main(argv: list[str] | None = None) -> int:
    from kubeprov.apiserver.server import serve_forever

    return run_component("kubeprov-apiserver", "kubeprov API server", ApiServerConfig, serve_forever, argv)


if __name__ == "__main__":
    sys.exit(main())
