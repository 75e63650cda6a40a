"""A faked retention purge hides no sealed record: verify_ledger, export and the workflow refuse it.

The forger can write the database (append-only triggers out of the way) but lacks the node key. They
remove the canonical bytes of sealed entries, relabel the ``kind`` column (not covered by the hash chain)
as a redactable kind and fill in ``redacted_rule`` / ``redacted_us`` as a purge would: the clock samples
of a skewed run (its hits would become accusable), or an address's VPN attribution. No sealed purge
record names those entries, so the ledger does not verify (naming each index), export refuses, and the
workflow treats the node as incomplete: no new case, and a case planted meanwhile is refused by the
documents. SQLite; PostgreSQL with SWARMSCOPE_TEST_PG_URL.
"""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest
import sqlalchemy as sa
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey

from swarmscope.cases.candidates import build_cases
from swarmscope.cases.exhibits import produce_exhibits
from swarmscope.cases.thresholds import Candidate, ThresholdPolicy
from swarmscope.store.database import Store, StoreError
from swarmscope.store.ledger.export import ExportFilters, collect_export
from swarmscope.store.ledger.proven import EvidenceTrust
from swarmscope.store.ledger.purge_records import NO_PURGE_RECORD
from swarmscope.store.ledger.verify import verify_ledger
from swarmscope.store.legal import case_status
from swarmscope.store.legal import cases as sc
from tests import tampering
from tests.cases.evidence import IH, MIN, T0, attributed, hit, sample, seal
from tests.tampering import backend_store, key_trust

KEY = Ed25519PrivateKey.generate()
HONEST, SKEWED, VPN = (f"127.0.0.{n}" for n in (2, 3, 5))
NOW = T0 + 10**12 + MIN  # after the helper's seal time
POLICY = ThresholdPolicy()
RULE = "ip_evidence_days=90"
TABLES = ("observation", "clock_sample", "attribution", "ledger_entry")


@pytest.fixture(params=["sqlite", "postgresql"])
def store(request: pytest.FixtureRequest, tmp_path: Path) -> Iterator[Store]:
    """Run 1 honest (and a VPN address, attributed clean first, then flagged vpn); run 2's clock is 500 ms
    off, so its hits are clock-flagged."""
    with backend_store(request.param, tmp_path, KEY, T0) as s:
        attributions = [attributed(ip, -5, 64500) for ip in (HONEST, SKEWED)]
        attributions += [attributed(VPN, -10, 64500), attributed(VPN, -5, 64500, ("vpn",))]
        hits = [hit(ip, m) for ip in (HONEST, VPN) for m in (0, 30, 70)]
        seal(s, [*attributions, sample(-1, 2), *hits, sample(80, 2)])
        seal(s, [sample(99, 500), *(hit(SKEWED, m) for m in (100, 130, 170)), sample(180, 500)], swarms=())
        sc.link_torrent(s, sc.add_work(s, "Rights Ltd", "Film", None, None, T0), IH, T0)
        sc.add_isp(s, "Loopnet", [64500], "abuse@loop.example", "1 Loop St", "DE", T0)
        yield s


def trust() -> EvidenceTrust:
    return key_trust(KEY, NOW)


def tamper(store: Store, *statements: str) -> None:
    """Run SQL with the append-only triggers out of the way (write access, no node key)."""
    tampering.tamper(store, TABLES, *statements)


def indices(store: Store, query: str) -> list[int]:
    with store.engine.connect() as conn:
        return sorted(int(i) for i in conn.execute(sa.text(query)).scalars())


def fake_purge(store: Store, where: str, kind: str, table: str) -> list[int]:
    """Blank the sealed entries of the ``table`` rows matching ``where`` as a purge would, kind relabelled
    to ``kind``, and delete the rows; returns the chain indices hidden."""
    hidden = indices(store, f"SELECT ledger_index FROM {table} WHERE {where}")
    assert hidden
    listed = ", ".join(map(str, hidden))
    tamper(
        store,
        f"UPDATE ledger_entry SET canonical = NULL, kind = '{kind}', redacted_rule = '{RULE}', "
        f"redacted_us = {NOW} WHERE idx IN ({listed})",
        f"DELETE FROM {table} WHERE {where}",
    )
    return hidden


def assert_ledger_and_export_refuse(store: Store, hidden: list[int]) -> None:
    verdict = verify_ledger(store)
    assert not verdict.ok and verdict.redacted == () and verdict.purges == ()
    named = {p.index: p for p in verdict.problems if p.what == "record bytes missing"}
    assert sorted(named) == hidden
    assert all(p.detail == NO_PURGE_RECORD for p in named.values()), named
    with pytest.raises(StoreError, match=f"index {hidden[0]}: record bytes missing \\({NO_PURGE_RECORD}"):
        collect_export(store, ExportFilters())


def planted_case(store: Store, ip: str, first: int, last: int) -> str:
    """A case row written straight into the case tables for ``ip`` (3 hits, as a build would)."""
    candidate = Candidate(ip, IH, 6881, T0 + first * MIN, T0 + last * MIN, 3)
    work, isp = sc.work_for_infohash(store, IH), sc.isp_for_asn(store, 64500)
    assert work is not None and isp is not None
    return case_status.upsert_case(store, candidate, work.id, isp.id, None, None, NOW).doe


def assert_documents_refuse(store: Store, tmp_path: Path, doe: str) -> None:
    refused: list[tuple[str, str]] = []
    written = produce_exhibits(
        store, tmp_path / "ex", actor="counsel", now_us=NOW, trust=trust(), refused=refused
    )
    assert doe not in {line[0] for w in written for line in w.exhibit.lines}
    assert doe in {d for d, _why in refused}


def test_a_faked_purge_of_a_skewed_runs_clock_samples_is_refused(store: Store, tmp_path: Path) -> None:
    hidden = fake_purge(store, "run_id = 2", "observation", "clock_sample")
    assert len(hidden) == 2
    assert_ledger_and_export_refuse(store, hidden)
    report = build_cases(store, POLICY, NOW, trust=trust())
    assert SKEWED not in {c.ip for c in report.created}  # the skewed run's hits stay clock-flagged
    assert not report.created  # the node's ledger is incomplete: every hit of it is flagged
    assert_documents_refuse(store, tmp_path, planted_case(store, SKEWED, 100, 170))


def test_a_faked_purge_of_a_vpn_attribution_is_refused(store: Store, tmp_path: Path) -> None:
    flagged = f"ip = '{VPN}' AND observed_at_us = {T0 - 5 * MIN}"  # its vpn-flagged attribution
    hidden = fake_purge(store, flagged, "attribution", "attribution")
    assert len(hidden) == 1
    assert_ledger_and_export_refuse(store, hidden)
    report = build_cases(store, POLICY, NOW, trust=trust())
    assert not report.created  # no address gets a case while a sealed attribution may be hidden
    (vpn,) = [c for c in report.excluded if c.ip == VPN]
    assert any(NO_PURGE_RECORD in r for r in vpn.reasons_excluded), vpn.reasons_excluded
    assert_documents_refuse(store, tmp_path, planted_case(store, VPN, 0, 70))


def test_without_the_forgery_the_flags_hold(store: Store) -> None:
    """The control: honest evidence gives the honest case only (the skewed run and the VPN are flagged)."""
    assert verify_ledger(store).ok
    assert {c.ip for c in build_cases(store, POLICY, NOW, trust=trust()).created} == {HONEST}
