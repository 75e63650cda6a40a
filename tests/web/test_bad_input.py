"""NUL and other control characters, and row ids beyond what PostgreSQL's ``int4`` id columns hold: one
line 400 before any route, on SQLite and on PostgreSQL alike (:mod:`tests.web.bad_input`), and the CLI's
case lookup answers "not found" in one line."""

from __future__ import annotations

import os
from pathlib import Path

import pytest
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey
from typer.testing import CliRunner

from swarmscope.cases.directory import add_work
from swarmscope.cases.payments import record_payment
from swarmscope.cli import register_commands
from swarmscope.cli.app import app as cli_app
from swarmscope.errors import InputError
from swarmscope.store.database import Store, open_store
from swarmscope.store.legal import case_status
from swarmscope.store.legal import cases as legal_cases
from swarmscope.store.legal.case_rows import CaseStoreError
from swarmscope.web.app import create_app
from swarmscope.web.input_guard import MAX_BODY_BYTES, refusal
from swarmscope.web.roles import Role
from swarmscope.web.settings import WebSettings
from tests.pg_server import drop_schema
from tests.web.bad_input import ABOVE_INT4, Sessions, check_every_bad_input
from tests.web.conftest import ACME, GLOBEX, NOW, WebWorld, asgi_client, quick_user
from tests.web.monitoring_world import build, fill

PG_URL = os.environ.get("SWARMSCOPE_TEST_PG_URL")
ON_PG = pytest.mark.skipif(not PG_URL, reason="set SWARMSCOPE_TEST_PG_URL to test on PostgreSQL")
KEY = Ed25519PrivateKey.generate()


async def test_bad_input_is_one_line_400_on_sqlite(web: WebWorld) -> None:
    build(web.path, web.work_id(ACME), web.work_id(GLOBEX), NOW)
    await check_every_bad_input(Sessions(web.client("viewer"), web.client("analyst"), web.anonymous()))


@ON_PG
async def test_bad_input_is_one_line_400_on_postgresql(pg_store: Store) -> None:
    works = {c: add_work(pg_store, c, f"{c} feature", None, None, None, NOW) for c in (ACME, GLOBEX)}
    fill(pg_store, works[ACME], works[GLOBEX], NOW)
    app = create_app(WebSettings(db=str(PG_URL)), store=pg_store)
    clients = [asgi_client(app, *quick_user(pg_store, n, r, None)) for n, r in
               (("pgv", Role.VIEWER), ("pga", Role.ANALYST))]  # fmt: skip
    clients.append(asgi_client(app))
    try:
        await check_every_bad_input(Sessions(*clients))
    finally:
        for client in clients:
            await client.aclose()


def lookups_beyond_int4(store: Store) -> None:
    for lookup in (case_status.get_case, legal_cases.get_work, legal_cases.get_isp):
        with pytest.raises(CaseStoreError, match=r"not found|not in the directory"):
            lookup(store, ABOVE_INT4)


@ON_PG
def test_store_lookups_beyond_int4_are_not_found_on_postgresql(pg_store: Store) -> None:
    lookups_beyond_int4(pg_store)


def test_store_lookups_beyond_int4_are_not_found_on_sqlite(tmp_path: Path) -> None:
    store = open_store(str(tmp_path / "s.db"), node_key=KEY, now_us=NOW)
    try:
        lookups_beyond_int4(store)
    finally:
        store.close()


@pytest.mark.parametrize("db", ["sqlite", pytest.param("pg", marks=ON_PG)])
def test_cli_case_beyond_int4_is_one_line(db: str, tmp_path: Path) -> None:
    url = str(PG_URL) if db == "pg" else str(tmp_path / "c.db")
    register_commands()
    open_store(url, node_key=KEY, now_us=NOW).close()
    try:
        result = CliRunner().invoke(cli_app, ["cases", "show", "3000000000", "--db", url])
    finally:
        if db == "pg":
            drop_schema(url)
    assert result.exit_code == 1, result.output
    assert result.exception is None or isinstance(result.exception, SystemExit)
    assert "not found" in result.output and "Traceback" not in result.output
    assert len(result.output.strip().splitlines()) == 1


