"""Every accusing document judges a case under its own thresholds; the unsealed build note only tightens.

Someone who can write the database file (triggers dropped) but lacks the node key inserts a case row for an
address with ONE proven verified hit, and a build note in ``case_event`` saying ``min_hits=1, min_span=0``.
Exhibits, ACNS notices, letters (draft, preview, approve, send), the escalation and the litigation list
refuse it under the court-tested defaults, naming the failed threshold and that the note does not loosen
it; it passes only when the caller asks for those loose thresholds explicitly. A note stricter than the
caller's thresholds still tightens them. The honest case built with the defaults keeps every document.
"""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest

from swarmscope.cases.acns import Complainant
from swarmscope.cases.candidates import build_cases
from swarmscope.cases.case_actions import escalate_case
from swarmscope.cases.case_proof import UnprovenCase
from swarmscope.cases.document_policy import COURT_TESTED, DocumentPolicy
from swarmscope.cases.exhibits import produce_exhibits
from swarmscope.cases.identities import IdentityKey
from swarmscope.cases.identity_seal import seal_identified
from swarmscope.cases.letter_flow import approve_letter, draft_letters, preview_letter
from swarmscope.cases.letter_send import Delivery, send_letter
from swarmscope.cases.letter_settings import load_settings
from swarmscope.cases.letters import TEMPLATES as LETTER_TEMPLATES
from swarmscope.cases.litigation import litigation_rows
from swarmscope.cases.notices import prepare_notices
from swarmscope.cases.thresholds import HOUR_US, ThresholdPolicy
from swarmscope.store.database import Store
from swarmscope.store.ledger.proven import EvidenceTrust
from swarmscope.store.legal import case_status
from swarmscope.store.legal import cases as sc
from tests.cases.evidence import IH, MIN, T0, attributed, fresh_store, hit, sample, seal, seal_case_builds
from tests.tampering import node_trust, tamper_file

HONEST, LONE = "127.0.0.2", "127.0.0.9"
PLANTED = "DOE-000099"
NOW = T0 + 10**12 + MIN  # after the helper's seal time
LOOSE = DocumentPolicy(ThresholdPolicy(min_hits=1, min_span_us=0))
SENDER = Complainant("Rights Ltd", "notices@rights.test")


@pytest.fixture
def store(tmp_path: Path) -> Iterator[Store]:
    """HONEST: 3 proven hits over 70 min (built with the defaults), its node's clock 2 ms off; LONE: one
    proven hit; both attributed."""
    for s in fresh_store(tmp_path):
        seal(s, [attributed(ip, -1, 64500) for ip in (HONEST, LONE)] + [hit(LONE, 10)])
        seal(s, [sample(-1, 2), *(hit(HONEST, m) for m in (0, 30, 70)), sample(80, 2)], swarms=())
        sc.link_torrent(s, sc.add_work(s, "Rights Ltd", "Film", None, None, T0), IH, T0)
        sc.add_isp(s, "Loopnet", [64500], "abuse@loop.example", "1 Loop St", "DE", T0)
        yield s


def trust(store: Store) -> EvidenceTrust:
    return node_trust(store, NOW)


def tamper(store: Store, *statements: str) -> None:
    """Drop every trigger of the SQLite file and run ``statements`` (write access, no node key)."""
    tamper_file(store, *statements)


def note(store: Store, doe: str, policy: ThresholdPolicy) -> None:
    """A build note for ``doe`` inserted by hand (``case_event`` is not sealed)."""
    text = f"build: passed; policy: {policy.describe()}, clock_threshold=100 ms (as sealed)"
    tamper(
        store,
        "INSERT INTO case_event (case_id, status, at_us, actor, note) SELECT id, status, "
        f"{NOW}, 'swarmscope', '{text}' FROM legal_case WHERE doe = '{doe}'",
    )


def plant(store: Store, status: str) -> str:
    """The honest case (built with the defaults) and, inserted by hand beside it, LONE's one-hit case
    (work, ISP, region and city copied from the honest row, as a build would set them) whose build note
    says ``min_hits=1, min_span=0``. Returns the honest case's DOE number."""
    (honest,) = build_cases(store, ThresholdPolicy(), NOW, trust=trust(store)).created
    at = T0 + 10 * MIN
    tamper(
        store,
        "INSERT INTO legal_case (doe, ip, port, infohash, work_id, isp_id, first_hit_us, last_hit_us, hits, "
        "region, city, status, created_us, status_us) SELECT "
        f"'{PLANTED}', '{LONE}', port, infohash, work_id, isp_id, {at}, {at}, 1, region, city, '{status}', "
        f"{NOW}, {NOW} FROM legal_case WHERE doe = '{honest.doe}'",
    )
    note(store, PLANTED, ThresholdPolicy(min_hits=1, min_span_us=0))
    seal_case_builds(store, NOW)  # sealed as a build with those thresholds would have sealed it
    return honest.doe


