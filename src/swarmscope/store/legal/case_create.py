"""Creating a case row: its DOE number, and what the sealed ledger already says about its identity.

A ``legal_case`` row is an unsealed row, keyed by (IP, infohash, first hit). Someone who can write the
database file but lacks the node key can delete a withdrawn case's row (and every row naming it), or edit
its first hit so that the key misses: a routine ``cases build`` would then create the case again under a
new DOE number, seal that build with the node key, and the documents would accuse an address counsel
withdrew. So creation consults the ``case_built`` events PROVEN against the chain and a trusted key
(:class:`SealedBuilds`, from :func:`swarmscope.store.legal.workflow_seals.workflow_history`; an unsigned
row inserted into the ledger tables proves nothing):

- a candidate whose identity (infohash, IP, port, first hit: what a ``case_built`` seals,
  :func:`swarmscope.store.legal.workflow_seals.built_content`) a proven ``case_built`` of any DOE number
  seals, while no row holds its key, is never created again ("sealed case row missing or altered");
- a DOE number that proven events name but no row carries is named as tampering
  (:meth:`SealedBuilds.missing`);
- a new DOE number comes after every DOE number a proven event names, not only after the rows' (DOE numbers
  are never reused: :mod:`swarmscope.cases.case_binding` relies on it);
- a candidate whose address, port and swarm a case row already holds from an EARLIER first hit is not
  created: that first hit is no longer proven (its observation row edited or deleted without the key, so
  the candidate's first hit moved to the next); from a later first hit (an earlier hit sealed since, by
  another node) the existing case is the candidate's;
- while the build has named any tampering (:attr:`SealedBuilds.hold`), no new case is created at all: a
  deleted case row and its first hit deleted with it leave a candidate no sealed identity matches.

Identities compare normalised: infohash as lower-case hex, IP as :func:`canonical_ip` (RFC 5952 text, an
IPv4-mapped IPv6 address as its IPv4 host, RFC 4291 section 2.5.5.2). Limit: a ``case_built`` seals a
SHA-256, not the identity, so an identity is recognised only when it is recomputed exactly (the candidate's
own first hit); cost one SHA-256 per sealed DOE number per identity asked about.

Source: README "Sealed workflow decisions" and "Only proven evidence" (a withdrawn case is never reopened).
"""

from __future__ import annotations

import ipaddress
from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from typing import Any

import sqlalchemy as sa

from swarmscope.store.legal import case_rows as statuses
from swarmscope.store.legal.case_rows import CandidateLike, CaseRow, CaseStoreError, new_id
from swarmscope.store.legal.schema import case_event, legal_case
from swarmscope.store.legal.workflow_seals import CASE_BUILT, WorkflowHistory, built_content, content_sha256
from swarmscope.store.metadata import fits_row_id

DOE_PREFIX = "DOE-"
ROW_MISSING = "sealed case row missing or altered"


def canonical_ip(text: str) -> str:
    """``text`` as :mod:`ipaddress` writes it (RFC 5952 for IPv6), an IPv4-mapped IPv6 address as its
    IPv4 host (RFC 4291 section 2.5.5.2); text that is no address is returned unchanged (it matches none)."""
    try:
        address = ipaddress.ip_address(text.strip())
    except ValueError:
        return text
    if isinstance(address, ipaddress.IPv6Address) and address.ipv4_mapped is not None:
        return str(address.ipv4_mapped)
    return str(address)


def doe_number(text: str) -> int | None:
    """The number of a DOE subject (``DOE-000042`` → 42), None for any other subject."""
    digits = text.removeprefix(DOE_PREFIX)
    return int(digits) if text.startswith(DOE_PREFIX) and digits.isascii() and digits.isdigit() else None


