"""The one clock judgement of a hit, shared by ``swarmscope export`` and the legal workflow.

Inputs are sealed records only: the run records (``RunStarted``, by chain index) and the clock samples
of ONE signing node's ledger. The policy is the strictest one sealed by the runs of the judged
observations (:meth:`swarmscope.evidence.bundle.settings.RunIndex.sealed_clock_policy`; no observation
index given: of every run), optionally tightened to ``requested_threshold_us`` (never loosened); the flag
windows come from EVERY sample of the node (:func:`swarmscope.evidence.clock_policy.flag_windows`), so
a hit's run membership (an unsealed database column) plays no part. An observation is flagged when its
start (UTC µs) lies in a window.

Source: README "Honest clock" and "Only proven evidence".
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from dataclasses import dataclass

from swarmscope.errors import InputError
from swarmscope.evidence.bundle.settings import RunIndex
from swarmscope.evidence.clock_policy import ClockPolicy, FlagWindow, flag_windows, flagged
from swarmscope.evidence.records import ClockSample


@dataclass(frozen=True, slots=True)
class ClockJudgement:
    """The policy applied and its flag windows (sorted, non-overlapping)."""

    policy: ClockPolicy
    windows: tuple[FlagWindow, ...]

    def flag_of(self, started_us: int) -> FlagWindow | None:
        """The window an observation starting at ``started_us`` (UTC µs) lies in, or None."""
        return flagged(started_us, self.windows)


def judge_clock(
    runs: RunIndex,
    samples: Iterable[ClockSample],
    observation_indices: Sequence[int] = (),
    requested_threshold_us: int | None = None,
) -> ClockJudgement:
    """The clock judgement of one node's observations (module docstring).

    Raises:
        InputError: ``requested_threshold_us`` not positive, or looser than the sealed threshold.
    """
    sealed = runs.sealed_clock_policy(observation_indices)
    if requested_threshold_us is not None and requested_threshold_us <= 0:
        raise InputError("--clock-threshold-ms: must be more than 0")
    if requested_threshold_us is not None and requested_threshold_us > sealed.threshold_us:
        raise InputError(
            f"--clock-threshold-ms {requested_threshold_us / 1000:g}: looser than the "
            f"{sealed.threshold_us / 1000:g} ms sealed in the run settings ({sealed.name} policy); it may "
            "only be made stricter"
        )
    threshold = sealed.threshold_us if requested_threshold_us is None else requested_threshold_us
    policy = ClockPolicy(threshold, sealed.max_age_us, sealed.name)
    return ClockJudgement(policy, flag_windows(samples, policy))
