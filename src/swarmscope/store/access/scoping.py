"""Which works, swarms, cases and letters belong to one rights holder (``client.id``), as store queries.

A case belongs to the client of its work (``legal_case.work_id``); a swarm to the clients whose works
link its infohash (``work_torrent``). Used by the console to scope every list and lookup to the user's
client inside the query.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

import sqlalchemy as sa

from swarmscope.store.legal.schema import legal_case, letter, work, work_torrent

if TYPE_CHECKING:
    from swarmscope.store.database import Store


def work_ids(store: Store, client_id: int) -> set[int]:
    with store.engine.connect() as conn:
        return set(conn.execute(sa.select(work.c.id).where(work.c.client_id == client_id)).scalars())


def infohashes(store: Store, client_id: int) -> set[str]:
    query = (
        sa.select(work_torrent.c.infohash)
        .join(work, work.c.id == work_torrent.c.work_id)
        .where(work.c.client_id == client_id)
    )
    with store.engine.connect() as conn:
        return {h.lower() for h in conn.execute(query).scalars()}


def case_clause(client_id: int | None) -> sa.ColumnElement[bool]:
    """A WHERE clause on ``legal_case`` limiting it to one client's works (true for None)."""
    if client_id is None:
        return sa.true()
    mine = sa.select(work.c.id).where(work.c.client_id == client_id)
    return legal_case.c.work_id.in_(mine)


def case_visible(store: Store, case_id: int, client_id: int | None) -> bool:
    """True when the case exists and belongs to the client (any client for None)."""
    query = sa.select(legal_case.c.id).where(legal_case.c.id == case_id, case_clause(client_id))
    with store.engine.connect() as conn:
        return conn.execute(query).first() is not None


def letter_case(store: Store, letter_id: int) -> int | None:
    """The case id of a letter, or None for an unknown letter."""
    with store.engine.connect() as conn:
        found = conn.execute(sa.select(letter.c.case_id).where(letter.c.id == letter_id)).scalar()
    return None if found is None else int(found)
