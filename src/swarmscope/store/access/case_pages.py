"""The case board at scale: counts per status and one page of cases per column, in one client's scope.

A campaign of one film over a month makes tens of thousands of cases, so the board never loads them
all: :func:`status_counts` is one ``GROUP BY``, and :func:`case_page` reads at most ``limit`` cases of
some statuses in DOE order after a keyset cursor (the last DOE of the page before). Both take the same
filters: the reader's client (:func:`swarmscope.store.access.scoping.case_clause`) and optionally one work.

DOE order is numeric: DOE numbers are ``DOE-`` and at least six digits (``DOE-000001``; the millionth
case is ``DOE-1000000``), so as text ``DOE-1000000`` would sort before ``DOE-999999``. A longer number is
a larger one (no number has more leading zeros than the six-digit padding gives), so the order is (text
length, text): :func:`doe_order`, and the keyset condition :func:`after_doe` follows it.
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass
from typing import TYPE_CHECKING

import sqlalchemy as sa

from swarmscope.errors import InputError
from swarmscope.store.access.scoping import case_clause
from swarmscope.store.legal.case_rows import CaseRow, doe_order
from swarmscope.store.legal.schema import legal_case

if TYPE_CHECKING:
    from swarmscope.store.database import Store

MAX_PAGE = 500


@dataclass(frozen=True, slots=True)
class CasePage:
    """At most ``limit`` cases and the cursor of the next page (None on the last)."""

    cases: list[CaseRow]
    next_cursor: str | None


def after_doe(cursor: str) -> sa.ColumnElement[bool]:
    """Cases after the DOE number ``cursor`` in numeric DOE order."""
    c, size = legal_case.c, len(cursor)
    return sa.or_(sa.func.length(c.doe) > size, sa.and_(sa.func.length(c.doe) == size, c.doe > cursor))


def _where(client_id: int | None, work_id: int | None) -> sa.ColumnElement[bool]:
    clause = case_clause(client_id)
    return clause if work_id is None else sa.and_(clause, legal_case.c.work_id == work_id)


def status_counts(store: Store, client_id: int | None, work_id: int | None = None) -> dict[str, int]:
    """How many cases of the scope (and of ``work_id``) are in each status."""
    c = legal_case.c
    query = sa.select(c.status, sa.func.count()).where(_where(client_id, work_id)).group_by(c.status)
    with store.engine.connect() as conn:
        return {str(status): int(n) for status, n in conn.execute(query)}


def case_page(
    store: Store,
    client_id: int | None,
    statuses: Iterable[str],
    *,
    work_id: int | None = None,
    cursor: str | None = None,
    limit: int = 50,
) -> CasePage:
    """Cases in ``statuses`` of the scope, in numeric DOE order, after the DOE ``cursor``.

    Raises:
        InputError: a limit outside 1..500 or a cursor that is not a DOE number.
    """
    if not 1 <= limit <= MAX_PAGE:
        raise InputError(f"limit {limit}: must be 1..{MAX_PAGE}")
    if cursor is not None and not (
        cursor.startswith("DOE-") and cursor[4:].isascii() and cursor[4:].isdigit()
    ):
        raise InputError(f"cursor {cursor[:40]!r}: not a case page cursor (a DOE number)")
    if cursor is not None:  # leading zeros beyond the padding would break the (length, text) order
        cursor = f"DOE-{int(cursor[4:]):06d}"
    c = legal_case.c
    query = sa.select(legal_case).where(_where(client_id, work_id), c.status.in_(sorted(statuses)))
    if cursor is not None:
        query = query.where(after_doe(cursor))
    with store.engine.connect() as conn:
        rows = [CaseRow(**r._asdict()) for r in conn.execute(query.order_by(*doe_order()).limit(limit + 1))]
    more = len(rows) > limit
    return CasePage(rows[:limit], rows[limit - 1].doe if more else None)


def cases_per_work(store: Store, client_id: int | None) -> dict[int, int]:
    """How many cases of the scope each work has (one ``GROUP BY``, not the cases)."""
    c = legal_case.c
    query = sa.select(c.work_id, sa.func.count()).where(case_clause(client_id)).group_by(c.work_id)
    with store.engine.connect() as conn:
        return {int(work): int(n) for work, n in conn.execute(query) if work is not None}


def first_pages(
    store: Store, client_id: int | None, *, work_id: int | None = None, limit: int = 50
) -> dict[str, CasePage]:
    """The first page of every status at once (one scan, ``ROW_NUMBER()`` per status in numeric DOE order),
    keyed by status; a status without cases is absent.

    Raises:
        InputError: a limit outside 1..500.
    """
    if not 1 <= limit <= MAX_PAGE:
        raise InputError(f"limit {limit}: must be 1..{MAX_PAGE}")
    c = legal_case.c
    rank = sa.func.row_number().over(partition_by=c.status, order_by=doe_order()).label("rank")
    ranked = sa.select(legal_case, rank).where(_where(client_id, work_id)).subquery()
    query = sa.select(ranked).where(ranked.c.rank <= limit + 1).order_by(ranked.c.status, ranked.c.rank)
    found: dict[str, list[CaseRow]] = {}
    with store.engine.connect() as conn:
        for r in conn.execute(query):
            row = {k: v for k, v in r._asdict().items() if k != "rank"}
            found.setdefault(str(r.status), []).append(CaseRow(**row))
    return {s: CasePage(rows[:limit], rows[limit - 1].doe if len(rows) > limit else None)
            for s, rows in found.items()}  # fmt: skip
