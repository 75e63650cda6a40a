"""A case's identification, sealed: which disclosure tied a subscriber to the case's address.

The ``subscriber`` row and the case's ``identified`` status are plain rows: someone who can write the
database file and holds the identity key, but lacks the node's key, could store an identity nobody
imported through ``subscribers import`` (its ciphertext is valid: the identity key made it), or delete a
case's identity and set the case back to ``requested``. So ``subscribers import`` seals each case it
identifies with the node's key (``identified``, subject the DOE number, bound to the case:
:func:`swarmscope.cases.sealed_history.bound`), over
:func:`identity_content`: what the ISP disclosed (IP address, port or None, window start and end in UTC
µs), the SHA-256 of the disclosure file, the identity key's id and the SHA-256 of the encrypted identity
as stored (the ``ciphertext`` bytes): the associated data only binds the disclosure, so whoever holds the
identity key could otherwise encrypt another person for the same disclosure and the letter would go to
them. The newest proven identification of a case is the one its subscriber row must equal
(:func:`identity_problem`, "identity altered" otherwise), and a case with one cannot say ``candidate`` or
``requested`` again (:mod:`swarmscope.cases.case_state`).

A case whose stored identity has no proven identification at all is refused, "identity not sealed", as
one sealed before the ciphertext's hash was sealed is ("identity altered"): its row may have been written
by someone holding the identity key but not the node key (an invented person, a letter sent to them), so
it is never judged by its row; importing the ISP's disclosure again (``subscribers import``) re-binds and
seals it.

Source: README "Sealed workflow decisions" and "Identities".
"""

from __future__ import annotations

import hashlib
from typing import Any

from swarmscope.cases.sealed_history import bound, seal_step
from swarmscope.evidence.records import us_to_iso
from swarmscope.store.database import Store
from swarmscope.store.ledger.proven import store_trust
from swarmscope.store.legal import case_status
from swarmscope.store.legal.case_rows import CaseRow
from swarmscope.store.legal.subscribers import SubscriberRow, stored_identity, subscriber_rows
from swarmscope.store.legal.workflow_seals import WorkflowHistory, content_sha256, workflow_history

IDENTIFIED = "identified"
IDENTITY_ALTERED = "identity altered"
NOT_SEALED = "identity not sealed: re-import the disclosure with `subscribers import`"


def identity_content(row: SubscriberRow) -> dict[str, Any]:
    """What an ``identified`` event binds: the disclosure (IP, port, window in UTC µs), the disclosure
    file's SHA-256, the identity key's id and the SHA-256 (hex) of the stored ciphertext bytes."""
    return {"ip": row.ip, "port": row.port, "window_start_us": row.window_start_us,
            "window_end_us": row.window_end_us, "source_sha256": row.source_sha256,
            "key_id": row.key_id,
            "ciphertext_sha256": hashlib.sha256(row.ciphertext).hexdigest()}  # fmt: skip


def seal_identified(store: Store, dois: list[str], now_us: int) -> None:
    """Seal the identification of each case in ``dois`` as its subscriber row stands now.

    Raises:
        StoreError: no signing key, unknown case.
    """
    for doe in dois:
        case = case_status.get_case(store, doe)
        row = stored_identity(store, case.id)
        if row is not None:
            seal_step(store, case, IDENTIFIED, identity_content(row), now_us)


NO_DISCLOSURE_AWAITED = frozenset({"candidate", "withdrawn", "closed"})
"""Statuses (``cases.workflow.CaseStatus`` values) of a case a first import never identifies: a stored
identity of such a case is not re-bound either (the import names the case "no case awaiting disclosure")."""


def unsealed_identities(store: Store) -> frozenset[int]:
    """Ids of the cases whose stored identity no proven identification names (under the store's own node
    key; none while the trusted chains are not whole) and which await a disclosure (not in
    :data:`NO_DISCLOSURE_AWAITED`): ``subscribers import`` re-binds and seals them ("identity not sealed"
    until then), moving a ``requested`` one on to ``identified`` as a first import does."""
    history = workflow_history(store, store_trust(store, None))
    cases = {case.id: case for case in case_status.list_cases(store)}
    return frozenset(
        row.case_id
        for row in subscriber_rows(store)
        if cases[row.case_id].status not in NO_DISCLOSURE_AWAITED
        and history.refusal(cases[row.case_id].doe) is None
        and not history.of(cases[row.case_id].doe, IDENTIFIED)
    )


def identity_problem(history: WorkflowHistory, case: CaseRow, row: SubscriberRow | None) -> str | None:
    """Why ``case``'s stored identity (``row``) is not its newest proven identification (None: it is, or
    the case has neither an identity nor a sealed identification; "identity not sealed" for an identity
    no proven identification names; "ledger incomplete" while the trusted chains are not whole)."""
    incomplete = history.refusal(case.doe)
    if incomplete is not None:
        return incomplete
    sealed = history.latest(case.doe, IDENTIFIED)
    if sealed is None:
        return None if row is None else f"{case.doe}: refused: {NOT_SEALED}"
    why = f"{case.doe}: refused: {IDENTITY_ALTERED}"
    when = us_to_iso(sealed.event.at_us)
    if row is None:
        return f"{why} (the identification sealed at {when} has no identity row)"
    if sealed.event.sha256 != content_sha256(IDENTIFIED, bound(case, identity_content(row))):
        return (
            f"{why} (its identity row, imported {us_to_iso(row.imported_us)} from file sha256 "
            f"{row.source_sha256[:16]}…, is not the identification sealed at {when})"
        )
    return None
