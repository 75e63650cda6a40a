"""Evidence → verified hits → thresholds → cases (README "Only proven evidence", "Thresholds").

- **Hits**: observations of tier VERIFIED proven against the sealed ledger under the trusted node keys
  (:func:`swarmscope.store.ledger.proven.proven_observations`: row equal to its sealed record, chain and
  Ed25519 seal hold, not dated after its seal or in the future, a duplicated record or capture counts
  once). Every refused row is named in ``BuildReport.refused``; it never counts.
- **Clock**: judged from sealed records only (:mod:`swarmscope.cases.run_clock`): each node's clock
  samples and run records read from its ledger under the trusted keys, and the function ``swarmscope
  export`` uses (:func:`swarmscope.evidence.bundle.clock_judgement.judge_clock`): every proven sample of the
  hit's node under the STRICTEST clock policy sealed by any of that node's runs (``clock_threshold_ms``,
  default 100 ms, and the commercial-anchor preset). The caller may only TIGHTEN it; a looser value is refused
  with :class:`InputError`. A hit whose start lies in a window, or whose node's ledger is not wholly
  proven, is ``clock_flagged``. A node without samples is *unmeasured*: nothing is flagged (the clock
  policy's rule), and the recorded policy names the runs whose clock was never measured (``clock
  never measured (no NTP sample) in monitor run(s) ...``), so no case implies a clock that was checked.
- **Attribution**: the sealed attributions
(:func:`swarmscope.store.ledger.proven_records.proven_attributions`,
  read from the ledger); for each hit the latest one of its IP at or before the hit start. The flags of
  an IP are the union over its hits; the ISP (by ASN, :func:`swarmscope.store.legal.cases.isp_for_asn`) and
  the advisory region/city come from the attribution at the first hit. No attribution: no flags, no ISP. An
  attribution ROW of the IP that differs from its sealed record excludes the IP
  (``attribution_unproven``, naming the row): it is neither clean nor flagged.
- **Work**: the infohash's confirmed link, else its plain link, each link's status re-checked from
  stored content (the stored metainfo against the work's reference content, never the unsealed
  ``work_torrent.status``): :func:`swarmscope.cases.work_links.case_work`, the function the document gate
  uses. A candidate whose torrent is linked to no work, or only as ``fake``, or to works of two rights
  holders, or whose check cannot be run (reference content gone), does not become a case (no rights
  holder can claim it); it is reported as skipped. With ``require_confirmed`` a plain link is not enough.
- **Policy on record**: every case a build creates or finds again at ``candidate`` gets a ``case_event``
  whose note reads ``build: ...; policy: <ThresholdPolicy.describe()>, clock=<threshold>`` (and the
  "also seen on ports" note of :mod:`swarmscope.cases.thresholds`); its hits and last hit are set to
  exactly what the current evidence shows for its (IP, port, infohash).
- **Re-check**: a build re-evaluates every existing case still at ``candidate`` (of the swarm built, when
  ``infohash`` is given) under the policy NOW given. One that no longer passes — its (IP, port, infohash)
  fails a threshold, no verified hit from that address and port remains, its hits now start elsewhere,
  or its torrent has no usable work — is WITHDRAWN by a recorded ``withdraw`` event whose note starts with
  ``no longer passes:`` and names the reasons and the policy (choice: withdrawn, not merely warned, so
  that exhibits and notices — which take open cases — never carry it; a withdrawn case is never reopened,
  a later build does not revive it, counsel must look at it). Cases past ``candidate`` are never changed
  by a build; those that would fail are reported (``BuildReport.failing_later``) for counsel. So is a
  candidate that a sealed workflow event already names (a disclosure request's sealed link): a build
  runs without the signing key, and such a case counts as withdrawn only on a sealed withdrawal
  (:mod:`swarmscope.cases.case_state`); withdrawing it unsealed would leave it "status altered".
- **Deleted or altered rows**: a candidate whose identity a proven ``case_built`` of some DOE number seals,
  while no case row holds its key, is not built again, and a DOE number with proven events but no row is
  named (``BuildReport.tampered``; :mod:`swarmscope.store.legal.case_create`).
"""

