"""A clock set back between runs: the ledger proves it (a batch sealed a day before the batch ahead of it
in the chain; one node seals in chain order), so ``verify --db`` lists the step and ``cases build`` refuses
the hits of the batches sealed after it, named, instead of building day-long cases from minutes of
monitoring. A step within the 2 s tolerance is not a fault. ``verify --db`` also counts records crash
recovery sealed late (not evidence)."""

from __future__ import annotations

import io
import json
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from rich.console import Console

from swarmscope.cases.candidates import build_cases
from swarmscope.cases.thresholds import ThresholdPolicy
from swarmscope.cli.export import run_export
from swarmscope.cli.verify import run_verify
from swarmscope.cli.verify_ledger import run_verify_ledger
from swarmscope.evidence.records import RunStarted
from swarmscope.evidence.seal import CLOCK_STEP_TOLERANCE_US, NOT_EVIDENCE
from swarmscope.store.database import Store, open_store
from swarmscope.store.ledger.node_key import default_key_path
from swarmscope.store.ledger.proven import proven_observations
from swarmscope.store.ledger.verify import verify_ledger
from swarmscope.store.legal import cases as sc
from tests.cases.evidence import IH, MIN, T0, attributed, fresh_store, hit, node_key_for
from tests.tampering import append_unsealed, node_trust, tamper_file

DAY = 24 * 60 * MIN
FIRST, SECOND = "127.0.0.2", "127.0.0.3"
NOW = T0 + 2 * DAY
POLICY = ThresholdPolicy()


@pytest.fixture
def store(tmp_path: Path) -> Iterator[Store]:
    yield from fresh_store(tmp_path)


def _run(store: Store, records: list[Any], sealed_at_us: int) -> None:
    """One monitor run holding ``records``, sealed at ``sealed_at_us`` by the evidence clock of the time."""
    settings = {"clock_threshold_ms": 100.0}
    run = store.start_run(settings, "0.1.0", sealed_at_us)
    started = RunStarted(run, sealed_at_us - 80 * MIN, "0.1.0", None, json.dumps(settings, sort_keys=True))
    store.commit_evidence(run, records=[started, *records], sealed_at_us=sealed_at_us)


def _world(store: Store, back_us: int) -> None:
    """Run 1 a day after T0; run 2 with the clock set back by ``back_us``: both peers seen in each run."""
    store.add_swarm(IH, IH, None, "work.bin", 4, 16384, 65536, None, None, T0)
    sc.link_torrent(store, sc.add_work(store, "Rights Ltd", "Film", None, None, T0), IH, T0)
    sc.add_isp(store, "Loopnet", [64500], "abuse@loop.example", "1 Loop St", "DE", T0)
    day1 = T0 + DAY
    _run(store, [attributed(ip, 24 * 60 - 5, 64500) for ip in (FIRST, SECOND)], day1 - 4 * MIN)
    _run(store, [hit(ip, 24 * 60 + m) for ip in (FIRST, SECOND) for m in (0, 30, 70)], day1 + 75 * MIN)
    later = day1 + 76 * MIN - back_us  # the next run, minutes later by the wall, its clock set back
    _run(store, [hit(ip, (later - T0) / MIN - 4 + m) for ip in (FIRST, SECOND) for m in (0, 1, 2)], later)


def test_hits_sealed_after_the_clock_was_set_back_are_refused_and_named(store: Store) -> None:
    _world(store, DAY)
    verdict = verify_ledger(store)
    (step,) = verdict.clock_steps
    assert step.before_us - step.sealed_at_us == DAY - MIN
    report = build_cases(store, POLICY, NOW, trust=node_trust(store, NOW))
    spans = {c.ip: (c.hits, c.last_hit_us - c.first_hit_us) for c in report.created}
    assert spans == {FIRST: (3, 70 * MIN), SECOND: (3, 70 * MIN)}
    assert len(report.refused) == 6
    assert all(r.reason.startswith("clock set back: its batch was sealed") for r in report.refused)


