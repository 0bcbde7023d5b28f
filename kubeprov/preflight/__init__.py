"""Checks run on every machine over SSH before anything is installed, reported all at once."""

from kubeprov.preflight.findings import Finding, HostReport, PreflightReport
from kubeprov.preflight.runner import check_host, run_preflight

__all__ = ["Finding", "HostReport", "PreflightReport", "check_host", "run_preflight"]
