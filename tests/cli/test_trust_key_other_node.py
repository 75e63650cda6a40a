"""``--trust-key FINGERPRINT`` is the README's own remedy ("With the key kept apart, always tell readers whose
evidence to use (``--node-key KEY`` or ``--trust-key FINGERPRINT``)"). With the honest node trusted that way
(its witness copy named in ``SWARMSCOPE_WITNESS_KEYS``) and another node holding entries (a key planted
beside the database, or simply a second fleet node the reader does not trust), ``cases build`` and
``exhibits`` are refused with "neither the node of the key file beside the database ... nor trusted: say
whose evidence to use with --node-key KEY ... or --trust-key FINGERPRINT", although no key beside the
database was read and the trust was given. ``check_witness`` calls ``refuse_untrusted_kept`` whenever no
``--node-key`` is given, ``--trust-key`` or not (``cli/node_identity.py``). ``--node-key`` with the same
node's key file is accepted and builds.
"""

from __future__ import annotations

from pathlib import Path

import pytest

from tests.cli.test_planted_default_key_trust import _forge
from tests.cli.test_verify_db_key_apart import _key, _node, _sealed_apart, app


def test_an_explicit_trust_key_is_not_refused_for_another_nodes_entries(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    db, runner = _sealed_apart(tmp_path)
    _forge(db)
    monkeypatch.setenv("SWARMSCOPE_WITNESS_KEYS", str(_key(tmp_path)))
    by_key = runner.invoke(app, ["cases", "build", "--db", db, "--node-key", str(_key(tmp_path))])
    assert by_key.exit_code == 0, by_key.output
    by_fingerprint = runner.invoke(app, ["cases", "build", "--db", db, "--trust-key", _node(tmp_path)])
    assert by_fingerprint.exit_code == 0, by_fingerprint.output
    assert "database refused" not in by_fingerprint.output
