"""Rows of campaigns, ISPs, disclosure requests and cases: every read and write of
``client``, ``work``, ``work_torrent`` and ``isp`` goes through here, and the row types of every legal
table; cases and disclosure requests (``legal_case``, ``case_event``, ``disclosure_request``,
``disclosure_event``) are read and moved by :mod:`swarmscope.store.legal.case_status`. Each name is
imported from the module that defines it (the row types from :mod:`swarmscope.store.legal.case_rows`).

Layering: ``store/`` may not import ``cases/``, so the status-changing functions take the workflow's
pure transition function as the keyword argument ``rule`` (pass
:func:`swarmscope.cases.workflow.next_case_status` / ``next_request_status``). The check runs inside the
write transaction on the status read there, so two writers cannot both move a case from the same status.

DOE numbers (``DOE-000001``) are assigned in order of creation and never reused; a case is keyed by
(IP, infohash, first hit), so re-running ``cases build`` over the same evidence finds the same case.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import TYPE_CHECKING, Any

import sqlalchemy as sa

from swarmscope.store.legal.case_rows import (
    CaseStoreError,
    ClientRow,
    IspRow,
    WorkRow,
    WorkTorrentRow,
    new_id,
)
from swarmscope.store.legal.schema import client, isp, work, work_torrent
from swarmscope.store.legal.schema import client as client_table
from swarmscope.store.legal.workflow_seals import (
    ISP_ENTRY,
    WORK_ENTRY,
    WORK_LINK,
    isp_content,
    link_content,
    link_subject,
    reference_sha256,
    seal_if_writer,
    work_content,
)
from swarmscope.store.metadata import fits_row_id

if TYPE_CHECKING:
    from swarmscope.store.database import Store


def _rows(store: Store, query: sa.Select[Any]) -> list[sa.Row[Any]]:
    with store.engine.connect() as conn:
        return list(conn.execute(query))


# --- campaigns -----------------------------------------------------------------------------------------


def add_client(store: Store, name: str, contact: str | None, now_us: int) -> int:
    """Register a rights holder by name; an existing name returns its id unchanged (contact kept)."""
    if not name.strip():
        raise CaseStoreError("client: the name is empty")
    with store._write() as conn:
        found = conn.execute(sa.select(client.c.id).where(client.c.name == name)).scalar()
        if found is not None:
            return int(found)
        return new_id(conn, sa.insert(client).values(name=name, contact=contact, added_us=now_us))


def client_rows(store: Store) -> list[ClientRow]:
    """Every client, oldest first."""
    return [ClientRow(**r._asdict()) for r in _rows(store, sa.select(client).order_by(client.c.id))]


def add_work(
    store: Store,
    client: str | int,
    title: str,
    registration: str | None,
    reference_path: str | None,
    now_us: int,
) -> int:
    """Add a work of ``client`` (a client id, or a name: created when new); returns the work id.

    A writer store seals the entry (``work_entry``: client, title, registration, the SHA-256 of the
    reference copy) in the same transaction (:mod:`swarmscope.store.legal.workflow_seals`).

    Raises:
        CaseStoreError: empty title, unknown client id, the client already has a work of that title.
    """
    if not title.strip():
        raise CaseStoreError("work: the title is empty")
    client_id = add_client(store, client, None, now_us) if isinstance(client, str) else client
    reference = reference_sha256(reference_path)
    with store._write(immediate=True) as conn:
        dup = sa.select(work.c.id).where(work.c.client_id == client_id, work.c.title == title)
        if conn.execute(dup).first() is not None:
            raise CaseStoreError(f"work {title!r}: the client already has a work of that title")
        values: dict[str, Any] = {"client_id": client_id, "title": title, "registration": registration}
        identity = None if reference == "missing" else reference  # a path gone is no identity
        values |= {"reference_path": reference_path, "reference_sha256": identity, "added_us": now_us}
        work_id = new_id(conn, sa.insert(work).values(values))
        name = conn.execute(sa.select(client_table.c.name).where(client_table.c.id == client_id)).scalar_one()
        content = work_content(str(name), title, registration, reference)
        seal_if_writer(conn, store, f"work:{work_id}", WORK_ENTRY, content, now_us)
        return work_id


_WORKS = sa.select(work, client.c.name.label("client")).join(client, client.c.id == work.c.client_id)


def work_rows(store: Store) -> list[WorkRow]:
    """Every work with its client's name, oldest first."""
    return [WorkRow(**r._asdict()) for r in _rows(store, _WORKS.order_by(work.c.id))]


