"""Which port a proven hit counts under (the rule: :mod:`swarmscope.evidence.hit_port`), for ``cases build``.

An inbound hit counts under its claimed BEP 10 listen port only when an outbound probe of ours verified
that ip:port in the swarm within two hours of it and its handshake named the same peer id (the same
client, not a neighbour behind one carrier-grade NAT address), else under its observed TCP source port;
an inbound record sealed before the source port was kept (observation format version 1) and not checked
that way is refused, named, never counted.
"""

from __future__ import annotations

import dataclasses
from typing import Any, TypeVar

from swarmscope.evidence.hit_port import claim_checks, counted_port

E = TypeVar("E")  # store.ledger.proven.ProvenEvidence (not imported: that module calls this one)

UNKNOWN_SOURCE_PORT = (
    "inbound record sealed before its TCP source port was kept (observation format version 1): its port "
    "may be the peer's unchecked BEP 10 claim, and no outbound probe of ours verified that port"
)


def wire_ports(evidence: E, refused_row: Any) -> E:
    """``evidence`` (a ``ProvenEvidence``) with each inbound hit's ``port`` set as the module docstring
    says (outbound hits, and inbound ones whose claim an outbound hit of the same evidence and the same
    peer id checked within the window, unchanged); ``refused_row``: the ``RefusedRow`` type an unknown
    source port is refused with."""
    ev: Any = evidence
    outbound = (h for h in ev.hits if h.claimed_port is None)
    checks = claim_checks((h.ip, h.port, h.infohash, h.started_us, h.peer_id) for h in outbound)
    hits, refused = [], list(ev.refused)
    for h in ev.hits:
        inbound = h.claimed_port is not None
        port = counted_port(inbound, h.ip, h.port, h.source_port, h.infohash, h.started_us, checks, h.peer_id)
        if port is not None:
            hits.append(h if port == h.port else dataclasses.replace(h, port=port))
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
