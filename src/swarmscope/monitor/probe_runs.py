"""The pure probe of one peer as the monitor starts it, and the leads its PEX messages give.

:func:`new_probe_run` builds a :class:`~swarmscope.evidence.probe.run.ProbeRun` with every input that
decides a field of its Observation (source, inbound, the BEP 10 listen-port rule), so the run emits the
finished record; :func:`pex_leads` turns the peer's ut_pex lists (BEP 11) into discovery leads.
"""

from __future__ import annotations

import zlib
from collections.abc import Callable
from dataclasses import replace

from swarmscope import __version__
from swarmscope.evidence.probe.policy import ProbePolicy
from swarmscope.evidence.probe.run import ProbeRun
from swarmscope.evidence.records import BlockProof
from swarmscope.monitor.config import MonitorConfig
from swarmscope.monitor.targets import Target
from swarmscope.wire import extension

CLIENT_VERSION = f"swarmscope/{__version__}"
PEX_ID = 1  # our local BEP 10 message id for ut_pex (the peer sends its lists under this id)
MAX_PEX_PEERS = 50  # leads taken from one probe's ut_pex lists (libtorrent settings_pack::max_pex_peers)


def our_extension_handshake(config: MonitorConfig) -> bytes:
    """Our BEP 10 handshake: we offer ut_pex (to read lists), never ut_metadata; ``p`` is our TCP listen
    port when we listen, ``v`` our client name and version."""
    return extension.encode_handshake(
        {"ut_pex": PEX_ID} if config.pex else {},
        v=CLIENT_VERSION.encode(),
        p=config.listen_port if config.listen else None,
        reqq=None,
        yourip=None,
        metadata_size=None,
    )


def new_probe_run(
    target: Target,
    config: MonitorConfig,
    peer: tuple[str, int],
    now_us: int,
    *,
    source: str,
    first: bool,
    extension_handshake: bytes,
    candidates: Callable[[int], tuple[BlockProof, ...]],
    inbound: bool = False,
) -> ProbeRun | None:
    """A fresh pure probe of ``peer`` (ip, port) in ``target``'s swarm, started at ``now_us`` (UTC µs);
    None for a magnet whose metadata is not known yet. ``first``: the peer's first probe, the one that
    lingers for PEX; ``candidates(seed)``: the block proofs to offer it."""
    pieces = target.pieces
    if pieces is None:
        return None
    ip, port = peer
    policy = config.probe
    if config.pex and first:  # collect PEX once per peer; later probes do not linger
        policy = _lingering(policy, config.pex_wait)
    seed = zlib.crc32(f"{ip}:{port}".encode())
    return ProbeRun(
        swarm=target.swarm,
        wire_infohash=target.wire_infohash,
        peer_id=config.peer_id,
        pieces=pieces,
        ip=ip,
        port=port,
        source=source,
        started_us=now_us,
        policy=policy,
        piece_seed=seed,
        extension_handshake=extension_handshake,
        inbound=inbound,
        record_listen_port=inbound,  # re-probes dial the BEP 10 listen port, never the source port
        pex_id=PEX_ID if config.pex else 0,
        block_candidates=candidates(seed),
    )


# (probe policy, pex_wait, that policy lingering for PEX): the last one made, reused while the run's
# policy object and wait stay the same (one per run instead of one per peer's first probe).
_LINGERING: list[tuple[ProbePolicy, float, ProbePolicy]] = []


def _lingering(policy: ProbePolicy, pex_wait: float) -> ProbePolicy:
    """``policy`` with ``pex_wait`` (a frozen value: the same object serves every first probe)."""
    for known, wait, made in _LINGERING:
        if known is policy and wait == pex_wait and type(wait) is type(pex_wait):
            return made
    made = replace(policy, pex_wait=pex_wait)
    _LINGERING[:] = [(policy, pex_wait, made)]
    return made


def pex_leads(run: ProbeRun) -> list[tuple[str, int, None]]:
    """Peers named in the peer's ut_pex messages, as discovery leads (BEP 11; never evidence): at most
    :data:`MAX_PEX_PEERS` distinct ones (libtorrent ``ut_pex.cpp`` ``on_extended``), so one peer cannot
    make us dial thousands of addresses of its choosing."""
    named = dict.fromkeys((e.host, e.port, None) for m in run.pex for e in (*m.added, *m.added6))
    return list(named)[:MAX_PEX_PEERS]
