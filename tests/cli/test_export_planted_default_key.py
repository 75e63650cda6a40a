"""The node key kept apart from the database; someone who can write the database and the directory beside it
(not the node key) plants a key at the default path and seals forged verified hits from 127.0.0.66 with it.
README "Sealed ledger": a reader run without ``--node-key``/``--trust-key`` "refuses the database when
another node holds entries or batches in it ... and is not trusted: the accusing commands, ``export``, ...
in one line naming that node". ``export --out B --db DB`` does not: it signs a bundle of the forged hits
with the planted key, exits 0 and only notes the honest node as "left out" (``cli/export.py`` calls
``echo_witness_notes`` without ``trusted``, so ``check_witness`` never reaches ``refuse_untrusted_kept``).
"""

from __future__ import annotations

from pathlib import Path

from tests.cli.test_planted_default_key_trust import _forge
from tests.cli.test_verify_db_key_apart import _node, _sealed_apart, app


def test_export_on_a_planted_default_key_is_refused(tmp_path: Path) -> None:
    db, runner = _sealed_apart(tmp_path)
    _forge(db)
    out = tmp_path / "bundle"
    done = runner.invoke(app, ["export", "--out", str(out), "--db", db])
    assert done.exit_code == 1 and _node(tmp_path) in " ".join(done.output.split()), done.output
    assert not (out / "manifest.json").exists()