def refusal(why: str) -> None:
    """The refusal names the failed thresholds and says the build note does not loosen them."""
    assert why.startswith(f"{PLANTED}: refused:"), why
    assert "too_few_hits: 1 verified hit(s), 3 required" in why and "span_too_short" in why, why
    assert "this command's thresholds (min_hits=3, min_span=60.0 min" in why, why
    assert "the build note (min_hits=1, min_span=0.0 min" in why and "never loosens them" in why, why


def test_exhibits_refuse_a_hand_inserted_case_unless_asked_for_its_thresholds(
    store: Store, tmp_path: Path
) -> None:
    honest = plant(store, "candidate")
    refused: list[tuple[str, str]] = []
    written = produce_exhibits(
        store, tmp_path / "ex", actor="counsel", now_us=NOW, trust=trust(store), refused=refused
    )
    assert [line[0] for w in written for line in w.exhibit.lines] == [honest]
    ((doe, why),) = refused
    assert doe == PLANTED
    refusal(why)
    # --min-hits 1 alone is not enough: the span threshold keeps the court-tested default
    refused.clear()
    only_hits = DocumentPolicy(ThresholdPolicy(min_hits=1))
    produce_exhibits(store, tmp_path / "ex1", actor="c", now_us=NOW, trust=trust(store), refused=refused,
                     policy=only_hits)  # fmt: skip
    assert [d for d, _ in refused] == [PLANTED] and "span_too_short" in refused[0][1]
    assert "too_few_hits" not in refused[0][1]
    refused.clear()
    written = produce_exhibits(store, tmp_path / "ex2", actor="c", now_us=NOW, trust=trust(store),
                               refused=refused, policy=LOOSE)  # fmt: skip
    assert sorted(line[0] for w in written for line in w.exhibit.lines) == [honest, PLANTED]
    assert refused == []


def test_notices_refuse_it_unless_asked(store: Store, tmp_path: Path) -> None:
    honest = plant(store, "candidate")
    batch = prepare_notices(store, tmp_path / "n", now_us=NOW, complainant=SENDER, trust=trust(store))
    assert [n.doc.doe for n in batch.notices] == [honest]
    ((doe, why),) = batch.skipped
    assert doe == PLANTED
    refusal(why)
    loose = prepare_notices(
        store, tmp_path / "n2", now_us=NOW, complainant=SENDER, trust=trust(store), policy=LOOSE
    )
    assert sorted(n.doc.doe for n in loose.notices) == [honest, PLANTED] and loose.skipped == []


def identify_planted(store: Store) -> None:
    """PLANTED identified as ``subscribers import`` leaves a case: an identity row disclosed for LONE over
    its hit and the identification sealed with the node key (letters are drafted only for a proven
    identification: its thresholds, not its identity, are what is refused here)."""
    at = T0 + 10 * MIN
    tamper(
        store,
        "INSERT INTO subscriber (case_id, window_start_us, window_end_us, ip, port, ciphertext, key_id, "
        f"source_sha256, imported_us) SELECT id, {at - MIN}, {at + MIN}, '{LONE}', NULL, X'00', 'k', "
        f"'{'00' * 32}', {NOW} FROM legal_case WHERE doe = '{PLANTED}'",
    )
    seal_identified(store, [PLANTED], NOW)


def test_letters_refuse_it_unless_asked(store: Store) -> None:
    plant(store, "identified")
    identify_planted(store)
    payee = {"payee": "Rights Ltd"}  # the planted case's rights holder
    settings = load_settings(LETTER_TEMPLATES / "settings.example.toml", payee)
    with pytest.raises(UnprovenCase) as caught:
        draft_letters(store, settings, [PLANTED], "counsel", NOW, trust(store))
    refusal(str(caught.value))
    (letter,) = draft_letters(store, settings, [PLANTED], "counsel", NOW, trust(store), LOOSE)
    with pytest.raises(UnprovenCase, match="never loosens them"):
        preview_letter(store, PLANTED, trust=trust(store))
    assert preview_letter(store, PLANTED, trust=trust(store), policy=LOOSE).letter.id == letter.id
    with pytest.raises(UnprovenCase, match="never loosens them"):
        approve_letter(store, PLANTED, "counsel", NOW, None, trust(store))
    approved = approve_letter(store, PLANTED, "counsel", NOW, None, trust(store), LOOSE)
    assert approved.approved_by == "counsel"
    with pytest.raises(UnprovenCase, match="never loosens them"):  # before any decryption
        send_letter(store, PLANTED, IdentityKey.generate(), {}, Delivery("127.0.0.1", 25, None), "c", NOW,
                    trust(store))  # fmt: skip


