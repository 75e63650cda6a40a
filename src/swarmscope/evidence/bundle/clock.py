"""Bundle check of the clock: flags use a policy at least as strict as sealed; an unmeasured clock is said.

The bundle's one clock threshold (``clock_threshold_us`` of the signed export filters) must not be looser
than the strictest threshold sealed in the settings of the runs whose observations it holds
(:mod:`swarmscope.evidence.bundle.settings`); a run sealed with the commercial-anchor policy requires that
policy and the exclusion of flagged observations. With no clock sample, the verdict says the clock was
unmeasured rather than reporting a silent "ok".

Source: README "Honest clock" (threshold, commercial anchor) and "Export and verify" (precise verdict).
"""

from __future__ import annotations

from swarmscope.evidence.bundle import layout as b
from swarmscope.evidence.bundle.context import CheckResult, Context
from swarmscope.evidence.bundle.exhibits import ExhibitInput
from swarmscope.evidence.bundle.settings import COMMERCIAL_ANCHOR
from swarmscope.evidence.records import Observation


def _check_sealed_policy(ctx: Context, exhibit: ExhibitInput) -> None:
    """The bundle's clock policy is at least as strict as the one its runs sealed."""
    sealed, used = exhibit.sealed_clock_policy(), exhibit.policy
    if used.threshold_us > sealed.threshold_us:
        ctx.problem(
            "clock",
            b.MANIFEST,
            f"clock flags use a threshold of {used.threshold_us} us, looser than the {sealed.threshold_us} us"
            " sealed in the run settings",
        )
    if sealed.max_age_us is not None and (used.max_age_us is None or used.max_age_us > sealed.max_age_us):
        ctx.problem("clock", b.MANIFEST, f"clock sync expiry looser than the sealed {sealed.max_age_us} us")
    if sealed.name == COMMERCIAL_ANCHOR and (
        used.name != COMMERCIAL_ANCHOR or not ctx.filters().get("exclude_clock_flagged")
    ):
        ctx.problem(
            "clock",
            b.MANIFEST,
            "the runs sealed the commercial-anchor clock policy, but the bundle does not apply it"
            " (policy name and exclusion of flagged observations)",
        )


def _unmeasured_note(exhibit: ExhibitInput) -> str:
    servers = sorted(
        {str(s) for st in exhibit.run_index().all_settings() for s in st.get("ntp_servers") or []}
    )
    if servers:
        return (
            f"clock unmeasured: {len(servers)} NTP server(s) were configured but no sample is included;"
            " timestamps are the monitor's system clock"
        )
    return "clock unmeasured: no NTP server configured; timestamps are the monitor's system clock"


def check_clock(ctx: Context, exhibit: ExhibitInput) -> CheckResult:
    """Clock flags use a policy at least as strict as sealed; flagged ones left out when they must be."""
    _check_sealed_policy(ctx, exhibit)
    flagged = [
        item
        for item in exhibit.observations
        if isinstance(item.record, Observation) and exhibit.flag_of(item.record) is not None
    ]
    if ctx.filters().get("exclude_clock_flagged"):
        for item in flagged:
            ctx.problem(
                "clock",
                b.LEDGER,
                "observation in a clock flag window despite --exclude-clock-flagged",
                item.index,
            )
    ok = not any(p.check == "clock" for p in ctx.problems)
    policy = f"{exhibit.policy.name} policy, threshold {exhibit.policy.threshold_us} us"
    if not exhibit.clock_samples:
        ctx.notes.append(_unmeasured_note(exhibit))
        return CheckResult("clock", ok, f"UNMEASURED: 0 samples ({policy}); nothing could be flagged")
    detail = (
        f"{len(exhibit.clock_samples)} samples, {len(exhibit.windows)} flag windows, {len(flagged)} flagged"
        f" ({policy})"
    )
    return CheckResult("clock", ok, detail)
