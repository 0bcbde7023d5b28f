"""`python -m kubeprov.kubelet --config FILE`: the node agent (run as root: runc, mounts, namespaces)."""

from __future__ import annotations

import sys

from kubeprov.component import run_component, serve_until_signalled
from kubeprov.kubelet.config import KubeletConfig


async def serve_forever(config: KubeletConfig) -> None:
    from kubeprov.kubelet.agent import Kubelet

    await serve_until_signalled(Kubelet(config))


def main(argv: list[str] | None = None) -> int:
    return run_component("kubeprov-kubelet", "kubeprov kubelet", KubeletConfig, serve_forever, argv)


if __name__ == "__main__":
    sys.exit(main())
