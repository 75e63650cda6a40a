"""The console's read models (store/console): overview, series, keyset pages, a peer's trail; on SQLite and,
with ``SWARMSCOPE_TEST_PG_URL``, on PostgreSQL (downgraded to empty afterwards)."""

from __future__ import annotations

import hashlib
import os
from collections import Counter
from collections.abc import Iterator
from pathlib import Path

import pytest
import sqlalchemy as sa
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey

from swarmscope.errors import InputError
from swarmscope.evidence.records import Attribution, ClockSample, Failure, Source, Tier
from swarmscope.evidence.seal import SealedBatch, key_fingerprint, public_key_raw
from swarmscope.store.console.fold import catch_up
from swarmscope.store.console.overview import swarm_overview, swarm_series
from swarmscope.store.console.peers import PeerFilter, peer_page, peer_row
from swarmscope.store.console.schema import MINUTE_US, console_peer, monitor_stat
from swarmscope.store.console.stats import (
    KEEP_US,
    MonitorSample,
    live_runs,
    store_disk_bytes,
    write_monitor_sample,
)
from swarmscope.store.console.trail import capture_of_peer, peer_trail
from swarmscope.store.database import Store, open_store
from swarmscope.store.ledger import writer
from swarmscope.store.ledger.entries import load_batches
from swarmscope.store.ledger.proven import EvidenceTrust
from swarmscope.store.ledger.row_proof import ProvenBatches
from swarmscope.store.ledger.schema import observation as observation_table
from swarmscope.store.ledger.seal_state import clock_verdicts, load_peer_records
from tests.pg_server import drop_schema
from tests.store.factories import SWARM_A, SWARM_B, T0, add_swarms, insert_unlinked, observation, sighting

PG_URL = os.environ.get("SWARMSCOPE_TEST_PG_URL")
S = 1_000_000  # one second in µs


@pytest.fixture(params=["sqlite", "postgresql"])
def key_and_store(
    request: pytest.FixtureRequest, tmp_path: Path
) -> Iterator[tuple[Ed25519PrivateKey, Store]]:
    key = Ed25519PrivateKey.generate()
    if request.param == "postgresql" and not PG_URL:
        pytest.skip("set SWARMSCOPE_TEST_PG_URL to test on PostgreSQL")
    url = PG_URL if request.param == "postgresql" else str(tmp_path / "console.db")
    assert url is not None
    store = open_store(url, node_key=key, now_us=T0)
    try:
        add_swarms(store)
        yield key, store
    finally:
        store.close()
        if request.param == "postgresql":
            drop_schema(PG_URL)  # a sealed workflow event refuses a downgrade past 0008


def _trust(key: Ed25519PrivateKey) -> EvidenceTrust:
    return EvidenceTrust(frozenset({key_fingerprint(public_key_raw(key))}), T0 + 3600 * S)


def _world(store: Store, *, fold: bool = True) -> int:
    """Swarm A: .2 verified twice (minutes 0 and 1, Transmission then qBittorrent), .3 has_pieces with a
    hash failure (DHT), .4 listed only (tracker sighting), .5 unsealed (not evidence). Swarm B: .6.
    Folded into the read models unless ``fold`` is False (reads never fold)."""
    run = store.start_run({}, "0.1.0", T0)
    store.add_sightings(
        run, [sighting("127.0.0.4", seen_at_us=T0), sighting("127.0.0.2", seen_at_us=T0)], sealed_at_us=T0
    )
    verified = {"tier": Tier.VERIFIED, "failure": None}
    store.add_observations(
        run,
        [
            observation(
                "127.0.0.2",
                **verified,
                bytes_received=100,
                client="Transmission",
                client_version="3.00",
                started_us=T0 + S,
                ended_us=T0 + 2 * S,
                verified_pieces=(0,),
            ),
            observation(
                "127.0.0.3",
                tier=Tier.HAS_PIECES,
                failure=Failure.HASH_MISMATCH.value,
                bytes_received=7,
                failed_pieces=(1,),
                source=Source.DHT.value,
                started_us=T0 + 3 * S,
                ended_us=T0 + 4 * S,
            ),
        ],
        sealed_at_us=T0 + 5 * S,
    )
    later = T0 + MINUTE_US
    store.add_observations(
        run,
        [
            observation(
                "127.0.0.2",
                **verified,
                bytes_received=50,
                client="qBittorrent",
                client_version="4.6",
                started_us=later + S,
                ended_us=later + 2 * S,
                verified_pieces=(1,),
            ),
            observation(
                "127.0.0.6", infohash=SWARM_B, tier=Tier.CONNECTED, started_us=later, ended_us=later + S
            ),
        ],
        sealed_at_us=later + 5 * S,
    )
    with store.engine.begin() as conn:
        unsealed = observation("127.0.0.5", tier=Tier.VERIFIED, failure=None, verified_pieces=(0,))
        insert_unlinked(conn, observation_table, [writer.observation_row(run, unsealed, (None, None))])
    if fold:
        catch_up(store)
    return run