@dataclass(frozen=True, slots=True)
class SealedBuilds:
    """The proven ``case_built`` SHA-256s per DOE number, and every DOE number a proven event names."""

    built: Mapping[str, frozenset[bytes]]
    known: frozenset[str]
    hold: str = ""  # why no new case may be created in this build ("": none held)

    @classmethod
    def of(cls, history: WorkflowHistory) -> SealedBuilds:
        """From the proven workflow events (events nobody trusted sealed are not in ``history``)."""
        known = frozenset(s for s in history.events if doe_number(s) is not None)
        built = {d: frozenset(p.event.sha256 for p in history.of(d, CASE_BUILT)) for d in known}
        return cls({d: b for d, b in built.items() if b}, known)

    @property
    def highest(self) -> int:
        """The highest DOE number a proven event names (0: none)."""
        return max((doe_number(d) or 0 for d in self.known), default=0)

    def claimant(
        self, infohash: str, ip: str, port: int, first_hit_us: int, other_than: str = ""
    ) -> str | None:
        """The first DOE number (numeric order) but ``other_than`` whose proven ``case_built`` seals this
        identity, normalised (module docstring), or None."""
        for doe in sorted(self.built, key=lambda d: doe_number(d) or 0):
            mine = _sealed(doe, infohash, ip, port, first_hit_us)
            if doe != other_than and not mine.isdisjoint(self.built[doe]):
                return doe
        return None

    def altered(self, rows: Iterable[CaseRow]) -> list[str]:
        """One refusal line per row whose DOE number has a proven ``case_built`` that does not seal the
        row's own identity (its address, port, swarm or first hit edited without the node key)."""
        out = []
        for row in rows:
            shas = self.built.get(row.doe)
            mine = _sealed(row.doe, row.infohash.lower(), row.ip, row.port, row.first_hit_us)
            if shas and mine.isdisjoint(shas):
                out.append(
                    f"{row.doe}: refused: {ROW_MISSING} (the row is not the address, port, swarm and first "
                    "hit its sealed build names: edited without the node key)"
                )
        return out

    def missing(self, rows: Iterable[str]) -> list[str]:
        """One refusal line per DOE number that proven events name but none of ``rows`` (DOE numbers)."""
        present = set(rows)
        return [
            f"{doe}: refused: {ROW_MISSING} (the ledger proves sealed events of {doe} but no case row "
            "carries it: deleted without the node key; no case is built again for the identity it sealed)"
            for doe in sorted(self.known - present, key=lambda d: doe_number(d) or 0)
        ]


def _sealed(doe: str, infohash: str, ip: str, port: int, first_hit_us: int) -> set[bytes]:
    """The ``case_built`` SHA-256s that would seal this identity under ``doe``: the IP as given and as
    :func:`canonical_ip` writes it."""
    ips = {ip, canonical_ip(ip)}
    return {content_sha256(CASE_BUILT, built_content(doe, infohash, a, port, first_hit_us)) for a in ips}


def _case_where(which: int | str) -> sa.ColumnElement[bool]:
    if isinstance(which, int) or which.isdigit():
        number = int(which)
        return legal_case.c.id == number if fits_row_id(number) else sa.false()
    return legal_case.c.doe == which.upper()


def read_case(conn: sa.Connection, which: int | str) -> CaseRow:
    """A case by row id (int or digits) or DOE number. Raises CaseStoreError if absent."""
    row = conn.execute(sa.select(legal_case).where(_case_where(which))).first()
    if row is None:
        raise CaseStoreError(f"case {which!r}: not found")
    return CaseRow(**row._asdict())


def next_doe(conn: sa.Connection, sealed: SealedBuilds | None) -> str:
    """The DOE number after the highest one of the rows (numeric order, :func:`case_rows.doe_order`: a
    text maximum would pick ``DOE-999999`` again after ``DOE-1000000``) and of ``sealed`` (a number whose
    row was deleted is never given again)."""
    highest = [term.desc() for term in statuses.doe_order()]
    last = conn.execute(sa.select(legal_case.c.doe).order_by(*highest).limit(1)).scalar()
    number = max((doe_number(last) or 0) if last else 0, sealed.highest if sealed else 0) + 1
    return f"{DOE_PREFIX}{number:06d}"


@dataclass(frozen=True, slots=True)
class CasePlan:
    """One candidate to create or refresh a case for: the work and ISP ids when known, and the advisory
    region and city at its first hit."""

    candidate: CandidateLike
    work_id: int | None
    isp_id: int | None
    region: str | None
    city: str | None


