"""Process and port plumbing shared by the testbed's launchers (opentracker, aria2, the libtorrent runner).

Every process is started with its own PID recorded and stopped by that PID only: terminate, wait with a
timeout, then kill (brief: "Network rule"). Ports are picked by binding port 0 on the peer's own address.
"""

from __future__ import annotations

import contextlib
import socket
import subprocess
import time

STOP_TIMEOUT = 5.0  # seconds to wait after SIGTERM before SIGKILL


def free_port(ip: str, *, udp_too: bool = False) -> int:
    """Return a TCP port (also free for UDP when ``udp_too``) that nothing listens on at ``ip``.

    Args:
        ip: a local IPv4 address (any 127.0.0.0/8 address works on Linux without setup).
        udp_too: also require the same UDP port to be free.

    Returns:
        A port number in the kernel's ephemeral range.
    """
    for _ in range(50):
        with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as tcp:
            tcp.bind((ip, 0))
            port = int(tcp.getsockname()[1])
            if not udp_too:
                return port
            with socket.socket(socket.AF_INET, socket.SOCK_DGRAM) as udp:
                try:
                    udp.bind((ip, port))
                except OSError:
                    continue
                return port
    raise RuntimeError(f"no free port found on {ip}")


def wait_tcp_listening(
    ip: str, port: int, timeout: float, proc: subprocess.Popen[bytes] | None = None
) -> None:
    """Wait until a TCP connect to (ip, port) succeeds, at most ``timeout`` seconds.

    Raises:
        RuntimeError: the deadline passed, or ``proc`` exited first.
    """
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if proc is not None and proc.poll() is not None:
            raise RuntimeError(f"process {proc.args!r} exited with {proc.returncode} before listening")
        with contextlib.suppress(OSError), socket.create_connection((ip, port), timeout=1.0):
            return
        time.sleep(0.05)
    raise RuntimeError(f"nothing listening on {ip}:{port} after {timeout} s")


def stop_process(proc: subprocess.Popen[bytes] | None, timeout: float = STOP_TIMEOUT) -> int | None:
    """Stop ``proc`` by its PID: SIGTERM, wait up to ``timeout`` seconds, then SIGKILL and wait.

    Returns:
        The exit status, or None when ``proc`` is None.
    """
    if proc is None:
        return None
    if proc.poll() is None:
        with contextlib.suppress(ProcessLookupError):
            proc.terminate()
        try:
            proc.wait(timeout)
        except subprocess.TimeoutExpired:
            with contextlib.suppress(ProcessLookupError):
                proc.kill()
            proc.wait(timeout)
    return proc.returncode
