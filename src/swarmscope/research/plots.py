"""Plots of the released research tables: PNG and SVG, drawn with matplotlib's Agg canvas (no display).

Only released rows are drawn (a suppressed cell is a gap, the ``(suppressed)`` pool a bar of its own), so a
plot holds nothing its CSV does not. Swarms are named by the first 12 hex digits of their infohash. At most
:data:`MAX_SWARMS` swarms are drawn per figure (the largest by units); the CSV holds every swarm. SVG text
stays text (``svg.fonttype: none``) and carries no date, so a file can be searched and compared.
"""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path

import matplotlib
from matplotlib.axes import Axes
from matplotlib.backends.backend_agg import FigureCanvasAgg
from matplotlib.figure import Figure

from swarmscope.research.aggregate import SEED_SPLIT, VERIFIED_SPLIT
from swarmscope.research.cells import SUPPRESSED, TOTAL, Row, Table

MAX_SWARMS = 6
MAX_BARS = 12  # labels shown per share plot (the largest; the CSV has them all)
FORMATS = ("png", "svg")


def plot_tables(tables: list[Table], out: Path) -> list[Path]:
    """Draw every table with a plot into ``out`` (``<table>.png`` and ``.svg``); returns the files."""
    by_name = {t.name: t for t in tables}
    order = _largest_swarms(by_name["swarm_size"])
    drawers: dict[str, Callable[[Axes, list[Row]], None]] = {
        "swarm_size": _series(lambda r: r.label == TOTAL, "addresses"),
        "hour_of_day": _hours,
        "country_share": _shares,
        "asn_share": _shares,
        "client_share": _shares,
        "seeds_leechers": _seeds,
        "discovery_sources": _sources,
    }
    written: list[Path] = []
    for name, draw in drawers.items():
        if name in by_name and order:
            written += _figure(by_name[name], order, draw, out)
    return written


def _largest_swarms(size: Table) -> list[str]:
    totals: dict[str, int] = {}
    for r in size.rows:
        if r.label == TOTAL and r.addresses is not None:
            totals[r.group[0]] = max(totals.get(r.group[0], 0), r.addresses)
    return sorted(totals, key=lambda s: (-totals[s], s))[:MAX_SWARMS]


def _figure(
    table: Table, swarms: list[str], draw: Callable[[Axes, list[Row]], None], out: Path
) -> list[Path]:
    style = {"svg.fonttype": "none", "svg.hashsalt": "swarmscope-research", "font.size": 8}
    with matplotlib.rc_context(style):  # type: ignore[arg-type]  # keys typed as Literal by matplotlib
        fig = Figure(figsize=(7.0, 2.6 * len(swarms)), layout="constrained")
        FigureCanvasAgg(fig)
        fig.suptitle(table.title)
        for i, swarm in enumerate(swarms):
            ax = fig.add_subplot(len(swarms), 1, i + 1)
            ax.set_title(f"swarm {swarm[:12]}", loc="left")
            draw(ax, [r for r in table.rows if r.group[0] == swarm])
        paths = [out / f"{table.name}.{fmt}" for fmt in FORMATS]
        for path, fmt in zip(paths, FORMATS, strict=True):
            fig.savefig(path, format=fmt, dpi=100, metadata={"Date": None} if fmt == "svg" else None)
    return paths


def _series(keep: Callable[[Row], bool], what: str) -> Callable[[Axes, list[Row]], None]:
    def draw(ax: Axes, rows: list[Row]) -> None:
        hours = sorted({r.group[1] for r in rows})
        values = {r.group[1]: r.addresses for r in rows if keep(r) and r.addresses is not None}
        ax.plot(range(len(hours)), [values.get(h, float("nan")) for h in hours], marker="o")
        _hour_ticks(ax, hours)
        ax.set_ylabel(what)

    return draw


def _hour_ticks(ax: Axes, hours: list[str]) -> None:
    step = max(1, len(hours) // 8)
    ax.set_xticks(range(0, len(hours), step), [h.replace("T", "\n") for h in hours[::step]])


def _hours(ax: Axes, rows: list[Row]) -> None:
    ax.bar([r.label for r in rows], [r.addresses or 0 for r in rows])
    ax.set_xlabel("hour of day (UTC); a suppressed hour is empty")
    ax.set_ylabel("addresses")


def _shares(ax: Axes, rows: list[Row]) -> None:
    shown = [r for r in rows if r.label not in (TOTAL, SUPPRESSED) and r.share is not None][:MAX_BARS]
    shown += [r for r in rows if r.label == SUPPRESSED]
    ax.barh([r.label for r in shown][::-1], [r.share or 0.0 for r in shown][::-1])
    ax.set_xlabel("share of connected addresses")
    ax.set_xlim(0, 1)


def _seeds(ax: Axes, rows: list[Row]) -> None:
    _series(lambda r: r.label == SEED_SPLIT[0], "addresses")(ax, rows)
    _series(lambda r: r.label == SEED_SPLIT[1], "addresses")(ax, rows)
    ax.legend(list(SEED_SPLIT), loc="upper left")


def _sources(ax: Axes, rows: list[Row]) -> None:
    sources = sorted({r.group[1] for r in rows})
    for offset, label in ((-0.2, TOTAL), (0.2, VERIFIED_SPLIT[0])):
        values = {r.group[1]: r.addresses or 0 for r in rows if r.label == label}
        ax.bar([i + offset for i in range(len(sources))], [values.get(s, 0) for s in sources], width=0.4)
    hidden = {r.group[1] for r in rows if r.label == TOTAL and r.suppressed}
    ax.set_xticks(range(len(sources)), [f"{s}\n(suppressed)" if s in hidden else s for s in sources])
    ax.legend(["found", "verified"], loc="upper right")
    ax.set_ylabel("addresses")
