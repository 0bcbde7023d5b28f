"""kubeprov: provision machines and run the whole life of a Kubernetes-compatible cluster."""

from importlib.metadata import PackageNotFoundError, version

try:
    __version__ = version("kubeprov")
except PackageNotFoundError:  # running from a source tree without an install
    __version__ = "0.0.0+source"
