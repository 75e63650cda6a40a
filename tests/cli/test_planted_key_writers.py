"""The node key kept apart; someone who can write the database and the directory beside it (not the node key)
plants a key at the default path and seals forged verified hits from 127.0.0.66 and a case on them with it.
README "Sealed ledger": a reader run without ``--node-key``/``--trust-key`` refuses such a database, "the
accusing commands ... in one line naming that node". The accusing commands that also seal a decision
(``letters draft``, ``approve``, ``send``, ``escalations mark``) open the store with
``Gate.open(sign=True)`` (``cli/document_gate.py``), which never calls ``refuse_untrusted_kept``: they trust
the planted key (they would seal with it) and are stopped only by the forged case's status ("case event
'draft' is not allowed in status 'candidate'"), a gate the attacker's own key can move (``letters send``
too opens with ``sign=True``).
"""

from __future__ import annotations

from pathlib import Path

import pytest

from swarmscope.cases.letters import TEMPLATES
from tests.cli.test_planted_default_key_trust import _forge
from tests.cli.test_planted_key_witness_copies import _forged_case
from tests.cli.test_verify_db_key_apart import _node, _sealed_apart, app


@pytest.mark.parametrize(
    "command",
    [
        ["letters", "draft", "--case", "DOE-000001", "--amount", "450.00", "--settings", "SETTINGS"],
        ["escalations", "mark", "DOE-000001"],
    ],
)
def test_sealing_accusing_commands_refuse_a_planted_default_key(tmp_path: Path, command: list[str]) -> None:
    db, runner = _sealed_apart(tmp_path)
    _forge(db)
    _forged_case(db)
    settings = tmp_path / "letters.toml"
    example = (TEMPLATES / "settings.example.toml").read_text()
    settings.write_text(example.replace('payee = "Example Rights Ltd"', 'payee = "Forger Ltd"'))
    args = [str(settings) if part == "SETTINGS" else part for part in command]
    done = runner.invoke(app, [*args, "--db", db])
    assert done.exit_code == 1, done.output
    assert "database refused" in done.output and _node(tmp_path) in " ".join(done.output.split()), done.output
