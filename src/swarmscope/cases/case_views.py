"""Whether the views counsel decides from may present a case row as evidence: ``cases list``/``show``, the
console's board and case page.

A ``legal_case`` row is an unsealed row: whoever can write the database file can plant one for an address
that never served a byte, or edit its hits or interval. The documents refuse such a case through the case
proof (:class:`swarmscope.cases.case_proof.CaseProof`); the views mark it instead, with the same ledger
check (:meth:`swarmscope.cases.case_proof.ProvenCaseHits.ledger_problem`: the case's hits are exactly the
proven verified hits of its address and port inside its interval, and no refused row lies there). A row
whose work, ISP, region or city do not follow from the proven attribution and the checked work links
(:func:`swarmscope.cases.case_links.link_problem`, as the documents judge it) is marked too, naming no
work or ISP (a row moved to another client's work must not show that client the first one's). The
threshold re-judgement stays with the documents, which judge it under their own command's policy. A row
that is not the identity sealed at its build (an address moved between cases, DOE
numbers swapped, or a case built before builds were sealed) is marked, naming the sealed address when a case
row or a proven hit of the swarm carries it (:func:`swarmscope.cases.case_binding.binding_problem`). The
case's status column is an unsealed row too: one edited without the key (a
withdrawn case put back to ``identified``) is marked with the check every document runs
(:func:`swarmscope.cases.case_state.status_problem`: "status altered", or "ledger incomplete" while a
trusted chain is not whole).

Cost: one :class:`~swarmscope.cases.case_proof.ProvenCaseHits` per request, so each swarm's proven rows
are read and checked once for all the cases shown (as ``exhibits`` does), restricted to the shown cases'
addresses when they are few.

Source: README "Only proven evidence" (nothing that can accuse rests on a row the ledger does not prove).
"""

from __future__ import annotations

from collections.abc import Iterable, Iterator, Sequence
from typing import NamedTuple

from swarmscope.cases.case_binding import REBOUND, CaseIdentity, binding_problem, built_sha256, foreign_events
from swarmscope.cases.case_links import link_problem
from swarmscope.cases.case_proof import UNLINKED, ProvenCaseHits
from swarmscope.cases.case_state import status_problem
from swarmscope.cases.directory_proof import DirectoryProof
from swarmscope.cases.work_links import TorrentChecks
from swarmscope.evidence.records import WorkflowEvent
from swarmscope.store.database import Store
from swarmscope.store.ledger.proven import EvidenceTrust
from swarmscope.store.ledger.proven_records import ProvenAttributions, proven_attributions
from swarmscope.store.legal import case_status
from swarmscope.store.legal.case_create import SealedBuilds, canonical_ip
from swarmscope.store.legal.case_rows import CaseRow
from swarmscope.store.legal.workflow_seals import (
    CASE_BUILT,
    WorkflowHistory,
    seal_batch,
    signer,
    workflow_history,
)

NO_TRUST = "no trusted node key to prove it against (pass --node-key or --trust-key)"
FEW_ADDRESSES = 256  # up to this many addresses, read only their rows; else every row of each swarm


def _reason(doe: str, text: str) -> str:
    """The refusal without its ``<DOE>: refused:`` lead (the view already names the case)."""
    lead = f"{doe}: refused: "
    return text[len(lead) :] if text.startswith(lead) else text


def unproven_cases(store: Store, trust: EvidenceTrust | None, cases: Sequence[CaseRow]) -> dict[str, str]:
    """Why each case the ledger does not carry is not proven: ``{DOE number: reason}`` (proven cases are
    absent): its hits (:meth:`ProvenCaseHits.ledger_problem`), else its status against its sealed
    decisions (:func:`status_problem`). ``trust`` None (no trusted node key): every case, with
    :data:`NO_TRUST`."""
    if trust is None:
        return {case.doe: NO_TRUST for case in cases}
    if not cases:
        return {}
    ips = {case.ip for case in cases}
    proof = ProvenCaseHits(store, trust, ips=frozenset(ips) if len(ips) <= FEW_ADDRESSES else None)
    history = workflow_history(store, trust)
    links = _Links(store, trust, ips)
    out: dict[str, str] = {}
    for case in cases:
        why = proof.ledger_problem(case) or status_problem(history, case) or binding_problem(history, case)
        if why is not None and REBOUND in why:  # name the sealed address (rare: read what may carry it)
            why = binding_problem(history, case, _known(store, trust, case.infohash)) or why
        if why is None and links.problem(case):
            why = UNLINKED  # no work, ISP or place named: the row may now carry another client's
        if why is not None:
            out[case.doe] = _reason(case.doe, why)
    return out


class _Links:
    """The work/ISP/place check of the documents (:func:`swarmscope.cases.case_links.link_problem`) for a
    view: the proven attributions of the shown addresses read once, each torrent's work link checked once."""

    def __init__(self, store: Store, trust: EvidenceTrust, ips: set[str]) -> None:
        self.store, self.trust, self.ips = store, trust, ips
        self.checks, self.directory = TorrentChecks(store, trust), DirectoryProof(store, trust)
        self._attributions: ProvenAttributions | None = None

    def problem(self, case: CaseRow) -> bool:
        """True when the case row's work, ISP, region or city do not follow from the proven inputs."""
        if self._attributions is None:
            self._attributions = proven_attributions(self.store, self.trust, self.ips)
        return link_problem(self.store, case, self._attributions, self.checks, self.directory) is not None


