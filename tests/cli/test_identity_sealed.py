"""A case's identification rests on its SEALED import, not on the subscriber row: someone with write access
to the database file and the identity key, but without the node key, replaces a case's identity by one of
his own (a valid ciphertext: he holds the identity key) or sets an identified case back to ``requested``;
no letter is drafted, previewed or sent on it, the case is named ("identity altered", "status altered"),
and ``subscribers import`` without the node key imports nothing. SQLite (the letters world, identified
through ``subscribers import``'s own action).
"""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest
from typer.testing import CliRunner

from swarmscope.cases import letters as L
from swarmscope.cases.case_proof import UnprovenCase
from swarmscope.cases.case_state import status_problem
from swarmscope.cases.identities import Identity
from swarmscope.cases.identity_seal import identity_problem
from swarmscope.cases.letter_flow import draft_letters, preview_letter
from swarmscope.cases.requests import record_disclosure
from swarmscope.cases.workflow import next_case_status
from swarmscope.cli import register_commands
from swarmscope.cli.app import app
from swarmscope.evidence.records import us_to_iso
from swarmscope.store.database import open_store
from swarmscope.store.ledger.proven import store_trust
from swarmscope.store.legal import case_status
from swarmscope.store.legal import letters as letter_store
from swarmscope.store.legal.disclosure_match import Disclosed, DisclosureRow
from swarmscope.store.legal.subscribers import import_disclosure, stored_identity, subscriber_rows
from swarmscope.store.legal.workflow_seals import workflow_history
from tests.cli.letter_world import DAY, HOUR, IDENTITIES, SETTINGS, T0, World, build_world
from tests.tampering import tamper_file

register_commands()

MALLORY = Identity("Mallory Sample", "9 Ninth Street\n10999 Berlin", "mallory@example.test")


@pytest.fixture
def world(tmp_path: Path) -> Iterator[World]:
    built = build_world(tmp_path, sealed_identities=True)
    try:
        yield built
    finally:
        built.store.close()


def test_an_identity_replaced_without_the_node_key_gets_no_letter(world: World) -> None:
    """The writer deletes DOE-000001's identity, sets it back to ``requested`` and imports his own
    disclosure through the store (identity key, no node key): the case is ``identified`` again with a
    readable identity, but the identification sealed at import names the ISP's disclosure, not his: no
    draft, no preview. The honest case beside it is drafted."""
    forged, honest = world.dois[0], world.dois[2]
    case = case_status.get_case(world.store, forged)
    tamper_file(
        world.db,
        f"DELETE FROM subscriber WHERE case_id = {case.id}",
        f"UPDATE legal_case SET status = 'requested' WHERE id = {case.id}",
    )
    row = DisclosureRow(1, case.ip, case.first_hit_us - 2 * HOUR, case.last_hit_us + HOUR, MALLORY)
    with open_store(str(world.db), create=False) as writer:  # no node key
        report = import_disclosure(writer, world.key, [row], source_sha256="ff" * 32, actor="mallory",
                                   now_us=T0 + DAY, rule=next_case_status)  # fmt: skip
    assert report.imported == ((1, forged),)
    assert case_status.get_case(world.store, forged).status == "identified"
    with pytest.raises(
        UnprovenCase, match=f"{forged}: refused: identity altered \\(its identity row, imported"
    ):
        draft_letters(world.store, SETTINGS, [forged], "counsel", T0 + 2 * DAY)
    assert draft_letters(world.store, SETTINGS, [honest], "counsel", T0 + 2 * DAY)
    with pytest.raises(UnprovenCase, match="identity altered"):
        preview_letter(world.store, forged)
    assert case_status.get_case(world.store, forged).status == "identified"


def test_another_person_encrypted_for_the_same_disclosure_gets_no_letter(world: World) -> None:
    """The writer holds the identity key: he encrypts another person for DOE-000001's very disclosure (the
    associated data still matches, so it decrypts) and writes it over the stored ciphertext. The sealed
    identification names the ciphertext it sealed: no draft, no preview; the honest case is drafted."""
    swapped, honest = world.dois[0], world.dois[2]
    case = case_status.get_case(world.store, swapped)
    row = stored_identity(world.store, case.id)
    assert row is not None and row.ip is not None
    disclosed = Disclosed(row.ip, row.port, row.window_start_us, row.window_end_us)
    forged = world.key.seal(MALLORY, case.id, disclosed)
    assert world.key.open(forged, case.id, disclosed) == MALLORY
    tamper_file(world.db, f"UPDATE subscriber SET ciphertext = X'{forged.hex()}' WHERE case_id = {case.id}")
    with pytest.raises(UnprovenCase, match=f"{swapped}: refused: identity altered \\(its identity row"):
        draft_letters(world.store, SETTINGS, [swapped], "counsel", T0 + DAY)
    with pytest.raises(UnprovenCase, match="identity altered"):
        preview_letter(world.store, swapped)
    assert draft_letters(world.store, SETTINGS, [honest], "counsel", T0 + DAY)


