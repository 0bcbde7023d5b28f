"""`python -m kubeprov.kubelet --config FILE`: the node agent (run as root: runc, mounts, namespaces)."""

from __future__ import annotations

import asyncio
import sys

from kubeprov.component import run_component, serve_until_signalled
from kubeprov.errors import KubeprovError
from kubeprov.kubelet.config import KubeletConfig


async def serve_forever(config: KubeletConfig) -> None:
    from kubeprov.kubelet.agent import Kubelet

    await serve_until_signalled(Kubelet(config))


async def remove_all_pods(config: KubeletConfig) -> int:
    """One-shot, no API: stop and free every pod sandbox a stopped kubelet left (containers, namespaces,
    cgroups, pod networks, volumes), e.g. for `kubeprov dev down`; returns how many there were."""
    from kubeprov.kubelet.agent import Kubelet
    from kubeprov.kubelet.network import netns
    from kubeprov.kubelet.network.cni import CniError
    from kubeprov.kubelet.network.pod_network import PodNetwork
    from kubeprov.kubelet.volumes.manager import VolumeConfig, VolumeManager

    kubelet = Kubelet(config, client=None)
    network = PodNetwork(kubelet._network_config({"spec": {}}))
    volumes = VolumeManager(None, VolumeConfig(kubelet.root))  # type: ignore[arg-type]  # teardown needs no API
    sandboxes = kubelet.runtime.list_sandboxes()
    for sandbox in sandboxes:
        await kubelet.runtime.remove_sandbox(sandbox.id)
        try:
            await network.teardown({"metadata": {"uid": sandbox.id}, "spec": {"hostNetwork": False}})
        except CniError as err:
            # e.g. its masquerade chain was already gone: the plugin released the address first; unpin anyway
            print(f"pod {sandbox.id}: {err}", file=sys.stderr)
            netns.delete(sandbox.id, network.config.netns_dir)
        await asyncio.to_thread(volumes.teardown, sandbox.id)
    return len(sandboxes)


def main(argv: list[str] | None = None) -> int:
    args = sys.argv[1:] if argv is None else argv
    if "--remove-all-pods" in args:
        rest = [a for a in args if a != "--remove-all-pods"]
        if len(rest) != 2 or rest[0] != "--config":
            print("usage: python -m kubeprov.kubelet --config FILE --remove-all-pods", file=sys.stderr)
            return 2
        try:
            config = KubeletConfig.load(rest[1])
        except KubeprovError as err:
            print(f"error: {err}", file=sys.stderr)
            return 2
        print(f"removed {asyncio.run(remove_all_pods(config))} pod sandboxes")
        return 0
    return run_component("kubeprov-kubelet", "kubeprov kubelet", KubeletConfig, serve_forever, argv)


if __name__ == "__main__":
    sys.exit(main())
