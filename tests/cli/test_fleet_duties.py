"""The fleet's periodic duties on the real PostgreSQL: RFC 3161 timestamping (a real OpenSSL TSA on
loopback) and retention purges, configured by ``swarmscope fleet timestamping`` / ``fleet retention``, run
once per period across two job workers, each purge record sealed by the node that ran it in its own chain;
bad options refused in one line with nothing stored."""

from __future__ import annotations

import itertools
import os
import subprocess
import sys
import threading
import time
from collections.abc import Iterator
from pathlib import Path

import pytest
import sqlalchemy as sa
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey
from typer.testing import CliRunner

from swarmscope.cli import register_commands
from swarmscope.cli.app import app
from swarmscope.evidence.records import Sighting
from swarmscope.evidence.seal import key_fingerprint, public_key_raw
from swarmscope.store.database import Store, open_store
from swarmscope.store.fleet import duties
from swarmscope.store.ledger.entries import load_batches
from swarmscope.store.ledger.node_key import load_or_create_node_key
from swarmscope.store.ledger.verify import verify_ledger
from swarmscope.testbed.process import stop_process
from swarmscope.testbed.tsa import start_tsa
from tests.pg_server import drop_schema
from tests.store.factories import SWARM_A, T0, add_swarms

register_commands()  # as the swarmscope entry point does: every command, whatever ran before

PG_URL = os.environ.get("SWARMSCOPE_TEST_PG_URL")
pytestmark = pytest.mark.skipif(not PG_URL, reason="set SWARMSCOPE_TEST_PG_URL to test on PostgreSQL")
EVERY = 3  # seconds: the period of both duties in the two-worker test


@pytest.fixture
def store() -> Iterator[Store]:
    """A fleet store whose monitor node sealed three batches of sightings from T0 (long due for purge)."""
    assert PG_URL is not None
    opened = open_store(PG_URL, node_key=Ed25519PrivateKey.generate(), now_us=T0)
    try:
        add_swarms(opened)
        run_id = opened.start_run({}, "0.1.0", T0)
        for n in range(3):
            sighting = Sighting(SWARM_A, "127.0.1.5", 6881 + n, "tracker", "t", T0 + n)
            opened.commit_evidence(run_id, records=[sighting], sealed_at_us=T0 + n)
        yield opened
    finally:
        opened.close()
        drop_schema(PG_URL)


def invoke(*args: str) -> tuple[int, str]:
    result = CliRunner().invoke(app, list(args))
    return result.exit_code, result.output


def _worker(name: str, directory: Path) -> subprocess.Popen[bytes]:
    assert PG_URL is not None
    log = (directory / f"{name}.out").open("ab")
    key = str(directory / f"{name}.pem")
    command_line = [sys.executable, "-m", "tests.cli.fleet_duty_worker", PG_URL, key, name]
    return subprocess.Popen(command_line, stdout=log, stderr=subprocess.STDOUT)


def _all_stamped(store: Store) -> bool:
    return all(b.tokens for b in load_batches(store))


def _purge_runs(store: Store) -> list[int]:
    query = "SELECT at_us FROM purge_log WHERE kind = 'ip_evidence' ORDER BY at_us"
    with store.engine.connect() as conn:
        return [int(at) for at in conn.execute(sa.text(query)).scalars()]


def _purge_record_signers(store: Store) -> list[str]:
    query = (
        "SELECT k.fingerprint FROM ledger_entry e JOIN node_key k ON k.id = e.node_id "
        "WHERE e.kind = 'redaction' ORDER BY e.id"
    )
    with store.engine.connect() as conn:
        return list(conn.execute(sa.text(query)).scalars())


def _until(what: str, check: object, timeout: float) -> None:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if check():  # type: ignore[operator]
            return
        time.sleep(0.3)
    raise AssertionError(f"timed out after {timeout} s waiting for {what}")


def test_two_workers_run_each_duty_once_per_period(netns: bool, store: Store, tmp_path: Path) -> None:
    assert PG_URL is not None and store.node is not None
    (tmp_path / "tsa").mkdir()
    tsa = start_tsa(tmp_path / "tsa")
    workers: list[subprocess.Popen[bytes]] = []
    try:
        assert (
            invoke("fleet", "timestamping", "--db", PG_URL, "--tsa-url", tsa.url, "--every", str(EVERY))[0]
            == 0
        )
        code, out = invoke(
            "fleet", "retention", "--db", PG_URL, "--every", str(EVERY), "--ip-evidence-days", "1"
        )
        assert code == 0, out
        workers = [_worker(name, tmp_path) for name in ("w1", "w2")]
        _until("two purge runs and every batch stamped", lambda: len(_purge_runs(store)) >= 3, 90)
        _until("every batch stamped", lambda: _all_stamped(store), 30)
    finally:
        for proc in workers:
            stop_process(proc)
        tsa.stop()
    runs = _purge_runs(store)
    gaps = [(b - a) / 1e6 for a, b in itertools.pairwise(runs)]
    assert all(gap >= EVERY - 0.5 for gap in gaps), gaps  # never two runs in one period, on either node
    assert all(len(b.tokens) == 1 for b in load_batches(store))  # each batch stamped once, by one node
    keys = [load_or_create_node_key(tmp_path / f"{n}.pem") for n in ("w1", "w2")]
    workers_keys = {key_fingerprint(public_key_raw(k)) for k in keys}
    signers = _purge_record_signers(store)
    assert len(signers) == 1 and signers[0] in workers_keys  # the first run purged; its own node sealed it
    assert signers[0] != store.node.fingerprint  # never in the monitor node's chain
    verdict = verify_ledger(store)
    assert verdict.ok, verdict.problems
    logs = "".join((tmp_path / f"{n}.out").read_text() for n in ("w1", "w2"))
    assert "purge record sealed at index" in logs and "batch(es) stamped by" in logs
    code, out = invoke("fleet", "status", "--db", PG_URL)
    assert code == 0 and f"purge every {EVERY}s, last " in out and f"timestamp every {EVERY}s, last " in out


