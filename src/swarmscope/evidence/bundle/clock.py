"""Bundle check of the clock: flags use a policy at least as strict as sealed; an unmeasured clock is said.

The bundle's one clock threshold (``clock_threshold_us`` of the signed export filters) must not be looser
than the strictest threshold sealed in the settings of the runs whose observations it holds
(:mod:`swarmscope.evidence.bundle.settings`); a run sealed with the commercial-anchor policy requires that
policy and the exclusion of flagged observations. With no clock sample, the verdict says the clock was
unmeasured rather than reporting a silent "ok".

A batch sealed more than :data:`swarmscope.evidence.seal.CLOCK_STEP_TOLERANCE_US` before an EARLIER batch
of the chain (signed ``sealed_at_us`` of ``batches.bin``; a node seals in chain order) proves the evidence
clock was set back, the rule ``verify --db`` and ``cases build`` apply
(:mod:`swarmscope.store.ledger.proven`, rule 6); so does one sealed while the wall clock was behind or
ahead of the clock of the last batch of the same boot in the bundle, as the boot clock sealed beside both
shows (:mod:`swarmscope.evidence.boot_clock`). One note per such batch names it, and the check's summary
names the observations it holds (chain indices), whose times are not trusted.

Source: README "Honest clock" (threshold, commercial anchor) and "Export and verify" (precise verdict).
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence

from swarmscope.evidence.boot_clock import behind_us, steps_back
from swarmscope.evidence.bundle import layout as b
from swarmscope.evidence.bundle.context import CheckResult, Context
from swarmscope.evidence.bundle.exhibits import ExhibitInput
from swarmscope.evidence.bundle.settings import COMMERCIAL_ANCHOR
from swarmscope.evidence.records import Observation, us_to_iso
from swarmscope.evidence.seal import SealedBatch


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


def clock_steps(batches: Iterable[SealedBatch]) -> list[tuple[SealedBatch, int]]:
    """Each batch sealed over the tolerance before the latest seal time (UTC µs) of the batches before it
    in chain order, with that time; a step between two batches of one boot that both carry the boot
    reading is left to :func:`clock_off` (:mod:`swarmscope.evidence.boot_clock`), as ``verify --db`` does."""
    ordered = sorted(batches, key=lambda s: s.batch.first_index)
    return [(ordered[p], before) for p, before in sorted(steps_back([s.batch for s in ordered]).items())]


def clock_off(batches: Iterable[SealedBatch]) -> list[tuple[SealedBatch, int, SealedBatch]]:
    """Each batch sealed while the wall clock was off (µs behind; negative: ahead) the clock of the last
    batch of the same boot in the bundle, with that batch (:func:`boot_clock.behind_us`)."""
    ordered = sorted(batches, key=lambda s: s.batch.first_index)
    off = behind_us([s.batch for s in ordered])
    return [(ordered[p], us, ordered[ref]) for p, (us, ref) in sorted(off.items())]


def clock_step_warnings(
    batches: Sequence[SealedBatch], observations: Iterable[int]
) -> list[tuple[str, list[int]]]:
    """One warning per batch sealed after a clock step back (:func:`clock_steps`) or with the clock off
    that of its boot's last batch (:func:`clock_off`), with the chain indices of the given observations it
    holds (their times are not trusted); shared by the verifier and export."""
    indices = sorted(observations)
    found = [
        (s, f"before a batch earlier in the chain ({us_to_iso(ahead)})", "set back")
        for s, ahead in clock_steps(batches)
    ]
    for s, us, ref in clock_off(batches):
        way = "behind" if us > 0 else "ahead of"
        found.append((s, f"{abs(us) / 1e6:.3f} s {way} the clock of the boot's last batch (sealed "
                      f"{us_to_iso(ref.batch.sealed_at_us)})", "behind" if us > 0 else "ahead"))  # fmt: skip
    out: list[tuple[str, list[int]]] = []
    for sealed, why, what in sorted(found, key=lambda f: f[0].batch.first_index):
        batch = sealed.batch
        inside = [i for i in indices if batch.first_index <= i <= batch.last_index]
        out.append((
            f"clock {what}: batch (chain {batch.first_index}..{batch.last_index}) sealed "
            f"{us_to_iso(batch.sealed_at_us)}, {why}: the times of its {len(inside)} observation(s) are not "
            "trusted",
            inside,
        ))  # fmt: skip
    return out


def _stepped_observations(ctx: Context, exhibit: ExhibitInput) -> list[int]:
    """Chain indices of the disclosed observations in batches sealed after a clock step back (noted)."""
    held = (item.index for item in exhibit.observations if isinstance(item.record, Observation))
    hit: list[int] = []
    for warning, inside in clock_step_warnings(ctx.batches, held):
        ctx.notes.append(f"WARNING {warning}")
        hit += inside
    return sorted(hit)


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
    stepped = _stepped_observations(ctx, exhibit)
    chain = ", ".join(map(str, stepped))
    back = (
        f"; CLOCK SET BACK: {len(stepped)} observation(s) sealed after it (chain {chain})" if stepped else ""
    )
    policy = f"{exhibit.policy.name} policy, threshold {exhibit.policy.threshold_us} us"
    if not exhibit.clock_samples:
        ctx.notes.append(_unmeasured_note(exhibit))
        return CheckResult("clock", ok, f"UNMEASURED: 0 samples ({policy}); nothing could be flagged{back}")
    detail = (
        f"{len(exhibit.clock_samples)} samples, {len(exhibit.windows)} flag windows, {len(flagged)} flagged"
        f" ({policy}){back}"
    )
    return CheckResult("clock", ok, detail)
