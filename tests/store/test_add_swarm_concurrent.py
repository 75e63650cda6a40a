"""Adding a swarm while the ledger writer commits (a monitor starting many swarms at once, or a fleet node
taking a swarm mid-run): SQLite WAL cannot upgrade a read transaction to a write once another connection
committed after its read (SQLITE_BUSY_SNAPSHOT, "database is locked" at once, busy_timeout does not
wait), so the read-then-insert of a swarm row must take the write lock at BEGIN."""

from __future__ import annotations

import threading
from pathlib import Path
from typing import Any

import pytest
import sqlalchemy as sa

from swarmscope.store.database import open_store
from swarmscope.store.ledger import writer
from swarmscope.store.ledger.schema import swarm

SWARM = "ab" * 20


def test_a_swarm_added_while_another_connection_commits_is_stored(
    db_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    store = open_store(str(db_path))
    other = open_store(str(db_path))  # the ledger writer's connection, as in a running monitor
    committed = threading.Event()
    original = writer.add_swarm

    def commit_elsewhere() -> None:
        other.start_run({"k": 1}, "test", 1)
        committed.set()

    def add_swarm_racing(conn: sa.Connection, info: Any) -> int:
        conn.execute(sa.select(swarm.c.id)).first()  # the read add_swarm starts with
        racer = threading.Thread(target=commit_elsewhere)
        racer.start()
        committed.wait(2.0)  # with the write lock held, the other commit waits for ours instead
        try:
            return original(conn, info)
        finally:
            threads.append(racer)

    threads: list[threading.Thread] = []
    monkeypatch.setattr(writer, "add_swarm", add_swarm_racing)
    try:
        swarm_id = store.add_swarm(SWARM, SWARM, None, "x", 1, 16384, 10, None, None, 5)
        for racer in threads:
            racer.join(15)
        assert committed.is_set()  # the other writer's commit went through too, after ours
        with store.engine.connect() as conn:
            assert conn.execute(sa.select(swarm.c.id)).scalars().all() == [swarm_id]
    finally:
        store.close()
        other.close()
