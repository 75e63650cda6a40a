"""End to end: the store fails under the real monitor: a full disk (SQLite) and a PostgreSQL restart.

The real CLI ``swarmscope monitor --commit-log LOG`` watches the testbed swarm (``swarmscope.testbed``) on
loopback inside the private network namespace, and the store fails while it writes:

- **A full disk.** The SQLite database lives on a 16 MiB tmpfs mounted in a private mount namespace that
  this test holds (``unshare -m``: the host never sees it; the monitor joins it with ``nsenter -m``, the
  test reads it through ``/proc/PID/root``). Once a batch is acknowledged, the test fills the tmpfs to the
  last byte. The writer must say so in ONE line and retry (not one line per attempt), say in one line when
  commits succeed again once the test frees the space, and finish with exit status 0. When the disk stays
  full to the end of the run, the monitor must say how much evidence was not committed and exit 1.
- **A PostgreSQL restart.** A scratch server of this module's own (``tests/pg_server.py``) is restarted
  (``pg_ctl restart -m immediate``: a crash of the server, every session cut mid-transaction) three times,
  each while the writer is inside a commit: the test holds a lock on ``ledger_entry`` until the writer's
  transaction (batch row written, entries waiting) shows in ``pg_stat_activity``, then restarts. Each
  outage gets one line, the cut batch is committed by a retry, and the run exits 0.

After each: every acknowledged batch is in the store, the ledger verifies (``verify_ledger``: nothing
half-written), no record was stored twice by a retry, and a restart of the monitor has nothing to recover.
"""

from __future__ import annotations

import contextlib
import errno
import os
import shutil
import signal
import subprocess
import time
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import psycopg
import pytest

pytest.importorskip("libtorrent")

from swarmscope.store.database import open_store
from swarmscope.store.ledger.entries import load_ledger
from swarmscope.testbed.swarm import Swarm
from tests import pg_server
from tests.e2e.crash_support import (
    acknowledged,
    check_acknowledged,
    check_recovery_lines,
    command,
    start,
    stderr_of,
    stop,
    wait_for,
)

pytestmark = [pytest.mark.netns, pytest.mark.realclients]

TMPFS_SIZE = "16m"
FAILED = "evidence commit failed"  # the writer's one line when a commit fails
RESUMED = "evidence commits succeed again"  # its one line when one succeeds after failures
NOT_COMMITTED = "NOT committed"  # its line when it gives up after the run
RESTARTS = 3


def _no_duplicates(db: str) -> None:
    """A retried batch never stores a record twice (record hashes are unique: every record has a time)."""
    with open_store(db, create=False) as store:
        hashes = [e.record_hash for e, _kind, _canonical in load_ledger(store)]
    assert len(hashes) == len(set(hashes)), "a record was stored twice"


@dataclass
class Tmpfs:
    """A tmpfs on ``path`` in the private mount namespace that process ``pid`` holds."""

    pid: int
    path: Path

    @property
    def seen(self) -> Path:
        """The tmpfs as this test sees it (through the holder's root)."""
        return Path(f"/proc/{self.pid}/root{self.path}")

    def copy_store(self, to: Path) -> str:
        """Copy the stopped monitor's database (and its WAL) out of the tmpfs; returns the copy's path.

        SQLite resolves symbolic links in a database path, and ``/proc/PID/root`` is one (to ``/`` of OUR
        namespace), so the store cannot be opened in place; a copy of the file and its WAL is the same
        database (the WAL index is rebuilt from the WAL).
        """
        to.mkdir(exist_ok=True)
        for suffix in ("", "-wal"):
            source, target = self.seen / f"evidence.db{suffix}", to / f"evidence.db{suffix}"
            target.unlink(missing_ok=True)
            if source.exists():
                shutil.copyfile(source, target)
        (to / "evidence.db-shm").unlink(missing_ok=True)
        return str(to / "evidence.db")

    @property
    def prefix(self) -> tuple[str, ...]:
        """Run a command inside the namespace (only the mount namespace: the network one is ours)."""
        return ("nsenter", "-t", str(self.pid), "-m", "--")


def _check(db: str, log: Path, name: str) -> None:
    """Every acknowledged batch is stored, the ledger verifies, no record is stored twice."""
    ledger = check_acknowledged(db, acknowledged(log), name)
    assert ledger.ok, f"{name}: {ledger.problems}"
    _no_duplicates(db)


def _holder(disk: Path) -> subprocess.Popen[bytes]:
    """A process holding a private mount namespace with a tmpfs on ``disk`` (unmounted when it ends)."""
    mount = f"mount -t tmpfs -o size={TMPFS_SIZE} swarmscope-full {disk}"
    script = f"{mount} && : > {disk}/.mounted && exec sleep 600"
    proc = subprocess.Popen(["unshare", "-m", "--propagation", "private", "--", "sh", "-c", script])
    wait_for("tmpfs", lambda: Path(f"/proc/{proc.pid}/root{disk}/.mounted").exists(), 10, proc)
    return proc


