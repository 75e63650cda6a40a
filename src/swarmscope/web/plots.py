"""Swarm size over time as an SVG built here (no JS chart library; nothing downloaded by the browser).

Presentation attributes only (``stroke``, ``fill``, ``font-size``): no ``style`` attribute or element, so
the console's CSP (``style-src 'self'``) has nothing to refuse. Two lines per UTC minute: peers observed
(blue) and peers verified (green); the x axis is UTC time, the y axis peer addresses. Every text in it is
a number or a time we format ourselves, escaped all the same.

A minute with no row is a minute in which nothing of the swarm was observed (the read model has a row
for every minute with at least one observation), not a minute of a size in between: the line breaks
there (one ``polyline`` per run of consecutive minutes) instead of drawing a slope across the gap.
"""

from __future__ import annotations

from datetime import UTC, datetime
from xml.sax.saxutils import escape

from swarmscope.store.console.overview import MinutePoint

WIDTH, HEIGHT = 760, 240
LEFT, RIGHT, TOP, BOTTOM = 56, 16, 16, 36  # margins, px


def _hhmm(us: int) -> str:
    return datetime.fromtimestamp(us / 1_000_000, UTC).strftime("%Y-%m-%d %H:%M UTC")


MINUTE_US = 60_000_000


def runs(series: list[MinutePoint]) -> list[list[MinutePoint]]:
    """``series`` (oldest first) cut wherever a minute has no row: runs of consecutive minutes."""
    out: list[list[MinutePoint]] = []
    for point in series:
        if out and point.minute_us - out[-1][-1].minute_us <= MINUTE_US:
            out[-1].append(point)
        else:
            out.append([point])
    return out


def _polyline(points: list[tuple[float, float]], colour: str) -> str:
    """The line through ``points`` (px) and a dot on each (one minute alone is a dot)."""
    coords = " ".join(f"{x:.1f},{y:.1f}" for x, y in points)
    dots = "".join(f'<circle cx="{x:.1f}" cy="{y:.1f}" r="2.5" fill="{colour}"/>' for x, y in points)
    return f'<polyline points="{coords}" fill="none" stroke="{colour}" stroke-width="2"/>{dots}'


def size_svg(series: list[MinutePoint], title: str = "peers per minute") -> str:
    """The SVG document (text) of ``series`` (oldest first); a frame saying "no data" when empty."""
    inner_w, inner_h = WIDTH - LEFT - RIGHT, HEIGHT - TOP - BOTTOM
    parts = [
        f'<svg xmlns="http://www.w3.org/2000/svg" width="{WIDTH}" height="{HEIGHT}" '
        f'viewBox="0 0 {WIDTH} {HEIGHT}" role="img" aria-label="{escape(title)}">',
        f'<rect x="0" y="0" width="{WIDTH}" height="{HEIGHT}" fill="#ffffff"/>',
        f'<rect x="{LEFT}" y="{TOP}" width="{inner_w}" height="{inner_h}" fill="none" stroke="#d5dbe1"/>',
    ]
    if not series:
        parts.append(
            f'<text x="{WIDTH / 2}" y="{HEIGHT / 2}" text-anchor="middle" font-size="13">no data</text>'
        )
        return "".join([*parts, "</svg>"])
    first, last = series[0].minute_us, series[-1].minute_us
    top = max(1, max(p.peers for p in series))

    def x(minute_us: int) -> float:
        return LEFT + (0.5 if last == first else (minute_us - first) / (last - first)) * inner_w

    def y(value: int) -> float:
        return TOP + inner_h - value / top * inner_h

    for run in runs(series):
        parts.append(_polyline([(x(p.minute_us), y(p.peers)) for p in run], "#1f5fa8"))
        parts.append(_polyline([(x(p.minute_us), y(p.verified_peers)) for p in run], "#1d7a35"))
    labels = [
        (LEFT - 6, TOP + 10, "end", str(top)),
        (LEFT - 6, TOP + inner_h, "end", "0"),
        (LEFT, HEIGHT - 12, "start", _hhmm(first)),
        (WIDTH - RIGHT, HEIGHT - 12, "end", _hhmm(last)),
        (LEFT + inner_w / 2, HEIGHT - 12, "middle", "peers (blue), verified (green)"),
    ]
    for lx, ly, anchor, text in labels:
        parts.append(
            f'<text x="{lx}" y="{ly}" text-anchor="{anchor}" font-size="11" fill="#1d232a">'
            f"{escape(text)}</text>"
        )
    return "".join([*parts, "</svg>"])
