"""The port a verified hit counts under: the one observed on the wire, or a claim our own probe checked.

An outbound hit's port is the one we dialled and reached: observed. An inbound peer dialled us; its record
keeps the TCP source port its connection came from (``Observation.source_port``) and, in ``port``, the
BEP 10 listen port ``p`` it claimed (a claim nothing checks: a peer, hostile or NATed, may name any port).
Behind carrier-grade NAT the port is what tells subscribers apart, and an ISP can name a subscriber only
from the public source port and the time of the connection (RFC 6302 section 2, RFC 6888 REQ-12), so an
inbound hit counts under its claimed port only when an outbound probe of ours verified that same ip:port
in that swarm within :data:`CLAIM_CHECK_WINDOW_US` of it, before or after (the claim checked while the
mapping could still be the same one: a port mapping's recommended lifetime, 7,200 s, NAT-PMP, RFC 6886
section 3.3), AND that probe's handshake named the same peer id as the inbound connection's; otherwise
under its observed source port; and an inbound record sealed before the source port was kept
(observation format version 1) has no port it can count under (None).

Why the peer id: behind one CGNAT address, subscriber B is reachable at ip:51413 and our probe verifies
it; neighbour A dials us from source port 40001 and claims ``p`` = 51413 (an honest client sends its own
listen port, and 6881/51413 are common defaults; a hostile one copies B's from a peer list). Without the
peer id A's hit would be counted under B's port and the ISP asked about (ip, 51413, t) would name B. One
client keeps one peer id per torrent across its connections (the BEP 3 handshake's; libtorrent draws
it once per torrent, Transmission too and renews it only after ``peer-id-ttl-hours``, 6 h by default, on
public torrents), so the same client matches; a client that changed its id in between counts
under its source port, which is still what a CGNAT log maps to it. A hit without a peer id checks nothing.
A peer id is no secret (any peer that connects to B is sent it): a hostile neighbour that copies B's peer
id as well as its port still passes; the case documents name every inbound hit's source port beside it.

``by_address`` is the rule export bundle format version 4 used (a claim checked by ip:port alone); the
bundle verifier re-derives such a bundle by it (:mod:`swarmscope.evidence.bundle.nodes`).

One rule for ``cases build`` (``store/ledger/proven_ports``) and bundles across nodes
(``evidence/bundle/nodes``: ``hits.jsonl`` counts corroboration as cases do). Pure.
"""

from __future__ import annotations

import bisect
from collections.abc import Iterable, Mapping

CLAIM_CHECK_WINDOW_US = 7_200_000_000  # µs: RFC 6886 section 3.3's recommended port mapping lifetime

# (ip, port, infohash, peer id; None under ``by_address``) -> outbound hits' starts (UTC µs), sorted
CheckKey = tuple[str, int, str, bytes | None]
Checks = Mapping[CheckKey, list[int]]


def claim_checks(
    outbound: Iterable[tuple[str, int, str, int, bytes | None]], *, by_address: bool = False
) -> dict[CheckKey, list[int]]:
    """The outbound verified hits ``(ip, port, infohash, started_us, peer_id)`` by address and peer id
    (by address alone when ``by_address``: bundle format version 4), their starts sorted; a hit without a
    peer id checks nothing unless ``by_address``."""
    checks: dict[CheckKey, list[int]] = {}
    for ip, port, infohash, started_us, peer_id in outbound:
        if by_address or peer_id is not None:
            checks.setdefault((ip, port, infohash, None if by_address else peer_id), []).append(started_us)
    for starts in checks.values():
        starts.sort()
    return checks


def checked_near(starts: list[int] | None, at_us: int) -> bool:
    """Whether one of ``starts`` (sorted, UTC µs) is within :data:`CLAIM_CHECK_WINDOW_US` of ``at_us``."""
    if not starts:
        return False
    i = bisect.bisect_left(starts, at_us - CLAIM_CHECK_WINDOW_US)
    return i < len(starts) and starts[i] <= at_us + CLAIM_CHECK_WINDOW_US


def counted_port(
    inbound: bool,
    ip: str,
    port: int,
    source_port: int | None,
    infohash: str,
    started_us: int,
    checks: Checks,
    peer_id: bytes | None,
    *,
    by_address: bool = False,
) -> int | None:
    """The port a verified hit counts under (module docstring): ``port`` for an outbound hit or a claim
    an outbound hit of the same ``peer_id`` checked near ``started_us`` (any peer id when ``by_address``:
    ``checks`` must then be built so too), else the inbound hit's ``source_port`` (None: a format version 1
    record that has none)."""
    if not inbound:
        return port
    if by_address or peer_id is not None:
        key = (ip, port, infohash, None if by_address else peer_id)
        if checked_near(checks.get(key), started_us):
            return port
    return source_port
