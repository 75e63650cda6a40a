"""Real chronyd NTP servers on loopback for tests and the demo: good, skewed and unsynchronised ones.

Every chronyd runs in the foreground (``-d``) with its own config, drift file and PID file in a temp dir,
``-x`` (never touch the system clock), ``cmdport 0`` and ``bindcmdaddress /`` (no chronyc access, no shared
socket under /run), one address family (``-4``/``-6``) bound to one loopback address, and ``allow`` only for
loopback. Processes are stopped by PID (terminate → wait → kill).

**How the skew is produced.** libfaketime (``faketime -f +0.5s chronyd``) does *not* skew chronyd
faithfully: chronyd takes its receive timestamps from the kernel (SO_TIMESTAMPNS), which libfaketime cannot
touch, and only its transmit timestamps from the faked ``clock_gettime``. Measured: a +0.5 s faketime gives
an offset of +0.25 s and a delay of −0.5 s. Instead a skewed server is a real chronyd that is synchronised to
a hidden reference chronyd through ``server ... offset SKEW``; with ``-x`` chronyd keeps its correction in
its own offset register (the "null" clock driver) and serves reference time + SKEW to its clients as soon as
it selects the source (about 1 s with ``iburst minpoll -4``). This is also a realistic failure: a server
synchronised through a mis-corrected (asymmetric or misconfigured) path.

**Unsynchronised server.** A chronyd with no ``local`` directive and no source answers with leap 3 and
stratum 0 (measured), the RFC 5905 "clock not synchronised" reply.

Works inside a private network namespace (only ``lo``); nothing binds a non-loopback address.
"""

from __future__ import annotations

import contextlib
import ipaddress
import os
import shutil
import socket
import struct
import subprocess
import tempfile
import time
from dataclasses import dataclass, field
from pathlib import Path

from swarmscope.testbed.process import stop_process

CHRONYD_MISSING = "chronyd not found: install it with `apt-get install -y chrony`"
_NTP_UNIX_DELTA = 2_208_988_800


class ChronyUnavailableError(RuntimeError):
    """chronyd is not installed, or it did not answer in time."""


@dataclass
class ChronyServer:
    """A running chronyd serving NTP on a loopback address.

    Attributes:
        ip: bound loopback address (IPv4 or IPv6 literal). port: its UDP NTP port.
        skew_s: seconds its served time is ahead of the reference (0 for a plain server).
        synchronised: False for a server answering "unsynchronised" (leap 3).
        proc: the chronyd process, stopped by PID in ``stop``. root: its temp dir, removed in ``stop``.
        upstream: the hidden reference server of a skewed one (stopped with it).
    """

    ip: str
    port: int
    skew_s: float
    synchronised: bool
    proc: subprocess.Popen[bytes] | None
    root: Path
    upstream: ChronyServer | None = None
    log_path: Path = field(init=False)

    def __post_init__(self) -> None:
        self.log_path = self.root / "chronyd.log"

    @property
    def server(self) -> str:
        """``host:port`` as :func:`swarmscope.net.ntp_clock.sample` takes it (``[v6]:port`` for IPv6)."""
        host = f"[{self.ip}]" if ":" in self.ip else self.ip
        return f"{host}:{self.port}"

    def stop(self) -> None:
        """Stop chronyd (and its reference) by PID; remove the temp dirs."""
        try:
            stop_process(self.proc)
            self.proc = None
        finally:
            if self.upstream is not None:
                self.upstream.stop()
            shutil.rmtree(self.root, ignore_errors=True)


def free_udp_port(ip: str) -> int:
    """A UDP port nothing is bound to on ``ip`` (IPv4 or IPv6 literal)."""
    family = socket.AF_INET6 if ":" in ip else socket.AF_INET
    with socket.socket(family, socket.SOCK_DGRAM) as udp:
        udp.bind((ip, 0))
        return int(udp.getsockname()[1])


def _config(root: Path, ip: str, port: int, *, local: bool, source: str) -> str:
    net = "::1" if ":" in ip else "127.0.0.0/8"
    lines = [
        *(["local stratum 8"] if local else []),
        *([source] if source else []),
        f"allow {net}",
        f"port {port}",
        f"bindaddress {ip}",
        "cmdport 0",
        "bindcmdaddress /",
        f"driftfile {root / 'drift'}",
        f"pidfile {root / 'chronyd.pid'}",
    ]
    return "\n".join(lines) + "\n"


def _launch(ip: str, port: int | None, *, local: bool, source: str = "") -> ChronyServer:
    """Write a config into a fresh temp dir and start chronyd in the foreground (not yet answering)."""
    binary = shutil.which("chronyd") or ("/usr/sbin/chronyd" if Path("/usr/sbin/chronyd").exists() else None)
    if binary is None:
        raise ChronyUnavailableError(CHRONYD_MISSING)
    if not ipaddress.ip_address(ip).is_loopback:
        raise ValueError(f"testbed chronyd binds loopback only, not {ip}")
    root = Path(tempfile.mkdtemp(prefix="swarmscope-chrony-"))
    port = port or free_udp_port(ip)
    conf = root / "chrony.conf"
    conf.write_text(_config(root, ip, port, local=local, source=source), encoding="ascii")
    args = [binary, "-d", "-x", "-6" if ":" in ip else "-4", "-f", str(conf)]
    if os.geteuid() == 0:
        args += ["-u", "root"]  # no privilege drop to the _chrony user (it cannot read our temp dir)
    with open(root / "chronyd.log", "wb") as log:
        proc = subprocess.Popen(args, stdin=subprocess.DEVNULL, stdout=log, stderr=subprocess.STDOUT)
    return ChronyServer(ip, port, 0.0, local, proc, root)


