"""A chain-head witness file of deeply nested JSON (4,000 ``[`` fit its 4 KiB read) is malformed: one line
naming the file and exit 1, never a RecursionError traceback (README "Sealed ledger", chain-head witness;
``json`` recurses once per nesting level)."""

from __future__ import annotations

from pathlib import Path

import pytest
from typer.testing import CliRunner

import swarmscope.cli.cases
import swarmscope.cli.verify  # noqa: F401  (registers the commands)
from swarmscope.cli.app import app
from swarmscope.store.ledger.head_witness import witness_path, write_witness
from swarmscope.store.ledger.node_key import default_key_path, load_or_create_node_key
from tests.cli.test_anchor_other_node import _seal


@pytest.mark.parametrize("command", [["verify"], ["cases", "build"]])
def test_a_deeply_nested_witness_is_refused_in_one_line(tmp_path: Path, command: list[str]) -> None:
    db = str(tmp_path / "e.db")
    key_path = default_key_path(db)
    key = load_or_create_node_key(key_path, make_dir=True)
    batch = _seal(db, key, 0)
    witness = witness_path(key_path)
    write_witness(witness, key, batch.last_index, batch.head_hash)
    witness.write_text("[" * 4000)
    result = CliRunner().invoke(app, [*command, "--db", db])
    assert result.exit_code == 1, result.output
    assert result.exception is None or isinstance(result.exception, SystemExit), repr(result.exception)
    assert "malformed" in result.output and str(witness) in result.output, result.output
