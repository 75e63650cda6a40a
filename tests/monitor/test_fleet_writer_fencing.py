"""A fleet node's evidence writer process: commits fenced by the node's lease tokens, on the real PostgreSQL.

With ``swarmscope node --probe-processes N`` every batch (the coordinator's and each probe process's) is
sealed by the node's one writer process (``python -m swarmscope.monitor.writer_main``, run for real here),
so the lease tokens travel in the commit request (``fence``) and the writer seals a fenced batch: the
database must refuse a batch whose token is no longer current exactly as it does for a one-process node
(``tests/store/test_fleet_leases.py``, the same scenario), the refusal must come back naming the swarms
lost (``FencingRefused``) or the replacement (``NodeReplaced``), and nothing of a refused batch is written.
"""

from __future__ import annotations

import asyncio
import os
import time
from collections.abc import Iterator, Mapping

import pytest
import sqlalchemy as sa

from swarmscope.errors import DecodeError
from swarmscope.monitor import probe_frames as pf
from swarmscope.monitor import writer_frames as frames
from swarmscope.monitor.ledger_writer import LedgerWriter
from swarmscope.monitor.writer_process import WriterProcess
from swarmscope.net.clock import Clock
from swarmscope.store.database import Store
from swarmscope.store.fleet.fencing import Fence, FencedStore, FencingRefused
from swarmscope.store.fleet.handle import Fleet
from swarmscope.store.fleet.leases import NodeReplaced
from swarmscope.store.fleet.registry import FleetSwarm, NodeStart
from swarmscope.store.ledger.verify import verify_ledger
from swarmscope.wire.bencode import decode, encode
from tests.store.factories import SWARM_A, SWARM_B, T0, node_stores, observation, sighting

PG_URL = os.environ.get("SWARMSCOPE_TEST_PG_URL")
LEASE = 1.0  # seconds: long enough for the first commit through the writer process on a loaded machine
needs_pg = pytest.mark.skipif(not PG_URL, reason="set SWARMSCOPE_TEST_PG_URL to test on PostgreSQL")


def test_a_commit_request_carries_the_fence_and_a_refusal_comes_back_as_the_fenced_stores() -> None:
    fence = Fence({SWARM_A: 7, SWARM_B: 9}, ("n1", 3))
    body = frames.commit_request(1, [observation()], None, None, [], T0, None, fence)
    _op, request = frames.read_request(body)
    assert request.fence == fence
    _op, unfenced = frames.read_request(frames.commit_request(1, [observation()], None, None, [], T0, None))
    assert unfenced.fence is None  # a plain monitor's request is unchanged
    refused = FencingRefused(
        frozenset({SWARM_A}), f"lease token 7 of swarm {SWARM_A} is not held by this node", fence.tokens
    )
    with pytest.raises(FencingRefused) as back:
        frames.read_reply(frames.fenced_reply(refused))
    assert back.value.swarms == {SWARM_A} and str(back.value) == str(refused)
    assert back.value.refused() == {SWARM_A: 7}  # the token refused travels: the node compares it
    with pytest.raises(NodeReplaced) as replaced:
        frames.read_reply(frames.replaced_reply(NodeReplaced("n1")))
    assert replaced.value.name == "n1"


def test_a_malformed_fence_is_refused_as_a_frame() -> None:
    raw = decode(frames.commit_request(1, [observation()], None, None, [], T0, None, Fence({SWARM_A: 7})))
    for broken in ({b"tokens": [[SWARM_A.encode()]]}, {b"tokens": b"x"}, [], {b"tokens": [], b"node": b"a"}):
        with pytest.raises(DecodeError):
            frames.read_request(encode(raw | {b"fence": broken}))


def test_the_lease_state_frame_gives_the_probe_process_the_nodes_fence_and_fleet() -> None:
    fence, fleet = pf.read_lease_state(pf.lease_state(Fence({SWARM_A: 7}, ("n1", 3)), {"127.0.3.5"}))
    assert fence == Fence({SWARM_A: 7}, ("n1", 3)) and fleet == {"127.0.3.5"}
    before_registration, _ = pf.read_lease_state(pf.lease_state(Fence(), []))
    assert before_registration == Fence()
    with pytest.raises(DecodeError):
        pf.read_lease_state(b'{"tokens": [1]}')


@pytest.fixture
def stores() -> Iterator[list[Store]]:
    """Two node stores (two keys) on one freshly migrated PostgreSQL database."""
    assert PG_URL is not None
    with node_stores(PG_URL, 2) as opened:
        yield opened


def _fleet(stores: list[Store]) -> Fleet:
    """Both swarms registered, nodes ``a`` and ``b`` (the two stores' keys) started."""
    fleet = Fleet(stores[0])
    for infohash in (SWARM_A, SWARM_B):
        fleet.add_swarm(FleetSwarm(infohash, infohash[:8], b"d4:infod", None, "film", 1))
    for store, name in zip(stores, "ab", strict=True):
        assert store.node is not None
        fleet.start_node(NodeStart(name, store.node.fingerprint, None, 0, 4))
    return fleet