def _fill(path: Path) -> int:
    """Write ``path`` until the file system is full; returns the bytes written."""
    written = 0
    chunk = b"\0" * 65536
    with path.open("wb", buffering=0) as f:
        while True:
            try:
                written += f.write(chunk)
            except OSError as exc:
                assert exc.errno == errno.ENOSPC, exc
                if len(chunk) == 1:
                    return written
                chunk = chunk[: len(chunk) // 2]


def _one_line(stderr: str, text: str, name: str) -> None:
    count = sum(text in line for line in stderr.splitlines())
    assert count == 1, f"{name}: {count} lines say {text!r} (one expected):\n{stderr[-3000:]}"
    _clear(stderr, name)


def _clear(stderr: str, name: str) -> None:
    """Each message is one line (no continuation lines of a driver's message), and no traceback."""
    continued = [line for line in stderr.splitlines() if line[:1].isspace()]
    assert not continued and "Traceback" not in stderr, f"{name}:\n{stderr[-3000:]}"


def _full_disk_run(swarm: Swarm, tmp_path: Path, disk: Tmpfs, name: str, free_after: float | None) -> str:
    """One monitor run on the tmpfs; fill it after the first acknowledgement, free it after ``free_after``.

    Returns its stderr; its exit status must be 0 when the space was freed, 1 when the disk stayed full.
    """
    key, log, logs = tmp_path / "node.pem", tmp_path / "commits.log", tmp_path / "logs"
    logs.mkdir(exist_ok=True)
    before = len(acknowledged(log))
    db = str(disk.path / "evidence.db")
    filler = disk.seen / "filler"
    proc = start(command(swarm.torrent_path, db, key, log, 20.0, disk.prefix), logs, name)
    try:
        wait_for("acknowledged batch", lambda: len(acknowledged(log)) > before, 30, proc)
        assert _fill(filler) > 0
        wait_for("commit failure line", lambda: FAILED in stderr_of(logs, name), 20, proc)
        if free_after is not None:
            time.sleep(free_after)  # several retries while the disk stays full
            full = len(acknowledged(log))
            filler.unlink()
            wait_for("commit after freeing", lambda: len(acknowledged(log)) > full, 20, proc)
        proc.wait(timeout=90)
    finally:
        stop(proc)
        filler.unlink(missing_ok=True)
    expected = 0 if free_after is not None else 1
    assert proc.returncode == expected, f"{name}: exit {proc.returncode}\n{stderr_of(logs, name)[-3000:]}"
    return stderr_of(logs, name)


def _clean_run(swarm: Swarm, tmp_path: Path, disk: Tmpfs) -> str:
    """A run with room on the disk again: it must start (recovery clean), monitor and exit 0."""
    key, log, logs = tmp_path / "node.pem", tmp_path / "commits.log", tmp_path / "logs"
    db = str(disk.path / "evidence.db")
    proc = start(command(swarm.torrent_path, db, key, log, 4.0, disk.prefix), logs, "after")
    try:
        proc.wait(timeout=90)
    finally:
        stop(proc)
    stderr = stderr_of(logs, "after")
    assert proc.returncode == 0, stderr[-3000:]
    return stderr


def test_full_disk_sqlite(crash_swarm: Swarm, tmp_path: Path) -> None:
    path = tmp_path / "disk"
    path.mkdir()
    holder = _holder(path)
    disk = Tmpfs(holder.pid, path)
    log, copy = tmp_path / "commits.log", tmp_path / "copy"
    try:
        stderr = _full_disk_run(crash_swarm, tmp_path, disk, "freed", free_after=3.0)
        _one_line(stderr, FAILED, "freed")
        _one_line(stderr, RESUMED, "freed")
        assert NOT_COMMITTED not in stderr and "Traceback" not in stderr, stderr[-3000:]
        _check(disk.copy_store(copy), log, "freed")

        stderr = _full_disk_run(crash_swarm, tmp_path, disk, "stays-full", free_after=None)
        _one_line(stderr, FAILED, "stays-full")
        assert NOT_COMMITTED in stderr and "Traceback" not in stderr, stderr[-3000:]
        _check(disk.copy_store(copy), log, "stays-full")

        after = _clean_run(crash_swarm, tmp_path, disk)
        assert not check_recovery_lines("after", after), after
        _check(disk.copy_store(copy), log, "after")
    finally:
        subprocess.run([*disk.prefix, "umount", str(path)], check=False)
        os.kill(holder.pid, signal.SIGKILL)
        holder.wait(timeout=10)


COMMIT_WAIT = 150.0  # seconds: one re-probe interval (120 s, monitor/plan.py) and slack for a loaded machine


def _held_commit(pg: pg_server.ScratchPostgres, proc: subprocess.Popen[bytes]) -> tuple[Any, int]:
    """Hold ``LOCK ledger_entry IN EXCLUSIVE MODE`` (reads go on, inserts wait) until a monitor backend waits
    on it; returns (our connection, that backend's PID).

    The commit (``store/ledger/commit.py`` ``commit``) locks the chain head and inserts the ``ledger_batch``
    row before its ``ledger_entry`` rows, so the waiting backend is inside an open evidence transaction
    with the batch's row already written and uncommitted: a restart now lands in the middle of a batch.
    """
    conn = psycopg.connect(dbname=pg_server.DATABASE, user="postgres", host=str(pg.directory))
    conn.execute("LOCK TABLE ledger_entry IN EXCLUSIVE MODE")
    ours = conn.execute("SELECT pg_backend_pid()").fetchone()[0]  # type: ignore[index]
    waiting: list[int] = []

    def writer_waits() -> bool:
        rows = conn.execute("SELECT pid FROM pg_stat_activity WHERE %s = ANY(pg_blocking_pids(pid))", [ours])
        waiting[:] = [row[0] for row in rows]
        return bool(waiting)

    # the next commit may be the next re-probe of the testbed's few peers (monitor/plan.py, every 120 s)
    wait_for("the writer's commit waiting on ledger_entry", writer_waits, COMMIT_WAIT, proc)
    held = conn.execute(
        "SELECT l.mode FROM pg_locks l JOIN pg_class c ON c.oid = l.relation"
        " WHERE l.pid = %s AND c.relname = 'ledger_batch' AND l.granted",
        [waiting[0]],
    ).fetchall()
    assert ("RowExclusiveLock",) in held, f"the waiting backend has not written its batch row: {held}"
    return conn, waiting[0]


def _stored_batches(pg: pg_server.ScratchPostgres) -> int:
    with psycopg.connect(dbname=pg_server.DATABASE, user="postgres", host=str(pg.directory)) as conn:
        return int(conn.execute("SELECT count(*) FROM ledger_batch").fetchone()[0])  # type: ignore[index]


def test_postgresql_restart_mid_batch(
    crash_swarm: Swarm, scratch_pg: pg_server.ScratchPostgres, tmp_path: Path
) -> None:
    """Each restart lands while the writer is inside a commit: its transaction (batch row written, entries
    waiting on a lock this test holds) is cut, the writer says so once, retries and goes on."""
    key, log, logs = tmp_path / "node.pem", tmp_path / "commits.log", tmp_path / "logs"
    logs.mkdir()
    # a long run stopped by SIGTERM once the restarts are done: a loaded machine's slow restarts must not
    # outlast the run (the monitor's clean stop commits what is pending, as at the end of --duration)
    proc = start(command(crash_swarm.torrent_path, scratch_pg.url, key, log, 900.0), logs, "restarts")
    cut: list[int] = []  # batches acknowledged when each restart cut a commit
    try:
        for i in range(RESTARTS + 1):
            acks = len(acknowledged(log))
            wait_for(
                f"a batch before restart {i}", lambda n=acks: len(acknowledged(log)) > n, COMMIT_WAIT, proc
            )
            if i == RESTARTS:
                break  # a batch committed after the last restart
            conn, _writer = _held_commit(scratch_pg, proc)
            cut.append(len(acknowledged(log)))
            scratch_pg.restart("immediate")  # cuts the waiting transaction and our lock's session
            with contextlib.suppress(psycopg.Error):
                conn.close()
        proc.send_signal(signal.SIGTERM)
        proc.wait(timeout=90)
    finally:
        stop(proc)
    stderr = stderr_of(logs, "restarts")
    assert proc.returncode == 0, stderr[-3000:]
    _clear(stderr, "restarts")
    failed = sum(FAILED in line for line in stderr.splitlines())
    resumed = sum(RESUMED in line for line in stderr.splitlines())
    # every restart cut an open commit: one failure line each, each followed by a successful retry
    assert failed == resumed == RESTARTS, stderr[-3000:]
    assert all(len(acknowledged(log)) > n for n in cut), "no batch was committed after a restart"
    ledger = check_acknowledged(scratch_pg.url, acknowledged(log), "restarts")
    assert ledger.ok, ledger.problems
    # nothing half-written and nothing unacknowledged: every stored batch is an acknowledged one
    assert _stored_batches(scratch_pg) == len(acknowledged(log))
    _no_duplicates(scratch_pg.url)
    again = start(command(crash_swarm.torrent_path, scratch_pg.url, key, log, 3.0), logs, "again")
    try:
        again.wait(timeout=90)
    finally:
        stop(again)
    assert again.returncode == 0, stderr_of(logs, "again")[-3000:]
    assert not check_recovery_lines("again", stderr_of(logs, "again"))
