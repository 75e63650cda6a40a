"""Child process for the SIGKILL crash test: commit sealed batches in a loop, print each head after commit.

Usage: python -m tests.store.commit_loop DB_PATH MAX_BATCHES
Prints ``<last_index> <head_hash hex>`` (flushed) only after ``commit_evidence`` has returned.
"""

from __future__ import annotations

import hashlib
import sys
import time

from swarmscope.store.database import open_store
from swarmscope.store.ledger.node_key import default_key_path, load_or_create_node_key
from tests.store.factories import T0, add_swarms, full_observation


def main(path: str, max_batches: int) -> None:
    store = open_store(path, node_key=load_or_create_node_key(default_key_path(path)))
    add_swarms(store)
    run = store.start_run({"crash": True}, "test", T0)
    for n in range(max_batches):
        captures = {}
        records = []
        for i in range(50):
            data = f"capture {time.monotonic_ns()} {n} {i} ".encode() * 20
            digest = hashlib.sha256(data).digest()
            captures[digest] = data
            records.append(full_observation(port=i + 1, capture_sha256=digest))
        sealed = store.commit_evidence(run, records=records, captures=captures, sealed_at_us=T0 + n)
        assert sealed is not None
        print(sealed.batch.last_index, sealed.batch.head_hash.hex(), flush=True)
    store.close()


if __name__ == "__main__":
    main(sys.argv[1], int(sys.argv[2]))