def test_overview_counts_sealed_rows_by_tier_source_client_apart_from_unsealed(
    key_and_store: tuple[Ed25519PrivateKey, Store],
) -> None:
    _, store = key_and_store
    _world(store)
    views = {v.infohash: v for v in swarm_overview(store)}
    a = views[SWARM_A]
    assert a.tiers == {"listed": 1, "connected": 0, "has_pieces": 1, "verified": 1}
    assert a.peers == 3 and a.bytes_received == 157 and a.hash_failures == 1
    assert a.sources == {"tracker": 2, "dht": 1}
    assert a.clients == [("qBittorrent 4.6", 1)]  # the latest client string of .2
    assert a.not_evidence == 1  # the unsealed verified row of .5 is never counted as a peer
    assert a.verified_last_minute == 1  # minute 0 (the newest is minute 1)
    assert a.last_seen_us == T0 + MINUTE_US + S
    assert views[SWARM_B].tiers["connected"] == 1 and views[SWARM_B].not_evidence == 0
    assert [v.infohash for v in swarm_overview(store, {SWARM_B})] == [SWARM_B]  # a client's swarms only
    assert swarm_overview(store, set()) == []


def test_series_counts_each_peer_once_per_minute(key_and_store: tuple[Ed25519PrivateKey, Store]) -> None:
    _, store = key_and_store
    _world(store)
    series = swarm_series(store, SWARM_A)
    minute0 = T0 // MINUTE_US * MINUTE_US
    assert [(p.minute_us - minute0, p.peers, p.verified_peers, p.observations) for p in series] == [
        (0, 2, 1, 2),
        (MINUTE_US, 1, 1, 1),
    ]
    assert [p.hash_failures for p in series] == [1, 0]
    assert swarm_series(store, SWARM_A, since_us=minute0 + MINUTE_US)[0].observations == 1


def test_fold_is_incremental_and_counts_each_batch_once(
    key_and_store: tuple[Ed25519PrivateKey, Store],
) -> None:
    _, store = key_and_store
    run = _world(store, fold=False)
    assert catch_up(store) == 3  # the sighting batch and two observation batches
    assert catch_up(store) == 0
    store.add_observations(run, [observation("127.0.0.2", tier=Tier.CONNECTED, bytes_received=1,
                                             started_us=T0 + 2 * MINUTE_US, ended_us=T0 + 2 * MINUTE_US + 1)],
                           sealed_at_us=T0 + 3 * MINUTE_US)  # fmt: skip
    assert catch_up(store) == 1
    row = peer_row(store, SWARM_A, "127.0.0.2", 6881)
    assert row is not None and row.observations == 3 and row.bytes_received == 151 and row.tier == "verified"
    with store.engine.connect() as conn:
        assert conn.execute(sa.select(sa.func.count()).select_from(console_peer)).scalar() == 4