from __future__ import annotations

import bisect
import dataclasses
from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field

from swarmscope.cases.refusals import Refusal
from swarmscope.cases.run_clock import workflow_clock
from swarmscope.cases.thresholds import Candidate, Hit, ThresholdPolicy, evaluate
from swarmscope.cases.work_links import TorrentChecks
from swarmscope.cases.workflow import CaseStatus, WorkflowError, next_case_status
from swarmscope.evidence.records import us_to_iso
from swarmscope.store.database import Store
from swarmscope.store.ledger.proven import EvidenceTrust, RefusedRow, proven_observations, store_trust
from swarmscope.store.ledger.proven_records import AttributionRow, proven_attributions
from swarmscope.store.legal import case_create, case_rows, case_status
from swarmscope.store.legal import cases as legal_cases
from swarmscope.store.legal.case_rows import record_build
from swarmscope.store.legal.workflow_seals import CASE_BUILT, workflow_history

POLICY_MARK = "; policy: "
NO_LONGER_PASSES = "no longer passes: "
SEALED_CANDIDATE = (
    "sealed_events: a sealed decision names this candidate (a disclosure request), so only a sealed "
    "withdrawal ends it: `cases event DOE withdraw` with the node key"
)


@dataclass(slots=True)
class BuildReport:
    """What :func:`build_cases` did.

    Args:
        created, refreshed: cases written (new) or found again (existing DOE numbers).
        excluded: groups that failed a threshold, with their reasons.
        skipped: (candidate, why) for candidates that became no case (no work, fake torrent, a case
            keyed by the same IP, infohash and first hit on another port).
        withdrawn: (case, reasons) for cases at ``candidate`` that no longer pass: now withdrawn.
        failing_later: (case, reasons) for cases past ``candidate`` that would not pass now (unchanged).
        policy_note: the policy as recorded in the case history (``ThresholdPolicy.describe()`` + clock).
        notes: DOE number → the candidate's notes (e.g. "also seen on ports ..."), for created and
            refreshed cases that have any.
        refused: verified-tier rows not proven against the trusted ledger (never counted), named.
        tampered: one line per DOE number that proven sealed events name but no case row carries, and
            per candidate a proven ``case_built`` of another DOE number already seals (row deleted or
            altered without the node key: :mod:`swarmscope.store.legal.case_create`); none is built.
    """

    created: list[case_rows.CaseRow] = field(default_factory=list)
    refreshed: list[case_rows.CaseRow] = field(default_factory=list)
    excluded: list[Candidate] = field(default_factory=list)
    skipped: list[tuple[Candidate, str]] = field(default_factory=list)
    withdrawn: list[tuple[case_rows.CaseRow, tuple[str, ...]]] = field(default_factory=list)
    failing_later: list[tuple[case_rows.CaseRow, tuple[str, ...]]] = field(default_factory=list)
    policy_note: str = ""
    notes: dict[str, tuple[str, ...]] = field(default_factory=dict)
    refused: list[RefusedRow] = field(default_factory=list)
    tampered: list[str] = field(default_factory=list)


def _load(
    store: Store, infohash: str | None, clock_threshold_us: int | None, trust: EvidenceTrust
) -> tuple[list[Hit], str, list[RefusedRow]]:
    proven = proven_observations(store, trust.fingerprints, trust.now_us, infohash=infohash)
    clock = workflow_clock(store, trust, proven.hits, clock_threshold_us)
    hits = [
        Hit(o.ip, o.port, o.infohash, o.started_us, o.ended_us, clock.flagged(o), o.signer, clock.vantage(o))
        for o in proven.hits
    ]
    return hits, clock.text(proven.hits), list(proven.refused)


