"""``swarmscope cases``: build case candidates from the evidence, list them, show one, record an event.

Nothing here prints a subscriber's identity: cases are named by DOE number, IP address and port only
(identities live encrypted in ``subscriber`` and are read only through ``swarmscope subscribers``).
"""

from __future__ import annotations

from pathlib import Path
from typing import Annotated

import typer

from swarmscope.cases import workflow
from swarmscope.cases.candidates import BuildReport, build_cases, recorded_policy
from swarmscope.cases.case_actions import DECISIONS, decision_refusal, record_decision
from swarmscope.cases.case_views import reseal_unbound, unbound_cases, unproven_cases
from swarmscope.cases.thresholds import DEFAULT_MIN_HITS, DEFAULT_MIN_VANTAGES, policy_warnings
from swarmscope.cli.app import app
from swarmscope.cli.evidence_trust import (
    NodeKeyOption,
    TrustKeyOption,
    refuse_default_trust,
    view_trust,
    workflow_trust,
)
from swarmscope.cli.node_identity import (
    SigningKeyOption,
    attach_signing_key,
    echo_witness_notes,
    signing_key,
    signing_store,
)
from swarmscope.cli.options import ActorOption, DbOption, actor_name, command_store, fail, now_us
from swarmscope.cli.policy_options import (
    DEFAULT_MIN_SPAN,
    AllowFlagOption,
    ClockThresholdOption,
    MinHitsOption,
    MinSpanOption,
    MinVantagesOption,
    clock_threshold_us,
    threshold_policy,
)
from swarmscope.cli.text import clean, iso
from swarmscope.errors import InputError, SwarmscopeError
from swarmscope.store.database import DEFAULT_DB, Store
from swarmscope.store.ledger.proven import EvidenceTrust
from swarmscope.store.legal import case_rows, case_status
from swarmscope.store.legal import cases as legal_cases

cases_app = typer.Typer(
    help="Case candidates: build from the evidence, list, show, record events.", no_args_is_help=True
)
app.add_typer(cases_app, name="cases")


def _echo_case(case: case_rows.CaseRow, isp_names: dict[int, str], unproven: str | None) -> None:
    """One case's line; ``unproven``: why the ledger does not carry it (None: it does)."""
    isp = isp_names.get(case.isp_id, "-") if case.isp_id is not None else "-"
    typer.echo(
        f"{case.doe}  {case.status:<12} {clean(case.ip)}:{case.port}  {case.infohash}  hits={case.hits}  "
        f"{iso(case.first_hit_us)} .. {iso(case.last_hit_us)}  isp={clean(isp)}"
        + (f"  UNPROVEN: {clean(unproven)}" if unproven is not None else "")
    )


def _view_trust(db: str, node_key: Path | None, trust_key: list[str] | None) -> EvidenceTrust | None:
    """The keys ``list``/``show`` prove cases against (:func:`view_trust`); a bad key: one line, exit 1."""
    try:
        return view_trust(db, node_key, trust_key, now_us())
    except InputError as exc:
        raise fail(exc) from None


