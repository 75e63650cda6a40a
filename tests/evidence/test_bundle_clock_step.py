"""A bundle holding batches sealed after the evidence clock was set back says so.

A node seals its batches in chain order, so a batch sealed earlier than one before it (beyond
CLOCK_STEP_TOLERANCE_US, signed seal times of batches.bin) means the clock was set back: ``cases build``
and ``verify --db`` flag it, and the bundle verifier must too, naming the batch and the observations
whose times it puts in doubt.
"""

from __future__ import annotations

from dataclasses import replace

from swarmscope.evidence.bundle.verify import verify_bundle
from swarmscope.evidence.records import Observation
from swarmscope.evidence.seal import Batch, key_fingerprint, public_key_raw, seal_batch
from tests.evidence.test_bundle import KEY, World, build, make_world

DAY_US = 86_400_000_000


def _first_batch_a_day_ahead(world: World) -> World:
    """The world with its first batch re-sealed a day later: every later batch is a day behind it."""
    first = world.batches[0].batch
    ahead = seal_batch(Batch(first.first_index, first.last_index, first.head_hash,
                             first.sealed_at_us + DAY_US, first.clock), KEY)  # fmt: skip
    return replace(world, batches=[ahead, *world.batches[1:]])


def test_the_bundle_verifier_flags_batches_sealed_after_a_clock_step_back() -> None:
    world = _first_batch_a_day_ahead(make_world())
    verdict = verify_bundle(build(world), expect_key=key_fingerprint(public_key_raw(KEY)))
    later = [s.batch for s in world.batches[1:]]
    warnings = [n for n in verdict.notes if n.startswith("WARNING clock set back")]
    assert [w.split("(chain ")[1].split(")")[0] for w in warnings] == [
        f"{b.first_index}..{b.last_index}" for b in later
    ]
    stepped = [i for i, r in enumerate(world.records) if isinstance(r, Observation)]
    assert stepped and all(i > world.batches[0].batch.last_index for i in stepped)
    (clock,) = [c for c in verdict.checks if c.name == "clock"]
    assert f"CLOCK SET BACK: {len(stepped)} observation(s)" in clock.detail
    assert f"(chain {', '.join(map(str, stepped))})" in clock.detail


def test_a_bundle_sealed_in_order_has_no_clock_step_warning() -> None:
    world = make_world()
    verdict = verify_bundle(build(world), expect_key=key_fingerprint(public_key_raw(KEY)))
    assert verdict.ok and not [n for n in verdict.notes if "clock set back" in n]
    assert all("CLOCK SET BACK" not in c.detail for c in verdict.checks)


def test_a_clock_set_ahead_then_back_within_one_boot_is_noted_as_ahead_not_as_a_step_back() -> None:
    """Three batches of one boot: the middle one sealed with a wall clock 2.4 h ahead (its boot reading
    shows it), the last after the correction. The bundle names the middle batch "clock ahead" and the
    corrected one is no "clock set back", as ``verify --db`` and ``cases build`` judge it."""
    from swarmscope.evidence.boot_clock import BOOT_ID, BOOT_US
    from swarmscope.evidence.bundle.clock import clock_step_warnings

    hour, boot = 3_600_000_000, "5e1f6a7c-0d2b-4c39-9a51-3b7d2f8e9c10"
    t0, b0 = 1_796_000_000_000_000, 40 * 3_600_000_000
    times = [(t0, b0), (t0 + hour + 2 * hour + hour // 2, b0 + hour), (t0 + 2 * hour, b0 + 2 * hour)]
    batches = [
        seal_batch(Batch(i * 10, i * 10 + 9, bytes(32), at, {BOOT_ID: boot, BOOT_US: up}), KEY)
        for i, (at, up) in enumerate(times)
    ]
    warnings = [text for text, _inside in clock_step_warnings(batches, range(30))]
    assert len(warnings) == 1 and warnings[0].startswith("clock ahead: batch (chain 10..19)"), warnings