def query(ip: str, port: int, timeout: float = 0.5) -> tuple[int, int, float] | None:
    """One raw SNTP query: (leap, stratum, offset seconds) or None when no reply arrived in time."""
    family = socket.AF_INET6 if ":" in ip else socket.AF_INET
    with socket.socket(family, socket.SOCK_DGRAM) as sock:
        sock.settimeout(timeout)
        t1 = time.time()
        request = bytearray(48)
        request[0] = 0x23  # leap 0, version 4, mode 3 (client)
        request[40:48] = struct.pack("!Q", int((t1 + _NTP_UNIX_DELTA) * 2**32))
        try:
            sock.sendto(bytes(request), (ip, port))
            reply = sock.recv(512)
        except OSError:  # timeout or connection refused
            return None
        t4 = time.time()
    if len(reply) < 48:
        return None
    t2, t3 = (v / 2**32 - _NTP_UNIX_DELTA for v in struct.unpack("!QQ", reply[32:48]))
    return reply[0] >> 6, reply[1], ((t2 - t1) + (t3 - t4)) / 2


def _ready(reply: tuple[int, int, float], synchronised: bool, want_offset: float | None) -> bool:
    """A reply shows the server ready: synchronised as expected and serving the wanted offset."""
    leap, _, offset = reply
    if synchronised and leap == 3:
        return False
    return want_offset is None or abs(offset - want_offset) <= max(0.02, abs(want_offset) / 10)


def _wait_ready(server: ChronyServer, timeout: float, *, want_offset: float | None) -> None:
    """Poll until chronyd answers (synchronised, and near ``want_offset`` when given); bounded in time."""
    deadline = time.monotonic() + timeout
    last: tuple[int, int, float] | None = None
    while time.monotonic() < deadline:
        if server.proc is not None and server.proc.poll() is not None:
            log = server.log_path.read_text(errors="replace")[-800:]
            raise ChronyUnavailableError(f"chronyd exited with {server.proc.returncode}: {log}")
        last = query(server.ip, server.port)
        if last is not None and _ready(last, server.synchronised, want_offset):
            return
        time.sleep(0.1)
    raise ChronyUnavailableError(f"chronyd on {server.server} not ready after {timeout} s (last {last})")


def start_chrony(
    ip: str = "127.0.0.1", *, port: int | None = None, synchronised: bool = True, timeout: float = 10.0
) -> ChronyServer:
    """Start chronyd serving the system time at stratum 8 (``local stratum 8``) and wait until it answers.

    Args:
        ip: loopback address to bind (``127.x.y.z`` or ``::1``). port: UDP port (a free one when None).
        synchronised: False starts a chronyd with no time source, answering leap 3 / stratum 0.
        timeout: seconds to wait for its first reply.

    Returns:
        The running server; call ``stop()`` (always, in a finally).

    Raises:
        ChronyUnavailableError: chronyd missing, exited, or silent until the deadline.
        ValueError: ``ip`` is not a loopback address.
    """
    server = _launch(ip, port, local=synchronised)
    try:
        _wait_ready(server, timeout, want_offset=None)
    except BaseException:
        server.stop()
        raise
    return server


def start_skewed_chrony(
    skew_s: float, ip: str = "127.0.0.1", *, port: int | None = None, timeout: float = 20.0
) -> ChronyServer:
    """Start chronyd serving time ``skew_s`` seconds ahead of the system clock (negative: behind).

    A hidden reference chronyd (``local stratum 8``) on ``ip`` is its only source, declared with
    ``offset skew_s``; it serves at stratum 9 once synchronised (see the module docstring).

    Args:
        skew_s: seconds to add to the served time. ip: loopback address for both daemons.
        port: the skewed server's UDP port (free one when None). timeout: seconds to wait until it serves
            the skewed time (within 10 % or 20 ms).

    Returns:
        The skewed server (``upstream`` is the reference); ``stop()`` stops both.

    Raises:
        ChronyUnavailableError, ValueError: as :func:`start_chrony`.
    """
    upstream = start_chrony(ip, timeout=timeout)
    try:
        source = f"server {ip} port {upstream.port} iburst minpoll -4 maxpoll -4 offset {skew_s:.6f}"
        server = _launch(ip, port, local=False, source=source)
    except BaseException:
        upstream.stop()
        raise
    server.upstream, server.skew_s, server.synchronised = upstream, skew_s, True
    try:
        _wait_ready(server, timeout, want_offset=skew_s)
    except BaseException:
        with contextlib.suppress(Exception):
            server.stop()
        raise
    return server
