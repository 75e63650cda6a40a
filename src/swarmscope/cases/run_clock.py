"""Each monitor run's clock policy as the case workflow applies it, and how a build describes the clock.

The policy is the one SEALED in the run's settings (:func:`swarmscope.evidence.bundle_settings.
run_clock_policy`: ``clock_threshold_ms``, default 100 ms, and the commercial-anchor preset), exactly as
``swarmscope export`` reads it; a caller may only tighten it. A run with no clock sample is *unmeasured*:
nothing in it is flagged (the clock policy's rule), and :func:`clock_text` says its clock was never
measured rather than imply a check.
"""

from __future__ import annotations

from collections.abc import Iterable

from swarmscope.errors import InputError
from swarmscope.evidence.bundle_settings import run_clock_policy
from swarmscope.evidence.clock_policy import ClockPolicy, FlagWindow, flag_windows
from swarmscope.store.case_evidence import clock_samples_by_run
from swarmscope.store.database import Store
from swarmscope.store.queries import run_rows

DEFAULT_CLOCK_THRESHOLD_US = 100_000


def clock_policies(
    store: Store, clock_threshold_us: int | None = None, *, run_ids: Iterable[int] | None = None
) -> dict[int, ClockPolicy]:
    """The clock policy per monitor run: the one sealed in its settings, tightened to the override.

    Args:
        clock_threshold_us: a stricter threshold (microseconds, > 0), or None for the sealed ones.
        run_ids: the runs whose hits are judged (None: every run); the override is checked against these.

    Raises:
        InputError: the override is not positive, or looser than the threshold sealed for one of
            ``run_ids`` (it may only be made stricter, as in ``swarmscope export``).
    """
    sealed = {
        run.id: run_clock_policy(run.settings if isinstance(run.settings, dict) else {})
        for run in run_rows(store)
    }
    if clock_threshold_us is None:
        return sealed
    if clock_threshold_us <= 0:
        raise InputError("--clock-threshold-ms: must be more than 0")
    for run_id in sorted(sealed if run_ids is None else set(run_ids) & set(sealed)):
        policy = sealed[run_id]
        if clock_threshold_us > policy.threshold_us:
            raise InputError(
                f"--clock-threshold-ms {clock_threshold_us / 1000:g}: looser than the "
                f"{policy.threshold_us / 1000:g} ms sealed in the settings of monitor run {run_id} "
                f"({policy.name} policy); it may only be made stricter"
            )
    return {
        run_id: ClockPolicy(min(p.threshold_us, clock_threshold_us), p.max_age_us, p.name)
        for run_id, p in sealed.items()
    }


def run_windows(
    store: Store, clock_threshold_us: int | None = None, *, run_ids: Iterable[int] | None = None
) -> dict[int, tuple[FlagWindow, ...]]:
    """Clock flag windows per monitor run under :func:`clock_policies` (same arguments and errors)."""
    samples = clock_samples_by_run(store)
    policies = clock_policies(store, clock_threshold_us, run_ids=run_ids)
    return {run_id: flag_windows(samples.get(run_id, ()), p) for run_id, p in policies.items()}


def clock_text(store: Store, clock_threshold_us: int | None, run_ids: set[int]) -> str:
    """The clock part of a build's recorded policy: the threshold used, and the runs never measured."""
    if clock_threshold_us is not None:
        text = f"{clock_threshold_us / 1000:g} ms (tightened; stricter than the sealed run settings)"
    else:
        policies = clock_policies(store)
        used = sorted({policies[r].threshold_us for r in run_ids if r in policies})
        sealed = ", ".join(f"{t / 1000:g}" for t in used) or f"{DEFAULT_CLOCK_THRESHOLD_US / 1000:g}"
        text = f"{sealed} ms (as sealed in the run settings)"
    samples = clock_samples_by_run(store)
    unmeasured = sorted(r for r in run_ids if not samples.get(r))
    if unmeasured:
        runs = ", ".join(str(r) for r in unmeasured)
        text += f"; clock never measured (no NTP sample) in monitor run(s) {runs}: its hits were not checked"
    return text