def _all_pages(store: Store, f: PeerFilter, limit: int) -> list[list[str]]:
    pages, cursor = [], None
    while True:
        page = peer_page(store, SWARM_A, f, cursor=cursor, limit=limit)
        pages.append([f"{p.ip}:{p.port}" for p in page.peers])
        if page.next_cursor is None:
            return pages
        cursor = page.next_cursor


def test_keyset_pages_cover_every_peer_once_in_sort_order(
    key_and_store: tuple[Ed25519PrivateKey, Store],
) -> None:
    _, store = key_and_store
    run = store.start_run({}, "0.1.0", T0)
    obs = [observation(f"127.0.1.{i % 7}", port=1000 + i, bytes_received=i % 3, tier=Tier.CONNECTED,
                       started_us=T0 + i * S, ended_us=T0 + i * S + 1) for i in range(23)]  # fmt: skip
    store.add_observations(run, obs, sealed_at_us=T0 + 100 * S)
    catch_up(store)
    pages = _all_pages(store, PeerFilter(sort="bytes"), 5)
    assert [len(p) for p in pages] == [5, 5, 5, 5, 3]
    flat = [peer for page in pages for peer in page]
    by_bytes = sorted(obs, key=lambda o: (o.bytes_received, o.port), reverse=True)  # ties: newest row first
    assert flat == [f"{o.ip}:{o.port}" for o in by_bytes]
    ascending = [peer for page in _all_pages(store, PeerFilter(sort="first_seen", descending=False), 4)
                 for peer in page]  # fmt: skip
    assert ascending == [f"{o.ip}:{o.port}" for o in obs]


def test_filters_by_tier_source_client_country_and_isp(
    key_and_store: tuple[Ed25519PrivateKey, Store],
) -> None:
    _, store = key_and_store
    run = _world(store)
    place = Attribution(ip="127.0.0.3", observed_at_us=T0 + 3 * S, asn=64500, isp="Example Net", country="DE")
    store.commit_evidence(run, records=[place], sealed_at_us=T0 + 10 * MINUTE_US)
    catch_up(store)

    def ips(**kw: str) -> list[str]:
        return [p.ip for p in peer_page(store, SWARM_A, PeerFilter(**kw)).peers]  # type: ignore[arg-type]

    assert ips(tier="verified") == ["127.0.0.2"]
    assert ips(source="dht") == ["127.0.0.3"]
    assert sorted(ips(source="tracker")) == ["127.0.0.2", "127.0.0.4"]
    assert ips(client="qBittorrent 4.6") == ["127.0.0.2"]
    assert ips(country="de") == ["127.0.0.3"] and ips(isp="Example Net") == ["127.0.0.3"]
    assert ips(country="FR") == []
    for bad in ({"tier": "gold"}, {"source": "smoke"}, {"sort": "ip; drop table"}):
        with pytest.raises(InputError):
            peer_page(store, SWARM_A, PeerFilter(**bad))  # type: ignore[arg-type]
    with pytest.raises(InputError, match="cursor"):
        peer_page(store, SWARM_A, cursor="12")


def test_trail_proves_each_row_and_keeps_unproven_rows_apart(
    key_and_store: tuple[Ed25519PrivateKey, Store],
) -> None:
    key, store = key_and_store
    run = _world(store)
    store.add_timestamp_token(store_batches(store)[0], "http://127.0.0.1:8318/tsa", b"\x30\x00", T0 + 9 * S)
    trail = peer_trail(store, _trust(key), SWARM_A, "127.0.0.2", 6881)
    assert [o.record.client for o in trail.observations] == ["qBittorrent", "Transmission"]  # newest first
    assert {o.state for o in trail.observations} == {"sealed"} and trail.not_evidence == []
    assert [o.clock for o in trail.observations] == ["unmeasured", "unmeasured"]  # no NTP sample sealed
    assert all(o.batch is not None for o in trail.observations)
    assert [s.record.source for s in trail.sightings] == ["tracker"]
    unsealed = peer_trail(store, _trust(key), SWARM_A, "127.0.0.5", 6881)
    assert unsealed.observations == [] and [r.state for r in unsealed.not_evidence] == ["unsealed"]
    stranger = peer_trail(store, _trust(Ed25519PrivateKey.generate()), SWARM_A, "127.0.0.2", 6881)
    assert stranger.observations == [] and {r.state for r in stranger.not_evidence} == {"altered"}
    unchecked = peer_trail(store, None, SWARM_A, "127.0.0.2", 6881)
    assert unchecked.observations == [] and {r.state for r in unchecked.not_evidence} == {"unchecked"}
    assert run


