"""Whether a stored case still rests on proven evidence: the gate of every document that can accuse.

A case row says "``hits`` verified hits from ``ip:port`` in swarm ``infohash``, ``first_hit_us`` ..
``last_hit_us``" (UTC µs). Exhibits, ACNS notices, letters (draft, preview, approve, send) and the
litigation list repeat that claim, so each of them first re-derives it from the evidence proven against
the sealed ledger under the trusted node keys (:func:`swarmscope.store.ledger.proven.
proven_observations`) and refuses the case, naming it and why, when:

- a verified-tier row of the case's address, port and swarm, dated (as the row claims) inside the case's
  interval, is refused (altered, invented, sealed by an untrusted key, dated after its seal, not sealed) —
  a duplicate of a proven record or capture is not a reason (it never counted), nor is a row dated
  outside the interval (it is not one of the case's hits; one moved out of it changes the recount);
- the proven hits inside ``[first_hit_us, last_hit_us]`` on the case's port are not exactly ``hits`` in
  number with the case's first and last hit times (refused rows of the address inside the interval, on
  any port, are named with it: a row whose port was edited no longer counts for the case). Hits of other
  ports never count: ``cases build`` groups by address AND port (carrier-grade NAT puts several
  subscribers behind one IP, :mod:`swarmscope.cases.thresholds`), so a case's port must be the port of
  its proven hits, and the refusal names the ports the address's proven hits are on;

- ALL proven hits of the case's group (address and port), not only those inside
  its interval, re-judged with proven inputs only under the DOCUMENT's threshold policy (a required
  :class:`swarmscope.cases.document_policy.DocumentPolicy`: the command's own thresholds, which the
  unsealed build note may tighten but never loosen; clock flags from the node's sealed clock records,
  attribution flags from the sealed attributions, hit count and span:
  :class:`swarmscope.cases.case_recheck.Rejudge`), no longer make it a candidate;
- its ``work_id``, ``isp_id``, ``region`` or ``city`` (plain columns a document states) differ from what
  the work/torrent links and the proven attribution at its first hit give
  (:func:`swarmscope.cases.case_links.link_problem`: the refusal names the column and both values), or
  the ISP or work entry it names is not the one the node sealed (``isps add``/``works add``);
- its row is not the identity (DOE number, infohash, address, port, first hit) sealed when ``cases build``
  made it, or a sealed decision of its DOE number is bound to another identity, or no build of it is
  sealed (:mod:`swarmscope.cases.case_binding`): its hits may be proven, but they are another case's.

Source: the sealed ledger (:mod:`swarmscope.store.ledger.proven`); a notice or letter may state only
what the evidence carries.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Protocol, TypeVar

from swarmscope.cases.case_binding import binding_problem
from swarmscope.cases.case_links import link_problem
from swarmscope.cases.case_recheck import Rejudge
from swarmscope.cases.directory_proof import DirectoryProof
from swarmscope.cases.document_policy import DocumentPolicy
from swarmscope.cases.refusals import Refusal
from swarmscope.cases.work_links import TorrentChecks
from swarmscope.errors import SwarmscopeError
from swarmscope.evidence.records import us_to_iso
from swarmscope.store.database import Store
from swarmscope.store.ledger.proven import (
    EvidenceTrust,
    ProvenEvidence,
    ProvenHit,
    proven_observations,
    store_trust,
)
from swarmscope.store.legal import case_status
from swarmscope.store.legal.case_rows import CandidateLike, CaseRow


class CaseClaim(CandidateLike, Protocol):
    """What a case claims: a candidate's address, swarm, hits and interval, under its DOE number.

    ``CaseRow``, ``CaseDocument`` and ``CaseFacts`` all carry it.
    """

    @property
    def doe(self) -> str: ...


C = TypeVar("C", bound=CaseClaim)


# then, in brackets, link_problem's reason (a column and both values, a gone reference, two rights holders)
UNLINKED = "its ISP, place or work do not follow from the sealed attribution and the checked work links"


class UnprovenCase(SwarmscopeError):
    """A case whose claim the proven evidence no longer carries (the message names it and why).

    ``refusal``: the reason in parts (:mod:`swarmscope.cases.refusals`), for a front end to render for
    its reader; the message is its whole text.
    """

    def __init__(self, why: str | Refusal) -> None:
        self.refusal = why if isinstance(why, Refusal) else Refusal.of(why)
        super().__init__(str(self.refusal))


class ProvenCaseHits:
    """Proven evidence per swarm, read once per command and shared by its cases (no judgement)."""

    def __init__(self, store: Store, trust: EvidenceTrust, *, ips: frozenset[str] | None = None) -> None:
        """``ips``: read only these addresses' rows (one case: its IP), else every row of each swarm."""
        self.store, self.trust, self.ips = store, trust, ips
        self._swarms: dict[str, ProvenEvidence] = {}

    def evidence(self, infohash: str) -> ProvenEvidence:
        """The proven and refused verified-tier rows of one swarm (cached)."""
        key = infohash.lower()
        if key not in self._swarms:
            self._swarms[key] = proven_observations(
                self.store, self.trust.fingerprints, self.trust.now_us, infohash=key, ips=self.ips
            )
        return self._swarms[key]

    def hits(self, case: CaseClaim) -> list[ProvenHit]:
        """The proven hits of the case's address in its swarm (any port), oldest first."""
        found = [h for h in self.evidence(case.infohash).hits if h.ip == case.ip]
        return sorted(found, key=lambda h: (h.started_us, h.observation_id))

    def counted(self, case: CaseClaim) -> list[ProvenHit] | None:
        """The proven hits the case counts: those on its port inside ``[first_hit_us, last_hit_us]``, when
        they are exactly ``hits`` from its first to its last hit; None when they are not (its claim is not
        proven). A case's port is always the port of its hits (groups are per address and port, carrier-grade
        NAT: :mod:`swarmscope.cases.thresholds`)."""
        chosen = [
            h
            for h in self.hits(case)
            if h.port == case.port and case.first_hit_us <= h.started_us <= case.last_hit_us
        ]
        ends = (chosen[0].started_us, chosen[-1].started_us) if chosen else None
        return chosen if len(chosen) == case.hits and ends == (case.first_hit_us, case.last_hit_us) else None

    def ledger_problem(self, case: CaseClaim) -> str | None:
        """Why the ledger does not carry the case's hits (None: it does): a refused verified-tier row of its
        address and port inside its interval, or proven hits on its port inside ``[first_hit_us,
        last_hit_us]`` that are not exactly ``hits`` from its first to its last hit (the module docstring's
        first two rules; no threshold or link is judged here: :class:`CaseProof` adds those)."""
        nearby = [
            r
            for r in self.evidence(case.infohash).refused
            if r.ip == case.ip and not r.duplicate and case.first_hit_us <= r.started_us <= case.last_hit_us
        ]
        rows = "; ".join(r.describe() for r in nearby)
        if any(r.port == case.port for r in nearby):
            return f"{case.doe}: refused: rows behind it fail the ledger check ({rows})"
        if self.counted(case) is not None:
            return None
        inside = [h for h in self.hits(case) if case.first_hit_us <= h.started_us <= case.last_hit_us]
        times = [h.started_us for h in inside if h.port == case.port]
        ports = sorted({h.port for h in inside if h.port != case.port})
        on_port = [h.started_us for h in self.hits(case) if h.port == case.port]
        return (
            f"{case.doe}: refused: {_recount(case, on_port, times)} (its rows changed since it was built)"
            + (
                f"; the address's proven hits in it are on port(s) {', '.join(map(str, ports))}: a case's "
                "port must be the port of its proven hits"
                if ports
                else ""
            )
            + (f"; refused rows of this address: {rows}" if rows else "")
        )


