"""A chain-head witness path that is a FIFO (someone who can write the key's directory) must be refused as
unreadable at once, not block every reader and writer forever (README "Sealed ledger", chain-head
witness; ``key_file_fingerprint`` already reads only regular files)."""

from __future__ import annotations

import contextlib
import os
import threading
from pathlib import Path

from swarmscope.store.ledger.head_witness import WitnessError, read_witness


def test_a_fifo_witness_is_refused_without_blocking(tmp_path: Path) -> None:
    fifo = tmp_path / "e.db.node-key.pem.head"
    os.mkfifo(fifo)
    outcome: list[object] = []

    def read() -> None:
        try:
            outcome.append(read_witness(fifo))
        except WitnessError as exc:
            outcome.append(exc)

    reader = threading.Thread(target=read, daemon=True)
    reader.start()
    reader.join(timeout=3)
    blocked = reader.is_alive()
    if blocked:  # release the reader: a writer end opened and closed at once gives it end of file
        with contextlib.suppress(OSError):
            os.close(os.open(fifo, os.O_WRONLY | os.O_NONBLOCK))
        reader.join(timeout=3)
    assert not blocked, "read_witness blocked on a FIFO"
    assert outcome and isinstance(outcome[0], WitnessError), outcome
