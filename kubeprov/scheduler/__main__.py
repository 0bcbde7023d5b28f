"""`python -m kubeprov.scheduler --config FILE`: what the systemd unit and `kubeprov dev up` run."""

from __future__ import annotations

import sys

from kubeprov.component import run_component
from kubeprov.scheduler.config import SchedulerConfig


def main(argv: list[str] | None = None) -> int:
    from kubeprov.scheduler.service import serve_forever

    return run_component("kubeprov-scheduler", "kubeprov scheduler", SchedulerConfig, serve_forever, argv)


if __name__ == "__main__":
    sys.exit(main())
