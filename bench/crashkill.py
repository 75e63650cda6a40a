"""Mid-run SIGKILLs of the monitor for bench/hurtlocker.py's crash-safety checks, and the waits after them.

The kill lands by time (``--kill-after S``) or by progress (``--kill-at-peers N``: once N observations are
committed, so it lands mid-run on a fast quiet machine and on a loaded one alike); afterwards the monitor's
writer and probe processes must end by themselves (their input closed), so the database is checked at rest.
Source: README "Crash safety".
"""

from __future__ import annotations

import signal
import sqlite3
import subprocess
import time
from pathlib import Path
from typing import Any

KILL_CAP_S = 240.0  # --kill-at-peers: kill by then even if fewer were committed


def killed(
    cmd: list[str], env: dict[str, str], after_s: float | None, at_peers: int | None, db: str
) -> dict[str, Any]:
    """Start the monitor, SIGKILL it (by its PID) mid-run: the crash-safety check.

    ``after_s``: that many seconds after the start. ``at_peers``: once that many observations are
    committed (the database polled read-only every 0.1 s, at most ``KILL_CAP_S`` seconds), so the kill
    lands mid-run however fast or loaded the machine is. Whatever batches it committed before must verify
    (README "Crash safety"); nothing else is measured.
    """
    proc = subprocess.Popen(cmd, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL, env=env)
    t0, seen = time.monotonic(), 0
    limit = after_s if at_peers is None else KILL_CAP_S
    while time.monotonic() - t0 < limit:
        try:
            proc.wait(timeout=0.1 if at_peers is not None else max(0.0, limit - (time.monotonic() - t0)))
            return {"error": f"the monitor ended (status {proc.returncode}) before the kill"}
        except subprocess.TimeoutExpired:
            if at_peers is not None:
                seen = committed_observations(db)
                if seen >= at_peers:
                    break
    return _kill(proc, t0, after_s, seen)


def _kill(proc: subprocess.Popen[bytes], t0: float, after_s: float | None, seen: int) -> dict[str, Any]:
    proc.send_signal(signal.SIGKILL)
    proc.wait(timeout=30)
    return {
        "killed_after_s": after_s if after_s is not None else round(time.monotonic() - t0, 1),
        "killed_at_peers": seen,
        "returncode": proc.returncode,
        "completed": 0,
    }


def committed_observations(db: str) -> int:
    """Observations committed to the SQLite ``db`` so far (0 while it or its tables do not exist yet)."""
    try:
        with sqlite3.connect(f"file:{db}?mode=ro", uri=True, timeout=0.05) as con:
            (n,) = con.execute("SELECT COUNT(*) FROM observation WHERE ledger_index IS NOT NULL").fetchone()
        return int(n)
    except sqlite3.Error:
        return 0


def writer_ended(pid_file: Path, bound_s: float = 120.0) -> dict[str, Any]:
    """After the monitor's kill: wait (bounded) until its writer process, if it had one, has ended by
    itself (its input closed: it finishes the commit it is in and exits), so the database is checked at
    rest."""
    if not pid_file.is_file():
        return {}
    pid, t0 = int(pid_file.read_text()), time.monotonic()
    while Path(f"/proc/{pid}").exists() and time.monotonic() - t0 < bound_s:
        time.sleep(0.05)
    return {
        "writer_ended": not Path(f"/proc/{pid}").exists(),
        "writer_end_s": round(time.monotonic() - t0, 2),
    }


def probes_ended(pid_file: Path, bound_s: float = 60.0) -> dict[str, Any]:
    """After the coordinator's kill: whether its other probe processes ended by themselves (their input
    closed: each stops, its requests failing at once), waited for (bounded)."""
    if not pid_file.is_file():
        return {}
    pids, t0 = [int(p) for p in pid_file.read_text().split()], time.monotonic()
    while any(Path(f"/proc/{pid}").exists() for pid in pids) and time.monotonic() - t0 < bound_s:
        time.sleep(0.05)
    return {"probes_ended": not any(Path(f"/proc/{pid}").exists() for pid in pids)}
