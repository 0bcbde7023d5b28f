"""Pull errors worded like containerd's, which the kubelet turns into ErrImagePull / ImagePullBackOff.

The kubelet's event and waiting message is ``Failed to pull image "<image>": <error>``; while backing
off it is ``Back-off pulling image "<image>"``. The back-off is per image key (pod UID + image, as in
kubelet's imageManager): 10 s doubling to 5 min, forgotten after twice the cap without failures.
"""

from __future__ import annotations

import time
from collections.abc import Callable
from dataclasses import dataclass, field

ERR_IMAGE_PULL = "ErrImagePull"
IMAGE_PULL_BACKOFF = "ImagePullBackOff"
ERR_IMAGE_NEVER_PULL = "ErrImageNeverPull"
INVALID_IMAGE_NAME = "InvalidImageName"

BACKOFF_INITIAL = 10.0
BACKOFF_MAX = 300.0


class ImagePullError(Exception):
    """A pull failed; ``str()`` is containerd's wording, ``reason`` the container waiting reason."""

    reason = ERR_IMAGE_PULL

    def __init__(self, image: str, detail: str) -> None:
        self.image = image
        self.detail = detail
        super().__init__(f'failed to pull and unpack image "{image}": {detail}')


class ImageNotFound(ImagePullError):
    """The registry has no such repository, tag or digest."""

    def __init__(self, image: str) -> None:
        super().__init__(image, f'failed to resolve reference "{image}": {image}: not found')


class ImageAccessDenied(ImagePullError):
    """401/403 from the registry or its token server (missing or wrong pull secret)."""

    def __init__(self, image: str, server_message: str = "") -> None:
        msg = "pull access denied, repository does not exist or may require authorization"
        if server_message:
            msg += f": server message: {server_message}"
        super().__init__(image, f'failed to resolve reference "{image}": {msg}')


class RegistryUnavailable(ImagePullError):
    """No endpoint for the registry answered (connection refused, DNS, TLS, 5xx)."""


class DigestMismatch(ImagePullError):
    """Content did not hash to the digest it was fetched by: never stored, never unpacked."""

    def __init__(self, image: str, expected: str, actual: str) -> None:
        self.expected = expected
        self.actual = actual
        super().__init__(image, f"digest mismatch: expected {expected}, got {actual}")


class NeverPullError(ImagePullError):
    """imagePullPolicy Never and the image is not on the node."""

    reason = ERR_IMAGE_NEVER_PULL

    def __init__(self, image: str) -> None:
        self.image = image
        self.detail = ""
        Exception.__init__(self, f'Container image "{image}" is not present with pull policy of Never')


class ImagePullBackOffError(ImagePullError):
    """The last pull of this image for this pod failed recently: wait instead of hammering the registry."""

    reason = IMAGE_PULL_BACKOFF

    def __init__(self, image: str) -> None:
        self.image = image
        self.detail = ""
        Exception.__init__(self, backoff_message(image))


class InvalidImageName(ImagePullError):
    """The pod's image string does not parse."""

    reason = INVALID_IMAGE_NAME

    def __init__(self, image: str, why: str) -> None:
        self.image = image
        self.detail = why
        Exception.__init__(self, f'Failed to apply default image tag "{image}": {why}')


def pull_failed_message(image: str, error: Exception) -> str:
    """The kubelet's ErrImagePull message / Failed event text for the pod's image string."""
    if isinstance(error, (NeverPullError, InvalidImageName, ImagePullBackOffError)):
        return str(error)
    return f'Failed to pull image "{image}": {error}'


def backoff_message(image: str) -> str:
    """The ImagePullBackOff waiting message and BackOff event text."""
    return f'Back-off pulling image "{image}"'


@dataclass
class _Entry:
    delay: float
    last_update: float


@dataclass
class PullBackoff:
    """Per-key exponential back-off like k8s.io/client-go/util/flowcontrol.Backoff."""

    initial: float = BACKOFF_INITIAL
    maximum: float = BACKOFF_MAX
    clock: Callable[[], float] = time.monotonic
    _entries: dict[str, _Entry] = field(default_factory=dict)

    def failed(self, key: str) -> float:
        """Record a failed pull at now; returns the delay before the next attempt is allowed."""
        now = self.clock()
        entry = self._entries.get(key)
        if entry is None or now - entry.last_update > 2 * self.maximum:
            entry = self._entries[key] = _Entry(self.initial, now)
        else:
            entry.delay = min(entry.delay * 2, self.maximum)
            entry.last_update = now
        return entry.delay

    def in_backoff(self, key: str) -> bool:
        """True while the last failure's delay has not run out (the kubelet reports ImagePullBackOff)."""
        entry = self._entries.get(key)
        return entry is not None and self.clock() - entry.last_update < entry.delay

    def delay(self, key: str) -> float:
        entry = self._entries.get(key)
        return entry.delay if entry else 0.0

    def succeeded(self, key: str) -> None:
        self._entries.pop(key, None)

    def gc(self) -> None:
        """Drop entries idle for more than twice the cap (flowcontrol.Backoff.GC)."""
        now = self.clock()
        for key in [k for k, e in self._entries.items() if now - e.last_update > 2 * self.maximum]:
            del self._entries[key]


def backoff_key(pod_uid: str, image: str) -> str:
    return f"{pod_uid}_{image}"
