"""Shared by the crash-loop and store-fault tests: running the real monitor, checking what it acknowledged.

The monitor acknowledges each sealed batch only after its COMMIT returned, one line in ``--commit-log``
(:mod:`swarmscope.cli.commit_log`): ``first last head-hash fingerprint``. "Nothing acknowledged is lost"
is then checked against the store itself: every acknowledged batch is stored, signed by that node, with the
same first and last chain index and head hash, every chain entry it covers is present, and the head entry's
hash is the acknowledged one. The whole ledger must verify (``store.ledger.verify.verify_ledger``).
"""

from __future__ import annotations

import os
import re
import signal
import subprocess
import time
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

from swarmscope.store.database import open_store
from swarmscope.store.ledger.entries import load_batches, load_ledger
from swarmscope.store.ledger.verify import verify_ledger
from tests.e2e.monitor_cli import monitor_command

RECOVERY = re.compile(r"ledger recovery: (.*)")
SEALED_LATE = re.compile(r"sealed \d+ unsealed entries \d+\.\.\d+ in recovered batch \d+")

# (first chain index, last chain index, head entry hash hex, signer fingerprint hex)
Ack = tuple[int, int, str, str]


@dataclass
class Ledger:
    """What a read-only look at the store found: entry count, batch count, verify_ledger's verdict."""

    entries: int
    batches: int
    ok: bool
    problems: str


def acknowledged(log: Path) -> list[Ack]:
    """The batches the monitor acknowledged in ``log`` (a missing log: none)."""
    if not log.exists():
        return []
    acks = []
    for line in log.read_text(encoding="ascii").splitlines():
        first, last, head, node = line.split()
        acks.append((int(first), int(last), head, node))
    return acks


def check_acknowledged(db: str, acks: list[Ack], name: str) -> Ledger:
    """Assert that every acknowledged batch is in the store as acknowledged; return the ledger's state.

    The store is opened without a node key (``create=False``): no recovery, no write.
    """
    with open_store(db, create=False) as store:
        entries = {e.index: e.entry_hash for e, _kind, _canonical in load_ledger(store)}
        batches = {
            (b.node, b.sealed.batch.first_index, b.sealed.batch.last_index): b.sealed.batch.head_hash.hex()
            for b in load_batches(store)
        }
        verdict = verify_ledger(store)
    for first, last, head, node in acks:
        assert batches.get((node, first, last)) == head, f"{name}: acknowledged batch {first}..{last} lost"
        missing = [i for i in range(first, last + 1) if i not in entries]
        assert not missing, f"{name}: acknowledged entries lost: {missing[:10]}"
        assert entries[last].hex() == head, f"{name}: acknowledged head {last} changed"
    problems = "; ".join(f"{p.what} @{p.index}: {p.detail}" for p in verdict.problems[:5])
    return Ledger(len(entries), len(batches), verdict.ok, problems)


def check_recovery_lines(name: str, stderr: str) -> list[str]:
    """A start's 'ledger recovery:' lines may only be late seals (commits are atomic: expect none)."""
    actions = [m.group(1).strip() for m in RECOVERY.finditer(stderr)]
    for action in actions:
        assert SEALED_LATE.fullmatch(action), f"{name}: recovery did more than a late seal: {action!r}"
    return actions


def command(
    torrent: Path, db: str, key: Path, log: Path, duration: float, prefix: tuple[str, ...] = ()
) -> list[str]:
    """``swarmscope monitor`` on the testbed, with a node key and a commit log; ``prefix`` wraps it."""
    cmd = monitor_command(torrent, Path(db), "127.0.0.1", duration, "--node-key", str(key))
    cmd[cmd.index("--db") + 1] = db  # a PostgreSQL URL stays a URL
    return [*prefix, *cmd, "--commit-log", str(log)]


def start(cmd: list[str], logs: Path, name: str) -> subprocess.Popen[bytes]:
    """Start one monitor process, its stdout and stderr in ``logs/name.out|.err``."""
    env = {**os.environ, "COLUMNS": "400"}  # rich must not wrap the one-line messages
    with (logs / f"{name}.out").open("wb") as out, (logs / f"{name}.err").open("wb") as err:
        return subprocess.Popen(cmd, stdout=out, stderr=err, env=env)


def stop(proc: subprocess.Popen[bytes]) -> None:
    """SIGKILL by PID (when still running), then a bounded wait."""
    if proc.poll() is None:
        os.kill(proc.pid, signal.SIGKILL)
    proc.wait(timeout=30)


def wait_for(
    what: str, condition: Callable[[], bool], timeout: float, proc: subprocess.Popen[bytes] | None = None
) -> None:
    """Poll ``condition()`` every 50 ms until true; fail after ``timeout`` s or when ``proc`` exits."""
    deadline = time.monotonic() + timeout
    while not condition():
        assert proc is None or proc.poll() is None, f"the monitor exited ({proc.returncode}) before {what}"
        assert time.monotonic() < deadline, f"no {what} within {timeout} s"
        time.sleep(0.05)


def stderr_of(logs: Path, name: str) -> str:
    return (logs / f"{name}.err").read_text(errors="replace")
