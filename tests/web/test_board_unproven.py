"""The console's board and case page read the same case rows as ``cases list``/``show``: a row edited
without the node key is marked not proven there too (a badge on the board, the reason on the case page,
``proven: false`` and ``unproven`` in the API), while the honest cases read as proven (README "Only proven
evidence"). The letters world behind a keyed console (tests/web/letter_console.py), SQLite.
"""

from __future__ import annotations

import sqlite3

from tests.tampering import tamper_file
from tests.web.letter_console import Console

HTML = {"accept": "text/html"}


async def test_a_case_row_edited_without_the_key_is_marked_on_the_board_and_its_page(
    console: Console,
) -> None:
    edited, *honest = console.world.dois
    tamper_file(console.world.db, f"UPDATE legal_case SET hits = hits + 5 WHERE doe = '{edited}'")
    viewer = console["viewer"]
    board = (await viewer.get("/api/cases")).json()
    shown = {c["doe"]: c for column in board for c in column["cases"]}
    assert shown[edited]["proven"] is False and "not the" in shown[edited]["unproven"], shown[edited]
    assert all(shown[d]["proven"] is True and shown[d]["unproven"] is None for d in honest)
    case = (await viewer.get(f"/api/cases/{edited}")).json()["case"]
    assert case["proven"] is False and case["unproven"] == shown[edited]["unproven"]
    assert (await viewer.get(f"/api/cases/{honest[0]}")).json()["case"]["proven"] is True
    page = (await viewer.get("/cases", headers=HTML)).text
    assert page.count("UNPROVEN") == 1
    assert "UNPROVEN</strong>: " in (await viewer.get(f"/cases/{edited}", headers=HTML)).text
    assert "proven by the sealed ledger" in (await viewer.get(f"/cases/{honest[0]}", headers=HTML)).text


async def test_a_case_given_another_cases_address_is_unproven_on_its_page(console: Console) -> None:
    """DOE-000001 given DOE-000002's address, port, interval and hits (whose own row is nudged off the
    unique key): the hits are proven, but they are not the identity sealed when DOE-000001 was built."""
    a, b, *_ = console.world.dois
    with sqlite3.connect(console.world.db) as conn:
        ip, port, first, last, hits = conn.execute(
            "SELECT ip, port, first_hit_us, last_hit_us, hits FROM legal_case WHERE doe = ?", (b,)
        ).fetchone()
    conn.close()
    tamper_file(
        console.world.db,
        f"UPDATE legal_case SET first_hit_us = first_hit_us + 1 WHERE doe = '{b}'",
        f"UPDATE legal_case SET ip = '{ip}', port = {port}, first_hit_us = {first}, last_hit_us = {last},"
        f" hits = {hits} WHERE doe = '{a}'",
    )
    viewer = console["viewer"]
    case = (await viewer.get(f"/api/cases/{a}")).json()["case"]
    assert case["proven"] is False and case["unproven"].startswith("case identity altered"), case
    page = (await viewer.get(f"/cases/{a}", headers=HTML)).text
    assert "UNPROVEN</strong>: " in page and "case identity altered" in page
    assert "proven by the sealed ledger" not in page
