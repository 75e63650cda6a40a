"""Verify judges a bundle by its sealed run settings: captures, RFC 3161 tokens, clock threshold and policy.

The world of tests/evidence/test_bundle.py, re-chained and re-sealed with other run settings or records.
"""

from __future__ import annotations

import json
from dataclasses import replace

import pytest

from swarmscope.evidence.bundle import layout as b
from swarmscope.evidence.bundle import methodology
from swarmscope.evidence.bundle.settings import RunIndex, run_clock_policy, strictest
from swarmscope.evidence.bundle.verify import Verdict, verify_bundle
from swarmscope.evidence.clock_policy import ClockPolicy
from swarmscope.evidence.records import ClockSample, Observation, RunStarted
from tests.evidence.test_bundle import T0, World, build, make_world, seal_ledger

WORLD = make_world()


def reseal(world: World, records: list[object]) -> World:
    entries, batches = seal_ledger(list(records))  # type: ignore[arg-type]
    return replace(world, records=list(records), entries=entries, batches=batches)  # type: ignore[arg-type]


def with_settings(world: World, **settings: object) -> World:
    run = world.records[0]
    assert isinstance(run, RunStarted)
    text = json.dumps(settings, sort_keys=True, separators=(",", ":"))
    return reseal(world, [replace(run, settings_json=text), *world.records[1:]])


def without_capture(world: World, ip: str) -> World:
    records = [
        replace(r, capture_sha256=None) if isinstance(r, Observation) and r.ip == ip else r
        for r in world.records
    ]
    return reseal(world, records)


def check(verdict: Verdict, name: str) -> bool:
    return next(c for c in verdict.checks if c.name == name).ok


def test_run_policy_from_settings() -> None:
    assert run_clock_policy({}) == ClockPolicy.default()
    assert run_clock_policy({"clock_threshold_ms": 40}).threshold_us == 40_000
    anchor = run_clock_policy({"clock_threshold_ms": 100, "clock_policy": "commercial-anchor"})
    assert (anchor.threshold_us, anchor.name) == (40_000, "commercial-anchor")
    assert (
        run_clock_policy({"clock_threshold_ms": 25, "clock_policy": "commercial-anchor"}).threshold_us
        == 25_000
    )
    both = strictest([ClockPolicy(100_000), ClockPolicy(60_000), ClockPolicy.strict()])
    assert (both.threshold_us, both.name) == (40_000, "commercial-anchor")
    runs = RunIndex(
        [(0, RunStarted(1, T0, "v", None, '{"capture":false}')), (5, RunStarted(2, T0, "v", None, "{}"))]
    )
    assert (
        runs.settings_at(0) is None
        and runs.settings_at(3) == {"capture": False}
        and runs.settings_at(6) == {}
    )


def test_observation_without_capture_fails() -> None:
    """H2: a VERIFIED observation carrying no capture is not re-derivable: the bundle fails."""
    world = without_capture(WORLD, "192.0.2.10")
    verdict = verify_bundle(build(world))
    assert not verdict.ok and not check(verdict, "capture replay")
    problem = next(p for p in verdict.problems if p.check == "capture replay")
    assert problem.record is not None and problem.record.ip == "192.0.2.10"
    assert "no capture" in problem.message


def test_capture_disabled_by_sealed_setting_is_noted_not_failed() -> None:
    world = without_capture(with_settings(WORLD, capture=False), "192.0.2.10")
    verdict = verify_bundle(build(world))
    assert verdict.ok, verdict.problems
    detail = next(c.detail for c in verdict.checks if c.name == "capture replay")
    assert "not re-derivable: 1" in detail and "capture disabled by sealed setting" in detail
    assert any(n.startswith("NOT RE-DERIVABLE: 1 of 3") for n in verdict.notes)


