"""Start and stop a real Debian ``opentracker`` on 127.0.0.1 for tests (reusable by any test module).

The Debian build is whitelist-only: ``-w`` names a file of hex infohashes, one a line, relative to the
chroot directory ``-d`` (see /work/shared/testbed/NOTES.md). ``-A 127.0.0.1`` enables ``/stats``.
The process is always stopped by its PID: terminate → wait → kill → wait.

Use from a test module::

    from tests.net.opentracker import opentracker_factory  # noqa: F401  (registers the fixture)

    async def test_x(opentracker_factory):
        tracker = opentracker_factory(["0123…67"])
        tracker.http_url, tracker.udp_url

or without pytest: ``handle = start_opentracker(workdir, [hex], port)`` … ``handle.stop()``.
"""

from __future__ import annotations

import shutil
import socket
import subprocess
import time
from collections.abc import Callable, Iterable, Iterator
from dataclasses import dataclass, field
from pathlib import Path

import pytest

HOST = "127.0.0.1"
WHITELIST = "whitelist.txt"
START_TIMEOUT = 10.0  # seconds to wait for the TCP port to accept


@dataclass
class OpentrackerHandle:
    """A running opentracker: its process, port and URLs. Call :meth:`stop` (idempotent)."""

    process: subprocess.Popen[bytes]
    workdir: Path
    port: int
    infohashes_hex: tuple[str, ...]
    log_path: Path
    stopped: bool = field(default=False)

    @property
    def http_url(self) -> str:
        """HTTP announce URL."""
        return f"http://{HOST}:{self.port}/announce"

    @property
    def udp_url(self) -> str:
        """UDP announce URL (BEP 15)."""
        return f"udp://{HOST}:{self.port}/announce"

    @property
    def stats_url(self) -> str:
        """Statistics page (needs the ``-A`` admin address this helper passes)."""
        return f"http://{HOST}:{self.port}/stats?mode=everything"

    @property
    def pid(self) -> int:
        """Process id of opentracker."""
        return self.process.pid

    def stop(self, timeout: float = 5.0) -> int | None:
        """Stop the process by PID (SIGTERM, SIGKILL after ``timeout`` s); returns its exit code."""
        if not self.stopped:
            self.stopped = True
            if self.process.poll() is None:
                self.process.terminate()
                try:
                    self.process.wait(timeout)
                except subprocess.TimeoutExpired:
                    self.process.kill()
                    self.process.wait(timeout)
        return self.process.returncode


def free_port() -> int:
    """A port free for both TCP and UDP on 127.0.0.1 (bounded number of attempts)."""
    for _ in range(50):
        with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as tcp:
            tcp.bind((HOST, 0))
            port = int(tcp.getsockname()[1])
            with socket.socket(socket.AF_INET, socket.SOCK_DGRAM) as udp:
                try:
                    udp.bind((HOST, port))
                except OSError:
                    continue
            return port
    raise RuntimeError("no free TCP+UDP port on 127.0.0.1")


def start_opentracker(workdir: Path, infohashes_hex: Iterable[str], port: int) -> OpentrackerHandle:
    """Start opentracker on 127.0.0.1:``port`` (TCP and UDP) whitelisting ``infohashes_hex``.

    Args:
        workdir: an existing directory; becomes opentracker's chroot and holds the whitelist and log.
        infohashes_hex: 40-character hex infohashes the tracker accepts.
        port: TCP and UDP port (see :func:`free_port`).

    Returns:
        A handle whose ``.stop()`` ends the process by PID.

    Raises:
        RuntimeError: opentracker is not installed, exits at start, or does not accept within 10 s.
    """
    binary = shutil.which("opentracker")
    if binary is None:
        raise RuntimeError("opentracker is not installed (apt-get install opentracker)")
    hashes = tuple(h.strip().lower() for h in infohashes_hex)
    (workdir / WHITELIST).write_text("".join(f"{h}\n" for h in hashes))
    workdir.chmod(0o755)  # opentracker chroots here and then drops to user "nobody"
    (workdir / WHITELIST).chmod(0o644)
    log_path = workdir / "opentracker.log"
    argv = [
        binary,
        "-i",
        HOST,
        "-p",
        str(port),
        "-P",
        str(port),
        "-d",
        str(workdir),
        "-w",
        WHITELIST,
        "-A",
        HOST,
    ]
    with log_path.open("wb") as log:
        process = subprocess.Popen(argv, stdout=log, stderr=subprocess.STDOUT, stdin=subprocess.DEVNULL)
    handle = OpentrackerHandle(process, workdir, port, hashes, log_path)
    try:
        _wait_accepting(handle)
    except BaseException:
        handle.stop()
        raise
    return handle


def _wait_accepting(handle: OpentrackerHandle) -> None:
    deadline = time.monotonic() + START_TIMEOUT
    while time.monotonic() < deadline:
        if handle.process.poll() is not None:
            raise RuntimeError(
                f"opentracker exited with {handle.process.returncode}: {handle.log_path.read_text()}"
            )
        try:
            with socket.create_connection((HOST, handle.port), timeout=0.5):
                return
        except OSError:
            time.sleep(0.05)
    raise RuntimeError(f"opentracker did not accept on {HOST}:{handle.port} within {START_TIMEOUT} s")


@pytest.fixture
def opentracker_factory(tmp_path: Path) -> Iterator[Callable[[Iterable[str]], OpentrackerHandle]]:
    """Factory fixture: ``opentracker_factory(hex_infohashes) -> OpentrackerHandle``; all stopped at teardown.

    Skips when opentracker is not installed.
    """
    if shutil.which("opentracker") is None:
        pytest.skip("opentracker is not installed")
    handles: list[OpentrackerHandle] = []

    def start(infohashes_hex: Iterable[str]) -> OpentrackerHandle:
        workdir = tmp_path / f"opentracker{len(handles)}"
        workdir.mkdir()
        handle = start_opentracker(workdir, infohashes_hex, free_port())
        handles.append(handle)
        return handle

    try:
        yield start
    finally:
        for handle in handles:
            handle.stop()
