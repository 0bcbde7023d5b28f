"""The size an exec's terminal starts with: the last usable one the client sent before the command starts."""

from __future__ import annotations

from kubeprov.kubelet.streaming.remotecommand import _size_so_far
from kubeprov.kubelet.streaming.session import StreamSession, TerminalSize


async def _discard(channel: int, data: bytes) -> None:
    return None


def session_with(*sizes: TerminalSize) -> StreamSession:
    session = StreamSession(send=_discard)
    for size in sizes:
        session.resizes.put_nowait(size)
    return session


def test_the_last_queued_size_wins_and_leaves_the_queue_empty() -> None:
    session = session_with(TerminalSize(80, 24), TerminalSize(77, 33))
    assert _size_so_far(session) == (77, 33)
    assert session.resizes.empty()


def test_a_zero_size_is_not_usable() -> None:
    assert _size_so_far(session_with(TerminalSize(120, 40), TerminalSize(0, 0))) == (120, 40)


def test_no_size_yet_gives_none() -> None:
    assert _size_so_far(session_with()) is None