def test_trail_names_an_edited_row_altered(key_and_store: tuple[Ed25519PrivateKey, Store]) -> None:
    key, store = key_and_store
    _world(store)
    drop_triggers_and_edit(store, "UPDATE observation SET bytes_received = 999999 WHERE ip = '127.0.0.3'")
    trail = peer_trail(store, _trust(key), SWARM_A, "127.0.0.3", 6881)
    assert trail.observations == []
    assert [(r.state, r.reason) for r in trail.not_evidence] == [
        ("altered", "row altered: it differs from its sealed record")
    ]


def test_capture_is_found_only_through_its_peer(key_and_store: tuple[Ed25519PrivateKey, Store]) -> None:
    _, store = key_and_store
    run = store.start_run({}, "0.1.0", T0)
    data = b"capture bytes"
    digest = hashlib.sha256(data).digest()
    store.commit_evidence(run, records=[observation(capture_sha256=digest)], captures={digest: data},
                          sealed_at_us=T0 + 5 * S)  # fmt: skip
    assert capture_of_peer(store, SWARM_A, "127.0.0.2", 6881, digest.hex()) == data
    assert capture_of_peer(store, SWARM_B, "127.0.0.2", 6881, digest.hex()) is None
    assert capture_of_peer(store, SWARM_A, "127.0.0.9", 6881, digest.hex()) is None
    assert capture_of_peer(store, SWARM_A, "127.0.0.2", 6881, "zz") is None


def store_batches(store: Store) -> list[SealedBatch]:
    return [b.sealed for b in load_batches(store)]


def drop_triggers_and_edit(store: Store, statement: str) -> None:
    """An edit by someone who can write the database (the append-only triggers dropped first)."""
    with store.engine.begin() as conn:
        if conn.dialect.name == "sqlite":
            for name in ("observation_append_only_update",):
                conn.exec_driver_sql(f"DROP TRIGGER {name}")
        else:
            conn.exec_driver_sql("DROP TRIGGER observation_append_only_update ON observation")
        conn.exec_driver_sql(statement)


def test_monitor_samples_give_the_newest_per_live_run_and_its_probe_rate(
    key_and_store: tuple[Ed25519PrivateKey, Store],
) -> None:
    _, store = key_and_store
    for at, probes in ((0, 0), (5, 40), (10, 100)):
        write_monitor_sample(store, MonitorSample(7, T0 + at * S, probes, 3, at, 0.02, 0.1 * at, 1, 2))
    write_monitor_sample(store, MonitorSample(8, T0 - 3600 * S, 5, 0, 1, 0.01, 0.01, 0, 0))  # an old run
    runs = live_runs(store, since_us=T0 - 60 * S)
    assert [(r.latest.run_id, r.latest.probes, r.probes_per_second) for r in runs] == [(7, 100, 12.0)]
    write_monitor_sample(store, MonitorSample(7, T0 + KEEP_US + 10 * S, 101, 0, 11, 0.01, 1.1, 1, 2))
    with store.engine.connect() as conn:
        kept = conn.execute(sa.select(monitor_stat.c.at_us).where(monitor_stat.c.run_id == 7)).scalars().all()
    assert sorted(kept) == [T0 + 10 * S, T0 + KEEP_US + 10 * S]  # older than a day before the newest: gone
    assert store_disk_bytes(store) > 0


