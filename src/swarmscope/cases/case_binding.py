"""A case row bound to the sealed record of its build: the DOE number is the identity it was built for.

A ``legal_case`` row is an unsealed row. Someone who can write the database file but lacks the node key
could give DOE-000001 (identified, its identity disclosed for its own address) the address, port, interval
and hit count of DOE-000002, or swap the DOE numbers of two rows: the ledger still proves the hits the
row now claims (they are DOE-000002's), so the evidence gate alone would let a notice name the other
address for DOE-000001. So ``cases build`` seals, in the transaction that inserts the case and in one
ledger batch for all the cases it creates, a ``case_built`` workflow event (subject the DOE number) over
what never changes in the row after the build (a re-run refreshes only the hits and last hit, and fills
a missing work, ISP or place, which :func:`swarmscope.cases.case_links.link_problem` judges): DOE number,
infohash, IP, port and first hit (:func:`swarmscope.store.legal.workflow_seals.built_content`).

Every gate that lets a view or a document say "proven" (:meth:`swarmscope.cases.case_proof.CaseProof.
problem`, last, for notices, exhibits, letters, escalations and the litigation list;
:func:`swarmscope.cases.case_views.unproven_cases` for ``cases list``/``show`` and the console) refuses a
case (:func:`binding_problem`) when:

- the newest ``case_built`` of its DOE number proven under the trusted keys does not seal the row's
  identity, or any proven ``case_built``, withdraw/close or escalation of that DOE number is bound to
  another identity ("case identity altered", naming the row's address and, when a case row or a proven hit
  carries it, the sealed one);
- no proven ``case_built`` of it exists ("case not sealed at build"): a case built before builds were
  sealed, or by a store without the node key. Such a row may have been edited without the key since, so
  it is never judged by its row alone. ``cases reseal DOE...`` run with the node key seals the cases
  counsel checked and named, never every such row (a row planted without the key looks the same:
  :func:`swarmscope.cases.case_views.reseal_unbound`), and only a row with NO sealed event bound to
  another identity, whose hits the ledger still proves, and that no other case row shares (same address,
  port and swarm over an overlapping interval: a copy under a new DOE number); an edited row of a case
  with sealed decisions stays refused.

Limits: an identification, letter, payment or dispute event is bound to the case's identity too
(:func:`swarmscope.cases.sealed_history.bound`), but its content needs its own rows to recompute, so those
are judged by their own gates (:mod:`swarmscope.cases.identity_seal`, :mod:`swarmscope.cases.case_state`);
once the row equals its sealed build, an event bound to another identity under the same DOE number cannot
be the node's (DOE numbers are never reused).

Source: README "Only proven evidence" and "Sealed workflow decisions".
"""

from __future__ import annotations

from collections.abc import Iterable
from typing import Protocol

from swarmscope.evidence.records import us_to_iso
from swarmscope.store.legal.workflow_seals import (
    CASE_BUILT,
    CASE_DECISION,
    ESCALATED,
    WorkflowHistory,
    built_content,
    content_sha256,
)

UNBOUND = "case not sealed at build"
REBOUND = "case identity altered"
RESEAL_HINT = "check it, then `cases reseal DOE` with the node key seals its build (if its hits are proven)"
_DECISIONS = ((CASE_DECISION, ("withdraw", "close")), (ESCALATED, ("escalate", "counsel_escalate")))


class CaseIdentity(Protocol):
    """What a ``case_built`` event binds of a case row (``CaseRow`` carries it)."""

    @property
    def doe(self) -> str: ...
    @property
    def infohash(self) -> str: ...
    @property
    def ip(self) -> str: ...
    @property
    def port(self) -> int: ...
    @property
    def first_hit_us(self) -> int: ...


def built_sha256(case: CaseIdentity, doe: str | None = None) -> bytes:
    """The SHA-256 a ``case_built`` event of ``case`` seals (under DOE number ``doe``, default its own)."""
    content = built_content(doe or case.doe, case.infohash, case.ip, case.port, case.first_hit_us)
    return content_sha256(CASE_BUILT, content)


def _own_decisions(case: CaseIdentity) -> dict[str, set[bytes]]:
    """step → the SHA-256s a withdraw/close or escalation of ``case`` seals bound to its identity (the
    shape of :func:`swarmscope.cases.sealed_history.bound`: ``{"case": identity, "event": ...}``)."""
    identity = built_content(case.doe, case.infohash, case.ip, case.port, case.first_hit_us)["case"]
    return {
        step: {content_sha256(step, {"case": identity, "event": e}) for e in events}
        for step, events in _DECISIONS
    }


def foreign_events(history: WorkflowHistory, case: CaseIdentity) -> list[bytes]:
    """The SHA-256s of the proven ``case_built``, withdraw/close and escalation events of ``case``'s DOE
    number that are bound to another identity than its row's, oldest first."""
    own = _own_decisions(case)
    own[CASE_BUILT] = {built_sha256(case)}
    return [
        p.event.sha256
        for step, mine in own.items()
        for p in history.of(case.doe, step)
        if p.event.sha256 not in mine
    ]


def binding_problem(
    history: WorkflowHistory, case: CaseIdentity, known: Iterable[CaseIdentity] = ()
) -> str | None:
    """Why ``case``'s row is not the identity sealed for its DOE number (None: it is; module docstring).

    ``known``: identities (other case rows, proven hits as (ip, port, first hit)) to name the sealed one
    by; unnamed, the refusal says "another address, port, swarm or first hit". "ledger incomplete" is not
    judged here (:meth:`WorkflowHistory.refusal` is, by every caller first).
    """
    doe, here = case.doe, f"{case.ip}:{case.port}"
    newest = history.latest(doe, CASE_BUILT)
    if newest is None:
        why = f"no case_built record of it is sealed by a trusted key; {RESEAL_HINT}"
        return f"{doe}: refused: {UNBOUND} ({why})"
    foreign = foreign_events(history, case)
    if newest.event.sha256 == built_sha256(case) and not foreign:
        return None
    sealed = newest.event.sha256 if newest.event.sha256 != built_sha256(case) else foreign[0]
    other = next((f"{k.ip}:{k.port}" for k in known if built_sha256(k, doe) == sealed), None)
    named = f"{other} (with another first hit or swarm)" if other == here else other
    return (
        f"{doe}: refused: {REBOUND} (its row names {here} from {us_to_iso(case.first_hit_us)}, but sealed "
        f"events of {doe} name {named or 'another address, port, swarm or first hit'}: the row was "
        "changed without the node key)"
    )
