"""Errors shared by every layer.

The split follows h11: who is at fault decides the class.
"""

from __future__ import annotations


class SwarmscopeError(Exception):
    """Base class of every error swarmscope raises on purpose."""


class DecodeError(SwarmscopeError, ValueError):
    """The remote side (a file, a tracker, a peer, a DHT node) sent bytes we cannot accept.

    Args:
        message: what is wrong, naming the field (e.g. ``"info.piece length: not a power of two"``).
        offset: byte offset into the input where the problem was found, when known.
    """

    def __init__(self, message: str, offset: int | None = None) -> None:
        super().__init__(message if offset is None else f"{message} (at byte {offset})")
        self.reason = message
        self.offset = offset


class ProtocolStateError(SwarmscopeError, RuntimeError):
    """Our own code misused a state machine (a bug on our side, never the peer's)."""


class InputError(SwarmscopeError):
    """The user gave us something unusable (a path, a URI scheme, an option value)."""
