"""A second sealed observation carrying one capture (re-sealed by the node itself: a writer bug, or whoever
holds the key) is a duplicate hit: ``cases build`` counts it once and ``verify DIR`` refuses a bundle
disclosing both. ``export`` must then not exit 0 with a bundle that fails ``verify`` (leave the duplicate
out and say so, or refuse in one line), and ``verify --db``, which checks the ledger "as export does",
must not say VERIFIED with nothing listed.
"""

from __future__ import annotations

import json
from pathlib import Path

import pytest
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey
from typer.testing import CliRunner

from swarmscope.cli import register_commands
from swarmscope.cli.app import app
from swarmscope.cli.verify import run_verify
from swarmscope.evidence.records import Observation
from swarmscope.evidence.seal import private_key_pem
from swarmscope.store.database import open_store
from swarmscope.store.ledger.node_key import default_key_path
from tests.cli.test_export import WORLD, populate, quiet
from tests.evidence.test_bundle import T0

register_commands()

KEY = Ed25519PrivateKey.from_private_bytes(bytes(range(9, 41)))


@pytest.fixture
def db(tmp_path: Path) -> Path:
    """The sealed world of tests/cli/test_export.py plus, in a later run and batch sealed by the same
    node key, a second copy of its first captured observation."""
    path = tmp_path / "evidence.db"
    key_file = Path(default_key_path(str(path)))
    key_file.write_bytes(private_key_pem(KEY))
    key_file.chmod(0o600)
    populate(path, WORLD, KEY)
    first = next(r for r in WORLD.records if isinstance(r, Observation) and r.capture_sha256 is not None)
    with open_store(str(path), node_key=KEY, now_us=T0 + 300_000_000) as store:
        run = store.start_run({"clock_threshold_ms": 100.0}, "0.1.0", T0 + 300_000_000)
        store.commit_evidence(run, records=[first], sealed_at_us=T0 + 300_000_000)
    return path


def test_export_of_a_sealed_duplicate_capture_never_writes_a_bundle_that_fails_verify(
    db: Path, tmp_path: Path
) -> None:
    out = tmp_path / "bundle"
    result = CliRunner().invoke(app, ["export", "--db", str(db), "--out", str(out)])
    if result.exit_code == 0:
        assert run_verify(out, console=quiet()) == 0, "export exited 0 but its bundle fails verify"
    else:
        assert result.exit_code == 1 and "duplicate" in result.stderr, result.stderr
    checked = CliRunner().invoke(app, ["verify", "--db", str(db)])
    assert "duplicate" in checked.stdout + checked.stderr, checked.stdout


def test_export_leaves_the_later_copy_out_and_verify_db_lists_it(db: Path, tmp_path: Path) -> None:
    """The later copy is the duplicate (the first in chain order is the hit, as ``cases build`` counts it):
    export leaves it out with one ``left out:`` line naming its chain index, the bundle verifies, and
    ``verify --db`` (text and JSON) lists it while the ledger itself still holds."""
    out = tmp_path / "bundle"
    result = CliRunner().invoke(app, ["export", "--db", str(db), "--out", str(out)])
    assert result.exit_code == 0, result.output
    (line,) = [line for line in result.stderr.splitlines() if "duplicate" in line]
    assert line.startswith("left out: 1 observations carrying the capture of an earlier one"), line
    assert run_verify(out, console=quiet()) == 0
    checked = CliRunner().invoke(app, ["verify", "--db", str(db)])
    (listed,) = [line for line in checked.stdout.splitlines() if line.startswith("duplicate:")]
    assert "carries the capture of index" in listed and "export leaves it out" in listed
    assert checked.exit_code == 0 and "VERIFIED: the ledger holds" in checked.stdout
    as_json = json.loads(CliRunner().invoke(app, ["verify", "--db", str(db), "--json"]).stdout)
    ((found),) = as_json["duplicate_captures"]
    assert f"(of {found['first']})" in line and f"index {found['index']}" in listed
