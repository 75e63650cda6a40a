"""Which port a proven hit counts under: the one observed on the wire, or a claim our own probe checked.

An outbound hit's port is the one we dialled and reached: observed. An inbound peer dialled us; its record
keeps the TCP source port its connection came from (``Observation.source_port``) and, in ``port``, the
BEP 10 listen port ``p`` it claimed (a claim nothing checks: a peer, hostile or NATed, may name any port).
Behind carrier-grade NAT the port is what tells subscribers apart, and an ISP can name a subscriber only
from the public source port and the time of the connection (RFC 6302 section 2, RFC 6888 REQ-12), so:

- an inbound hit counts under its claimed port only when an outbound probe of ours verified that same
  ip:port in that swarm within :data:`CLAIM_CHECK_WINDOW_US` of it, before or after (the claim was
  checked while the mapping could still be the same one); otherwise under its observed source port. The
  window is a port mapping's recommended lifetime, 7,200 s (NAT-PMP, RFC 6886 section 3.3): an address
  whose listen port we reached in the morning may be another subscriber's, forwarding the same port
  number, by night;
- an inbound record sealed before the source port was kept (observation format version 1) cannot say
  which port was observed: it is refused (named, never counted) unless its port was checked that way.
"""

from __future__ import annotations

import bisect
import dataclasses
from typing import Any, TypeVar

E = TypeVar("E")  # store.ledger.proven.ProvenEvidence (not imported: that module calls this one)

CLAIM_CHECK_WINDOW_US = 7_200_000_000  # µs: RFC 6886 section 3.3's recommended port mapping lifetime
UNKNOWN_SOURCE_PORT = (
    "inbound record sealed before its TCP source port was kept (observation format version 1): its port "
    "may be the peer's unchecked BEP 10 claim, and no outbound probe of ours verified that port"
)


def wire_ports(evidence: E, refused_row: Any) -> E:
    """``evidence`` (a ``ProvenEvidence``) with each inbound hit's ``port`` set as the module docstring
    says (outbound hits, and inbound ones whose claim an outbound hit of the same evidence checked within
    the window, unchanged); ``refused_row``: the ``RefusedRow`` type an unknown source port is refused
    with."""
    ev: Any = evidence
    checked: dict[tuple[str, int, str], list[int]] = {}  # ip:port in a swarm -> outbound hits' starts (µs)
    for h in ev.hits:
        if h.claimed_port is None:
            checked.setdefault((h.ip, h.port, h.infohash), []).append(h.started_us)
    for starts in checked.values():
        starts.sort()
    hits, refused = [], list(ev.refused)
    for h in ev.hits:
        claim = None if h.claimed_port is None else checked.get((h.ip, h.claimed_port, h.infohash))
        if h.claimed_port is None or _checked_near(claim, h.started_us):
            hits.append(h)
        elif h.source_port is not None:
            hits.append(dataclasses.replace(h, port=h.source_port))
        else:
            refused.append(
                refused_row(
                    h.observation_id, h.ledger_index, h.infohash, h.ip, h.port, h.started_us,
                    UNKNOWN_SOURCE_PORT,
                )
            )  # fmt: skip
    refused.sort(key=lambda r: r.observation_id)
    out: E = dataclasses.replace(ev, hits=tuple(hits), refused=tuple(refused))
    return out


def _checked_near(starts: list[int] | None, at_us: int) -> bool:
    """Whether one of ``starts`` (sorted, UTC µs) is within :data:`CLAIM_CHECK_WINDOW_US` of ``at_us``."""
    if not starts:
        return False
    i = bisect.bisect_left(starts, at_us - CLAIM_CHECK_WINDOW_US)
    return i < len(starts) and starts[i] <= at_us + CLAIM_CHECK_WINDOW_US
