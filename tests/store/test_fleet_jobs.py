"""The fleet's exactly-once jobs on procrastinate, on the real PostgreSQL: a job left ``doing`` by a worker
killed with SIGKILL is retried by another worker and completes once (procrastinate leaves it ``doing``
forever by itself);
lease sweeping removes expired leases only."""

from __future__ import annotations

import asyncio
import os
import signal
import subprocess
import sys
import time
from collections.abc import Iterator
from pathlib import Path

import pytest
import sqlalchemy as sa
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey

from swarmscope.store.database import Store, open_store
from swarmscope.store.fleet.handle import Fleet
from swarmscope.store.fleet.jobs import ensure_job_schema
from swarmscope.store.fleet.registry import FleetSwarm, NodeStart
from swarmscope.testbed.process import stop_process
from tests.store.factories import T0
from tests.store.fleet_job_worker import fleet_jobs

PG_URL = os.environ.get("SWARMSCOPE_TEST_PG_URL")
pytestmark = pytest.mark.skipif(not PG_URL, reason="set SWARMSCOPE_TEST_PG_URL to test on PostgreSQL")


@pytest.fixture
def store() -> Iterator[Store]:
    assert PG_URL is not None
    opened = open_store(PG_URL, node_key=Ed25519PrivateKey.generate(), now_us=T0)
    try:
        yield opened
    finally:
        with opened.engine.begin() as conn:
            conn.exec_driver_sql("DROP SCHEMA public CASCADE; CREATE SCHEMA public")
        opened.close()


def _worker(name: str, directory: Path) -> subprocess.Popen[bytes]:
    assert PG_URL is not None
    log = (directory / f"{name}.out").open("ab")
    command_line = [sys.executable, "-m", "tests.store.fleet_job_worker", PG_URL, str(directory), name]
    return subprocess.Popen(command_line, stdout=log, stderr=subprocess.STDOUT)


def _job(store: Store) -> tuple[str, int] | None:
    query = "SELECT status::text, attempts FROM procrastinate_jobs WHERE task_name = 'fleet.test_hold'"
    with store.engine.connect() as conn:
        row = conn.execute(sa.text(query)).first()
    return None if row is None else (row[0], int(row[1]))


def _until(what: str, check: object, timeout: float) -> None:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if check():  # type: ignore[operator]
            return
        time.sleep(0.2)
    raise AssertionError(f"timed out after {timeout} s waiting for {what}")


def test_a_job_left_doing_by_a_killed_worker_is_retried_and_done_once(store: Store, tmp_path: Path) -> None:
    assert ensure_job_schema(store.engine) and not ensure_job_schema(store.engine)  # applied once
    jobs = fleet_jobs(str(PG_URL), tmp_path, "deferrer")

    async def defer() -> None:
        async with jobs.app.open_async():
            await jobs.app.tasks["fleet.test_hold"].defer_async()

    asyncio.run(defer())
    first = _worker("w1", tmp_path)
    second = None
    try:
        _until("w1 starts the job", lambda: (tmp_path / "hold.log").exists(), 60)
        os.kill(first.pid, signal.SIGKILL)
        first.wait(10)
        assert _job(store) == ("doing", 0)  # procrastinate alone would leave it so forever
        (tmp_path / "release").touch()
        second = _worker("w2", tmp_path)
        _until("the job retried and done", lambda: _job(store) is None or _job(store) == ("succeeded", 1), 60)
    finally:
        stop_process(first)  # type: ignore[arg-type]
        stop_process(second)  # type: ignore[arg-type]
    assert (tmp_path / "hold.log").read_text().split() == ["start", "start", "done"]
    assert "left doing by a dead worker: retried" in (tmp_path / "w2.out").read_text()


def _status(store: Store, job_id: int) -> str:
    with store.engine.connect() as conn:
        query = "SELECT status::text FROM procrastinate_jobs WHERE id = :id"
        return str(conn.execute(sa.text(query), {"id": job_id}).scalar_one())


def test_a_killed_job_whose_lock_has_a_waiting_job_is_finished_and_the_others_retried(
    store: Store, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    ensure_job_schema(store.engine)
    jobs = fleet_jobs(str(PG_URL), tmp_path, "retrier")
    hold = jobs.app.tasks["fleet.test_hold"]

    async def defer() -> int:
        async with jobs.app.open_async():
            return await hold.configure(queueing_lock="hold").defer_async()

    killed = asyncio.run(defer())
    first = _worker("w1", tmp_path)
    try:
        _until("w1 starts the job", lambda: (tmp_path / "hold.log").exists(), 60)
        os.kill(first.pid, signal.SIGKILL)
        first.wait(10)
    finally:
        stop_process(first)  # type: ignore[arg-type]
    waiting = asyncio.run(defer())  # the next period's job of the same lock waits (todo)
    with store.engine.begin() as conn:  # a second job the dead worker left doing, of another lock
        other = conn.execute(
            sa.text(
                "INSERT INTO procrastinate_jobs (queue_name, task_name, queueing_lock, args, status,"
                " worker_id, attempts) SELECT 'default', 'fleet.test_hold', 'other', '{}', 'doing',"
                " worker_id, 0 FROM procrastinate_jobs WHERE id = :id RETURNING id"
            ),
            {"id": killed},
        ).scalar_one()
    time.sleep(2.5)  # past stalled_after (2 s) since w1's last heartbeat

    async def retry() -> int:
        async with jobs.app.open_async():
            return await jobs.retry_stalled()

    assert asyncio.run(retry()) == 1
    assert (_status(store, killed), _status(store, waiting), _status(store, other)) == (
        "failed",
        "todo",
        "todo",
    )
    out = capsys.readouterr().out
    assert f"job {killed} (fleet.test_hold) was left doing by a dead worker: finished as failed" in out, out
    assert f"job {other} (fleet.test_hold) was left doing by a dead worker: retried" in out, out


def test_sweeping_removes_expired_leases_only(store: Store) -> None:
    fleet = Fleet(store)
    assert store.node is not None
    for i, infohash in enumerate(("aa" * 20, "bb" * 20)):
        fleet.add_swarm(FleetSwarm(infohash, f"s{i}", b"d4:infod", None, None, 1))
    fleet.start_node(NodeStart("a", store.node.fingerprint, None, 0, 1))
    assert PG_URL is not None
    with open_store(PG_URL, node_key=Ed25519PrivateKey.generate(), now_us=T0) as other:
        assert other.node is not None  # b has its own key: one key is refused under two names
        fleet.start_node(NodeStart("b", other.node.fingerprint, None, 0, 1))
    (short,) = fleet.take("a", 1, 0.2, None)
    (long,) = fleet.take("b", 1, 30, None)
    time.sleep(0.3)
    jobs = fleet_jobs(str(PG_URL), Path("."), "sweeper")
    assert jobs.sweep() == [(short.infohash, "a")]
    assert jobs.sweep() == []
    assert [lease.token for lease in fleet.renew("b", [long.token], 30)] == [long.token]
