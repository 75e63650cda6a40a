"""Client scoping: a user bound to a rights holder sees only that client's works, swarms, cases, letters.

Filtering happens in the store's queries (:mod:`swarmscope.store.access.scoping`), never by reading
everything and dropping rows afterwards. An object outside the user's scope answers 404, exactly like one
that does not exist, so a client cannot even learn that another client's case number exists.
"""

from __future__ import annotations

from fastapi import HTTPException

from swarmscope.store.access import scoping
from swarmscope.store.database import Store
from swarmscope.web.accounts import WebUser


def client_filter(user: WebUser) -> int | None:
    """The client id the user's queries are limited to (None: every client)."""
    return user.client_id


def visible_work_ids(store: Store, user: WebUser) -> set[int] | None:
    """Ids of the works the user may see; None when unrestricted."""
    cid = client_filter(user)
    return None if cid is None else scoping.work_ids(store, cid)


def visible_infohashes(store: Store, user: WebUser) -> set[str] | None:
    """Infohashes (hex) of the swarms linked to the user's works; None when unrestricted."""
    cid = client_filter(user)
    return None if cid is None else scoping.infohashes(store, cid)


def check_case(store: Store, user: WebUser, case_id: int) -> None:
    """Raise 404 unless the case exists and is in the user's scope."""
    if not scoping.case_visible(store, case_id, client_filter(user)):
        raise HTTPException(404, "no such case")


def check_infohash(store: Store, user: WebUser, infohash: str) -> None:
    """Raise 404 unless the swarm is in the user's scope (it may still be unknown to the store)."""
    cid = client_filter(user)
    if cid is not None and infohash.lower() not in scoping.infohashes(store, cid):
        raise HTTPException(404, "no such swarm")


def check_letter(store: Store, user: WebUser, letter_id: int) -> int:
    """The letter's case id; 404 unless the letter exists and its case is in the user's scope."""
    case_id = scoping.letter_case(store, letter_id)
    if case_id is None:
        raise HTTPException(404, "no such letter")
    check_case(store, user, case_id)
    return case_id