def test_kept_batches_prove_the_same_and_a_row_edited_later_is_still_altered(
    key_and_store: tuple[Ed25519PrivateKey, Store],
) -> None:
    key, store = key_and_store
    _world(store)
    trust = _trust(key)
    kept = ProvenBatches(frozenset(trust.fingerprints))
    first = peer_trail(store, trust, SWARM_A, "127.0.0.3", 6881, kept=kept)
    assert [o.state for o in first.observations] == ["sealed"] and kept.get(2) is not None
    drop_triggers_and_edit(store, "UPDATE observation SET bytes_received = 999999 WHERE ip = '127.0.0.3'")
    again = peer_trail(store, trust, SWARM_A, "127.0.0.3", 6881, kept=kept)
    assert again.observations == [] and [r.state for r in again.not_evidence] == ["altered"]
    other = peer_trail(store, trust, SWARM_A, "127.0.0.2", 6881, kept=kept)
    assert [o.state for o in other.observations] == ["sealed", "sealed"]
    tiny = ProvenBatches(frozenset(trust.fingerprints), max_entries=4)  # batches 3, 2 (observations, newest
    peer_trail(store, trust, SWARM_A, "127.0.0.2", 6881, kept=tiny)  # first), then 1 (the sighting)
    assert tiny.get(3) is None and tiny.get(2) is not None and tiny.get(1) is not None  # oldest kept dropped


def test_swarm_totals_kept_by_the_fold_equal_a_count_over_its_peers(
    key_and_store: tuple[Ed25519PrivateKey, Store],
) -> None:
    """Peers upgrade tiers, change clients, gain sources and fail hashes over six batches."""
    _, store = key_and_store
    run = store.start_run({}, "0.1.0", T0)
    tiers, clients, sources = list(Tier), ["a 1", "b 2", None], [Source.TRACKER.value, Source.DHT.value]
    for batch in range(6):
        obs = [
            observation(f"127.0.2.{i}", tier=tiers[(i + batch) % 4], client=clients[(i * batch) % 3],
                        source=sources[(i + batch) % 2], failed_pieces=(1,) if (i + batch) % 5 == 0 else (),
                        bytes_received=i, started_us=T0 + batch * S + i, ended_us=T0 + batch * S + i + 1)
            for i in range(7)
        ]  # fmt: skip
        store.add_observations(run, obs, sealed_at_us=T0 + (batch + 1) * S)
        catch_up(store)  # fold after each batch
    view = swarm_overview(store)[0]
    with store.engine.connect() as conn:
        peers = list(conn.execute(sa.select(console_peer).where(console_peer.c.infohash == SWARM_A)))
    assert view.peers == len(peers) == 7
    assert view.tiers == {t.label: sum(1 for p in peers if p.tier == t) for t in Tier}
    assert view.bytes_received == sum(p.bytes_received for p in peers)
    assert view.hash_failures == sum(1 for p in peers if p.hash_failures)
    assert view.sources == {"tracker": 7, "dht": 7}
    latest = sorted(Counter(p.client for p in peers if p.client).items(), key=lambda c: (-c[1], c[0]))
    assert view.clients == latest


def test_trail_clock_verdicts_are_those_of_report(key_and_store: tuple[Ed25519PrivateKey, Store]) -> None:
    """A sealed NTP sample 5 s off flags the run's observations after it, as ``report`` judges them."""
    key, store = key_and_store
    run = store.start_run({}, "0.1.0", T0)
    skewed = ClockSample("127.0.0.1:123", T0, offset_us=5 * S, delay_us=1000, stratum=2, leap=0)
    store.commit_evidence(run, records=[skewed], sealed_at_us=T0 + 1)
    obs = [observation("127.0.0.2", started_us=T0 + i * S, ended_us=T0 + i * S + 1) for i in (2, 3)]
    store.add_observations(run, obs, sealed_at_us=T0 + 10 * S)
    trail = peer_trail(store, _trust(key), SWARM_A, "127.0.0.2", 6881)
    _, stored = load_peer_records(store, infohash=SWARM_A)
    assert [o.clock for o in trail.observations] == clock_verdicts(store, stored) == ["flagged", "flagged"]


