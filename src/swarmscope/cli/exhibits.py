"""``swarmscope exhibits``: one CSV + PDF exhibit per ISP (and per advisory region) for disclosure requests.

Each exhibit lists the open cases (candidate, requested) attributed to the ISP; the PDF footer of every page
carries "Page X of Y" and the SHA-256 of the exhibit's CSV file (its exact bytes; see
:mod:`swarmscope.cases.exhibits`). Each exhibit is recorded on the ISP's drafted disclosure request
(``disclosure_request.exhibit_sha256``; created when there is none).
"""

from __future__ import annotations

from pathlib import Path
from typing import Annotated

import typer
from rich.console import Console

from swarmscope.cases.document_policy import COURT_TESTED, DocumentPolicy
from swarmscope.cases.exhibits import WrittenExhibit, produce_exhibits
from swarmscope.cli.app import app
from swarmscope.cli.document_gate import Gate, echo_left_out, gated
from swarmscope.cli.options import ActorOption, DbOption, actor_name, fail, now_us
from swarmscope.cli.text import escaped
from swarmscope.errors import SwarmscopeError
from swarmscope.store.database import DEFAULT_DB


def run_exhibits(
    *,
    db: str,
    out: Path,
    isp: str | None = None,
    by_region: bool = False,
    actor: str,
    now_us: int,
    console: Console | None = None,
    gate: Gate,
    policy: DocumentPolicy = COURT_TESTED,
) -> list[WrittenExhibit]:
    """Open the store, write the exhibits under ``out``, print a summary (and every case refused).

    ``policy``: the thresholds each case is re-judged under (:mod:`swarmscope.cli.policy_options`).

    Raises:
        StoreError: missing database or refused write. OSError: ``out`` not writable. InputError: no
            trusted node key in ``gate`` (:meth:`swarmscope.cli.document_gate.Gate.trust`).
    """
    refused: list[tuple[str, str]] = []
    with gate.open(db, now_us) as (store, trust):
        written = produce_exhibits(
            store, out, isp_name=isp, by_region=by_region, actor=actor, now_us=now_us, trust=trust,
            refused=refused, policy=policy,
        )  # fmt: skip
    echo_left_out(refused, "warning")
    if console is not None:
        if not written:
            console.print("no open cases attributed to an ISP: no exhibit written")
        for item in written:
            ex = item.exhibit
            console.print(
                f"{escaped(ex.title)}: {len(ex.lines)} line(s) → {escaped(item.csv_path.name)}, "
                f"{escaped(item.pdf_path.name)}; CSV sha256 {ex.sha256}; disclosure request {item.request_id}"
            )
    return written


@app.command()
@gated
def exhibits(
    out: Annotated[Path, typer.Option("--out", help="Directory for the exhibit CSV and PDF files.")],
    isp: Annotated[str | None, typer.Option("--isp", help="Only this ISP (its name).")] = None,
    by_region: Annotated[
        bool, typer.Option("--by-region", help="One exhibit per ISP and advisory region.")
    ] = False,
    db: DbOption = DEFAULT_DB,
    actor: ActorOption = None,
    *,
    gate: Gate,
) -> None:
    """Write disclosure exhibits (CSV + PDF) per ISP and record them on drafted disclosure requests.

    A case whose evidence is not proven against the sealed ledger under the trusted node key (--node-key,
    default beside the database; or --trust-key) is left out with a warning naming it; so is a case that
    fails the thresholds given here (--min-hits, --min-span, --allow-flag, --clock-threshold-ms; default:
    the court-tested ones; a case's build note may tighten them, never loosen them).
    """
    try:
        policy = gate.policy()
        run_exhibits(
            db=db,
            out=out,
            isp=isp,
            by_region=by_region,
            actor=actor_name(actor),
            now_us=now_us(),
            console=Console(),
            gate=gate,
            policy=policy,
        )
    except (SwarmscopeError, OSError) as exc:
        raise fail(exc) from None
