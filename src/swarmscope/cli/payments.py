"""``swarmscope payments record DOE --amount 450.00 --reference REF [--received ISO]``: money received.

The reference must be the RF creditor reference of a letter *sent* for that case (its check digits are
verified first, so a typing mistake is named as such); the currency must be the letter's. The claim is the
amount of the case's first letter. Behaviour by total received (all payments of the case in that currency):

- total ≥ claim: the case moves to ``paid`` (the workflow allows it from sent, no_response, disputed and
  escalated); an overpayment is noted on the payment row (refunds are handled by hand).
- total < claim (a partial payment): the payment is recorded with the outstanding amount in its note; the
  case keeps its status, so the deadline, reminders (for the outstanding amount) and expiry still apply.

A payment for a case that is already paid, withdrawn or closed is refused (nothing recorded).
"""

from __future__ import annotations

from typing import Annotated

import typer

from swarmscope.cases import letters as rendering
from swarmscope.cases.workflow import CLOSING_STATUSES, CaseEvent, next_case_status
from swarmscope.cli.app import app
from swarmscope.cli.export import parse_time
from swarmscope.cli.letters import move_case
from swarmscope.cli.options import ActorOption, DbOption, actor_name, fail, workflow_store
from swarmscope.cli.text import clean
from swarmscope.errors import InputError, SwarmscopeError
from swarmscope.evidence.records import us_to_iso
from swarmscope.net.clock import Clock
from swarmscope.store import cases as case_store
from swarmscope.store import letters as letter_store
from swarmscope.store.database import DEFAULT_DB, Store

payments_app = typer.Typer(help="Payments received for settlement letters.", no_args_is_help=True)
app.add_typer(payments_app, name="payments")


FUTURE_SLACK_US = 86_400 * 1_000_000  # a bank's value date may be a day ahead of our clock


def parse_received(text: str) -> int:
    """``--received``: ISO 8601 (UTC unless an offset is given) or UTC µs → UTC µs, exact to the µs.

    Raises:
        InputError: neither form (the message names ``--received``).
    """
    return parse_time(text, "--received")


def record_payment(
    store: Store,
    doe: str,
    amount_cents: int,
    reference: str,
    *,
    currency: str | None,
    received_us: int,
    method: str | None,
    actor: str,
    now_us: int,
) -> tuple[letter_store.PaymentRow, str]:
    """Record a payment against a case; returns the row and the case's status afterwards.

    Raises:
        InputError: bad reference, a reference of no letter sent for this case, wrong currency, a closed
            case. WorkflowError: the case cannot be paid in its status. StoreError: unknown case.
    """
    ref = rendering.normalise_reference(reference)
    case = case_store.get_case(store, doe)
    if case.status in CLOSING_STATUSES:
        raise InputError(f"{case.doe} is already {case.status}; a further payment is handled by hand")
    letters = letter_store.list_letters(store, case_id=case.id)
    match = [row for row in letters if row.payment_reference == ref and row.sent_us is not None]
    if not match:
        raise InputError(f"reference {rendering.grouped(ref)} is not on any letter sent for {case.doe}")
    if currency is not None and currency.upper() != match[0].currency:
        raise InputError(f"currency {currency!r} differs from the letter's {match[0].currency}")
    sent_us = match[0].sent_us
    assert sent_us is not None
    if received_us < sent_us or received_us > now_us + FUTURE_SLACK_US:
        raise InputError(
            f"--received: {us_to_iso(received_us)} is before the letter was sent "
            f"({us_to_iso(sent_us)}) or in the future"
        )
    claim, cur = letters[0].amount_cents, match[0].currency
    before = sum(p.amount_cents for p in letter_store.list_payments(store, case.id) if p.currency == cur)
    total = before + amount_cents
    if total >= claim:
        next_case_status(case.status, CaseEvent.PAY)  # refuse before writing anything
        note = "settles the claim" + (
            f"; overpaid by {rendering.format_amount(total - claim, cur)}" if total > claim else ""
        )
    else:
        note = f"partial payment; outstanding {rendering.format_amount(claim - total, cur)}"
    row = letter_store.add_payment(store, case.id, amount_cents, cur, received_us, ref, method, note, now_us)
    if total >= claim:
        move_case(
            store,
            case.id,
            CaseEvent.PAY,
            actor,
            f"{rendering.format_amount(total, cur)} received; {note}",
            now_us,
        )
    return row, case_store.get_case(store, case.id).status


@payments_app.command("record")
def record_command(
    case: Annotated[str, typer.Argument(help="The case (DOE number).")],
    amount: Annotated[str, typer.Option("--amount", help="Amount received, e.g. 450.00.")],
    reference: Annotated[str, typer.Option("--reference", help="The payment reference quoted (RF...).")],
    received: Annotated[
        str | None, typer.Option("--received", help="When received (ISO 8601; default now).")
    ] = None,
    currency: Annotated[
        str | None, typer.Option("--currency", help="ISO 4217 (default: the letter's).")
    ] = None,
    method: Annotated[str | None, typer.Option("--method", help="e.g. bank transfer.")] = None,
    actor: ActorOption = None,
    db: DbOption = DEFAULT_DB,
) -> None:
    """Record a payment; the case is paid once the claim is met (partial payments are kept and noted)."""
    try:
        now = Clock().now_us()
        with workflow_store(db) as store:
            row, status = record_payment(
                store, case, rendering.parse_amount(amount), reference, currency=currency,
                received_us=parse_received(received) if received else now, method=method,
                actor=actor_name(actor), now_us=now,
            )  # fmt: skip
        paid = rendering.format_amount(row.amount_cents, row.currency)
        typer.echo(f"{clean(case)}: {paid} recorded ({row.note}); status {status}")
    except SwarmscopeError as exc:
        raise fail(exc) from None
