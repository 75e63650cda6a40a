"""Dispute and payment entry: :func:`swarmscope.cases.case_actions.record_dispute` and
:func:`swarmscope.cases.payments.record_payment`, the actions behind ``swarmscope disputes record`` and
``swarmscope payments record``, with their gates (a dispute stops and voids unsent letters; a payment must
name the RF reference of a letter sent for the case). Counsel and admin only; times are ISO 8601 (UTC
unless an offset is given) or empty for now, range-checked as the CLI checks them
(:mod:`swarmscope.cases.received`); amounts are decimals with at most two places. Bad input answers 400,
a workflow refusal 409.
"""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import asdict
from typing import Annotated, Any

from fastapi import APIRouter, Depends, Form, HTTPException
from fastapi.responses import RedirectResponse
from pydantic import BaseModel, ConfigDict

from swarmscope.cases.case_actions import record_dispute
from swarmscope.cases.letter_settings import parse_amount
from swarmscope.cases.payments import record_payment
from swarmscope.cases.received import parse_received
from swarmscope.errors import InputError, SwarmscopeError
from swarmscope.store.database import Store
from swarmscope.web.accounts import WebUser
from swarmscope.web.casework import case_for
from swarmscope.web.deps import StoreDep, UserDep, csrf_protect, now_us, require
from swarmscope.web.roles import Role

router = APIRouter()
COUNSEL_CHANGE = [Depends(require(Role.COUNSEL)), Depends(csrf_protect)]


class Dispute(BaseModel):
    """A JSON dispute. An unknown field is refused (400 naming it): a misspelt ``recieved`` would
    otherwise be dropped and the entry sealed with the request's time (pydantic ``extra="forbid"``)."""

    model_config = ConfigDict(extra="forbid")
    summary: str
    received: str | None = None


class Payment(BaseModel):
    """A JSON payment; an unknown field is refused (400 naming it), as in :class:`Dispute`."""

    model_config = ConfigDict(extra="forbid")
    amount: str
    reference: str
    currency: str | None = None
    received: str | None = None
    method: str | None = None


@contextmanager
def refused() -> Iterator[None]:
    """Bad input (an amount, a reference, a received time: :class:`InputError`) answers 400; a workflow
    refusal (the case cannot be paid or disputed in its status) 409; each with its one-line message."""
    try:
        yield
    except InputError as exc:
        raise HTTPException(400, " ".join(str(exc).split())) from None
    except SwarmscopeError as exc:
        raise HTTPException(409, " ".join(str(exc).split())) from None


def _dispute(store: Store, user: WebUser, doe: str, body: Dispute) -> dict[str, Any]:
    case, now = case_for(store, user, doe), now_us()
    with refused():
        received = parse_received(body.received, now)
        row = record_dispute(store, case.doe, body.summary, received_us=received, actor=user.name, now_us=now)
    return asdict(row)


def _payment(store: Store, user: WebUser, doe: str, body: Payment) -> dict[str, Any]:
    case, now = case_for(store, user, doe), now_us()
    with refused():
        row, status = record_payment(
            store, case.doe, parse_amount(body.amount), body.reference, currency=body.currency or None,
            received_us=parse_received(body.received, now), method=body.method or None, actor=user.name,
            now_us=now,
        )  # fmt: skip
    return {**asdict(row), "case_status": status}


@router.post("/api/cases/{doe}/dispute", dependencies=COUNSEL_CHANGE)
def api_dispute(doe: str, body: Dispute, store: StoreDep, user: UserDep) -> dict[str, Any]:
    """Record a dispute: unsent letters are voided, the case moves to disputed."""
    return _dispute(store, user, doe, body)


@router.post("/api/cases/{doe}/payment", dependencies=COUNSEL_CHANGE)
def api_payment(doe: str, body: Payment, store: StoreDep, user: UserDep) -> dict[str, Any]:
    """Record a payment against a sent letter's RF reference; the case moves to paid when covered."""
    return _payment(store, user, doe, body)


@router.post("/cases/{doe}/dispute", dependencies=COUNSEL_CHANGE)
def dispute_form(
    doe: str, summary: Annotated[str, Form()], store: StoreDep, user: UserDep,
    received: Annotated[str, Form()] = "",
) -> RedirectResponse:  # fmt: skip
    """The dispute form; back to the case."""
    _dispute(store, user, doe, Dispute(summary=summary, received=received))
    return RedirectResponse(f"/cases/{case_for(store, user, doe).doe}", status_code=303)


@router.post("/cases/{doe}/payment", dependencies=COUNSEL_CHANGE)
def payment_form(
    doe: str, amount: Annotated[str, Form()], reference: Annotated[str, Form()], store: StoreDep,
    user: UserDep, currency: Annotated[str, Form()] = "", received: Annotated[str, Form()] = "",
    method: Annotated[str, Form()] = "",
) -> RedirectResponse:  # fmt: skip
    """The payment form (amount, reference, currency, received, method); back to the case."""
    body = Payment(amount=amount, reference=reference, currency=currency, received=received, method=method)
    _payment(store, user, doe, body)
    return RedirectResponse(f"/cases/{case_for(store, user, doe).doe}", status_code=303)
