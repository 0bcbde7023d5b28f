"""The channel.k8s.io websocket framing shared by exec, attach and the kubelet's native port-forward.

Every websocket message belongs to one numbered channel: in the binary protocols the first byte is the channel
number; in the base64 protocols the message is text, its first character the channel digit and the rest base64.
``v5.channel.k8s.io`` adds a close signal: channel 255 carrying the number of the channel the peer will not
write to again (kubectl uses it to end stdin).
"""

from __future__ import annotations

import base64
import binascii
from dataclasses import dataclass

STDIN, STDOUT, STDERR, ERROR, RESIZE = 0, 1, 2, 3, 4
CLOSE = 255

V5 = "v5.channel.k8s.io"
V4 = "v4.channel.k8s.io"
V4_BASE64 = "v4.base64.channel.k8s.io"
V3 = "v3.channel.k8s.io"
V2 = "v2.channel.k8s.io"
V1 = "channel.k8s.io"
V1_BASE64 = "base64.channel.k8s.io"

#: exec/attach websocket subprotocols, preferred first (aiohttp takes the client's first one we know).
REMOTECOMMAND_PROTOCOLS = (V5, V4, V4_BASE64, V3, V2, V1, V1_BASE64)
#: the kubelet's native port-forward subprotocols (each port a data and an error channel).
PORTFORWARD_PROTOCOLS = (V4, V4_BASE64, V1, V1_BASE64)


class FramingError(ValueError):
    """A message that does not follow the negotiated channel framing."""


@dataclass(frozen=True)
class Framing:
    """How one negotiated subprotocol frames channel messages."""

    protocol: str

    @property
    def base64(self) -> bool:
        return "base64" in self.protocol

    @property
    def version(self) -> int:
        """1 for the unversioned protocols (and none at all), else the ``vN.`` prefix."""
        head = self.protocol.split(".", 1)[0]
        return int(head[1:]) if head.startswith("v") and head[1:].isdigit() else 1

    @property
    def has_close(self) -> bool:
        return self.version >= 5

    def encode(self, channel: int, data: bytes) -> bytes | str:
        """One outgoing message: bytes for the binary protocols, text for base64 ones."""
        if self.base64:
            return chr(ord("0") + channel) + base64.b64encode(data).decode("ascii")
        return bytes([channel]) + data

    def decode(self, message: bytes | str) -> tuple[int, bytes]:
        """(channel, payload) of one incoming message. Text messages are accepted in the binary protocols too
        (the Python client sends str payloads as text frames with the channel as the first character)."""
        if self.base64:
            text = message.decode("ascii", "replace") if isinstance(message, bytes) else message
            if not text or not text[0].isdigit():
                raise FramingError("base64 channel message must start with a channel digit")
            try:
                return int(text[0]), base64.b64decode(text[1:], validate=False)
            except (binascii.Error, ValueError) as exc:
                raise FramingError(f"invalid base64 payload: {exc}") from None
        raw = message.encode("utf-8") if isinstance(message, str) else message
        if not raw:
            raise FramingError("empty channel message")
        return raw[0], raw[1:]