def test_an_identified_case_set_back_to_requested_is_status_altered(world: World) -> None:
    """With its identity row deleted and its status set back to ``requested``, the sealed identification
    names the case: "status altered"; its (deleted) identity: "identity altered"."""
    doe = world.dois[1]
    history = workflow_history(world.store, store_trust(world.store, None))
    assert status_problem(history, case_status.get_case(world.store, doe)) is None
    case_id = case_status.get_case(world.store, doe).id
    tamper_file(world.db, f"DELETE FROM subscriber WHERE case_id = {case_id}",
                f"UPDATE legal_case SET status = 'requested' WHERE id = {case_id}")  # fmt: skip
    why = status_problem(history, case_status.get_case(world.store, doe))
    assert why is not None and why.startswith(f"{doe}: refused: status altered (it says 'requested'")
    tamper_file(world.db, f"UPDATE legal_case SET status = 'identified' WHERE id = {case_id}")
    with pytest.raises(UnprovenCase, match=f"{doe}: refused: identity altered \\(the identification sealed"):
        draft_letters(world.store, SETTINGS, [doe], "counsel", T0 + DAY)


def test_subscribers_import_without_the_node_key_imports_nothing(world: World, tmp_path: Path) -> None:
    """``subscribers import`` seals each identification: without a usable node key it refuses in one
    line, exit status 1, and stores no identity."""
    doe = world.dois[0]
    case = case_status.get_case(world.store, doe)
    tamper_file(world.db, f"DELETE FROM subscriber WHERE case_id = {case.id}",
                f"UPDATE legal_case SET status = 'requested' WHERE id = {case.id}")  # fmt: skip
    disclosure = tmp_path / "disclosure.csv"
    start, end = case.first_hit_us - HOUR, case.last_hit_us + HOUR
    disclosure.write_text(
        "ip,start,end,name,postal_address,email\n"
        f"{case.ip},{us_to_iso(start)},{us_to_iso(end)},Alex Sample,1 First Street,alex@example.test\n",
        encoding="utf-8",
    )
    args = ["subscribers", "import", str(disclosure), "--identity-key", str(world.key_file), "--actor", "c",
            "--db", str(world.db), "--node-key", str(tmp_path / "missing.pem")]  # fmt: skip
    result = CliRunner().invoke(app, args)
    assert result.exit_code == 1 and len(result.output.strip().splitlines()) == 1, result.output
    assert result.output.startswith("error: ") and "missing.pem" in result.output
    assert case.id not in {r.case_id for r in subscriber_rows(world.store)}
    result = CliRunner().invoke(app, args[:-2])  # the node key beside the database: imported and sealed
    assert result.exit_code == 0 and f"identified {doe}" in result.output, result.output
    history = workflow_history(world.store, store_trust(world.store, None))
    assert len(history.of(doe, "identified")) == 2
    assert status_problem(history, case_status.get_case(world.store, doe)) is None


def test_an_identity_stored_without_a_sealed_identification_gets_no_letter(tmp_path: Path) -> None:
    """The writer holds the identity key but not the node key: he stores an encrypted identity for a case
    and moves it to ``identified`` through the store (no ``identified`` event is sealed; the store alone
    imports as he would). No draft, preview or approval follows; the case is named by its status and by
    its identity, each telling the operator to import the disclosure again; ``letters draft`` says so in
    one line, exit status 1, and stores no letter. ``subscribers import`` of the ISP's disclosure then
    re-binds and seals the identity, and the letter is drafted."""
    world = build_world(tmp_path, sealed_identities=False)
    try:
        doe = world.dois[2]
        case = case_status.get_case(world.store, doe)
        history = workflow_history(world.store, store_trust(world.store, None))
        assert not history.of(doe, "identified")
        why = status_problem(history, case)
        assert why == (
            f"{doe}: refused: status altered (it says 'identified', but no identification of it is sealed "
            "by a trusted node key: re-import the disclosure with `subscribers import`)"
        )
        assert identity_problem(history, case, stored_identity(world.store, case.id)) == (
            f"{doe}: refused: identity not sealed: re-import the disclosure with `subscribers import`"
        )
        with pytest.raises(UnprovenCase, match=f"{doe}: refused: status altered"):
            draft_letters(world.store, SETTINGS, [doe], "counsel", T0 + DAY)
        with pytest.raises(UnprovenCase, match=f"{doe}: refused: status altered"):
            preview_letter(world.store, doe)
        for status in ("drafted", "approved", "sent", "paid", "escalated"):
            tamper_file(world.db, f"UPDATE legal_case SET status = '{status}' WHERE id = {case.id}")
            why = status_problem(history, case_status.get_case(world.store, doe))
            assert why is not None and f"it says {status!r}, but no identification" in why, why
        tamper_file(world.db, f"UPDATE legal_case SET status = 'identified' WHERE id = {case.id}")
        settings = str(L.TEMPLATES / "settings.example.toml")
        args = ["letters", "draft", "--case", doe, "--settings", settings, "--actor", "c"]
        args += ["--db", str(world.db)]
        result = CliRunner().invoke(app, args)
        errors = [line for line in result.output.splitlines() if line.startswith("error: ")]
        assert result.exit_code == 1 and len(errors) == 1, result.output
        assert errors[0].startswith(f"error: {doe}: refused: status altered"), result.output
        assert letter_store.list_letters(world.store, case_id=case.id) == []
        # importing the ISP's disclosure again (with the node key) re-binds and seals it: drafted then
        first = T0 - 10 * DAY + 3 * HOUR
        row = DisclosureRow(1, case.ip, first - HOUR, first + 4 * HOUR, IDENTITIES[case.ip])
        report = record_disclosure(world.store, world.key, [row], "11" * 32, isp=None, actor="clerk",
                                   partial=False, now_us=T0 + DAY)  # fmt: skip
        assert report.imported == ((1, doe),), report.problems
        history = workflow_history(world.store, store_trust(world.store, None))
        assert status_problem(history, case_status.get_case(world.store, doe)) is None
        assert draft_letters(world.store, SETTINGS, [doe], "counsel", T0 + 2 * DAY)
    finally:
        world.store.close()