def _known(store: Store, trust: EvidenceTrust, infohash: str) -> Iterator[CaseIdentity]:
    """The identities a rebound case's sealed build may name: every case row, then each proven hit of the
    swarm as a first hit (one read of the swarm's proven rows, only for a refused case)."""
    yield from case_status.list_cases(store)
    for hit in ProvenCaseHits(store, trust).evidence(infohash).hits:
        yield _Known("", infohash, hit.ip, hit.port, hit.started_us)


class _Known(NamedTuple):
    doe: str
    infohash: str
    ip: str
    port: int
    first_hit_us: int


def reseal_unbound(
    store: Store, trust: EvidenceTrust, now_us: int, does: Sequence[str]
) -> dict[str, str | None]:
    """Seal ``case_built`` (one batch, UTC µs ``now_us``) for each case of ``does`` (DOE numbers counsel
    checked and named: never every row, since a row planted without the key looks just like a case built
    before builds were sealed) that has NO proven ``case_built`` under ``trust``, no proven withdraw/close or
    escalation bound to another identity, whose hits the ledger proves now
    (:meth:`ProvenCaseHits.ledger_problem`), whose address, port and swarm no other case row shares
    over an overlapping interval (compared normalised: an upper-cased infohash or a v4-mapped IP is the
    same), and that no proven ``case_built`` of another DOE number names with any proven hit of its port
    as first hit (a row copied under a new DOE number, e.g. of a withdrawn case, its original row deleted
    or not, is never sealed; cost one SHA-256 per such hit and sealed DOE number). Returns ``{DOE: None
    (sealed) or why not}``. Nothing is sealed while the history is incomplete, nor when the store's key is
    not in ``trust`` (its seal would prove nothing). Source: :mod:`swarmscope.cases.case_binding` (cases
    built before builds were sealed).

    Raises:
        StoreError: the store holds no signing key (nothing written).
    """
    node = signer(store, "sealing case builds")
    if node.fingerprint.lower() not in {f.lower() for f in trust.fingerprints}:
        return {
            doe: "the signing key is not among the trusted keys: its seal would prove nothing" for doe in does
        }
    history, rows = workflow_history(store, trust), case_status.list_cases(store)
    by_doe = {c.doe: c for c in rows}
    out: dict[str, str | None] = {doe: _reseal_refusal(history, rows, by_doe.get(doe), doe) for doe in does}
    chosen = [by_doe[doe] for doe, why in out.items() if why is None]
    if chosen:
        proof = ProvenCaseHits(store, trust, ips=frozenset(c.ip for c in chosen))
        builds = SealedBuilds.of(history)
        for case in chosen:  # any proven hit of its port may be the first hit a twin's build sealed
            firsts = sorted({h.started_us for h in proof.hits(case) if h.port == case.port})
            out[case.doe] = proof.ledger_problem(case) or _sealed_twin(builds, case, firsts)
    sealed = [by_doe[doe] for doe, why in out.items() if why is None]
    if sealed:
        events = [WorkflowEvent(c.doe, CASE_BUILT, now_us, built_sha256(c)) for c in sealed]
        seal_batch(store, "sealing case builds", events)
    return out


def _reseal_refusal(
    history: WorkflowHistory, rows: Sequence[CaseRow], case: CaseRow | None, doe: str
) -> str | None:
    """Why ``case`` (DOE ``doe``) may not have its build sealed now, before its hits are checked: a twin
    row compares normalised (lower-case infohash, :func:`canonical_ip`), and a proven ``case_built`` of
    another DOE number sealing its identity is a twin too (its row may have been deleted)."""
    if case is None:
        return "no such case"
    if (why := history.refusal(doe)) is not None:
        return why
    if history.latest(doe, CASE_BUILT) is not None:
        return "its build is sealed already"
    if foreign_events(history, case):
        return "sealed events of its DOE number are bound to another identity"
    here = _place(case)
    twin = next(
        (
            o.doe
            for o in rows
            if o.doe != doe
            and _place(o) == here
            and o.first_hit_us <= case.last_hit_us
            and case.first_hit_us <= o.last_hit_us
        ),
        None,
    )
    if twin is not None:
        return f"{twin} has the same address, port and swarm over an overlapping interval"
    return _sealed_twin(SealedBuilds.of(history), case, (case.first_hit_us,))


def _place(case: CaseIdentity) -> tuple[str, str, int]:
    """(infohash lower-case hex, canonical IP, port): what two rows of one address and swarm share."""
    return case.infohash.lower(), canonical_ip(case.ip), case.port


def _sealed_twin(builds: SealedBuilds, case: CaseRow, firsts: Iterable[int]) -> str | None:
    """Why ``case`` is refused when a proven ``case_built`` of another DOE number seals its address, port
    and swarm with a first hit among ``firsts`` (UTC µs), or None."""
    for first in firsts:
        owner = builds.claimant(case.infohash, case.ip, case.port, first, other_than=case.doe)
        if owner is not None:
            return f"the sealed build of {owner} names the same address, port and swarm (first hit {first})"
    return None


def unbound_cases(store: Store, trust: EvidenceTrust) -> list[str]:
    """The DOE numbers of the cases with no proven ``case_built`` under ``trust`` (oldest first)."""
    history = workflow_history(store, trust)
    return [c.doe for c in case_status.list_cases(store) if history.latest(c.doe, CASE_BUILT) is None]
