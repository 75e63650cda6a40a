"""Aggregation of sightings and observations into per-(swarm, peer address) summaries: the rules as cases."""

from __future__ import annotations

import dataclasses

import pytest

from swarmscope.evidence.records import (
    BlockProof,
    ExtensionInfo,
    Failure,
    Observation,
    Sighting,
    Source,
    Tier,
)
from swarmscope.evidence.summary import PeerSummary, sort_summaries, summarize, swarm_totals
from tests.store.factories import SWARM_A, SWARM_B, T0, observation, sighting


def one(sightings: list[Sighting], observations: list[Observation]) -> PeerSummary:
    (summary,) = summarize(sightings, observations)
    return summary


def verified(pieces: tuple[int, ...], at: int = 0, **kw: object) -> Observation:
    return observation(
        tier=Tier.VERIFIED,
        failure=None,
        verified_pieces=pieces,
        started_us=T0 + at,
        ended_us=T0 + at + 10,
        **kw,
    )


def hash_failed(pieces: tuple[int, ...], at: int = 0, **kw: object) -> Observation:
    return observation(
        tier=Tier.HAS_PIECES,
        failure=Failure.HASH_MISMATCH.value,
        failed_pieces=pieces,
        started_us=T0 + at,
        ended_us=T0 + at + 10,
        **kw,
    )


# (case id, sightings, observations, expected field values)
CASES = [
    ("listed-only-stays-listed", [sighting()], [], {"tier": Tier.LISTED, "failure": None, "observations": 0}),
    (
        "tier-is-max",
        [],
        [
            observation(tier=Tier.CONNECTED),
            observation(tier=Tier.HAS_PIECES, failure="choked"),
            observation(),
        ],
        {"tier": Tier.HAS_PIECES, "observations": 3},
    ),
    ("verified", [], [verified((4, 1))], {"tier": Tier.VERIFIED, "failure": None, "verified_pieces": (1, 4)}),
    (
        "only-observation-failed-every-piece-stays-has-pieces",
        [],
        [hash_failed((0, 1, 2))],
        {
            "tier": Tier.HAS_PIECES,
            "failure": "hash_mismatch",
            "verified_pieces": (),
            "failed_pieces": (0, 1, 2),
        },
    ),
    (
        "failed-piece-never-verified-even-if-verified-later",
        [],
        [hash_failed((3,), at=0), verified((3,), at=100)],
        {"tier": Tier.HAS_PIECES, "failure": "hash_mismatch", "verified_pieces": (), "failed_pieces": (3,)},
    ),
    (
        "failed-piece-never-verified-even-if-verified-earlier",
        [],
        [verified((3,), at=0), hash_failed((3,), at=100)],
        {"tier": Tier.HAS_PIECES, "failure": "hash_mismatch", "verified_pieces": ()},
    ),
    (
        "failure-on-one-piece-does-not-taint-others",
        [],
        [hash_failed((3,), at=0), verified((3, 5), at=100)],
        {"tier": Tier.VERIFIED, "failure": None, "verified_pieces": (5,), "failed_pieces": (3,)},
    ),
    (
        "verified-pieces-union",
        [],
        [verified((1,)), verified((2, 1), at=50)],
        {"verified_pieces": (1, 2), "observations": 2},
    ),
    (
        "failure-is-latest-observation",
        [],
        [
            observation(failure="connect_timeout", ended_us=T0 + 50),
            observation(failure="choked", ended_us=T0 + 90),
            observation(failure="closed_by_peer", ended_us=T0 + 70),
        ],
        {"failure": "choked"},
    ),
    (
        "sources-union-sorted",
        [sighting(source="tracker"), sighting(source="dht"), sighting(source="tracker")],
        [observation(source=Source.PEX.value)],
        {"sources": ("dht", "pex", "tracker")},
    ),
    (
        "first-last-seen-span-sightings-and-observations",
        [sighting(seen_at_us=T0 + 500), sighting(seen_at_us=T0 + 20)],
        [
            observation(started_us=T0 + 100, ended_us=T0 + 900),
            observation(started_us=T0 + 10, ended_us=T0 + 15),
        ],
        {"first_seen_us": T0 + 10, "last_seen_us": T0 + 900},
    ),
    (
        "first-last-seen-sightings-only",
        [sighting(seen_at_us=T0 + 5), sighting(seen_at_us=T0 + 3)],
        [],
        {"first_seen_us": T0 + 3, "last_seen_us": T0 + 5},
    ),
    (
        "bytes-summed-quirks-unioned-encrypted-any",
        [],
        [
            observation(bytes_received=16384, quirks=("PW-10",), encrypted=True, ended_us=T0 + 1),
            observation(bytes_received=100, quirks=("TRK-03", "PW-10"), ended_us=T0 + 2),
        ],
        {"bytes_received": 16484, "quirks": ("PW-10", "TRK-03"), "encrypted": True},
    ),
    (
        "latest-known-completion-client-peer-id-yourip",
        [sighting(peer_id=b"T" * 20)],
        [
            observation(
                completion=0.5,
                client="qBittorrent",
                client_version="4.6",
                peer_id=b"Q" * 20,
                extension=ExtensionInfo(yourip="127.0.0.9"),
                ended_us=T0 + 10,
            ),
            observation(completion=1.0, client="Deluge", client_version=None, ended_us=T0 + 20),
            observation(failure="connect_refused", tier=Tier.LISTED, ended_us=T0 + 30),
        ],
        {
            "completion": 1.0,
            "client": "Deluge",
            "client_version": None,
            "peer_id": b"Q" * 20,
            "yourip": "127.0.0.9",
        },
    ),
    (
        "peer-id-from-sighting-when-never-handshaken",
        [sighting(peer_id=b"A" * 20, seen_at_us=T0 + 2), sighting(peer_id=b"B" * 20, seen_at_us=T0 + 1)],
        [observation(tier=Tier.LISTED, failure="connect_timeout")],
        {"peer_id": b"A" * 20, "tier": Tier.LISTED, "failure": "connect_timeout"},
    ),
    (
        "equal-end-times-later-input-wins",
        [],
        [observation(completion=0.25, ended_us=T0), observation(completion=0.75, ended_us=T0)],
        {"completion": 0.75},
    ),
    (
        "verified-tier-without-any-piece-is-capped",
        [],
        [observation(tier=Tier.VERIFIED, failure=None)],
        {"tier": Tier.HAS_PIECES, "failure": "hash_mismatch"},
    ),
]