def test_a_peer_counts_once_per_minute_when_its_observations_are_folded_out_of_time_order(
    key_and_store: tuple[Ed25519PrivateKey, Store],
) -> None:
    """Probes that outlived a batch: each batch folded alone, minutes 5, 3, 5, 3 (verified), 7 (verified)."""
    _, store = key_and_store
    run = store.start_run({}, "0.1.0", T0)
    minute0 = T0 // MINUTE_US * MINUTE_US
    verified = {"tier": Tier.VERIFIED, "failure": None, "verified_pieces": (0,)}
    plan = [(5, {}), (3, {}), (5, {}), (3, verified), (7, verified), (3, verified)]
    for n, (minute, kw) in enumerate(plan):
        start = minute0 + minute * MINUTE_US + (n + 1) * S
        store.add_observations(run, [observation("127.0.0.2", started_us=start, ended_us=start + 1, **kw)],
                               sealed_at_us=minute0 + 10 * MINUTE_US + n * S)  # fmt: skip
        assert catch_up(store) == 1
    series = {(p.minute_us - minute0) // MINUTE_US: p for p in swarm_series(store, SWARM_A)}
    assert {m: (p.peers, p.verified_peers, p.observations) for m, p in series.items()} == {
        3: (1, 1, 3),
        5: (1, 0, 2),
        7: (1, 1, 1),
    }


def test_trail_pages_newest_first_and_proves_the_best_tier_beyond_the_page(
    key_and_store: tuple[Ed25519PrivateKey, Store],
) -> None:
    """A peer re-probed for days has thousands of observations: a page proves only its own rows, and the
    best proven tier comes from a verified probe that is on no page shown (the oldest one)."""
    key, store = key_and_store
    run = store.start_run({}, "0.1.0", T0)
    probes = [observation("127.0.0.7", tier=Tier.VERIFIED, failure=None, verified_pieces=(0,),
                          started_us=T0, ended_us=T0 + S)]  # fmt: skip
    probes += [observation("127.0.0.7", tier=Tier.CONNECTED, failure=None, started_us=T0 + i * S,
                           ended_us=T0 + i * S + 1) for i in range(2, 13)]  # fmt: skip
    store.add_observations(run, probes, sealed_at_us=T0 + 20 * S)
    trust = _trust(key)
    first = peer_trail(store, trust, SWARM_A, "127.0.0.7", 6881, limit=5)
    starts = [o.record.started_us for o in first.observations]
    assert starts == [T0 + i * S for i in range(12, 7, -1)] and first.next_cursor is not None
    assert first.proven_tier == "verified"  # proven though its row is not on this page
    seen, cursor = list(starts), first.next_cursor
    while cursor is not None:
        page = peer_trail(store, trust, SWARM_A, "127.0.0.7", 6881, limit=5, cursor=cursor)
        assert page.proven_tier == "verified" and len(page.observations) <= 5
        seen += [o.record.started_us for o in page.observations]
        cursor = page.next_cursor
    assert seen == sorted(seen, reverse=True) and len(seen) == 12 and seen[-1] == T0
    newest = "(SELECT MAX(id) FROM observation WHERE ip = '127.0.0.7')"
    drop_triggers_and_edit(store, "UPDATE observation SET tier = 'verified', bytes_received = 5 WHERE ip = "
                                  f"'127.0.0.7' AND (id = {newest} OR started_us = {T0})")  # fmt: skip
    edited = peer_trail(store, trust, SWARM_A, "127.0.0.7", 6881, limit=5)
    assert edited.proven_tier == "connected"  # both verified rows altered: neither raises the tier
    assert peer_trail(store, None, SWARM_A, "127.0.0.7", 6881, limit=5).proven_tier is None
    for bad in ("12", "a:b", "-1:0", f"{2**63}:0", "1:99999999999999999999999"):
        with pytest.raises(InputError, match="cursor"):
            peer_trail(store, trust, SWARM_A, "127.0.0.7", 6881, cursor=bad)
    with pytest.raises(InputError, match="limit"):
        peer_trail(store, trust, SWARM_A, "127.0.0.7", 6881, limit=0)
