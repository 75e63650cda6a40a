"""Property: any Observation/Sighting the records contract allows comes back from the store unchanged."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from swarmscope.evidence.records import ExtensionInfo, Observation, Sighting, Tier
from swarmscope.store import queries
from swarmscope.store.database import Store, open_store
from tests.store.factories import SWARM_A, SWARM_B, T0, add_swarms

US = st.integers(min_value=0, max_value=2**62)
TEXT = st.text(st.characters(exclude_categories=("Cs",)), max_size=30)  # no lone surrogates
OPT_TEXT = st.none() | TEXT
OPT_BYTES = st.none() | st.binary(max_size=40)
BIG = st.none() | st.integers(min_value=-(2**80), max_value=2**80)  # peer-chosen BEP 10 integers
PIECES = st.lists(st.integers(min_value=0, max_value=2**31), max_size=12).map(tuple)

extensions = st.builds(
    ExtensionInfo,
    m=st.dictionaries(TEXT, st.integers(min_value=0, max_value=255), max_size=5),
    v=OPT_BYTES,
    p=BIG,
    yourip=OPT_TEXT,
    reqq=BIG,
    metadata_size=BIG,
)

observations = st.builds(
    Observation,
    infohash=st.sampled_from([SWARM_A, SWARM_B]),
    ip=TEXT,
    port=st.integers(min_value=0, max_value=65535),
    source=TEXT,
    started_us=US,
    ended_us=US,
    tier=st.sampled_from(list(Tier)),
    failure=OPT_TEXT,
    failure_detail=OPT_TEXT,
    remote_infohash=OPT_TEXT,
    peer_id=OPT_BYTES,
    reserved=OPT_BYTES,
    client=OPT_TEXT,
    client_version=OPT_TEXT,
    extension=st.none() | extensions,
    num_pieces=st.integers(min_value=0, max_value=2**31),
    pieces_have=st.integers(min_value=0, max_value=2**31),
    bitfield=OPT_BYTES,
    completion=st.none() | st.floats(min_value=0.0, max_value=1.0),
    bytes_received=US,
    wire_bytes_in=US,
    wire_bytes_out=US,
    payload_bytes_sent=US,
    verified_pieces=PIECES,
    failed_pieces=PIECES,
    encrypted=st.booleans(),
    quirks=st.lists(TEXT, max_size=4).map(tuple),
)

sightings = st.builds(
    Sighting,
    infohash=st.sampled_from([SWARM_A, SWARM_B]),
    ip=TEXT,
    port=st.integers(min_value=0, max_value=65535),
    source=TEXT,
    detail=TEXT,
    seen_at_us=US,
    peer_id=OPT_BYTES,
)


@pytest.fixture(scope="module")
def shared_store(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Store]:
    store = open_store(str(Path(tmp_path_factory.mktemp("prop")) / "prop.db"))
    add_swarms(store)
    yield store
    store.close()


@settings(max_examples=60, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(obs=st.lists(observations, max_size=5), sig=st.lists(sightings, max_size=5))
def test_any_batch_round_trips(shared_store: Store, obs: list[Observation], sig: list[Sighting]) -> None:
    run = shared_store.start_run({}, "prop", T0)
    shared_store.add_observations(run, obs)
    shared_store.add_sightings(run, sig)
    assert queries.load_observations(shared_store, run_id=run) == obs
    assert queries.load_sightings(shared_store, run_id=run) == sig
