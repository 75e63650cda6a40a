"""The chain-head witness beside the node key file: someone who can write the database file but lacks
the node key deletes the newest sealed batch (a payment's), its entry, event and row, and the shorter
chain still verifies on its own; the witness (``<key file>.head``, signed with the node key) shows its
tail is gone, so ``verify --db``, ``escalations`` and ``escalations mark`` refuse the database in one
line. A database sealed before witnesses existed gets one on its next seal, with one warning. SQLite (the
letters world)."""

from __future__ import annotations

import json
from pathlib import Path

from typer.testing import CliRunner

import swarmscope.cli.escalations
import swarmscope.cli.letters
import swarmscope.cli.payments
import swarmscope.cli.verify  # noqa: F401  (registers the commands)
from swarmscope.cli.app import app
from swarmscope.store.ledger.head_witness import read_witness, witness_path
from swarmscope.store.ledger.node_key import default_key_path, export_public_key, open_node_key
from swarmscope.store.legal import case_status
from swarmscope.store.legal import letters as letter_store
from swarmscope.testbed.smtp import SmtpServer
from tests.cli.letter_world import HOUR, T0, World, draft_approve, send
from tests.tampering import truncate_last_payment


def _pay(world: World, doe: str, amount: str = "450.00") -> tuple[int, str]:
    case = case_status.get_case(world.store, doe)
    reference = letter_store.list_letters(world.store, case_id=case.id)[0].payment_reference
    args = ["payments", "record", doe, "--amount", amount, "--reference", reference, "--db", str(world.db)]
    result = CliRunner().invoke(app, args)
    assert result.exit_code == 0, result.output
    return case.id, result.stderr


def test_a_truncated_tail_is_refused_by_verify_and_the_litigation_commands(
    world: World, smtp: SmtpServer, tmp_path: Path
) -> None:
    doe = world.dois[1]
    draft_approve(world, doe)
    send(world, doe, smtp, tmp_path, T0 + HOUR)
    witness = witness_path(default_key_path(str(world.db)))
    assert not witness.exists()  # the world's seals went through the API, not a command
    case_id, warned = _pay(world, doe, "100.00")
    assert f"no chain-head witness {witness} yet" in warned and warned.count("\n") == 1
    found = read_witness(witness)
    assert found is not None
    runner, db = CliRunner(), str(world.db)
    assert runner.invoke(app, ["verify", "--db", db]).exit_code == 0
    assert _pay(world, doe, "350.00")[1] == ""  # a later seal finds the witness: no warning
    assert case_status.get_case(world.store, doe).status == "paid"
    truncate_last_payment(world.db, case_id)
    result = runner.invoke(app, ["verify", "--db", db])
    assert result.exit_code == 1 and "NOT VERIFIED" in result.stdout, result.output
    assert "chain-head witness" in result.stdout and "its tail was truncated" in result.stdout
    for args in (["escalations"], ["escalations", "mark", doe]):
        result = runner.invoke(app, [*args, "--actor", "counsel", "--db", db])
        assert result.exit_code == 1 and result.stdout == "", result.output
        assert result.stderr.count("\n") == 1 and "its chain lacks the witnessed head" in result.stderr
        assert f"chain-head witness {witness}" in result.stderr
    assert case_status.get_case(world.store, doe).status == "sent"


def test_a_witness_edited_without_the_key_is_refused(world: World, smtp: SmtpServer, tmp_path: Path) -> None:
    """A witness moved back to an older head (to hide a truncation) no longer carries the node's
    signature: the litigation list refuses the database in one line."""
    doe = world.dois[1]
    draft_approve(world, doe)
    send(world, doe, smtp, tmp_path, T0 + HOUR)
    _pay(world, doe)
    witness = witness_path(default_key_path(str(world.db)))
    found = read_witness(witness)
    assert found is not None
    text = witness.read_text()
    witness.write_text(text.replace(f'"last_index": {found[0].last_index}', '"last_index": 1'))
    result = CliRunner().invoke(app, ["escalations", "--actor", "counsel", "--db", str(world.db)])
    assert result.exit_code == 1 and result.stderr.count("\n") == 1, result.output
    assert f"chain-head witness {witness}: its signature does not hold" in result.stderr


def test_a_public_key_file_still_finds_the_witness_beside_the_database(
    world: World, smtp: SmtpServer, tmp_path: Path
) -> None:
    """``--node-key PUBLIC.pem`` (accepted by readers) has no witness beside it: the one beside the
    default key path is checked too, so the truncated tail is refused, not passed unnoticed."""
    doe = world.dois[1]
    draft_approve(world, doe)
    send(world, doe, smtp, tmp_path, T0 + HOUR)
    case_id, _ = _pay(world, doe)
    public = tmp_path / "node-public.pem"
    export_public_key(open_node_key(default_key_path(str(world.db))).key, public)
    truncate_last_payment(world.db, case_id)
    result = CliRunner().invoke(
        app, ["escalations", "--actor", "counsel", "--db", str(world.db), "--node-key", str(public)]
    )
    assert result.exit_code == 1 and result.stdout == "", result.output
    assert "its chain lacks the witnessed head" in result.stderr


def test_no_witness_at_the_key_path_is_said_never_silent(
    world: World, smtp: SmtpServer, tmp_path: Path
) -> None:
    """The key file and its witness moved away: ``verify --db`` and the litigation list cannot check the
    tail; each says so in one line naming where it looked."""
    doe = world.dois[1]
    draft_approve(world, doe)
    send(world, doe, smtp, tmp_path, T0 + HOUR)
    case_id, _ = _pay(world, doe)
    key_path = default_key_path(str(world.db))
    moved = tmp_path / "elsewhere"
    moved.mkdir()
    for path in (key_path, witness_path(key_path)):
        path.rename(moved / path.name)
    truncate_last_payment(world.db, case_id)
    line = f"tail not checked: no chain-head witness at {witness_path(key_path)}"
    runner, db = CliRunner(), str(world.db)
    result = runner.invoke(app, ["verify", "--db", db])
    assert f"note: {line}" in result.stdout, result.output
    result = runner.invoke(app, ["verify", "--db", db, "--json"])
    assert json.loads(result.stdout)["notes"] == [line]
    public = tmp_path / "node-public.pem"
    export_public_key(open_node_key(moved / key_path.name).key, public)
    result = runner.invoke(app, ["escalations", "--actor", "counsel", "--db", db, "--node-key", str(public)])
    assert f"note: tail not checked: no chain-head witness at {witness_path(public)}" in result.stderr
    assert result.stderr.count("tail not checked") == 1, result.output
