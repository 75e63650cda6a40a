"""The frames between the coordinator and its probe processes: bytes over pipes, never pickled objects.

A frame is a 4-byte big-endian length (:mod:`swarmscope.monitor.writer_frames`) then one channel byte and
that channel's body:

* ``H`` hello, coordinator → probe process (first frame): JSON ``{db, run, shard, shards, targets: [what the
  user typed, ...], config: the run's settings (:func:`~swarmscope.monitor.shards.config_to_json`), loop}``.
* ``W`` the evidence writer: probe process → coordinator, a writer request body exactly as
  :mod:`~swarmscope.monitor.writer_frames` defines it (commit or find, records as canonical bytes); the
  coordinator relays it unopened to the node's one writer process and sends the writer's reply back as a
  ``W`` frame. One request at a time per probe process.
* ``L`` leads, both ways: JSON ``{swarm, peers: [[ip, port], ...], source}``: peers of the receiver's shard
  to plan (the sighting was recorded where the lead was found).
* ``S`` stats, probe process → coordinator, once at its end: JSON ``{swarm: SwarmStats.snapshot()}``.
* ``X`` stop, coordinator → probe process: commit what is pending, send the stats, exit.

The end of a pipe is the end of the other process (closed, or killed): each side treats it as a stop.
"""

from __future__ import annotations

import contextlib
import json
import threading
from collections.abc import Sequence
from typing import IO, Any

from swarmscope.errors import DecodeError
from swarmscope.monitor import writer_frames as frames

HELLO, WRITER, LEADS, STATS, STOP = b"H", b"W", b"L", b"S", b"X"
CHANNELS = (HELLO, WRITER, LEADS, STATS, STOP)


class FramePipe:
    """One end of a coordinator ↔ probe process pair of pipes: frames out under a lock (several threads
    send), frames in from one reader thread."""

    def __init__(self, inp: IO[bytes], out: IO[bytes]) -> None:
        self.inp, self.out = inp, out
        self._lock = threading.Lock()

    def send(self, channel: bytes, body: bytes) -> None:
        """Write one frame and flush it. Raises OSError (ValueError once closed): the other end is gone."""
        with self._lock:
            self.out.write(frames.frame(channel + body))
            self.out.flush()

    def read(self) -> tuple[bytes, bytes] | None:
        """(channel, body) of the next frame; None at the end of input or a frame cut short.

        Raises:
            DecodeError: an unknown channel, a frame longer than ``writer_frames.MAX_FRAME``.
        """
        header = self.inp.read(frames.HEADER.size)
        if len(header) < frames.HEADER.size:
            return None
        length = frames.frame_length(header)
        body = self.inp.read(length)
        if len(body) < length or length < 1:
            return None
        channel = body[:1]
        if channel not in CHANNELS:
            raise DecodeError(f"probe frame: unknown channel {channel!r}")
        return channel, body[1:]

    def close(self) -> None:
        """Close the output (the other side reads the end of input)."""
        with self._lock, contextlib.suppress(OSError):
            self.out.close()


def leads(swarm: str, peers: Sequence[tuple[str, int]], source: str) -> bytes:
    """An ``L`` body."""
    raw = {"swarm": swarm, "peers": [[ip, port] for ip, port in peers], "source": source}
    return json.dumps(raw).encode()


def read_leads(body: bytes) -> tuple[str, list[tuple[str, int]], str]:
    """(swarm, [(ip, port)], source) of an ``L`` body. Raises DecodeError: malformed."""
    raw = _json(body)
    try:
        peers = [(str(ip), int(port)) for ip, port in raw["peers"]]
        return str(raw["swarm"]), peers, str(raw["source"])
    except (KeyError, TypeError, ValueError) as exc:
        raise DecodeError(f"probe frame: leads: {exc}") from None


def read_json(body: bytes) -> dict[str, Any]:
    """The JSON object of an ``H`` or ``S`` body. Raises DecodeError: not a JSON object."""
    return _json(body)


def _json(body: bytes) -> dict[str, Any]:
    try:
        raw = json.loads(body)
    except ValueError as exc:
        raise DecodeError(f"probe frame: not JSON: {exc}") from None
    if not isinstance(raw, dict):
        raise DecodeError("probe frame: not a JSON object")
    return raw
