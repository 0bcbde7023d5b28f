"""Installing our components on machines: an ansible-runner driver, the wheelhouse the machines install
from, and the roles (package data) that copy each machine's rendered tree and start its units."""

from kubeprov.install.inventory import build_inventory
from kubeprov.install.runner import HostCounts, InstallReport, run_playbook
from kubeprov.install.wheelhouse import Wheelhouse, build_wheelhouse

__all__ = ["HostCounts", "InstallReport", "Wheelhouse", "build_inventory", "build_wheelhouse", "run_playbook"]
