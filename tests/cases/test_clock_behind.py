"""A clock that was BEHIND and is then corrected forward: the boot clock the monitor seals beside each
batch's seal time shows it (:mod:`swarmscope.evidence.boot_clock`). The batch of a run sealed an hour
behind the clock that sealed a later batch of the same boot is listed by ``verify --db`` ("clock
behind") and ``cases build`` refuses its hits, named; the hits sealed after the correction are built.
A quiet hour (wall and boot clock advance alike), a reboot (two boots are never compared) and a bogus
unsigned batch row claiming a jump refuse nothing. The real writer seals the boot clock. SQLite, and
PostgreSQL with SWARMSCOPE_TEST_PG_URL."""

from __future__ import annotations

import asyncio
import io
import json
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey
from rich.console import Console

from swarmscope.cases.candidates import build_cases
from swarmscope.cases.thresholds import ThresholdPolicy
from swarmscope.cli.verify_ledger import run_verify_ledger
from swarmscope.evidence.boot_clock import BOOT_ID, BOOT_US, boot_reading
from swarmscope.evidence.records import RunStarted
from swarmscope.evidence.seal import Batch, batch_bytes
from swarmscope.monitor.ledger_writer import LedgerWriter
from swarmscope.net.clock import Clock
from swarmscope.store.database import Store
from swarmscope.store.ledger.entries import load_batches
from swarmscope.store.ledger.proven import proven_observations
from swarmscope.store.ledger.verify import verify_ledger
from swarmscope.store.legal import cases as sc
from tests.cases.evidence import IH, MIN, T0, attributed, hit
from tests.tampering import backend_store, node_trust, tamper

DAY = 24 * 60 * MIN
HOUR = 60 * MIN
FIRST, SECOND = "127.0.0.2", "127.0.0.3"
NOW = T0 + 2 * DAY
POLICY = ThresholdPolicy()
BOOT = "5e1f6a7c-0d2b-4c39-9a51-3b7d2f8e9c10"
BOOT0 = 40 * 3_600 * 10**6  # the boot clock (µs since boot) when the first batch was sealed


@pytest.fixture(params=["sqlite", "postgresql"])
def store(request: pytest.FixtureRequest, tmp_path: Path) -> Iterator[Store]:
    with backend_store(request.param, tmp_path, Ed25519PrivateKey.generate(), T0) as s:
        yield s


def _sql_bytes(store: Store, data: bytes) -> str:
    """A bytes literal of the store's SQL dialect."""
    if store.engine.dialect.name == "postgresql":
        return f"decode('{data.hex()}', 'hex')"
    return f"X'{data.hex()}'"


def _db(store: Store) -> str:
    """What ``--db`` names the store by: its SQLite file, or its PostgreSQL URL."""
    if store.engine.dialect.name == "postgresql":
        return store.engine.url.render_as_string(hide_password=False)
    return str(store.engine.url.database)


def _run(store: Store, records: list[Any], sealed_at_us: int, boot_us: int, boot: str = BOOT) -> None:
    """One monitor run holding ``records``, sealed at ``sealed_at_us`` with the boot clock at ``boot_us``."""
    settings = {"clock_threshold_ms": 100.0}
    run = store.start_run(settings, "0.1.0", sealed_at_us)
    started = RunStarted(run, sealed_at_us - 80 * MIN, "0.1.0", None, json.dumps(settings, sort_keys=True))
    clock = {BOOT_ID: boot, BOOT_US: boot_us}
    store.commit_evidence(run, records=[started, *records], sealed_at_us=sealed_at_us, clock=clock)


def _world(store: Store, *, behind_us: int, boot_after: str = BOOT) -> int:
    """Run 1 (attributions) and run 2 (hits over 70 min) sealed by a clock ``behind_us`` behind; an hour
    later by the wall (an hour and 80 min by the boot clock) run 3, after the clock was corrected forward
    by ``behind_us``. Returns run 3's seal time."""
    store.add_swarm(IH, IH, None, "work.bin", 4, 16384, 65536, None, None, T0)
    sc.link_torrent(store, sc.add_work(store, "Rights Ltd", "Film", None, None, T0), IH, T0)
    sc.add_isp(store, "Loopnet", [64500], "abuse@loop.example", "1 Loop St", "DE", T0)
    day1 = T0 + DAY
    _run(store, [attributed(ip, 24 * 60 - 5, 64500) for ip in (FIRST, SECOND)], day1 - 4 * MIN, BOOT0)
    hits = [hit(ip, 24 * 60 + m) for ip in (FIRST, SECOND) for m in (0, 30, 70)]
    _run(store, hits, day1 + 75 * MIN, BOOT0 + 79 * MIN)
    third = day1 + 75 * MIN + HOUR + behind_us  # the wall clock an hour later, corrected forward
    later = [hit(ip, (third - T0) / MIN - 75 + m) for ip in (FIRST, SECOND) for m in (0, 30, 70)]
    _run(store, later, third, BOOT0 + 79 * MIN + HOUR, boot_after)
    return third


