"""The clock judgement of proven hits, as the case workflow applies it, and how a build describes it.

Only sealed records count (README "Only proven evidence"): each signing node's clock samples and run
records are read from its ledger under the trusted keys (:func:`swarmscope.store.ledger.proven_records.
proven_clock`), never from the ``clock_sample`` or ``monitor_run`` rows, and a hit is judged by
:func:`swarmscope.evidence.bundle.clock_judgement.judge_clock`, the function ``swarmscope export`` uses: every
proven sample of the hit's node, under the STRICTEST clock policy sealed by any proven run of that node
(``clock_threshold_ms``, default 100 ms, and the commercial-anchor preset). This is conservative: it
flags at least what an export of the same node flags, and a hit's run membership (the unsealed
``observation.run_id``) plays no part. A caller may only tighten the threshold. A node whose ledger is
not wholly proven (:class:`swarmscope.store.ledger.proven_records.NodeClock` ``incomplete``) has every hit
flagged. A node with no proven sample is *unmeasured*: nothing is flagged (the clock policy's rule); a build's
recorded policy (:meth:`WorkflowClock.text`) names every run (by its sealed run record) with hits but no
proven sample of its own, rather than imply a check.
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass

from swarmscope.evidence.bundle.clock_judgement import ClockJudgement, judge_clock
from swarmscope.evidence.bundle.settings import RunIndex
from swarmscope.evidence.bundle.vantage import DEFAULT_ROUTE, hit_vantage
from swarmscope.evidence.records import RunStarted
from swarmscope.store.database import Store
from swarmscope.store.ledger.proven import EvidenceTrust, ProvenHit
from swarmscope.store.ledger.proven_records import NodeClock, observation_nodes, proven_clock

DEFAULT_CLOCK_THRESHOLD_US = 100_000


@dataclass(frozen=True, slots=True)
class WorkflowClock:
    """The clock judgement of each node holding proven hits, and each hit's node (observation id → node)."""

    clocks: dict[int, NodeClock]
    judgements: dict[int, ClockJudgement]
    nodes: dict[int, int]
    requested_us: int | None

    def flagged(self, hit: ProvenHit) -> bool:
        """True when the hit's start lies in a flag window of its node, or the node's clock is incomplete."""
        node = self.nodes.get(hit.observation_id)
        if node is None or self.clocks[node].incomplete is not None:
            return True
        return self.judgements[node].flag_of(hit.started_us) is not None

    def vantage(self, hit: ProvenHit) -> str:
        """The vantage (source network, :mod:`swarmscope.evidence.bundle.vantage`) of the proven run of
        the hit's node that sealed it; unknown: the shared ``DEFAULT_ROUTE`` (never a vantage of its own)."""
        node = self.nodes.get(hit.observation_id)
        clock = self.clocks.get(node) if node is not None else None
        if clock is None:
            return DEFAULT_ROUTE
        return hit_vantage(RunIndex(clock.runs), hit.ledger_index, hit.ip)

    def text(self, hits: Iterable[ProvenHit]) -> str:
        """The clock part of a build's recorded policy: the threshold used, and what was never measured."""
        used = sorted({j.policy.threshold_us for j in self.judgements.values()})
        sealed = ", ".join(f"{t / 1000:g}" for t in used) or f"{DEFAULT_CLOCK_THRESHOLD_US / 1000:g}"
        if self.requested_us is not None:
            text = f"{self.requested_us / 1000:g} ms (tightened; stricter than the sealed run settings)"
        else:
            text = f"{sealed} ms (as sealed in the run settings)"
        unmeasured: set[int] = set()
        for hit in hits:
            node = self.nodes.get(hit.observation_id)
            clock = self.clocks.get(node) if node is not None else None
            if clock is None:
                continue
            runs = RunIndex(clock.runs)
            run = runs.run_at(hit.ledger_index)
            measured = {_run_id(runs.run_at(index)) for index, _s in clock.samples}
            if _run_id(run) not in measured:
                unmeasured.add(hit.run_id if run is None else run.run_id)
        if unmeasured:
            named = ", ".join(str(r) for r in sorted(unmeasured))
            text += (
                f"; clock never measured (no NTP sample) in monitor run(s) {named}: its hits were not checked"
            )
        incomplete = [f"node {n}: {c.incomplete}" for n, c in sorted(self.clocks.items()) if c.incomplete]
        if incomplete:
            text += f"; clock record not wholly proven, every hit flagged ({'; '.join(incomplete)})"
        return text


def _run_id(run: RunStarted | None) -> int | None:
    return None if run is None else run.run_id


def workflow_clock(
    store: Store,
    trust: EvidenceTrust,
    hits: Iterable[ProvenHit],
    clock_threshold_us: int | None = None,
    cache: dict[int, NodeClock] | None = None,
) -> WorkflowClock:
    """Judge the clock of ``hits`` from proven records only (module docstring); ``cache`` keeps each
    node's proven clock records between calls (one command: the ledger does not change meanwhile).

    Raises:
        InputError: ``clock_threshold_us`` not positive, or looser than a sealed threshold of a node.
    """
    hits = list(hits)
    nodes = observation_nodes(store, {h.observation_id for h in hits})
    wanted = set(nodes.values())
    if cache is None:
        clocks = proven_clock(store, trust, wanted)
    else:
        cache.update(proven_clock(store, trust, wanted - set(cache)))
        clocks = {node: cache[node] for node in wanted}
    judgements = {
        node: judge_clock(RunIndex(c.runs), (s for _i, s in c.samples), (), clock_threshold_us)
        for node, c in clocks.items()
    }
    return WorkflowClock(clocks, judgements, nodes, clock_threshold_us)