def _batches(store: Store) -> int:
    with store.engine.connect() as conn:
        return int(conn.execute(sa.text("SELECT count(*) FROM ledger_batch")).scalar_one())


def _writer(store: Store, fence: list[Fence]) -> WriterProcess:
    """The writer process of a node whose current fence is ``fence[0]`` (read at each commit)."""
    assert PG_URL is not None and store.node is not None and store.node.private_key is not None
    return WriterProcess(PG_URL, store.node.private_key, None, store, fence=lambda: fence[0])


@needs_pg
def test_a_late_write_of_a_taken_over_swarm_is_refused_whole_by_the_writer_process(
    stores: list[Store],
) -> None:
    fleet = _fleet(stores)
    fence = [Fence({})]
    writer = _writer(stores[0], fence)
    writer.start()  # the child opens the store before the short lease starts
    try:
        run_a = stores[0].start_run({}, "0.1.0", T0)
        held_a = {lease.infohash: lease.token for lease in fleet.take("a", 2, LEASE, None)}
        fence[0] = Fence(held_a)
        assert writer.commit_evidence(run_a, records=[observation(), sighting()], sealed_at_us=T0)
        before = _batches(stores[0])
        time.sleep(LEASE + 0.1)  # a "pauses" past its lease; b takes SWARM_A over, SWARM_B stays expired
        assert [lease.infohash for lease in fleet.take("b", 1, 30, None)] == [SWARM_A]
        with pytest.raises(FencingRefused) as refused:
            writer.commit_evidence(run_a, records=[observation(ip="127.0.0.9")], sealed_at_us=T0 + 1)
        assert refused.value.swarms == {SWARM_A}
        assert str(refused.value).endswith(
            f"lease token {held_a[SWARM_A]} of swarm {SWARM_A} is not held by this node"
        )
        with pytest.raises(FencingRefused) as expired:  # nobody took SWARM_B, but the lease expired
            writer.commit_evidence(run_a, records=[observation(infohash=SWARM_B)], sealed_at_us=T0 + 2)
        assert expired.value.swarms == {SWARM_B}
        fence[0] = Fence({})  # the node dropped both: a record of them is refused before the database
        with pytest.raises(FencingRefused, match="holds no lease"):
            writer.commit_evidence(run_a, records=[sighting()], sealed_at_us=T0 + 3)
        assert _batches(stores[0]) == before  # nothing of the refused batches was written
        assert writer.started == 1  # refusals are answers: the writer process lives on
    finally:
        writer.close()
    assert verify_ledger(stores[0]).ok


@needs_pg
def test_a_batch_of_a_replaced_process_is_refused_by_the_writer_process(stores: list[Store]) -> None:
    fleet = Fleet(stores[0])
    assert stores[0].node is not None
    start = NodeStart("a", stores[0].node.fingerprint, None, 0, 4)
    old = fleet.register(start, live_within=30)
    with fleet.store.engine.begin() as conn:  # the old process looks dead: a minute without heartbeat
        conn.execute(sa.text("UPDATE fleet_node SET heartbeat_us = heartbeat_us - 60000000"))
    fleet.register(start, live_within=30)  # a newer process under the same name
    writer = _writer(stores[0], [Fence({SWARM_A: 1}, ("a", old.incarnation))])
    try:
        run = stores[0].start_run({}, "0.1.0", T0)
        before = _batches(stores[0])
        with pytest.raises(NodeReplaced):  # even a batch of no swarm (a clock sample, an attribution)
            writer.commit_evidence(run, records=[], sealed_at_us=T0)
        with pytest.raises(NodeReplaced):
            writer.commit_evidence(run, records=[observation()], sealed_at_us=T0 + 1)
        assert _batches(stores[0]) == before
    finally:
        writer.close()


@needs_pg
def test_the_ledger_writer_drops_the_lost_swarm_and_commits_the_rest_through_the_writer_process(
    stores: list[Store],
) -> None:
    """The probe side's ``LedgerWriter`` over the writer process: as over the in-process fenced store."""
    fleet = _fleet(stores)
    held = {lease.infohash: lease.token for lease in fleet.take("a", 2, 30, None)}
    fence = [Fence(held)]
    writer = _writer(stores[0], fence)
    lost: list[Mapping[str, int | None]] = []
    try:
        run = stores[0].start_run({}, "0.1.0", T0)
        with fleet.store.engine.begin() as conn:  # b takes SWARM_A over (a's lease ran out meanwhile)
            conn.execute(sa.text("UPDATE fleet_lease SET expires_us = 0 WHERE infohash = :h"), {"h": SWARM_A})
        assert [lease.infohash for lease in fleet.take("b", 1, 30, None)] == [SWARM_A]

        async def scenario() -> LedgerWriter:
            ledger = LedgerWriter(writer, run, Clock(), flush_interval=0.05, on_fenced=lost.append)
            task = asyncio.create_task(ledger.run())
            ledger.add(observation())
            ledger.add(observation(infohash=SWARM_B, ip="127.0.0.7"))
            await asyncio.sleep(0.5)
            ledger.stop()
            await task
            return ledger

        ledger = asyncio.run(scenario())
    finally:
        writer.close()
    assert lost == [{SWARM_A: held[SWARM_A]}] and ledger.fenced == 1  # with the token its batch named
    with stores[0].engine.connect() as conn:
        stored = conn.execute(sa.text("SELECT infohash FROM observation")).scalars().all()
    assert stored == [SWARM_B]