def test_hits_sealed_while_the_clock_was_behind_are_refused_and_listed(store: Store, tmp_path: Path) -> None:
    third = _world(store, behind_us=HOUR)
    verdict = verify_ledger(store)
    behind = [b for b in verdict.clock_behind if b.sealed_at_us == T0 + DAY + 75 * MIN]
    assert len(behind) == 1 and behind[0].behind_us == HOUR and behind[0].later_sealed_at_us == third
    assert verdict.clock_steps == ()
    report = build_cases(store, POLICY, NOW, trust=node_trust(store, NOW))
    assert len(report.refused) == 6, report.refused
    assert all(r.reason.startswith("clock behind: its batch was sealed") for r in report.refused)
    assert all(r.started_us < T0 + DAY + 75 * MIN for r in report.refused)
    assert {c.ip: (c.hits, c.first_hit_us) for c in report.created} == {
        ip: (3, third - 75 * MIN) for ip in (FIRST, SECOND)
    }
    db = _db(store)
    out = io.StringIO()
    run_verify_ledger(db, console=Console(file=out, width=300))
    assert "clock behind: node" in out.getvalue() and "3600.000 s behind the clock of batch" in out.getvalue()
    out = io.StringIO()
    run_verify_ledger(db, as_json=True, console=Console(file=out, width=300))
    assert HOUR in [b["behind_us"] for b in json.loads(out.getvalue())["clock_behind"]]


@pytest.mark.parametrize("how", ["a quiet hour", "a reboot between", "an unsigned batch row"])
def test_what_is_no_clock_behind(store: Store, how: str) -> None:
    """A quiet hour (no correction: the boot clock moved as the wall did), a later batch of another boot,
    and a bogus batch row no key signed (claiming a clock a day ahead) refuse no hit."""
    if how == "a quiet hour":
        _world(store, behind_us=0)
    elif how == "a reboot between":
        _world(store, behind_us=HOUR, boot_after="0b7c3a2e-1111-4f00-8e00-000000000000")
    else:
        third = _world(store, behind_us=0)
        bogus = Batch(10**6, 10**6, b"\1" * 32, third + DAY, {BOOT_ID: BOOT, BOOT_US: BOOT0 + 3 * HOUR})
        blob = _sql_bytes(store, batch_bytes(bogus))
        tamper(
            store,
            ["ledger_batch"],
            "INSERT INTO ledger_batch (node_id, first_index, last_index, head_hash, sealed_at_us, "
            f"batch_bytes, signature, public_key, clock, recovered) SELECT node_id, {10**6}, {10**6}, "
            f"{_sql_bytes(store, bytes(32))}, {third + DAY}, {blob}, {_sql_bytes(store, bytes(64))}, "
            "public_key, NULL, false FROM ledger_batch LIMIT 1",
        )
    assert verify_ledger(store).clock_behind == ()
    proven = proven_observations(store, node_trust(store, NOW).fingerprints, NOW)
    assert not proven.refused, proven.refused
    assert len(proven.hits) == 12


def test_the_monitor_writer_seals_the_boot_clock(store: Store) -> None:
    """The real evidence clock seals the host's boot id and boot clock beside each batch's seal time; a
    test's clock of its own (a subclass) seals none."""

    class Fake(Clock):
        def now_us(self) -> int:
            return T0

    assert Fake().boot_stamp() is None
    store.add_swarm(IH, IH, None, "work.bin", 4, 16384, 65536, None, None, T0)
    run_id = store.start_run({}, "0.1.0", Clock().now_us())
    warnings: list[str] = []

    async def commit() -> None:
        writer = LedgerWriter(store, run_id, Clock(), flush_interval=0.01, on_warning=warnings.append)
        task = asyncio.create_task(writer.run())
        writer.add(hit("127.0.0.9", 0))
        await asyncio.sleep(0.2)
        writer.stop()
        await asyncio.wait_for(task, 10)

    asyncio.run(commit())
    assert not warnings, warnings
    newest = load_batches(store)[-1].sealed.batch
    reading = boot_reading(newest)
    assert reading is not None and reading[0] and reading[1] > 0, newest.clock


def test_a_clock_set_ahead_then_corrected_back_refuses_the_hits_sealed_ahead_only(store: Store) -> None:
    """Run 2 sealed by a clock 2.4 h ahead, run 3 after it was corrected back (its seal time before run
    2's): the boot clock shows run 2 ahead of the boot's last clock, so run 2's hits are refused ("clock
    ahead") and run 3's, sealed with the right clock, are built; no plain "clock set back" refuses them."""
    ahead = 144 * MIN
    store.add_swarm(IH, IH, None, "work.bin", 4, 16384, 65536, None, None, T0)
    sc.link_torrent(store, sc.add_work(store, "Rights Ltd", "Film", None, None, T0), IH, T0)
    sc.add_isp(store, "Loopnet", [64500], "abuse@loop.example", "1 Loop St", "DE", T0)
    day1 = T0 + DAY
    _run(store, [attributed(ip, 24 * 60 - 5, 64500) for ip in (FIRST, SECOND)], day1 - 4 * MIN, BOOT0)
    wrong = [hit(ip, 24 * 60 + 144 + m) for ip in (FIRST, SECOND) for m in (0, 30, 70)]
    _run(store, wrong, day1 + 75 * MIN + ahead, BOOT0 + 79 * MIN)
    third = day1 + 75 * MIN + HOUR  # an hour later by both clocks, the wall clock corrected back
    right = [hit(ip, (third - T0) / MIN - 75 + m) for ip in (FIRST, SECOND) for m in (0, 30, 70)]
    _run(store, right, third, BOOT0 + 79 * MIN + HOUR)
    verdict = verify_ledger(store)
    assert verdict.clock_steps == ()
    assert [(b.sealed_at_us, b.behind_us) for b in verdict.clock_behind] == [
        (day1 + 75 * MIN + ahead, -ahead)
    ]
    report = build_cases(store, POLICY, NOW, trust=node_trust(store, NOW))
    assert len(report.refused) == 6 and all(r.reason.startswith("clock ahead: ") for r in report.refused)
    assert {c.ip: (c.hits, c.first_hit_us) for c in report.created} == {
        ip: (3, third - 75 * MIN) for ip in (FIRST, SECOND)
    }
