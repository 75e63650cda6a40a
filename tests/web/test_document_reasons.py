"""exhibits.zip and notices.zip explain themselves in the browser's terms: ``left-out.txt`` names every
case left out and why (no CLI option the browser cannot give), the notices form takes the complainant."""

from __future__ import annotations

import io
import zipfile

import httpx

from tests.web.letter_console import Console


def read(answer: httpx.Response, name: str) -> str:
    assert answer.status_code == 200 and answer.headers["content-type"] == "application/zip", answer.text
    with zipfile.ZipFile(io.BytesIO(answer.content)) as archive:
        return archive.read(name).decode()


async def test_the_zips_say_in_browser_terms_which_cases_were_left_out(console: Console) -> None:
    analyst = console["analyst"]
    csrf = analyst.csrf  # type: ignore[attr-defined]
    notices = await analyst.post("/requests/notices.zip", data={"csrf_token": csrf})
    reasons = read(notices, "left-out.txt").splitlines()
    assert [r.split(":")[0] for r in reasons] == [f"left out {doe}" for doe in console.world.dois]
    assert all("no complainant e-mail" in r and "on the notices form" in r for r in reasons)
    assert [r.count(doe) for r, doe in zip(reasons, console.world.dois, strict=True)] == [1, 1, 1]  # once
    assert "--complainant" not in read(notices, "contents.txt") + "\n".join(reasons)
    exhibits = await analyst.post("/requests/exhibits.zip", data={"csrf_token": csrf})
    assert read(exhibits, "left-out.txt").startswith("no case to disclose: an exhibit lists the cases still")
    named = {"csrf_token": csrf, "complainant_entity": "Agent Ltd", "complainant_email": "n@agent.test"}
    made = await analyst.post("/requests/notices.zip", data=named)
    assert read(made, "left-out.txt") == "no case left out\n"
    assert read(made, "contents.txt").count(".xml") == 3
    half = await analyst.post("/requests/notices.zip", data={**named, "complainant_email": ""})
    assert half.status_code == 400 and "complainant" in half.json()["detail"]
    bad = await analyst.post("/requests/notices.zip", data={**named, "complainant_email": "not an email"})
    assert bad.status_code == 400
    assert bad.json()["detail"] == "complainant: the e-mail address is not valid (name@domain)"


async def test_the_requests_page_explains_the_reasons_and_takes_the_complainant(console: Console) -> None:
    page = (await console["analyst"].get("/requests", headers={"accept": "text/html"})).text
    assert 'name="complainant_entity"' in page and 'name="complainant_email"' in page
    assert "left-out.txt" in page and "no complainant e-mail" in page
    assert "<title>Disclosure requests" in page and page.count('action="/requests/notices.zip"') == 1


async def test_the_notices_form_refuses_a_bidi_override_in_the_complainant(console: Console) -> None:
    analyst = console["analyst"]
    csrf = analyst.csrf  # type: ignore[attr-defined]
    for entity in ("Acme\u202eproC", "Agent\u200bLtd"):  # a right-to-left override, a zero-width space
        named = {"csrf_token": csrf, "complainant_entity": entity, "complainant_email": "n@agent.test"}
        refused = await analyst.post("/requests/notices.zip", data=named)
        assert refused.status_code == 400, refused.text
        detail = refused.json()["detail"]
        assert detail.startswith("complainant entity: contains a control, bidi or zero-width character")
        assert entity not in detail  # not echoed: it may not display truly
