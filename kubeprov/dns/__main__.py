"""`python -m kubeprov.dns --config FILE`: what the node's systemd unit and `kubeprov dev up` run."""

from __future__ import annotations

import sys

from kubeprov.component import run_component
from kubeprov.dns.config import DnsConfig


def main(argv: list[str] | None = None) -> int:
    from kubeprov.dns.server import serve_forever

    return run_component("kubeprov-dns", "kubeprov cluster DNS", DnsConfig, serve_forever, argv)


if __name__ == "__main__":
    sys.exit(main())
