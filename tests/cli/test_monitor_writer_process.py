"""`swarmscope monitor --writer-process`: the run's evidence is sealed by the writer process, as without it.

The real CLI runs for 2 s on a torrent whose tracker is dead (loopback port 9): the run's sealed
configuration (``RunStarted``) and its end go through the writer process, which seals them with the node
key and keeps the chain-head witness beside the key file; afterwards ``verify --db`` accepts the database
and the witness names the chain's head. The monitor and its writer both end (exit status 0).
"""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

from swarmscope.store.database import open_store
from swarmscope.store.ledger.entries import load_ledger
from swarmscope.store.ledger.head_witness import read_witness
from swarmscope.store.ledger.verify import verify_ledger
from tests.cli.test_monitor_cli import assert_cli_verifies, tiny_torrent


def test_the_writer_process_seals_the_run_and_keeps_the_witness(tmp_path: Path, netns: bool) -> None:
    torrent = tiny_torrent(tmp_path / "t.torrent", "http://127.0.0.1:9/announce")
    db = tmp_path / "e.db"
    args = ["monitor", str(torrent), "--db", str(db), "--duration", "2", "--no-live", "--no-dht"]
    proc = subprocess.run(
        [sys.executable, "-m", "swarmscope.cli", *args, "--writer-process"],
        capture_output=True,
        text=True,
        timeout=120,
    )
    assert proc.returncode == 0, proc.stderr
    assert "Traceback" not in proc.stderr
    store = open_store(str(db), create=False)
    try:
        kinds = [kind for _entry, kind, _canonical in load_ledger(store)]
        assert kinds[0] == "run_started"
        assert verify_ledger(store).ok
        head = list(load_ledger(store))[-1][0]
    finally:
        store.close()
    found = read_witness(tmp_path / "e.db.node-key.pem.head")
    assert found is not None
    assert (found[0].last_index, found[0].head_hash) == (head.index, head.entry_hash)
    assert_cli_verifies(db)
