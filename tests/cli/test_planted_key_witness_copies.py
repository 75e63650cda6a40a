"""The node key kept apart from the database, and the reader given a copy of its public key and witness in
``SWARMSCOPE_WITNESS_KEYS`` (README "Sealed ledger": copies of other nodes' public key files, each with its
witness). Someone who can write the database and the directory beside it (not the node key) plants a key
at the default path and seals with it forged verified hits from 127.0.0.66, an ISP, an attribution, a work
link and the case's build. Without the copy, ``cases build --db DB`` (no ``--node-key``) is refused, naming
the node left out (:func:`swarmscope.cli.node_identity.refuse_untrusted_kept`); with it, the copy's witness
counts as trust: the planted key alone is trusted, nothing is refused, and ``notices`` writes an ACNS notice
accusing an address that never served a byte.
"""

from __future__ import annotations

import shutil
from pathlib import Path

import pytest
from cryptography.hazmat.primitives import serialization

from swarmscope.cases.candidates import build_cases
from swarmscope.cases.thresholds import ThresholdPolicy
from swarmscope.cli.node_identity import load_node_key
from swarmscope.evidence.seal import key_fingerprint, public_key_raw
from swarmscope.store.database import open_store
from swarmscope.store.ledger.head_witness import witness_path
from swarmscope.store.ledger.node_key import default_key_path, load_or_create_node_key
from swarmscope.store.ledger.proven import EvidenceTrust
from swarmscope.store.legal import cases as sc
from tests.cases.evidence import Place, prove_case_inputs
from tests.cli.letter_world import DAY, INFOHASH, T0
from tests.cli.test_planted_default_key_trust import _forge
from tests.cli.test_verify_db_key_apart import _key, _node, _sealed_apart, app

NOW = T0 + 1_000_000


def _forged_case(db: str) -> None:
    """An ISP, an attribution of 127.0.0.66, a work link and the case's build, sealed with the planted key."""
    planted = load_or_create_node_key(default_key_path(db))
    trust = EvidenceTrust(frozenset({key_fingerprint(public_key_raw(planted))}), NOW)
    with open_store(db, node_key=planted, now_us=T0) as store:
        sc.add_isp(store, "Forged ISP", [64500], "abuse@isp.test", "1 ISP Way", "DE", T0)
        work = sc.add_work(store, "Forger Ltd", "Forged", None, None, T0)
        run_id = store.start_run({}, "0.1.0", T0 - 11 * DAY)
        place = Place("127.0.0.66", T0 - 10 * DAY, 64500, "Berlin", "Berlin")
        prove_case_inputs(store, run_id, [place], work_id=work, infohash=INFOHASH, sealed_at_us=T0 - DAY)
        assert len(build_cases(store, ThresholdPolicy(), NOW, trust=trust).created) == 1


def _copy_public(key: Path, copies: Path) -> Path:
    """A copy of ``key``'s public key file and of its witness, as a fleet reader is given them."""
    copies.mkdir()
    public = load_node_key(key).public_key()
    pem = public.public_bytes(serialization.Encoding.PEM, serialization.PublicFormat.SubjectPublicKeyInfo)
    (copies / "node.pub").write_bytes(pem)
    shutil.copy(witness_path(key), witness_path(copies / "node.pub"))
    return copies / "node.pub"


def test_a_witness_copy_does_not_let_a_planted_key_be_trusted(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    db, runner = _sealed_apart(tmp_path)
    copy = _copy_public(_key(tmp_path), tmp_path / "copies")
    _forge(db)
    _forged_case(db)
    refused = runner.invoke(app, ["cases", "build", "--db", db])
    assert refused.exit_code == 1 and _node(tmp_path) in refused.output, refused.output
    monkeypatch.setenv("SWARMSCOPE_WITNESS_KEYS", str(copy))
    built = runner.invoke(app, ["cases", "build", "--db", db])
    out = tmp_path / "notices"
    args = ["--complainant-entity", "Forger Ltd", "--complainant-email", "rights@example.org"]
    runner.invoke(app, ["notices", "--db", db, "--out", str(out), *args])
    assert not (out / "SWS-DOE-000001.xml").exists(), built.output
    assert built.exit_code == 1 and _node(tmp_path) in built.output, built.output
