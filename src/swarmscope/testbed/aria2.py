"""aria2 (Debian ``aria2c``) as a second real BitTorrent client: a seed on its own loopback address.

Command line as measured in the testbed NOTES ("A second real client"): ``--interface`` binds every socket
to the peer's address, DHT/LPD/PEX are off, ``--bt-seed-unverified`` seeds the existing file without a
hash check. ``--stop-with-process`` ties its life to ours, so it cannot outlive a crashed test.
"""

from __future__ import annotations

import os
import re
import shutil
import subprocess
from dataclasses import dataclass
from pathlib import Path

from swarmscope.testbed.process import stop_process, wait_tcp_listening

ARIA2_MISSING = "aria2c not found: install it with `apt-get install -y aria2`"


class Aria2UnavailableError(RuntimeError):
    """aria2c is not installed or did not come up."""


@dataclass
class Aria2Seed:
    """A running aria2c seeding one torrent.

    Attributes:
        ip: bound address (all its sockets).
        port: BitTorrent listen port.
        version: aria2 version string, e.g. "1.36.0".
        proc: the process, stopped by PID in ``stop``.
        log_path: its console output.
    """

    ip: str
    port: int
    version: str
    proc: subprocess.Popen[bytes] | None
    log_path: Path

    def stop(self) -> None:
        """Stop aria2c by PID (SIGTERM, wait, SIGKILL)."""
        stop_process(self.proc)
        self.proc = None


def aria2_version() -> str | None:
    """Return the installed aria2c version ("1.36.0"), or None when aria2c is not installed."""
    binary = shutil.which("aria2c")
    if binary is None:
        return None
    out = subprocess.run(
        [binary, "--version"], capture_output=True, text=True, timeout=10, check=False
    ).stdout
    match = re.search(r"aria2 version (\S+)", out)
    return match.group(1) if match else None


def start_aria2_seed(
    torrent_path: Path, data_dir: Path, ip: str, port: int, *, log_dir: Path, timeout: float = 10.0
) -> Aria2Seed:
    """Start aria2c seeding ``torrent_path`` from ``data_dir`` on ``ip:port`` and wait until it listens.

    Args:
        torrent_path: the .torrent (its announce URL is where aria2 announces).
        data_dir: directory holding the complete payload under the torrent's name.
        ip: address for every aria2 socket (``--interface``).
        port: BitTorrent listen port.
        log_dir: directory for aria2's console log.
        timeout: seconds to wait for the listen port.

    Returns:
        The running Aria2Seed; call ``stop()`` in a finally.

    Raises:
        Aria2UnavailableError: aria2c missing, or it exited/did not listen in time.
    """
    binary = shutil.which("aria2c")
    version = aria2_version()
    if binary is None or version is None:
        raise Aria2UnavailableError(ARIA2_MISSING)
    cmd = [
        binary,
        "--no-conf",
        f"--interface={ip}",
        f"--listen-port={port}",
        "--enable-dht=false",
        "--enable-dht6=false",
        "--disable-ipv6=true",
        "--bt-enable-lpd=false",
        "--enable-peer-exchange=false",
        "--seed-ratio=0.0",
        "--seed-time=60",
        "--bt-seed-unverified=true",
        "--check-integrity=false",
        f"--dir={data_dir}",
        f"--stop-with-process={os.getpid()}",
        "--summary-interval=0",
        "--console-log-level=warn",
        "--auto-save-interval=0",
        "--bt-save-metadata=false",
        "--allow-overwrite=false",
        str(torrent_path),
    ]
    log_path = log_dir / "aria2.log"
    with log_path.open("wb") as log:
        proc = subprocess.Popen(
            cmd, stdin=subprocess.DEVNULL, stdout=log, stderr=log, start_new_session=True
        )  # own session: a terminal's Ctrl-C reaches us; it dies with us via --stop-with-process
    seed = Aria2Seed(ip, port, version, proc, log_path)
    try:
        wait_tcp_listening(ip, port, timeout, proc)
    except RuntimeError as exc:
        seed.stop()
        raise Aria2UnavailableError(
            f"aria2c did not start: {exc}; log: {log_path.read_text()[-500:]}"
        ) from exc
    return seed
