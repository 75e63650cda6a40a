"""Child process for the live ``verify --db`` test: a monitor-like writer committing small sealed batches.

Usage: python -m tests.cli.live_writer DB_URL KEY_FILE STOP_FILE
Prints ``<last_index> <head_hash hex>`` (flushed) after each ``commit_evidence`` returned; stops cleanly
(between two commits) once STOP_FILE exists, then prints ``done``.
"""

from __future__ import annotations

import sys
from pathlib import Path

from swarmscope.store.database import open_store
from swarmscope.store.ledger.node_key import load_or_create_node_key
from tests.store.factories import T0, observation, sighting


def main(url: str, key_file: str, stop_file: str) -> None:
    store = open_store(url, node_key=load_or_create_node_key(key_file), now_us=T0)
    try:
        run = store.start_run({"live": True}, "test", T0)
        n = 0
        while not Path(stop_file).exists():
            records = [sighting(port=1 + (n * 3 + i) % 60000) for i in range(3)]
            records.append(observation(port=1 + n % 60000))
            sealed = store.commit_evidence(run, records=records, sealed_at_us=T0 + n)
            assert sealed is not None
            print(sealed.batch.last_index, sealed.batch.head_hash.hex(), flush=True)
            n += 1
    finally:
        store.close()
    print("done", flush=True)


if __name__ == "__main__":
    main(sys.argv[1], sys.argv[2], sys.argv[3])
