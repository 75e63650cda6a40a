"""The threshold options of ``cases build`` and of every accusing document command, defined once.

``--min-hits``, ``--min-span``, ``--allow-flag``, ``--min-vantages`` and ``--clock-threshold-ms`` mean
the same on ``cases
build`` (the thresholds that make a case) and on ``exhibits``, ``notices``, ``letters draft/preview/
approve/send`` and ``escalations`` (the thresholds a document re-judges each case under before carrying
it). A document never reads them from the case's history: the build note is an unsealed row, so it may
only tighten what the command is given (:mod:`swarmscope.cases.document_policy`). The defaults are the
court-tested ones (3 verified hits over >= 1 hour, no flag opted in, one vantage: a single monitor's
evidence, as courts have accepted it; the clock threshold as sealed), so an
operator who built cases with looser thresholds asks for them again, explicitly, for each document.

Values are checked before any store is opened: one ``error:`` line and exit status 1 for a NaN, negative
or out-of-range number (:mod:`swarmscope.cli.numeric`), a duration that is not one, an unknown flag.
"""

from __future__ import annotations

import re
from typing import Annotated

import typer

from swarmscope.cases.document_policy import DocumentPolicy
from swarmscope.cases.thresholds import (
    DEFAULT_MIN_HITS,
    DEFAULT_MIN_VANTAGES,
    KNOWN_FLAGS,
    ThresholdPolicy,
)
from swarmscope.cli.numeric import CLOCK_THRESHOLD_MS, MIN_HITS, MIN_SPAN_SECONDS, MIN_VANTAGES, number_option
from swarmscope.errors import InputError

_DURATION = re.compile(r"(\d+(?:\.\d+)?)\s*([smhd]?)")
_UNIT_S = {"": 1, "s": 1, "m": 60, "h": 3600, "d": 86400}

MinHitsOption = Annotated[
    int, number_option("--min-hits", MIN_HITS, f"Verified hits needed (default {DEFAULT_MIN_HITS}).")
]
MinVantagesOption = Annotated[
    int,
    number_option(
        "--min-vantages",
        MIN_VANTAGES,
        f"Distinct fleet nodes whose sealed hits make a case (default {DEFAULT_MIN_VANTAGES}; 2 or more: "
        "corroborated from several source addresses).",
    ),
]
MinSpanOption = Annotated[
    str, typer.Option("--min-span", help="First to last hit, e.g. 1h, 90m (default 1h).")
]
AllowFlagOption = Annotated[
    list[str] | None,
    typer.Option("--allow-flag", help="Opt in to addresses flagged hosting, vpn or tor."),
]
ClockThresholdOption = Annotated[
    float | None,
    number_option(
        "--clock-threshold-ms",
        CLOCK_THRESHOLD_MS,
        "A stricter clock threshold than the one sealed in each run's settings (default: sealed).",
    ),
]
DEFAULT_MIN_SPAN = "1h"


def parse_duration(text: str, option: str) -> int:
    """``1h``, ``90m``, ``3600s``, ``2d`` or plain seconds → microseconds (at most :data:`MIN_SPAN_SECONDS`).

    Raises:
        InputError: not such a duration, or out of range (the message names ``option``).
    """
    match = _DURATION.fullmatch(text.strip().lower())
    if match is None:
        raise InputError(f"{option} {text!r}: a duration such as 1h, 90m, 3600s or 2d")
    seconds = float(match.group(1)) * _UNIT_S[match.group(2)]
    if not MIN_SPAN_SECONDS.holds(seconds):
        raise InputError(f"{option} {text[:40]!r}: must be {MIN_SPAN_SECONDS.describe()}")
    return round(seconds * 1_000_000)


def threshold_policy(
    min_hits: int, min_span: str, allow_flag: list[str] | None, min_vantages: int = DEFAULT_MIN_VANTAGES
) -> ThresholdPolicy:
    """The thresholds from ``--min-hits``, ``--min-span``, ``--allow-flag`` and ``--min-vantages``.

    Raises:
        InputError: a value out of range, a duration that is not one, an unknown flag (names the option).
    """
    flags = frozenset(f.lower() for f in allow_flag or ())
    unknown = flags - KNOWN_FLAGS
    if unknown:
        raise InputError(f"--allow-flag {sorted(unknown)[0]!r}: one of hosting, vpn, tor")
    MIN_HITS.check("--min-hits", min_hits)
    MIN_VANTAGES.check("--min-vantages", min_vantages)
    try:
        return ThresholdPolicy(min_hits, parse_duration(min_span, "--min-span"), flags, min_vantages)
    except ValueError as exc:
        raise InputError(f"--min-hits {min_hits}: {exc}") from None


def clock_threshold_us(clock_threshold_ms: float | None) -> int | None:
    """``--clock-threshold-ms`` in microseconds (None: as sealed).

    Raises:
        InputError: NaN, an infinity, not more than 0 or above the range.
    """
    if clock_threshold_ms is None:
        return None
    CLOCK_THRESHOLD_MS.check("--clock-threshold-ms", clock_threshold_ms)
    return round(clock_threshold_ms * 1000)


def document_policy(
    min_hits: int,
    min_span: str,
    allow_flag: list[str] | None,
    clock_threshold_ms: float | None,
    min_vantages: int = DEFAULT_MIN_VANTAGES,
) -> DocumentPolicy:
    """The policy a document command re-judges its cases under, from its five threshold options.

    Raises:
        InputError: see :func:`threshold_policy` and :func:`clock_threshold_us`.
    """
    thresholds = threshold_policy(min_hits, min_span, allow_flag, min_vantages)
    return DocumentPolicy(thresholds, clock_threshold_us(clock_threshold_ms))
