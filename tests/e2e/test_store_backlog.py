"""End to end: a disk that stays full for most of a minute: the writer's backlog is bounded, probing pauses.

The real CLI ``swarmscope monitor --max-backlog 0.25`` (MiB) writes its SQLite store on a 16 MiB tmpfs (the
fixture of ``test_store_faults.py``), the test fills the tmpfs after the first acknowledged batch and leaves
it full to the end of a 45 s run. Evidence of the probes then in flight and of discovery queues in memory:
once it reaches the bound the writer says so in ONE line and no new probe starts, so the monitor's RSS
stays within the bound stated in the README (backlog + the probes in flight + slack: +64 MiB here). The
run ends saying how much was NOT committed (exit 1); every acknowledged batch is stored and verifies.
"""

from __future__ import annotations

import os
import signal
import subprocess
import time
from pathlib import Path

import pytest

pytest.importorskip("libtorrent")

from swarmscope.testbed.swarm import Swarm
from tests.e2e.crash_support import acknowledged, command, start, stderr_of, stop, wait_for
from tests.e2e.test_store_faults import FAILED, NOT_COMMITTED, Tmpfs, _check, _fill, _holder, _one_line

pytestmark = [pytest.mark.netns, pytest.mark.realclients]

BACKLOG = "evidence backlog full"  # the writer's one line when its backlog reaches the bound
RUN_SECONDS = 45.0
RSS_GROWTH_MIB = 64


def _rss_mib(pid: int) -> float:
    """VmRSS of ``pid`` in MiB (0.0 once it has exited)."""
    try:
        status = Path(f"/proc/{pid}/status").read_text()
    except OSError:
        return 0.0
    line = next((row for row in status.splitlines() if row.startswith("VmRSS:")), "VmRSS: 0 kB")
    return int(line.split()[1]) / 1024


def test_full_disk_for_most_of_a_minute_pauses_probing_with_bounded_memory(
    crash_swarm: Swarm, tmp_path: Path
) -> None:
    path = tmp_path / "disk"
    path.mkdir()
    holder = _holder(path)
    disk = Tmpfs(holder.pid, path)
    key, log, logs = tmp_path / "node.pem", tmp_path / "commits.log", tmp_path / "logs"
    logs.mkdir()
    filler = disk.seen / "filler"
    cmd = [*command(crash_swarm.torrent_path, str(path / "evidence.db"), key, log, RUN_SECONDS, disk.prefix)]
    proc = start([*cmd, "--max-backlog", "0.25"], logs, "backlog")
    try:
        wait_for("acknowledged batch", lambda: len(acknowledged(log)) > 0, 30, proc)
        assert _fill(filler) > 0
        wait_for("commit failure line", lambda: FAILED in stderr_of(logs, "backlog"), 20, proc)
        at_fill, peak = _rss_mib(proc.pid), 0.0
        while proc.poll() is None:
            peak = max(peak, _rss_mib(proc.pid))
            time.sleep(0.25)
    finally:
        stop(proc)
    stderr = stderr_of(logs, "backlog")
    try:
        assert proc.returncode == 1, f"exit {proc.returncode}\n{stderr[-3000:]}"
        _one_line(stderr, FAILED, "backlog")
        _one_line(stderr, BACKLOG, "backlog")
        assert NOT_COMMITTED in stderr and "no new probe starts" in stderr, stderr[-3000:]
        assert peak - at_fill <= RSS_GROWTH_MIB, (at_fill, peak)
        filler.unlink()
        _check(disk.copy_store(tmp_path / "copy"), log, "backlog")
    finally:
        filler.unlink(missing_ok=True)
        subprocess.run([*disk.prefix, "umount", str(path)], check=False)
        os.kill(holder.pid, signal.SIGKILL)
        holder.wait(timeout=10)
