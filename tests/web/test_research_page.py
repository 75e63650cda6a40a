"""The research page and its API: the CLI's export (same proof, pseudonyms and suppression) for analysts
and above, scoped to the user's client, each export visible to its requester only.

The console's template store gets the evidence of tests/research/test_research_export.py (swarm A) plus
three verified peers in swarm B, sealed by a node key the server trusts; Acme Films' work links swarm A,
Globex Music's work swarm B. Users (tests/web/conftest.py): ``analyst`` (every client), ``acme`` (a viewer
of Acme Films: below the page's role), ``globex`` (a counsel of Globex Music).
"""

from __future__ import annotations

import csv
import dataclasses
import io
import zipfile
from collections.abc import AsyncIterator
from pathlib import Path
from types import SimpleNamespace
from typing import Any, cast

import httpx
import pytest

from swarmscope.evidence.seal import key_fingerprint, public_key_raw
from swarmscope.research.export import StudyResult
from swarmscope.store.database import open_store
from swarmscope.store.ledger.node_key import default_key_path, load_or_create_node_key
from swarmscope.store.legal.cases import link_torrent
from swarmscope.web.app import create_app
from swarmscope.web.research import KEEP, Runs
from swarmscope.web.settings import WebSettings
from tests.research.scan import scan_export
from tests.research.test_research_export import ALL_IPS, HOUR, _verified, build_world
from tests.store.factories import SWARM_A, SWARM_B, T0
from tests.web.conftest import ACME, GLOBEX, NOW, Template, WebWorld

B_IPS = {f"10.3.0.{i}": {6881} for i in (1, 2, 3)}
EVERY_IP = {**ALL_IPS, **B_IPS}


def fill(db: Path, works: dict[str, int]) -> str:
    """Evidence, work links; returns the fingerprint of the node key that sealed it."""
    build_world(db)
    key = load_or_create_node_key(default_key_path(str(db)))
    with open_store(str(db), node_key=key, now_us=T0) as store:
        run = store.start_run({}, "0.1.0", T0)
        in_b = [dataclasses.replace(_verified(ip, 500, "Deluge", 12), infohash=SWARM_B) for ip in B_IPS]
        store.add_observations(run, in_b, sealed_at_us=T0 + 2 * HOUR)
        link_torrent(store, works[ACME], SWARM_A, NOW)
        link_torrent(store, works[GLOBEX], SWARM_B, NOW)
    return key_fingerprint(public_key_raw(key))


async def _world(template: Template, db: Path, trusted: frozenset[str]) -> AsyncIterator[WebWorld]:
    store = open_store(str(db), create=False)
    app = create_app(WebSettings(db=str(db), trusted_keys=trusted), store=store)
    world = WebWorld(db, store, app, template)
    try:
        yield world
    finally:
        for client in world.opened:
            await client.aclose()
        store.close()


@pytest.fixture
async def research_web(web_template: Template, web_db: Path) -> AsyncIterator[WebWorld]:
    fingerprint = fill(web_db, web_template.works)
    async for world in _world(web_template, web_db, frozenset({fingerprint})):
        yield world


async def export(client: httpx.AsyncClient, **body: Any) -> httpx.Response:
    return await client.post("/api/research/exports", json=body, headers={"x-csrf-token": client.csrf})  # type: ignore[attr-defined]


async def unzip(client: httpx.AsyncClient, url: str, where: Path) -> Path:
    answer = await client.get(url)
    assert answer.status_code == 200 and answer.headers["content-type"] == "application/zip"
    with zipfile.ZipFile(io.BytesIO(answer.content)) as archive:
        archive.extractall(where)
    return where


def swarms_in(out: Path) -> set[str]:
    rows = csv.DictReader(io.StringIO((out / "swarm_size.csv").read_text(encoding="utf-8")))
    return {r["swarm"] for r in rows}


async def test_analyst_exports_every_swarm_and_nothing_leaks(research_web: WebWorld, tmp_path: Path) -> None:
    client = research_web.client("analyst")
    answer = await export(client, k=3)
    assert answer.status_code == 200, answer.text
    summary = answer.json()
    assert summary["swarms"] == 2 and summary["observations"] == 11 and summary["k"] == 3
    assert summary["left_out"] == {"altered": 1, "quarantined": 1}  # recovery ran when the node reopened
    out = await unzip(client, summary["zip"], tmp_path / "all")
    assert swarms_in(out) == {SWARM_A, SWARM_B}
    assert scan_export(out, EVERY_IP, None, 3) == []
    again = await client.get(f"/api/research/exports/{summary['id']}")
    assert again.status_code == 200 and again.json() == summary


