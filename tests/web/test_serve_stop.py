"""``swarmscope serve`` stops on Ctrl-C (SIGINT) or SIGTERM with exit status 0, no "Aborted!", no traceback
(uvicorn raises the signal again after its graceful shutdown; :func:`swarmscope.web.server._run`)."""

from __future__ import annotations

import re
import signal
import subprocess
import sys
from pathlib import Path

import httpx
import pytest

from tests.web.demo_console import Lines, free_port

LISTENING = re.compile(r"swarmscope console on (http://127\.0\.0\.1:\d+/)")


@pytest.mark.parametrize("sig", [signal.SIGINT, signal.SIGTERM], ids=["SIGINT", "SIGTERM"])
def test_serve_stops_cleanly_on_a_signal(web_db: Path, sig: signal.Signals) -> None:
    command = [
        sys.executable,
        "-m",
        "swarmscope.cli",
        "serve",
        "--db",
        str(web_db),
        "--port",
        str(free_port()),
    ]
    proc = subprocess.Popen(command, stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True)
    try:
        lines = Lines(proc.stdout)  # type: ignore[arg-type]
        url = lines.wait_for(LISTENING, 60).group(1)
        assert httpx.get(url + "health", timeout=30).json() == {"status": "ok"}
        proc.send_signal(sig)  # by PID
        status = proc.wait(30)
    finally:
        if proc.poll() is None:
            proc.kill()
            proc.wait(10)
    output = lines.drain(10)
    assert status == 0, output
    assert "Aborted" not in output and "Traceback" not in output
