"""Live monitoring: every swarm's numbers, one swarm's page with its peers and its size over time.

Pages refresh themselves by htmx polling of HTML fragments (``/swarms/live`` every 2 s, a swarm's numbers
every 2 s and its first page of peers every 5 s): no full-page reload, no inline script (the CSP). Each
polled fragment carries the digest of what it shows (its time left out,
:func:`~swarmscope.web.templating.fragment_digest`): static/app.js swaps in only an answer that changed,
holds the polls while focus or a selection is inside a table, and offers a "Pause live updates" toggle
(WCAG 2.2.2 Pause, Stop, Hide; 2.4.3 Focus Order). Each
page's data is JSON under ``/api/`` with the same dependencies. Everything comes from the store's read
models (:mod:`swarmscope.store.console`): counts of SEALED rows, rows outside every sealed batch counted
apart as not evidence. A user bound to a rights holder sees only the swarms linked to its works; any other
swarm answers 404, as an unknown one does (:mod:`swarmscope.web.scope`).
"""

from __future__ import annotations

import dataclasses
import re
from typing import Annotated, Any
from urllib.parse import urlencode

from fastapi import APIRouter, Depends, HTTPException, Request
from fastapi.responses import HTMLResponse, Response

from swarmscope.errors import InputError
from swarmscope.evidence.records import Tier
from swarmscope.net.clock import Clock
from swarmscope.store.console.fold import unfolded_batches
from swarmscope.store.console.overview import MinutePoint, SwarmOverview, swarm_overview, swarm_series
from swarmscope.store.console.peers import SORTS, PeerFilter, PeerPage, peer_page
from swarmscope.store.console.schema import SOURCE_BITS
from swarmscope.store.database import Store
from swarmscope.store.ledger.queries import resolve_infohash
from swarmscope.web.accounts import WebUser
from swarmscope.web.deps import StoreDep, UserDep, require
from swarmscope.web.plots import size_svg
from swarmscope.web.roles import Role
from swarmscope.web.scope import visible_infohashes
from swarmscope.web.templating import fragment_digest, page

router = APIRouter()
VIEWER = [Depends(require(Role.VIEWER))]
SERIES_US = 24 * 3600 * 1_000_000  # the plot and the API: the day before the swarm's last sighting (UTC µs)
SWARMS_LIVE, SWARM_LIVE, PEERS = "swarms_live.html.j2", "swarm_live.html.j2", "swarm_peers.html.j2"  # polled
_HEX = re.compile(r"[0-9a-fA-F]{40}|[0-9a-fA-F]{64}")


def swarm_id(store: Store, user: WebUser, infohash: str) -> str:
    """The stored swarm id of ``infohash`` (its id, v1 or v2 hex); 404 when malformed, unknown or outside
    the user's scope (the same answer for all three)."""
    found = resolve_infohash(store, infohash) if _HEX.fullmatch(infohash) else None
    visible = visible_infohashes(store, user)
    if found is None or (visible is not None and found not in visible):
        raise HTTPException(404, "no such swarm")
    return found


def _overview(store: Store, user: WebUser, swarm: str | None = None) -> list[SwarmOverview]:
    visible = visible_infohashes(store, user)
    if swarm is not None:
        visible = {swarm}
    return swarm_overview(store, visible)


def _series(store: Store, view: SwarmOverview) -> list[MinutePoint]:
    """The swarm's minutes over the day before its last sighting (or before now when it has none)."""
    end = view.last_seen_us if view.last_seen_us is not None else Clock().now_us()
    return swarm_series(store, view.infohash, since_us=end - SERIES_US)


def _live(store: Store, **context: Any) -> dict[str, Any]:
    """``context`` with what every live fragment shows: the time and the sealed batches not folded into
    the read models yet (the background folder's lag; these numbers leave them out)."""
    return {**context, "now_us": Clock().now_us(), "unfolded": unfolded_batches(store)}


@dataclasses.dataclass(frozen=True)
class PeerQuery:
    """The peer list's query parameters (all optional): filters, sort key, order, cursor, page size."""

    tier: str | None = None
    source: str | None = None
    client: str | None = None
    isp: str | None = None
    country: str | None = None
    sort: str = "last_seen"
    order: str = "desc"
    cursor: str | None = None
    limit: int = 50

    def filter(self) -> PeerFilter:
        """The store's filter; 400 on an order other than asc/desc (the store refuses the rest)."""
        if self.order not in ("asc", "desc"):
            raise HTTPException(400, f"order {self.order!r}: not one of asc, desc")
        blank = {k: (v or None) for k, v in dataclasses.asdict(self).items()}
        return PeerFilter(blank["tier"], blank["source"], blank["client"], blank["isp"], blank["country"],
                          self.sort, self.order == "desc")  # fmt: skip

    def query(self, **change: Any) -> str:
        """This query as a URL query string, with ``change`` applied (empty values left out; ``limit``
        kept, so the next page and the refresh show as many rows as the reader asked for)."""
        values = {**dataclasses.asdict(self), **change}
        return urlencode({k: v for k, v in values.items() if v not in (None, "")})


PeerQueryDep = Annotated[PeerQuery, Depends()]


def _peers(store: Store, swarm: str, q: PeerQuery) -> PeerPage:
    try:
        return peer_page(store, swarm, q.filter(), cursor=q.cursor or None, limit=q.limit)
    except InputError as exc:
        raise HTTPException(400, str(exc)) from None


