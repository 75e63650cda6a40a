"""The workflow in the browser: board, scoping, letter approval (the CLI's state), identities, entries."""

from __future__ import annotations

import hashlib
import io
import re
import zipfile
from pathlib import Path

import sqlalchemy as sa
from typer.testing import CliRunner

from swarmscope.cases.letter_flow import draft_letters
from swarmscope.cli import register_commands
from swarmscope.cli.app import app as cli_app
from swarmscope.store.ledger.schema import ledger_entry
from swarmscope.store.legal import case_status
from swarmscope.store.legal import letters as letter_store
from swarmscope.store.legal.schema import client
from swarmscope.store.legal.subscribers import audit_rows
from tests.cli.letter_world import SETTINGS, T0, draft_approve, send
from tests.tampering import tamper_file
from tests.web.letter_console import Console, open_console

register_commands()
HTML = {"accept": "text/html"}


def reads(console: Console, doe: str) -> list[str]:
    rows = audit_rows(console.world.store, subject=f"case:{doe}")
    return [f"{r.actor}:{r.action}" for r in rows if r.action.startswith("read")]  # not the import


def last_letter(console: Console, doe: str) -> letter_store.LetterRow:
    case = case_status.get_case(console.world.store, doe)
    return letter_store.list_letters(console.world.store, case_id=case.id)[-1]


async def test_the_board_shows_the_disclosed_cases(console: Console) -> None:
    board = (await console["viewer"].get("/api/cases")).json()
    columns = {c["column"]: [case["doe"] for case in c["cases"]] for c in board}
    assert columns["disclosed"] == console.world.dois and columns["candidate"] == []
    assert list(columns)[:6] == ["candidate", "requested", "disclosed", "drafted", "approved", "sent"]
    page = await console["viewer"].get("/cases", headers=HTML)
    assert page.status_code == 200 and all(doe in page.text for doe in console.world.dois)


async def test_another_clients_objects_answer_404_by_url_and_by_api(console: Console) -> None:
    doe = console.world.dois[0]
    draft_letters(console.world.store, SETTINGS, [doe], "counsel", T0)
    other, owner = console["other"], console["example"]
    for path in [f"/cases/{doe}", f"/api/cases/{doe}", f"/cases/{doe}/letter", f"/api/cases/{doe}/letter",
                 f"/cases/{doe}/identity", f"/api/cases/{doe}/identity"]:  # fmt: skip
        assert (await other.get(path)).status_code == 404, path
        assert (await owner.get(path)).status_code == 200, path
    refused = await other.post(f"/api/cases/{doe}/letter/approve", json={"digest": "0" * 64},
                               headers={"x-csrf-token": other.csrf})  # type: ignore[attr-defined]  # fmt: skip
    assert refused.status_code == 404 and last_letter(console, doe).approved_us is None
    assert all(not c["cases"] for c in (await other.get("/api/cases")).json())
    assert (await other.get("/api/letters")).json() == [] and (await other.get("/api/requests")).json() == []
    assert (await other.get("/api/works")).json() == []
    assert [w["client"] for w in (await owner.get("/api/works")).json()] == ["Example Rights Ltd"]
    assert len((await owner.get("/api/letters")).json()) == 1
    assert reads(console, doe) == ["example:read", "example:read"]  # the owner's two views; none of other's