def get_work(store: Store, which: int | str) -> WorkRow:
    """A work by id (int or digits) or by exact title.

    Raises:
        CaseStoreError: no such work, or the title is ambiguous (several clients use it: give the id).
    """
    if isinstance(which, int) or which.isdigit():
        rows = _rows(store, _WORKS.where(work.c.id == int(which))) if fits_row_id(int(which)) else []
    else:
        rows = _rows(store, _WORKS.where(work.c.title == which).order_by(work.c.id))
    if len(rows) != 1:
        raise CaseStoreError(
            f"work {which!r}: " + ("not found" if not rows else "ambiguous title; give its id")
        )
    return WorkRow(**rows[0]._asdict())


def swarm_reference_works(store: Store, infohash: str, work_name: str | None) -> list[WorkRow]:
    """The works with a reference copy that a swarm carries, oldest first: linked to it (``works link``,
    any verdict but ``fake``) or, for a fleet swarm, named by its ``fleet add --work`` title. A fleet node
    loads its own copy of each (block proofs); nothing here is a proof that the swarm carries the work."""
    linked = sa.select(work_torrent.c.work_id).where(
        work_torrent.c.infohash == infohash.lower(), work_torrent.c.status != "fake"
    )
    carried = (
        work.c.id.in_(linked) if work_name is None else work.c.id.in_(linked) | (work.c.title == work_name)
    )
    query = _WORKS.where(carried, work.c.reference_path.is_not(None)).order_by(work.c.id)
    return [WorkRow(**r._asdict()) for r in _rows(store, query)]


def link_torrent(store: Store, work_id: int, infohash: str, now_us: int) -> int:
    """Link a torrent (infohash hex) to a work as ``linked`` (sealed as a ``work_link`` in the same
    transaction when ``store`` holds the node's key); an existing link returns its id unchanged."""
    infohash = infohash.lower()
    with store._write(immediate=True) as conn:
        if conn.execute(sa.select(work.c.id).where(work.c.id == work_id)).first() is None:
            raise CaseStoreError(f"work {work_id}: not found")
        where = (work_torrent.c.work_id == work_id) & (work_torrent.c.infohash == infohash)
        found = conn.execute(sa.select(work_torrent.c.id).where(where)).scalar()
        if found is not None:
            return int(found)
        values = {"work_id": work_id, "infohash": infohash, "status": "linked", "linked_us": now_us}
        link_id = new_id(conn, sa.insert(work_torrent).values(values))
        content = link_content(work_id, infohash, "linked", 0, 0)
        seal_if_writer(conn, store, link_subject(work_id, infohash), WORK_LINK, content, now_us)
        return link_id


def set_torrent_check(
    store: Store, link_id: int, status: str, checked: int, matched: int, detail: str | None, now_us: int
) -> None:
    """Record the reference check of a linked torrent: status linked | confirmed | fake, piece counts;
    sealed (``work_link``) in the same transaction when ``store`` holds the node's key.

    Raises:
        CaseStoreError: unknown status or link.
    """
    if status not in ("linked", "confirmed", "fake"):
        raise CaseStoreError(f"torrent check: unknown status {status!r}")
    values: dict[str, Any] = {"status": status, "checked_pieces": checked, "matched_pieces": matched}
    values |= {"detail": detail, "checked_us": now_us}
    with store._write(immediate=True) as conn:
        done = conn.execute(sa.update(work_torrent).where(work_torrent.c.id == link_id).values(values))
        if done.rowcount != 1:
            raise CaseStoreError(f"torrent link {link_id}: not found")
        row = conn.execute(sa.select(work_torrent).where(work_torrent.c.id == link_id)).one()
        content = link_content(row.work_id, row.infohash, status, checked, matched)
        seal_if_writer(conn, store, link_subject(row.work_id, row.infohash), WORK_LINK, content, now_us)


