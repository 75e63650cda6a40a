"""The thresholds an accusing document judges a case under: its command's own, a build note only tightens.

Every document that can accuse someone (exhibits, ACNS notices, letters, the litigation list) re-judges a
case on its proven hits (:mod:`swarmscope.cases.case_recheck`). The policy it judges with is given to the
document command (``--min-hits``, ``--min-span``, ``--allow-flag``, ``--clock-threshold-ms``; default
:data:`COURT_TESTED`, the defaults ``cases build`` uses), never read from the case's history: the build
note in ``case_event`` is an unsealed row that anyone who can write the database file can insert, so a note
saying ``min_hits=1`` must not let a one-hit case through. The note can only make the judgement stricter
(:meth:`DocumentPolicy.tightened`, field by field), which keeps an honest case built with stricter
thresholds judged as strictly as it was built.

Shapes and units: ``min_span_us`` and ``clock_threshold_us`` in microseconds; ``clock_threshold_us`` None
means "as sealed in the run settings" (the strictest threshold sealed by the node's runs applies).

Source: README "Thresholds" and "Only proven evidence" (a court rejected two sightings in ten minutes).
"""

from __future__ import annotations

from dataclasses import dataclass, field

from swarmscope.cases.thresholds import ThresholdPolicy


@dataclass(frozen=True, slots=True)
class DocumentPolicy:
    """The thresholds and clock threshold a document command re-judges its cases with.

    Args:
        thresholds: hit count, span and opted-in flags (:class:`ThresholdPolicy`).
        clock_threshold_us: a clock threshold stricter than the sealed one, microseconds (> 0); None: as
            sealed in the run settings.

    Raises:
        ValueError: ``clock_threshold_us`` not positive.
    """

    thresholds: ThresholdPolicy = field(default_factory=ThresholdPolicy)
    clock_threshold_us: int | None = None

    def __post_init__(self) -> None:
        if self.clock_threshold_us is not None and self.clock_threshold_us <= 0:
            raise ValueError("DocumentPolicy: clock_threshold_us must be more than 0")

    def tightened(self, recorded: ThresholdPolicy | None, recorded_clock_us: int | None) -> DocumentPolicy:
        """The stricter, field by field, of this policy and the one recorded at build (None: none recorded).

        More hits, the longer span, only the flags BOTH opt in to, more vantages, the lower clock threshold:
        a recorded note can only tighten the document's policy, never loosen it.
        """
        clock = min((t for t in (self.clock_threshold_us, recorded_clock_us) if t is not None), default=None)
        if recorded is None:
            return DocumentPolicy(self.thresholds, clock)
        mine = self.thresholds
        strict = ThresholdPolicy(
            max(mine.min_hits, recorded.min_hits),
            max(mine.min_span_us, recorded.min_span_us),
            mine.allow_flags & recorded.allow_flags,
            max(mine.min_vantages, recorded.min_vantages),
        )
        return DocumentPolicy(strict, clock)

    def describe(self) -> str:
        """One line, e.g. ``min_hits=3, min_span=60.0 min, allow_flags=none, clock_threshold=as sealed``."""
        clock = "as sealed" if self.clock_threshold_us is None else f"{self.clock_threshold_us / 1000:g} ms"
        return f"{self.thresholds.describe()}, clock_threshold={clock}"


COURT_TESTED = DocumentPolicy()
"""The court-tested defaults of ``cases build``: 3 verified hits over >= 1 hour, no flag, clock as sealed."""


def applied_text(given: DocumentPolicy, applied: DocumentPolicy, recorded: ThresholdPolicy | None) -> str:
    """Which policy a refusal was judged under, for the refusal line: the command's own (``given``), and
    whether the build note (``recorded``; None: no note) tightened it, saying that it never loosens it."""
    if recorded is None:
        return f"judged under this command's thresholds ({given.describe()}; no build note recorded)"
    if applied == given:
        return (
            f"judged under this command's thresholds ({given.describe()}); the build note "
            f"({recorded.describe()}) never loosens them"
        )
    return (
        f"judged under {applied.describe()}: this command's thresholds ({given.describe()}) tightened, "
        f"field by field, by the build note ({recorded.describe()}), which never loosens them"
    )