class CaseProof(ProvenCaseHits):
    """The document gate: proven evidence per swarm, and the document command's threshold policy."""

    def __init__(
        self,
        store: Store,
        trust: EvidenceTrust,
        policy: DocumentPolicy,
        *,
        ips: frozenset[str] | None = None,
    ) -> None:
        """``policy``: the document command's thresholds (required; the build note only tightens them)."""
        super().__init__(store, trust, ips=ips)
        self.policy = policy
        self._rejudge = Rejudge(store, trust, policy)
        self._checks = TorrentChecks(store, trust)
        self.directory = DirectoryProof(store, trust)

    def problem(self, case: CaseClaim) -> str | Refusal | None:
        """Why ``case`` may not be carried by a document (None: its claim is proven)."""
        why = self.ledger_problem(case)
        if why is not None:
            return why
        return self._rejudged(case, [h for h in self.hits(case) if h.port == case.port])

    def _rejudged(self, case: CaseClaim, hits: list[ProvenHit]) -> str | Refusal | None:
        """Why the case's group (ALL proven hits of its address and port, in or out of its interval) no
        longer passes the thresholds this document applies (its own, tightened by the build note:
        :mod:`swarmscope.cases.document_policy`): ``cases build`` judges the whole group, and one
        clock-flagged hit excludes the address (:mod:`swarmscope.cases.thresholds`), so a case row
        narrowed to skip a flagged hit is still refused."""
        why = self._rejudge.problem(case.doe, case.port, hits)
        if why is None:
            return self._unlinked(case) or self._unbound(case)
        return f"{case.doe}: refused: on the proven evidence it no longer passes its thresholds ({why})"

    def _unlinked(self, case: CaseClaim) -> Refusal | None:
        """Why the case row's work, ISP, region or city do not follow from the proven inputs (the row as
        stored now: documents state these columns; :func:`~swarmscope.cases.case_links.link_problem`)."""
        row = case if isinstance(case, CaseRow) else case_status.get_case(self.store, case.doe)
        attributions = self._rejudge.attributions_of(case.ip)
        why = link_problem(self.store, row, attributions, self._checks, self.directory)
        if why is None:
            return None
        return Refusal.of(f"{case.doe}: refused: {UNLINKED} (", why, ")", doe=case.doe)

    def _unbound(self, case: CaseClaim) -> str | None:
        """Why the case's row is not the identity sealed when its DOE number was built, or a sealed event of
        that DOE number is bound to another (:func:`swarmscope.cases.case_binding.binding_problem`)."""
        history = self.directory.history
        return history.refusal(case.doe) or binding_problem(history, case)

    def require(self, case: CaseClaim) -> None:
        """Raise :class:`UnprovenCase` naming ``case`` when :meth:`problem` finds one."""
        problem = self.problem(case)
        if problem is not None:
            raise UnprovenCase(problem)

    def split(self, cases: Sequence[C]) -> tuple[list[C], list[tuple[str, str]]]:
        """(cases whose claim is proven, [(DOE number, why) for the others])."""
        kept: list[C] = []
        refused: list[tuple[str, str]] = []
        for case in cases:
            problem = self.problem(case)
            if problem is None:
                kept.append(case)
            else:
                refused.append((case.doe, str(problem)))
        return kept, refused


