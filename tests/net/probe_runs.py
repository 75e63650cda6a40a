"""A fresh ProbeRun against a torrent served on loopback (shared by the real-client net tests)."""

from __future__ import annotations

from typing import Any

from swarmscope.evidence.probe.pieces import MetainfoPieces
from swarmscope.evidence.probe.policy import ProbePolicy
from swarmscope.evidence.probe.run import ProbeRun
from swarmscope.net.clock import Clock
from swarmscope.wire.metainfo import Metainfo

# Short waits for loopback peers; a generous handshake timeout for slow CI.
TEST_POLICY = ProbePolicy(claims_wait=1.0, unchoke_timeout=5.0, handshake_timeout=10.0)


def probe_run(
    meta: Metainfo,
    ip: str,
    port: int,
    *,
    peer_id: bytes,
    source: str = "manual",
    policy: ProbePolicy | None = None,
    **extra: Any,
) -> ProbeRun:
    """A ProbeRun for ``meta`` at ip:port started now (``extra``: further ProbeRun keyword arguments)."""
    return ProbeRun(
        swarm=meta.swarm_id.hex,
        wire_infohash=meta.wire_infohash,
        peer_id=peer_id,
        pieces=MetainfoPieces(meta),
        ip=ip,
        port=port,
        source=source,
        started_us=Clock().now_us(),
        policy=policy or TEST_POLICY,
        **extra,
    )
