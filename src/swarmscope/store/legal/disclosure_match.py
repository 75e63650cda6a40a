"""Which case a row of an ISP disclosure identifies (README "Identities"); what the row disclosed.

When a disclosure row identifies a case (all must hold, else the row is reported with its line number and
imported never — with ``partial`` only the rows that pass are imported):

1. **Address and time**: same IP address, and the case's hit interval ``[first_hit_us, last_hit_us]``
   overlaps the ISP's window ``[start, end]`` (both inclusive); exactly one such case awaits disclosure
   (status ``requested``, or any status when its stored identity predates the binding to the disclosed
   address: see :data:`Disclosed`), else "ambiguous" / "no case awaiting disclosure".
2. **Port**: when the row has a ``port``, it must equal the case's port (behind carrier-grade NAT one
   address serves several subscribers, told apart by port); a row with another port does not name the case.
3. **No conflict**: no other row of the file names the same case (same IP, window overlapping the case,
   port compatible). Two rows for one case are reported for BOTH lines and neither is imported — which
   subscriber it is is never settled by the order of the file.
4. **Every hit covered**: the window covers every counted hit, i.e. ``start <= first_hit_us`` and
   ``last_hit_us <= end``. A window that covers only some hits is reported ("window covers 1 of 3 hits")
   and not imported: the ISP must confirm the account for the whole interval the case rests on.
5. **Disclosure request**: when the case is named in a disclosure request, that request must be
   ``served``, ``complied`` or ``partially_complied``; ``drafted``, ``contested`` and ``quashed`` requests
   allow no intake (the reason names the request and its status). A case named in no request is judged
   by its status alone (``requested``).
6. The case has no identity yet (or only one stored before identities were bound to the disclosure).

Source: README "Identities" (a disclosure row identifies a case only when its window covers every hit and
the request was served; two rows naming one case are a conflict); carrier-grade NAT for the port.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from typing import TYPE_CHECKING, Generic, TypeVar

from swarmscope.evidence.records import us_to_iso
from swarmscope.store.legal import case_status
from swarmscope.store.legal.case_evidence import verified_observations

if TYPE_CHECKING:
    from swarmscope.store.database import Store
    from swarmscope.store.legal.case_rows import CaseRow

T = TypeVar("T")
IDENTIFIABLE = "requested"  # cases/workflow.py: requested --identify--> identified
INTAKE_REQUEST_STATUSES = frozenset({"served", "complied", "partially_complied"})  # workflow.RequestStatus


@dataclass(frozen=True, slots=True)
class DisclosureRow(Generic[T]):
    """One row of an ISP disclosure: its line, IP, window (UTC µs, inclusive), identity, port (None: any)."""

    line: int
    ip: str
    start_us: int
    end_us: int
    identity: T
    port: int | None = None


@dataclass(frozen=True, slots=True)
class Disclosed:
    """What the ISP disclosed an identity for: IP address, port (None: the row named none), and the window
    ``[start_us, end_us]`` (UTC µs, inclusive) during which the address was assigned to the account.

    The identity ciphertext authenticates all four (:meth:`associated_data`), so none of them can be
    changed without the identity key.
    """

    ip: str
    port: int | None
    start_us: int
    end_us: int

    @classmethod
    def of(cls, row: DisclosureRow[T]) -> Disclosed:
        """What ``row`` disclosed."""
        return cls(row.ip, row.port, row.start_us, row.end_us)

    def associated_data(self, case_id: int) -> bytes:
        """The AES-GCM associated data of an identity sealed for case ``case_id`` on this disclosure."""
        port = "*" if self.port is None else str(self.port)
        text = f"swarmscope subscriber v2 case={case_id} ip={self.ip} port={port} "
        return (text + f"window={self.start_us}..{self.end_us}").encode()

    def describe(self) -> str:
        """``127.0.0.2 port any, 2026-…Z .. 2026-…Z`` (one line, for refusals)."""
        port = "any" if self.port is None else str(self.port)
        return f"{self.ip} port {port}, {us_to_iso(self.start_us)} .. {us_to_iso(self.end_us)}"


def _overlaps(row: DisclosureRow[T], case: CaseRow) -> bool:
    return case.ip == row.ip and case.first_hit_us <= row.end_us and row.start_us <= case.last_hit_us


def _names(row: DisclosureRow[T], case: CaseRow) -> bool:
    """The row names this case: same IP, overlapping window, compatible port."""
    return _overlaps(row, case) and (row.port is None or row.port == case.port)


def claims(rows: Sequence[DisclosureRow[T]], cases: Sequence[CaseRow]) -> dict[int, list[int]]:
    """Case id → lines of the rows that name it (see :func:`_names`)."""
    out: dict[int, list[int]] = {}
    for row in rows:
        for case in cases:
            if _names(row, case):
                out.setdefault(case.id, []).append(row.line)
    return out


def _find_case(
    row: DisclosureRow[T], cases: Sequence[CaseRow], unbound: set[int]
) -> tuple[CaseRow | None, str]:
    """The one case awaiting disclosure that this row names, or None and the reason (``unbound``: ids of
    cases whose stored identity is bound to no disclosure: they await one again, whatever their status)."""
    overlapping = [c for c in cases if _overlaps(row, c)]
    if not overlapping:
        return None, "no case for this IP address in this window"
    named = [c for c in overlapping if _names(row, c)]
    if not named:
        ports = ", ".join(f"{c.doe} port {c.port}" for c in overlapping)
        return None, f"port {row.port} is not the port of the case(s) in this window ({ports})"
    ready = [c for c in named if c.status == IDENTIFIABLE or c.id in unbound]
    if len(ready) > 1:
        return None, "ambiguous: matches " + ", ".join(c.doe for c in ready)
    if not ready:
        states = ", ".join(f"{c.doe} is {c.status}" for c in named)
        return None, f"no case awaiting disclosure ({states})"
    return ready[0], ""


def match_row(
    row: DisclosureRow[T], cases: Sequence[CaseRow], context: MatchContext
) -> tuple[CaseRow | None, str]:
    """The one case this row identifies, or None and the reason (rules in the module docstring)."""
    case, reason = _find_case(row, cases, context.unbound)
    if case is None:
        return None, reason
    lines = context.claims.get(case.id, [])
    if len(lines) > 1:
        listed = ", ".join(str(n) for n in lines)
        return None, (
            f"conflict: lines {listed} all name {case.doe}; two subscribers for one case are never "
            "settled by file order (ask the ISP; neither row is imported)"
        )
    refused = context.request_refusal(case)
    if refused:
        return None, refused
    uncovered = context.coverage_problem(row, case)
    if uncovered:
        return None, uncovered
    if case.id in context.identified and case.id not in context.unbound:
        return None, f"{case.doe} already has an identity"
    return case, ""


class MatchContext:
    """What matching needs beyond the row: claims per case, the cases that have an identity (``unbound``:
    one stored before identities were bound to the disclosure), request statuses, hit times (lazily)."""

    def __init__(
        self, store: Store, claims: dict[int, list[int]], identified: set[int], unbound: set[int]
    ) -> None:
        self.store, self.claims, self.identified, self.unbound = store, claims, identified, unbound
        self._requests: dict[int, str] = {}

    def choose(self, case: CaseRow) -> bool:
        """Record that a row identified ``case``; True when it re-binds an unbound identity."""
        rebind = case.id in self.unbound
        self.identified.add(case.id)
        self.unbound.discard(case.id)
        return rebind

    def request_refusal(self, case: CaseRow) -> str:
        """Empty when the case's disclosure request allows intake, else the reason."""
        if case.request_id is None:
            return ""
        if case.request_id not in self._requests:
            self._requests[case.request_id] = case_status.get_request(self.store, case.request_id).status
        status = self._requests[case.request_id]
        if status in INTAKE_REQUEST_STATUSES:
            return ""
        return (
            f"{case.doe}: disclosure request {case.request_id} is {status}; only a served, complied or "
            "partially complied request allows subscriber intake"
        )

    def coverage_problem(self, row: DisclosureRow[T], case: CaseRow) -> str:
        """Empty when the window covers every counted hit of the case, else how much it covers."""
        if row.start_us <= case.first_hit_us and case.last_hit_us <= row.end_us:
            return ""
        times = _hit_times(self.store, case)
        inside = sum(row.start_us <= t <= row.end_us for t in times)
        if times:
            covers = f"{inside} of {case.hits} hits"
        else:  # the hits cannot be recounted here: say which ends of the interval are covered
            covers = {
                (True, False): "the first hit but not the last",
                (False, True): "the last hit but not the first",
            }.get(
                (row.start_us <= case.first_hit_us, case.last_hit_us <= row.end_us),
                "neither the first nor the last hit",
            ) + f" ({case.hits} hits)"
        return (
            f"window covers {covers} of {case.doe} ({us_to_iso(case.first_hit_us)} .. "
            f"{us_to_iso(case.last_hit_us)}); a disclosure must cover every hit, not imported"
        )


def _hit_times(store: Store, case: CaseRow) -> list[int]:
    """Start times of the case's counted hits, recounted from the sealed verified observations.

    Hits of the case's address and swarm inside ``[first_hit_us, last_hit_us]``, on the case's port when
    that gives exactly ``case.hits`` (hits grouped per port), else on any port when that does; ``[]`` when
    neither recount matches the case (the caller then reports which end of the interval is uncovered).
    """
    found = [
        (o.started_us, o.port)
        for o in verified_observations(store, infohash=case.infohash)
        if o.ip == case.ip and case.first_hit_us <= o.started_us <= case.last_hit_us
    ]
    for times in ([t for t, port in found if port == case.port], [t for t, _ in found]):
        if len(times) == case.hits:
            return sorted(times)
    return []