@needs_pg
def test_a_stale_batch_of_a_swarm_this_node_leased_again_drops_nothing_and_commits_next_round(
    stores: list[Store],
) -> None:
    """Tokens only grow: a batch fenced by the token of an earlier lease of a swarm that this node has since
    leased again (a newer token) is refused by the database, but the swarm is not lost: the refusal names
    no swarm, nothing is dropped, and the records commit under the current token at the next round."""
    fleet = Fleet(stores[0])
    fleet.add_swarm(FleetSwarm(SWARM_A, SWARM_A[:8], b"d4:infod", None, "film", 1))
    assert stores[0].node is not None
    identity = ("a", fleet.register(NodeStart("a", stores[0].node.fingerprint, None, 0, 4)).incarnation)
    first = fleet.take("a", 1, 30, None, identity[1])[0].token
    with fleet.store.engine.begin() as conn:  # the lease ran out; nobody else took it
        conn.execute(sa.text("UPDATE fleet_lease SET expires_us = 0 WHERE infohash = :h"), {"h": SWARM_A})
    fleet.release("a", [first])  # the node dropped the lost lease (monitor.node: _drop) and leases it again
    again = fleet.take("a", 1, 30, None, identity[1])[0].token
    assert again > first
    fence = [Fence({SWARM_A: first}, identity)]  # a batch made before the node saw its new token
    writer = _writer(stores[0], fence)
    lost: list[Mapping[str, int | None]] = []
    warnings: list[str] = []
    try:
        run = stores[0].start_run({}, "0.1.0", T0)
        with pytest.raises(FencingRefused) as stale:
            writer.commit_evidence(run, records=[observation()], sealed_at_us=T0)
        assert stale.value.swarms == frozenset() and "held again" in str(stale.value)

        async def scenario() -> LedgerWriter:
            ledger = LedgerWriter(
                writer, run, Clock(), flush_interval=0.05, on_fenced=lost.append, on_warning=warnings.append
            )
            task = asyncio.create_task(ledger.run())
            ledger.add(observation(ip="127.0.0.7"))
            await asyncio.sleep(0.3)  # refused once with the old token, then the node publishes the new one
            fence[0] = Fence({SWARM_A: again}, identity)
            await asyncio.sleep(0.5)
            ledger.stop()
            await task
            return ledger

        ledger = asyncio.run(scenario())
    finally:
        writer.close()
    assert ledger.fenced == 0 and all(not swarms for swarms in lost)
    assert any("retry under the current tokens" in line for line in warnings)
    with stores[0].engine.connect() as conn:
        stored = conn.execute(sa.text("SELECT ip FROM observation")).scalars().all()
        fenced_by = conn.execute(sa.text("SELECT token FROM lease_fence")).scalars().all()
    assert stored == ["127.0.0.7"] and fenced_by == [again]
    assert verify_ledger(stores[0]).ok


def test_a_refusal_judged_against_the_tokens_held_now_spares_the_swarms_leased_again() -> None:
    refused = FencingRefused(frozenset({SWARM_A, SWARM_B}), "lease token 7 expired", {SWARM_A: 7, SWARM_B: 8})
    judged = refused.judged_against({SWARM_A: 12, SWARM_B: 8})  # A leased again since: a newer token
    assert judged.swarms == {SWARM_B} and judged.refused() == {SWARM_B: 8}
    assert refused.judged_against({SWARM_B: 8}) is refused  # A dropped meanwhile, not leased again: lost
    stale = refused.judged_against({SWARM_A: 12, SWARM_B: 13})
    assert stale.swarms == frozenset() and "held again" in str(stale)  # nothing lost: retried next round


@needs_pg
def test_the_fenced_store_judges_a_refusal_against_the_tokens_read_after_it(stores: list[Store]) -> None:
    """The node leased the swarm again while its batch under the old token was refused: the refusal is
    stale, the records stay queued for the new lease (the node keeps it: ``FleetNode._fenced``)."""
    fleet = _fleet(stores)
    (lease,) = fleet.take("a", 1, LEASE, None)
    time.sleep(LEASE + 0.1)
    assert [taken.infohash for taken in fleet.take("b", 1, 30, None)] == [lease.infohash]  # taken over
    reads = iter([{lease.infohash: lease.token}, {lease.infohash: lease.token + 100}])  # fence, then now
    fenced = FencedStore(stores[0], lambda: next(reads))
    run = stores[0].start_run({}, "0.1.0", T0)
    with pytest.raises(FencingRefused) as refused:
        fenced.commit_evidence(run, records=[observation(infohash=lease.infohash)], sealed_at_us=T0)
    assert refused.value.swarms == frozenset() and "held again" in str(refused.value)
