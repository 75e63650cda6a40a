"""Someone who can write the database file and the directory beside it (the default layout: the witness
sits beside the SQLite file) but lacks the node key truncates a withdrawal and, instead of deleting the
chain-head witness, (a) puts back an older copy of it, or (b) swaps in a witness signed by a key of their
own whose node and chain they add to the database. (b) is refused: a witness must be the key file's
(README "Sealed ledger", chain-head witness). (a) cannot be told from an honest state by anything kept
beside the database (README, the witness's limit): the head counsel recorded outside it
(``verify --db --expect-head FINGERPRINT:INDEX:HASH``) catches it. SQLite, the letters world."""

from __future__ import annotations

import shutil
from pathlib import Path

from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey
from typer.testing import CliRunner

import swarmscope.cli.cases
import swarmscope.cli.letters
import swarmscope.cli.verify  # noqa: F401  (registers the commands)
from swarmscope.cases import letters as L
from swarmscope.cli.app import app
from swarmscope.evidence.records import WorkflowEvent
from swarmscope.evidence.seal import key_fingerprint, public_key_raw
from swarmscope.store.database import open_store
from swarmscope.store.ledger import commit as ledger
from swarmscope.store.ledger.head_witness import key_file_fingerprint, witness_path, write_witness
from swarmscope.store.ledger.node_key import default_key_path
from swarmscope.store.legal import case_status
from tests.cli.letter_world import T0, World
from tests.cli.test_witness_deleted import _truncate_newest

SETTINGS = str(L.TEMPLATES / "settings.example.toml")


def _withdraw(runner: CliRunner, db: str, doe: str) -> None:
    done = runner.invoke(app, ["cases", "event", doe, "withdraw", "--actor", "counsel", "--db", db])
    assert done.exit_code == 0, done.output


def _draft(runner: CliRunner, db: str, doe: str):  # type: ignore[no-untyped-def]
    return runner.invoke(app, ["letters", "draft", "--case", doe, "--settings", SETTINGS, "--db", db])


def _recorded_head(runner: CliRunner, db: str) -> str:
    """``FINGERPRINT:INDEX:HASH`` of the one node's ``checked to:`` line of ``verify --db`` (what counsel
    writes down)."""
    verified = runner.invoke(app, ["verify", "--db", db])
    assert verified.exit_code == 0, verified.output
    (line,) = [line for line in verified.output.splitlines() if line.startswith("checked to:")]
    words = line.split()
    return words[words.index("--expect-head") + 1].rstrip(")")


def test_an_older_witness_copy_is_caught_by_the_head_recorded_outside(world: World, tmp_path: Path) -> None:
    doe, db, runner = world.dois[0], str(world.db), CliRunner()
    _withdraw(runner, db, world.dois[1])
    witness = witness_path(default_key_path(db))
    saved = tmp_path / "old.head"
    shutil.copy(witness, saved)  # the attacker keeps a copy while it is current
    _withdraw(runner, db, doe)
    recorded = _recorded_head(runner, db)  # counsel writes the head down outside the database
    _truncate_newest(world, case_status.get_case(world.store, doe).id)
    shutil.copy(saved, witness)
    alone = runner.invoke(app, ["verify", "--db", db])
    assert alone.exit_code == 0, alone.output  # the documented limit: nothing beside the database tells
    anchored = runner.invoke(app, ["verify", "--db", db, "--expect-head", recorded])
    assert anchored.exit_code == 1, anchored.output
    (problem,) = [line for line in anchored.output.splitlines() if "recorded head" in line]
    assert "its tail was truncated" in problem and recorded in problem
    assert "NOT VERIFIED" in anchored.output


def test_the_recorded_head_holds_on_an_honest_chain_that_grew(world: World) -> None:
    db, runner = str(world.db), CliRunner()
    _withdraw(runner, db, world.dois[1])
    recorded = _recorded_head(runner, db)
    _withdraw(runner, db, world.dois[0])
    node, index, digest = recorded.split(":")
    held = runner.invoke(app, ["verify", "--db", db, "--expect-head", recorded])
    assert held.exit_code == 0, held.output
    other = f"{node}:{index}:{'0' * 64}"
    rewritten = runner.invoke(app, ["verify", "--db", db, "--expect-head", other])
    assert rewritten.exit_code == 1 and "is not the recorded head" in rewritten.output, rewritten.output
    far = int(index) + 10**6
    beyond = runner.invoke(app, ["verify", "--db", db, "--expect-head", f"{node}:{far}:{digest}"])
    assert beyond.exit_code == 1 and f"does not reach index {far}" in beyond.output, beyond.output
    for bad in ("12", f"x:{digest}", f"{node}:{2**63}:{digest}", f"{node}:1:{digest[:-1]}", f"1:{digest}"):
        refused = runner.invoke(app, ["verify", "--db", db, "--expect-head", bad])
        assert refused.exit_code == 2 and "--expect-head" in refused.output, (bad, refused.output)
        assert len(refused.output.strip().splitlines()) == 1, refused.output


def test_a_witness_of_an_attackers_own_key_hides_a_truncated_withdrawal(world: World) -> None:
    doe, db, runner = world.dois[0], str(world.db), CliRunner()
    _withdraw(runner, db, world.dois[1])
    _withdraw(runner, db, doe)
    witness = witness_path(default_key_path(db))
    _truncate_newest(world, case_status.get_case(world.store, doe).id)
    mine = Ed25519PrivateKey.generate()
    store = open_store(db, node_key=mine, now_us=T0)
    try:
        assert store.node is not None
        with store._write(immediate=True) as conn:
            event = WorkflowEvent("note:1", "note", T0, b"\0" * 32)
            sealed, _ = ledger.commit(conn, store.node, 0, [event], ledger.Commit({}, {}, (), T0, None))
        write_witness(witness, mine, sealed.batch.last_index, sealed.batch.head_hash)
    finally:
        store.close()
    drafted = _draft(runner, db, doe)
    assert drafted.exit_code == 1, drafted.output
    owner = key_file_fingerprint(default_key_path(db))
    assert owner is not None and "is foreign" in drafted.output, drafted.output
    assert key_fingerprint(public_key_raw(mine)) in drafted.output and owner in drafted.output  # both named
    verified = runner.invoke(app, ["verify", "--db", db])
    assert verified.exit_code == 1 and "is foreign" in verified.output, verified.output
