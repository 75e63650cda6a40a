"""Property: any Observation/Sighting the records contract allows comes back from the store unchanged,
and the record rebuilt from its row has exactly the canonical bytes its ledger entry sealed."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from swarmscope.evidence.canonical import canonical_bytes
from swarmscope.evidence.records import BlockProof, ExtensionInfo, Observation, Sighting, Tier
from swarmscope.store.database import Store, open_store
from swarmscope.store.ledger import entries as ledger_queries
from swarmscope.store.ledger import queries
from swarmscope.store.ledger.node_key import default_key_path, load_or_create_node_key
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

blocks = st.builds(
    BlockProof,
    piece=st.integers(min_value=0, max_value=2**31),
    begin=st.integers(min_value=0, max_value=2**31),
    length=st.integers(min_value=1, max_value=2**14),
    sha256=st.binary(min_size=32, max_size=32),
)
BLOCKS = st.lists(blocks, max_size=3).map(tuple)

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
    verified_blocks=BLOCKS,
    failed_blocks=BLOCKS,
    capture_sha256=st.none() | st.binary(min_size=32, max_size=32),
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
    path = str(Path(tmp_path_factory.mktemp("prop")) / "prop.db")
    store = open_store(path, node_key=load_or_create_node_key(default_key_path(path)), now_us=T0)
    add_swarms(store)
    yield store
    store.close()


@settings(max_examples=60, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(obs=st.lists(observations, max_size=5), sig=st.lists(sightings, max_size=5))
def test_any_batch_round_trips(shared_store: Store, obs: list[Observation], sig: list[Sighting]) -> None:
    run = shared_store.start_run({}, "prop", T0)
    first = sum(1 for _ in ledger_queries.load_ledger(shared_store))
    shared_store.add_observations(run, obs)
    shared_store.add_sightings(run, sig)
    loaded_obs = queries.load_observations(shared_store, run_id=run)
    loaded_sig = queries.load_sightings(shared_store, run_id=run)
    assert loaded_obs == obs
    assert loaded_sig == sig
    sealed = [c for _e, _k, c in ledger_queries.load_ledger(shared_store, first=first)]
    rebuilt: list[Observation | Sighting] = [*loaded_obs, *loaded_sig]
    assert sealed == [canonical_bytes(r) for r in rebuilt]