@cases_app.command("build")
def build(
    db: DbOption = DEFAULT_DB,
    min_hits: MinHitsOption = DEFAULT_MIN_HITS,
    min_span: MinSpanOption = DEFAULT_MIN_SPAN,
    allow_flag: AllowFlagOption = None,
    min_vantages: MinVantagesOption = DEFAULT_MIN_VANTAGES,
    infohash: Annotated[str | None, typer.Option("--infohash", help="Only this swarm.")] = None,
    clock_threshold_ms: ClockThresholdOption = None,
    require_confirmed: Annotated[
        bool, typer.Option("--require-confirmed", help="Only torrents confirmed against reference content.")
    ] = False,
    actor: ActorOption = None,
    verbose: Annotated[
        bool, typer.Option("--verbose", "-v", help="List excluded addresses and why.")
    ] = False,
    node_key: NodeKeyOption = None,
    trust_key: TrustKeyOption = None,
) -> None:
    """Apply the thresholds to the verified evidence: create or refresh a case per (IP, port) candidate.

    Only observations proven against the sealed ledger under the trusted node key (--node-key, default
    beside the database; or --trust-key) count; every refused row is named in a warning.

    The policy used is recorded in each case's history. Cases still at `candidate` that no longer pass
    under the policy given now are withdrawn (recorded event "no longer passes: ..."), so no exhibit or
    notice carries them; later cases are only reported.

    A case row deleted or altered without the node key (a DOE number the sealed ledger proves with no row,
    a candidate another DOE number's sealed build already names) is named on stderr and nothing is built
    for it; the rest of the build is done, and the command exits 1 (the database file was changed
    without the key, as `verify --db` would say: a scheduled build must not look routine).
    """
    try:  # every option is checked before the store is opened
        policy = threshold_policy(min_hits, min_span, allow_flag, min_vantages)
        threshold = clock_threshold_us(clock_threshold_ms)
        who = actor_name(actor)
    except InputError as exc:
        raise fail(exc) from None
    with command_store(db) as store:
        now = now_us()
        trust = workflow_trust(db, node_key, trust_key, now)
        # a tail the witness shows gone is refused: each trusted node's own witness (witness_cover)
        echo_witness_notes(store, db, node_key, unchecked=False, trusted=trust.fingerprints)
        refuse_default_trust(db, trust, node_key, trust_key, store)
        for warning in policy_warnings(policy):
            typer.echo(f"warning: {warning}", err=True)
        unsigned = _attach_key(store, db, node_key, now)
        report = build_cases(
            store, policy, now, infohash=infohash, clock_threshold_us=threshold,
            require_confirmed=require_confirmed, actor=who, trust=trust,
        )  # fmt: skip
        _echo_report(store, report, verbose)
        _seal_builds(store, trust, now, unsigned, report)
    for line in report.tampered:
        typer.echo(f"error: {clean(line)}", err=True)
    if report.tampered:
        raise typer.Exit(1)


def _attach_key(store: Store, db: str, node_key: Path | None, now: int) -> str | None:
    """Make ``store`` a writer for the node's private key (``--node-key`` or the default beside the
    database), so the cases built are sealed (:mod:`swarmscope.cases.case_binding`); why not, when
    there is none (a public key or a fingerprint only): the build then runs as a reader."""
    try:
        key, path = signing_key(db, node_key)
        attach_signing_key(store, key, path, now, quiet=True)
    except InputError as exc:
        return str(exc)
    return None


def _seal_builds(
    store: Store, trust: EvidenceTrust, now: int, unsigned: str | None, report: BuildReport
) -> None:
    """Name the cases without a sealed build (built before builds were sealed, or without the key): they
    stay UNPROVEN until counsel checked each and runs `cases reseal` (never sealed here: a row planted
    without the key looks just like one); without the key, warn that the new cases are unsealed."""
    if unsigned is not None and report.created:
        typer.echo(
            f"warning: {len(report.created)} new case(s) are not sealed, no document will carry them until "
            f"`cases build` runs with the node's private key ({clean(unsigned)})",
            err=True,
        )
    unbound = [doe for doe in unbound_cases(store, trust) if doe not in {c.doe for c in report.created}]
    if unbound:
        shown = ", ".join(unbound[:10]) + (f" and {len(unbound) - 10} more" if len(unbound) > 10 else "")
        typer.echo(
            f"note: {len(unbound)} case(s) have no sealed build and stay UNPROVEN ({shown}): check each, then"
            " `swarmscope cases reseal DOE...` seals its build",
            err=True,
        )