@router.get("/api/swarms", dependencies=VIEWER)
def api_swarms(store: StoreDep, user: UserDep) -> list[dict[str, Any]]:
    """Every visible swarm's live numbers: peers by tier and source, verified last minute, hash failures,
    payload bytes in, top clients, records that are not evidence."""
    return [dataclasses.asdict(view) for view in _overview(store, user)]


def _digested(user: WebUser, context: dict[str, Any], **fragments: str) -> dict[str, Any]:
    """``context`` with the digest of each live fragment it shows (``fragments``: context name ->
    template), :func:`swarmscope.web.templating.fragment_digest`."""
    shown = {**context, "user": user}
    return {**context, **{key: fragment_digest(name, shown) for key, name in fragments.items()}}


@router.get("/swarms", response_class=HTMLResponse, dependencies=VIEWER)
def swarms_page(request: Request, store: StoreDep, user: UserDep) -> HTMLResponse:
    """The live overview of every visible swarm."""
    context = _live(store, swarms=_overview(store, user))
    return page(request, "swarms.html.j2", **_digested(user, context, digest=SWARMS_LIVE))


@router.get("/swarms/live", response_class=HTMLResponse, dependencies=VIEWER)
def swarms_live(request: Request, store: StoreDep, user: UserDep) -> HTMLResponse:
    """The overview's table alone (the fragment the page polls)."""
    context = _live(store, swarms=_overview(store, user))
    return page(request, SWARMS_LIVE, **_digested(user, context, digest=SWARMS_LIVE))


@router.get("/api/swarms/{infohash}", dependencies=VIEWER)
def api_swarm(infohash: str, store: StoreDep, user: UserDep) -> dict[str, Any]:
    """One swarm's live numbers and its size per UTC minute over the last day (``series``)."""
    swarm = swarm_id(store, user, infohash)
    view = _overview(store, user, swarm)[0]
    series = [dataclasses.asdict(p) for p in _series(store, view)]
    return {**dataclasses.asdict(view), "series": series, "unfolded_batches": unfolded_batches(store)}


@router.get("/api/swarms/{infohash}/peers", dependencies=VIEWER)
def api_peers(infohash: str, q: PeerQueryDep, store: StoreDep, user: UserDep) -> dict[str, Any]:
    """A page of the swarm's peers (keyset pagination: pass ``next_cursor`` back as ``cursor``). Filters:
    ``tier``, ``source``, ``client``, ``isp``, ``country``; ``sort`` (last_seen, first_seen, bytes,
    observations, tier) and ``order`` (asc, desc); ``limit`` 1..500."""
    found = _peers(store, swarm_id(store, user, infohash), q)
    return {"peers": [dataclasses.asdict(p) for p in found.peers], "next_cursor": found.next_cursor}


def _swarm_context(store: Store, user: WebUser, infohash: str, q: PeerQuery) -> dict[str, Any]:
    swarm = swarm_id(store, user, infohash)
    found = _peers(store, swarm, q)
    return {
        "swarm": _overview(store, user, swarm)[0],
        "peers": found.peers,
        "next_query": None if found.next_cursor is None else q.query(cursor=found.next_cursor),
        "poll_query": q.query(),
        "first_query": q.query(cursor=None),
        "q": q,
        "tiers": [t.label for t in Tier],
        "sources": list(SOURCE_BITS),
        "sorts": list(SORTS),
        **_live(store),
    }


@router.get("/swarms/{infohash}", response_class=HTMLResponse, dependencies=VIEWER)
def swarm_page(
    request: Request, infohash: str, q: PeerQueryDep, store: StoreDep, user: UserDep
) -> HTMLResponse:
    """One swarm: its live numbers, its size over time and its peers (filter, sort, pages)."""
    context = _swarm_context(store, user, infohash, q)
    return page(
        request, "swarm.html.j2", **_digested(user, context, digest_live=SWARM_LIVE, digest_peers=PEERS)
    )


@router.get("/swarms/{infohash}/live", response_class=HTMLResponse, dependencies=VIEWER)
def swarm_live(request: Request, infohash: str, store: StoreDep, user: UserDep) -> HTMLResponse:
    """The swarm's numbers and plot alone (the fragment the page polls)."""
    swarm = swarm_id(store, user, infohash)
    context = _live(store, swarm=_overview(store, user, swarm)[0])
    return page(request, SWARM_LIVE, **_digested(user, context, digest=SWARM_LIVE))


@router.get("/swarms/{infohash}/peers", response_class=HTMLResponse, dependencies=VIEWER)
def swarm_peers(
    request: Request, infohash: str, q: PeerQueryDep, store: StoreDep, user: UserDep
) -> HTMLResponse:
    """The swarm's peer table alone (the fragment the first page polls)."""
    context = _swarm_context(store, user, infohash, q)
    return page(request, PEERS, **_digested(user, context, digest=PEERS))


@router.get("/swarms/{infohash}/size.svg", dependencies=VIEWER)
def swarm_size_svg(infohash: str, store: StoreDep, user: UserDep) -> Response:
    """The swarm's peers and verified peers per UTC minute over the last day, as an SVG image."""
    view = _overview(store, user, swarm_id(store, user, infohash))[0]
    return Response(size_svg(_series(store, view)), media_type="image/svg+xml")
