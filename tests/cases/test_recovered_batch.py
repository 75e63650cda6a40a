"""Crash recovery must not launder invented records into the workflow.

Someone who can write the database file but lacks the node key appends chain entries (hashes need no key)
and rows for an address that never served a byte: an attribution and three verified hits. The next writer
open of the store (any sealing command) runs crash recovery, which seals them late to keep the chain
tiling, in a batch that vouches for nothing. None of them may become a case, an exhibit line or a notice;
each is refused, named, as "sealed late by recovery: not evidence"; the honest peers' cases are built.
"""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest

from swarmscope.cases.acns import Complainant
from swarmscope.cases.candidates import build_cases
from swarmscope.cases.exhibits import produce_exhibits
from swarmscope.cases.notices import prepare_notices
from swarmscope.cases.thresholds import ThresholdPolicy
from swarmscope.evidence.seal import NOT_EVIDENCE
from swarmscope.store.database import Store, open_store
from swarmscope.store.ledger.entries import load_batches
from swarmscope.store.ledger.verify import verify_ledger
from swarmscope.store.legal import cases as sc
from swarmscope.store.legal.workflow_seals import workflow_history
from tests.cases.evidence import IH, MIN, T0, attributed, fresh_store, hit, node_key_for, seal
from tests.tampering import append_unsealed, node_trust, tamper_file

HONEST, FORGED = "127.0.0.2", "127.0.0.8"
NOW = T0 + 10**12 + MIN
POLICY = ThresholdPolicy()


@pytest.fixture
def store(tmp_path: Path) -> Iterator[Store]:
    yield from fresh_store(tmp_path)


def _launder(store: Store) -> Store:
    """Honest evidence, then the forged tail, then a writer open (recovery seals the tail late)."""
    run = seal(store, [attributed(HONEST, -1, 64500), *(hit(HONEST, m) for m in (0, 30, 70))])
    sc.link_torrent(store, sc.add_work(store, "Rights Ltd", "Film", None, None, T0), IH, T0)
    sc.add_isp(store, "Loopnet", [64500], "abuse@loop.example", "1 Loop St", "DE", T0)
    span = append_unsealed(
        store, run, [attributed(FORGED, -1, 64500), *(hit(FORGED, m) for m in (1, 31, 71))]
    )
    db = store.engine.url.database
    assert db is not None
    again = open_store(db, node_key=node_key_for(db), now_us=T0 + 10**12)
    assert again.recovery is not None and again.recovery.recovered_batch == span
    return again


def test_a_forged_tail_sealed_by_recovery_makes_no_case_exhibit_or_notice(
    store: Store, tmp_path: Path
) -> None:
    again = _launder(store)
    with again:
        trusted = node_trust(again, NOW)
        report = build_cases(again, POLICY, NOW, trust=trusted)
        assert [c.ip for c in report.created] == [HONEST]
        forged = [r for r in report.refused if r.ip == FORGED]
        assert len(forged) == 3 and all(NOT_EVIDENCE in r.reason for r in forged)
        assert all(r.describe().startswith(f"observation {r.observation_id} (ledger index") for r in forged)
        written = produce_exhibits(again, tmp_path / "ex", actor="counsel", now_us=NOW, trust=trusted)
        assert [line[0] for w in written for line in w.exhibit.lines] == [report.created[0].doe]
        sender = Complainant("Rights Ltd", "notices@rights.test")
        batch = prepare_notices(again, tmp_path / "notices", now_us=NOW, complainant=sender, trust=trusted)
        assert [n.doc.doe for n in batch.notices] == [report.created[0].doe]
        verdict = verify_ledger(again)
        assert [(b.first, b.last) for b in verdict.late] == [again.recovery.recovered_batch]  # type: ignore[union-attr]


def test_clearing_the_recovered_column_does_not_make_the_tail_evidence(store: Store) -> None:
    again = _launder(store)
    with again:
        (late,) = [b for b in load_batches(again) if b.recovered]
        tamper_file(
            again, f"UPDATE ledger_batch SET recovered = 0, recovered_detail = NULL WHERE id = {late.id}"
        )
        report = build_cases(again, POLICY, NOW, trust=node_trust(again, NOW))
        assert [c.ip for c in report.created] == [HONEST]
        assert {r.ip for r in report.refused} == {FORGED}
        assert all(NOT_EVIDENCE in r.reason for r in report.refused)


def test_a_late_batch_is_skipped_by_the_workflow_history_not_a_freeze(store: Store) -> None:
    """One appended entry sealed late must not refuse every decision on every case for good."""
    again = _launder(store)
    with again:
        trusted = node_trust(again, NOW)
        report = build_cases(again, POLICY, NOW, trust=trusted)
        history = workflow_history(again, trusted)
        assert history.incomplete is None
        assert history.refusal(report.created[0].doe) is None
        first, last = again.recovery.recovered_batch  # type: ignore[union-attr]
        assert [idx for _node, idx in history.late] == list(range(first, last + 1))


def test_the_recovered_column_alone_refuses_no_honest_record(store: Store) -> None:
    """Setting the unsigned column on an honest batch neither freezes the workflow nor refuses its hits."""
    run = seal(store, [attributed(HONEST, -1, 64500), *(hit(HONEST, m) for m in (0, 30, 70))])
    assert run is not None
    sc.link_torrent(store, sc.add_work(store, "Rights Ltd", "Film", None, None, T0), IH, T0)
    sc.add_isp(store, "Loopnet", [64500], "abuse@loop.example", "1 Loop St", "DE", T0)
    trusted = node_trust(store, NOW)
    tamper_file(store, "UPDATE ledger_batch SET recovered = 1, recovered_detail = 'forged'")
    forged = [b.id for b in load_batches(store)]  # the build seals its cases in a batch of its own after
    report = build_cases(store, POLICY, NOW, trust=trusted)
    assert [c.ip for c in report.created] == [HONEST] and not report.refused
    history = workflow_history(store, trusted)
    assert history.incomplete is None and history.late == []
    assert not verify_ledger(store).late
    assert [b.batch for b in verify_ledger(store).column_only] == forged