def load_hits(
    store: Store,
    *,
    infohash: str | None = None,
    clock_threshold_us: int | None = None,
    trust: EvidenceTrust | None = None,
) -> list[Hit]:
    """Proven verified hits from the store, each marked clock-flagged or not (see the module docstring).

    Args:
        trust: the node keys and clock to prove against (None: the store's own node key, system clock).

    Raises:
        InputError: ``clock_threshold_us`` looser than a sealed run threshold (:func:`clock_policies`);
            no trust given and the store has no node key.
    """
    return _load(store, infohash, clock_threshold_us, store_trust(store, trust))[0]


def attribution_at(rows: Sequence[AttributionRow], t_us: int) -> AttributionRow | None:
    """The latest of ``rows`` (sorted by observed_at_us) observed at or before ``t_us``, or None."""
    index = bisect.bisect_right(rows, t_us, key=lambda r: r.observed_at_us) - 1
    return rows[index] if index >= 0 else None


def flags_by_ip(
    hits: Sequence[Hit], attributions: dict[str, list[AttributionRow]]
) -> dict[str, frozenset[str]]:
    """Union, per IP, of the flags of the attribution in force at each of its hits."""
    out: dict[str, frozenset[str]] = {}
    for hit in hits:
        row = attribution_at(attributions.get(hit.ip, []), hit.at_us)
        if row is not None and row.flags:
            out[hit.ip] = out.get(hit.ip, frozenset()) | frozenset(row.flags)
    return out


def _judge(
    store: Store,
    policy: ThresholdPolicy,
    infohash: str | None,
    clock_threshold_us: int | None,
    trust: EvidenceTrust,
) -> tuple[list[Candidate], dict[str, list[AttributionRow]], str, list[RefusedRow]]:
    hits, clock, refused = _load(store, infohash, clock_threshold_us, trust)
    attributions = proven_attributions(store, trust, {h.ip for h in hits})
    verdicts = evaluate(hits, policy, flags_by_ip(hits, attributions.by_ip))
    judged = [unproven_attribution(v, attributions.refused) for v in verdicts]
    return judged, attributions.by_ip, clock, refused


def unproven_attribution(verdict: Candidate, refused: dict[str, list[str]]) -> Candidate:
    """``verdict`` excluded (``attribution_unproven``) when an attribution row of its address is refused."""
    rows = refused.get(verdict.ip)
    if not rows:
        return verdict
    reason = f"attribution_unproven: {'; '.join(rows)}"
    return dataclasses.replace(verdict, reasons_excluded=(*verdict.reasons_excluded, reason))


def evaluate_store(
    store: Store,
    policy: ThresholdPolicy,
    *,
    infohash: str | None = None,
    clock_threshold_us: int | None = None,
    trust: EvidenceTrust | None = None,
) -> tuple[list[Candidate], dict[str, list[AttributionRow]]]:
    """Every (IP, port, infohash) verdict over the proven evidence, and the attributions used.

    Raises:
        InputError: as :func:`load_hits`.
    """
    trusted = store_trust(store, trust)
    verdicts, attributions, _clock, _refused = _judge(store, policy, infohash, clock_threshold_us, trusted)
    return verdicts, attributions