def upsert_in(
    conn: sa.Connection, plan: CasePlan, now_us: int, sealed: SealedBuilds | None
) -> tuple[CaseRow, bool] | str:
    """(the row, created) of one plan of :func:`swarmscope.store.legal.case_status.upsert_cases` inside
    its transaction ``conn``; or, when no row holds its key and a proven ``case_built`` of ``sealed``
    seals its identity, the refusal naming that DOE number (nothing written)."""
    candidate = plan.candidate
    infohash = candidate.infohash.lower()
    key = (legal_case.c.ip == candidate.ip) & (legal_case.c.infohash == infohash)
    key &= legal_case.c.first_hit_us == candidate.first_hit_us
    row = conn.execute(sa.select(legal_case).where(key)).first()
    if row is None:
        identity = (infohash, candidate.ip, candidate.port, candidate.first_hit_us)
        owner = sealed.claimant(*identity) if sealed is not None else None
        if owner is not None:
            return (
                f"{candidate.ip}:{candidate.port} {infohash}: refused: {ROW_MISSING} (a sealed build of "
                f"{owner} names this address, port, swarm and first hit, but no case row holds them: "
                "deleted or altered without the node key; not built again)"
            )
        twin = _same_address(conn, infohash, candidate.ip, candidate.port)
        if twin is not None and twin.first_hit_us < candidate.first_hit_us:
            return (
                f"{candidate.ip}:{candidate.port} {infohash}: refused: {ROW_MISSING} ({twin.doe}, "
                f"{twin.status}, holds this address, port and swarm from an earlier first hit that is no "
                "longer proven: its observation edited or deleted without the node key; not built again)"
            )
        if twin is not None:  # an earlier hit sealed since (another node's): the case is the same
            return read_case(conn, twin.id), False
        if sealed is not None and sealed.hold:
            return f"{candidate.ip}:{candidate.port} {infohash}: not built: {sealed.hold}"
        return _insert(conn, plan, infohash, now_us, sealed), True
    if row.status == statuses.INITIAL_CASE_STATUS and row.port == candidate.port:
        fresh = {"last_hit_us": max(row.last_hit_us, candidate.last_hit_us)}
        fresh["hits"] = max(row.hits, candidate.hits)
        for name in ("work_id", "isp_id", "region", "city"):
            value = getattr(plan, name)
            if getattr(row, name) is None and value is not None:
                fresh[name] = value
        conn.execute(sa.update(legal_case).where(legal_case.c.id == row.id).values(fresh))
    return read_case(conn, row.id), False


def _same_address(conn: sa.Connection, infohash: str, ip: str, port: int) -> CaseRow | None:
    """The case row (earliest first hit) holding ``infohash``, ``ip`` and ``port`` compared normalised
    (lower-case infohash, :func:`canonical_ip`), whatever its first hit; None when none does."""
    query = sa.select(legal_case).where(sa.func.lower(legal_case.c.infohash) == infohash)
    query = query.where(legal_case.c.port == port).order_by(legal_case.c.first_hit_us)
    wanted = canonical_ip(ip)
    for row in conn.execute(query):
        if canonical_ip(row.ip) == wanted:
            return CaseRow(**row._asdict())
    return None


def _insert(
    conn: sa.Connection, plan: CasePlan, infohash: str, now_us: int, sealed: SealedBuilds | None
) -> CaseRow:
    """Insert the new case of ``plan`` (status ``candidate``) and its first ``case_event``."""
    candidate = plan.candidate
    values: dict[str, Any] = {"doe": next_doe(conn, sealed), "ip": candidate.ip, "port": candidate.port}
    values |= {"infohash": infohash, "work_id": plan.work_id, "isp_id": plan.isp_id}
    values |= {"region": plan.region, "city": plan.city, "first_hit_us": candidate.first_hit_us}
    values |= {"hits": candidate.hits, "last_hit_us": candidate.last_hit_us}
    values |= {"status": statuses.INITIAL_CASE_STATUS, "created_us": now_us, "status_us": now_us}
    case_id = new_id(conn, sa.insert(legal_case).values(values))
    event = {"case_id": case_id, "status": statuses.INITIAL_CASE_STATUS, "at_us": now_us}
    event |= {"actor": statuses.SYSTEM_ACTOR, "note": "passed the thresholds"}
    conn.execute(sa.insert(case_event).values(event))
    return read_case(conn, case_id)
