"""Image references normalised the way containerd and docker do, so names match what operators expect.

``busybox`` -> ``docker.io/library/busybox:latest``; the first path component is a registry host when it
contains a dot or a colon or is ``localhost``; a digest-only reference gets no default tag.
"""

from __future__ import annotations

import re
from dataclasses import dataclass

DEFAULT_DOMAIN = "docker.io"
LEGACY_DOMAINS = {"index.docker.io": DEFAULT_DOMAIN}
DEFAULT_TAG = "latest"

_COMPONENT = re.compile(r"[a-z0-9]+(?:(?:[._]|__|-+)[a-z0-9]+)*")
_DOMAIN = re.compile(
    r"(?:[a-zA-Z0-9](?:[a-zA-Z0-9-]*[a-zA-Z0-9])?(?:\.[a-zA-Z0-9](?:[a-zA-Z0-9-]*[a-zA-Z0-9])?)*|\[[0-9a-fA-F:.]+\])"
    r"(?::[0-9]+)?"
)
_TAG = re.compile(r"[\w][\w.-]{0,127}")
_DIGEST = re.compile(r"[a-z0-9]+(?:[.+_-][a-z0-9]+)*:[a-zA-Z0-9=_-]{32,}")
_SHA256 = re.compile(r"sha256:[a-f0-9]{64}")
MAX_NAME = 255


class ReferenceError(ValueError):
    """A string that is not a valid image reference; the message says which part is wrong."""


@dataclass(frozen=True)
class Reference:
    """A fully qualified image reference: registry domain, repository path, tag and/or digest."""

    domain: str
    path: str
    tag: str | None = None
    digest: str | None = None

    @property
    def repository(self) -> str:
        """``domain/path``: the name image records and credentials are keyed by."""
        return f"{self.domain}/{self.path}"

    @property
    def object(self) -> str:
        """What to ask the registry's manifests endpoint for: the digest when pinned, else the tag."""
        return self.digest or self.tag or DEFAULT_TAG

    def with_digest(self, digest: str) -> Reference:
        return Reference(self.domain, self.path, None, digest)

    def __str__(self) -> str:
        out = self.repository
        if self.tag:
            out += f":{self.tag}"
        if self.digest:
            out += f"@{self.digest}"
        return out


def parse(text: str) -> Reference:
    """Parse and normalise ``text``; raises ReferenceError with the reason docker would give."""
    if not text:
        raise ReferenceError("invalid reference format: empty image name")
    if text != text.strip():
        raise ReferenceError(f"invalid reference format: {text!r} has surrounding whitespace")
    name, digest = text, None
    if "@" in text:
        name, digest = text.split("@", 1)
        if not _DIGEST.fullmatch(digest):
            raise ReferenceError(f"invalid reference format: bad digest {digest!r} in {text!r}")
        if digest.startswith("sha256:") and not _SHA256.fullmatch(digest):
            raise ReferenceError(f"invalid checksum digest length or format in {text!r}")
    tag = None
    slash = name.rfind("/")
    colon = name.rfind(":")
    if colon > slash:
        name, tag = name[:colon], name[colon + 1 :]
        if not _TAG.fullmatch(tag):
            raise ReferenceError(f"invalid reference format: bad tag {tag!r} in {text!r}")
    domain, path = _split_domain(name, text)
    if len(path) + len(domain) + 1 > MAX_NAME:
        raise ReferenceError(f"repository name must not be more than {MAX_NAME} characters: {text!r}")
    if any(c.isupper() for c in path):
        raise ReferenceError(f"invalid reference format: repository name must be lowercase: {text!r}")
    for part in path.split("/"):
        if not _COMPONENT.fullmatch(part):
            raise ReferenceError(f"invalid reference format: bad path component {part!r} in {text!r}")
    if tag is None and digest is None:
        tag = DEFAULT_TAG
    return Reference(domain, path, tag, digest)


def _split_domain(name: str, text: str) -> tuple[str, str]:
    first, sep, rest = name.partition("/")
    if sep and ("." in first or ":" in first or first == "localhost" or first != first.lower()):
        if not _DOMAIN.fullmatch(first):
            raise ReferenceError(f"invalid reference format: bad registry host {first!r} in {text!r}")
        domain, path = LEGACY_DOMAINS.get(first, first), rest
    else:
        domain, path = DEFAULT_DOMAIN, name
    if not path:
        raise ReferenceError(f"invalid reference format: no repository in {text!r}")
    if domain == DEFAULT_DOMAIN and "/" not in path:
        path = f"library/{path}"
    return domain, path
