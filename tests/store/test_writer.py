"""Writing evidence: exact round trips, append-only behaviour, swarms and runs."""

from __future__ import annotations

import dataclasses
import time

import pytest
import sqlalchemy as sa

from swarmscope.evidence.records import ExtensionInfo, Observation, Tier
from swarmscope.store.database import Store, StoreError
from swarmscope.store.ledger import queries, writer
from tests.store.factories import SWARM_A, SWARM_B, T0, full_observation, observation, sighting

ROUND_TRIP_CASES = [
    pytest.param(full_observation(), id="every-field-set"),
    pytest.param(observation(), id="defaults"),
    pytest.param(full_observation(extension=None), id="no-extension-handshake"),
    pytest.param(full_observation(extension=ExtensionInfo()), id="empty-extension-handshake"),
    pytest.param(full_observation(completion=None, bitfield=None, peer_id=None), id="nulls"),
    pytest.param(full_observation(bitfield=b"", reserved=b"\x00" * 8), id="empty-and-zero-bytes"),
    pytest.param(full_observation(infohash=SWARM_B, ip="fe80::1", tier=Tier.VERIFIED), id="v2-swarm"),
]


@pytest.mark.parametrize("obs", ROUND_TRIP_CASES)
def test_observation_round_trip(store: Store, run_id: int, obs: Observation) -> None:
    store.add_observations(run_id, [obs])
    assert queries.load_observations(store) == [obs]


def test_round_trip_keeps_every_field(store: Store, run_id: int) -> None:
    obs = full_observation()
    store.add_observations(run_id, [obs])
    (back,) = queries.load_observations(store)
    for f in dataclasses.fields(Observation):
        assert getattr(back, f.name) == getattr(obs, f.name), f.name
        assert type(getattr(back, f.name)) is type(getattr(obs, f.name)), f.name
    assert back.extension is not None and back.extension.reqq == 2**70


def test_sighting_round_trip(store: Store, run_id: int) -> None:
    sightings = [
        sighting(),
        sighting(ip="::1", port=1, peer_id=b"\x00" * 20, detail="", seen_at_us=T0 + 1),
        sighting(infohash=SWARM_B, source="pex", detail="127.0.0.9:6881"),
    ]
    store.add_sightings(run_id, sightings)
    assert queries.load_sightings(store) == sightings
    assert queries.load_sightings(store, infohash=SWARM_B) == sightings[2:]
    assert queries.load_sightings(store, infohash=SWARM_A.upper()) == sightings[:2]


def test_filters_by_infohash_and_run(store: Store, run_id: int) -> None:
    a, b = observation(), observation(infohash=SWARM_B)
    store.add_observations(run_id, [a, b])
    second_run = store.start_run({}, "0.1.0", T0 + 5)
    c = observation(port=7000)
    store.add_observations(second_run, [c])
    assert queries.load_observations(store, infohash=SWARM_A) == [a, c]
    assert queries.load_observations(store, run_id=second_run) == [c]
    assert queries.load_observations(store, infohash=SWARM_B, run_id=second_run) == []


def test_second_sighting_of_same_peer_adds_a_row(store: Store, run_id: int) -> None:
    first = sighting(seen_at_us=T0)
    store.add_sightings(run_id, [first])
    store.add_sightings(run_id, [first])  # identical again: still evidence of a second announce reply
    store.add_sightings(run_id, [sighting(seen_at_us=T0 + 60_000_000)])
    assert len(queries.load_sightings(store)) == 3
    store.add_observations(run_id, [observation()])
    store.add_observations(run_id, [observation()])
    assert len(queries.load_observations(store)) == 2


@pytest.mark.parametrize("table", ["sighting", "observation"])
@pytest.mark.parametrize("statement", ["UPDATE {t} SET ip = '10.0.0.1'", "DELETE FROM {t}"])
def test_database_refuses_update_and_delete(store: Store, run_id: int, table: str, statement: str) -> None:
    store.add_sightings(run_id, [sighting()])
    store.add_observations(run_id, [observation()])
    with pytest.raises(sa.exc.IntegrityError, match="append-only"), store.engine.begin() as conn:
        conn.execute(sa.text(statement.format(t=table)))
    assert len(queries.load_sightings(store)) == len(queries.load_observations(store)) == 1


def test_unknown_swarm_or_run_rejects_the_whole_batch(store: Store, run_id: int) -> None:
    good = observation()
    with pytest.raises(StoreError, match="FOREIGN KEY"):
        store.add_observations(run_id, [good, observation(infohash="ee" * 20)])
    with pytest.raises(StoreError, match="FOREIGN KEY"):
        store.add_sightings(run_id + 99, [sighting()])
    assert queries.load_observations(store) == []
    assert queries.load_sightings(store) == []


def test_empty_batches_are_no_ops(store: Store, run_id: int) -> None:
    store.add_observations(run_id, [])
    store.add_sightings(run_id, ())
    assert queries.load_observations(store) == []


def test_add_swarm_is_idempotent_and_fills_in_metainfo(store: Store) -> None:
    rows = {r.infohash: r for r in queries.swarm_rows(store)}
    assert [r.name for r in queries.swarm_rows(store)] == ["alpha.iso", "beta.bin"]
    assert rows[SWARM_A].metainfo == b"d4:infod" and rows[SWARM_A].total_size == 12 * 32768 - 5
    again = store.add_swarm(SWARM_A, SWARM_A, None, "renamed", 1, 1, 1, b"other", None, T0 + 1)
    assert again == rows[SWARM_A].id
    assert queries.swarm_rows(store)[0] == rows[SWARM_A]  # known metainfo is never replaced
    beta = store.add_swarm(SWARM_B, None, SWARM_B, "beta.bin", 4, 16384, 65536, b"d4:info", None, T0 + 2)
    assert beta == rows[SWARM_B].id
    filled = {r.infohash: r for r in queries.swarm_rows(store)}[SWARM_B]
    assert filled.metainfo == b"d4:info" and filled.magnet == "magnet:?xt=x" and filled.added_us == T0


def test_runs_start_and_end(store: Store) -> None:
    run = store.start_run({"deadline_s": 60, "nested": {"a": [1, 2]}}, "0.1.0", T0)
    store.end_run(run, T0 + 60_000_000)
    (row,) = queries.run_rows(store)
    assert row == queries.RunRow(
        run, T0, T0 + 60_000_000, {"deadline_s": 60, "nested": {"a": [1, 2]}}, "0.1.0"
    )
    with pytest.raises(StoreError, match="no monitor run"):
        store.end_run(run + 1, T0)


def test_start_run_defaults_to_the_system_clock(store: Store) -> None:
    before = time.time_ns() // 1000
    run = store.start_run({}, "0.1.0")
    after = time.time_ns() // 1000
    (row,) = queries.run_rows(store)
    assert row.id == run and before <= row.started_us <= after and row.ended_us is None


def test_a_stored_swarm_reads_back_as_the_swarm_written_plus_its_id(store: Store) -> None:
    """One class for a swarm: what ``add_swarm`` takes is what ``swarm_rows`` gives, with the row id."""
    info = writer.SwarmInfo("cc" * 20, "cc" * 20, None, "gamma", 3, 16384, 40000, b"d4:infoe", None, T0 + 3)
    with store.engine.begin() as conn:
        row_id = writer.add_swarm(conn, info)
    stored = {r.infohash: r for r in queries.swarm_rows(store)}["cc" * 20]
    assert type(stored) is writer.SwarmInfo
    assert stored == dataclasses.replace(info, id=row_id)
