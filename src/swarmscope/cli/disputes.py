"""``swarmscope disputes record DOE --summary TEXT [--received ISO]``: a recipient disputes the letter.

The case moves to ``disputed`` — after a letter was sent, and also before it left (an early objection to a
drafted or approved letter) — and from then on no letter of any kind leaves for that case: every unsent
letter (approved or not) is voided in the same transaction as the dispute, so ``letters send`` neither sends
nor keeps failing on it; drafting is refused by the workflow, ``letters remind`` skips the case and ``letters
send --case`` refuses it (:func:`swarmscope.cases.workflow.may_send_letter`). Only counsel's explicit
decision (``counsel_escalate``) or a payment moves it on. The summary must not contain personal data.
"""

from __future__ import annotations

from typing import Annotated

import typer

from swarmscope.cases.workflow import CaseEvent, next_case_status
from swarmscope.cli.app import app
from swarmscope.cli.letters import move_case
from swarmscope.cli.options import ActorOption, DbOption, actor_name, fail, workflow_store
from swarmscope.cli.payments import parse_received
from swarmscope.cli.text import clean
from swarmscope.errors import InputError, SwarmscopeError
from swarmscope.net.clock import Clock
from swarmscope.store import cases as case_store
from swarmscope.store import letters as letter_store
from swarmscope.store.database import DEFAULT_DB, Store

disputes_app = typer.Typer(help="Disputes received: they stop every further letter.", no_args_is_help=True)
app.add_typer(disputes_app, name="disputes")


def record_dispute(
    store: Store, doe: str, summary: str, *, received_us: int, actor: str, now_us: int
) -> letter_store.DisputeRow:
    """Record a dispute, void the case's unsent letters and move the case to ``disputed``.

    Raises:
        InputError: empty summary. WorkflowError: no letter was drafted (nothing to dispute) or the case
            is closed, paid, escalated or already disputed. StoreError: unknown case.
    """
    if not summary.strip():
        raise InputError("--summary: say what the recipient disputes")
    case = case_store.get_case(store, doe)
    next_case_status(case.status, CaseEvent.DISPUTE)  # refuse before writing anything
    row = letter_store.add_dispute(store, case.id, received_us, summary, now_us)
    move_case(store, case.id, CaseEvent.DISPUTE, actor, f"dispute {row.id} received", now_us)
    return row


@disputes_app.command("record")
def record_command(
    case: Annotated[str, typer.Argument(help="The case (DOE number).")],
    summary: Annotated[str, typer.Option("--summary", help="What is disputed (no personal data).")],
    received: Annotated[
        str | None, typer.Option("--received", help="When received (ISO 8601; default now).")
    ] = None,
    actor: ActorOption = None,
    db: DbOption = DEFAULT_DB,
) -> None:
    """Record a dispute: the case becomes disputed and no further letter is sent."""
    try:
        now = Clock().now_us()
        with workflow_store(db) as store:
            record_dispute(
                store, case, summary, received_us=parse_received(received) if received else now,
                actor=actor_name(actor), now_us=now,
            )  # fmt: skip
        typer.echo(f"{clean(case)}: dispute recorded; unsent letters voided, no further letters")
    except SwarmscopeError as exc:
        raise fail(exc) from None
