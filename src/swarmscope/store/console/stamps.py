"""The RFC 3161 time-stamp tokens of a sealed batch as the peer page shows them: each verified first.

A token is kept beside its batch (``batch_timestamp``) by whoever fetched it; the row is not sealed, so
the page trusts none of it on its word. Each token is verified offline as ``swarmscope verify`` verifies
the ``.tsr`` files of an export bundle (:func:`swarmscope.evidence.timestamp.token.verify_token`): over
SHA-256 of the batch's signed bytes (``ledger_batch.batch_bytes``, RFC 3161 2.4.2 messageImprint),
against the TSA certificate the token carries (the console is given no TSA root: trust in the TSA stays
the reader's decision, as ``verify`` without ``--tsa-root`` says). A verified token shows the TSA's own
time (genTime, UTC µs); one that fails shows why and no time. Either can be downloaded (``.p7m``, the
token's DER, CMS) only through a peer whose observation its batch seals.
"""

from __future__ import annotations

import hashlib
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

import sqlalchemy as sa

from swarmscope.errors import SwarmscopeError
from swarmscope.evidence.timestamp.token import verify_token
from swarmscope.store.ledger.schema import batch_timestamp, ledger_batch, observation

if TYPE_CHECKING:
    from swarmscope.store.database import Store


@dataclass(frozen=True, slots=True)
class Stamp:
    """One token: row id (to download it), TSA URL, when the row was added (UTC µs), the TSA's genTime
    (UTC µs) when it verifies, else None and ``problem`` (the failed check, one line)."""

    id: int
    tsa_url: str
    added_us: int
    gen_time_us: int | None
    problem: str | None


def batch_stamps(conn: sa.Connection, batch_id: int) -> tuple[Stamp, ...]:
    """Every token of batch ``batch_id``, oldest first, each verified against the batch's bytes."""
    t = batch_timestamp.c
    query = sa.select(t.id, t.tsa_url, t.token, t.added_us).where(t.batch_id == batch_id).order_by(t.id)
    rows = conn.execute(query).all()
    if not rows:
        return ()
    signed = conn.execute(sa.select(ledger_batch.c.batch_bytes).where(ledger_batch.c.id == batch_id)).scalar()
    digest = hashlib.sha256(bytes(signed or b"")).digest()
    return tuple(_stamp(r, digest) for r in rows)


def _stamp(row: Any, digest: bytes) -> Stamp:
    try:
        info = verify_token(bytes(row.token), digest)
    except (SwarmscopeError, ValueError) as exc:  # a malformed or forged token: say which check failed
        return Stamp(int(row.id), row.tsa_url, int(row.added_us), None, " ".join(str(exc).split()))
    return Stamp(int(row.id), row.tsa_url, int(row.added_us), info.gen_time_us, None)


def stamp_of_peer(store: Store, infohash: str, ip: str, port: int, stamp_id: int) -> bytes | None:
    """Token ``stamp_id`` (DER) when its batch seals an observation of this peer of swarm ``infohash``,
    else None: a token is found only through a peer the reader may see."""
    t, b, o = batch_timestamp.c, ledger_batch.c, observation.c
    query = (
        sa.select(t.token)
        .join(ledger_batch, b.id == t.batch_id)
        .where(t.id == stamp_id)
        .where(
            sa.exists().where(
                o.infohash == infohash,
                o.ip == ip,
                o.port == port,
                o.ledger_node == b.node_id,
                o.ledger_index >= b.first_index,
                o.ledger_index <= b.last_index,
            )
        )
    )
    with store.engine.connect() as conn:
        token = conn.execute(query).scalar()
    return None if token is None else bytes(token)
