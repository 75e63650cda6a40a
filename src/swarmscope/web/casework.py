"""What the workflow pages share: finding a case in the user's scope, the document gate, action errors.

The gate is the CLI's (``swarmscope letters preview/approve``): a case is proven against the sealed ledger
under the node keys the server was started with (``serve --node-key/--trust-key``) and re-judged under the
court-tested thresholds (:data:`swarmscope.cases.document_policy.COURT_TESTED`); the console offers no
option to loosen them. A refused action answers 409 with the workflow's own one-line reason; to a user
bound to one client, a reason naming other rights holders' works says only that there are several.
"""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager

from fastapi import HTTPException

from swarmscope.cases.case_proof import UnprovenCase
from swarmscope.errors import SwarmscopeError
from swarmscope.store.database import Store, StoreError
from swarmscope.store.ledger.proven import EvidenceTrust
from swarmscope.store.ledger.witness_cover import require_heads
from swarmscope.store.legal import case_rows, case_status
from swarmscope.store.metadata import MAX_ROW_ID
from swarmscope.web.accounts import WebUser
from swarmscope.web.deps import now_us
from swarmscope.web.evidence_trust import trusted_fingerprints
from swarmscope.web.scope import check_case
from swarmscope.web.settings import WebSettings

NO_TRUST = (
    "no trusted node key: start 'swarmscope serve' with --node-key (the monitor's key file) or --trust-key, "
    "as the CLI's accusing commands take them"
)


def case_for(store: Store, user: WebUser, doe: str) -> case_rows.CaseRow:
    """The case ``doe`` (DOE number or row id) when it exists and is in the user's scope; 404 otherwise,
    400 for a row id beyond :data:`~swarmscope.store.metadata.MAX_ROW_ID` (what every back end's id
    column holds)."""
    if doe.isascii() and doe.isdigit() and int(doe) > MAX_ROW_ID:
        raise HTTPException(400, f"case {doe[:24]}: not a case number (too large)")
    try:
        case = case_status.get_case(store, doe)
    except StoreError:
        raise HTTPException(404, "no such case") from None
    check_case(store, user, case.id)
    return case


def trust(store: Store, settings: WebSettings) -> EvidenceTrust:
    """The trusted node keys and the clock now, for an action that accuses (a letter preview or approval,
    exhibits, notices); 409 when the server was given no key, or when the database no longer holds the
    chain head witnessed beside the node key file (its tail was truncated or rewritten since: README
    "Chain-head witness"), as the CLI's accusing commands refuse it. Call it inside
    :func:`refused_as_409`, which answers the witness's
    :class:`~swarmscope.store.ledger.head_witness.WitnessError` with its message."""
    if not settings.trusted_keys:
        raise HTTPException(409, NO_TRUST)
    if settings.witness is not None:
        trusted = trusted_fingerprints(settings)
        require_heads(store, (settings.witness, *settings.other_witnesses), trusted, trusted)  # each its own
    return EvidenceTrust(settings.trusted_keys, now_us())


@contextmanager
def refused_as_409(user: WebUser | None = None) -> Iterator[None]:
    """Turn a workflow refusal (any :class:`SwarmscopeError`) into 409 with its one-line message. A
    refusal in parts (:class:`~swarmscope.cases.case_proof.UnprovenCase`'s
    :class:`~swarmscope.cases.refusals.Refusal`) is rendered for ``user``: bound to a client, it reads
    no other rights holder or its works, so a client never learns of another."""
    try:
        yield
    except UnprovenCase as exc:
        client = None if user is None else user.client_id
        raise HTTPException(409, " ".join(exc.refusal.render(client).split())) from None
    except SwarmscopeError as exc:
        raise HTTPException(409, " ".join(str(exc).split())) from None
