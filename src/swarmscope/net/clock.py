"""Clocks: monotonic for timers, UTC microseconds for evidence.

Evidence timestamps come from :meth:`Clock.now_us`; an NTP-measured offset (README "Honest clock") is applied
here so the pure layers never read a clock themselves.
"""

from __future__ import annotations

import time


class Clock:
    """UTC wall clock in integer microseconds plus a monotonic reading for timers.

    Args:
        offset_us: correction added to the system clock (microseconds), e.g. from an NTP measurement.
    """

    __slots__ = ("offset_us",)

    def __init__(self, offset_us: int = 0) -> None:
        self.offset_us = offset_us

    def now_us(self) -> int:
        """Microseconds since the Unix epoch, UTC, corrected by ``offset_us``."""
        return time.time_ns() // 1000 + self.offset_us

    @staticmethod
    def monotonic() -> float:
        """Seconds from an arbitrary origin that never goes backwards (for timers only)."""
        return time.monotonic()
