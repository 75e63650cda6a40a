"""``swarmscope payments record DOE --amount 450.00 --reference REF [--received ISO]``: money received.

The matching, the claim and the move to ``paid`` are :mod:`swarmscope.cases.payments`: the reference must be
the RF creditor reference of a letter *sent* for that case, a partial payment keeps the case's status, a
payment for a paid, withdrawn or closed case is refused (nothing recorded). The payment is sealed in the
ledger with the node's signing key (``--node-key``, default beside the database; it must exist).
"""

from __future__ import annotations

from typing import Annotated

import typer

from swarmscope.cases.letter_settings import format_amount, parse_amount
from swarmscope.cases.payments import record_payment
from swarmscope.cases.received import RECEIVED_RULE
from swarmscope.cases.received import parse_received as received_time
from swarmscope.cli.app import app
from swarmscope.cli.node_identity import SigningKeyOption, signing_store
from swarmscope.cli.options import ActorOption, DbOption, actor_name, fail
from swarmscope.cli.text import clean
from swarmscope.errors import SwarmscopeError
from swarmscope.net.clock import Clock
from swarmscope.store.database import DEFAULT_DB

payments_app = typer.Typer(help="Payments received for settlement letters.", no_args_is_help=True)
app.add_typer(payments_app, name="payments")


def parse_received(text: str | None, now_us: int | None = None) -> int:
    """``--received``: ISO 8601 (UTC unless an offset is given) or UTC µs → UTC µs, exact to the µs;
    empty → now. The console's parser (:func:`swarmscope.cases.received.parse_received`).

    Raises:
        InputError: neither form, or out of range (the message names ``--received``).
    """
    now = Clock().now_us() if now_us is None else now_us
    return received_time(text, now, "--received")


@payments_app.command("record")
def record_command(
    case: Annotated[str, typer.Argument(help="The case (DOE number).")],
    amount: Annotated[str, typer.Option("--amount", help="Amount received, e.g. 450.00.")],
    reference: Annotated[str, typer.Option("--reference", help="The payment reference quoted (RF...).")],
    received: Annotated[
        str | None,
        typer.Option(
            "--received",
            help=f"When received (ISO 8601, UTC unless an offset is given; default now). {RECEIVED_RULE}",
        ),
    ] = None,
    currency: Annotated[
        str | None, typer.Option("--currency", help="ISO 4217 (default: the letter's).")
    ] = None,
    method: Annotated[str | None, typer.Option("--method", help="e.g. bank transfer.")] = None,
    actor: ActorOption = None,
    db: DbOption = DEFAULT_DB,
    node_key: SigningKeyOption = None,
) -> None:
    """Record a payment; the case is paid once the claim is met (partial payments are kept and noted)."""
    try:
        now = Clock().now_us()
        cents, received_us = parse_amount(amount), parse_received(received, now)  # before the store opens
        with signing_store(db, node_key, now) as store:
            row, status = record_payment(
                store, case, cents, reference, currency=currency,
                received_us=received_us, method=method,
                actor=actor_name(actor), now_us=now,
            )  # fmt: skip
        paid = format_amount(row.amount_cents, row.currency)
        typer.echo(f"{clean(case)}: {paid} recorded ({row.note}); status {status}")
    except SwarmscopeError as exc:
        raise fail(exc) from None
