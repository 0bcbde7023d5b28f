"""Where the rendered files come from on the operator's host: the cluster's state store."""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

import yaml

from kubeprov.errors import KubeprovError


@dataclass(frozen=True)
class Sources:
    pki: Path
    kubeconfigs: Path

    def cert(self, name: str) -> Path:
        return self._existing(self.pki / name)

    def kubeconfig(self, name: str) -> Path:
        return self._existing(self.kubeconfigs / name)

    def kubeconfig_for(self, name: str, server: str) -> str:
        """A kubeconfig of the store pointed at ``server`` (control-plane components talk to their own
        machine's apiserver, as kubeadm sets them up, so they keep working while the balancer is down)."""
        config = yaml.safe_load(self.kubeconfig(name).read_text())
        for cluster in config.get("clusters") or []:
            cluster["cluster"]["server"] = server
        return yaml.safe_dump(config, sort_keys=False)

    @staticmethod
    def _existing(path: Path) -> Path:
        if not path.is_file():
            raise KubeprovError(f"{path} is missing from the cluster's state",
                                "run `kubeprov create` again: its pki phase makes every certificate")
        return path
