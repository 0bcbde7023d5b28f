"""`python -m kubeprov.proxy --config FILE`: what the node's systemd unit and `kubeprov dev up` run."""

from __future__ import annotations

import sys

from kubeprov.component import run_component
from kubeprov.proxy.config import ProxyConfig


def main(argv: list[str] | None = None) -> int:
    from kubeprov.proxy.sync import serve_forever

    return run_component("kubeprov-proxy", "kubeprov service proxy (nftables)", ProxyConfig, serve_forever, argv)


if __name__ == "__main__":
    sys.exit(main())
