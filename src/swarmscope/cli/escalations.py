"""``swarmscope escalations [--out FILE.csv] [--identity-key K]`` and ``escalations mark DOE --actor NAME``.

The litigation list: cases a person explicitly escalated (``mark``: no_response → escalated; a disputed case
is escalated only by counsel's separate decision, not here), listed only as far as their SEALED workflow
history carries them (:func:`swarmscope.cases.sealed_history.litigation_problem`; the status column alone
proves nothing). The rows, their columns and the audited
identity reads are :mod:`swarmscope.cases.litigation`; the move is
:func:`swarmscope.cases.case_actions.escalate_case`. Subscriber identities are included ONLY with
``--identity-key``. Both re-judge each case under the threshold options they are given
(:mod:`swarmscope.cli.policy_options`; default: the court-tested thresholds, which a case's build note may
tighten, never loosen). The ``--out`` file is created readable by its owner only (mode 0600 whatever the
umask): with identities it lists accused people.
"""

from __future__ import annotations

from pathlib import Path
from typing import Annotated

import typer

from swarmscope.cases.case_actions import escalate_case
from swarmscope.cases.identities import IdentityKey
from swarmscope.cases.letters import write_private
from swarmscope.cases.litigation import litigation_csv, litigation_rows
from swarmscope.cli.app import app
from swarmscope.cli.document_gate import Gate, echo_left_out, gated
from swarmscope.cli.options import ActorOption, DbOption, actor_name, fail
from swarmscope.cli.text import clean
from swarmscope.errors import InputError, SwarmscopeError
from swarmscope.net.clock import Clock
from swarmscope.store.database import DEFAULT_DB

escalations_app = typer.Typer(help="The litigation list (escalated cases).", no_args_is_help=True)
app.add_typer(escalations_app, name="escalations")


@escalations_app.callback(invoke_without_command=True)
@gated
def export_command(
    ctx: typer.Context,
    out: Annotated[
        Path | None, typer.Option("--out", help="CSV file to write (default: standard output).")
    ] = None,
    identity_key: Annotated[
        Path | None, typer.Option("--identity-key", help="Include identities (each read is audited).")
    ] = None,
    actor: ActorOption = None,
    db: DbOption = DEFAULT_DB,
    *,
    gate: Gate,
) -> None:
    """Export the litigation list of escalated cases as CSV.

    A case whose evidence is not proven against the sealed ledger under the trusted node key (--node-key,
    default beside the database; or --trust-key), or that fails the thresholds given here (--min-hits,
    --min-span, --allow-flag, --clock-threshold-ms; default: the court-tested ones; a case's build note may
    tighten them, never loosen them) is left out: one error line naming it, exit status 1.
    """
    if ctx.invoked_subcommand is not None:
        return
    refused: list[tuple[str, str]] = []
    try:
        policy = gate.policy()
        key = IdentityKey.load(identity_key) if identity_key is not None else None
        now = Clock().now_us()
        with gate.open(db, now) as (store, trust):
            rows = litigation_rows(store, key, actor_name(actor), now, trust, refused, policy=policy)
        text = litigation_csv(rows, key is not None)
        if out is None:
            typer.echo(text, nl=False)
        else:
            try:
                write_private(out, text.encode("utf-8"))
            except OSError as exc:
                raise InputError(f"--out {out}: {exc.strerror or exc}") from None
            typer.echo(f"wrote {len(rows)} escalated cases to {clean(out)}", err=True)
    except SwarmscopeError as exc:
        raise fail(exc) from None
    echo_left_out(refused, "error")
    if refused:
        raise typer.Exit(1)


@escalations_app.command("mark")
@gated
def mark_command(
    case: Annotated[str, typer.Argument(help="The case (DOE number), in no_response.")],
    actor: ActorOption = None,
    db: DbOption = DEFAULT_DB,
    *,
    gate: Gate,
) -> None:
    """Escalate a case with no response to the litigation list (your recorded decision, sealed with the
    node's signing key: --node-key, default beside the database).

    Refused when its sealed workflow history does not carry it: a proven sent letter past its deadline, no
    proven payment settling the claim, no proven dispute.

    Refused, naming the case, when its evidence is no longer proven against the sealed ledger under the
    trusted node key (--node-key, default beside the database; or --trust-key), or fails the thresholds
    given here (default: the court-tested ones; a case's build note may tighten them, never loosen them).
    """
    try:
        policy = gate.policy()
        now = Clock().now_us()
        with gate.open(db, now, sign=True) as (store, trust):
            row = escalate_case(store, case, actor_name(actor), now, trust, policy)
        typer.echo(f"{row.doe}: escalated")
    except SwarmscopeError as exc:
        raise fail(exc) from None
