"""Inbound hits in cases: the port a case names is the one observed on the wire, or a claim we checked.

An inbound peer's BEP 10 ``p`` is its claim (``Observation.port``); the TCP source port its connection
came from is sealed beside it (``source_port``, observation format version 2). Behind carrier-grade NAT
the port is what tells subscribers apart and an ISP matches the public source port and time (RFC 6302).
A claim is checked only by our own probe of that ip:port that saw the same peer id (BEP 3: one client
keeps one peer id per torrent), never by a neighbour's behind the same address.
"""

from __future__ import annotations

import dataclasses
from collections.abc import Iterator
from pathlib import Path

import pytest

from swarmscope.cases.candidates import build_cases, load_hits
from swarmscope.cases.hit_proofs import letter_facts
from swarmscope.cases.thresholds import ThresholdPolicy
from swarmscope.evidence.canonical import as_version
from swarmscope.evidence.declarations import OBSERVATION
from swarmscope.evidence.hit_port import CLAIM_CHECK_WINDOW_US
from swarmscope.evidence.records import Observation, Source, us_to_iso
from swarmscope.store.database import Store
from swarmscope.store.ledger.proven import proven_observations, store_trust
from swarmscope.store.ledger.proven_ports import UNKNOWN_SOURCE_PORT
from swarmscope.store.legal import case_status
from swarmscope.store.legal import cases as sc
from tests.cases.evidence import IH, T0, fresh_store, hit, seal

CLAIMED = 4444  # the liar's BEP 10 p: nothing of it listens there
PEER = b"-LT2110-subscriber01"  # the peer id of the client our probe reached at ip:CLAIMED
NEIGHBOUR = b"-TR3000-neighbour001"  # another subscriber behind the same carrier-grade NAT address


@pytest.fixture
def store(tmp_path: Path) -> Iterator[Store]:
    yield from fresh_store(tmp_path)


def inbound(
    ip: str, minute: float, source_port: int, claimed: int = CLAIMED, peer_id: bytes = PEER
) -> Observation:
    """A verified inbound hit whose peer (``peer_id``) claimed ``claimed`` and came from ``source_port``."""
    return dataclasses.replace(
        hit(ip, minute, port=claimed), source=Source.INBOUND.value, source_port=source_port, peer_id=peer_id
    )


def dialled(ip: str, minute: float, port: int = CLAIMED, peer_id: bytes = PEER) -> Observation:
    """A verified outbound hit of ours at ip:``port`` whose handshake named ``peer_id``."""
    return dataclasses.replace(hit(ip, minute, port=port), peer_id=peer_id)


def _build(store: Store) -> tuple[list[tuple[str, int]], object]:
    work = sc.add_work(store, "Rights Ltd", "Work", None, None, T0)
    sc.link_torrent(store, work, IH, T0)
    report = build_cases(store, ThresholdPolicy(), T0 + 10**12)
    return sorted((c.ip, c.port) for c in report.created), report


def test_an_unchecked_claim_never_names_the_case_port(store: Store) -> None:
    """Three verified inbound hits claiming 4444 from source ports 40001..40003: no case under 4444;
    each hit counts under its own observed source port (three groups of one hit: too few each)."""
    seal(store, [inbound("127.0.0.5", m, 40001 + i) for i, m in enumerate((0, 30, 70))])
    hits = load_hits(store)
    assert sorted(h.port for h in hits) == [40001, 40002, 40003]
    created, report = _build(store)
    assert created == []
    assert sorted(v.port for v in report.excluded) == [40001, 40002, 40003]  # type: ignore[attr-defined]


def test_one_source_port_over_an_hour_makes_a_case_under_that_port(store: Store) -> None:
    seal(store, [inbound("127.0.0.5", m, 40001) for m in (0, 30, 70)])
    created, _ = _build(store)
    assert created == [("127.0.0.5", 40001)]


def test_a_claim_our_outbound_probe_verified_counts_under_the_claimed_port(store: Store) -> None:
    """We dialled 127.0.0.6:4444 ourselves and verified it: inbound hits claiming 4444 count there."""
    records = [
        dialled("127.0.0.6", 0),
        inbound("127.0.0.6", 30, 50001),
        inbound("127.0.0.6", 70, 50002),
    ]
    seal(store, records)
    hits = proven_observations(store, store_trust(store, None).fingerprints, T0 + 10**13).hits
    assert [h.port for h in hits] == [CLAIMED] * 3
    assert [(h.claimed_port, h.source_port) for h in hits] == [
        (None, None),
        (CLAIMED, 50001),
        (CLAIMED, 50002),
    ]
    created, _ = _build(store)
    assert created == [("127.0.0.6", CLAIMED)]


def test_an_old_inbound_record_without_its_source_port_is_refused_unless_checked(store: Store) -> None:
    """Records sealed under observation format version 1 cannot say which port was observed."""
    old = [as_version(OBSERVATION, inbound("127.0.0.7", m, 40001), 1) for m in (0, 30, 70)]
    checked_old = as_version(OBSERVATION, inbound("127.0.0.8", 30, 40002), 1)
    seal(store, [*old, dialled("127.0.0.8", 0), checked_old])
    evidence = proven_observations(store, store_trust(store, None).fingerprints, T0 + 10**13)
    assert [(h.ip, h.port) for h in evidence.hits] == [("127.0.0.8", CLAIMED)] * 2
    assert [(r.ip, r.reason) for r in evidence.refused] == [("127.0.0.7", UNKNOWN_SOURCE_PORT)] * 3


