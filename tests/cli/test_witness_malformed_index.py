"""A chain-head witness file whose ``last_index`` is JSON ``Infinity`` (written by anyone who can write the
directory beside the database; no key needed), or a huge index signed by a key of the writer's own that
they registered in the database, once ended ``verify --db``, ``cases build`` and every writer in a
traceback (OverflowError); each is one line naming the witness and exit status 1. A corrupt witness says
what to do (move it aside, then ``witness reset``), and the reset then works (README "Sealed ledger",
chain-head witness). SQLite, the letters world."""

from __future__ import annotations

import json

from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey
from typer.testing import CliRunner

from swarmscope.cli import register_commands
from swarmscope.cli.app import app
from swarmscope.store.database import open_store
from swarmscope.store.ledger.head_witness import witness_path, write_witness
from swarmscope.store.ledger.node_key import default_key_path
from tests.cli.letter_world import T0, World

register_commands()


def _commands(world: World) -> list[list[str]]:
    db = str(world.db)
    return [
        ["verify", "--db", db],
        ["cases", "build", "--db", db],
        ["cases", "event", world.dois[2], "withdraw", "--actor", "counsel", "--db", db],
    ]


def _one_line_refusal(world: World) -> None:
    for args in _commands(world):
        result = CliRunner().invoke(app, args)
        assert result.exit_code == 1 and isinstance(result.exception, SystemExit), (args, result.exception)
        assert "chain-head witness" in result.output, (args, result.output)


def test_an_infinite_witness_index_is_one_line(world: World) -> None:
    witness = witness_path(default_key_path(str(world.db)))
    doc = {"fingerprint": "ab", "last_index": float("inf"), "head_hash": "00", "signature": "00"}
    witness.write_text(json.dumps(doc), encoding="utf-8")  # json writes Infinity
    _one_line_refusal(world)


def test_a_huge_signed_witness_index_is_one_line(world: World) -> None:
    mine = Ed25519PrivateKey.generate()
    open_store(str(world.db), node_key=mine, now_us=T0).close()  # the writer registers a key of their own
    witness = witness_path(default_key_path(str(world.db)))
    witness.unlink(missing_ok=True)
    write_witness(witness, mine, 2**70, b"\1" * 32)
    _one_line_refusal(world)


def test_a_corrupt_witness_says_what_to_do_and_reset_follows(world: World) -> None:
    db, runner = str(world.db), CliRunner()
    done = runner.invoke(app, ["cases", "event", world.dois[1], "withdraw", "--actor", "counsel", "--db", db])
    assert done.exit_code == 0, done.output
    witness = witness_path(default_key_path(db))
    witness.write_bytes(b"\x00not a witness")
    verified = runner.invoke(app, ["verify", "--db", db])
    assert verified.exit_code == 1 and "malformed" in verified.output, verified.output
    assert "move it aside" in verified.output and "witness reset" in verified.output
    refused = runner.invoke(app, ["witness", "reset", "--db", db])
    assert refused.exit_code == 1 and "move it aside" in refused.output, refused.output
    witness.rename(witness.with_name(witness.name + ".corrupt"))
    reset = runner.invoke(app, ["witness", "reset", "--db", db])
    assert reset.exit_code == 0, reset.output
    after = runner.invoke(app, ["verify", "--db", db])
    assert after.exit_code == 0 and "re-created at chain head" in after.output, after.output
