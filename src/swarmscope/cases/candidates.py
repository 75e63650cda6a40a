"""Evidence → verified hits → thresholds → cases (issue 5 item 3).

- **Hits**: sealed observations of tier VERIFIED only
  (:func:`swarmscope.store.case_evidence.verified_observations`).
- **Clock**: each run's clock samples give its flag windows
  (:func:`swarmscope.evidence.clock_policy.flag_windows`) under the threshold recorded in that run's
  settings (``clock_threshold_ms``, default 100 ms) unless the caller overrides it; a hit whose start
  lies in a window is ``clock_flagged``. A run without samples is *unmeasured*: nothing in it is flagged
  (the clock policy's rule; the methodology statement says so).
- **Attribution**: for each hit the latest attribution of its IP at or before the hit start. The flags of
  an IP are the union over its hits; the ISP (by ASN, :func:`swarmscope.store.cases.isp_for_asn`) and the
  advisory region/city come from the attribution at the first hit. No attribution: no flags, no ISP.
- **Work**: the infohash's confirmed link, else its plain link
  (:func:`swarmscope.store.cases.work_for_infohash`).
  A candidate whose torrent is linked to no work, or only as ``fake``, does not become a case (no rights
  holder can claim it); it is reported as skipped. With ``require_confirmed`` a plain link is not enough.
"""

from __future__ import annotations

import bisect
from collections.abc import Sequence
from dataclasses import dataclass, field

from swarmscope.cases.thresholds import Candidate, Hit, ThresholdPolicy, evaluate
from swarmscope.evidence.clock_policy import ClockPolicy, FlagWindow, flag_windows, flagged
from swarmscope.store import cases as case_rows
from swarmscope.store.case_evidence import (
    AttributionRow,
    attributions_by_ip,
    clock_samples_by_run,
    verified_observations,
)
from swarmscope.store.database import Store
from swarmscope.store.queries import run_rows

DEFAULT_CLOCK_THRESHOLD_US = 100_000


@dataclass(slots=True)
class BuildReport:
    """What :func:`build_cases` did.

    Args:
        created, refreshed: cases written (new) or found again (existing DOE numbers).
        excluded: groups that failed a threshold, with their reasons.
        skipped: (candidate, why) for candidates that became no case (no work, fake torrent).
    """

    created: list[case_rows.CaseRow] = field(default_factory=list)
    refreshed: list[case_rows.CaseRow] = field(default_factory=list)
    excluded: list[Candidate] = field(default_factory=list)
    skipped: list[tuple[Candidate, str]] = field(default_factory=list)


def run_windows(store: Store, clock_threshold_us: int | None = None) -> dict[int, tuple[FlagWindow, ...]]:
    """Clock flag windows per monitor run (threshold: the override, else the run's setting, else 100 ms)."""
    samples = clock_samples_by_run(store)
    out: dict[int, tuple[FlagWindow, ...]] = {}
    for run in run_rows(store):
        threshold = clock_threshold_us
        if threshold is None:
            ms = run.settings.get("clock_threshold_ms") if isinstance(run.settings, dict) else None
            threshold = round(float(ms) * 1000) if ms else DEFAULT_CLOCK_THRESHOLD_US
        out[run.id] = flag_windows(samples.get(run.id, ()), ClockPolicy(threshold_us=threshold))
    return out


def load_hits(
    store: Store, *, infohash: str | None = None, clock_threshold_us: int | None = None
) -> list[Hit]:
    """Verified hits from the store, each marked clock-flagged or not (see the module docstring)."""
    windows = run_windows(store, clock_threshold_us)
    return [
        Hit(
            o.ip,
            o.port,
            o.infohash,
            o.started_us,
            o.ended_us,
            flagged(o.started_us, windows.get(o.run_id, ())) is not None,
        )
        for o in verified_observations(store, infohash=infohash)
    ]


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


def evaluate_store(
    store: Store,
    policy: ThresholdPolicy,
    *,
    infohash: str | None = None,
    clock_threshold_us: int | None = None,
) -> tuple[list[Candidate], dict[str, list[AttributionRow]]]:
    """Every (IP, infohash) verdict over the stored evidence, and the attributions used."""
    hits = load_hits(store, infohash=infohash, clock_threshold_us=clock_threshold_us)
    attributions = attributions_by_ip(store, {h.ip for h in hits})
    return evaluate(hits, policy, flags_by_ip(hits, attributions)), attributions


def build_cases(
    store: Store,
    policy: ThresholdPolicy,
    now_us: int,
    *,
    infohash: str | None = None,
    clock_threshold_us: int | None = None,
    require_confirmed: bool = False,
) -> BuildReport:
    """Upsert a case for every candidate of the stored evidence (DOE numbers are stable on re-runs).

    Args:
        policy: the thresholds. now_us: UTC microseconds. infohash: one swarm only.
        clock_threshold_us: override the runs' clock thresholds. require_confirmed: only torrents whose
            pieces were confirmed against the work's reference content.

    Returns:
        A :class:`BuildReport`.
    """
    report = BuildReport()
    known = {c.id for c in case_rows.list_cases(store)}
    verdicts, attributions = evaluate_store(
        store, policy, infohash=infohash, clock_threshold_us=clock_threshold_us
    )
    for verdict in verdicts:
        if not verdict.is_candidate:
            report.excluded.append(verdict)
            continue
        work = _work(store, verdict.infohash, require_confirmed)
        if isinstance(work, str):
            report.skipped.append((verdict, work))
            continue
        at_first = attribution_at(attributions.get(verdict.ip, []), verdict.first_hit_us)
        isp = case_rows.isp_for_asn(store, at_first.asn) if at_first and at_first.asn is not None else None
        region, city = (at_first.region, at_first.city) if at_first else (None, None)
        row = case_rows.upsert_case(store, verdict, work, isp.id if isp else None, region, city, now_us)
        (report.refreshed if row.id in known else report.created).append(row)
    return report


def _work(store: Store, infohash: str, require_confirmed: bool) -> int | str:
    """The work id of a torrent, or why there is none."""
    links = case_rows.work_torrents(store, infohash=infohash)
    if not links:
        return "no_work: the torrent is linked to no work (swarmscope works link)"
    usable = [t for t in links if t.status == "confirmed" or (t.status == "linked" and not require_confirmed)]
    if not usable:
        if all(t.status == "fake" for t in links):
            return "fake_torrent: its pieces do not match the work's reference content"
        return "unconfirmed: the torrent is not confirmed against the work's reference content"
    found = case_rows.work_for_infohash(store, infohash)
    assert found is not None
    return found.id
