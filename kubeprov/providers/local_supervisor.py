"""Keeps one local machine running: the host has no systemd to restart systemd-nspawn when the machine
reboots, so this small process does (exit 133), and ends when the machine powers off or is stopped.

Run as ``python -m kubeprov.providers.local_supervisor SPEC`` in its own session; SPEC is a JSON file
with ``argv`` (the nspawn command), ``cgroups`` (directories to join first) and ``dir`` (the machine's
folder: nspawn.pid, stop-requested and exit-code live there).
"""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import time
from pathlib import Path
from types import FrameType

from kubeprov.providers import local_cgroups
from kubeprov.providers.nspawn import REBOOT_EXIT

NSPAWN_PID = "nspawn.pid"
STOP_REQUESTED = "stop-requested"
EXIT_CODE = "exit-code"
# a machine rebooting this often is broken, not rebooting
MAX_QUICK_RESTARTS = 5
QUICK = 10.0


def _log(text: str) -> None:
    print(f"[kubeprov supervisor {time.strftime('%H:%M:%S')}] {text}", flush=True)


def supervise(directory: Path, argv: list[str], cgroups: list[Path]) -> int:
    """Join the machine's cgroups (nspawn inherits them), then run nspawn until the machine stops."""
    local_cgroups.join(cgroups, pid=os.getpid())
    stop = directory / STOP_REQUESTED
    child: subprocess.Popen[bytes] | None = None

    def on_term(_signum: int, _frame: FrameType | None) -> None:
        stop.touch()
        if child is not None and child.poll() is None:
            child.send_signal(signal.SIGTERM)  # nspawn asks the machine's init to power off

    signal.signal(signal.SIGTERM, on_term)
    starts: list[float] = []
    code = 0
    while not stop.exists():
        starts = [t for t in starts if time.monotonic() - t < QUICK] + [time.monotonic()]
        if len(starts) > MAX_QUICK_RESTARTS:
            _log("machine restarted too often; giving up")
            break
        child = subprocess.Popen(argv, stdin=subprocess.DEVNULL)
        (directory / NSPAWN_PID).write_text(f"{child.pid}\n")
        code = child.wait()
        _log(f"systemd-nspawn exited with {code}")
        if code != REBOOT_EXIT:
            break
    (directory / NSPAWN_PID).unlink(missing_ok=True)
    (directory / EXIT_CODE).write_text(f"{code}\n")
    return 0


def main() -> int:
    spec = json.loads(Path(sys.argv[1]).read_text())
    return supervise(Path(spec["dir"]), [str(a) for a in spec["argv"]], [Path(c) for c in spec["cgroups"]])


if __name__ == "__main__":
    sys.exit(main())