async def test_a_letter_approved_in_the_browser_is_the_state_of_one_approved_on_the_cli(
    console: Console,
) -> None:
    web_doe, cli_doe = console.world.dois[0], console.world.dois[2]  # both have e-mail: same kind of letter
    draft_letters(console.world.store, SETTINGS, [web_doe, cli_doe], "counsel", T0)
    counsel = console["counsel"]
    preview = await counsel.get(f"/cases/{web_doe}/letter", headers=HTML)
    digest = re.search(r'name="digest" value="([0-9a-f]{64})"', preview.text)
    assert preview.status_code == 200 and digest is not None
    assert "[addressee]" in preview.text and "Alex" not in preview.text  # no identity in a preview
    no_token = await counsel.post(f"/cases/{web_doe}/letter/approve", data={"digest": digest.group(1)})
    assert no_token.status_code == 403 and last_letter(console, web_doe).approved_us is None
    analyst = console["analyst"]
    denied = await analyst.post(f"/cases/{web_doe}/letter/approve",
                                data={"digest": digest.group(1), "csrf_token": analyst.csrf})  # type: ignore[attr-defined]  # fmt: skip
    assert denied.status_code == 403
    wrong = await counsel.post(f"/api/cases/{web_doe}/letter/approve", json={"digest": "ab" * 32},
                               headers={"x-csrf-token": counsel.csrf})  # type: ignore[attr-defined]  # fmt: skip
    assert (wrong.status_code, wrong.json()["detail"]) == (
        409, f"{web_doe}: the digest does not match the letter you were shown; reload the preview"
    )  # not the right digest, which could be copied instead of reading the letter  # fmt: skip
    assert digest.group(1) not in wrong.text
    done = await counsel.post(f"/cases/{web_doe}/letter/approve",
                              data={"digest": digest.group(1), "csrf_token": counsel.csrf})  # type: ignore[attr-defined]  # fmt: skip
    assert done.status_code == 303 and done.headers["location"].startswith(f"/cases/{web_doe}")
    cli_digest = (await counsel.get(f"/api/cases/{cli_doe}/letter")).json()["digest"]
    result = CliRunner().invoke(cli_app, ["letters", "approve", cli_doe, "--digest", cli_digest,
                                          "--actor", "counsel", "--db", str(console.world.db)])  # fmt: skip
    assert result.exit_code == 0, result.output
    web_row, cli_row = last_letter(console, web_doe), last_letter(console, cli_doe)
    assert (web_row.approved_by, web_row.approved_sha256) == ("counsel", digest.group(1))
    assert (cli_row.approved_by, cli_row.approved_sha256) == ("counsel", cli_digest)
    store = console.world.store
    events = [case_status.case_events(store, doe)[-1] for doe in (web_doe, cli_doe)]
    assert [(e.status, e.actor) for e in events] == [("approved", "counsel")] * 2
    shape = [re.sub(r"RF\w+|[0-9a-f]{64}", "X", e.note or "") for e in events]
    assert shape[0] == shape[1] and "approved (content sha256 X)" in shape[0]
    assert {case_status.get_case(store, d).status for d in (web_doe, cli_doe)} == {"approved"}


async def test_the_console_approves_no_letter_repriced_after_its_draft(console: Console) -> None:
    """A database writer re-prices a drafted letter (and makes himself a console user): the console, which
    holds the node key, refuses the approval with 409 (the letter's terms are not the sealed draft's), so
    nothing is approved or sealed, whoever asks."""
    doe = console.world.dois[0]
    draft_letters(console.world.store, SETTINGS, [doe], "counsel", T0)
    tamper_file(console.world.db, "UPDATE letter SET amount_cents = 4500000")
    counsel = console["counsel"]
    digest = (await counsel.get(f"/api/cases/{doe}/letter")).json()["digest"]  # the re-priced letter's
    with console.world.store.engine.connect() as conn:
        entries = conn.execute(sa.select(sa.func.count()).select_from(ledger_entry)).scalar_one()
    refused = await counsel.post(f"/api/cases/{doe}/letter/approve", json={"digest": digest},
                                 headers={"x-csrf-token": counsel.csrf})  # type: ignore[attr-defined]  # fmt: skip
    assert refused.status_code == 409, refused.text
    assert "differs from the draft sealed for it" in refused.json()["detail"]
    assert last_letter(console, doe).approved_us is None
    with console.world.store.engine.connect() as conn:
        assert conn.execute(sa.select(sa.func.count()).select_from(ledger_entry)).scalar_one() == entries


