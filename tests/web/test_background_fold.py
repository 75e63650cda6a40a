"""Pages never fold the read models: a request over an unfolded backlog answers with what is folded and
says how many sealed batches it leaves out; the app's background folder (its lifespan) then catches up."""

from __future__ import annotations

import asyncio
import logging
import re
import threading
import time

import pytest
import sqlalchemy as sa

from swarmscope.evidence.records import Tier
from swarmscope.store.console.fold import fold_once, unfolded_batches
from swarmscope.store.console.schema import console_batch
from swarmscope.store.ledger.schema import ledger_batch, ledger_entry
from swarmscope.store.metadata import metadata
from swarmscope.web import folding
from swarmscope.web.folding import BackgroundFolder
from tests.web.conftest import ACME, GLOBEX, NOW, WebWorld
from tests.web.monitoring_world import ACME_SWARM, build, probe, writer_store

S = 1_000_000
HTML = {"accept": "text/html"}
BATCHES = 60  # a backlog of small batches, 10 verified probes each


def _backlog(web: WebWorld, *, fold_world: bool = False) -> int:
    """The monitoring world (folded when ``fold_world``) and :data:`BATCHES` more sealed batches, not
    folded; returns the run id."""
    world = build(web.path, web.work_id(ACME), web.work_id(GLOBEX), NOW, fold=fold_world)
    store = writer_store(web.path, NOW)
    try:
        for batch in range(BATCHES):
            at = NOW + (20 + batch) * S
            obs = [probe(ACME_SWARM, f"127.0.{batch}.{i + 10}", at + i, tier=Tier.VERIFIED, failure=None,
                         verified_pieces=(0,)) for i in range(10)]  # fmt: skip
            store.add_observations(world.run_id, obs, sealed_at_us=at + S)
    finally:
        store.close()
    return world.run_id


async def test_a_request_over_a_backlog_shows_the_lag_and_the_background_folder_catches_up(
    web: WebWorld,
) -> None:
    _backlog(web)
    backlog = unfolded_batches(web.store)
    with web.store.engine.connect() as conn:
        batches = conn.execute(sa.select(ledger_batch.c.node_id, ledger_batch.c.first_index,
                                         ledger_batch.c.last_index)).all()  # fmt: skip
        kinds = conn.execute(sa.select(ledger_entry.c.node_id, ledger_entry.c.idx, ledger_entry.c.kind)).all()
    evidence = {
        batch for batch in batches
        if any(n == batch[0] and batch[1] <= i <= batch[2] and k != "workflow_event" for n, i, k in kinds)
    }  # fmt: skip
    assert len(batches) > backlog == len(evidence) >= BATCHES + 2  # the world's too, not the users' events
    client = web.client("viewer")
    live = (await client.get("/swarms/live", headers=HTML)).text
    assert f"{backlog} sealed evidence batches not yet shown" in live
    assert re.search(r'<td class="peers">0</td>', live)  # nothing folded, nothing counted
    answer = (await client.get(f"/api/swarms/{ACME_SWARM}")).json()
    assert answer["unfolded_batches"] == backlog and answer["peers"] == 0
    metrics = (await web.client("analyst", token=True).get("/metrics")).text
    assert f"swarmscope_console_unfolded_batches {backlog}.0" in metrics
    assert unfolded_batches(web.store) == backlog  # the requests folded nothing
    async with web.app.router.lifespan_context(web.app):  # serve's lifespan: the folder runs
        deadline = time.monotonic() + 60
        while unfolded_batches(web.store) and time.monotonic() < deadline:
            await asyncio.sleep(0.05)
        assert unfolded_batches(web.store) == 0
        live = (await client.get("/swarms/live", headers=HTML)).text
        assert "not yet shown" not in live
        answer = (await client.get(f"/api/swarms/{ACME_SWARM}")).json()
        assert answer["unfolded_batches"] == 0 and answer["tiers"]["verified"] == 1 + 10 * BATCHES
    assert not [t for t in threading.enumerate() if t.name == "console-folder"]  # stopped and joined


def test_the_folder_backs_off_logs_a_failure_in_one_line_and_recovers(
    web: WebWorld, caplog: pytest.LogCaptureFixture
) -> None:
    build(web.path, web.work_id(ACME), web.work_id(GLOBEX), NOW, fold=False)
    with web.store.engine.begin() as conn:
        conn.exec_driver_sql("DROP TABLE console_batch")
    folder = BackgroundFolder(web.store, idle_seconds=0.5)
    with caplog.at_level(logging.WARNING, logger="swarmscope.web.folding"):
        delays = [folder.step() for _ in range(10)]
        # doubling from the idle time up to the ceiling: a database down for an hour is ~60 retries, not 7,200
        assert delays == [0.5, 1.0, 2.0, 4.0, 8.0, 16.0, 32.0, 60.0, 60.0, 60.0]
        first, *capped = caplog.records
        assert first.getMessage().startswith("console fold failed (1 in a row), retrying in 0 s: ")
        assert "\n" not in first.getMessage()
        assert len(capped) == 3  # the same error again is logged only once the backoff is at its ceiling
        assert all("retrying in 60 s" in r.getMessage() for r in capped)
        caplog.clear()
        metadata.create_all(web.store.engine, tables=[console_batch])
        for _ in range(100):  # bounded: folds the backlog, then idles
            if folder.step() == 0.5:
                break
        assert [r.getMessage() for r in caplog.records] == ["console fold recovered after 10 failed attempts"]
    assert unfolded_batches(web.store) == 0 and folder.failures == 0
    with web.store.engine.begin() as conn:  # after a recovery the backoff starts again from the idle time
        conn.exec_driver_sql("DROP TABLE console_batch")
    assert folder.step() == 0.5


def test_a_fold_transaction_takes_no_more_ledger_entries_than_asked(web: WebWorld) -> None:
    _backlog(web, fold_world=True)  # batches of 10 ledger entries (observations) each
    assert unfolded_batches(web.store) == BATCHES
    assert fold_once(web.store, max_entries=1) == 1  # one batch even when it alone is larger
    assert fold_once(web.store, max_entries=29) == 2
    assert fold_once(web.store, max_entries=30) == 3
    assert fold_once(web.store, max_batches=4) == 4  # no entry bound: the batch count only
    assert unfolded_batches(web.store) == BATCHES - 10


def test_the_folder_halves_a_slow_transaction_and_grows_a_quick_one(
    web: WebWorld, monkeypatch: pytest.MonkeyPatch
) -> None:
    """The ledger entries per transaction follow the time one takes (TARGET_SECONDS), within bounds."""
    now, took, asked = [0.0], [0.0], []

    def fold(_store: object, *, max_entries: int) -> int:
        asked.append(max_entries)
        now[0] += took[0]
        return 1

    monkeypatch.setattr(folding, "fold_once", fold)
    folder = BackgroundFolder(web.store, clock=lambda: now[0])
    took[0] = 2.0  # slow: halved down to the floor
    for _ in range(8):
        assert folder.step() == folding.PAUSE_SECONDS
    assert asked[:3] == [500, 250, 200] and folder.entries == folding.MIN_ENTRIES
    took[0] = 0.01  # quick: grown by half up to the ceiling
    for _ in range(20):
        folder.step()
    assert asked[8:11] == [200, 300, 450] and folder.entries == folding.MAX_ENTRIES
    took[0] = folding.TARGET_SECONDS  # on target: kept
    folder.step()
    assert folder.entries == folding.MAX_ENTRIES
