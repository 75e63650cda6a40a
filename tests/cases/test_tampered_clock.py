"""Clock samples, run settings, run membership and attributions reach the workflow only as sealed.

An attacker with write access to the database (append-only triggers out of the way) but without the node
key hides or edits the clock samples of a skewed run, loosens its sealed threshold in ``monitor_run``,
moves its hits into an honest run (``observation.run_id`` is not sealed), or edits / deletes an address's
attribution. A clock-flagged or hosting/VPN-flagged address must never become a case, an address whose
attribution row was altered gets none (named), the honest cases are still built, and a case row that
the proven evidence no longer supports is refused by every document. SQLite; PostgreSQL with
SWARMSCOPE_TEST_PG_URL.
"""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey

from swarmscope.cases.acns import Complainant
from swarmscope.cases.candidates import build_cases
from swarmscope.cases.case_links import link_problem
from swarmscope.cases.case_proof import UnprovenCase
from swarmscope.cases.case_recheck import ROUNDING_US, build_policy
from swarmscope.cases.directory_proof import DirectoryProof
from swarmscope.cases.exhibits import produce_exhibits
from swarmscope.cases.letter_flow import draft_letters, preview_letter
from swarmscope.cases.letter_settings import load_settings
from swarmscope.cases.letters import TEMPLATES as LETTER_TEMPLATES
from swarmscope.cases.notices import prepare_notices
from swarmscope.cases.thresholds import Candidate, ThresholdPolicy
from swarmscope.store.database import Store
from swarmscope.store.ledger.proven import EvidenceTrust
from swarmscope.store.ledger.proven_records import proven_attributions
from swarmscope.store.legal import case_status
from swarmscope.store.legal import cases as sc
from tests import tampering
from tests.cases.evidence import IH, MIN, T0, attributed, hit, sample, seal
from tests.tampering import backend_store, key_trust

KEY = Ed25519PrivateKey.generate()
HONEST, SKEWED, LATER, VPN = (f"127.0.0.{n}" for n in (2, 3, 4, 5))
NOW = T0 + 10**12 + MIN  # after the helper's seal time
POLICY = ThresholdPolicy()
TABLES = ("observation", "clock_sample", "monitor_run", "attribution", "ledger_entry", "ledger_batch")


@pytest.fixture(params=["sqlite", "postgresql"])
def store(request: pytest.FixtureRequest, tmp_path: Path) -> Iterator[Store]:
    """Three runs like the reviewer's: run 2's clock is 500 ms off (its hits are flagged), a VPN address."""
    with backend_store(request.param, tmp_path, KEY, T0) as s:
        attributions = [attributed(ip, -5, 64500) for ip in (HONEST, SKEWED, LATER)]
        attributions.append(attributed(VPN, -5, 64500, ("vpn",)))
        seal(
            s,
            [
                *attributions,
                sample(-1, 2),
                *(hit(ip, m) for ip in (HONEST, VPN) for m in (0, 30, 70)),
                sample(80, 2),
            ],
        )
        seal(s, [sample(99, 500), *(hit(SKEWED, m) for m in (100, 130, 170)), sample(180, 500)], swarms=())
        seal(s, [sample(199, 3), *(hit(LATER, m) for m in (200, 230, 270))], swarms=())
        sc.link_torrent(s, sc.add_work(s, "Rights Ltd", "Film", None, None, T0), IH, T0)
        sc.add_isp(s, "Loopnet", [64500], "abuse@loop.example", "1 Loop St", "DE", T0)
        sc.add_isp(s, "Othernet", [64501], "abuse@other.example", "2 Other St", "DE", T0)
        yield s


def trust() -> EvidenceTrust:
    return key_trust(KEY, NOW)


def tamper(store: Store, *statements: str) -> None:
    """Run SQL with the append-only triggers out of the way (write access, no node key)."""
    tampering.tamper(store, TABLES, *statements)


def built(store: Store) -> set[str]:
    return {c.ip for c in build_cases(store, POLICY, NOW, trust=trust()).created}


# the skewed run's clock records blanked out (bytes gone, kind relabelled, no purge recorded) and their
# rows deleted: export refuses such a ledger ("record bytes missing"), so the workflow must not read it
_HIDDEN_CLOCK = (
    "UPDATE ledger_entry SET canonical = NULL, kind = 'observation' WHERE kind = 'clock_sample' AND idx IN "
    "(SELECT ledger_index FROM clock_sample WHERE run_id = 2); DELETE FROM clock_sample WHERE run_id = 2"
)