def _echo_report(store: Store, report: BuildReport, verbose: bool) -> None:
    typer.echo(
        f"{len(report.created)} new case(s), {len(report.refreshed)} existing, "
        f"{len(report.excluded)} address(es) below the thresholds, {len(report.skipped)} skipped, "
        f"{len(report.withdrawn)} withdrawn"
    )
    typer.echo(f"policy: {clean(report.policy_note)}")
    for row in report.refused:
        typer.echo(f"warning: refused {clean(row.describe())}", err=True)
    names = {i.id: i.name for i in legal_cases.list_isps(store)}
    for case in report.created:
        _echo_case(case, names, None)  # built from proven evidence just now
    for case in report.refreshed:
        if case.status == "withdrawn":
            typer.echo(f"{case.doe}: passes again but stays withdrawn (a withdrawn case is never reopened)")
    for case, reasons in report.withdrawn:
        typer.echo(f"{case.doe}: no longer passes: {clean('; '.join(reasons))} -> withdrawn")
    for case, reasons in report.failing_later:
        typer.echo(
            f"warning: {case.doe} ({case.status}) would not pass this build: {clean('; '.join(reasons))}"
            " (unchanged: counsel decides)",
            err=True,
        )
    for candidate, why in report.skipped:
        typer.echo(f"skipped {clean(candidate.ip)}:{candidate.port} {candidate.infohash}: {clean(why)}")
    for case in (*report.created, *report.refreshed):
        for note in report.notes.get(case.doe, ()):
            typer.echo(f"{case.doe} note: {clean(note)}")
    if verbose:
        for verdict in report.excluded:
            why = clean("; ".join(verdict.reasons_excluded))
            notes = "".join(f"; {clean(n)}" for n in verdict.notes)
            where = f"{clean(verdict.ip)} {verdict.infohash}"
            typer.echo(f"excluded {where}: {why} (port {verdict.port}{notes})")


@cases_app.command("list")
def list_(
    db: DbOption = DEFAULT_DB,
    status: Annotated[str | None, typer.Option("--status", help="Only cases in this status.")] = None,
    isp: Annotated[str | None, typer.Option("--isp", help="Only cases of this ISP (name or id).")] = None,
    node_key: NodeKeyOption = None,
    trust_key: TrustKeyOption = None,
) -> None:
    """One line per case: DOE number, status, address, infohash, verified hits, first and last hit, ISP.

    A case whose hits the sealed ledger does not carry (a row planted or edited without the node key, or
    no trusted key to prove it against) ends with ``UNPROVEN: <why>``.
    """
    trust = _view_trust(db, node_key, trust_key)
    with command_store(db) as store:
        if status is not None:
            workflow.case_status(status)
        isp_id = legal_cases.get_isp(store, isp).id if isp is not None else None
        rows = case_status.list_cases(store, isp_id=isp_id, status=status)
        names = {i.id: i.name for i in legal_cases.list_isps(store)}
        unproven = unproven_cases(store, trust, rows)
        for case in rows:
            _echo_case(case, names, unproven.get(case.doe))
        if not rows:
            typer.echo("no cases")


@cases_app.command("show")
def show(
    doe: Annotated[str, typer.Argument(help="DOE number or case id.")],
    db: DbOption = DEFAULT_DB,
    node_key: NodeKeyOption = None,
    trust_key: TrustKeyOption = None,
) -> None:
    """A case's evidence summary and history (never the subscriber's identity); ``proof:`` says whether the
    sealed ledger carries its hits (``UNPROVEN: <why>`` when it does not)."""
    trust = _view_trust(db, node_key, trust_key)
    with command_store(db) as store:
        case = case_status.get_case(store, doe)
        unproven = unproven_cases(store, trust, [case]).get(case.doe)
        work = legal_cases.get_work(store, case.work_id) if case.work_id is not None else None
        isp = legal_cases.get_isp(store, case.isp_id) if case.isp_id is not None else None
        events = case_status.case_events(store, case.id)
        policy = recorded_policy(e.note for e in events) or "- (not recorded: built before policies were)"
        lines = [
            ("case", case.doe),
            ("status", f"{case.status} since {iso(case.status_us)}"),
            ("address", f"{case.ip} port {case.port}"),
            ("infohash", case.infohash),
            ("work", f"{work.title} ({work.client})" if work else "-"),
            ("verified hits", f"{case.hits}, {iso(case.first_hit_us)} .. {iso(case.last_hit_us)}"),
            ("proof", "proven by the sealed ledger" if unproven is None else f"UNPROVEN: {unproven}"),
            ("ISP", isp.name if isp else "- (no attribution or no directory entry for its ASN)"),
            ("region/city", f"{case.region or '-'} / {case.city or '-'} (advisory)"),
            ("request", str(case.request_id) if case.request_id is not None else "-"),
            ("closed", iso(case.closed_us)),
            ("policy", policy),
        ]
        for label, value in lines:
            typer.echo(f"{label + ':':<15}{clean(value)}")
        typer.echo("history:")
        for event in events:
            typer.echo(
                f"  {iso(event.at_us)}  {event.status:<12} by {clean(event.actor)}  {clean(event.note or '')}"
            )


