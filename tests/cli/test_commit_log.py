"""``monitor --commit-log``: one line per committed batch; a path that cannot be appended to is refused."""

from __future__ import annotations

from pathlib import Path

import pytest
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey

from swarmscope.cli.commit_log import CommitLog
from swarmscope.errors import InputError
from swarmscope.evidence.seal import key_fingerprint as fp
from swarmscope.store.database import open_store
from swarmscope.store.ledger.entries import load_batches
from tests.store.factories import SWARM_A, observation


def test_each_committed_batch_is_one_line_naming_its_entries(tmp_path: Path) -> None:
    log = tmp_path / "commits.log"
    log.write_text("0 0 00 earlier-run\n", encoding="ascii")  # appended to, never truncated
    with open_store(str(tmp_path / "s.db"), node_key=Ed25519PrivateKey.generate()) as store:
        run_id = store.start_run({}, "0.1.0", 1)
        store.add_swarm(SWARM_A, SWARM_A, None, "a", 4, 16384, 65536, None, None, 1)
        ack = CommitLog.open(str(log))
        for first_port in (7000, 7100):
            records = [observation(port=first_port + i) for i in range(3)]
            sealed = store.commit_evidence(run_id, records=records, sealed_at_us=first_port)
            assert sealed is not None
            ack(sealed)
        ack.close()
        ack.close()
        stored = [b.sealed for b in load_batches(store)]
    lines = log.read_text(encoding="ascii").splitlines()
    assert lines[0] == "0 0 00 earlier-run"
    expected = [
        (s.batch.first_index, s.batch.last_index, s.batch.head_hash.hex(), fp(s.public_key_bytes))
        for s in stored
    ]
    assert lines[1:] == [" ".join(str(field) for field in fields) for fields in expected]
    assert [line.split()[:2] for line in lines[1:]] == [["0", "2"], ["3", "5"]]


def test_a_log_in_a_missing_folder_is_refused(tmp_path: Path) -> None:
    with pytest.raises(InputError, match=r"^--commit-log .*/missing/commits.log: cannot append to it: "):
        CommitLog.open(str(tmp_path / "missing" / "commits.log"))
    CommitLog.open(None)(None)  # type: ignore[arg-type]  # no log: acknowledging does nothing
