"""The swarm-size SVG: a line only between consecutive minutes; a gap with no observation breaks it."""

from __future__ import annotations

import re

from swarmscope.store.console.overview import MinutePoint
from swarmscope.web.plots import size_svg

T = 1_796_601_660_000_000  # a whole UTC minute, µs
MIN = 60_000_000


def point(minute: int, peers: int) -> MinutePoint:
    return MinutePoint(T + minute * MIN, peers, peers // 2, peers, 0, 0)


def polylines(svg: str) -> list[int]:
    """How many points each polyline joins."""
    return [len(m.split()) for m in re.findall(r'<polyline points="([^"]*)"', svg)]


def test_no_line_is_drawn_across_minutes_in_which_nothing_was_observed() -> None:
    svg = size_svg([point(0, 7), point(1, 6), point(17, 3), point(18, 3), point(19, 4)])
    assert polylines(svg) == [2, 2, 3, 3]  # peers and verified, per run of consecutive minutes
    assert svg.count("<circle") == 10  # every minute still has its dot


def test_consecutive_minutes_are_one_line_and_a_lone_minute_a_dot() -> None:
    assert polylines(size_svg([point(m, 5) for m in range(4)])) == [4, 4]
    alone = size_svg([point(0, 5), point(9, 2)])
    assert polylines(alone) == [1, 1, 1, 1] and alone.count("<circle") == 4
