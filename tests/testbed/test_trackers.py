"""The testbed's trackers: the real opentracker launcher and the built-in fallback behave alike.

Also pins two opentracker behaviours met while building the testbed: it loads its whitelist in a thread
after binding (the launcher waits for it), and it does not decode "+" as a space in ``info_hash``.
"""

from __future__ import annotations

import hashlib
import random
import shutil
import socket
import struct
import urllib.parse
import urllib.request
from collections.abc import Callable, Iterator
from typing import Any

import bencode2
import pytest

from swarmscope.testbed.mini_tracker import start_mini_tracker
from swarmscope.testbed.tracker import announce_from, list_peers, start_opentracker

pytestmark = pytest.mark.netns

TRACKER_IP = "127.0.0.2"
INFOHASH = hashlib.sha1(b"testbed tracker tests").digest()
OTHER = hashlib.sha1(b"not whitelisted").digest()
SPACE_HASH = hashlib.sha1(b"x").digest()  # contains byte 0x20: form-encoding would turn it into "+"


def _opentracker(hashes: list[bytes]) -> Any:
    if shutil.which("opentracker") is None:
        pytest.skip("opentracker not installed (apt-get install -y opentracker)")
    return start_opentracker(TRACKER_IP, [h.hex() for h in hashes])


def _mini(hashes: list[bytes]) -> Any:
    return start_mini_tracker(TRACKER_IP, [h.hex() for h in hashes])


@pytest.fixture(params=[_opentracker, _mini], ids=["opentracker", "builtin"])
def tracker(request: pytest.FixtureRequest, netns: bool) -> Iterator[Any]:
    start: Callable[[list[bytes]], Any] = request.param
    running = start([INFOHASH, SPACE_HASH])
    try:
        yield running
    finally:
        running.stop()


def _announce(tracker: Any, ip: str, port: int, infohash: bytes = INFOHASH, **kw: Any) -> dict[bytes, Any]:
    peer_id = b"-XX0000-" + ip.encode().ljust(12, b"x")[:12]
    body = announce_from(
        tracker.http_url, source_ip=ip, infohash=infohash, peer_id=peer_id, port=port, left=1, **kw
    )
    reply = bencode2.bdecode(body)
    assert isinstance(reply, dict)
    return reply


def test_whitelisted_hash_is_served_at_once_and_others_refused(tracker: Any) -> None:
    assert b"failure reason" not in _announce(tracker, "127.0.3.1", 7001)  # first request after start
    assert b"failure reason" in _announce(tracker, "127.0.3.1", 7001, infohash=OTHER)


def test_listing_uses_the_source_address_and_forgets_stopped_peers(tracker: Any) -> None:
    _announce(tracker, "127.0.3.1", 7001)
    _announce(tracker, "127.0.3.2", 7002)
    assert list_peers(tracker.http_url, source_ip="127.0.3.9", infohash=INFOHASH) == {
        ("127.0.3.1", 7001),
        ("127.0.3.2", 7002),
    }
    _announce(tracker, "127.0.3.2", 7002, event="stopped")
    assert list_peers(tracker.http_url, source_ip="127.0.3.9", infohash=INFOHASH) == {("127.0.3.1", 7001)}


def test_infohash_with_a_space_byte_must_be_percent_encoded(tracker: Any) -> None:
    assert b" " in SPACE_HASH
    assert b"failure reason" not in _announce(tracker, "127.0.3.3", 7003, infohash=SPACE_HASH)
    query = urllib.parse.urlencode(
        {"info_hash": SPACE_HASH, "peer_id": b"-XX0000-plusplusplus", "port": 7004, "left": 1, "compact": 1}
    )  # quote_plus: 0x20 becomes "+"
    assert "+" in query
    with urllib.request.urlopen(f"{tracker.http_url}?{query}", timeout=5) as reply:
        body = reply.read()
    if tracker.proc is not None:  # opentracker reads "+" literally: a different (unlisted) infohash
        assert b"failure reason" in body


def test_opentracker_udp_announce_lists_the_http_announced_peers(netns: bool) -> None:
    tracker = _opentracker([INFOHASH])
    try:
        _announce(tracker, "127.0.3.1", 7001)
        with socket.socket(socket.AF_INET, socket.SOCK_DGRAM) as udp:  # BEP 15 connect, then announce
            udp.bind(("127.0.3.8", 0))
            udp.settimeout(5)
            txid = random.getrandbits(32)
            udp.sendto(struct.pack(">QII", 0x41727101980, 0, txid), (tracker.ip, tracker.port))
            action, got_txid, conn_id = struct.unpack(">IIQ", udp.recv(16))
            assert (action, got_txid) == (0, txid)
            req = struct.pack(
                ">QII20s20sQQQIIIiH",
                conn_id,
                1,
                txid,
                INFOHASH,
                b"-XX0000-udpudpudpudp",
                0,
                1,
                0,
                2,
                0,
                0,
                50,
                7008,
            )
            udp.sendto(req, (tracker.ip, tracker.port))
            reply = udp.recv(2048)
        assert struct.unpack(">II", reply[:8]) == (1, txid)
        peers = {
            (socket.inet_ntoa(reply[i : i + 4]), struct.unpack(">H", reply[i + 4 : i + 6])[0])
            for i in range(20, len(reply), 6)
        }
        assert ("127.0.3.1", 7001) in peers
        assert tracker.udp_url == f"udp://{TRACKER_IP}:{tracker.port}/announce"
    finally:
        tracker.stop()
    assert not tracker.root.exists()
