"""A peer's page: the evidence trail of one address of one swarm, a page at a time, and its wire captures.

The trail is shown newest first, at most ``limit`` (default 50) observations and sightings a page, with a
keyset ``cursor`` to the older ones: only the page shown is proven, so a peer watched for days (thousands
of observations) costs what a new one does; the header's best proven tier is proven apart without
proving the whole trail. Each observation and sighting is proven as ``report`` proves it
(:mod:`swarmscope.store.console.trail`):
only rows proven under a trusted node key (:mod:`swarmscope.web.evidence_trust`) are shown as evidence,
each with its interval (UTC µs), payload bytes, pieces, client, encryption, failure, its sealed batch,
RFC 3161 time-stamp tokens (each verified against its batch: the TSA's genTime, or why it fails; each
downloadable as ``.p7m``, CMS) and clock verdict, and its wire capture to download; every other row is
listed apart as not evidence with its state and reason. The address's latest sealed attribution and the cases
that accuse it close the page. A capture is found only through a peer of a swarm the user may see; the
download needs the analyst role (the bytes the peer sent us).
"""

from __future__ import annotations

from collections import Counter
from typing import Annotated, Any

from fastapi import APIRouter, Depends, HTTPException, Path, Query, Request
from fastapi.responses import HTMLResponse, Response

from swarmscope.errors import InputError
from swarmscope.evidence.records import BlockProof, Observation, Sighting
from swarmscope.store.console.peers import PeerRow, peer_row
from swarmscope.store.console.stamps import stamp_of_peer
from swarmscope.store.console.trail import (
    PeerTrail,
    TrailObservation,
    TrailSighting,
    capture_of_peer,
    peer_trail,
)
from swarmscope.store.database import Store
from swarmscope.store.metadata import MAX_ROW_ID
from swarmscope.web.accounts import WebUser
from swarmscope.web.deps import StoreDep, UserDep, require
from swarmscope.web.evidence_trust import request_trust
from swarmscope.web.monitoring import swarm_id
from swarmscope.web.roles import Role
from swarmscope.web.scope import visible_work_ids
from swarmscope.web.templating import page

router = APIRouter()
VIEWER = [Depends(require(Role.VIEWER))]
ANALYST = [Depends(require(Role.ANALYST))]


PORT = Path(ge=0, le=65535)
Port = Annotated[int, PORT]
Cursor = Annotated[str | None, Query(max_length=80)]
Limit = Annotated[int, Query(ge=1, le=500)]


def _trail(
    request: Request, store: Store, user: WebUser, where: tuple[str, str, int], cursor: str | None, limit: int
) -> tuple[PeerTrail, PeerRow | None]:
    """A page of the trail and the peer's folded row; 404 when the swarm is not visible or nothing names
    the peer, 400 on a malformed cursor."""
    infohash, ip, port = where
    swarm = swarm_id(store, user, infohash)
    trust, kept = request_trust(request)
    works = visible_work_ids(store, user)  # another client's case on a shared torrent stays unnamed
    try:
        trail = peer_trail(
            store, trust, swarm, ip, port, kept=kept, work_ids=works, cursor=cursor or None, limit=limit
        )
    except InputError as exc:
        raise HTTPException(400, str(exc)) from None
    row = peer_row(store, swarm, ip, port)
    if row is None and not (trail.observations or trail.sightings or trail.not_evidence):
        raise HTTPException(404, "no such peer")
    return trail, row


def _observation(o: Observation) -> dict[str, Any]:
    return {
        "started_us": o.started_us, "ended_us": o.ended_us, "source": o.source, "tier": o.tier.label,
        "failure": o.failure, "failure_detail": o.failure_detail, "client": o.client,
        "client_version": o.client_version, "peer_id": None if o.peer_id is None else o.peer_id.hex(),
        "encrypted": o.encrypted, "bytes_received": o.bytes_received, "wire_bytes_in": o.wire_bytes_in,
        "num_pieces": o.num_pieces, "pieces_have": o.pieces_have, "completion": o.completion,
        "verified_pieces": list(o.verified_pieces), "failed_pieces": list(o.failed_pieces),
        "verified_blocks": len(o.verified_blocks), "failed_blocks": len(o.failed_blocks),
        "failed_blocks_by_piece": _by_piece(o.failed_blocks), "quirks": list(o.quirks),
        "source_port": o.source_port,  # inbound: the TCP source port seen; the page's port may be a claim
    }  # fmt: skip


def _by_piece(proofs: tuple[BlockProof, ...]) -> list[dict[str, int]]:
    """Block proofs counted by piece, in piece order: ``[{"piece": 21, "blocks": 2}, ...]`` (BEP 52 blocks
    of a v2/hybrid peer that failed their hash: the pieces they came from)."""
    return [{"piece": piece, "blocks": n} for piece, n in sorted(Counter(p.piece for p in proofs).items())]


def _sighting(s: Sighting) -> dict[str, Any]:
    return {"seen_at_us": s.seen_at_us, "source": s.source, "detail": s.detail}