def test_a_planted_identity_of_a_requested_case_is_identified_by_the_re_import(tmp_path: Path) -> None:
    """The writer (identity key, no node key) stores an identity for a case that still awaits its
    disclosure (``requested``) and leaves the status alone. ``subscribers import`` of the ISP's
    disclosure re-binds and seals it AND moves the case on to ``identified``, as a first import does
    (the status move is in the case's history): its status is then the one its sealed identification
    allows and its letter is drafted."""
    world = build_world(tmp_path, sealed_identities=False)
    try:
        doe = world.dois[2]
        case = case_status.get_case(world.store, doe)
        tamper_file(world.db, f"UPDATE legal_case SET status = 'requested' WHERE id = {case.id}")
        history = workflow_history(world.store, store_trust(world.store, None))
        assert status_problem(history, case_status.get_case(world.store, doe)) is None  # nothing sealed
        disclosure = tmp_path / "disclosure.csv"
        start, end = case.first_hit_us - HOUR, case.last_hit_us + HOUR
        disclosure.write_text(
            "ip,start,end,name,postal_address,email\n"
            f"{case.ip},{us_to_iso(start)},{us_to_iso(end)},Casey Sample,3 Third Street,casey@example.test\n",
            encoding="utf-8",
        )
        args = ["subscribers", "import", str(disclosure), "--identity-key", str(world.key_file),
                "--actor", "clerk", "--db", str(world.db)]  # fmt: skip
        result = CliRunner().invoke(app, args)
        assert result.exit_code == 0 and f"identified {doe}" in result.output, result.output
        assert case_status.get_case(world.store, doe).status == "identified"
        assert [e.note for e in case_status.case_events(world.store, doe)][-1].startswith("identify: ")
        history = workflow_history(world.store, store_trust(world.store, None))
        assert len(history.of(doe, "identified")) == 1
        assert status_problem(history, case_status.get_case(world.store, doe)) is None
        assert identity_problem(history, case, stored_identity(world.store, case.id)) is None
        assert draft_letters(world.store, SETTINGS, [doe], "counsel", T0 + 2 * DAY)
    finally:
        world.store.close()


@pytest.mark.parametrize("status", ["candidate", "withdrawn"])
def test_a_planted_identity_of_a_case_awaiting_no_disclosure_is_not_re_bound(
    tmp_path: Path, status: str
) -> None:
    """A planted identity of a case that awaits no disclosure (a ``candidate``, or one a build withdrew)
    is refused by the re-import as a first import would refuse the case ("no case awaiting disclosure"):
    no identification is sealed for it, so its status stays one its sealed history allows."""
    world = build_world(tmp_path, sealed_identities=False)
    try:
        doe = world.dois[2]
        case = case_status.get_case(world.store, doe)
        tamper_file(world.db, f"UPDATE legal_case SET status = '{status}' WHERE id = {case.id}")
        first = T0 - 10 * DAY + 3 * HOUR
        row = DisclosureRow(1, case.ip, first - HOUR, first + 4 * HOUR, IDENTITIES[case.ip])
        report = record_disclosure(world.store, world.key, [row], "11" * 32, isp=None, actor="clerk",
                                   partial=False, now_us=T0 + DAY)  # fmt: skip
        assert report.imported == () and report.problems == (
            (1, f"no case awaiting disclosure ({doe} is {status})"),
        ), report
        history = workflow_history(world.store, store_trust(world.store, None))
        assert not history.of(doe, "identified")
        assert status_problem(history, case_status.get_case(world.store, doe)) is None
    finally:
        world.store.close()