async def test_a_client_exports_only_its_swarms_and_sees_only_its_exports(
    research_web: WebWorld, tmp_path: Path
) -> None:
    globex, analyst = research_web.client("globex"), research_web.client("analyst")
    summary = (await export(globex, k=3)).json()
    assert summary["swarms"] == 1
    out = await unzip(globex, summary["zip"], tmp_path / "globex")
    assert swarms_in(out) == {SWARM_B}
    everything = "".join(p.read_text(encoding="latin-1") for p in out.iterdir())
    assert SWARM_A not in everything and "alpha.iso" not in everything  # Acme's swarm: not even its name
    assert (await export(globex, k=3, infohashes=[SWARM_A])).status_code == 404  # Acme's swarm
    assert (await export(globex, k=3, infohashes=["cc" * 20])).status_code == 404  # no such swarm
    theirs = (await export(analyst, k=3)).json()["id"]
    for url in (f"/api/research/exports/{theirs}", f"/research/exports/{theirs}/zip",
                f"/research/exports/{theirs}/files/README.md"):  # fmt: skip
        assert (await globex.get(url)).status_code == 404, url
    assert (await research_web.client("acme").get("/research")).status_code == 403  # a viewer


async def test_the_form_exports_and_shows_plots_and_files(research_web: WebWorld) -> None:
    client = research_web.client("analyst")
    form = {"csrf_token": client.csrf, "k": "3", "infohash": SWARM_A}  # type: ignore[attr-defined]
    answer = await client.post("/research/exports", data=form)
    assert answer.status_code == 303
    shown = await client.get(answer.headers["location"])
    assert shown.status_code == 200
    assert 'files/swarm_size.png"' in shown.text and "Suppression" in shown.text and "k = 3" in shown.text
    png = await client.get(answer.headers["location"] + "/files/swarm_size.png")
    assert png.status_code == 200 and png.content.startswith(b"\x89PNG")
    csv_file = await client.get(answer.headers["location"] + "/files/swarm_size.csv")
    assert "attachment" in csv_file.headers["content-disposition"] and SWARM_A in csv_file.text
    assert (await client.get(answer.headers["location"] + "/files/..%2Fx")).status_code == 404


@pytest.mark.parametrize("k", ["1", "nan", "2.5", "1e999", "-3"])
async def test_a_bad_k_is_refused_on_the_form(research_web: WebWorld, k: str) -> None:
    client = research_web.client("analyst")
    answer = await client.post("/research/exports", data={"csrf_token": client.csrf, "k": k})  # type: ignore[attr-defined]
    assert answer.status_code in (400, 422) and "must be" in answer.text
    assert (await export(client, k=1)).status_code == 400  # a parameter that does not validate: 400, one line


async def test_an_unknown_field_is_refused_not_ignored(research_web: WebWorld) -> None:
    """A misspelt ``infohashes`` (``swarms``) must not export every swarm the user may see."""
    client = research_web.client("analyst")
    answer = await export(client, k=3, swarms=["0" * 40])
    assert answer.status_code == 400 and "swarms" in answer.text, answer.text
    assert "id" not in answer.json()  # no export was made


async def test_no_csrf_token_and_no_trusted_key_are_refused(
    web_template: Template, web_db: Path, research_web: WebWorld
) -> None:
    client = research_web.client("analyst")
    assert (await client.post("/research/exports", data={"k": "3"})).status_code == 403
    async for untrusting in _world(web_template, web_db, frozenset()):
        answer = await export(untrusting.client("analyst"), k=3)
        assert answer.status_code == 409 and "no trusted node key" in answer.json()["detail"]


def test_each_user_keeps_their_own_newest_exports() -> None:
    """Another client's analyst making many exports evicts none of yours (the limit is per user)."""
    runs = Runs()

    def made(name: str) -> StudyResult:
        out = runs.root / name
        out.mkdir()
        return cast(StudyResult, SimpleNamespace(out=out))

    mine = runs.add(1, made("mine"))
    theirs = [runs.add(2, made(f"theirs-{i}")) for i in range(KEEP + 3)]
    assert runs.runs[mine].owner == 1 and (runs.root / "mine").is_dir()
    assert [k for k in runs.runs if runs.runs[k].owner == 2] == theirs[-KEEP:]  # their own oldest went
    assert not (runs.root / "theirs-0").exists()
