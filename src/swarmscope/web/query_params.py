"""One value per query parameter: a repeated one is refused, not silently cut to its last value.

FastAPI binds a scalar query parameter to the last of its repeated values (Starlette's
``QueryParams[key]`` is the last one), so ``/api/cases?status=requested&status=sent`` would show the
``sent`` column alone and say nothing about the other. No console route takes a list in its query string
(the research page's swarm list is a form field), so a key given more than once is refused before the
route runs: 422 with one line naming it (``status: given 2 times; give it once``), an HTML error page
for a browser and ``{"detail": ...}`` for ``/api/`` (:mod:`swarmscope.web.app`). A route that one day
takes a repeated parameter must say so here (``LIST_PARAMETERS``).

A filter whose values form a closed set (a case or request status) is checked against it
(:func:`one_of`): an unknown value is 400 naming the allowed ones, not an empty list that reads as
"nothing in that state".
"""

from __future__ import annotations

from collections import Counter
from collections.abc import Iterable

from fastapi import HTTPException, Request

LIST_PARAMETERS: frozenset[str] = frozenset()  # query keys a route reads as a list (none today)
SHOWN = 40  # characters of a key named in the refusal


def single_values(request: Request) -> None:
    """Refuse (422) a request whose query string gives a parameter more than once.

    Raises:
        HTTPException: 422 naming the first repeated key (in the order the query string gives them).
    """
    counts = Counter(key for key, _ in request.query_params.multi_items())
    for key, times in counts.items():
        if times > 1 and key not in LIST_PARAMETERS:
            name = key if len(key) <= SHOWN and key.isprintable() else repr(key[:SHOWN])
            raise HTTPException(422, f"{name}: given {times} times; give it once")


def one_of(name: str, value: str | None, allowed: Iterable[str]) -> None:
    """Refuse (400) a filter ``value`` not in ``allowed``; None or ``""`` is no filter and passes.

    Raises:
        HTTPException: 400, ``<name> '<value>': not one of <allowed, in order>`` (as the case board).
    """
    choices = list(allowed)
    if value and value not in choices:
        raise HTTPException(400, f"{name} {value[:SHOWN]!r}: not one of {', '.join(choices)}")
