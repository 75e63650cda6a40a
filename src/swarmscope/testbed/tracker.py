"""Start and stop a real opentracker (Debian build, whitelist-only) on a loopback address.

The Debian opentracker is compiled with an infohash whitelist: every infohash the swarm uses must be listed
(hex, one per line) in a file given with ``-w``, a path relative to the chroot directory ``-d``
(testbed NOTES "Trackers"). An unlisted infohash gets an HTTP failure reason and over UDP a truncated
8-byte announce reply.
"""

from __future__ import annotations

import contextlib
import os
import shutil
import subprocess
import tempfile
import time
import urllib.parse
from collections.abc import Iterable
from dataclasses import dataclass, field
from pathlib import Path

from swarmscope.testbed.process import free_port, stop_process, wait_tcp_listening

OPENTRACKER_MISSING = "opentracker not found: install it with `apt-get install -y opentracker`"


class TrackerUnavailableError(RuntimeError):
    """The opentracker binary is not installed or did not come up."""


@dataclass
class Opentracker:
    """A running opentracker process (HTTP and UDP on the same port).

    Attributes:
        ip: bound IPv4 address.
        port: TCP (HTTP) and UDP port.
        proc: the process, stopped by PID in ``stop``.
        root: its chroot directory (holds the whitelist), removed in ``stop``.
    """

    ip: str
    port: int
    proc: subprocess.Popen[bytes] | None
    root: Path
    log_path: Path = field(init=False)

    def __post_init__(self) -> None:
        self.log_path = self.root / "opentracker.log"

    @property
    def http_url(self) -> str:
        """HTTP announce URL (BEP 3)."""
        return f"http://{self.ip}:{self.port}/announce"

    @property
    def udp_url(self) -> str:
        """UDP announce URL (BEP 15)."""
        return f"udp://{self.ip}:{self.port}/announce"

    def stop(self) -> None:
        """Stop the process by PID and remove the chroot directory."""
        stop_process(self.proc)
        self.proc = None
        shutil.rmtree(self.root, ignore_errors=True)


def start_opentracker(
    ip: str, infohashes: Iterable[str], *, port: int | None = None, timeout: float = 10.0
) -> Opentracker:
    """Start opentracker on ``ip`` with ``infohashes`` whitelisted and wait until HTTP answers.

    Args:
        ip: loopback address to bind (HTTP and UDP).
        infohashes: infohashes as 40 hex digits (at least one).
        port: TCP and UDP port; a free one is picked when None.
        timeout: seconds to wait for the HTTP port.

    Returns:
        The running Opentracker; call ``stop()`` (always, in a finally).

    Raises:
        TrackerUnavailableError: binary missing, or it exited/did not listen in time.
    """
    binary = shutil.which("opentracker")
    if binary is None:
        raise TrackerUnavailableError(OPENTRACKER_MISSING)
    root = Path(tempfile.mkdtemp(prefix="swarmscope-opentracker-"))
    os.chmod(root, 0o755)  # opentracker drops to user "nobody" after chroot
    whitelist = root / "whitelist.txt"
    hashes = [h.lower() for h in infohashes]
    if not hashes:
        raise ValueError("opentracker needs at least one whitelisted infohash")
    whitelist.write_text("".join(f"{h}\n" for h in hashes))
    os.chmod(whitelist, 0o644)
    port = port or free_port(ip, udp_too=True)
    tracker = Opentracker(ip, port, None, root)
    cmd = [binary, "-i", ip, "-p", str(port), "-P", str(port), "-d", str(root), "-w", "whitelist.txt"]
    with tracker.log_path.open("wb") as log:
        tracker.proc = subprocess.Popen(cmd, stdin=subprocess.DEVNULL, stdout=log, stderr=log)
    try:
        wait_tcp_listening(ip, port, timeout, tracker.proc)
        for infohash_hex in hashes:  # every one: a loaded machine saw the first accepted, a later refused
            _wait_whitelist_loaded(tracker, infohash_hex, timeout)
    except RuntimeError as exc:
        tracker.stop()
        raise TrackerUnavailableError(f"opentracker did not start: {exc}") from exc
    return tracker


