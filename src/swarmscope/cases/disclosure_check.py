"""Whether the identity stored for a case was disclosed for what the case claims, as proven now.

An ISP disclosed a subscriber for one IP address, one port when its row named one, and a window
``[start, end]`` (UTC µs, inclusive): :class:`swarmscope.store.legal.disclosure_match.Disclosed`, stored
beside the identity and authenticated by its ciphertext (:mod:`swarmscope.cases.identities`). A case row
is a plain row; if its address, port or hits are rewritten after the import, a letter would name that
subscriber for someone else's activity. So every step that reads or addresses the identity (letters draft,
preview, approve, send; the litigation list; ``subscribers show``) first re-derives the hits the case
counts from the evidence proven against the sealed ledger (:class:`swarmscope.cases.case_proof.
ProvenCaseHits.counted`, the document gate's own count: the hits on the case's port) and refuses the
case, naming it, the disclosure and the claim, unless

- the case's address is the disclosed one, and its port the disclosed one when the disclosure named one;
- every counted hit is from the disclosed address (and port), and starts inside the disclosed window.

An identity stored before identities were bound to the disclosure cannot be checked and is refused
(:func:`swarmscope.store.legal.subscribers.unbound_message`); one that is not the case's newest sealed
identification is refused as "identity altered" (:mod:`swarmscope.cases.identity_seal`). A case with no
stored identity and no sealed identification passes this check (nothing names anyone; a read of it fails
in :func:`~swarmscope.store.legal.subscribers.read_identity`).

Source: README "Identities" and "Only proven evidence": an identity names the account the ISP assigned
the disclosed address (and port, behind carrier-grade NAT) to during the disclosed window, nothing else.
"""

from __future__ import annotations

from swarmscope.cases.case_proof import CaseClaim, ProvenCaseHits, UnprovenCase
from swarmscope.cases.identities import Identity, IdentityKey
from swarmscope.cases.identity_seal import identity_problem
from swarmscope.evidence.records import us_to_iso
from swarmscope.store.database import Store
from swarmscope.store.ledger.proven import EvidenceTrust, ProvenHit, store_trust
from swarmscope.store.legal import case_status
from swarmscope.store.legal.disclosure_match import Disclosed
from swarmscope.store.legal.subscribers import (
    SubscriberRow,
    read_identity,
    stored_identity,
    unbound_message,
)
from swarmscope.store.legal.workflow_seals import workflow_history


class UndisclosedCase(UnprovenCase):
    """A case whose stored identity was not disclosed for what it claims (the message names both)."""


def _outside(disclosed: Disclosed, hits: list[ProvenHit]) -> list[ProvenHit]:
    return [
        h
        for h in hits
        if h.ip != disclosed.ip
        or (disclosed.port is not None and h.port != disclosed.port)
        or not disclosed.start_us <= h.started_us <= disclosed.end_us
    ]


def disclosure_problem(case: CaseClaim, row: SubscriberRow | None, proof: ProvenCaseHits) -> str | None:
    """Why the identity stored for ``case`` may not be used for it (None: it may; see module docstring)."""
    if row is None:
        return None
    disclosed = row.disclosed
    if disclosed is None:
        return unbound_message(case.doe)
    hits = proof.counted(case)
    claimed = (
        f"{case.ip} port {case.port}, {us_to_iso(case.first_hit_us)} .. {us_to_iso(case.last_hit_us)} "
        f"({case.hits} hits)"
    )
    if hits is None:
        return f"{case.doe}: refused: the proven evidence does not carry what the case claims ({claimed})"
    outside = _outside(disclosed, hits)
    port_ok = disclosed.port is None or disclosed.port == case.port
    if case.ip == disclosed.ip and port_ok and not outside:
        return None
    return (
        f"{case.doe}: refused: its identity was disclosed for {disclosed.describe()}, but the case claims "
        f"{claimed}; {len(outside)} of its proven hits lie outside the disclosure"
    )


def require_disclosed(
    store: Store, case: CaseClaim, trust: EvidenceTrust | None, proof: ProvenCaseHits | None = None
) -> None:
    """Refuse a case whose stored identity was not disclosed for what it claims, as proven now.

    Args:
        trust: node keys and clock (None: the store's own node key and the system clock); unused when
            ``proof`` (the command's proven evidence, shared by its cases) is given.

    Raises:
        UndisclosedCase: naming the case, the disclosure and the claim; or "identity altered": the stored
            identity is not the newest identification sealed for the case
            (:func:`swarmscope.cases.identity_seal.identity_problem`). StoreError: unknown case.
        InputError: no trust and the store has no node key.
    """
    stored = case_status.get_case(store, case.doe)
    row = stored_identity(store, stored.id)
    if proof is None:
        proof = ProvenCaseHits(store, store_trust(store, trust), ips=frozenset({case.ip}))
    # the disclosure first: a case row moved to other hits also unbinds its sealed identification, and
    # naming what was disclosed against what the case claims says why
    problem = disclosure_problem(case, row, proof) if row is not None else None
    if problem is None:
        problem = identity_problem(workflow_history(store, proof.trust), stored, row)
    if problem is not None:
        raise UndisclosedCase(problem)


def read_disclosed_identity(
    store: Store,
    key: IdentityKey,
    case_ref: int | str,
    actor: str,
    now_us: int,
    trust: EvidenceTrust | None = None,
    proof: ProvenCaseHits | None = None,
) -> Identity:
    """:func:`~swarmscope.store.legal.subscribers.read_identity` (audited) after :func:`require_disclosed`.

    Raises:
        UndisclosedCase: before anything is decrypted. StoreError, IdentityError: as ``read_identity``.
    """
    case = case_status.get_case(store, case_ref)
    require_disclosed(store, case, trust, proof)
    return read_identity(store, key, case.id, actor, now_us)
