"""Row types shared by :mod:`swarmscope.store.legal.cases` and :mod:`swarmscope.store.legal.case_status`,
and :func:`record_build`: what a ``cases build`` writes on a case still at ``candidate``.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Protocol

import sqlalchemy as sa

from swarmscope.store.database import StoreError
from swarmscope.store.legal.schema import case_event, legal_case

if TYPE_CHECKING:
    from swarmscope.store.database import Store

CaseRule = Callable[[str, str, "str | None"], str]  # (current status, event, actor) -> next status
RequestRule = Callable[[str, str], str]  # (current status, target) -> target
INITIAL_CASE_STATUS = "candidate"
INITIAL_REQUEST_STATUS = "drafted"
CLOSING_CASE_STATUSES = frozenset({"paid", "withdrawn", "closed"})  # = cases.workflow.CLOSING_STATUSES
ANSWERED = ("complied", "partially_complied", "contested", "quashed")
SYSTEM_ACTOR = "swarmscope"


class CaseStoreError(StoreError):
    """A campaign/ISP/case row is missing, duplicated or would contradict another (message says which)."""


class CandidateLike(Protocol):
    """What :func:`upsert_case` needs of a :class:`swarmscope.cases.thresholds.Candidate`."""

    @property
    def ip(self) -> str: ...
    @property
    def port(self) -> int: ...
    @property
    def infohash(self) -> str: ...
    @property
    def first_hit_us(self) -> int: ...
    @property
    def last_hit_us(self) -> int: ...
    @property
    def hits(self) -> int: ...


@dataclass(frozen=True, slots=True)
class ClientRow:
    """A rights holder: name, contact, added (UTC µs)."""

    id: int
    name: str
    contact: str | None
    added_us: int


@dataclass(frozen=True, slots=True)
class WorkRow:
    """A work (``work`` columns) plus its client's name."""

    id: int
    client_id: int
    title: str
    registration: str | None
    reference_path: str | None
    added_us: int
    reference_sha256: str | None = None  # the reference copy's identity (None: none registered)
    client: str = ""


@dataclass(frozen=True, slots=True)
class WorkTorrentRow:
    """A torrent linked to a work; ``status`` linked | confirmed | fake (``work_torrent`` columns)."""

    id: int
    work_id: int
    infohash: str
    status: str
    checked_pieces: int
    matched_pieces: int
    checked_us: int | None
    detail: str | None
    linked_us: int


@dataclass(frozen=True, slots=True)
class IspRow:
    """An ISP of the directory; ``asns`` as a tuple of ints."""

    id: int
    name: str
    asns: tuple[int, ...]
    abuse_email: str | None
    legal_address: str | None
    country: str | None
    added_us: int


@dataclass(frozen=True, slots=True)
class RequestRow:
    """A disclosure request (``disclosure_request`` columns); times UTC µs."""

    id: int
    isp_id: int
    region: str | None
    status: str
    created_us: int
    status_us: int
    exhibit_sha256: str | None
    note: str | None


@dataclass(frozen=True, slots=True)
class CaseRow:
    """A legal case (``legal_case`` columns); times UTC µs. Never holds personal data."""

    id: int
    doe: str
    ip: str
    port: int
    infohash: str
    work_id: int | None
    isp_id: int | None
    request_id: int | None
    first_hit_us: int
    last_hit_us: int
    hits: int
    region: str | None
    city: str | None
    status: str
    created_us: int
    status_us: int
    closed_us: int | None


@dataclass(frozen=True, slots=True)
class EventRow:
    """One ``case_event`` / ``disclosure_event`` row: ``subject_id`` is the case or request id."""

    id: int
    subject_id: int
    status: str
    at_us: int
    actor: str
    note: str | None


@dataclass(frozen=True, slots=True)
class IspCooperation:
    """How an ISP answers disclosure requests.

    ``rate`` = (complied + 0.5 × partially_complied) / answered, where answered counts complied,
    partially_complied, contested and quashed requests (drafted and served are not answers yet);
    None when nothing was answered. A quashed request counts against the ISP's rate although a court
    quashed it: the rate describes outcomes, not blame.
    """

    isp_id: int
    name: str
    counts: dict[str, int] = field(default_factory=dict)
    answered: int = 0
    rate: float | None = None


def new_id(conn: sa.Connection, statement: sa.Insert) -> int:
    """Run a single-row INSERT; returns the new primary key."""
    key = conn.execute(statement).inserted_primary_key
    assert key is not None
    return int(key[0])


def record_build(
    store: Store, case_id: int, *, hits: int, last_hit_us: int, note: str, actor: str, now_us: int
) -> bool:
    """Record a build on a case still at ``candidate``: its exact evidence now, and a ``case_event``.

    Sets ``hits`` and ``last_hit_us`` to what the current evidence shows for the case's (IP, port,
    infohash) — not the maximum ever seen — and appends an event (status ``candidate``) whose note
    carries the build's verdict and policy. Checked and written in one transaction.

    Args:
        case_id: the case row id. hits: verified hits. last_hit_us: UTC µs. note: the build's note
            (never personal data). actor: who ran the build. now_us: UTC µs.

    Returns:
        True when written; False when the case is no longer at ``candidate`` (nothing written).

    Raises:
        CaseStoreError: no such case.
    """
    with store._write(immediate=True) as conn:
        status = conn.execute(sa.select(legal_case.c.status).where(legal_case.c.id == case_id)).scalar()
        if status is None:
            raise CaseStoreError(f"case {case_id}: not found")
        if status != INITIAL_CASE_STATUS:
            return False
        where = legal_case.c.id == case_id
        conn.execute(sa.update(legal_case).where(where).values(hits=hits, last_hit_us=last_hit_us))
        event = {"case_id": case_id, "status": INITIAL_CASE_STATUS, "at_us": now_us, "actor": actor}
        conn.execute(sa.insert(case_event).values(**event, note=note))
        return True


def doe_order() -> tuple[sa.ColumnElement[int], sa.ColumnElement[str]]:
    """ORDER BY terms putting cases in numeric DOE order: ``DOE-`` and at least six digits, so a longer
    number is a larger one, while as text ``DOE-1000000`` would sort before ``DOE-999999``."""
    return sa.func.length(legal_case.c.doe), legal_case.c.doe
