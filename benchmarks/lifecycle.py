"""How long `kubeprov create` takes on local machines, phase by phase.

Run (root): ``.venv/bin/python benchmarks/lifecycle.py [--skip-uncached]``. Each case creates a cluster in a
temporary state folder with the real CLI, reads the phase durations from the cluster's history, prints
them, and destroys the cluster (also on failure):

* ``stacks/single.yaml`` (one machine), base image cached;
* ``stacks/local.yaml`` (3 control plane + 2 workers + load balancer), base image cached;
* ``stacks/local.yaml`` with an empty image cache (``KUBEPROV_IMAGE_CACHE`` pointed at a temporary
  folder), so the debootstrap base image and its package layer are built inside the run.

The wheelhouse (our wheel and its dependencies) is cached by source hash in every case. The raw bound
printed beside each total is the machines phase alone: what provisioning costs before any install.
"""

from __future__ import annotations

import argparse
import json
import os
import shutil
import subprocess
import sys
import tempfile
import time
from pathlib import Path

REPO = Path(__file__).resolve().parents[1]
KUBEPROV = REPO / ".venv" / "bin" / "kubeprov"


def create_and_destroy(stack: str, env: dict[str, str], label: str) -> dict[str, float]:
    state = Path(tempfile.mkdtemp(prefix="kp-bench-"))
    env = {**env, "KUBEPROV_STATE_DIR": str(state), "NO_COLOR": "1"}
    stack_file = REPO / "stacks" / stack
    try:
        started = time.monotonic()
        done = subprocess.run([str(KUBEPROV), "create", "-f", str(stack_file)], env=env, capture_output=True,
                              text=True, timeout=3600)
        total = time.monotonic() - started
        if done.returncode != 0:
            raise SystemExit(f"{label}: create failed:\n{done.stdout[-3000:]}\n{done.stderr[-3000:]}")
        name = stack_file.stem if stack_file.stem != "local" else "local"
        history = state / "clusters" / name / "history.jsonl"
        phases = {r["phase"]: r.get("seconds", 0.0) for r in map(json.loads, history.read_text().splitlines())
                  if r.get("event") == "done" and r.get("phase")}
        return {"total": total, **phases}
    finally:
        subprocess.run([str(KUBEPROV), "destroy", "--yes", "-f", str(stack_file)], env=env, capture_output=True,
                       timeout=900)
        shutil.rmtree(state, ignore_errors=True)


def show(label: str, figures: dict[str, float]) -> None:
    machines = figures.get("machines", 0.0)
    print(f"\n{label}: create {figures['total']:.1f} s (machines phase alone {machines:.1f} s, "
          f"ratio {figures['total'] / machines if machines else float('nan'):.1f}x)")
    for phase, seconds in figures.items():
        if phase != "total" and seconds >= 0.5:
            print(f"  {phase:<16} {seconds:7.1f} s")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--skip-uncached", action="store_true", help="skip the case that rebuilds the base image")
    args = parser.parse_args()
    if os.geteuid() != 0:
        raise SystemExit("benchmarks/lifecycle.py needs root: it creates local machines")
    env = dict(os.environ)
    show("stacks/single.yaml, image cached", create_and_destroy("single.yaml", env, "single"))
    show("stacks/local.yaml (3+2), image cached", create_and_destroy("local.yaml", env, "local cached"))
    if not args.skip_uncached:
        cache = Path(tempfile.mkdtemp(prefix="kp-bench-images-"))
        try:
            figures = create_and_destroy("local.yaml", {**env, "KUBEPROV_IMAGE_CACHE": str(cache)}, "local uncached")
        finally:
            shutil.rmtree(cache, ignore_errors=True)
        show("stacks/local.yaml (3+2), image built in the run", figures)
    sys.stdout.flush()


if __name__ == "__main__":
    main()
