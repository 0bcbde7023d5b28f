"""`python -m kubeprov.dns --config FILE`: what the node's systemd unit and `kubeprov dev up` run."""

from __future__ import annotations

import argparse
import asyncio
import sys
from pathlib import Path

from kubeprov.dns.config import DnsConfig
from kubeprov.errors import KubeprovError
from kubeprov.logs import setup_logging


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="kubeprov-dns", description="kubeprov cluster DNS")
    parser.add_argument("--config", required=True, type=Path, help="DNS config file (YAML)")
    args = parser.parse_args(argv)
    try:
        config = DnsConfig.load(args.config)
        if not config.kubeconfig:
            raise KubeprovError(f"{args.config}: kubeconfig is required")
    except KubeprovError as err:
        print(f"error: {err}", file=sys.stderr)
        return 2
    setup_logging(config.log_level)
    from kubeprov.dns.server import serve_forever

    asyncio.run(serve_forever(config))
    return 0


if __name__ == "__main__":
    sys.exit(main())
