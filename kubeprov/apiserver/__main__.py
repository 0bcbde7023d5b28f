"""`python -m kubeprov.apiserver --config FILE`: what the systemd unit and `kubeprov dev up` run."""

from __future__ import annotations

import argparse
import asyncio
import sys
from pathlib import Path

from kubeprov.apiserver.config import ApiServerConfig
from kubeprov.apiserver.server import serve_forever
from kubeprov.errors import KubeprovError
from kubeprov.logs import setup_logging


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="kubeprov-apiserver", description="kubeprov API server")
    parser.add_argument("--config", required=True, type=Path, help="API server config file (YAML)")
    args = parser.parse_args(argv)
    try:
        config = ApiServerConfig.load(args.config)
    except KubeprovError as err:
        print(f"error: {err}", file=sys.stderr)
        return 2
    setup_logging(config.log_level)
    asyncio.run(serve_forever(config))
    return 0


if __name__ == "__main__":
    sys.exit(main())