async def test_identities_only_for_counsel_and_every_view_audited(console: Console) -> None:
    doe = console.world.dois[0]
    for name in ("viewer", "analyst"):
        assert (await console[name].get(f"/cases/{doe}/identity", headers=HTML)).status_code == 403
    assert reads(console, doe) == []
    page = await console["counsel"].get(f"/cases/{doe}/identity", headers=HTML)
    assert page.status_code == 200 and "Alex Sample" in page.text and "audit log" in page.text
    api = (await console["counsel"].get(f"/api/cases/{doe}/identity")).json()
    assert api["email"] == "alex@example.test"
    rows = [r for r in audit_rows(console.world.store, subject=f"case:{doe}") if r.action == "read"]
    assert [(r.actor, r.action) for r in rows] == [("counsel", "read")] * 2 and all(
        r.at_us > T0 for r in rows
    )
    case_page = await console["viewer"].get(f"/cases/{doe}", headers=HTML)
    assert "Alex" not in case_page.text and "/identity" not in case_page.text


async def test_without_an_identity_key_the_page_says_so_and_nothing_is_read(tmp_path: Path) -> None:
    async for console in open_console(tmp_path, identity_key=False):
        doe = console.world.dois[0]
        page = await console["counsel"].get(f"/cases/{doe}/identity", headers=HTML)
        assert page.status_code == 200 and "started without --identity-key" in page.text
        assert (await console["counsel"].get(f"/api/cases/{doe}/identity")).status_code == 409
        assert reads(console, doe) == []


async def test_dispute_and_payment_entry(console: Console, tmp_path: Path) -> None:
    disputed, paid = console.world.dois[0], console.world.dois[1]
    draft_letters(console.world.store, SETTINGS, [disputed], "counsel", T0)
    counsel = console["counsel"]
    csrf = counsel.csrf  # type: ignore[attr-defined]
    answer = await counsel.post(f"/cases/{disputed}/dispute", data={"summary": "not me", "csrf_token": csrf})
    assert answer.status_code == 303
    assert case_status.get_case(console.world.store, disputed).status == "disputed"
    assert last_letter(console, disputed).voided_us is not None
    again = await counsel.post(f"/api/cases/{disputed}/dispute", json={"summary": "again"},
                               headers={"x-csrf-token": csrf})  # fmt: skip
    assert again.status_code == 409
    draft_approve(console.world, paid)
    sent = send(console.world, paid, None, tmp_path / "out", T0 + 2)
    bad = await counsel.post(f"/api/cases/{paid}/payment", json={"amount": "nan", "reference": "x"},
                             headers={"x-csrf-token": csrf})  # fmt: skip
    assert bad.status_code == 400 and "amount" in bad.json()["detail"]  # bad input: 400 (409: workflow)
    body = {"amount": "450.00", "reference": sent.letter.payment_reference, "currency": "EUR"}
    done = await counsel.post(f"/api/cases/{paid}/payment", json=body, headers={"x-csrf-token": csrf})
    assert done.status_code == 200 and done.json()["case_status"] == "paid"
    assert [p.amount_cents for p in letter_store.list_payments(console.world.store, sent.letter.case_id)] == [
        45000
    ]