@pytest.mark.parametrize(
    ("path", "query", "body", "ctype", "refused"),
    [
        ("/a\x00b", b"", b"", "", True),
        ("/a", b"x=%1F", b"", "", True),
        ("/a", b"x=%09", b"", "", True),  # a tab in a query value: no field takes one
        ("/a", b"x=%7F", b"", "", True),
        ("/a", b"x=caf%C3%A9", b"", "", False),
        ("/a", b"", b"note=line%0D%0Aline%09tab", "application/x-www-form-urlencoded", False),
        ("/a", b"", b"note=a%00", "application/x-www-form-urlencoded; charset=utf-8", True),
        ("/a", b"", b'{"s": ["ok\\n", {"k\\u0007": 1}]}', "application/json", True),
        ("/a", b"", b'{"s": "tab\\tand\\r\\n"}', "application/json", False),
        ("/a", b"", b"not json \x00", "application/json", False),  # the route refuses it (422)
        (
            "/a",
            b"",
            b'--b\r\nContent-Disposition: form-data; name="x"\r\n\r\n\x00\r\n--b--\r\n',
            "multipart/form-data; boundary=b",
            True,
        ),
    ],
)
def test_refusal_judges_path_query_and_body(
    path: str, query: bytes, body: bytes, ctype: str, refused: bool
) -> None:
    scope = {"path": path, "query_string": query, "headers": [(b"content-type", ctype.encode())]}
    reason = refusal(scope, body)
    assert (reason is not None) == refused, reason
    if reason is not None:
        assert "control character U+" in reason and "\n" not in reason


FORM = (b"content-type", b"application/x-www-form-urlencoded")
MULTIPART = (b"content-type", b"multipart/form-data; boundary=b")


@pytest.mark.parametrize(
    ("headers", "body", "why"),
    [
        ([FORM, (b"content-type", b"application/json")], b"name=a%00", "more than one Content-Type"),
        ([(b"content-type", b"application/json")], '{"name": "a\\u0000"}'.encode("utf-16"), "not UTF-8"),
        (
            [MULTIPART],
            b'--b\r\nContent-Disposition: form-data; name="name"\r\nContent-Type: text/plain; charset=utf-7'
            b"\r\n\r\na+AAA-\r\n--b--\r\n",
            "only UTF-8",
        ),
        (
            [MULTIPART],
            b'--b\r\nContent-Disposition: form-data; name="_charset_"\r\n\r\nutf-7\r\n--b--\r\n',
            "UTF-8",
        ),
        ([(b"content-type", b"application/x-www-form-urlencoded; charset=utf-16")], b"x=1", "only UTF-8"),
    ],
)
def test_a_body_the_route_could_decode_otherwise_is_refused(
    headers: list[tuple[bytes, bytes]], body: bytes, why: str
) -> None:
    """The guard must read a body as the route will: two Content-Type headers, a charset other than
    UTF-8 (a UTF-7 part hides a NUL as ``+AAA-``) or a JSON body that is not UTF-8 are refused, not
    guessed at (they let a NUL reach PostgreSQL: a 500 before login)."""
    reason = refusal({"path": "/login", "query_string": b"", "headers": headers}, body)
    assert reason is not None and why in reason and "\n" not in reason


async def test_a_body_over_the_limit_is_413_and_a_control_character_in_a_payment_method_refused(
    web: WebWorld,
) -> None:
    big = b"name=" + b"x" * MAX_BODY_BYTES
    response = await web.anonymous().post("/login", content=big, headers={"content-type": FORM[1].decode()})
    assert response.status_code == 413 and "request body over" in response.text
    with pytest.raises(InputError, match="payment method: contains a control"):
        record_payment(web.store, "DOE-000001", 100, "REF", currency=None, received_us=NOW, method="c\x1b[2J",
                       actor="counsel", now_us=NOW)  # fmt: skip
