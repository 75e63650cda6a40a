"""Which works, swarms, cases and letters belong to one rights holder (``client.id``), as store queries.

A case belongs to the client of its work (``legal_case.work_id``); a swarm to the clients whose works
link its infohash (``work_torrent``). Used by the console to scope every list and lookup to the user's
client inside the query.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

import sqlalchemy as sa

from swarmscope.store.legal.case_rows import CaseRow, RequestRow, WorkRow, WorkTorrentRow, doe_order
from swarmscope.store.legal.letters import LetterRow
from swarmscope.store.legal.schema import client, disclosure_request, legal_case, letter, work, work_torrent

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


# --- listings limited to one client (None: every client) ------------------------------------------------


def works(store: Store, client_id: int | None) -> list[WorkRow]:
    """Works with their client's name, oldest first."""
    query = sa.select(work, client.c.name.label("client")).join(client, client.c.id == work.c.client_id)
    if client_id is not None:
        query = query.where(work.c.client_id == client_id)
    with store.engine.connect() as conn:
        return [WorkRow(**r._asdict()) for r in conn.execute(query.order_by(work.c.id))]


def torrents(store: Store, client_id: int | None) -> list[WorkTorrentRow]:
    """Torrent links of the client's works, oldest first."""
    query = sa.select(work_torrent).order_by(work_torrent.c.id)
    if client_id is not None:
        query = query.where(
            work_torrent.c.work_id.in_(sa.select(work.c.id).where(work.c.client_id == client_id))
        )
    with store.engine.connect() as conn:
        return [WorkTorrentRow(**r._asdict()) for r in conn.execute(query)]


def cases(
    store: Store, client_id: int | None, *, request_id: int | None = None, limit: int | None = None
) -> list[CaseRow]:
    """Cases in numeric DOE order (optionally of one disclosure request; at most ``limit``)."""
    query = sa.select(legal_case).where(case_clause(client_id)).order_by(*doe_order())
    if request_id is not None:
        query = query.where(legal_case.c.request_id == request_id)
    if limit is not None:
        query = query.limit(limit)
    with store.engine.connect() as conn:
        return [CaseRow(**r._asdict()) for r in conn.execute(query)]


def requests(
    store: Store,
    client_id: int | None,
    *,
    after: int | None = None,
    limit: int | None = None,
    status: str | None = None,
) -> list[RequestRow]:
    """Disclosure requests naming at least one of the client's cases, oldest first: at most ``limit``
    with an id above ``after`` (keyset pages), in ``status`` when given."""
    query = sa.select(disclosure_request).order_by(disclosure_request.c.id)
    if after is not None:
        query = query.where(disclosure_request.c.id > after)
    if status is not None:
        query = query.where(disclosure_request.c.status == status)
    if limit is not None:
        query = query.limit(limit)
    if client_id is not None:
        mine = sa.select(legal_case.c.request_id).where(case_clause(client_id))
        query = query.where(disclosure_request.c.id.in_(mine))
    with store.engine.connect() as conn:
        return [RequestRow(**r._asdict()) for r in conn.execute(query)]


def letters(
    store: Store,
    client_id: int | None,
    *,
    before: int | None = None,
    limit: int | None = None,
    work_id: int | None = None,
    status: str | None = None,
) -> list[tuple[str, LetterRow]]:
    """(DOE, letter) of the client's cases, newest first: at most ``limit`` letters with an id below
    ``before`` (keyset pages), of the cases of ``work_id`` and in case status ``status`` when given."""
    query = (
        sa.select(letter, legal_case.c.doe)
        .join(legal_case, legal_case.c.id == letter.c.case_id)
        .where(case_clause(client_id))
        .order_by(letter.c.id.desc())
    )
    if before is not None:
        query = query.where(letter.c.id < before)
    if work_id is not None:
        query = query.where(legal_case.c.work_id == work_id)
    if status is not None:
        query = query.where(legal_case.c.status == status)
    if limit is not None:
        query = query.limit(limit)
    with store.engine.connect() as conn:
        rows = conn.execute(query).all()
    return [(r.doe, LetterRow(**{k: v for k, v in r._asdict().items() if k != "doe"})) for r in rows]