def test_escalation_and_the_litigation_list_refuse_it_unless_asked(store: Store) -> None:
    plant(store, "no_response")
    with pytest.raises(UnprovenCase) as caught:
        escalate_case(store, PLANTED, "counsel", NOW, trust(store))
    refusal(str(caught.value))
    assert case_status.get_case(store, PLANTED).status == "no_response"  # nothing written
    # Under its own thresholds its evidence passes, but the case row was inserted by hand: no letter ever
    # left, so its sealed workflow history carries no escalation, and its status alone proves nothing.
    with pytest.raises(UnprovenCase, match="by its sealed history \\(no proven sent letter\\)"):
        escalate_case(store, PLANTED, "counsel", NOW, trust(store), LOOSE)
    tamper(store, f"UPDATE legal_case SET status = 'escalated' WHERE doe = '{PLANTED}'")
    refused: list[tuple[str, str]] = []
    assert litigation_rows(store, None, "counsel", NOW, trust(store), refused) == []
    assert [d for d, _ in refused] == [PLANTED]
    refusal(refused[0][1])
    refused = []
    assert litigation_rows(store, None, "counsel", NOW, trust(store), refused, policy=LOOSE) == []
    why = "not on the litigation list by its sealed history (no sealed escalation decision)"
    assert refused == [(PLANTED, f"{PLANTED}: refused: {why}")]


def test_a_stricter_build_note_still_tightens(store: Store, tmp_path: Path) -> None:
    honest = plant(store, "candidate")
    note(store, honest, ThresholdPolicy(min_hits=3, min_span_us=2 * HOUR_US))  # built to want 2 hours
    for policy in (COURT_TESTED, LOOSE):
        refused: list[tuple[str, str]] = []
        produce_exhibits(store, tmp_path / "ex", actor="c", now_us=NOW, trust=trust(store), refused=refused,
                         policy=policy)  # fmt: skip
        why = dict(refused)[honest]
        assert "span_too_short: hits span 70.0 min, 120.0 min required" in why, why
        assert "tightened, field by field, by the build note (min_hits=3, min_span=120.0 min" in why, why


def test_tightened_is_the_stricter_field_by_field() -> None:
    mine = DocumentPolicy(ThresholdPolicy(2, HOUR_US, frozenset({"vpn", "hosting"})), 80_000)
    recorded = ThresholdPolicy(5, 10 * MIN, frozenset({"vpn", "tor"}))
    assert mine.tightened(recorded, None) == DocumentPolicy(
        ThresholdPolicy(5, HOUR_US, frozenset({"vpn"})), 80_000
    )
    assert mine.tightened(recorded, 50_000).clock_threshold_us == 50_000
    assert mine.tightened(None, 90_000) == DocumentPolicy(mine.thresholds, 80_000)
    assert COURT_TESTED.tightened(None, None) == COURT_TESTED == DocumentPolicy()
    assert COURT_TESTED.tightened(ThresholdPolicy(1, 0, frozenset({"vpn"})), None) == COURT_TESTED
    with pytest.raises(ValueError, match="clock_threshold_us"):
        DocumentPolicy(clock_threshold_us=0)


def test_a_build_note_wanting_two_vantages_refuses_a_single_node_case(store: Store, tmp_path: Path) -> None:
    honest = plant(store, "candidate")  # its hits were all sealed by this one node
    note(store, honest, ThresholdPolicy(min_vantages=2))
    refused: list[tuple[str, str]] = []
    produce_exhibits(store, tmp_path / "ex", actor="c", now_us=NOW, trust=trust(store), refused=refused,
                     policy=COURT_TESTED)  # fmt: skip
    why = dict(refused)[honest]
    assert "too_few_vantages: seen from 1 node(s), 2 required" in why, why
    assert "allow_flags=none, min_vantages=2" in why, why
    assert COURT_TESTED.tightened(ThresholdPolicy(min_vantages=3), None).thresholds.min_vantages == 3


def test_the_documents_clock_threshold_applies(store: Store, tmp_path: Path) -> None:
    """``--clock-threshold-ms`` given to a document tightens the sealed 100 ms; a looser one is refused."""
    honest = plant(store, "candidate")
    for clock_us, reason in ((1_000, "clock_flagged: 3 hit(s)"), (500_000, "looser than the 100 ms sealed")):
        refused: list[tuple[str, str]] = []
        produce_exhibits(store, tmp_path / "ex", actor="c", now_us=NOW, trust=trust(store), refused=refused,
                         policy=DocumentPolicy(clock_threshold_us=clock_us))  # fmt: skip
        assert reason in dict(refused)[honest], refused