async def test_exhibits_and_notices_download_and_bound_users_get_404(console: Console) -> None:
    analyst = console["analyst"]
    csrf = {"csrf_token": analyst.csrf}  # type: ignore[attr-defined]
    first = await analyst.post("/requests/notices.zip", data=csrf)
    with zipfile.ZipFile(io.BytesIO(first.content)) as archive:
        left_out = archive.read("contents.txt").decode()
    assert left_out.startswith("no document made") and left_out.count("no complainant e-mail") == 3
    with console.world.store._write() as conn:  # the rights holder's e-mail contact: the complainant
        conn.execute(sa.update(client).values(contact="rights@example.test"))
    answer = await analyst.post("/requests/notices.zip", data=csrf)
    assert answer.status_code == 200 and answer.headers["content-type"] == "application/zip"
    with zipfile.ZipFile(io.BytesIO(answer.content)) as archive:
        names = sorted(archive.namelist())
        contents = archive.read("contents.txt").decode()
        xml = [n for n in names if n.endswith(".xml")]
        assert len(xml) == 3 and all(n in contents for n in xml)
        for name in xml:
            assert hashlib.sha256(archive.read(name)).hexdigest() in contents
    exhibits = await analyst.post("/requests/exhibits.zip", data=csrf)
    assert exhibits.status_code == 200  # no open (candidate, requested) case here: no exhibit to make
    with zipfile.ZipFile(io.BytesIO(exhibits.content)) as archive:
        assert archive.read("contents.txt").decode().startswith("no document made")
    bound = console["example"]
    refused = await bound.post("/requests/notices.zip", data={"csrf_token": bound.csrf})  # type: ignore[attr-defined]
    assert refused.status_code == 404
    assert (await analyst.post("/requests/notices.zip")).status_code == 403  # no CSRF token


async def test_a_disputes_text_is_shown_to_counsel_only_and_each_view_is_audited(console: Console) -> None:
    """What the recipient wrote names them and their circumstances: personal data, as an identity is."""
    doe = console.world.dois[0]
    draft_letters(console.world.store, SETTINGS, [doe], "counsel", T0)
    counsel = console["counsel"]
    text = "I am Alex Sample at 1 Main St; my tenant used the line"
    answer = await counsel.post(f"/api/cases/{doe}/dispute", json={"summary": text},
                                headers={"x-csrf-token": counsel.csrf})  # type: ignore[attr-defined]  # fmt: skip
    assert answer.status_code == 200
    before = reads(console, doe)
    for name in ("viewer", "analyst"):
        api = (await console[name].get(f"/api/cases/{doe}")).json()
        assert [d["summary"] for d in api["disputes"]] == [None] and api["case"]["status"] == "disputed"
        html = (await console[name].get(f"/cases/{doe}", headers=HTML)).text
        assert "Alex Sample" not in html and "dispute received" in html
    assert reads(console, doe) == before  # nothing shown, nothing audited
    shown = (await counsel.get(f"/api/cases/{doe}")).json()
    assert [d["summary"] for d in shown["disputes"]] == [text]
    page = await console["example"].get(f"/cases/{doe}", headers=HTML)
    assert "Alex Sample" in page.text and "audit log" in page.text
    assert reads(console, doe) == [*before, "counsel:read_dispute", "example:read_dispute"]


async def test_a_long_dispute_or_payment_method_is_refused_in_one_line(
    console: Console, tmp_path: Path
) -> None:
    disputed, paid = console.world.dois[0], console.world.dois[1]
    draft_letters(console.world.store, SETTINGS, [disputed], "counsel", T0)
    counsel = console["counsel"]
    csrf = {"x-csrf-token": counsel.csrf}  # type: ignore[attr-defined]
    long = await counsel.post(f"/api/cases/{disputed}/dispute", json={"summary": "x" * 4001}, headers=csrf)
    assert long.status_code == 400 and "at most 4000 characters" in long.json()["detail"]
    assert case_status.get_case(console.world.store, disputed).status != "disputed"
    draft_approve(console.world, paid)
    sent = send(console.world, paid, None, tmp_path / "out", T0 + 2)
    body = {"amount": "450.00", "reference": sent.letter.payment_reference, "method": "m" * 101}
    refused = await counsel.post(f"/api/cases/{paid}/payment", json=body, headers=csrf)
    assert refused.status_code == 400 and "payment method: at most 100 characters" in refused.json()["detail"]
    assert "--" not in refused.json()["detail"]  # the browser names no CLI flag
    assert letter_store.list_payments(console.world.store, sent.letter.case_id) == []


