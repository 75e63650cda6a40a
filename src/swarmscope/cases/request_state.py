"""A disclosure request's sealed state: which request names a case, and what became of that request.

``legal_case.request_id`` and ``disclosure_request.status`` are plain columns: someone who can write the
database file but lacks the node's key could clear a case's link to a request a court quashed, or set the
quashed request back to ``served``, and a letter would go out on a disclosure the court refused. So
``isps request`` seals, with the node's key, each link of a case to a request when it names it in a new
request and again when the request is served (``request_link``, subject
the DOE number, bound to the case: :func:`swarmscope.cases.sealed_history.bound`, content
``{"request": id}``) and each status of a request (``request_status``, subject ``request:<id>``, content
:func:`request_content`: ISP id, status, the time it took effect in UTC µs).

:func:`request_problem` reads them as PROVEN under the trusted keys: a case with a sealed link must still
name the newest request it was sealed to; that request's row (status and its time) must be the newest
status sealed for it ("request status altered" otherwise); and a quashed or contested request stops every
letter. Links and statuses recorded before they were sealed are judged by their columns, as before.

Source: README "Sealed workflow decisions"; the request statuses of :mod:`swarmscope.cases.workflow`.
"""

from __future__ import annotations

from typing import Any

from swarmscope.cases.sealed_history import REQUEST_LINK, REQUEST_STATUS, bound, seal_step
from swarmscope.store.database import Store
from swarmscope.store.legal import case_status
from swarmscope.store.legal.case_rows import CaseRow, CaseStoreError, RequestRow
from swarmscope.store.legal.workflow_seals import WorkflowHistory, content_sha256, seal_decision

BLOCKING_REQUEST_STATUSES = ("quashed", "contested")


def request_content(row: RequestRow) -> dict[str, Any]:
    """What a ``request_status`` event binds: the request's ISP, status and when it took effect (UTC µs)."""
    return {"isp": row.isp_id, "status": row.status, "at_us": row.status_us}


def seal_request_status(store: Store, row: RequestRow, now_us: int) -> None:
    """Seal ``row``'s status as stored now. Raises StoreError: no signing key."""
    seal_decision(store, f"request:{row.id}", REQUEST_STATUS, request_content(row), now_us)


def seal_request_link(store: Store, case: CaseRow, request_id: int, now_us: int) -> None:
    """Seal that ``case`` is named in request ``request_id``. Raises StoreError: no signing key."""
    seal_step(store, case, REQUEST_LINK, {"request": request_id}, now_us)


def _linked(history: WorkflowHistory, case: CaseRow, requests: list[RequestRow]) -> list[int] | None:
    """The request ids ``case``'s proven links name, newest last (None: no link of it is sealed)."""
    proven = sorted(history.of(case.doe, REQUEST_LINK), key=lambda p: (p.event.at_us, p.index))
    if not proven:
        return None
    ids = {content_sha256(REQUEST_LINK, bound(case, {"request": r.id})): r.id for r in requests}
    return [ids.get(p.event.sha256, -1) for p in proven]


def request_problem(store: Store, history: WorkflowHistory, case: CaseRow) -> str | None:
    """Why no letter may be drafted, approved or sent for ``case`` on its disclosure request (module
    docstring), or None."""
    doe = case.doe
    requests = case_status.request_rows(store)
    linked = _linked(history, case, requests)
    if linked is not None and linked[-1] == -1:
        return (
            f"{doe}: refused: its sealed request link names a request that is gone or another case identity"
        )
    if linked is not None and case.request_id != linked[-1]:
        return (
            f"{doe}: refused: request link altered (it names request {case.request_id}; "
            f"the node sealed it to request {linked[-1]})"
        )
    if case.request_id is None:
        return None
    try:
        request = case_status.get_request(store, case.request_id)
    except CaseStoreError:
        return f"{doe}: refused: its disclosure request {case.request_id} is gone"
    sealed = history.latest(f"request:{request.id}", REQUEST_STATUS)
    if sealed is not None and sealed.event.sha256 != content_sha256(REQUEST_STATUS, request_content(request)):
        return (
            f"{doe}: refused: request status altered (disclosure request {request.id} says "
            f"{request.status!r}, not the newest status the node sealed for it)"
        )
    if request.status in BLOCKING_REQUEST_STATUSES:
        return (
            f"{doe}: disclosure request {request.id} is {request.status}; no letter may be drafted, "
            "approved or sent on it"
        )
    return None