@pytest.mark.parametrize(
    "attack",
    [
        "DELETE FROM clock_sample WHERE run_id = 2",
        "UPDATE clock_sample SET offset_us = 10 WHERE run_id = 2",
        "UPDATE observation SET run_id = 1 WHERE run_id = 2",
        "UPDATE monitor_run SET settings = '{\"clock_threshold_ms\": 3600000}' WHERE id = 2",
        "DELETE FROM clock_sample",
        "UPDATE ledger_entry SET kind = 'sighting' WHERE kind = 'clock_sample'",  # kind is not chained
        "DELETE FROM ledger_entry WHERE kind = 'clock_sample'",  # breaks the chain: the clock is incomplete
        _HIDDEN_CLOCK,
    ],
)
def test_clock_rows_run_settings_and_run_ids_do_not_unflag_a_skewed_run(store: Store, attack: str) -> None:
    assert built(store) == {HONEST, LATER}
    tamper(store, *attack.split("; "))
    assert built(store) == set()  # the honest ones exist already; nothing new, above all not SKEWED
    cases = {c.ip for c in case_status.list_cases(store)}
    assert cases == {HONEST, LATER}


@pytest.mark.parametrize(
    "attacks",
    [
        [f"UPDATE attribution SET flags = '[]' WHERE ip = '{VPN}'"],
        [f"DELETE FROM attribution WHERE ip = '{VPN}'"],
        [  # the kind column is not chained: relabelled, the sealed record is still found by its type (and
            # the other rows, whose entries now claim another kind, are refused: no case at all)
            "UPDATE ledger_entry SET kind = 'sighting' WHERE kind = 'attribution'",
            f"DELETE FROM attribution WHERE ip = '{VPN}'",
        ],
        [  # its sealed record blanked out too (no bytes, no recorded purge: export refuses such a ledger)
            "UPDATE ledger_entry SET canonical = NULL, kind = 'sighting' WHERE kind = 'attribution' AND idx ="
            f" (SELECT ledger_index FROM attribution WHERE ip = '{VPN}')",
            f"DELETE FROM attribution WHERE ip = '{VPN}'",
        ],
    ],
)
def test_a_vpn_flag_edited_or_deleted_does_not_let_the_address_through(
    store: Store, attacks: list[str]
) -> None:
    tamper(store, *attacks)
    report = build_cases(store, POLICY, NOW, trust=trust())
    assert {c.ip for c in report.created} == ({HONEST, LATER} if len(attacks) == 1 else set())
    (vpn,) = [c for c in report.excluded if c.ip == VPN]
    if "canonical = NULL" in attacks[0]:  # the node's ledger is incomplete: no attribution is proven
        assert all(any("record bytes missing" in r for r in c.reasons_excluded) for c in report.excluded)
        assert any(r.startswith("attribution_unproven") for r in vpn.reasons_excluded), vpn.reasons_excluded
        return
    assert any(r.startswith("flagged:vpn") for r in vpn.reasons_excluded), vpn.reasons_excluded


def test_an_attribution_moved_to_another_isp_is_refused_and_named(store: Store) -> None:
    tamper(store, f"UPDATE attribution SET asn = 64501, isp = 'Othernet' WHERE ip = '{HONEST}'")
    report = build_cases(store, POLICY, NOW, trust=trust())
    assert {c.ip for c in report.created} == {LATER}
    (honest,) = [c for c in report.excluded if c.ip == HONEST]
    (why,) = honest.reasons_excluded
    assert why.startswith("attribution_unproven: attribution ") and HONEST in why and "row altered" in why


def _planted_case(store: Store, ip: str, first: int, last: int) -> str:
    """A case row written straight into the case tables for ``ip`` (3 hits, as a build would)."""
    candidate = Candidate(ip, IH, 6881, T0 + first * MIN, T0 + last * MIN, 3)
    work, isp = sc.work_for_infohash(store, IH), sc.isp_for_asn(store, 64500)
    assert work is not None and isp is not None
    return case_status.upsert_case(store, candidate, work.id, isp.id, None, None, NOW).doe


def _documents_refuse(store: Store, tmp_path: Path, doe: str, honest: str, reason: str) -> None:
    refused: list[tuple[str, str]] = []
    written = produce_exhibits(
        store, tmp_path / "ex", actor="counsel", now_us=NOW, trust=trust(), refused=refused
    )
    assert doe not in {line[0] for w in written for line in w.exhibit.lines}
    assert honest in {line[0] for w in written for line in w.exhibit.lines}
    (why,) = [w for d, w in refused if d == doe]
    assert "no longer passes its thresholds" in why and reason in why, why
    sender = Complainant("Rights Ltd", "notices@rights.test")
    batch = prepare_notices(store, tmp_path / "notices", now_us=NOW, complainant=sender, trust=trust())
    assert doe not in [n.doc.doe for n in batch.notices] and doe in [d for d, _ in batch.skipped]
    settings = load_settings(LETTER_TEMPLATES / "settings.example.toml", {})
    with pytest.raises(UnprovenCase, match=doe):
        draft_letters(store, settings, [doe], "counsel", NOW, trust())
    with pytest.raises(UnprovenCase, match=doe):
        preview_letter(store, doe, trust=trust())


