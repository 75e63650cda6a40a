"""``swarmscope disputes record DOE --summary TEXT [--received ISO]``: a recipient disputes the letter.

The case moves to ``disputed`` — after a letter was sent, and also before it left (an early objection to a
drafted or approved letter) — and from then on no letter of any kind leaves for that case: every unsent
letter (approved or not) is voided in the same transaction as the dispute, so ``letters send`` neither sends
nor keeps failing on it; drafting is refused by the workflow, ``letters remind`` skips the case and ``letters
send --case`` refuses it (:func:`swarmscope.cases.workflow.may_send_letter`). Only counsel's explicit
decision (``counsel_escalate``) or a payment moves it on. The summary must not contain personal data.
The action and its gates: :func:`swarmscope.cases.case_actions.record_dispute`. The dispute is sealed in
the ledger with the node's signing key (``--node-key``, default beside the database; it must exist).
"""

from __future__ import annotations

from typing import Annotated

import typer

from swarmscope.cases.case_actions import record_dispute
from swarmscope.cases.received import RECEIVED_RULE, parse_received
from swarmscope.cli.app import app
from swarmscope.cli.node_identity import SigningKeyOption, signing_store
from swarmscope.cli.options import ActorOption, DbOption, actor_name, fail
from swarmscope.cli.text import clean
from swarmscope.errors import SwarmscopeError
from swarmscope.net.clock import Clock
from swarmscope.store.database import DEFAULT_DB

disputes_app = typer.Typer(help="Disputes received: they stop every further letter.", no_args_is_help=True)
app.add_typer(disputes_app, name="disputes")


@disputes_app.command("record")
def record_command(
    case: Annotated[str, typer.Argument(help="The case (DOE number).")],
    summary: Annotated[str, typer.Option("--summary", help="What is disputed (no personal data).")],
    received: Annotated[
        str | None,
        typer.Option(
            "--received",
            help=f"When received (ISO 8601, UTC unless an offset is given; default now). {RECEIVED_RULE}",
        ),
    ] = None,
    actor: ActorOption = None,
    db: DbOption = DEFAULT_DB,
    node_key: SigningKeyOption = None,
) -> None:
    """Record a dispute: the case becomes disputed and no further letter is sent."""
    try:
        now = Clock().now_us()
        with signing_store(db, node_key, now) as store:
            record_dispute(
                store, case, summary, received_us=parse_received(received, now, "--received"),
                actor=actor_name(actor), now_us=now,
            )  # fmt: skip
        typer.echo(f"{clean(case)}: dispute recorded; unsent letters voided, no further letters")
    except SwarmscopeError as exc:
        raise fail(exc) from None