def work_torrents(
    store: Store, *, work_id: int | None = None, infohash: str | None = None
) -> list[WorkTorrentRow]:
    """Torrent links, oldest first (optionally of one work / one infohash)."""
    query = sa.select(work_torrent).order_by(work_torrent.c.id)
    if work_id is not None:
        query = query.where(work_torrent.c.work_id == work_id)
    if infohash is not None:
        query = query.where(work_torrent.c.infohash == infohash.lower())
    return [WorkTorrentRow(**r._asdict()) for r in _rows(store, query)]


def work_for_infohash(store: Store, infohash: str) -> WorkRow | None:
    """The work a torrent carries: its earliest ``confirmed`` link, else its earliest ``linked`` one.

    A ``fake`` link never names a work (its pieces do not match the reference content). The stored rows
    only: the status is not sealed, so the workflow derives the work with
    :func:`swarmscope.cases.work_links.case_work`, which re-runs the piece check from stored content.
    """
    links = [t for t in work_torrents(store, infohash=infohash) if t.status != "fake"]
    links.sort(key=lambda t: (t.status != "confirmed", t.id))
    return get_work(store, links[0].work_id) if links else None


# --- ISPs ----------------------------------------------------------------------------------------------


def _isp(row: sa.Row[Any]) -> IspRow:
    values = row._asdict()
    values["asns"] = tuple(int(a) for a in values["asns"])
    return IspRow(**values)


def add_isp(
    store: Store,
    name: str,
    asns: Sequence[int],
    abuse_email: str | None,
    legal_address: str | None,
    country: str | None,
    now_us: int,
) -> int:
    """Add an ISP to the directory; returns its id. A writer store seals the entry (``isp_entry``) in the
    same transaction (:mod:`swarmscope.store.legal.workflow_seals`).

    Raises:
        CaseStoreError: empty name, a name already present, an ASN outside 1..4294967295 or already
            assigned to another ISP (an ASN must name one ISP for :func:`isp_for_asn`).
    """
    if not name.strip():
        raise CaseStoreError("isp: the name is empty")
    bad = [a for a in asns if not 0 < a < 2**32]
    if bad:
        raise CaseStoreError(f"isp {name!r}: ASN {bad[0]} is outside 1..4294967295")
    with store._write(immediate=True) as conn:
        if conn.execute(sa.select(isp.c.id).where(isp.c.name == name)).first() is not None:
            raise CaseStoreError(f"isp {name!r}: already in the directory")
        for other in conn.execute(sa.select(isp)):
            taken = set(asns) & {int(a) for a in other.asns}
            if taken:
                raise CaseStoreError(f"isp {name!r}: AS{min(taken)} already belongs to {other.name!r}")
        values: dict[str, Any] = {"name": name, "asns": sorted(set(asns)), "abuse_email": abuse_email}
        values |= {"legal_address": legal_address, "country": country, "added_us": now_us}
        isp_id = new_id(conn, sa.insert(isp).values(values))
        content = isp_content(name, asns, abuse_email, legal_address, country)
        seal_if_writer(conn, store, f"isp:{isp_id}", ISP_ENTRY, content, now_us)
        return isp_id


def list_isps(store: Store) -> list[IspRow]:
    """Every ISP, by name."""
    return [_isp(r) for r in _rows(store, sa.select(isp).order_by(isp.c.name))]


def get_isp(store: Store, which: int | str) -> IspRow:
    """An ISP by id (int or digits) or exact name. Raises CaseStoreError when not found."""
    is_id = isinstance(which, int) or which.isdigit()
    query = sa.select(isp).where(isp.c.id == int(which) if is_id else isp.c.name == which)
    rows = _rows(store, query) if not is_id or fits_row_id(int(which)) else []
    if not rows:
        raise CaseStoreError(f"isp {which!r}: not in the directory")
    return _isp(rows[0])


def isp_for_asn(store: Store, asn: int) -> IspRow | None:
    """The ISP whose directory entry lists ``asn``, or None."""
    return next((row for row in list_isps(store) if asn in row.asns), None)


__all__ = [
    "add_client",
    "add_isp",
    "add_work",
    "client_rows",
    "get_isp",
    "get_work",
    "isp_for_asn",
    "link_torrent",
    "list_isps",
    "set_torrent_check",
    "work_for_infohash",
    "work_rows",
    "work_torrents",
]
