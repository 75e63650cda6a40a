"""The port a verified hit counts under (``evidence.hit_port``), behind carrier-grade NAT.

Subscriber B is reachable at 100.64.0.1:51413 (a CGNAT port mapping) and our outbound probe verified it;
neighbour A, behind the same address, dials us from source port 40001 claiming BEP 10 ``p`` = 51413. The
ISP asked about (ip, port, time) names whoever that port was mapped to (RFC 6302 section 2): A's hit must
count under 40001 unless the probe that checked 51413 reached the same client (the same peer id, BEP 3).
"""

from __future__ import annotations

from swarmscope.evidence.hit_port import CLAIM_CHECK_WINDOW_US, claim_checks, counted_port

IH = "ab" * 20
IP = "100.64.0.1"  # RFC 6598 shared address space
T = 1_800_000_000_000_000  # UTC µs: our outbound probe of IP:51413
HOUR = 3_600_000_000
B_ID, A_ID = b"-TR3000-subscriberB1", b"-TR3000-neighbourA11"
CHECKS = claim_checks([(IP, 51413, IH, T, B_ID)])


def test_a_neighbours_claim_counts_under_its_own_source_port() -> None:
    assert counted_port(True, IP, 51413, 40001, IH, T + HOUR, CHECKS, A_ID) == 40001


def test_the_same_clients_claim_counts_under_the_checked_port() -> None:
    assert counted_port(True, IP, 51413, 40001, IH, T + HOUR, CHECKS, B_ID) == 51413


def test_a_claim_outside_the_window_or_in_another_swarm_counts_under_the_source_port() -> None:
    later = T + CLAIM_CHECK_WINDOW_US + 1
    assert counted_port(True, IP, 51413, 40001, IH, later, CHECKS, B_ID) == 40001
    assert counted_port(True, IP, 51413, 40001, "cd" * 20, T, CHECKS, B_ID) == 40001


def test_a_hit_without_a_peer_id_checks_nothing_and_is_checked_by_nothing() -> None:
    assert claim_checks([(IP, 51413, IH, T, None)]) == {}
    assert counted_port(True, IP, 51413, 40001, IH, T + HOUR, CHECKS, None) == 40001


def test_outbound_hits_and_old_inbound_records() -> None:
    """An outbound hit counts under the port we dialled; an inbound one sealed without its source port
    (observation format version 1) and unchecked has none."""
    assert counted_port(False, IP, 51413, None, IH, T, {}, A_ID) == 51413
    assert counted_port(True, IP, 51413, None, IH, T + HOUR, CHECKS, A_ID) is None
    assert counted_port(True, IP, 51413, None, IH, T + HOUR, CHECKS, B_ID) == 51413


def test_by_address_is_bundle_version_4s_rule() -> None:
    """Export bundle format version 4 checked a claim by ip:port alone, whatever peer id answered."""
    old = claim_checks([(IP, 51413, IH, T, B_ID), (IP, 6881, IH, T, None)], by_address=True)
    assert counted_port(True, IP, 51413, 40001, IH, T + HOUR, old, A_ID, by_address=True) == 51413
    assert counted_port(True, IP, 6881, 40002, IH, T + HOUR, old, None, by_address=True) == 6881