def test_a_due_duty_is_claimed_by_exactly_one_of_many_nodes(store: Store) -> None:
    with store.engine.begin() as conn:
        duties.set_duty(conn, "purge", 3600, {"ip_evidence_days": 30, "identity_months": 6})
    barrier = threading.Barrier(8)
    claims: list[list[duties.Duty]] = []

    def claim(name: str) -> None:
        barrier.wait()
        with store.engine.begin() as conn:
            claims.append(duties.claim_due(conn, name, ["purge", "timestamp"]))

    threads = [threading.Thread(target=claim, args=(f"n{i}",)) for i in range(8)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    won = [c for c in claims if c]
    assert len(claims) == 8 and len(won) == 1 and won[0][0].name == "purge"
    with store.engine.begin() as conn:  # finished, but its period (1 h) is not over: nobody claims it
        duties.finish(conn, won[0][0], "done")
        assert duties.claim_due(conn, "late", ["purge"]) == []


@pytest.mark.parametrize(
    ("args", "message"),
    [
        (["timestamping", "--tsa-url", "http://127.0.0.1:1/", "--every", "nan"], "--every nan: must be"),
        (["timestamping", "--tsa-url", "http://127.0.0.1:1/", "--every", "-5"], "--every -5: must be"),
        (["timestamping", "--tsa-url", "http://127.0.0.1:1/", "--every", "0"], "--every 0: must be"),
        (["timestamping", "--tsa-url", "http://127.0.0.1:1/", "--timeout", "nan"], "--timeout nan: must be"),
        (["timestamping", "--tsa-url", "ftp://x/"], "must be http:// or https://"),
        (["timestamping"], "no time-stamp authority configured"),
        (["retention", "--every", "inf"], "--every inf: must be"),
        (["retention", "--every", "1.5"], "--every 1.5: must be a whole number"),
        (["retention", "--ip-evidence-days", "-1"], "--ip-evidence-days -1: must be"),
        (["retention", "--identity-months", "nan"], "--identity-months nan: must be"),
    ],
)
def test_bad_duty_options_are_one_line_and_store_nothing(store: Store, args: list[str], message: str) -> None:
    assert PG_URL is not None
    code, out = invoke("fleet", *args, "--db", PG_URL)
    assert code == 1 and message in out and "Traceback" not in out
    assert len(out.strip().splitlines()) == 1, out
    with store.engine.connect() as conn:
        assert duties.duties(conn) == []


def test_duties_on_sqlite_are_refused(tmp_path: Path) -> None:
    code, out = invoke("fleet", "retention", "--db", str(tmp_path / "x.db"))
    assert code == 1 and "the fleet needs PostgreSQL" in out and not (tmp_path / "x.db").exists()


def test_a_duty_is_configured_replaced_and_turned_off(store: Store) -> None:
    assert PG_URL is not None
    assert invoke("fleet", "retention", "--db", PG_URL, "--every", "60")[0] == 0
    code, out = invoke("fleet", "retention", "--db", PG_URL, "--every", "120", "--ip-evidence-days", "7")
    assert code == 0 and "every 120s (IP evidence 7 days" in out
    with store.engine.connect() as conn:
        (duty,) = duties.duties(conn)
    assert (duty.name, duty.every_s, duty.settings["ip_evidence_days"]) == ("purge", 120, 7)
    assert "purge every 120s, never ran" in invoke("fleet", "status", "--db", PG_URL)[1]
    assert invoke("fleet", "retention", "--db", PG_URL, "--off")[1].strip() == "retention purges off"
    with store.engine.connect() as conn:
        assert duties.duties(conn) == []


def test_a_run_still_going_is_left_alone_and_a_dead_one_claimed_after_two_periods(store: Store) -> None:
    with store.engine.begin() as conn:
        duties.set_duty(conn, "timestamp", 1, {"tsa_url": "http://127.0.0.1:1/"})
        (first,) = duties.claim_due(conn, "a", ["timestamp"])
    time.sleep(1.3)  # one period: the run of "a" has not finished (running, or its node died)
    with store.engine.begin() as conn:
        assert duties.claim_due(conn, "b", ["timestamp"]) == []
    time.sleep(0.9)  # two periods: presumed dead, claimed again
    with store.engine.begin() as conn:
        (again,) = duties.claim_due(conn, "b", ["timestamp"])
        duties.finish(conn, first, "late outcome of a dead claim")  # not the last claim: not recorded
        (row,) = duties.duties(conn)
    assert (
        again.started_us is not None and first.started_us is not None and again.started_us > first.started_us
    )
    assert (row.node_name, row.finished_us, row.outcome) == ("b", None, None)
    with store.engine.begin() as conn:
        duties.finish(conn, again, "0 batch(es) stamped")
    time.sleep(1.1)  # finished, and one period since its claim: due again
    with store.engine.begin() as conn:
        assert [d.node_name for d in duties.claim_due(conn, "c", ["timestamp"])] == ["c"]
