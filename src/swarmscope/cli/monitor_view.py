"""The monitor's live view: one table row per swarm (tiers, seeds/leechers, bytes, clients, sources).

Text that came from peers or torrents (names, client strings) is escaped: Rich markup and control
characters never reach the terminal from the network.
"""

from __future__ import annotations

from rich.table import Table

from swarmscope.cli.text import escaped, plain
from swarmscope.monitor.crawler import Monitor


def _estimate(value: tuple[float | None, float | None] | None) -> str:
    """BEP 33 bloom-filter estimates as ``seeds/peers`` (rounded), or ``-``."""
    if value is None:
        return "-"
    return "/".join("?" if v is None else f"{v:.0f}" for v in value)


def live_table(monitor: Monitor, elapsed: float) -> Table:
    """The live view: one row per swarm."""
    table = Table(title=f"swarmscope monitor — {elapsed:5.1f} s — probes in flight: {len(monitor._runs)}")
    for col in (
        "swarm",
        "listed",
        "connected",
        "has pieces",
        "verified",
        "seeds/leechers",
        "bytes in",
        "hash fails",
        "top clients",
        "by source",
        "DHT size (BEP 33)",
        "trackers ok/err",
    ):
        left = col in ("swarm", "top clients", "by source")
        table.add_column(col, justify="left" if left else "right")
    for s in monitor.stats.values():
        c = s.counts()
        clients = ", ".join(f"{name} ×{n}" for name, n in s.top_clients())
        table.add_row(
            f"{escaped(s.name[:28])}\n[dim]{s.swarm[:16]}…[/dim]",
            f"{c['listed']}{'+' if s.over_bound else ''}",  # "+": never-reached addresses past the bound
            str(c["connected"]),
            str(c["has_pieces"]),
            f"[bold green]{c['verified']}[/]",
            f"{c['seeds']}/{c['leechers']}",
            f"{s.bytes_in:,}",
            str(c["hash_failures"]),
            plain(clients or "-"),
            " ".join(f"{src} {n}" for src, n in sorted(s.by_source().items())) or "-",
            _estimate(s.dht_estimate),
            f"{s.trackers_ok}/{s.tracker_errors}",
        )
    return table
