"""The case board orders DOE numbers as numbers: the millionth case (``DOE-1000000``, seven digits) comes
after ``DOE-999999``, on the whole board, a column's pages (keyset cursor) and a request's case list."""

from __future__ import annotations

import sqlalchemy as sa

from swarmscope.store.access import scoping
from swarmscope.store.legal.schema import legal_case
from tests.web.letter_console import Console

HTML = {"accept": "text/html"}


def _renumber(console: Console, numbers: list[str]) -> list[str]:
    """Give the world's cases the DOE numbers ``numbers`` (in the world's order); returns them."""
    with console.world.store.engine.begin() as conn:
        for old, new in zip(console.world.dois, numbers, strict=True):
            conn.execute(sa.update(legal_case).where(legal_case.c.doe == old).values(doe=new))
    return numbers


async def test_the_board_orders_doe_numbers_numerically(console: Console) -> None:
    big, small, middle = _renumber(console, ["DOE-1000000", "DOE-999999", "DOE-1000001"])
    numeric = [small, big, middle]
    viewer = console["viewer"]
    board = (await viewer.get("/api/cases")).json()
    (disclosed,) = [c for c in board if c["column"] == "disclosed"]
    assert [c["doe"] for c in disclosed["cases"]] == numeric
    seen, cursor = [], None
    while True:  # one case a page: the keyset cursor follows the same order
        params = {"status": "disclosed", "limit": 1, **({"cursor": cursor} if cursor else {})}
        (column,) = (await viewer.get("/api/cases", params=params)).json()
        seen += [c["doe"] for c in column["cases"]]
        cursor = column["next_cursor"]
        if not cursor:
            break
    assert seen == numeric
    padded = await viewer.get("/api/cases", params={"status": "disclosed", "cursor": "DOE-0000999999"})
    assert [c["doe"] for c in padded.json()[0]["cases"]] == [big, middle]
    page = (await viewer.get("/cases", headers=HTML)).text
    assert page.index(small) < page.index(big) < page.index(middle)
    listed = [c.doe for c in scoping.cases(console.world.store, None)]
    assert listed == numeric