def test_documents_say_which_port_was_observed_and_which_was_claimed(store: Store) -> None:
    """Each hit line of an inbound case (notices, letters, exhibits and the disclosure request that carries
    the exhibit) names the TCP source port the connection came from and its start time (RFC 6302), and
    the BEP 10 port as a claim: unchecked, or verified by our own connection."""
    seal(store, [inbound("127.0.0.5", m, 40001) for m in (0, 30, 70)])
    seal(
        store,
        [dialled("127.0.0.6", 0), inbound("127.0.0.6", 30, 50001), inbound("127.0.0.6", 70, 50002)],
    )
    _build(store)
    lines = {c.ip: letter_facts(store, c.id).hit_proofs for c in case_status.list_cases(store)}
    unchecked = "(the peer connected to us from TCP source port 40001, claiming listen port 4444: unchecked)"
    assert len(lines["127.0.0.5"]) == 3 and all(line.endswith(unchecked) for line in lines["127.0.0.5"])
    assert lines["127.0.0.5"][0].startswith(us_to_iso(T0) + ": ")
    ours, *theirs = lines["127.0.0.6"]
    assert "connected to us" not in ours  # our own connection to 4444: the port named is the one we dialled
    assert theirs[0].endswith(
        "(the peer connected to us from TCP source port 50001, claiming listen port 4444: verified by our own"
        " connection to it)"
    )
    assert all("; " not in line for line in (*lines["127.0.0.5"], *theirs))  # the exhibit's separator


def test_a_claim_counts_only_near_the_probe_that_checked_it(store: Store) -> None:
    """A port mapping lives about two hours (RFC 6886 section 3.3): an inbound hit more than
    ``CLAIM_CHECK_WINDOW_US`` from every outbound verification of its claimed ip:port counts under its
    observed source port, whichever side of the check it falls on."""
    window_min = CLAIM_CHECK_WINDOW_US / 60e6
    records = [
        inbound("127.0.0.9", 0, 50001),  # 180 min before the check: too early
        dialled("127.0.0.9", 180),
        inbound("127.0.0.9", 180 - window_min, 50002),  # exactly the window before: checked
        inbound("127.0.0.9", 180 + window_min, 50003),  # exactly the window after: checked
        inbound("127.0.0.9", 180 + window_min + 1, 50004),  # a minute later: not
    ]
    seal(store, records)
    hits = proven_observations(store, store_trust(store, None).fingerprints, T0 + 10**13).hits
    assert sorted((h.source_port or 0, h.port) for h in hits) == [
        (0, CLAIMED),
        (50001, 50001),
        (50002, CLAIMED),
        (50003, CLAIMED),
        (50004, 50004),
    ]


def test_a_cgnat_neighbours_claim_stays_out_of_the_checked_subscribers_case(store: Store) -> None:
    """We verified subscriber B at 127.0.0.6:4444 three times over 70 minutes; a neighbour behind the
    same address dialled us from source port 40001 between them, claiming 4444 under its own peer id. B's
    case holds B's three hits only; the neighbour's three count under 40001, a case of their own (the
    port a CGNAT log maps to the neighbour at that time: RFC 6302 section 2)."""
    seal(store, [dialled("127.0.0.6", m) for m in (0, 30, 70)])
    seal(store, [inbound("127.0.0.6", m, 40001, peer_id=NEIGHBOUR) for m in (10, 40, 80)])
    created, _ = _build(store)
    assert created == [("127.0.0.6", CLAIMED), ("127.0.0.6", 40001)]
    hits = proven_observations(store, store_trust(store, None).fingerprints, T0 + 10**13).hits
    assert sorted((h.port, h.peer_id) for h in hits) == [(CLAIMED, PEER)] * 3 + [(40001, NEIGHBOUR)] * 3
    by_port = {c.port: letter_facts(store, c.id).hit_proofs for c in case_status.list_cases(store)}
    assert len(by_port[CLAIMED]) == 3 and not any("connected to us" in line for line in by_port[CLAIMED])
    assert len(by_port[40001]) == 3 and all(
        line.endswith("(the peer connected to us from TCP source port 40001, claiming listen port 4444:"
                      " unchecked)")
        for line in by_port[40001]
    )  # fmt: skip


def test_a_claim_checked_by_a_probe_without_a_peer_id_counts_under_the_source_port(store: Store) -> None:
    """An outbound hit whose record names no peer id cannot say which client it reached: it checks no
    claim (the inbound hit counts under its source port, as unchecked)."""
    seal(store, [hit("127.0.0.6", 0, port=CLAIMED), inbound("127.0.0.6", 30, 50001)])
    hits = proven_observations(store, store_trust(store, None).fingerprints, T0 + 10**13).hits
    assert [(h.port, h.source_port) for h in hits] == [(CLAIMED, None), (50001, 50001)]