def test_a_step_back_within_the_tolerance_is_no_fault(store: Store) -> None:
    _world(store, MIN + CLOCK_STEP_TOLERANCE_US // 2)  # sealed 1 s before the batch ahead of it
    assert verify_ledger(store).clock_steps == ()
    report = build_cases(store, POLICY, NOW, trust=node_trust(store, NOW))
    assert {c.ip: c.hits for c in report.created} == {FIRST: 6, SECOND: 6} and not report.refused


def test_verify_db_states_the_step_back_and_the_records_sealed_late(store: Store, tmp_path: Path) -> None:
    _world(store, DAY)
    run = store.start_run({}, "0.1.0", NOW)
    append_unsealed(store, run, [hit("127.0.0.9", 24 * 60 + m) for m in (0, 1)])
    db = str(store.engine.url.database)
    with open_store(db, node_key=node_key_for(db), now_us=NOW):
        pass  # a writer open: recovery seals the two entries late
    out = io.StringIO()
    assert run_verify_ledger(db, console=Console(file=out, width=300)) == 0
    text = out.getvalue()
    assert "late: 2 records sealed late by recovery: not evidence: batch" in text
    assert "clock set back: node" in text and "refused by cases build" in text
    out = io.StringIO()
    run_verify_ledger(db, as_json=True, console=Console(file=out, width=300))
    doc = json.loads(out.getvalue())
    assert len(doc["clock_steps_back"]) == 1 and doc["late_batches"][0]["note"] == NOT_EVIDENCE


def test_export_warns_and_the_bundle_verifier_flags_the_step_back(store: Store, tmp_path: Path) -> None:
    """The bundle of a clock set back must not read "every check holds" silently: export warns and the
    verifier names the batch and marks the observations sealed after the step on its clock line."""
    _world(store, DAY)
    db = str(store.engine.url.database)
    err = io.StringIO()
    run_export(db=db, out=tmp_path / "bundle", key_path=default_key_path(db), now_us=NOW,
               err_console=Console(file=err, width=300))  # fmt: skip
    warned = [line for line in err.getvalue().splitlines() if line.startswith("warning: clock set back")]
    assert len(warned) == 1 and "the times of its 6 observation(s) are not trusted" in warned[0]
    out = io.StringIO()
    run_verify(tmp_path / "bundle", console=Console(file=out, width=300))
    text = out.getvalue()
    assert text.count("note: WARNING clock set back: batch (chain") == 1
    (clock,) = [line for line in text.splitlines() if " clock " in line and "samples" in line]
    assert "CLOCK SET BACK: 6 observation(s) sealed after it" in clock


def _bogus_batch(store: Store, sealed_at_us: int) -> None:
    """A ``ledger_batch`` row that decodes but that no key signed (its signature is zeros), first in the
    chain order, sealed at ``sealed_at_us``: written with the triggers dropped, no node key."""
    from swarmscope.evidence.seal import Batch, batch_bytes

    raw = batch_bytes(Batch(0, 10**9, b"\1" * 32, sealed_at_us)).hex()
    tamper_file(
        store,
        "INSERT INTO ledger_batch (node_id, first_index, last_index, head_hash, sealed_at_us, batch_bytes, "
        f"signature, public_key, clock, recovered) SELECT node_id, 0, {10**9}, X'{'01' * 32}', "
        f"{sealed_at_us}, X'{raw}', X'{'00' * 64}', public_key, NULL, 0 FROM ledger_batch LIMIT 1",
    )


def test_an_unsigned_batch_row_sets_no_clock_back(store: Store) -> None:
    """A bogus batch row dated a week ahead, early in the chain order, is no earlier seal time: every honest
    hit sealed after it is still proven (no "clock set back"), and ``verify --db`` lists no step back (it
    names the row's bad signature; ``cases build`` builds nothing while the ledger is not whole, a rule of
    its own)."""
    _world(store, 0)
    _bogus_batch(store, NOW + 7 * DAY)
    assert verify_ledger(store).clock_steps == ()
    proven = proven_observations(store, node_trust(store, NOW).fingerprints, NOW)
    assert not proven.refused, proven.refused
    assert sorted(h.ip for h in proven.hits) == [FIRST] * 6 + [SECOND] * 6


def test_a_batch_row_moved_in_the_chain_order_hides_no_step_back(store: Store) -> None:
    """The writer moves the batches sealed before the step to the end of the chain order (their unsigned
    ``first_index``, ``last_index`` columns): their SIGNED indices still put them before the batch sealed
    a day earlier, so that batch's hits are still refused as "clock set back", in ``cases build`` and in
    ``verify --db``."""
    _world(store, DAY)
    ahead, later = T0 + DAY + 75 * MIN, T0 + 76 * MIN
    tamper_file(
        store,
        f"UPDATE ledger_batch SET first_index = first_index + {10**9}, last_index = last_index + {10**9} "
        f"WHERE sealed_at_us > {later}",
    )
    (step,) = verify_ledger(store).clock_steps
    assert step.before_us == ahead
    report = build_cases(store, POLICY, NOW, trust=node_trust(store, NOW))
    set_back = [r for r in report.refused if r.reason.startswith("clock set back: its batch was sealed")]
    assert len(set_back) == 6 and not report.created, report.refused