def _recount(case: CaseClaim, on_port: list[int], times: list[int]) -> str:
    """What the proven hits contradict, naming the case's field: ``on_port`` are the start times (UTC µs) of
    the proven hits on its port, ``times`` those inside its interval (oldest first). A stated first or last
    hit time no proven hit on its port started at is named, and so is one that leaves proven hits out of
    a short interval (an edited ``first_hit_us``/``last_hit_us``); then a count that differs from ``hits``."""
    where = f"{case.ip}:{case.port}"
    short = len(times) < case.hits
    wrong = []
    for name, stated, at, outside in (
        ("first_hit_us", case.first_hit_us, 0, [t for t in on_port if t < case.first_hit_us]),
        ("last_hit_us", case.last_hit_us, -1, [t for t in on_port if t > case.last_hit_us]),
    ):
        if on_port and stated not in on_port:
            inside = f" (the {name[:-7]} in its interval is {us_to_iso(times[at])})" if times else ""
            wrong.append(
                f"its {name} {us_to_iso(stated)} is not the time of a proven hit from {where}{inside}"
            )
        elif short and outside:
            nearest = us_to_iso(outside[-1] if at == 0 else outside[0])
            wrong.append(f"its {name} {us_to_iso(stated)} leaves out proven hit(s) from {where} ({nearest})")
    if len(times) != case.hits:
        wrong.append(
            f"the proven evidence shows {len(times)} verified hit(s) from {where} in its "
            f"interval, not the {case.hits} the case states"
        )
    return "; ".join(wrong)


def require_proven(
    store: Store, case: CaseClaim, trust: EvidenceTrust | None, policy: DocumentPolicy
) -> None:
    """Refuse one case whose claim the evidence proven against the sealed ledger no longer carries.

    Args:
        trust: node keys and clock (None: the store's own node key and the system clock).
        policy: the document command's thresholds (the case's build note only tightens them).

    Raises:
        UnprovenCase: naming the case and why. InputError: no trust and the store has no node key.
    """
    CaseProof(store, store_trust(store, trust), policy, ips=frozenset({case.ip})).require(case)