def test_tsa_configured_but_no_tokens() -> None:
    """M6: sealed settings name a tsa_url, the batches carry no token: a problem naming the range."""
    verdict = verify_bundle(build(with_settings(WORLD, tsa_url="http://127.0.0.1:1/")))
    assert not verdict.ok and not check(verdict, "timestamps")
    problems = [p for p in verdict.problems if p.check == "timestamps"]
    last = WORLD.batches[-1].batch.last_index
    assert len(problems) == 1 and f"batches chain 0..{last}" in problems[0].message
    plain = verify_bundle(build(WORLD))
    assert plain.ok and any("no RFC 3161 timestamps (none configured" in n for n in plain.notes)


def test_looser_threshold_than_sealed_fails() -> None:
    """H3: flags computed with 100 ms while the run sealed 40 ms: verify refuses; 40 or stricter holds."""
    world = with_settings(WORLD, clock_threshold_ms=40)
    loose = verify_bundle(build(world, clock_threshold_us=100_000))
    assert not loose.ok and not check(loose, "clock")
    assert any("looser than the 40000 us" in p.message for p in loose.problems)
    assert verify_bundle(build(world, clock_threshold_us=40_000)).ok
    assert verify_bundle(build(world, clock_threshold_us=30_000)).ok
    doc = json.loads(build(world, clock_threshold_us=40_000)[methodology.METHODOLOGY_JSON])
    assert doc["clock"]["threshold_us"] == 40_000 and "sealed" in doc["clock"]["threshold_source"]


def test_commercial_anchor_must_be_applied() -> None:
    world = with_settings(WORLD, clock_policy="commercial-anchor")
    plain = verify_bundle(build(world, clock_threshold_us=40_000))
    assert not plain.ok and any("commercial-anchor" in p.message for p in plain.problems)
    applied = build(
        world, keep=set(range(11)) - {9}, clock_threshold_us=40_000,
        clock_policy="commercial-anchor", exclude_clock_flagged=True,
    )  # fmt: skip
    verdict = verify_bundle(applied)
    assert verdict.ok, verdict.problems


def test_unmeasured_clock_is_noted() -> None:
    """M5: no clock sample: not a silent ok, a note saying the timestamps are the system clock."""
    world = reseal(WORLD, [r for r in WORLD.records if not isinstance(r, ClockSample)])
    verdict = verify_bundle(build(world))
    assert verdict.ok
    detail = next(c.detail for c in verdict.checks if c.name == "clock")
    assert detail.startswith("UNMEASURED")
    assert (
        "clock unmeasured: no NTP server configured; timestamps are the monitor's system clock"
        in verdict.notes
    )


def test_methodology_says_captures_hold_peer_sent_addresses() -> None:
    """M7: an --ip subset still holds, inside the peer's capture, addresses the peer itself sent."""
    text = build(WORLD)[methodology.METHODOLOGY_MD].decode()
    assert "--ip" in text and "BEP 11 PEX" in text


@pytest.mark.parametrize("version", [1, 2])
def test_older_statement_still_verifies(version: int) -> None:
    """A bundle exported with an older statement version is regenerated in its own version, not failed."""
    from swarmscope.evidence.bundle.exhibits import ExhibitInput
    from swarmscope.evidence.bundle.methodology import methodology_files

    files = build(WORLD)
    content = {p: d for p, d in files.items() if p not in (b.MANIFEST, b.MANIFEST_SIG)}
    manifest = json.loads(files[b.MANIFEST])
    exhibit = ExhibitInput.from_ledger(b.ledger_from_bytes(files[b.LEDGER]), manifest["filters"])
    content.update(methodology_files(exhibit, manifest["signing_key"], version))
    doc = json.loads(content[methodology.METHODOLOGY_JSON])
    assert doc["version"] == version and "attribution" not in doc
    assert ("threshold_source" in doc["clock"]) == (version == 2)
    signed = b.manifest_bytes(
        content,
        created_us=manifest["created_us"],
        software_version=manifest["software_version"],
        filters=manifest["filters"],
        signing_key=manifest["signing_key"],
    )
    v1 = {**content, b.MANIFEST: signed, b.MANIFEST_SIG: WORLD.key.sign(signed)}
    assert verify_bundle(v1).ok
    assert json.loads(build(WORLD)[methodology.METHODOLOGY_JSON])["version"] == 3