def _row(item: TrailObservation | TrailSighting) -> dict[str, Any]:
    out: dict[str, Any] = {"row_id": item.row_id, "state": item.state, "reason": item.reason}
    if isinstance(item, TrailSighting):
        return {**out, "kind": "sighting", **_sighting(item.record)}
    batch = None if item.batch is None else {
        "id": item.batch.id, "sealed_at_us": item.batch.sealed_at_us, "recovered": item.batch.recovered,
        "timestamps": [
            {"id": t.id, "tsa_url": t.tsa_url, "added_us": t.added_us, "verified": t.gen_time_us is not None,
             "gen_time_us": t.gen_time_us, "problem": t.problem}
            for t in item.batch.timestamps
        ],
    }  # fmt: skip
    return {**out, "kind": "observation", **_observation(item.record), "batch": batch, "clock": item.clock,
            "capture_sha256": item.capture_sha256}  # fmt: skip


@router.get("/api/peers/{infohash}/{ip}/{port}", dependencies=VIEWER)
def api_peer(
    request: Request,
    infohash: str,
    ip: str,
    port: Port,
    store: StoreDep,
    user: UserDep,
    cursor: Cursor = None,
    limit: Limit = 50,
) -> dict[str, Any]:
    """A page of a peer's evidence trail, newest first: ``proven_tier`` (the best tier of the peer's
    proven evidence, whatever the page; the folded summary counts sealed records without proving them,
    so an altered record may raise it), ``summary`` (the live counts' folded row: sealed records, not
    proven), ``evidence`` (proven observations and sightings of the page), ``not_evidence`` (the page's
    other rows, with state and reason), ``next_cursor`` (pass back as ``cursor``; None on the last page),
    the latest sealed ``attribution`` and the reader's client's ``cases``."""
    trail, row = _trail(request, store, user, (infohash, ip, port), cursor, limit)
    place = trail.attribution
    return {
        "infohash": trail.infohash, "ip": trail.ip, "port": trail.port,
        "proven_tier": trail.proven_tier, "next_cursor": trail.next_cursor,
        "summary": None if row is None else {k: getattr(row, k) for k in row.__dataclass_fields__},
        "evidence": [_row(o) for o in trail.observations] + [_row(s) for s in trail.sightings],
        "not_evidence": [_row(r) for r in trail.not_evidence],
        "attribution": None if place is None else {
            "observed_at_us": place.observed_at_us, "asn": place.asn, "as_org": place.as_org,
            "isp": place.isp, "country": place.country, "region": place.region, "city": place.city,
            "flags": list(place.flags),
        },
        "cases": [{"id": c.id, "doe": c.doe, "status": c.status} for c in trail.cases],
    }  # fmt: skip


@router.get("/peers/{infohash}/{ip}/{port}", response_class=HTMLResponse, dependencies=VIEWER)
def peer_page(
    request: Request,
    infohash: str,
    ip: str,
    port: Port,
    store: StoreDep,
    user: UserDep,
    cursor: Cursor = None,
    limit: Limit = 50,
) -> HTMLResponse:
    """A page of a peer's evidence trail (module docstring)."""
    trail, row = _trail(request, store, user, (infohash, ip, port), cursor, limit)
    trusted = request_trust(request)[0] is not None
    return page(
        request,
        "peer.html.j2",
        trail=trail,
        peer=row,
        proven_tier=trail.proven_tier,
        first_page=cursor is None,
        trusted=trusted,
        can_download=user.role >= Role.ANALYST,
    )


@router.get("/peers/{infohash}/{ip}/{port}/captures/{sha256}", dependencies=ANALYST)
def capture_download(
    infohash: str, ip: str, port: Port, sha256: str, store: StoreDep, user: UserDep
) -> Response:
    """The wire capture ``sha256`` (hex) of one of this peer's probes, as a file (``swarmscope verify``
    replays it with an export bundle)."""
    data = capture_of_peer(store, swarm_id(store, user, infohash), ip, port, sha256)
    if data is None:
        raise HTTPException(404, "no such capture")
    name = f"capture-{sha256.lower()[:16]}.bin"
    headers = {"Content-Disposition": f'attachment; filename="{name}"'}
    return Response(data, media_type="application/octet-stream", headers=headers)


@router.get("/peers/{infohash}/{ip}/{port}/timestamps/{stamp_id}.p7m", dependencies=VIEWER)
def timestamp_download(
    infohash: str,
    ip: str,
    port: Port,
    stamp_id: Annotated[int, Path(ge=1, le=MAX_ROW_ID)],
    store: StoreDep,
    user: UserDep,
) -> Response:
    """RFC 3161 time-stamp token ``stamp_id`` of a batch sealing one of this peer's observations: the
    stored TimeStampToken DER byte for byte. A TimeStampToken is a CMS ContentInfo holding SignedData
    (RFC 3161 2.4.2), not a TimeStampResp, so it is served as CMS, ``application/pkcs7-mime`` (RFC 8551
    3.2), named ``.p7m``; ``application/timestamp-reply`` (RFC 3161 3.4) would announce a TimeStampResp.
    ``openssl ts -reply -in F -token_in -text`` or ``openssl cms -cmsout -print -inform DER -in F``
    prints it."""
    data = stamp_of_peer(store, swarm_id(store, user, infohash), ip, port, stamp_id)
    if data is None:
        raise HTTPException(404, "no such time-stamp token")
    headers = {"Content-Disposition": f'attachment; filename="timestamp-token-{stamp_id}.p7m"'}
    return Response(data, media_type="application/pkcs7-mime", headers=headers)