async def test_the_board_is_paged_per_column_with_counts_and_filters(console: Console) -> None:
    """A campaign has tens of thousands of cases: a column shows its count and a page of its cases."""
    viewer, dois = console["viewer"], console.world.dois
    work = case_status.get_case(console.world.store, dois[0]).work_id
    first = (await viewer.get("/api/cases", params={"limit": 1})).json()
    disclosed = next(c for c in first if c["column"] == "disclosed")
    assert disclosed["count"] == len(dois) > 1 and [c["doe"] for c in disclosed["cases"]] == dois[:1]
    seen, cursor = [dois[0]], disclosed["next_cursor"]
    while cursor:
        (column,) = (
            await viewer.get("/api/cases", params={"status": "disclosed", "limit": 1, "cursor": cursor})
        ).json()
        seen += [c["doe"] for c in column["cases"]]
        cursor = column["next_cursor"]
    assert seen == dois
    (mine,) = (await viewer.get("/api/cases", params={"status": "disclosed", "work": work})).json()
    assert mine["count"] == len(dois)
    (none,) = (await viewer.get("/api/cases", params={"status": "disclosed", "work": work + 1000})).json()
    assert none["count"] == 0 and none["cases"] == []
    for bad in ({"status": "nope"}, {"limit": 0}, {"cursor": "x"}, {"work": 2**63}):
        answer = await viewer.get("/api/cases", params=bad)
        assert answer.status_code == 400 and "\n" not in answer.json()["detail"], bad
    page = (await viewer.get("/cases", params={"limit": 1}, headers=HTML)).text
    assert f"({len(dois)})" in page and 'class="more" href="/cases?status=disclosed' in page


async def test_the_letters_list_is_paged_newest_first_and_filtered(console: Console) -> None:
    dois = console.world.dois
    draft_letters(console.world.store, SETTINGS, dois, "counsel", T0)
    viewer = console["viewer"]
    first = (await viewer.get("/api/letters", params={"limit": 2})).json()
    assert [r["doe"] for r in first] == dois[::-1][:2]
    rest = (await viewer.get("/api/letters", params={"limit": 2, "before": first[-1]["id"]})).json()
    assert [r["doe"] for r in first + rest] == dois[::-1]
    work = case_status.get_case(console.world.store, dois[0]).work_id
    assert len((await viewer.get("/api/letters", params={"work": work, "status": "drafted"})).json()) == len(
        dois
    )
    assert (await viewer.get("/api/letters", params={"status": "paid"})).json() == []
    assert (await viewer.get("/api/letters", params={"before": 2**63})).status_code == 400
    page = (await viewer.get("/letters", params={"limit": 2}, headers=HTML)).text
    assert f'href="/letters?limit=2&amp;before={first[-1]["id"]}"' in page


async def test_requests_are_paged_and_works_count_cases_without_loading_them(console: Console) -> None:
    viewer, dois = console["viewer"], console.world.dois
    isp = case_status.get_case(console.world.store, dois[0]).isp_id
    assert isp is not None
    made = [case_status.add_request(console.world.store, isp, None, T0 + i) for i in range(3)]
    every = (await viewer.get("/api/requests")).json()
    assert [r["id"] for r in every][-3:] == made
    first = (await viewer.get("/api/requests", params={"limit": 1})).json()
    assert [r["id"] for r in first] == [every[0]["id"]] and first[0]["more_cases"] is False
    rest = (await viewer.get("/api/requests", params={"after": first[0]["id"]})).json()
    assert [r["id"] for r in first + rest] == [r["id"] for r in every]
    assert (await viewer.get("/api/requests", params={"status": "quashed"})).json() == []
    assert (await viewer.get("/api/requests", params={"after": 2**63})).status_code == 400
    page = (await viewer.get("/requests", params={"limit": 1}, headers=HTML)).text
    assert f'href="/requests?limit=1&amp;after={first[0]["id"]}"' in page
    works = (await viewer.get("/api/works")).json()
    assert sum(w["cases"] for w in works) == len(dois)
