"""Does a stored case still pass on the proven evidence, under the document's thresholds (a note tightens)?

The gate of every accusing document (:mod:`swarmscope.cases.case_proof`) first recounts the case's proven
hits; this module then re-judges those hits exactly as ``cases build`` does (:mod:`swarmscope.cases.
candidates`), with proven inputs only: the clock judgement from the node's sealed clock samples and run
records (:func:`swarmscope.cases.run_clock.workflow_clock`), the attribution flags from the sealed
attributions (:func:`swarmscope.store.ledger.proven_records.proven_attributions`; an address with a refused
attribution row is unproven and fails), and the threshold policy GIVEN TO THE DOCUMENT COMMAND
(:class:`swarmscope.cases.document_policy.DocumentPolicy`; default: the court-tested defaults). The
case's latest build note in ``case_event`` (``min_hits``, ``min_span``, ``allow_flags``, a tightened
``clock_threshold``) is not sealed, so it can only TIGHTEN that policy, field by field (more hits, the
longer span, only the flags both opt in to, the lower clock threshold), never loosen it: a case row and
note inserted by hand saying ``min_hits=1`` does not pass a one-hit case. Hit count, span, clock flags and
attribution flags must still make it a candidate; a refusal names the failed threshold and the policy
applied. ``min_span`` is recorded to 0.1 min, so it is read back less 3 s (the rounding).

Source: README "Only proven evidence" and "Thresholds".
"""

from __future__ import annotations

import re
from collections.abc import Sequence

from swarmscope.cases.candidates import flags_by_ip, recorded_policy, unproven_attribution
from swarmscope.cases.document_policy import DocumentPolicy, applied_text
from swarmscope.cases.run_clock import workflow_clock
from swarmscope.cases.thresholds import Hit, ThresholdPolicy, evaluate
from swarmscope.errors import InputError
from swarmscope.store.database import Store
from swarmscope.store.ledger.proven import EvidenceTrust, ProvenHit
from swarmscope.store.ledger.proven_records import NodeClock, ProvenAttributions, proven_attributions
from swarmscope.store.legal import case_status

_POLICY = re.compile(
    r"min_hits=(\d+), min_span=([0-9.]+) min, allow_flags=([a-z]+(?:,[a-z]+)*)(?:, min_vantages=(\d+))?"
)
_TIGHTENED = re.compile(r"clock_threshold=([0-9.]+) ms \(tightened")
ROUNDING_US = 3_000_000  # half of the 0.1 min the recorded min_span is rounded to


def build_policy(store: Store, doe: str) -> tuple[ThresholdPolicy | None, int | None]:
    """The threshold policy (None: no note records one) and tightened clock threshold (µs, None: as
    sealed) of the case's last build note: unsealed, only ever used to tighten a document's policy."""
    try:
        text = recorded_policy(e.note for e in case_status.case_events(store, doe)) or ""
    except (KeyError, LookupError, ValueError):
        text = ""
    found = _POLICY.search(text)
    policy = None
    if found:
        flags = frozenset() if found[3] == "none" else frozenset(found[3].split(","))
        span = max(0, round(float(found[2]) * 60_000_000) - ROUNDING_US)
        policy = ThresholdPolicy(int(found[1]), span, flags, int(found[4] or 1))
    tightened = _TIGHTENED.search(text)
    return policy, None if tightened is None else round(float(tightened[1]) * 1000)


class Rejudge:
    """Re-judges cases of one command, keeping the proven clock records and attributions it read."""

    def __init__(self, store: Store, trust: EvidenceTrust, policy: DocumentPolicy) -> None:
        """``policy``: the document command's thresholds (a build note only tightens them)."""
        self.store, self.trust, self.policy = store, trust, policy
        self.clocks: dict[int, NodeClock] = {}
        self.attributions: dict[str, ProvenAttributions] = {}

    def attributions_of(self, ip: str) -> ProvenAttributions:
        """The proven attributions of ``ip`` (read once per command)."""
        if ip not in self.attributions:
            self.attributions[ip] = proven_attributions(self.store, self.trust, {ip})
        return self.attributions[ip]

    def problem(self, doe: str, port: int, hits: Sequence[ProvenHit]) -> str | None:
        """Why the case's proven ``hits`` (its address, counted for the case) no longer make a candidate."""
        if not hits:
            return "no proven hit"
        recorded, recorded_clock = build_policy(self.store, doe)
        applied = self.policy.tightened(recorded, recorded_clock)
        try:
            clock = workflow_clock(self.store, self.trust, hits, applied.clock_threshold_us, self.clocks)
        except InputError as exc:
            return f"the clock threshold does not apply ({exc})"
        flagged, vantage = clock.flagged, clock.vantage  # the vantage as cases build counts it
        judged = [
            Hit(h.ip, port, h.infohash, h.started_us, h.ended_us, flagged(h), h.signer, vantage(h))
            for h in hits
        ]
        attributions = self.attributions_of(hits[0].ip)
        verdicts = evaluate(judged, applied.thresholds, flags_by_ip(judged, attributions.by_ip))
        reasons = [
            r for v in verdicts for r in unproven_attribution(v, attributions.refused).reasons_excluded
        ]
        if not reasons:
            return None
        return "; ".join([*reasons, applied_text(self.policy, applied, recorded)])
