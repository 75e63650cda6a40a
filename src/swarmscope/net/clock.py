"""Clocks: monotonic for timers, UTC microseconds for evidence.

Evidence timestamps come from :meth:`Clock.now_us`; an NTP-measured offset (README "Honest clock") is applied
here so the pure layers never read a clock themselves.
"""

from __future__ import annotations

import time
from pathlib import Path
from typing import Any

from swarmscope.evidence.boot_clock import BOOT_ID, BOOT_US

BOOT_ID_PATH = Path("/proc/sys/kernel/random/boot_id")  # Linux: one random UUID per boot


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

    def boot_stamp(self) -> dict[str, Any] | None:
        """The host's boot id and ``CLOCK_BOOTTIME`` (µs) read now, to seal beside :meth:`now_us`
        (:mod:`swarmscope.evidence.boot_clock`: a later step of the wall clock shows against it), or None:
        for a subclass (a test's clock keeps a time of its own, which the boot clock would contradict) and
        where Linux's boot id or ``CLOCK_BOOTTIME`` is missing."""
        if type(self) is not Clock or not hasattr(time, "CLOCK_BOOTTIME"):
            return None
        boot_us = time.clock_gettime_ns(time.CLOCK_BOOTTIME) // 1000
        try:
            boot_id = BOOT_ID_PATH.read_text(encoding="ascii").strip()
        except (OSError, UnicodeDecodeError):
            return None
        return {BOOT_ID: boot_id, BOOT_US: boot_us} if boot_id else None

    @staticmethod
    def monotonic() -> float:
        """Seconds from an arbitrary origin that never goes backwards (for timers only)."""
        return time.monotonic()