@cases_app.command("reseal")
def reseal(
    does: Annotated[
        list[str], typer.Argument(metavar="DOE...", help="The cases to seal, each checked first.")
    ],
    db: DbOption = DEFAULT_DB,
    node_key: SigningKeyOption = None,
    trust_key: TrustKeyOption = None,
) -> None:
    """Seal the build of cases that have none (built before builds were sealed, or without the node key),
    once counsel checked each: only a case whose hits the ledger proves, with no sealed decision bound to
    another identity, and that no other case row shares (same address, port and swarm, overlapping
    interval: a row copied under a new DOE number is refused). One line per case; exit 1 when any is
    refused."""
    try:
        now = now_us()
        trust = workflow_trust(db, node_key, trust_key, now)
        with signing_store(db, node_key, now) as store:
            echo_witness_notes(store, db, node_key, unchecked=False, trusted=trust.fingerprints)
            refuse_default_trust(db, trust, node_key, trust_key, store)
            results = reseal_unbound(store, trust, now, list(dict.fromkeys(does)))
    except SwarmscopeError as exc:
        raise fail(exc) from None
    for doe, why in results.items():
        typer.echo(
            f"{clean(doe)}: " + ("its build is sealed now" if why is None else f"refused: {clean(why)}")
        )
    if any(why is not None for why in results.values()):
        raise typer.Exit(1)


@cases_app.command("event")
def event(
    doe: Annotated[str, typer.Argument(help="DOE number or case id.")],
    name: Annotated[str, typer.Argument(help="Counsel's decision: " + ", ".join(sorted(DECISIONS)))],
    db: DbOption = DEFAULT_DB,
    actor: ActorOption = None,
    note: Annotated[str | None, typer.Option("--note", help="Why (never personal data).")] = None,
    node_key: SigningKeyOption = None,
) -> None:
    """Record counsel's decision on a case (withdraw, close, counsel_escalate), with who decided it.

    Each decision is sealed in the ledger with the node's signing key (--node-key, default beside the
    database): the litigation list takes a disputed case only on a sealed counsel_escalate, and a case
    counts as withdrawn or closed (its documents, letters, evidence retention) only on a sealed
    withdraw or close.

    Every other step has its own command, which checks what the step needs: `isps request` (served),
    `subscribers import` (identified), `letters draft/approve/send/expire` (the deadline),
    `payments record`, `disputes record`, `escalations mark`.
    """
    refusal = decision_refusal(name)
    if refusal is not None:
        typer.echo(f"error: {clean(name)!r} is not recorded with `cases event`: {refusal}")
        raise typer.Exit(1)
    try:
        now = now_us()
        with signing_store(db, node_key, now) as store:
            case = record_decision(store, doe, name, actor_name(actor), note, now)
        typer.echo(f"{case.doe}: {case.status}")
    except SwarmscopeError as exc:
        raise fail(exc) from None
