"""Tracker announces for one (swarm, tracker URL): the loop, its interval policy and the request we send."""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Callable, Iterable
from urllib.parse import urlsplit

from swarmscope.monitor.config import MonitorConfig
from swarmscope.monitor.targets import Target
from swarmscope.net.tracker_client import AnnounceOutcome, TrackerClient
from swarmscope.wire.tracker import AnnounceRequest

log = logging.getLogger("swarmscope.monitor.announce")
Peers = list[tuple[str, int, bytes | None]]


def announce_request(
    config: MonitorConfig, t: Target, event: str | None, tracker_id: bytes | None = None
) -> AnnounceRequest:
    """What we tell a tracker: our listen port, nothing uploaded or downloaded, everything left.

    ``port`` is our TCP listen port, or 0 when we accept no inbound connections: no tracker should hand
    other peers a port where nothing of ours listens (libtorrent announces 0 when it has no listen socket
    that accepts incoming connections: ``session_impl::listen_port``). ``left`` is the torrent size (we
    hold no piece), or a large non-negative value for a magnet whose size is unknown (interop TRK-11).
    ``tracker_id`` is the ``tracker id`` the tracker's last reply gave, sent back as ``trackerid`` (BEP 3;
    libtorrent ``http_tracker_connection::start``, Transmission ``announcer-http.cc`` echo it too).
    """
    return AnnounceRequest(
        infohash=t.wire_infohash,
        peer_id=config.peer_id,
        port=config.listen_port if config.listen else 0,
        left=t.meta.total_size if t.meta else (1 << 62),
        event=event,
        numwant=config.numwant,
        key=int.from_bytes(config.peer_id[-4:], "big"),
        tracker_id=tracker_id,
    )


async def announce_loop(
    client: TrackerClient,
    config: MonitorConfig,
    t: Target,
    url: str,
    on_peers: Callable[[Peers], None],
    on_error: Callable[[str], None],
    on_warning: Callable[[str], None],
) -> None:
    """Announce ``event=started`` and then re-announce at the tracker's interval, until cancelled.

    The interval is the tracker's (``interval``, ``min interval``) clamped to the configured floor and
    ceiling (interop TRK-07); a failure reason still carries the interval to retry after (TRK-06). An
    unexpected error in one announce is logged and counted; the loop goes on. A reply naming more peers
    than the ``numwant`` we asked for (BEP 3) is cut to its first ``numwant``: a tracker that answers with
    50,000 addresses would otherwise fill the probe schedule ahead of every other peer for minutes (and
    have us dial addresses of its choosing), as libtorrent bounds its peer list (``max_peerlist_size``).
    A ``tracker id`` in a reply is echoed in every later announce until a reply gives another (BEP 3).
    """
    event: str | None = "started"
    tracker_id: bytes | None = None
    while True:
        try:
            outcome = await client.announce(url, announce_request(config, t, event, tracker_id))
        except Exception as exc:  # a parser bug must not silently end this tracker's announces
            log.exception("announce to %s failed unexpectedly", url)
            outcome = AnnounceOutcome(url, False, None, f"unexpected error: {exc!r}", 0.0)
        delay = config.announce_floor
        if outcome.ok and outcome.response is not None:
            event = None
            resp = outcome.response
            tracker_id = resp.tracker_id or tracker_id
            if resp.warning_message:
                on_warning(f"{url}: tracker warning: {resp.warning_message}")
            on_peers([(p.endpoint.host, p.endpoint.port, p.peer_id) for p in resp.peers[: config.numwant]])
            delay = max(resp.interval, resp.min_interval or 0, config.announce_floor)
        else:
            on_error(outcome.error or "unknown error")
            if outcome.response is not None:
                delay = max(outcome.response.interval, config.announce_floor)
        await asyncio.sleep(min(delay, config.announce_ceiling))


class Trackers:
    """The monitor's tracker clients: one bound to ``--bind``, one unbound for the other address family.

    Args:
        config: the run's settings (peer id, bind address, tracker timeout).
    """

    def __init__(self, config: MonitorConfig) -> None:
        self.config = config
        self.bound = TrackerClient(config.peer_id, bind_ip=config.bind_ip, timeout=config.tracker_timeout)
        # --bind names one address family; trackers of the other family are reached unbound
        self.unbound = TrackerClient(config.peer_id, bind_ip=None, timeout=config.tracker_timeout)

    def client_for(self, url: str) -> TrackerClient:
        """The client bound to ``--bind`` when the tracker has its address family (IPv6 literal check)."""
        bind = self.config.bind_ip
        if bind is None:
            return self.bound
        host = urlsplit(url).hostname or ""
        return self.bound if (":" in host) == (":" in bind) else self.unbound

    async def stopped(self, targets: Iterable[Target]) -> None:
        """Announce ``event=stopped`` to every tracker of every target (failures ignored)."""
        calls = [
            self.client_for(url).announce(url, announce_request(self.config, t, "stopped"))
            for t in targets
            for url in t.trackers
        ]
        await asyncio.gather(*calls, return_exceptions=True)

    async def aclose(self) -> None:
        """Close both clients."""
        await self.bound.aclose()
        await self.unbound.aclose()