def build_cases(
    store: Store,
    policy: ThresholdPolicy,
    now_us: int,
    *,
    infohash: str | None = None,
    clock_threshold_us: int | None = None,
    require_confirmed: bool = False,
    actor: str = case_rows.SYSTEM_ACTOR,
    trust: EvidenceTrust | None = None,
) -> BuildReport:
    """Upsert a case for every candidate, record the policy, re-check the cases still at ``candidate``.

    Args:
        policy: the thresholds. now_us: UTC microseconds. infohash: one swarm only.
        clock_threshold_us: a threshold stricter than the runs' sealed ones (microseconds).
        require_confirmed: only torrents whose pieces were confirmed against the work's reference content.
        actor: who runs the build (recorded on the policy notes and withdrawals).
        trust: node keys and clock to prove the hits against (None: the store's own key, system clock).

    Returns:
        A :class:`BuildReport` (see the module docstring for what is recorded and withdrawn).

    Raises:
        InputError: ``clock_threshold_us`` looser than a sealed run threshold; no trust and no node key.
    """
    before = case_status.list_cases(store)
    trusted = store_trust(store, trust)
    verdicts, attributions, clock, refused = _judge(store, policy, infohash, clock_threshold_us, trusted)
    report = BuildReport(policy_note=f"{policy.describe()}, clock_threshold={clock}", refused=refused)
    by_key = {(c.ip, c.infohash, c.first_hit_us): c for c in before}
    checks = TorrentChecks(store, trusted)
    unusable: dict[tuple[str, int, str], str] = {}
    plans: list[tuple[Candidate, case_create.CasePlan]] = []
    for verdict in verdicts:
        if not verdict.is_candidate:
            report.excluded.append(verdict)
            continue
        work = checks.work(verdict.infohash, require_confirmed=require_confirmed)
        if isinstance(work, Refusal):  # the build report is the operator's: every part as written
            report.skipped.append((verdict, str(work)))
            unusable[(verdict.ip, verdict.port, verdict.infohash)] = str(work)
            continue
        plans.append((verdict, _plan(store, verdict, work.id, attributions)))
    history = workflow_history(store, trusted)  # proven only: an unsigned ledger row counts for nothing
    builds = case_create.SealedBuilds.of(history)
    report.tampered += builds.missing(c.doe for c in before) + builds.altered(before)
    if report.tampered:  # which candidate a deleted row was is unknowable: none is created meanwhile
        hold = "case rows deleted or altered without the node key (named above): no new case until resolved"
        builds = dataclasses.replace(builds, hold=hold)
    rows = case_status.upsert_cases(store, [plan for _v, plan in plans], now_us, builds)  # one batch of seals
    for (verdict, _p), made in zip(plans, rows, strict=True):
        if isinstance(made, str):
            report.tampered.append(made)
        else:
            _record(store, report, verdict, made, by_key, now_us, actor)
    groups = {(v.ip, v.port, v.infohash): v for v in verdicts}
    sealed = {  # its sealed build decides nothing: a candidate with no other sealed event is withdrawn
        doe: SEALED_CANDIDATE
        for doe, found in history.events.items()
        if any(p.event.step != CASE_BUILT for p in found)
    }
    if history.incomplete is not None:  # a hidden event may name any candidate: none is withdrawn
        sealed = {case.doe: history.refusal(case.doe) or SEALED_CANDIDATE for case in before}
    for case in before:
        if infohash is None or case.infohash == infohash.lower():
            _recheck(store, report, case, (groups, unusable, sealed), now_us, actor)
    return report


def _plan(
    store: Store, verdict: Candidate, work: int, attributions: dict[str, list[AttributionRow]]
) -> case_create.CasePlan:
    """The case row a passing group gets: its work, and the ISP and place of the attribution at its first
    hit."""
    at_first = attribution_at(attributions.get(verdict.ip, []), verdict.first_hit_us)
    isp = legal_cases.isp_for_asn(store, at_first.asn) if at_first and at_first.asn is not None else None
    region, city = (at_first.region, at_first.city) if at_first else (None, None)
    return case_create.CasePlan(verdict, work, isp.id if isp else None, region, city)


def _record(
    store: Store,
    report: BuildReport,
    verdict: Candidate,
    given: tuple[case_rows.CaseRow, bool],
    by_key: dict[tuple[str, str, int], case_rows.CaseRow],
    now_us: int,
    actor: str,
) -> None:
    """Record the build on the case a passing group was given (``given``: its row and whether the upsert
    created it, so two builds at once do not both say "passed the thresholds"), or name the case on another
    port that holds its key (left as it is by :func:`case_status.upsert_cases`)."""
    row, created = given
    key = (verdict.ip, verdict.infohash, verdict.first_hit_us)
    if row.port != verdict.port:
        report.skipped.append((verdict, (
            f"same_first_hit: case {row.doe} has the same IP, infohash and first hit on port "
            f"{row.port}; cases are keyed without the port, so this address and port get no case"
        )))  # fmt: skip
        return
    new = created  # from the upsert's own transaction, not the case list read before it
    span = (verdict.last_hit_us - verdict.first_hit_us) / 60_000_000
    note = (
        f"build: {'passed the thresholds' if new else 'still passes'}: {verdict.hits} verified hit(s) "
        f"from {verdict.ip}:{verdict.port} over {span:.1f} min"
        + "".join(f"; {n}" for n in verdict.notes)
        + f"{POLICY_MARK}{report.policy_note}"
    )
    if record_build(
        store, row.id, hits=verdict.hits, last_hit_us=verdict.last_hit_us, note=note, actor=actor,
        now_us=now_us,
    ):  # fmt: skip
        row = case_status.get_case(store, row.id)
    by_key[key] = row
    if verdict.notes:
        report.notes[row.doe] = verdict.notes
    (report.created if new else report.refreshed).append(row)


