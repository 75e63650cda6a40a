"""``swarmscope demo``: runs the real scenario end to end, cleans up, and explains missing prerequisites."""

from __future__ import annotations

import os
import re
import subprocess
import sys
from pathlib import Path

import pytest

from tests.e2e.monitor_cli import CLI, report_rows
from tests.web.demo_console import PASSWORD_LINE, URL_LINE, Lines, free_port, log_in, stop

pytestmark = [pytest.mark.netns, pytest.mark.realclients]


def test_demo_runs_the_scenario_and_reports(netns: bool, tmp_path: Path) -> None:
    pytest.importorskip("libtorrent")
    db, workdir = tmp_path / "demo.db", tmp_path / "work"
    proc = subprocess.run(
        [*CLI, "demo", "--duration", "12", "--db", str(db), "--workdir", str(workdir)],
        capture_output=True,
        text=True,
        timeout=180,
        check=False,
        env={**os.environ, "COLUMNS": "200"},
    )
    assert proc.returncode == 0, proc.stdout[-3000:] + proc.stderr[-3000:]
    assert "the scenario (ground truth)" in proc.stdout
    assert "hash_mismatch" in proc.stdout and "connect_refused" in proc.stdout
    assert "received 0 from it" in proc.stdout
    assert "VERIFIED: every check holds" in proc.stdout  # the exported bundle verifies
    tiers = sorted(row["tier"] for row in report_rows(db, timeout=60))
    assert tiers.count("verified") >= 3 and "listed" in tiers
    assert list(workdir.iterdir()) == []  # the scenario's directory was removed


def test_demo_without_opentracker_or_aria2_uses_the_builtin_tracker(netns: bool, tmp_path: Path) -> None:
    pytest.importorskip("libtorrent")
    env = {**os.environ, "PATH": str(tmp_path), "COLUMNS": "200"}  # neither opentracker nor aria2c on PATH
    db = tmp_path / "demo.db"
    proc = subprocess.run(
        [*CLI, "demo", "--duration", "8", "--db", str(db)],
        capture_output=True,
        text=True,
        timeout=180,
        check=False,
        env=env,
    )
    assert proc.returncode == 0, proc.stdout[-3000:] + proc.stderr[-3000:]
    assert "apt-get install -y opentracker" in proc.stdout and "built-in minimal HTTP tracker" in proc.stdout
    assert "aria2c not installed" in proc.stdout
    assert "verified" in {row["tier"] for row in report_rows(db, timeout=60)}


def test_demo_serve_keeps_the_console_running_on_the_demos_database(netns: bool, tmp_path: Path) -> None:
    pytest.importorskip("libtorrent")
    db = tmp_path / "demo.db"
    command = [*CLI, "demo", "--serve", "--port", str(free_port()), "--duration", "8", "--db", str(db)]
    proc = subprocess.Popen(command, stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True,
                            env={**os.environ, "COLUMNS": "200"})  # fmt: skip
    try:
        lines = Lines(proc.stdout)  # type: ignore[arg-type]
        infohash = lines.wait_for(re.compile(r"infohash ([0-9a-f]{40})"), 120).group(1)
        url = lines.wait_for(URL_LINE, 240).group(1)
        name, password = lines.wait_for(PASSWORD_LINE, 10).groups()
        client = log_in(url, name, password)
        works, page = client.get("/api/works").json(), client.get("/works").text
        client.close()
    finally:
        status = stop(proc)  # SIGTERM, by PID
    assert "VERIFIED: every check holds" in "".join(lines.seen)  # the demo ran to its end first
    assert [t["infohash"] for w in works for t in w["torrents"]] == [infohash]  # the demo's swarm
    assert infohash in page
    assert status == 0 and "the web console stopped" in lines.drain(10)
    stored = b"".join(p.read_bytes() for p in tmp_path.glob("demo.db*") if p.is_file())
    assert password.encode() not in stored  # only its Argon2id hash


def test_demo_names_the_missing_libtorrent() -> None:
    code = (
        "import sys; sys.modules['libtorrent'] = None; sys.argv = ['swarmscope', 'demo', '--duration', '1'];"
        "from swarmscope.cli import main; main()"
    )
    proc = subprocess.run(
        [sys.executable, "-c", code], capture_output=True, text=True, timeout=60, check=False
    )
    assert proc.returncode == 2
    assert "pip install 'swarmscope[demo]'" in proc.stdout