def test_a_case_of_a_clock_flagged_address_is_refused_by_every_document(store: Store, tmp_path: Path) -> None:
    honest = {c.ip: c.doe for c in build_cases(store, POLICY, NOW, trust=trust()).created}
    # stealth: clock rows hidden (or a case row planted) while the case was made; rows put back after
    doe = _planted_case(store, SKEWED, 100, 170)
    _documents_refuse(store, tmp_path, doe, honest[HONEST], "clock_flagged")


def test_a_case_whose_attribution_row_was_altered_after_build_is_refused(
    store: Store, tmp_path: Path
) -> None:
    honest = {c.ip: c.doe for c in build_cases(store, POLICY, NOW, trust=trust()).created}
    tamper(store, f"UPDATE attribution SET asn = 64501 WHERE ip = '{LATER}'")
    _documents_refuse(store, tmp_path, honest[LATER], honest[HONEST], "attribution_unproven")


def test_a_narrowed_case_is_judged_on_every_proven_hit_of_its_address(store: Store, tmp_path: Path) -> None:
    """A case row narrowed to one unflagged hit (weak note) still sees the clock-flagged hit outside it."""
    honest = {c.ip: c.doe for c in build_cases(store, POLICY, NOW, trust=trust()).created}
    # sealed after the build, which sealed the cases at NOW
    seal(
        store,
        [sample(990, 3), sample(999, 500), hit(LATER, 1000), sample(1010, 500)],
        swarms=(),
        sealed_at_us=NOW,
    )
    tamper(
        store,
        f"UPDATE legal_case SET hits = 1, last_hit_us = first_hit_us WHERE doe = '{honest[LATER]}'",
        "INSERT INTO case_event (case_id, status, at_us, actor, note) SELECT id, 'candidate', "
        f"{NOW}, 'x', 'build: passed; policy: min_hits=1, min_span=0.0 min, allow_flags=none' "
        f"FROM legal_case WHERE doe = '{honest[LATER]}'",
    )
    _documents_refuse(store, tmp_path, honest[LATER], honest[HONEST], "clock_flagged")


def test_the_recorded_build_policy_keeps_every_opted_in_flag(store: Store) -> None:
    honest = {c.ip: c.doe for c in build_cases(store, POLICY, NOW, trust=trust()).created}
    weak = ThresholdPolicy(min_hits=2, min_span_us=10 * MIN, allow_flags=frozenset({"hosting", "vpn"}))
    tamper(
        store,
        "INSERT INTO case_event (case_id, status, at_us, actor, note) SELECT id, 'candidate', "
        f"{NOW}, 'x', 'build: passed; policy: {weak.describe()}, clock_threshold=100 ms (as sealed)' "
        f"FROM legal_case WHERE doe = '{honest[HONEST]}'",
    )
    policy, _ = build_policy(store, honest[HONEST])
    assert policy == ThresholdPolicy(2, 10 * MIN - ROUNDING_US, frozenset({"hosting", "vpn"}))


@pytest.mark.parametrize(
    ("edit", "reason"),
    [
        ("SET isp_id = (SELECT id FROM isp WHERE name = 'Othernet')", "is not the ISP of the proven"),
        ("SET region = 'Bayern', city = 'München'", "region/city Bayern/München"),
        ("SET work_id = {other}", "is not the work of its torrent"),
    ],
)
def test_an_edited_work_isp_or_region_does_not_follow_from_proven_inputs(
    store: Store, edit: str, reason: str
) -> None:
    honest = {c.ip: c.doe for c in build_cases(store, POLICY, NOW, trust=trust()).created}
    other = sc.add_work(store, "Other Ltd", "Other film", None, None, T0)  # a work not linked to IH
    tamper(store, f"UPDATE legal_case {edit.format(other=other)} WHERE doe = '{honest[LATER]}'")
    proven = proven_attributions(store, trust(), {HONEST, LATER})
    directory = DirectoryProof(store, trust())
    assert link_problem(store, case_status.get_case(store, honest[HONEST]), proven, None, directory) is None
    why = link_problem(store, case_status.get_case(store, honest[LATER]), proven, None, directory)
    assert why is not None and reason in str(why), why