@pytest.mark.parametrize(
    ("sightings", "observations", "expected"), [c[1:] for c in CASES], ids=[c[0] for c in CASES]
)
def test_summary_rules(
    sightings: list[Sighting], observations: list[Observation], expected: dict[str, object]
) -> None:
    summary = one(sightings, observations)
    actual = {name: getattr(summary, name) for name in expected}
    assert actual == expected


def test_one_summary_per_swarm_and_address() -> None:
    sightings = [sighting(), sighting(port=6882), sighting(infohash=SWARM_B), sighting(ip="::1")]
    observations = [observation(), observation(ip="::1"), observation(ip="127.0.0.10")]
    keys = [(s.infohash, s.ip, s.port) for s in summarize(sightings, observations)]
    assert keys == [
        (SWARM_A, "127.0.0.2", 6881),
        (SWARM_A, "127.0.0.10", 6881),
        (SWARM_A, "::1", 6881),
        (SWARM_A, "127.0.0.2", 6882),
        (SWARM_B, "127.0.0.2", 6881),
    ]


def test_order_is_swarm_then_tier_then_numeric_address() -> None:
    observations = [
        observation(ip="127.0.0.10"),
        observation(ip="127.0.0.9"),
        verified((0,), ip="::2"),
        observation(ip="127.0.0.9", port=80),
    ]
    got = [(s.ip, s.port) for s in summarize([], observations)]
    assert got == [("::2", 6881), ("127.0.0.9", 80), ("127.0.0.9", 6881), ("127.0.0.10", 6881)]


def test_summarize_empty() -> None:
    assert summarize([], []) == []
    assert swarm_totals([]) == {}


def test_client_label() -> None:
    base = one([], [observation(client="Transmission", client_version="3.00")])
    assert base.client_label == "Transmission 3.00"
    assert dataclasses.replace(base, client_version=None).client_label == "Transmission"
    assert dataclasses.replace(base, client=None).client_label is None