def _wait_whitelist_loaded(tracker: Opentracker, infohash_hex: str, timeout: float) -> None:
    """Wait until opentracker accepts ``infohash_hex``: it loads the whitelist in a thread after binding,
    so the first announces can be refused. The probe is an ``event=stopped`` announce, which lists no one.
    """
    deadline = time.monotonic() + timeout
    body = b""
    while time.monotonic() < deadline:
        if tracker.proc is not None and tracker.proc.poll() is not None:
            raise RuntimeError(f"opentracker exited with {tracker.proc.returncode}")
        with contextlib.suppress(OSError):
            body = announce_from(
                tracker.http_url,
                source_ip=tracker.ip,
                infohash=bytes.fromhex(infohash_hex),
                peer_id=b"-SS0000-whitelistprb",
                port=1,
                left=0,
                event="stopped",
            )
            if b"failure reason" not in body:
                return
        time.sleep(0.05)
    raise RuntimeError(f"opentracker never accepted the whitelisted infohash: {body!r}")


def announce_from(
    tracker_url: str,
    *,
    source_ip: str,
    infohash: bytes,
    peer_id: bytes,
    port: int,
    left: int,
    event: str = "started",
    numwant: int = 0,
    timeout: float = 5.0,
) -> bytes:
    """Send one HTTP announce whose TCP connection leaves from ``source_ip``; return the raw body.

    The tracker records the connection's source address with ``port``, so this lists an address where
    nothing need listen (testbed NOTES "Listed but not a peer"; BEP 3 "Trackers").

    Args:
        tracker_url: HTTP announce URL.
        source_ip: local address to bind the TCP connection to.
        infohash: 20 raw bytes.
        peer_id: 20 raw bytes.
        port: the port the tracker should hand out.
        left: bytes left to download.
        event: "started", "stopped", "completed" or "".
        numwant: how many peers to ask for.
        timeout: seconds for the whole request.

    Returns:
        The bencoded response body.
    """
    import http.client

    url = urllib.parse.urlsplit(tracker_url)
    query = urllib.parse.urlencode(
        {
            "info_hash": infohash,
            "peer_id": peer_id,
            "port": port,
            "uploaded": 0,
            "downloaded": 0,
            "left": left,
            "compact": 1,
            "event": event,
            "numwant": numwant,
        },
        quote_via=urllib.parse.quote,  # opentracker does not decode "+" as a space
    )
    conn = http.client.HTTPConnection(
        url.hostname or "", url.port, timeout=timeout, source_address=(source_ip, 0)
    )
    try:
        conn.request("GET", f"{url.path}?{query}")
        return conn.getresponse().read()
    finally:
        conn.close()


def list_peers(
    tracker_url: str, *, source_ip: str, infohash: bytes, timeout: float = 5.0
) -> set[tuple[str, int]]:
    """Return the (ip, port) pairs the tracker hands out for ``infohash``, asking from ``source_ip``.

    The probe announces ``started`` with numwant=200 and then ``stopped``, so it does not stay listed.
    The probe's own address is removed from the answer (NOTES: trackers return the requester itself).
    """
    import bencode2

    peer_id = b"-SS0000-" + source_ip.encode().ljust(12, b"-")[:12]

    def announce(event: str, numwant: int) -> bytes:
        return announce_from(
            tracker_url, source_ip=source_ip, infohash=infohash, peer_id=peer_id, port=1, left=1,
            event=event, numwant=numwant, timeout=timeout,
        )  # fmt: skip

    body = announce("started", 200)
    announce("stopped", 0)
    reply = bencode2.bdecode(body)
    compact = reply.get(b"peers", b"") if isinstance(reply, dict) else b""
    found = set()
    for i in range(0, len(compact) - len(compact) % 6, 6):
        ip = ".".join(str(b) for b in compact[i : i + 4])
        found.add((ip, int.from_bytes(compact[i + 4 : i + 6], "big")))
    return {(ip, port) for ip, port in found if ip != source_ip}
