"""`python -m kubeprov.hollow --kubeconfig FILE --count N`: a fleet of hollow nodes until SIGTERM."""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import signal
import sys
from pathlib import Path

from kubeprov.api.client import ApiClient
from kubeprov.hollow import HollowFleet, HollowNodeSpec
from kubeprov.logs import setup_logging


async def _run(args: argparse.Namespace) -> None:
    specs = [HollowNodeSpec(name=f"{args.prefix}-{i}", cpu=args.cpu, memory=args.memory,
                            zone=f"zone-{i % args.zones}" if args.zones else None) for i in range(args.count)]
    async with ApiClient.from_kubeconfig(Path(args.kubeconfig), user_agent="kubeprov-hollow") as client:
        fleet = HollowFleet(client, specs, lease_interval=args.lease_interval, status_interval=args.status_interval)
        stop = asyncio.Event()
        loop = asyncio.get_running_loop()
        for sig in (signal.SIGINT, signal.SIGTERM):
            with contextlib.suppress(NotImplementedError):
                loop.add_signal_handler(sig, stop.set)
        await fleet.start()
        try:
            await stop.wait()
        finally:
            await fleet.stop(delete_nodes=args.delete_on_exit)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m kubeprov.hollow", description=__doc__)
    parser.add_argument("--kubeconfig", required=True)
    parser.add_argument("--count", type=int, default=3)
    parser.add_argument("--prefix", default="hollow")
    parser.add_argument("--cpu", default="4")
    parser.add_argument("--memory", default="16Gi")
    parser.add_argument("--zones", type=int, default=0, help="spread nodes over this many zones (0: no zone label)")
    parser.add_argument("--lease-interval", type=float, default=10.0)
    parser.add_argument("--status-interval", type=float, default=60.0)
    parser.add_argument("--delete-on-exit", action="store_true")
    parser.add_argument("--log-level", default="info")
    args = parser.parse_args(argv)
    setup_logging(args.log_level)
    asyncio.run(_run(args))
    return 0


if __name__ == "__main__":
    sys.exit(main())
