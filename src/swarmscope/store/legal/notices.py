"""Rows behind the documents that leave the office: exhibits (disclosure requests) and ACNS notices.

Reads: :func:`case_documents` joins each case with its ISP, work, rights holder (client) and swarm — the
facts an exhibit line or a notice states; :func:`swarm_pieces` gives the piece layout the proofs of its
hits are worded with. The verified observations behind a case (the ACNS ``AlsoSeen`` intervals, the client
the peer announced and the pieces and blocks each proved, :class:`HitWindow`) come only from evidence proven
against the sealed ledger (:class:`swarmscope.cases.case_proof.CaseProof`), never from these tables
directly.

Writes: ``notice`` rows (:func:`record_notice`, :func:`mark_notice_sent`) and the exhibit hash of a
drafted ``disclosure_request`` (:func:`attach_exhibit`). Those two disclosure writes belong with the rest of
the request rows in ``store/legal/cases.py`` (helper H) and can move there unchanged.

Source: README "The legal workflow" (exhibits per ISP); ACNS 2.0 v1.2 (README "ACNS notices"); schema in
:mod:`swarmscope.store.legal.schema`.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

import sqlalchemy as sa

from swarmscope.errors import DecodeError
from swarmscope.store.ledger.schema import swarm
from swarmscope.store.legal.schema import (
    client,
    disclosure_event,
    disclosure_request,
    isp,
    legal_case,
    notice,
    work,
)
from swarmscope.wire.metainfo import parse_metainfo

if TYPE_CHECKING:
    from swarmscope.store.database import Store

# Cases still waiting for a disclosure (later statuses already have one, or are over).
DISCLOSURE_STATUSES: tuple[str, ...] = ("candidate", "requested")


@dataclass(frozen=True, slots=True)
class CaseDocument:
    """One case with everything an exhibit line or a notice names (times UTC µs; geolocation advisory)."""

    case_id: int
    doe: str
    ip: str
    port: int
    infohash: str
    first_hit_us: int
    last_hit_us: int
    hits: int
    region: str | None
    city: str | None
    status: str
    isp_id: int
    isp_name: str
    abuse_email: str | None
    work_title: str | None
    client_name: str | None
    client_contact: str | None
    torrent_name: str | None
    total_size: int | None
    torrent_problem: str | None = None  # why the stored metainfo cannot be stated (then refuse the case)


def sealed_torrent(metainfo: bytes | None, infohash: str) -> tuple[str | None, int | None, str | None]:
    """The torrent name and total size (bytes) a document may state for swarm ``infohash``: ``(name, size,
    None)`` from the stored .torrent bytes only when they parse and hash to the infohash (SHA-1 of the info
    dict for v1, SHA-256 for v2: :func:`swarmscope.wire.metainfo.parse_metainfo`, BEP 3, BEP 52); else
    ``(None, None, why)``. The ``swarm`` row's ``name`` and ``total_size`` are never used: no seal covers
    them. Without stored metainfo (a magnet before BEP 9) nothing is known: ``(None, None, None)``.
    """
    if metainfo is None:
        return None, None, None
    try:
        meta = parse_metainfo(bytes(metainfo))
    except DecodeError as exc:
        return None, None, f"the stored metainfo does not parse ({exc}): its name and size cannot be stated"
    if infohash.lower() not in {h.hex for h in (meta.v1, meta.v2) if h is not None}:
        return (
            None,
            None,
            "the stored metainfo does not hash to the case's infohash: its name and size are not stated",
        )
    return meta.name, meta.total_size, None


@dataclass(frozen=True, slots=True)
class HitWindow:
    """One verified observation of the case's address: its interval (UTC µs), the announced client and
    what it proved: ``verified_pieces`` (piece indices whose hash matched the torrent) and
    ``verified_blocks`` (``(piece, begin, length)`` of 16 KiB blocks, offsets and lengths in bytes, whose
    SHA-256 matched a piece already checked against the torrent). ``node``: hex fingerprint of the node
    key that sealed it, the vantage point that saw it ("" when not known). ``source_port``: set when the
    peer connected to us, the TCP source port its connection came from; ``claimed_port``: the BEP 10
    listen port it claimed then (``port`` is that claim only when our own probe verified it).
    """

    started_us: int
    ended_us: int
    port: int
    client: str | None
    client_version: str | None
    verified_pieces: tuple[int, ...] = ()
    verified_blocks: tuple[tuple[int, int, int], ...] = ()
    node: str = ""
    source_port: int | None = None
    claimed_port: int | None = None


@dataclass(frozen=True, slots=True)
class SwarmPieces:
    """A swarm's piece layout as stored: v1/v2 infohashes (hex or None), piece count and length (bytes),
    total size (bytes; BEP 47 pad files included) and the exact .torrent bytes when known."""

    v1: str | None
    v2: str | None
    num_pieces: int
    piece_length: int
    total_size: int
    metainfo: bytes | None


@dataclass(frozen=True, slots=True)
class NoticeRow:
    """A ``notice`` row (see :data:`swarmscope.store.legal.schema.notice`)."""

    id: int
    case_id: int
    isp_id: int
    notice_id: str
    created_us: int
    xml_sha256: str
    to_address: str | None
    sent_us: int | None
    message_id: str | None


def case_documents(
    store: Store, *, isp_name: str | None = None, statuses: Sequence[str] = DISCLOSURE_STATUSES
) -> list[CaseDocument]:
    """Cases attributed to an ISP, joined with ISP, work, client and swarm, ordered by ISP then DOE number.

    Args:
        store: an open store. isp_name: only this ISP (exact name). statuses: case statuses to include.

    Returns:
        :class:`CaseDocument` values; cases without an ISP are left out (no one to ask). The torrent name
        and size come from the stored metainfo, checked against the case's infohash (:func:`sealed_torrent`).
    """
    query = (
        sa.select(
            legal_case.c.id.label("case_id"),
            *(legal_case.c[n] for n in ("doe", "ip", "port", "infohash", "first_hit_us", "last_hit_us")),
            *(legal_case.c[n] for n in ("hits", "region", "city", "status", "isp_id")),
            isp.c.name.label("isp_name"),
            isp.c.abuse_email,
            work.c.title.label("work_title"),
            client.c.name.label("client_name"),
            client.c.contact.label("client_contact"),
            swarm.c.metainfo,
        )
        .select_from(
            legal_case.join(isp, isp.c.id == legal_case.c.isp_id)
            .outerjoin(work, work.c.id == legal_case.c.work_id)
            .outerjoin(client, client.c.id == work.c.client_id)
            .outerjoin(swarm, swarm.c.infohash == legal_case.c.infohash)
        )
        .where(legal_case.c.status.in_(list(statuses)))
        .order_by(isp.c.name, legal_case.c.doe)
    )
    if isp_name is not None:
        query = query.where(isp.c.name == isp_name)
    facts: dict[str, tuple[str | None, int | None, str | None]] = {}  # infohash → sealed_torrent()
    docs = []
    with store.engine.connect() as conn:
        for r in conn.execute(query):
            values = r._asdict()
            metainfo = values.pop("metainfo")
            if r.infohash not in facts:
                facts[r.infohash] = sealed_torrent(metainfo, r.infohash)
            docs.append(
                CaseDocument(
                    **values,
                    torrent_name=facts[r.infohash][0],
                    total_size=facts[r.infohash][1],
                    torrent_problem=facts[r.infohash][2],
                )
            )
    return docs


def swarm_pieces(store: Store, infohash: str) -> SwarmPieces | None:
    """The piece layout of swarm ``infohash`` (None when the swarm is unknown)."""
    cols = swarm.c
    query = sa.select(cols.v1, cols.v2, cols.num_pieces, cols.piece_length, cols.total_size, cols.metainfo)
    with store.engine.connect() as conn:
        row = conn.execute(query.where(cols.infohash == infohash)).first()
    return None if row is None else SwarmPieces(**row._asdict())


def attach_exhibit(
    store: Store,
    isp_id: int,
    region: str | None,
    exhibit_sha256: str,
    case_ids: Sequence[int],
    *,
    actor: str,
    now_us: int,
) -> int:
    """Record an exhibit on the ISP's (and region's) drafted disclosure request, creating one if needed.

    The newest ``drafted`` request for (ISP, region) gets ``exhibit_sha256`` (a re-run replaces the hash of
    a draft; a served request is never touched — a new draft is made instead). The exhibit's cases that have
    no request yet are linked to it (``legal_case.request_id``).

    Args:
        store: an open store. isp_id: ``isp.id``. region: the exhibit's region or None (all regions).
        exhibit_sha256: hex SHA-256 of the exhibit CSV bytes (see ``cases/exhibits.py``).
        case_ids: ``legal_case.id`` of the exhibit's lines. actor: who made it. now_us: UTC µs.

    Returns:
        The ``disclosure_request.id``.

    Raises:
        StoreError: the database refused the write.
    """
    with store._write() as conn:
        request_id = _drafted_request(conn, isp_id, region)
        if request_id is None:
            row = {"isp_id": isp_id, "region": region, "status": "drafted", "created_us": now_us}
            key = conn.execute(
                sa.insert(disclosure_request).values(**row, status_us=now_us, exhibit_sha256=exhibit_sha256)
            ).inserted_primary_key
            assert key is not None
            request_id = int(key[0])
            event = {"request_id": request_id, "status": "drafted", "at_us": now_us, "actor": actor}
            conn.execute(sa.insert(disclosure_event).values(**event, note=f"exhibit sha256 {exhibit_sha256}"))
        else:
            conn.execute(
                sa.update(disclosure_request)
                .where(disclosure_request.c.id == request_id)
                .values(exhibit_sha256=exhibit_sha256)
            )
        if case_ids:
            conn.execute(
                sa.update(legal_case)
                .where(legal_case.c.id.in_(list(case_ids)), legal_case.c.request_id.is_(None))
                .values(request_id=request_id)
            )
        return request_id


def _drafted_request(conn: sa.Connection, isp_id: int, region: str | None) -> int | None:
    same_region = (
        disclosure_request.c.region.is_(None) if region is None else disclosure_request.c.region == region
    )
    query = (
        sa.select(disclosure_request.c.id)
        .where(disclosure_request.c.isp_id == isp_id, same_region, disclosure_request.c.status == "drafted")
        .order_by(disclosure_request.c.id.desc())
        .limit(1)
    )
    found = conn.execute(query).scalar()
    return None if found is None else int(found)


def record_notice(
    store: Store,
    case_id: int,
    isp_id: int,
    notice_id: str,
    xml_sha256: str,
    to_address: str | None,
    now_us: int,
) -> NoticeRow:
    """Store (or refresh) the ``notice`` row of a rendered notice; its ``notice_id`` is stable per case.

    A notice not yet sent gets the new ``xml_sha256``/``to_address``; a sent notice is never rewritten (the
    returned row then tells the caller it was already sent).

    Raises:
        StoreError: the database refused the write.
    """
    with store._write() as conn:
        existing = conn.execute(sa.select(notice).where(notice.c.notice_id == notice_id)).first()
        if existing is None:
            values: dict[str, Any] = {"case_id": case_id, "isp_id": isp_id, "notice_id": notice_id}
            values |= {"created_us": now_us, "xml_sha256": xml_sha256, "to_address": to_address}
            conn.execute(sa.insert(notice).values(values))
        elif existing.sent_us is None:
            conn.execute(
                sa.update(notice)
                .where(notice.c.notice_id == notice_id)
                .values(xml_sha256=xml_sha256, to_address=to_address)
            )
        row = conn.execute(sa.select(notice).where(notice.c.notice_id == notice_id)).one()
        return NoticeRow(**row._asdict())


def mark_notice_sent(store: Store, notice_id: str, sent_us: int, message_id: str) -> None:
    """Record that the SMTP server accepted the notice (call only after delivery succeeded).

    Raises:
        StoreError: the database refused the write.
    """
    with store._write() as conn:
        conn.execute(
            sa.update(notice)
            .where(notice.c.notice_id == notice_id)
            .values(sent_us=sent_us, message_id=message_id)
        )


def notice_rows(store: Store, *, isp_id: int | None = None) -> list[NoticeRow]:
    """Every ``notice`` row (optionally of one ISP), oldest first."""
    query = sa.select(notice).order_by(notice.c.id)
    if isp_id is not None:
        query = query.where(notice.c.isp_id == isp_id)
    with store.engine.connect() as conn:
        return [NoticeRow(**r._asdict()) for r in conn.execute(query)]
