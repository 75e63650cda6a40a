"""Disclosure requests to an ISP: start one naming its open candidates, then record each status with its date.

A request moves ``drafted → served → complied | partially_complied | contested | quashed`` by the pure table
:func:`swarmscope.cases.workflow.next_request_status` (run in the store's write transaction). When a request
is served, the candidate cases it names move to ``requested`` (their own workflow event, by the same actor
at the same time). Times are UTC microseconds; ``at_us`` is when a status took effect (e.g. the date a court
ruled), ``now_us`` when it was recorded. The ISP's answer, its disclosure file, identifies the cases it
matches (:func:`record_disclosure`; the matching rules are :func:`swarmscope.store.legal.subscribers.
import_disclosure`'s). Each status of a request and each case it names are sealed with the node's key
(:mod:`swarmscope.cases.request_state`), so starting or moving a request needs it; the cases a request
names when it is served (``exhibits`` links its lines' cases to a drafted request unsealed) are sealed
then.
"""

from __future__ import annotations

from collections.abc import Sequence

from swarmscope.cases.case_actions import move_case
from swarmscope.cases.directory import check_text
from swarmscope.cases.identities import Identity, IdentityKey
from swarmscope.cases.identity_seal import seal_identified, unsealed_identities
from swarmscope.cases.request_state import seal_request_link, seal_request_status
from swarmscope.cases.workflow import CaseEvent, RequestStatus, next_case_status, next_request_status
from swarmscope.errors import InputError
from swarmscope.store.database import Store
from swarmscope.store.legal import case_rows, case_status
from swarmscope.store.legal import cases as legal_cases
from swarmscope.store.legal import subscribers as subscriber_store
from swarmscope.store.legal.disclosure_match import DisclosureRow
from swarmscope.store.legal.workflow_seals import signer

FINAL_REQUEST_STATUSES = ("complied", "quashed")


def start_request(
    store: Store, isp: case_rows.IspRow, region: str | None, at_us: int, actor: str, *, attach: bool
) -> tuple[int, int]:
    """Start a ``drafted`` request to ``isp``; with ``attach`` it names the ISP's candidates not yet in one.

    Returns:
        (request id, number of cases it names).

    Raises:
        InputError: ``region`` holds a control character (it is printed on the request's exhibits).
        StoreError: no signing key (nothing written).
    """
    check_text("--region", region)
    signer(store, "a disclosure request")  # its status and links are sealed: refused before any write
    rid = case_status.add_request(store, isp.id, region, at_us, actor=actor)
    seal_request_status(store, case_status.get_request(store, rid), at_us)
    if attach:
        cases = [
            c
            for c in case_status.list_cases(store, isp_id=isp.id, status="candidate")
            if c.request_id is None
        ]
        case_status.attach_cases(store, rid, [c.id for c in cases])
        for case in cases:
            seal_request_link(store, case, rid, at_us)
    return rid, len(case_status.list_cases(store, request_id=rid))


def open_request(store: Store, isp_id: int) -> int:
    """The ISP's newest request that is not final.

    Raises:
        InputError: none is open.
    """
    rows = case_status.request_rows(store, isp_id=isp_id)
    open_ = [r for r in rows if r.status not in FINAL_REQUEST_STATUSES]
    if not open_:
        raise InputError("no open disclosure request for this ISP (start one with --status drafted)")
    return open_[-1].id


def advance_request(
    store: Store,
    isp: case_rows.IspRow,
    target: RequestStatus,
    *,
    request_id: int | None,
    actor: str,
    note: str | None,
    now_us: int,
    at_us: int | None = None,
) -> case_rows.RequestRow:
    """Record the next status of a request to ``isp`` (``request_id`` None: its newest open one).

    Raises:
        InputError: no open request, or a request to another ISP. WorkflowError: the table refuses the
            move. StoreError: unknown request, no signing key (nothing written).
    """
    rid = request_id if request_id is not None else open_request(store, isp.id)
    if case_status.get_request(store, rid).isp_id != isp.id:
        raise InputError(f"--request {rid}: a request to another ISP")
    next_request_status(case_status.get_request(store, rid).status, target)  # refused before any write
    signer(store, "a disclosure request's status")
    done = case_status.set_request_status(
        store, rid, target, actor, note, now_us, rule=next_request_status, at_us=at_us
    )
    seal_request_status(store, done, now_us)
    if target is RequestStatus.SERVED:  # the cases named to the ISP (an exhibit links them unsealed)
        for case in case_status.list_cases(store, request_id=rid):
            seal_request_link(store, case, rid, now_us)
        for case in case_status.list_cases(store, request_id=rid, status="candidate"):
            move_case(store, case.id, CaseEvent.REQUEST, actor, f"request {rid} served", now_us)
    return done


def record_disclosure(
    store: Store,
    key: IdentityKey,
    rows: Sequence[DisclosureRow[Identity]],
    source_sha256: str,
    *,
    isp: str | None,
    actor: str,
    partial: bool,
    now_us: int,
) -> subscriber_store.ImportReport:
    """Match an ISP's disclosure rows to cases and store the identities encrypted (audited).

    Args:
        rows: the parsed disclosure (:func:`swarmscope.cases.identities.parse_disclosure`, which refuses a
            malformed file before anything is opened). source_sha256: hex SHA-256 of the file
            (:func:`swarmscope.cases.identities.file_sha256`). isp: only match cases of this ISP (name or
            id). partial: import the matched rows even if others do not match.

    Each case identified (or its identity re-bound) is sealed with the node's key
    (:func:`swarmscope.cases.identity_seal.seal_identified`); a stored identity no proven identification
    names (:func:`swarmscope.cases.identity_seal.unsealed_identities`) is re-bound like an unbound one.

    Raises:
        StoreError: unknown ISP, database, no signing key (nothing written).
    """
    isp_id = None if isp is None else legal_cases.get_isp(store, isp).id
    signer(store, "subscribers import")  # each identification is sealed: refused before anything is written
    report = subscriber_store.import_disclosure(
        store, key, rows, source_sha256=source_sha256, actor=actor, now_us=now_us, rule=next_case_status,
        isp_id=isp_id, partial=partial, replaceable=unsealed_identities(store),
    )  # fmt: skip
    seal_identified(store, [doe for _line, doe in report.imported], now_us)
    return report