def _failures(
    case: case_rows.CaseRow,
    groups: dict[tuple[str, int, str], Candidate],
    unusable: dict[tuple[str, int, str], str],
) -> tuple[str, ...]:
    """Why a stored case would not pass the build just made (empty: it passes)."""
    group = (case.ip, case.port, case.infohash)
    verdict = groups.get(group)
    if verdict is None:
        return (f"no_hits: no verified hit from {case.ip}:{case.port} in this swarm is in the evidence",)
    if not verdict.is_candidate:
        return verdict.reasons_excluded
    if group in unusable:
        return (unusable[group],)
    if verdict.first_hit_us != case.first_hit_us:
        return (
            f"superseded: the verified hits from {case.ip}:{case.port} now start at "
            f"{us_to_iso(verdict.first_hit_us)}, not at this case's first hit {us_to_iso(case.first_hit_us)}",
        )
    if case.status != CaseStatus.CANDIDATE and case.hits > verdict.hits:
        return (
            f"overstated: the case counts {case.hits} verified hits, {verdict.hits} came from "
            f"{case.ip}:{case.port} (hits from other ports of the same IP were counted)",
        )
    return ()


def _withdraw_candidate(current: str, event: str, actor: str | None) -> CaseStatus:
    """The workflow rule, restricted to cases still at ``candidate`` (a build changes nothing else)."""
    if current != CaseStatus.CANDIDATE:
        raise WorkflowError(f"case is {current!r}, no longer a candidate: a build leaves it is")
    return next_case_status(current, event, actor)


def _recheck(
    store: Store,
    report: BuildReport,
    case: case_rows.CaseRow,
    judged: tuple[dict[tuple[str, int, str], Candidate], dict[tuple[str, int, str], str], dict[str, str]],
    now_us: int,
    actor: str,
) -> None:
    """Withdraw a candidate case that no longer passes; report a later case that would not, and a
    candidate with a sealed workflow event (``judged``: the build's groups, unusable torrents, and the DOE
    numbers with a proven sealed event, each with the reason it is kept: every DOE number while the
    sealed history is incomplete)."""
    groups, unusable, sealed = judged
    if case.status in case_rows.CLOSING_CASE_STATUSES:
        return
    reasons = _failures(case, groups, unusable)
    if not reasons:
        return
    if case.status == CaseStatus.CANDIDATE and case.doe in sealed:
        reasons += (sealed[case.doe],)
    if case.status != CaseStatus.CANDIDATE or case.doe in sealed:
        report.failing_later.append((case, reasons))
        return
    note = f"{NO_LONGER_PASSES}{'; '.join(reasons)}{POLICY_MARK}{report.policy_note}"
    try:
        row = case_status.set_case_status(
            store, case.id, "withdraw", actor, note, now_us, rule=_withdraw_candidate
        )
    except WorkflowError:  # moved on meanwhile (e.g. requested): not a build's to change
        report.failing_later.append((case_status.get_case(store, case.id), reasons))
        return
    report.withdrawn.append((row, reasons))


def recorded_policy(notes: Iterable[str | None]) -> str | None:
    """The policy text of the latest build note among a case's event notes (oldest first), or None."""
    found = [n.rsplit(POLICY_MARK, 1)[1] for n in notes if n and POLICY_MARK in n]
    return found[-1] if found else None
