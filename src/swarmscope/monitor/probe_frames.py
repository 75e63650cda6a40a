"""The frames between the coordinator and its probe processes: bytes over pipes, never pickled objects.

A frame is a 4-byte big-endian length (:mod:`swarmscope.monitor.writer_frames`) then one channel byte and
that channel's body:

* ``H`` hello, coordinator → probe process (first frame): JSON ``{db, run, shard, shards, targets: [what the
  user typed, ...], config: the run's settings (:func:`~swarmscope.monitor.shards.config_to_json`), loop}``.
* ``W`` the evidence writer: probe process → coordinator, a writer request body exactly as
  :mod:`~swarmscope.monitor.writer_frames` defines it (commit or find, records as canonical bytes); the
  coordinator relays it unopened to the node's one writer process and sends the writer's reply back as a
  ``W`` frame. One request at a time per probe process.
* ``L`` leads, both ways: JSON ``{swarm, peers: [[ip, port], ...], source, via}``: peers of the receiver's
  shard to plan (the sighting was recorded where the lead was found); ``via`` is the PEX peer that named
  them (``"ip:port"``, ``""`` for other sources): its host's PEX quota holds in every probe process
  (``monitor/plan.py``), so a frame carries the leads of one naming peer.
* ``S`` stats, probe process → coordinator, once at its end: JSON ``{swarm: SwarmStats.snapshot()}``.
* ``X`` stop, coordinator → probe process: commit what is pending, send the stats, exit.

A fleet node's probe processes (``swarmscope node --probe-processes N``; the hello has ``fleet: true`` and
no targets) are also told, coordinator → probe process, in the order the node's lease rounds decide:

* ``A`` add a swarm: its exact metainfo bytes (a .torrent, or the info dict BEP 9 brought for a magnet).
* ``D`` drop a swarm (its lease is lost or handed off): its infohash hex, a space and the drop's number
  (decimal: the coordinator counts the drops it sends); its probes stop. The probe process answers it
  with ``F`` (below).
* ``Q`` discard a swarm's queued records (its lease is lost: they could not be sealed, and must not be
  sealed under a later lease of it; a swarm handed off keeps them, they commit under its lease until it
  is released): its infohash hex.
* ``K`` the lease state: JSON ``{tokens: {infohash hex: lease token}, node: name or null, incarnation:
  N or null, fleet: [the fleet nodes' addresses, never probed]}``; each commit request of the probe
  process carries the latest tokens as its ``fence`` (:mod:`~swarmscope.monitor.writer_frames`).
* ``R`` a reference copy: JSON ``{swarm, path}``, this node's copy of a work the swarm carries (block
  proofs, as the coordinator loads it).

and tell the coordinator, probe process → coordinator:

* ``F`` a dropped swarm is drained: the body of the ``D`` it answers, sent once none of that swarm's
  records is queued or in a commit under way in the probe process's ledger writer (or once it gave up
  waiting: ``probe_main.DRAIN_SECONDS``). The node keeps a handed-off swarm's lease until every running
  probe process drained it (a batch committed after the release would be refused by fencing); a process
  that stops sends nothing more, and one that ended is not waited for.

The end of a pipe is the end of the other process (closed, or killed): each side treats it as a stop.
"""

from __future__ import annotations

import contextlib
import json
import threading
from collections.abc import Iterable, Sequence
from typing import IO, Any

from swarmscope.errors import DecodeError
from swarmscope.monitor import writer_frames as frames
from swarmscope.store.fleet.fencing import Fence

HELLO, WRITER, LEADS, STATS, STOP = b"H", b"W", b"L", b"S", b"X"
ADD, DROP, DISCARD, LEASES, REFERENCE = b"A", b"D", b"Q", b"K", b"R"  # a fleet node's swarms and leases
DRAINED = b"F"  # a fleet node's probe process: a dropped swarm has nothing left to commit
CHANNELS = (HELLO, WRITER, LEADS, STATS, STOP, ADD, DROP, DISCARD, LEASES, REFERENCE, DRAINED)


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


def leads(swarm: str, peers: Sequence[tuple[str, int]], source: str, via: str = "") -> bytes:
    """An ``L`` body (``via``: the naming PEX peer, ``"ip:port"``, or ``""``)."""
    raw = {"swarm": swarm, "peers": [[ip, port] for ip, port in peers], "source": source, "via": via}
    return json.dumps(raw).encode()


def read_leads(body: bytes) -> tuple[str, list[tuple[str, int]], str, str]:
    """(swarm, [(ip, port)], source, via) of an ``L`` body. Raises DecodeError: malformed."""
    raw = _json(body)
    try:
        peers = [(str(ip), int(port)) for ip, port in raw["peers"]]
        return str(raw["swarm"]), peers, str(raw["source"]), str(raw["via"])
    except (KeyError, TypeError, ValueError) as exc:
        raise DecodeError(f"probe frame: leads: {exc}") from None


def lease_state(fence: Fence, fleet: Iterable[str]) -> bytes:
    """A ``K`` body: the node's lease tokens and identity, the fleet's addresses."""
    node, incarnation = fence.identity if fence.identity is not None else (None, None)
    raw = {"tokens": dict(fence.tokens), "node": node, "incarnation": incarnation, "fleet": sorted(fleet)}
    return json.dumps(raw, sort_keys=True).encode()


def read_lease_state(body: bytes) -> tuple[Fence, set[str]]:
    """(the fence, the fleet's addresses) of a ``K`` body. Raises DecodeError: malformed."""
    raw = _json(body)
    try:
        tokens = {str(swarm): int(token) for swarm, token in raw["tokens"].items()}
        node, incarnation = raw["node"], raw["incarnation"]
        identity = None if node is None else (str(node), int(incarnation))
        return Fence(tokens, identity), {str(ip) for ip in raw["fleet"]}
    except (KeyError, TypeError, ValueError, AttributeError) as exc:
        raise DecodeError(f"probe frame: lease state: {exc}") from None


def drop(swarm: str, number: int) -> bytes:
    """A ``D`` body (an ``F`` body echoes it): ``swarm`` (infohash hex) and the drop's number."""
    return f"{swarm} {number}".encode("ascii")


def read_drop(body: bytes) -> tuple[str, int]:
    """(swarm, number) of a ``D`` or ``F`` body. Raises DecodeError: malformed."""
    parts = body.split(b" ")
    if len(parts) != 2 or not parts[0].isalnum() or not parts[1].isdigit() or len(parts[1]) > 20:
        raise DecodeError("probe frame: drop is not 'INFOHASH NUMBER'")
    return parts[0].decode("ascii"), int(parts[1])


def reference(swarm: str, path: str) -> bytes:
    """An ``R`` body."""
    return json.dumps({"swarm": swarm, "path": path}).encode()


def read_reference(body: bytes) -> tuple[str, str]:
    """(swarm, path) of an ``R`` body. Raises DecodeError: malformed."""
    raw = _json(body)
    if not isinstance(raw.get("swarm"), str) or not isinstance(raw.get("path"), str):
        raise DecodeError("probe frame: reference is not {swarm, path}")
    return raw["swarm"], raw["path"]


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
