"""Evidence records for store, summary and report tests (every field set, so round trips mean something)."""

from __future__ import annotations

import dataclasses
import threading
from collections.abc import Iterator
from contextlib import contextmanager
from typing import TYPE_CHECKING, Any

import sqlalchemy as sa
from alembic import command
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey

from swarmscope.evidence.records import ExtensionInfo, Failure, Observation, Sighting, Source, Tier
from swarmscope.store.database import open_store
from swarmscope.store.ledger import writer
from swarmscope.store.ledger.verify import verify_ledger
from swarmscope.store.migrate import alembic_config

if TYPE_CHECKING:
    from swarmscope.store.database import Store

SWARM_A = "aa" * 20
SWARM_B = "bb" * 32  # a v2-only swarm id (64 hex digits)
T0 = 1_796_000_000_000_000  # 2026-11-30T00:53:20Z in UTC microseconds


def sighting(ip: str = "127.0.0.2", port: int = 6881, **kw: Any) -> Sighting:
    fields: dict[str, Any] = {
        "infohash": SWARM_A,
        "ip": ip,
        "port": port,
        "source": Source.TRACKER.value,
        "detail": "http://127.0.0.1:6969/announce",
        "seen_at_us": T0,
        "peer_id": None,
    }
    fields.update(kw)
    return Sighting(**fields)


def observation(ip: str = "127.0.0.2", port: int = 6881, **kw: Any) -> Observation:
    fields: dict[str, Any] = {
        "infohash": SWARM_A,
        "ip": ip,
        "port": port,
        "source": Source.TRACKER.value,
        "started_us": T0 + 1_000,
        "ended_us": T0 + 2_000,
        "tier": Tier.CONNECTED,
        "failure": Failure.CHOKED.value,
    }
    fields.update(kw)
    return Observation(**fields)


def full_observation(**kw: Any) -> Observation:
    """An observation with every field set to a non-default value (incl. awkward bytes and big ints)."""
    base = Observation(
        infohash=SWARM_A,
        ip="::1",
        port=51413,
        source=Source.DHT.value,
        started_us=T0 + 7,
        ended_us=T0 + 9_000_001,
        tier=Tier.HAS_PIECES,
        failure=Failure.HASH_MISMATCH.value,
        failure_detail="piece 3: sha1 mismatch",
        remote_infohash="cc" * 20,
        peer_id=b"-TR3000-\x00\xff" + bytes(range(10)),
        reserved=b"\x00\x00\x00\x00\x00\x10\x00\x05",
        client="Transmission",
        client_version="3.00",
        extension=ExtensionInfo(
            m={"ut_metadata": 3, "ut_pex": 1, "lt_donthave": 7},
            v=b"Transmission 3.00\xff\xfe",
            p=51413,
            yourip="127.0.0.1",
            reqq=2**70,  # hostile peers send anything; must survive storage
            metadata_size=31_337,
        ),
        num_pieces=12,
        pieces_have=11,
        bitfield=b"\xff\xe0",
        completion=11 / 12,
        bytes_received=3 * 16384 + 1,
        wire_bytes_in=70_000,
        wire_bytes_out=400,
        payload_bytes_sent=0,
        verified_pieces=(5, 0, 2),
        failed_pieces=(3,),
        encrypted=True,
        quirks=("PW-10", "TRK-03"),
    )
    return dataclasses.replace(base, **kw)


def add_swarms(store: Store) -> None:
    store.add_swarm(SWARM_A, SWARM_A, None, "alpha.iso", 12, 32768, 12 * 32768 - 5, b"d4:infod", None, T0)
    store.add_swarm(SWARM_B, None, SWARM_B, "beta.bin", 4, 16384, 65536, None, "magnet:?xt=x", T0)


@contextmanager
def node_stores(url: str, count: int) -> Iterator[list[Store]]:
    """``count`` node stores (a fresh key each) on one freshly migrated PostgreSQL database at ``url``,
    the first holding the two swarms of :func:`add_swarms`; the schema goes down to base after."""
    opened = [open_store(url, node_key=Ed25519PrivateKey.generate(), now_us=T0) for _ in range(count)]
    try:
        add_swarms(opened[0])
        yield opened
    finally:
        with opened[0].engine.begin() as conn:
            command.downgrade(alembic_config(conn), "base")
        for store in opened:
            store.close()


def check_two_writers_serialise(first: Store, url: str, node_key: Ed25519PrivateKey, run_id: int) -> None:
    """A second writer of the same node opens ``url``; both commit at once; the ledger must verify whole."""
    second = open_store(url, node_key=node_key, now_us=T0)
    try:
        errors, threads = commit_from_two_writers(first, second, run_id)
    finally:
        second.close()
    assert not errors and not any(t.is_alive() for t in threads)
    verdict = verify_ledger(first)
    assert verdict.ok and verdict.entries == 120 and verdict.batches == 40, verdict.problems


def commit_from_two_writers(
    first: Store, second: Store, run_id: int
) -> tuple[list[BaseException], list[threading.Thread]]:
    """Two writers of one node each commit 20 batches of 3 observations at once, each in its own thread.

    Returns:
        The exceptions the threads raised, and the threads (joined with a 120 s timeout each).
    """
    errors: list[BaseException] = []

    def commit_many(writer: Store, port: int) -> None:
        try:
            for i in range(20):
                writer.add_observations(run_id, [observation(port=port + i)] * 3, sealed_at_us=T0 + i)
        except BaseException as exc:  # reported to the caller
            errors.append(exc)

    threads = [threading.Thread(target=commit_many, args=(s, p)) for s, p in ((first, 1000), (second, 2000))]
    for t in threads:
        t.start()
    for t in threads:
        t.join(timeout=120)
    return errors, threads


def insert_unlinked(conn: sa.Connection, table: sa.Table, rows: list[tuple[Any, ...]]) -> None:
    """Evidence rows with no ledger link: the ``unsealed`` state of a row written by an older version
    (``store/ledger/seal_state.py``). SQLite stores such a row as any other; PostgreSQL refuses one since
    schema revision 0019, so there it is written as it was before that revision, with this transaction's
    statement checks off (``session_replication_role = replica``: no ordinary trigger fires; superuser)."""
    if conn.dialect.name == "postgresql":
        conn.exec_driver_sql("SET LOCAL session_replication_role = replica")
    writer.insert_many(conn, table, rows)
    if conn.dialect.name == "postgresql":
        conn.exec_driver_sql("SET LOCAL session_replication_role = origin")