def test_swarm_totals() -> None:
    observations = [
        verified((0,), ip="127.0.0.2", completion=1.0, client="Transmission", client_version="3.00"),
        verified((1,), ip="127.0.0.3", completion=0.5, client="Transmission", client_version="3.00"),
        hash_failed((2,), ip="127.0.0.4", completion=1.0, client="aria2", bytes_received=16384),
        observation(ip="127.0.0.5", completion=0.0, client="aria2"),
        observation(ip="127.0.0.6", tier=Tier.LISTED, failure="connect_refused"),
        observation(infohash=SWARM_B, ip="127.0.0.7", bytes_received=7),
    ]
    sightings = [sighting(ip="127.0.0.8"), sighting(ip="127.0.0.9", infohash=SWARM_B)]
    totals = swarm_totals(summarize(sightings, observations))
    assert list(totals) == [SWARM_A, SWARM_B]
    a = totals[SWARM_A]
    assert (a.peers, a.listed, a.connected, a.has_pieces, a.verified) == (6, 2, 1, 1, 2)
    assert (a.seeds, a.leechers, a.bytes_received) == (2, 2, 16384)
    assert a.top_clients == (("Transmission 3.00", 2), ("aria2", 2))
    assert [a.at_least(t) for t in Tier] == [6, 4, 3, 2]
    b = totals[SWARM_B]
    assert (b.peers, b.listed, b.connected, b.bytes_received, b.top_clients) == (2, 1, 1, 7, ())


def test_an_address_proven_by_a_block_alone_is_verified() -> None:
    """A 16 KiB block matching the block hash table proves distribution by itself."""
    proof = BlockProof(piece=3, begin=16384, length=16384, sha256=b"\x11" * 32)
    obs = dataclasses.replace(
        observation(tier=Tier.VERIFIED), verified_pieces=(), failed_pieces=(), verified_blocks=(proof,)
    )
    (summary,) = summarize([], [obs])
    assert summary.tier is Tier.VERIFIED and summary.failure is None
    assert summary.verified_blocks == ((3, 16384),) and summary.failed_blocks == ()


def test_a_block_that_also_failed_at_the_same_position_does_not_verify() -> None:
    proof = BlockProof(piece=3, begin=0, length=16384, sha256=b"\x11" * 32)
    good = dataclasses.replace(
        observation(tier=Tier.VERIFIED), verified_pieces=(), failed_pieces=(), verified_blocks=(proof,)
    )
    bad = dataclasses.replace(
        observation(tier=Tier.HAS_PIECES), verified_pieces=(), failed_pieces=(), failed_blocks=(proof,)
    )
    (summary,) = summarize([], [good, bad])
    assert summary.tier is Tier.HAS_PIECES and summary.failure == Failure.HASH_MISMATCH.value
    assert summary.verified_blocks == () and summary.failed_blocks == ((3, 0),)


def test_records_not_sealed_are_summarised_apart_and_not_counted() -> None:
    sealed = summarize([], [verified((0,))], clock=["flagged"])
    quarantined = summarize(
        [sighting(ip="127.0.0.9")], [verified((1,), ip="127.0.0.9")], evidence="quarantined"
    )
    unsealed = summarize([], [verified((2,))], evidence="unsealed", clock=["ok"])
    every = sort_summaries(quarantined + unsealed + sealed)
    assert [(p.ip, p.evidence, p.tier_label) for p in every] == [
        ("127.0.0.2", "sealed", "verified"),
        ("127.0.0.2", "unsealed", "unsealed"),
        ("127.0.0.9", "quarantined", "quarantined"),
    ]
    assert [p.clock for p in every] == ["flagged", None, None]  # records that are not evidence: no verdict
    totals = swarm_totals(every)[SWARM_A]
    assert (totals.peers, totals.verified, totals.unsealed, totals.quarantined, totals.clock_flagged) == (
        1, 1, 1, 1, 1,
    )  # fmt: skip
    with pytest.raises(ValueError):
        summarize([], [verified((0,))], clock=[])


def test_a_port_only_an_inbound_peer_claimed_is_never_shown_as_observed() -> None:
    """An inbound peer's BEP 10 ``p`` is its claim; the report says so and names the source ports its
    connections really came from (RFC 6302); a port our own probe connected to, or an inbound connection
    came from, was observed on the wire."""
    liar = [
        verified((0,), at=k, source=Source.INBOUND.value, port=4444, source_port=40001 + k) for k in (0, 1)
    ]
    claimed = one([], liar)
    assert (claimed.port, claimed.port_seen, claimed.source_ports) == (4444, "claimed", (40001, 40002))
    came_from = one([], [verified((0,), source=Source.INBOUND.value, port=40001, source_port=40001)])
    assert came_from.port_seen == "inbound"
    assert one([], [*liar, verified((0,), port=4444)]).port_seen == "dialled"
    assert one([sighting(port=4444)], []).port_seen == "listed"
