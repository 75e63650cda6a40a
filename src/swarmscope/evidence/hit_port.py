"""The port a verified hit counts under: the one observed on the wire, or a claim our own probe checked.

An outbound hit's port is the one we dialled and reached: observed. An inbound peer dialled us; its record
keeps the TCP source port its connection came from (``Observation.source_port``) and, in ``port``, the
BEP 10 listen port ``p`` it claimed (a claim nothing checks: a peer, hostile or NATed, may name any port).
Behind carrier-grade NAT the port is what tells subscribers apart, and an ISP can name a subscriber only
from the public source port and the time of the connection (RFC 6302 section 2, RFC 6888 REQ-12), so an
inbound hit counts under its claimed port only when an outbound probe of ours verified that same ip:port
in that swarm within :data:`CLAIM_CHECK_WINDOW_US` of it, before or after (the claim checked while the
mapping could still be the same one: a port mapping's recommended lifetime, 7,200 s, NAT-PMP, RFC 6886
section 3.3); otherwise under its observed source port; and an inbound record sealed before the source
port was kept (observation format version 1) has no port it can count under (None).

One rule for ``cases build`` (``store/ledger/proven_ports``) and bundles across nodes
(``evidence/bundle/nodes``: ``hits.jsonl`` counts corroboration as cases do). Pure.
"""

from __future__ import annotations

import bisect
from collections.abc import Iterable, Mapping

CLAIM_CHECK_WINDOW_US = 7_200_000_000  # µs: RFC 6886 section 3.3's recommended port mapping lifetime

Checks = Mapping[tuple[str, int, str], list[int]]  # (ip, port, infohash) -> outbound hits' starts, sorted


def claim_checks(outbound: Iterable[tuple[str, int, str, int]]) -> dict[tuple[str, int, str], list[int]]:
    """The outbound verified hits ``(ip, port, infohash, started_us)`` by address, their starts sorted."""
    checks: dict[tuple[str, int, str], list[int]] = {}
    for ip, port, infohash, started_us in outbound:
        checks.setdefault((ip, port, infohash), []).append(started_us)
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
    inbound: bool, ip: str, port: int, source_port: int | None, infohash: str, started_us: int, checks: Checks
) -> int | None:
    """The port a verified hit counts under (module docstring): ``port`` for an outbound hit or a checked
    claim, else the inbound hit's ``source_port`` (None: a format version 1 record that has none)."""
    if not inbound or checked_near(checks.get((ip, port, infohash)), started_us):
        return port
    return source_port
