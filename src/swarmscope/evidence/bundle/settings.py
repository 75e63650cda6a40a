"""The sealed run settings a bundle's checks depend on: capture, RFC 3161 authority, clock threshold/policy.

Every monitor run seals its configuration as a :class:`RunStarted` record (``settings_json``); a record
belongs to the run whose ``RunStarted`` is the nearest one BEFORE it in the node's hash chain (the
monitor writes it first). Export and verify read the same settings through this module, so the clock
threshold a bundle's flags use, whether an observation without a capture is acceptable, and whether a
batch without an RFC 3161 token is a defect are decided by what was sealed at the time, never by an
option of the export alone.

- ``capture``: false only when the run was configured not to record wire captures; an observation of
  such a run cannot be re-derived and is reported as such. Absent or true: a capture is required.
- ``tsa_url``: an RFC 3161 authority was configured; every sealed batch of the run should carry a token.
- ``clock_threshold_ms`` (default 100) and ``clock_policy`` (``default`` or ``commercial-anchor``: the
  :meth:`ClockPolicy.strict` preset, 40 ms, discard everything since the last good sync; a lower
  ``clock_threshold_ms`` still wins). Observations of several runs: the STRICTEST policy of those runs
  (smallest threshold, commercial-anchor when any run used it) applies to the whole bundle.

Source: README "Honest clock" (clock policy and threshold) and "Export and verify" (methodology from the
sealed run settings).
"""

from __future__ import annotations

from bisect import bisect_left
from collections.abc import Iterable, Sequence
from typing import Any

from swarmscope.evidence.bundle.json_bound import RUN_SETTINGS, loads_text_bounded
from swarmscope.evidence.clock_policy import ClockPolicy
from swarmscope.evidence.records import RunStarted

_last: tuple[str, dict[str, Any]] | None = None
COMMERCIAL_ANCHOR = "commercial-anchor"
DEFAULT_THRESHOLD_US = ClockPolicy.default().threshold_us


def settings_of(run: RunStarted) -> dict[str, Any]:
    """The run's sealed settings as a dict ({} when ``settings_json`` is not a JSON object, or is over
    the JSON bound of :mod:`~swarmscope.evidence.bundle.json_bound`: 4 MiB, or too costly to parse).

    The last text parsed is kept (keyed by the str object itself): every observation and hit of a run
    asks for the same run's settings.
    """
    global _last
    text = run.settings_json
    if _last is not None and _last[0] is text:
        return _last[1]
    try:
        value = loads_text_bounded(text, RUN_SETTINGS)
    except (ValueError, RecursionError):
        value = {}
    parsed = value if isinstance(value, dict) else {}
    _last = (text, parsed)
    return parsed


def _threshold_us(settings: dict[str, Any]) -> int:
    value = settings.get("clock_threshold_ms")
    if isinstance(value, int | float) and not isinstance(value, bool) and 0 < value < 2**40:
        return max(1, round(value * 1000))
    return DEFAULT_THRESHOLD_US


def run_clock_policy(settings: dict[str, Any]) -> ClockPolicy:
    """The clock policy a run sealed (module docstring): its threshold, and the commercial-anchor preset."""
    threshold = _threshold_us(settings)
    if settings.get("clock_policy") == COMMERCIAL_ANCHOR:
        strict = ClockPolicy.strict()
        return ClockPolicy(min(threshold, strict.threshold_us), strict.max_age_us, COMMERCIAL_ANCHOR)
    return ClockPolicy(threshold_us=threshold)


def strictest(policies: Iterable[ClockPolicy]) -> ClockPolicy:
    """The strictest of ``policies``: smallest threshold and expiry; commercial-anchor when any is.

    Empty: :meth:`ClockPolicy.default`.
    """
    items = list(policies)
    if not items:
        return ClockPolicy.default()
    ages = [p.max_age_us for p in items if p.max_age_us is not None]
    name = COMMERCIAL_ANCHOR if any(p.name == COMMERCIAL_ANCHOR for p in items) else "default"
    return ClockPolicy(min(p.threshold_us for p in items), min(ages) if ages else None, name)


class RunIndex:
    """Which sealed run a chain index belongs to (the nearest RunStarted before it)."""

    def __init__(self, runs: Iterable[tuple[int, RunStarted]]) -> None:
        ordered = sorted(runs, key=lambda pair: pair[0])
        self._indices = [index for index, _ in ordered]
        self._runs = [run for _, run in ordered]

    def run_at(self, index: int) -> RunStarted | None:
        """The run governing chain index ``index`` (None: no run record precedes it)."""
        pos = bisect_left(self._indices, index) - 1
        return self._runs[pos] if pos >= 0 else None

    def settings_at(self, index: int) -> dict[str, Any] | None:
        """The sealed settings governing ``index`` (None: no run record precedes it)."""
        run = self.run_at(index)
        return None if run is None else settings_of(run)

    def all_settings(self) -> list[dict[str, Any]]:
        """The settings of every run, in chain order."""
        return [settings_of(run) for run in self._runs]

    def sealed_clock_policy(self, observation_indices: Sequence[int]) -> ClockPolicy:
        """The strictest sealed policy of the runs of ``observation_indices`` (none: of every run).

        An observation with no run record before it counts with the default policy (100 ms).
        """
        if observation_indices:
            chosen = [self.settings_at(i) for i in observation_indices]
            return strictest(run_clock_policy(s or {}) for s in chosen)
        return strictest(run_clock_policy(s) for s in self.all_settings())
