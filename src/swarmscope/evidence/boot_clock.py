"""The host's boot clock sealed beside a batch's seal time, and the wall-clock steps it reveals (pure).

A batch's ``sealed_at_us`` is the evidence clock (UTC µs, the system's wall clock). The monitor's writer
also seals, in the batch's signed ``clock`` dict, the host's boot id (:data:`BOOT_ID`, Linux
``/proc/sys/kernel/random/boot_id``) and its ``CLOCK_BOOTTIME`` reading (:data:`BOOT_US`, µs) taken
right after the wall clock. The boot clock counts every second since boot (suspend included) and is never
stepped: ``settimeofday``, ``clock_settime``, an NTP daemon's step move the wall clock only, while NTP's
frequency slewing moves both alike. So, between two batches of one boot, the change of
``sealed_at_us - boot_us`` is exactly how far the wall clock was stepped between them.

**Behind, then corrected forward.** A batch whose ``sealed_at_us - boot_us`` lies more than
:data:`swarmscope.evidence.seal.CLOCK_STEP_TOLERANCE_US` (2 s) below that of a LATER batch of the same
boot (chain order) was sealed while the wall clock was behind the clock that sealed the later one: its
records carry times earlier than that clock would have given them, by :func:`behind_us`'s amount.
Without the boot reading a forward jump cannot be told from time that really passed (a quiet swarm, a
stopped monitor), so nothing is judged then.

Limits, stated plainly: batches sealed without the reading (before it was sealed, by a workflow command,
by a test's clock, on a host without ``CLOCK_BOOTTIME``) are not judged; two boots are never compared (a
clock corrected across a reboot leaves no trace here: only the sealed NTP samples can show it); a clock
behind for a whole boot and never corrected inside it is not seen (only NTP can); which clock was right,
before or after the step, is not proven either: the later one is taken as the reference, as the NTP
daemon that corrects a clock forward normally is right.

Source: Linux clock_gettime(2) (CLOCK_BOOTTIME: monotonic, includes suspend, not affected by
discontinuous jumps of the system time); README "Clock steps".
"""

from __future__ import annotations

from collections.abc import Sequence

from swarmscope.evidence.seal import CLOCK_STEP_TOLERANCE_US, Batch

BOOT_ID = "boot_id"  # batch clock key: the sealing host's boot id (text)
BOOT_US = "boot_us"  # batch clock key: CLOCK_BOOTTIME in µs, read right after ``sealed_at_us``


def boot_reading(batch: Batch) -> tuple[str, int] | None:
    """``(boot id, boot clock µs)`` sealed in ``batch``'s clock, or None when it carries none (or a
    malformed one: then it is not judged)."""
    clock = batch.clock or {}
    boot, at = clock.get(BOOT_ID), clock.get(BOOT_US)
    if not isinstance(boot, str) or not boot or isinstance(at, bool) or not isinstance(at, int):
        return None
    return boot, at


def behind_us(batches: Sequence[Batch]) -> dict[int, tuple[int, int]]:
    """Which of one node's batches (in chain order) were sealed while its wall clock was behind.

    Returns:
        position in ``batches`` → (µs behind, position of the later batch of the same boot whose clock
        shows it; the one furthest ahead), for each batch over the tolerance (module docstring).
    """
    out: dict[int, tuple[int, int]] = {}
    ahead: dict[str, tuple[int, int]] = {}  # boot id → (max wall − boot of the later batches, its position)
    for position in range(len(batches) - 1, -1, -1):
        reading = boot_reading(batches[position])
        if reading is None:
            continue
        boot, at = reading
        skew = batches[position].sealed_at_us - at
        later = ahead.get(boot)
        if later is not None and later[0] - skew > CLOCK_STEP_TOLERANCE_US:
            out[position] = (later[0] - skew, later[1])
        if later is None or skew > later[0]:
            ahead[boot] = (skew, position)
    return out
