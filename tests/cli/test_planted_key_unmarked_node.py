"""The node key kept apart from the database; someone who can write the database and the directory beside
it (not the node key) plants a key at the default path and seals with it forged verified hits from
127.0.0.66, an ISP, an attribution, a work link and the case's build. ``cases build --db DB`` without
``--node-key`` refuses that store because the honest node's chain says a witness was kept
(:func:`swarmscope.cli.node_identity.refuse_untrusted_kept`). That mark is read by a byte search in each
batch's bytes (:func:`swarmscope.store.ledger.head_witness.kept_heads`), never checked against the node's
signature: edited out of the honest node's batches (whose seals no longer hold, but that node is not
trusted here anyway), the refusal is gone, the planted key is trusted alone and ``notices`` accuses an
address that never served a byte (README "Sealed ledger": only the signed mark counts).
"""

from __future__ import annotations

import sqlite3
from pathlib import Path

from tests.cli.test_planted_default_key_trust import _forge
from tests.cli.test_planted_key_witness_copies import _forged_case
from tests.cli.test_verify_db_key_apart import _node, _sealed_apart, app
from tests.tampering import tamper_file


def _unmark(db: str) -> None:
    """Blur the ``head_witness`` mark in every batch's bytes (triggers dropped): no key needed."""
    raw = sqlite3.connect(db)
    for (name,) in raw.execute("SELECT name FROM sqlite_master WHERE type = 'trigger'").fetchall():
        raw.execute(f'DROP TRIGGER "{name}"')
    for batch_id, data in raw.execute("SELECT id, batch_bytes FROM ledger_batch").fetchall():
        blurred = bytes(data).replace(b"head_witness", b"head_witnesX")
        raw.execute("UPDATE ledger_batch SET batch_bytes = ? WHERE id = ?", (blurred, batch_id))
    raw.commit()
    raw.close()


def test_an_unsigned_mark_edit_does_not_let_a_planted_key_be_trusted(tmp_path: Path) -> None:
    db, runner = _sealed_apart(tmp_path)
    _forge(db)
    _forged_case(db)
    _unmark(db)
    built = runner.invoke(app, ["cases", "build", "--db", db])
    out = tmp_path / "notices"
    args = ["--complainant-entity", "Forger Ltd", "--complainant-email", "rights@example.org"]
    runner.invoke(app, ["notices", "--db", db, "--out", str(out), *args])
    assert not (out / "SWS-DOE-000001.xml").exists(), built.output
    assert built.exit_code == 1 and _node(tmp_path) in built.output, built.output


def test_the_honest_nodes_entries_moved_to_no_key_row_are_still_named(tmp_path: Path) -> None:
    """The honest node's entries and batches filed under a node id no key row holds: the reader trusting
    the planted key beside the database is refused all the same, naming that id; no notice is written."""
    db, runner = _sealed_apart(tmp_path)
    _forge(db)
    _forged_case(db)
    tamper_file(
        Path(db),
        "UPDATE ledger_entry SET node_id = 999 WHERE node_id = 1",
        "UPDATE ledger_batch SET node_id = 999 WHERE node_id = 1",
    )
    built = runner.invoke(app, ["cases", "build", "--db", db])
    assert built.exit_code == 1 and "id 999 (entries under no node key row)" in built.output, built.output
    out = tmp_path / "n"
    args = ["notices", "--db", db, "--out", str(out), "--complainant-entity", "F"]
    notices = runner.invoke(app, [*args, "--complainant-email", "a@example.org"])
    assert notices.exit_code == 1 and not list(out.glob("*")), notices.output
