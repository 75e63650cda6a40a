"""The chronyd testbed: servers come up on loopback, serve what they promise, and are stopped by PID."""

from __future__ import annotations

import os
import shutil

import pytest

from swarmscope.testbed.chrony import query, start_chrony, start_skewed_chrony

pytestmark = [
    pytest.mark.netns,
    pytest.mark.skipif(
        shutil.which("chronyd") is None, reason="chronyd not installed (apt-get install chrony)"
    ),
]


def _alive(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    return True


def test_start_and_stop_by_pid(netns: bool) -> None:
    server = start_chrony("127.0.0.7")
    assert server.proc is not None
    pid, root = server.proc.pid, server.root
    try:
        assert (root / "chrony.conf").read_text().count("local stratum 8") == 1
        reply = query(server.ip, server.port, timeout=2)
        assert reply is not None and reply[:2] == (0, 8)
    finally:
        server.stop()
    assert server.proc is None and not _alive(pid) and not root.exists()
    assert query("127.0.0.7", server.port, timeout=0.3) is None
    server.stop()  # idempotent


def test_skewed_server_and_its_reference_stop_together(netns: bool) -> None:
    server = start_skewed_chrony(-1.5, "127.0.0.8")
    assert server.proc is not None and server.upstream is not None and server.upstream.proc is not None
    pids = (server.proc.pid, server.upstream.proc.pid)
    try:
        reply = query(server.ip, server.port, timeout=2)
        assert reply is not None and reply[:2] == (0, 9) and abs(reply[2] + 1.5) < 0.1
        upstream = query(server.upstream.ip, server.upstream.port, timeout=2)
        assert upstream is not None and abs(upstream[2]) < 0.05
    finally:
        server.stop()
    assert not any(_alive(pid) for pid in pids)


def test_refuses_non_loopback_addresses() -> None:
    with pytest.raises(ValueError, match="loopback only"):
        start_chrony("192.0.2.1")
