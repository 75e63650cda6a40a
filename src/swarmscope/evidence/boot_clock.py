"""The host's boot clock sealed beside a batch's seal time, and the wall-clock steps it reveals (pure).

A batch's ``sealed_at_us`` is the evidence clock (UTC µs, the system's wall clock). The monitor's writer
also seals, in the batch's signed ``clock`` dict, the host's boot id (:data:`BOOT_ID`, Linux
``/proc/sys/kernel/random/boot_id``) and its ``CLOCK_BOOTTIME`` reading (:data:`BOOT_US`, µs) taken
right after the wall clock. The boot clock counts every second since boot (suspend included) and is never
stepped: ``settimeofday``, ``clock_settime``, an NTP daemon's step move the wall clock only, while NTP's
frequency slewing moves both alike. So, between two batches of one boot, the change of
``sealed_at_us - boot_us`` is exactly how far the wall clock was stepped between them.

**Behind or ahead, then corrected.** Within one boot the LAST batch (chain order) with a reading is the
reference. A batch whose ``sealed_at_us - boot_us`` lies more than
:data:`swarmscope.evidence.seal.CLOCK_STEP_TOLERANCE_US` (2 s) below the reference's was sealed while
the wall clock was behind (a clock corrected forward since); more than 2 s above it, while the clock was
ahead (a clock set ahead, then corrected back): its records carry times off by :func:`behind_us`'s
amount either way. Judging both directions against one reference keeps the batches sealed with the
clock the host ended up with, and refuses exactly those sealed with another; a step back between two
batches of one boot that both carry the reading is this rule's to judge, not the plain step-back rule's
(which, knowing no boot clock, would refuse the corrected batches and keep the wrong ones). Without the
boot reading a forward jump cannot be told from time that really passed (a quiet swarm, a stopped
monitor), so nothing is judged then.

Limits, stated plainly: batches sealed without the reading (before it was sealed, by a workflow command,
by a test's clock, on a host without ``CLOCK_BOOTTIME``) are not judged; two boots are never compared (a
clock corrected across a reboot leaves no trace here: only the sealed NTP samples can show it); a clock
behind for a whole boot and never corrected inside it is not seen (only NTP can); which clock was right,
before or after the step, is not proven either: the last one is taken as the reference, as the NTP
daemon that corrects a clock normally is right.

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
    """Which of one node's batches (in chain order) were sealed while its wall clock was off the clock of
    the last batch of the same boot (module docstring).

    Returns:
        position in ``batches`` → (µs behind that clock: positive behind, negative ahead; position of the
        boot's last batch), for each batch over the tolerance either way.
    """
    out: dict[int, tuple[int, int]] = {}
    last: dict[str, tuple[int, int]] = {}  # boot id → (wall − boot of its last batch, that batch's position)
    for position in range(len(batches) - 1, -1, -1):
        reading = boot_reading(batches[position])
        if reading is None:
            continue
        boot, at = reading
        skew = batches[position].sealed_at_us - at
        reference = last.setdefault(boot, (skew, position))
        if abs(reference[0] - skew) > CLOCK_STEP_TOLERANCE_US:
            out[position] = (reference[0] - skew, reference[1])
    return out


def steps_back(batches: Sequence[Batch]) -> dict[int, int]:
    """Which of one node's batches (in chain order) were sealed over the tolerance before the latest seal
    time (UTC µs) of a batch before them: position → that time. A step between two batches of one boot
    that both carry the reading is left to :func:`behind_us`, which knows which side the boot's last
    clock was on (module docstring)."""
    out: dict[int, int] = {}
    latest: dict[str | None, int] = {}  # boot id (None: no reading) → latest seal time so far
    for position, batch in enumerate(batches):
        reading = boot_reading(batch)
        boot = None if reading is None else reading[0]
        before = max((t for k, t in latest.items() if k is None or k != boot), default=None)
        if before is not None and batch.sealed_at_us < before - CLOCK_STEP_TOLERANCE_US:
            out[position] = before
        latest[boot] = max(latest.get(boot, batch.sealed_at_us), batch.sealed_at_us)
    return out


def same_boot(a: Batch, b: Batch) -> bool:
    """Whether both batches carry a boot reading of one boot: then :func:`behind_us` judges their clocks."""
    ra, rb = boot_reading(a), boot_reading(b)
    return ra is not None and rb is not None and ra[0] == rb[0]
