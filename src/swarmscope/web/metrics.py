"""``/metrics``: the monitor's and the store's numbers in the Prometheus text format, for Grafana.

The monitor and the console meet only through the store: a running monitor writes a sample of its
counters every few seconds (``monitor_stat``, :mod:`swarmscope.monitor.live_stats`), the peers per tier
come from the folded read models, the disk use from the database file (or ``pg_database_size``). A run
is live while its newest sample is at most :data:`LIVE_US` old.

Who may read it: an ANALYST or higher who is bound to no rights holder (the numbers cover every client's
swarms); a client's user gets 404, as for any object outside its scope. Prometheus scrapes with an API
token (``swarmscope users add prometheus --role analyst``, then ``swarmscope users token prometheus``;
``authorization: {credentials_file: ...}`` in the scrape config); the token expires (at most 365 days,
``users token --expires-days``), so the scrape answers 401 once it has and needs a new one.

Metric names (labels; counters get Prometheus's ``_total``): ``swarmscope_probes`` (run; counter, finished
probes), ``swarmscope_probes_per_second`` (run), ``swarmscope_writer_queue_records`` (run),
``swarmscope_batches`` (run; counter), ``swarmscope_last_batch_commit_seconds`` (run),
``swarmscope_batch_commit_seconds`` (run; counter), ``swarmscope_tracker_errors`` and
``swarmscope_dht_errors`` (run; counters), ``swarmscope_peers`` (infohash, tier),
``swarmscope_not_evidence_records`` (infohash), ``swarmscope_store_disk_bytes``,
``swarmscope_console_unfolded_batches`` (sealed evidence batches the console's read models do not count
yet: the background folder's lag; a batch of account events, such as a login's, is not one).
"""

from __future__ import annotations

from collections.abc import Iterator

from fastapi import APIRouter, Depends, HTTPException
from fastapi.responses import Response
from prometheus_client import CollectorRegistry, generate_latest
from prometheus_client.core import CounterMetricFamily, GaugeMetricFamily, Metric
from prometheus_client.exposition import CONTENT_TYPE_LATEST

from swarmscope.net.clock import Clock
from swarmscope.store.console.fold import unfolded_batches
from swarmscope.store.console.overview import SwarmOverview, swarm_overview
from swarmscope.store.console.stats import RunRate, live_runs, store_disk_bytes
from swarmscope.store.database import Store
from swarmscope.web.deps import StoreDep, UserDep, require
from swarmscope.web.roles import Role

router = APIRouter()
LIVE_US = 60_000_000  # a run is live while its newest sample is at most a minute old (UTC µs)


class _Snapshot:
    """One scrape's numbers, read from the store once, as Prometheus metric families."""

    def __init__(self, runs: list[RunRate], swarms: list[SwarmOverview], disk: int, unfolded: int) -> None:
        self.runs, self.swarms, self.disk, self.unfolded = runs, swarms, disk, unfolded

    def _run_metrics(self) -> Iterator[Metric]:
        def family(kind: type[Metric], name: str, doc: str) -> Metric:
            return kind(name, doc, labels=["run"])  # type: ignore[call-arg]

        probes = family(CounterMetricFamily, "swarmscope_probes", "Probes finished by the run")
        rate = family(
            GaugeMetricFamily, "swarmscope_probes_per_second", "Probes per second (last two samples)"
        )
        queue = family(
            GaugeMetricFamily, "swarmscope_writer_queue_records", "Records queued, not yet committed"
        )
        batches = family(CounterMetricFamily, "swarmscope_batches", "Sealed batches committed by the run")
        last = family(
            GaugeMetricFamily, "swarmscope_last_batch_commit_seconds", "The last batch commit's duration"
        )
        total = family(
            CounterMetricFamily, "swarmscope_batch_commit_seconds", "Seconds spent committing batches"
        )
        tracker = family(CounterMetricFamily, "swarmscope_tracker_errors", "Failed tracker announces")
        dht = family(CounterMetricFamily, "swarmscope_dht_errors", "Failed DHT lookups")
        for run in self.runs:
            s, label = run.latest, [str(run.latest.run_id)]
            probes.add_metric(label, s.probes)  # type: ignore[attr-defined]
            if run.probes_per_second is not None:
                rate.add_metric(label, run.probes_per_second)  # type: ignore[attr-defined]
            queue.add_metric(label, s.writer_queue)  # type: ignore[attr-defined]
            batches.add_metric(label, s.batches)  # type: ignore[attr-defined]
            last.add_metric(label, s.commit_seconds_last)  # type: ignore[attr-defined]
            total.add_metric(label, s.commit_seconds_total)  # type: ignore[attr-defined]
            tracker.add_metric(label, s.tracker_errors)  # type: ignore[attr-defined]
            dht.add_metric(label, s.dht_errors)  # type: ignore[attr-defined]
        yield from (probes, rate, queue, batches, last, total, tracker, dht)

    def collect(self) -> Iterator[Metric]:
        yield from self._run_metrics()
        peers = GaugeMetricFamily(
            "swarmscope_peers", "Peer addresses by best sealed tier", labels=["infohash", "tier"]
        )
        outside = GaugeMetricFamily(
            "swarmscope_not_evidence_records", "Records outside every sealed batch", labels=["infohash"]
        )
        for view in self.swarms:
            for tier, n in view.tiers.items():
                peers.add_metric([view.infohash, tier], n)
            outside.add_metric([view.infohash], view.not_evidence)
        yield peers
        yield outside
        yield GaugeMetricFamily(
            "swarmscope_store_disk_bytes", "Bytes the store takes on disk", value=self.disk
        )
        yield GaugeMetricFamily(
            "swarmscope_console_unfolded_batches",
            "Sealed evidence batches not folded into the console's read models yet",
            value=self.unfolded,
        )


def metrics_text(store: Store, now_us: int) -> bytes:
    """The exposition of every metric (module docstring) as of ``now_us`` (UTC µs)."""
    registry = CollectorRegistry(auto_describe=False)
    registry.register(
        _Snapshot(
            live_runs(store, since_us=now_us - LIVE_US),
            swarm_overview(store),
            store_disk_bytes(store),
            unfolded_batches(store),
        )
    )
    return generate_latest(registry)


@router.get("/metrics", dependencies=[Depends(require(Role.ANALYST))])
def metrics(store: StoreDep, user: UserDep) -> Response:
    """Prometheus metrics of the monitor and the store (operators: analyst or higher, bound to no client)."""
    if user.client is not None:
        raise HTTPException(404, "not found")
    return Response(metrics_text(store, Clock().now_us()), media_type=CONTENT_TYPE_LATEST)
